#!/bin/sh
# The same Supernet training run, same seed, same data, same initial weights, 10 minutes each, in todm
# (2 threads) and in todm_torch (torchrun, 2 gloo processes on the CPU), then both scored by the same
# `todm eval` on the yardstick: updates per minute, and the WER of the largest and the smallest subnet.
# The two runs go one after the other (the machine has 2 cores: each run gets both). RESULTS.md
# "Beyond one machine" reports the output. Run from the repository root after `npm run build`:
#
#   sh python/bench/compare.sh                  # D, OUT and MIN below can be overridden from the environment
#
# What it is not: a GPU comparison, or a test (test/torch.test.ts checks the equality of the two engines).
set -eu
D=${D:-/work/exp/cache/synth-v2}        # train.jsonl, valid.jsonl, and test.jsonl (the yardstick)
OUT=${OUT:-runs/scale-out}
MIN=${MIN:-10}
export OPENBLAS_NUM_THREADS=1           # one BLAS thread per process, as the bench runs torch
export PYTHONPATH="$PWD/python${PYTHONPATH:+:$PYTHONPATH}"
mkdir -p "$OUT"
# validation on the first 200 utterances of valid.jsonl (what train.validUtterances=200 reads anyway), as
# its own manifest with absolute paths, so that todm's end-of-run scoring of the subnets (on the first
# --valid manifest, outside the timed budget) reads 200 utterances, not 2,420
/usr/bin/python3 -c '
import json, os, sys
src, dst = sys.argv[1], sys.argv[2]
base = os.path.dirname(os.path.abspath(src))
with open(src) as f, open(dst + ".tmp", "w") as g:
    for line in f.readlines()[:200]:
        o = json.loads(line)
        o["audio_filepath"] = os.path.join(base, o["audio_filepath"])
        g.write(json.dumps(o) + "\n")
os.replace(dst + ".tmp", dst)
' "$D/valid.jsonl" "$OUT/valid200.jsonl"
DATA="--train $D/train.jsonl --valid $OUT/valid200.jsonl"

# the starting point of both: todm's seeded weights and feature statistics, and the resolved configuration.
# data.featureCache=false: the 10-minute run reads less than an epoch, so neither engine caches features.
# model.loss=full: todm_torch has no pruned loss; train.average and lm act at the end of a todm run only
# (todm_torch leaves them to todm's commands), so both are off for the comparison.
[ -f "$OUT/init/init.safetensors" ] || node dist/cli.js train --out "$OUT/init" $DATA --init-only --set data.featureCache=false \
  --set model.loss=full --set train.average.every=0 --set lm.enabled=false

node dist/cli.js train --out "$OUT/todm" $DATA --init-from "$OUT/init/init.safetensors" --config "$OUT/init/config.json" \
  --threads 2 --minutes "$MIN" 2>&1 | tee "$OUT/todm.log"
/usr/bin/python3 -m todm_torch.torchrun --standalone --nproc_per_node=2 -m todm_torch.train \
  --init "$OUT/init" --out "$OUT/torch" --minutes "$MIN" 2>&1 | tee "$OUT/torch.log"

# the largest and the smallest subnet of each run, greedy, on the yardstick
for r in todm torch; do
  node dist/cli.js eval --run "$OUT/$r" --data "$D/test.jsonl" --subnets L6-ff576-h4,L2-ff144-h2 \
    --table "$OUT/$r-yardstick.md" --plot "$OUT/$r-yardstick.svg" 2>&1 | tee "$OUT/$r-eval.log"
done
# updates per minute of training (log.jsonl: the last step over its elapsed seconds)
for r in todm torch; do
  node -e '
    const rows = require("fs").readFileSync(process.argv[1], "utf8").split("\n").filter(Boolean).map(JSON.parse).filter((x) => x.type === "step");
    const last = rows[rows.length - 1];
    console.log(`${process.argv[2]}: ${last.step} updates in ${last.elapsedSec.toFixed(0)} s = ${(60 * last.step / last.elapsedSec).toFixed(1)} updates/min`);
  ' "$OUT/$r/log.jsonl" "$r"
done
cat "$OUT/todm-yardstick.md" "$OUT/torch-yardstick.md"
