#!/usr/bin/env node
// WER of one or more model files through the inference build (`todm/infer`, what an app ships), on a
// manifest: the deployed path, int8 GEMMs included (todm eval runs the training engine, which dequantises).
//
//   node scripts/infer-eval.mjs data-cache/synth-default/test.jsonl model.safetensors model-int8.safetensors
//
// Prints per model: WER (greedy) with a bootstrap 95% interval, errors/words, RTF (one thread), file size,
// and, from the second model on, how many utterances' transcripts differ from the first model's.
import { readFileSync, statSync } from "node:fs";
import { loadRecognizer } from "../dist/infer/node.js";
import { readManifest } from "../dist/data/manifest.js";
import { readAudioAt } from "../dist/audio/read.js";
import { alignTexts, bootstrapInterval } from "../dist/eval/wer.js";
import { normalizeText } from "../dist/data/normalize.js";

const [manifest, ...models] = process.argv.slice(2);
if (!manifest || !models.length) {
  console.error("usage: node scripts/infer-eval.mjs MANIFEST MODEL [MODEL...]");
  process.exit(2);
}
const utts = readManifest(manifest);
const audio = [];
for (const u of utts) audio.push(await readAudioAt(u.audio, 16000));
const seconds = audio.reduce((a, x) => a + x.length / 16000, 0);
let first;
for (const m of models) {
  const rec = await loadRecognizer(readFileSync(m));
  const hyps = [];
  const t0 = performance.now();
  for (const x of audio) hyps.push(await rec.transcribe(x, 16000));
  const sec = (performance.now() - t0) / 1000;
  const scores = utts.map((u, i) => alignTexts(normalizeText(u.text), hyps[i]));
  const errors = scores.reduce((a, s) => a + s.errors, 0), words = scores.reduce((a, s) => a + s.words, 0);
  const ci = bootstrapInterval(scores);
  const diff = first ? hyps.filter((h, i) => h !== first[i]).length : 0;
  console.log(JSON.stringify({ model: m, bytes: statSync(m).size, build: rec.build, utterances: utts.length, wer: (100 * errors) / words, ci, errors, words,
    rtf: sec / seconds, ...(first ? { differentTranscripts: diff } : {}) }));
  first ??= hyps;
}
