// Computing one utterance's features, through an on-disk cache, and one batch from a job. Shared by
// the loader's worker threads and its in-process mode.
//
// Cache entries are keyed by the audio file's absolute path, mtime and size, the target sample rate
// and a string naming the feature function and its configuration (so a changed file or a changed
// feature config misses). Each entry is `<cacheDir>/<2 hex>/<38 hex>.feat`: the 8 bytes "TODMFEAT",
// u32 version 1, u32 frames, u32 bins, then frames*bins f32 (little endian). Entries are written to a
// temporary file and renamed, so a crash or a concurrent worker never leaves half an entry; an entry
// that does not parse is recomputed. Not an LRU: delete the folder to reclaim space.
//
// Speed perturbation (src/audio/speed.ts): only factor 1.0 is cached. A perturbed utterance (0.9 or
// 1.1, two draws in three) is decoded, resampled, perturbed in WASM and featurised on the fly, and
// never written: the cache stays one copy of the corpus's features, and no perturbed audio is stored.

import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { readAudioFile } from "../audio/read.js";
import { resample } from "../audio/resample.js";
import { speedPerturbHost } from "../audio/speed.js";
import { collate, type Batch } from "./batching.js";
import { DataError } from "./errors.js";
import type { FeatureFn, Features } from "./features.js";

const MAGIC = "TODMFEAT";

export interface FeatureEnv {
  features: FeatureFn;
  /** Names the feature function and its config in cache keys. */
  featureKey: string;
  sampleRate: number;
  cacheDir?: string;
  /** Speed perturbation of 16 kHz samples (default: the host resampler). */
  perturb?: (x: Float32Array, factor: number) => Float32Array;
  /** audioSeconds counts decoded audio exactly, and cache hits as frames * 10 ms (their audio is not read). */
  stats: { cacheHits: number; cacheMisses: number; audioSeconds: number; perturbed?: number; perturbMs?: number };
}

export function cachePath(env: Pick<FeatureEnv, "cacheDir" | "featureKey" | "sampleRate">, audio: string): string | undefined {
  if (!env.cacheDir) return undefined;
  let st;
  try {
    st = statSync(audio);
  } catch {
    return undefined; // the read below reports the missing file
  }
  const h = createHash("sha1").update(`${audio}\u0000${st.mtimeMs}\u0000${st.size}\u0000${env.sampleRate}\u0000${env.featureKey}`).digest("hex");
  return join(env.cacheDir, h.slice(0, 2), `${h.slice(2)}.feat`);
}

function readEntry(path: string): Features | undefined {
  let b: Buffer;
  try {
    b = readFileSync(path);
  } catch {
    return undefined;
  }
  if (b.length < 20 || b.toString("latin1", 0, 8) !== MAGIC || b.readUInt32LE(8) !== 1) return undefined;
  const frames = b.readUInt32LE(12), bins = b.readUInt32LE(16);
  if (b.length !== 20 + frames * bins * 4) return undefined;
  const data = new Float32Array(frames * bins);
  new Uint8Array(data.buffer).set(b.subarray(20));
  return { data, frames, bins };
}

function writeEntry(path: string, f: Features): void {
  mkdirSync(join(path, ".."), { recursive: true });
  const head = Buffer.alloc(20);
  head.write(MAGIC, 0, "latin1");
  head.writeUInt32LE(1, 8);
  head.writeUInt32LE(f.frames, 12);
  head.writeUInt32LE(f.bins, 16);
  const tmp = `${path}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  writeFileSync(tmp, Buffer.concat([head, new Uint8Array(f.data.buffer, f.data.byteOffset, f.frames * f.bins * 4)]));
  renameSync(tmp, path);
}

/** Features of one file: from the cache, else decoded, resampled, computed (and cached); `factor` != 1: perturbed, never cached. */
export async function featuresOf(env: FeatureEnv, audio: string, factor = 1): Promise<Features> {
  const path = factor === 1 ? cachePath(env, audio) : undefined;
  if (path) {
    const hit = readEntry(path);
    if (hit) {
      env.stats.cacheHits++;
      env.stats.audioSeconds += (hit.frames * 0.01);
      return hit;
    }
  }
  env.stats.cacheMisses++;
  const a = await readAudioFile(audio);
  let x = a.sampleRate === env.sampleRate ? a.samples : resample(a.samples, a.sampleRate, env.sampleRate);
  if (factor !== 1) {
    const t0 = performance.now();
    x = (env.perturb ?? speedPerturbHost)(x, factor);
    env.stats.perturbed = (env.stats.perturbed ?? 0) + 1;
    env.stats.perturbMs = (env.stats.perturbMs ?? 0) + performance.now() - t0;
  }
  env.stats.audioSeconds += x.length / env.sampleRate;
  const f = env.features(x, env.sampleRate);
  if (f.frames === 0) throw new DataError("empty", audio, undefined, `audio too short for one feature frame (${x.length} samples)`);
  const out = { data: f.data.slice(0, f.frames * f.bins), frames: f.frames, bins: f.bins };
  if (path) writeEntry(path, out);
  return out;
}

export interface BatchJob {
  seq: number;
  items: { id: number; audio: string; tokens: Int32Array; factor?: number }[];
}

export interface BatchResult {
  seq: number;
  batch: Batch | null;
  errors: ReturnType<DataError["toPlain"]>[];
}

/** Loads a batch: items that fail with a DataError are left out and reported; other errors throw. */
export async function loadBatch(env: FeatureEnv, job: BatchJob): Promise<BatchResult> {
  const ok = [];
  const errors: BatchResult["errors"] = [];
  for (const it of job.items) {
    try {
      const f = await featuresOf(env, it.audio, it.factor ?? 1);
      ok.push({ id: it.id, feats: f.data, frames: f.frames, bins: f.bins, tokens: it.tokens });
    } catch (e) {
      if (!(e instanceof DataError)) throw e;
      errors.push(e.toPlain());
    }
  }
  return { seq: job.seq, batch: ok.length ? collate(ok) : null, errors };
}
