// Measures what speed perturbation costs the loader per batch: for batches of about 12,000 feature
// frames (train config batch.maxFrames, ~120 s of audio) from a manifest, the milliseconds to decode
// and featurise at factor 1.0 (a feature-cache miss), to decode, perturb (WASM, and the host's f64
// resampler for comparison) and featurise at 0.9 and 1.1, and to read a cached entry.
//
//   npm run build && node scripts/speed-cost.mjs data-cache/synth-v2/test.jsonl
import { readFileSync } from "node:fs";
import { createEngine } from "../dist/index.js";
import { readManifest } from "../dist/data/manifest.js";
import { readAudioFile } from "../dist/audio/read.js";
import { speedPerturb, speedPerturbHost } from "../dist/audio/speed.js";
import { featuresOf } from "../dist/data/featcache.js";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const manifest = process.argv[2];
const entries = readManifest(manifest);
const engine = await createEngine();
const batches = [];
for (let i = 0, cur = [], frames = 0; i < entries.length; i++) {
  cur.push(entries[i].audio);
  frames += entries[i].duration * 100;
  if (frames >= 12000) batches.push(cur), cur = [], frames = 0;
}
const time = async (fn) => {
  const t0 = performance.now();
  for (const b of batches) for (const a of b) await fn(a);
  return (performance.now() - t0) / batches.length;
};
const cacheDir = mkdtempSync(join(tmpdir(), "speed-cost-"));
const env = { features: (x, r) => engine.fbank(x, r), featureKey: "fbank80", sampleRate: 16000, cacheDir, stats: { cacheHits: 0, cacheMisses: 0, audioSeconds: 0 } };
const decode = async (a) => (await readAudioFile(a)).samples;
const rows = {
  "decode only": await time(decode),
  "decode + fbank (factor 1.0, cache miss; writes the cache)": await time((a) => featuresOf(env, a, 1)),
  "cache hit (factor 1.0)": await time((a) => featuresOf(env, a, 1)),
  "decode + WASM perturb 0.9 + fbank": await time(async (a) => engine.fbank(speedPerturb(engine, await decode(a), 0.9), 16000)),
  "decode + WASM perturb 1.1 + fbank": await time(async (a) => engine.fbank(speedPerturb(engine, await decode(a), 1.1), 16000)),
  "WASM perturb alone (0.9)": await (async () => { const xs = []; for (const b of batches) for (const a of b) xs.push(await decode(a)); const t0 = performance.now(); for (const x of xs) speedPerturb(engine, x, 0.9); return (performance.now() - t0) / batches.length; })(),
  "host f64 perturb alone (0.9)": await (async () => { const xs = []; for (const b of batches) for (const a of b) xs.push(await decode(a)); const t0 = performance.now(); for (const x of xs) speedPerturbHost(x, 0.9); return (performance.now() - t0) / batches.length; })(),
};
console.log(`${batches.length} batches of ~12,000 frames from ${manifest} (engine build ${engine.build})`);
for (const [k, v] of Object.entries(rows)) console.log(`  ${k.padEnd(58)} ${v.toFixed(1)} ms per batch`);
