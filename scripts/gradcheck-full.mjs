// Full-size gradient check against the PyTorch mirror: runs one training step (no dropout, no
// SpecAugment) of a todm model on the first utterances of a manifest and writes the per-tensor
// gradients and the batch to a safetensors file that test/ref/gradcheck_full.py compares with autograd.
//
//   node scripts/gradcheck-full.mjs runs/default/model.safetensors data.jsonl /tmp/ours.safetensors [utterances=4]
//   /usr/bin/python3 test/ref/gradcheck_full.py runs/default/model.safetensors /tmp/ours.safetensors
import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { collate, createEngine, fbank, encodeSafetensors, loadModel, readAudioAt, writeFileAtomic } from "../dist/index.js";

const [modelPath, manifest, out, nArg] = process.argv.slice(2);
if (!out) throw new Error("usage: node scripts/gradcheck-full.mjs MODEL MANIFEST OUT [utterances]");
const e = await createEngine();
const { model, tokenizer } = loadModel(e, modelPath);
const lines = readFileSync(manifest, "utf8").trim().split("\n").slice(0, Number(nArg ?? 4)).map((l) => JSON.parse(l));
const items = [];
for (const [i, u] of lines.entries()) {
  const audio = await readAudioAt(resolve(dirname(manifest), u.audio_filepath), 16000);
  const f = fbank(e, audio.samples ?? audio, 16000);
  items.push({ id: i, feats: f.data, frames: f.frames, bins: f.bins, tokens: Int32Array.from(tokenizer.encode(u.text)) });
}
const b = collate(items);
model.params.zeroGrad();
const r = model.trainStep(b, undefined, { lossScale: 1 });
const tensors = model.params.entries.filter((p) => p.trainable !== false)
  .map((p) => ({ name: p.name, dtype: "F32", shape: [p.numel], data: e.read(model.params.gradPtr + 4 * p.offset, p.numel) }));
tensors.push(
  { name: "batch.feats", dtype: "F32", shape: [b.B, b.T, b.F], data: b.feats },
  { name: "batch.featLens", dtype: "I32", shape: [b.B], data: b.featLens },
  { name: "batch.tokens", dtype: "I32", shape: [b.B, b.U], data: b.tokens },
  { name: "batch.tokenLens", dtype: "I32", shape: [b.B], data: b.tokenLens },
  { name: "losses", dtype: "F32", shape: [b.B], data: r.losses },
);
writeFileAtomic(out, encodeSafetensors(tensors, {}));
console.log(`losses ${Array.from(r.losses).map((v) => v.toFixed(4)).join(" ")}; wrote ${out}`);
