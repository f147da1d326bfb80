#!/usr/bin/env bash
# Issue 18's whole reproduction, one command, resumable: run it again (after a crash, a kill or the end of a
# session) and it continues where it stopped; every run in it is deterministic given its seed.
#
#   bash scripts/repro-issue18.sh KATHLEEN_DIR [OUT] [CACHE]
#
#   KATHLEEN_DIR  the Kathleen corpus (its manifest.jsonl and audio/), split here by sentence into
#                 OUT/kathleen-data/kathleen.{train,valid,test}.jsonl (10% test, 5% of the rest valid)
#   OUT           the experiment's folder (default runs/repro18): OUT/synth and OUT/kathleen, each a `todm repro`
#                 directory with its REPORT.md; the logs of the three stages in OUT/*.log
#   CACHE         data.cacheDir: the built-in synthetic corpus (built on first use, about 20 minutes) and the
#                 feature cache (default data-cache)
#
# Environment: TODM, the CLI to run (default: this checkout's dist/cli.js); RESULTS, a Markdown file to write
# both reports into at the end (e.g. RESULTS.md; default: none, the reports stay in OUT).
#
# The order puts the headline first, so that a reproduction spread over sessions has it early:
#   1. synthetic: the Supernet and its six twins, 2 seeds, 2,000 updates each, scored greedy and with the LM,
#      exported int8 and timed (about 3.5 hours on 2 cores);
#   2. Kathleen: the same, each run fine-tuned from its synthetic namesake for 600 updates (about 70 minutes);
#   3. synthetic again: the nine ablations and the four levers, seed 1 (about 6.5 hours).
set -euo pipefail
KATHLEEN=${1:?usage: bash scripts/repro-issue18.sh KATHLEEN_DIR [OUT] [CACHE]}
OUT=$(realpath -m "${2:-runs/repro18}")
CACHE=$(realpath -m "${3:-data-cache}")
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TODM=${TODM:-$ROOT/dist/cli.js}
[ -f "$KATHLEEN/manifest.jsonl" ] || { echo "repro-issue18: no $KATHLEEN/manifest.jsonl (give the Kathleen corpus's folder)" >&2; exit 2; }
mkdir -p "$OUT/kathleen-data"
KD=$OUT/kathleen-data
SYNTH=(--out "$OUT/synth" --steps 2000 --set "data.cacheDir=$CACHE" --title "issue 18, synthetic")
KATH=(--out "$OUT/kathleen" --init-from-repro "$OUT/synth" --steps 600 --no-ablations
  --train "$KD/kathleen.train.jsonl" --valid "$KD/kathleen.valid.jsonl" --test "$KD/kathleen.test.jsonl"
  --set train.specAugment=true --set "data.cacheDir=$CACHE" --title "issue 18, kathleen")

stage() { echo "$(date -u +%FT%TZ) $*" | tee -a "$OUT/stages.log"; }

if [ ! -f "$KD/kathleen.test.jsonl" ]; then
  stage "Kathleen: split by sentence"
  node "$TODM" prepare manifest "$KATHLEEN/manifest.jsonl" --out "$KD/kathleen.jsonl" --holdout 0.1 --valid 0.05
fi
stage "1/3 synthetic: the Supernets and the twins"
node "$TODM" repro "${SYNTH[@]}" --no-ablations >> "$OUT/synth.log" 2>&1
stage "2/3 Kathleen, fine-tuned from the synthetic runs"
node "$TODM" repro "${KATH[@]}" >> "$OUT/kathleen.log" 2>&1
stage "3/3 synthetic: the ablations and the levers"
node "$TODM" repro "${SYNTH[@]}" --levers >> "$OUT/synth.log" 2>&1
if [ -n "${RESULTS:-}" ]; then
  node "$TODM" repro "${SYNTH[@]}" --levers --results "$RESULTS" --report-only > /dev/null
  node "$TODM" repro "${KATH[@]}" --results "$RESULTS" --report-only > /dev/null
fi
stage "done: $OUT/synth/REPORT.md, $OUT/kathleen/REPORT.md"
