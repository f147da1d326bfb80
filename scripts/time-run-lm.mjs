// Times what the end of a training run adds for its LM (src/train/lm.ts buildAndTuneRunLm), on a built
// corpus and a trained model, without training: the LM's text (runLmText: training sentences minus the
// held-out ones), the LM (buildRunLm) and the weight tuning (tuneLmWeight) with the run's defaults.
// Not a test and not a benchmark of the search (bench `lm`); RESULTS.md "The run's LM" used it:
//
//   npm run build && /usr/bin/time -v node scripts/time-run-lm.mjs MODEL CACHE_DIR [UTTERANCES] [GRID]
//   e.g. node scripts/time-run-lm.mjs runs/ab-v2/model.safetensors data-cache 200 0.1,0.2,0.3,0.4,0.5
import { createEngine } from "../dist/index.js";
import { loadModel } from "../dist/model/io.js";
import { runLmText } from "../dist/train/lm.js";
import { buildRunLm } from "../dist/lm/build.js";
import { NgramLm } from "../dist/lm/ngram.js";
import { tuneLmWeight } from "../dist/lm/tune.js";
import { Corpus } from "../dist/data/corpus.js";
import { corpusCacheDir } from "../dist/data/corpus_plan.js";
import { DEFAULT_TRAIN } from "../dist/train/config.js";

const [modelPath, cacheDir, n, gridArg] = process.argv.slice(2);
if (!modelPath || !cacheDir) throw new Error("usage: node scripts/time-run-lm.mjs MODEL CACHE_DIR [UTTERANCES] [GRID]");
const o = DEFAULT_TRAIN.lm, N = Number(n ?? o.tuneUtterances), grid = gridArg ? gridArg.split(",").map(Number) : o.grid;
const cfg = structuredClone(DEFAULT_TRAIN);
cfg.data.cacheDir = cacheDir;
const engine = await createEngine({});
const { model, tokenizer } = loadModel(engine, modelPath);
const valid = Corpus.load([`${corpusCacheDir(cacheDir, cfg.data.corpus)}/valid.jsonl`], {}).utterances;
let t0 = performance.now();
const { texts, dropped } = runLmText(cfg, valid.map((u) => u.text));
const built = buildRunLm(texts, tokenizer, { order: o.order, maxBytes: Math.round(o.maxMb * 2 ** 20), droppedBefore: dropped });
const buildS = (performance.now() - t0) / 1000;
console.log(`LM: ${texts.length} sentences (${dropped} dropped), min count ${built.estimate.minCount}, ${(built.bytes.length / 2 ** 20).toFixed(2)} MiB, ${buildS.toFixed(1)} s`);
const lm = NgramLm.fromBytes(built.bytes, "lm", tokenizer);
t0 = performance.now();
const t = await tuneLmWeight(model, tokenizer, lm, valid.slice(0, N), { beam: o.beam, grid });
const tuneS = (performance.now() - t0) / 1000;
console.log(`tuning on ${t.utterances} utterances (${valid.slice(0, N).reduce((s, u) => s + u.duration, 0).toFixed(0)} s of audio), beam ${o.beam}: ${tuneS.toFixed(1)} s`);
for (const r of t.table) console.log(`  ${r.weight}  ${r.wer.toFixed(2)} [${r.ci[0].toFixed(2)}, ${r.ci[1].toFixed(2)}]`);
console.log(`W = ${t.weight}; LM + tuning ${(buildS + tuneS).toFixed(1)} s of wall time`);
