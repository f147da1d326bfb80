// Loader throughput on one core: decode + resample + features per utterance, as utterances/s and
// times real time, against torchaudio (load + functional.resample + compliance.kaldi.fbank, one
// thread) on the same files. A last case reads the same utterances back from the feature cache.
//
// Files: Kathleen's 16 kHz FLACs and FSDD's 8 kHz WAVs from /work/shared/data when present; a 22.05 kHz
// FLAC set made from them with Debian `flac` (espeak-ng's native rate). Features: engine.fbank when
// this build has it, else the plain-JS stand-in (then the note says so: the integrator reruns it).
// The loader runs in process here (workers: 0) so that the figure is one core's rate; in training it
// runs in a worker thread beside the trainer.

import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { readAudioFile } from "../dist/audio/read.js";
import { resample } from "../dist/audio/resample.js";
import { writeWav } from "../dist/audio/wav.js";
import { makeBatches } from "../dist/data/batching.js";
import { ENGINE_FBANK, STANDIN_FBANK, standInFbank, type FeatureFn } from "../dist/data/features.js";
import { BatchLoader } from "../dist/data/loader.js";
import { readManifest } from "../dist/data/manifest.js";
import { synthesize } from "../dist/data/synth.js";
import { findEngine } from "../dist/data/engines.js";
import { median, type BenchContext, type BenchRecord } from "./lib.js";

const SHARED = "/work/shared/data";
const REPS = 5;

interface FileSet {
  name: string;
  files: string[];
  seconds: number;
}

async function totalSeconds(files: string[]): Promise<number> {
  let s = 0;
  for (const f of files) {
    const a = await readAudioFile(f);
    s += a.samples.length / a.sampleRate;
  }
  return s;
}

function findEspeakOrNull(): string | null {
  return findEngine("espeak-ng", { optional: true })?.bin ?? null;
}

async function fileSets(work: string, log: (s: string) => void): Promise<FileSet[]> {
  const sets: FileSet[] = [];
  const kath = join(SHARED, "kathleen", "manifest.jsonl");
  if (existsSync(kath)) {
    const files = readManifest(kath).slice(0, 150).map((e) => e.audio);
    sets.push({ name: "FLAC 16 kHz (Kathleen): decode + fbank", files, seconds: await totalSeconds(files) });
    if (spawnSync("flac", ["--version"]).status === 0) {
      const dir = join(work, "flac22k");
      mkdirSync(dir, { recursive: true });
      const out: string[] = [];
      for (const f of files.slice(0, 100)) {
        const a = await readAudioFile(f);
        const wav = join(dir, `${out.length}.wav`);
        writeFileSync(wav, writeWav([resample(a.samples, a.sampleRate, 22050)], 22050, { bits: 16 }));
        spawnSync("flac", ["--silent", "--force", "--delete-input-file", wav, "-o", wav.replace(/\.wav$/, ".flac")]);
        out.push(wav.replace(/\.wav$/, ".flac"));
      }
      sets.push({ name: "FLAC 22.05 kHz: decode + resample + fbank", files: out, seconds: await totalSeconds(out) });
    } else log("  no `flac` CLI: the 22.05 kHz FLAC case is left out");
  } else log(`  ${kath} missing: FLAC cases left out`);
  if (findEspeakOrNull()) {
    // The default training data: espeak-ng speech at 16 kHz in WAV (100 utterances of the default plan).
    const r = await synthesize({ out: join(work, "synth"), corpus: "v1", utterances: 100, seed: 1, log: () => {}, progress: false });
    const files = readManifest(r.manifests.train!).map((e) => e.audio);
    sets.push({ name: "WAV 16 kHz (synthetic default corpus): decode + fbank", files, seconds: await totalSeconds(files) });
  } else log("  no espeak-ng: the synthetic-corpus case is left out");
  const fsdd = join(SHARED, "fsdd", "recordings");
  if (existsSync(fsdd)) {
    const files = readdirSync(fsdd).filter((f) => f.endsWith(".wav")).sort().slice(0, 300).map((f) => join(fsdd, f));
    sets.push({ name: "WAV 8 kHz (FSDD): decode + resample + fbank", files, seconds: await totalSeconds(files) });
  }
  return sets;
}

async function pass(files: string[], fn: FeatureFn, cacheDir?: string): Promise<{ ms: number; hits: number }> {
  const utts = files.map((audio) => ({ audio, tokens: Int32Array.of(1) }));
  const plan = makeBatches(files.map(() => 100), { maxFrames: 1600, seed: 1 }).batches;
  const loader = new BatchLoader({ utterances: utts, features: fn, featureKey: "bench", workers: 0, cacheDir, prefetch: 1 });
  const t0 = performance.now();
  for await (const b of loader.run(plan)) void b;
  const ms = performance.now() - t0;
  if (loader.stats.skipped) throw new Error(`bench: ${loader.stats.skipped} files failed: ${loader.ledger.report().join("; ")}`);
  return { ms, hits: loader.stats.cacheHits };
}

export async function run(ctx: BenchContext): Promise<BenchRecord[]> {
  const work = mkdtempSync(join(tmpdir(), "todm-bench-loader-"));
  const out: BenchRecord[] = [];
  try {
    const e = ctx.engines[0];
    const engineFbank = (e as unknown as { fbank?: FeatureFn }).fbank;
    const fn: FeatureFn = typeof engineFbank === "function" ? (s, r) => engineFbank.call(e, s, r) : standInFbank(80);
    const featName = typeof engineFbank === "function" ? `engine.fbank (${e.build})` : "the plain-JS stand-in fbank (engine.fbank is not in this build)";
    const note = `features: ${featName}; one core, in process; torchaudio peer: torchaudio.load + functional.resample + compliance.kaldi.fbank, 1 thread`;
    const sets = await fileSets(work, ctx.log);
    const peerScript = fileURLToPath(new URL("../bench/peers/loader.py", import.meta.url));
    for (const set of sets) {
      await pass(set.files.slice(0, 10), fn); // warm-up (JIT, decoder instantiation)
      const ms = median(await Promise.all([...Array(REPS)].map(async () => 0)).then(async () => {
        const t: number[] = [];
        for (let i = 0; i < REPS; i++) t.push((await pass(set.files, fn)).ms);
        return t;
      }));
      const listFile = join(work, "files.txt");
      writeFileSync(listFile, set.files.join("\n"));
      const peer = ctx.python(peerScript, [listFile, String(REPS)]) as { utt_per_s: number; x_realtime: number } | null;
      const uttPerS = set.files.length / (ms / 1000), xrt = set.seconds / (ms / 1000);
      ctx.log(`  ${set.name}: ${set.files.length} files, ${set.seconds.toFixed(0)} s audio: ${uttPerS.toFixed(0)} utt/s, ${xrt.toFixed(0)}x realtime` +
        (peer ? `; torchaudio ${peer.utt_per_s.toFixed(0)} utt/s, ${peer.x_realtime.toFixed(0)}x` : ""));
      const base = { bench: "loader", higherIsBetter: true, build: e.build, machine: ctx.machine, commit: ctx.commit, note };
      out.push({ ...base, case: set.name, metric: "utterances/s", todm: uttPerS, peers: { torchaudio: peer?.utt_per_s ?? null } });
      out.push({ ...base, case: set.name, metric: "x realtime", todm: xrt, peers: { torchaudio: peer?.x_realtime ?? null } });
    }
    // The feature cache: the first set again, read back from disk (the second epoch on).
    if (sets.length) {
      const set = sets[0], cacheDir = join(work, "cache");
      await pass(set.files, fn, cacheDir);
      const t: number[] = [];
      for (let i = 0; i < REPS; i++) {
        const r = await pass(set.files, fn, cacheDir);
        if (r.hits !== set.files.length) throw new Error("bench: cache did not hit");
        t.push(r.ms);
      }
      const ms = median(t);
      const base = { bench: "loader", higherIsBetter: true, build: e.build, machine: ctx.machine, commit: ctx.commit, note: `${note}; cache case: features read back from the on-disk cache` };
      ctx.log(`  feature cache hits: ${(set.files.length / (ms / 1000)).toFixed(0)} utt/s, ${(set.seconds / (ms / 1000)).toFixed(0)}x realtime`);
      out.push({ ...base, case: `${set.name.split(":")[0]}: feature cache hit`, metric: "x realtime", todm: set.seconds / (ms / 1000), peers: {} });
    }
    // Steady state beside a trainer: one worker thread feeds a consumer that busy-waits as long as a
    // trainer at the PyTorch calibration's rate (54 s of audio per second, NOTES.md) would compute.
    if (sets.length) {
      const set = sets[0];
      const trainerRate = 54;
      const spec = typeof engineFbank === "function" ? ENGINE_FBANK : STANDIN_FBANK;
      const utts = set.files.map((audio) => ({ audio, tokens: Int32Array.of(1) }));
      const frames = await Promise.all(set.files.map(async (f) => {
        const a = await readAudioFile(f);
        return Math.floor((a.samples.length / a.sampleRate) * 100);
      }));
      const plan = makeBatches(frames, { maxFrames: 6000, seed: 1 }).batches; // ~60 s of audio a batch
      const loader = new BatchLoader({ utterances: utts, features: spec, workers: 1, prefetch: 4 });
      // Steady state starts once the first batch has been consumed (the pipeline is full by then).
      let k = 0, waitBefore = 0, t0 = performance.now();
      for await (const b of loader.run(plan)) {
        let audio = 0;
        for (let i = 0; i < b.B; i++) audio += b.featLens[i] / 100;
        const until = performance.now() + (audio / trainerRate) * 1000;
        while (performance.now() < until) { /* the trainer's step */ }
        if (k === 0) {
          t0 = performance.now();
          waitBefore = loader.stats.waitMs;
        }
        k++;
      }
      const frac = k > 2 ? (loader.stats.waitMs - waitBefore) / (performance.now() - t0) : NaN;
      await loader.close();
      ctx.log(`  worker loader beside a simulated trainer at ${trainerRate} s/s: ${k} batches, consumer waited ${(100 * frac).toFixed(1)}% of the time after the first batch`);
      out.push({
        bench: "loader", case: `${set.name.split(":")[0]}: 1 worker beside a trainer at ${trainerRate} s audio/s`, metric: "% of step time waiting",
        higherIsBetter: false, todm: 100 * frac, build: e.build, peers: {}, machine: ctx.machine, commit: ctx.commit,
        note: `${note}; steady state: waiting measured from the second batch on`,
      });
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return out;
}
