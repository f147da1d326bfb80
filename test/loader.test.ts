// Batching and the loader. Batch plans are checked for their invariants by brute force; collation
// against direct indexing; the loader's batches against features computed directly from the files
// (our readers plus the same feature function), in process and through worker threads; the cache
// for hits, invalidation and atomic writes; and every bad-audio case for skip-and-count.

import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { resample } from "../src/audio/resample.js";
import { readWav, writeWav } from "../src/audio/wav.js";
import { collate, framesFor, makeBatches, type Batch } from "../src/data/batching.js";
import { DataError, SkipLedger } from "../src/data/errors.js";
import { standInFbank, type FeatureFn } from "../src/data/features.js";
import { BatchLoader } from "../src/data/loader.js";
import { rng } from "./helpers.js";
import { checkOp } from "./harness.js";

describe("makeBatches", () => {
  it("covers every utterance once, keeps B*T_max under the cap, and is seeded", () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 900 }), { minLength: 0, maxLength: 200 }),
        fc.integer({ min: 50, max: 5000 }), fc.integer({ min: 1, max: 40 }), fc.integer({ min: 0, max: 99 }),
        (frames, maxFrames, buckets, seed) => {
          const plan = makeBatches(frames, { maxFrames, buckets, seed }, 3);
          const seen = plan.batches.flat().sort((a, b) => a - b);
          expect(seen).toEqual(frames.map((_, i) => i));
          let oversize = 0;
          for (const b of plan.batches) {
            const tmax = Math.max(...b.map((i) => frames[i]));
            if (b.length === 1 && tmax > maxFrames) oversize++;
            else expect(b.length * tmax).toBeLessThanOrEqual(maxFrames);
          }
          expect(plan.oversize).toBe(oversize);
          expect(makeBatches(frames, { maxFrames, buckets, seed }, 3)).toEqual(plan);
        },
      ),
      { numRuns: 200 },
    );
  });

  it("shuffles differently per epoch and pads far less than unbucketed batches", () => {
    const r = rng(5);
    const frames = Array.from({ length: 2000 }, () => 100 + Math.floor(r() * 1400));
    const a = makeBatches(frames, { maxFrames: 20000, seed: 1 }, 0), b = makeBatches(frames, { maxFrames: 20000, seed: 1 }, 1);
    expect(a.batches).not.toEqual(b.batches);
    const one = makeBatches(frames, { maxFrames: 20000, seed: 1, buckets: 1 }, 0);
    // 30 buckets over a uniform 100..1500 spread: each bucket spans ~47 frames, so padding < 10%;
    // one bucket (random batches) wastes about a third.
    expect(a.efficiency).toBeGreaterThan(0.9);
    expect(one.efficiency).toBeLessThan(0.8);
    expect(makeBatches(frames, { maxFrames: 20000, seed: 1, maxBatch: 4 }).batches.every((x) => x.length <= 4)).toBe(true);
  });

  it("framesFor follows Kaldi's snip_edges count", () => {
    for (const n of [0, 399, 400, 401, 559, 560, 16000, 16001]) {
      expect(framesFor(n / 16000)).toBe(n < 400 ? 0 : 1 + Math.floor((n - 400) / 160));
    }
  });
});

describe("collate", () => {
  it("pads features and tokens with zeros and records lengths", () => {
    const items = [3, 1, 5].map((frames, k) => ({
      id: 10 + k, frames, bins: 2,
      feats: Float32Array.from({ length: frames * 2 }, (_, i) => 100 * k + i + 1),
      tokens: Int32Array.from({ length: k + 1 }, (_, i) => 7 + i),
    }));
    const b = collate(items);
    expect([b.B, b.T, b.F, b.U]).toEqual([3, 5, 2, 3]);
    expect(Array.from(b.featLens)).toEqual([3, 1, 5]);
    expect(Array.from(b.tokenLens)).toEqual([1, 2, 3]);
    for (let k = 0; k < 3; k++) {
      for (let t = 0; t < 5; t++) for (let f = 0; f < 2; f++) {
        expect(b.feats[(k * 5 + t) * 2 + f]).toBe(t < items[k].frames ? items[k].feats[t * 2 + f] : 0);
      }
      for (let u = 0; u < 3; u++) expect(b.tokens[k * 3 + u]).toBe(u <= k ? 7 + u : 0);
    }
  });
});

describe("stand-in fbank", () => {
  it("gives Kaldi's frame count and puts a 1 kHz tone's energy in the 1 kHz mel band", () => {
    const sr = 16000;
    const x = Float32Array.from({ length: 4000 }, (_, i) => 0.5 * Math.sin((2 * Math.PI * 1000 * i) / sr));
    const f = standInFbank(40)(x, sr);
    expect(f.frames).toBe(framesFor(4000 / sr));
    // Mel centres: 40 bands between mel(20) and mel(8000); the band centred nearest 1 kHz must win.
    const mel = (h: number) => 1127 * Math.log(1 + h / 700);
    const lo = mel(20), hi = mel(8000);
    let want = 0;
    for (let m = 0; m < 40; m++) if (Math.abs(lo + ((hi - lo) * (m + 1)) / 41 - mel(1000)) < Math.abs(lo + ((hi - lo) * (want + 1)) / 41 - mel(1000))) want = m;
    const row = f.data.subarray(10 * 40, 11 * 40);
    expect(row.indexOf(Math.max(...row))).toBe(want);
  });
});

/** A folder of small WAVs at 8, 16 and 22.05 kHz plus the bad cases; returns paths and expectations. */
function corpusDir() {
  const d = mkdtempSync(join(tmpdir(), "todm-loader-"));
  const r = rng(11);
  const good: { audio: string; tokens: Int32Array }[] = [];
  const rates = [16000, 8000, 22050, 16000, 44100];
  for (let i = 0; i < 13; i++) {
    const rate = rates[i % rates.length];
    const n = Math.round(rate * (0.05 + r() * 0.4));
    const x = Float32Array.from({ length: n }, () => (r() * 2 - 1) * 0.3);
    const path = join(d, `u${i}.wav`);
    writeFileSync(path, writeWav([x, x.map((v) => -v * 0.5)], rate, { bits: i % 2 ? 16 : 24 }));
    good.push({ audio: path, tokens: Int32Array.from({ length: 1 + (i % 5) }, (_, k) => 1 + ((i + k) % 9)) });
  }
  const bad: { audio: string; tokens: Int32Array; kind: string }[] = [
    { kind: "empty", audio: join(d, "empty.wav") },
    { kind: "truncated", audio: join(d, "trunc.wav") },
    { kind: "corrupt", audio: join(d, "corrupt.flac") },
    { kind: "unknown-format", audio: join(d, "mp3.wav") },
    { kind: "missing-audio", audio: join(d, "gone.wav") },
  ].map((b) => ({ ...b, tokens: Int32Array.of(1) }));
  writeFileSync(bad[0].audio, new Uint8Array(0));
  writeFileSync(bad[1].audio, readFileSync(good[0].audio).subarray(0, 500));
  const flac = readFileSync("test/fixtures/tone-16k-mono.flac");
  writeFileSync(bad[2].audio, Uint8Array.from(flac, (v, i) => (i >= 600 && i < 1400 ? v ^ 0x5a : v)));
  writeFileSync(bad[3].audio, new TextEncoder().encode("ID3 not audio"));
  return { dir: d, good, bad };
}

/** The reference: our readers, resampled to 16 kHz, the same feature function; no loader. */
function direct(path: string, fn: FeatureFn) {
  const a = readWav(readFileSync(path), path);
  const x = a.sampleRate === 16000 ? a.samples : resample(a.samples, a.sampleRate, 16000);
  return fn(x, 16000);
}

async function drain(loader: BatchLoader, plan: number[][]): Promise<Batch[]> {
  const out: Batch[] = [];
  for await (const b of loader.run(plan)) out.push(b);
  return out;
}

function checkAgainstDirect(batches: Batch[], utts: { audio: string; tokens: Int32Array }[], fn: FeatureFn): number {
  let n = 0;
  for (const b of batches) {
    b.ids.forEach((id, k) => {
      const ref = direct(utts[id].audio, fn);
      expect(b.featLens[k]).toBe(ref.frames);
      // Same code on the same samples: bit-identical (no tolerance needed).
      checkOp(`feats of ${utts[id].audio}`, b.feats.subarray(k * b.T * b.F, k * b.T * b.F + ref.frames * b.F), ref.data, 0);
      expect(Array.from(b.tokens.subarray(k * b.U, k * b.U + b.tokenLens[k]))).toEqual(Array.from(utts[id].tokens));
      n++;
    });
  }
  return n;
}

describe("BatchLoader in process", () => {
  const fn = standInFbank(80);

  it("delivers the planned batches with the features of each file, and skips bad audio naming it", async () => {
    const { good, bad } = corpusDir();
    const utts = [...good, ...bad];
    const plan = makeBatches(utts.map((_, i) => 10 + (i % 7)), { maxFrames: 60, seed: 2 }).batches;
    const ledger = new SkipLedger();
    const loader = new BatchLoader({ utterances: utts, features: fn, workers: 0, ledger, prefetch: 3 });
    const batches = await drain(loader, plan);
    expect(checkAgainstDirect(batches, utts, fn)).toBe(good.length);
    expect(loader.stats.skipped).toBe(bad.length);
    const byFile = new Map(ledger.errors.map((e) => [e.file, e]));
    for (const b of bad) {
      expect(byFile.get(b.audio)?.kind).toBe(b.kind);
      expect(byFile.get(b.audio)?.message.startsWith(`${b.audio}: `)).toBe(true);
    }
    // Strict: the first bad item ends the run with its error.
    const strict = new BatchLoader({ utterances: utts, features: fn, workers: 0, ledger: new SkipLedger(true) });
    await expect(drain(strict, plan)).rejects.toBeInstanceOf(DataError);
  });

  it("caches features: hits on the second epoch, identical batches, misses after a file changes", async () => {
    const { dir, good } = corpusDir();
    const cacheDir = join(dir, "cache");
    const plan = makeBatches(good.map(() => 10), { maxFrames: 40, seed: 1 }).batches;
    const mk = () => new BatchLoader({ utterances: good, features: fn, featureKey: "standin-80", workers: 0, cacheDir });
    const first = mk();
    const a = await drain(first, plan);
    expect([first.stats.cacheHits, first.stats.cacheMisses]).toEqual([0, good.length]);
    const second = mk();
    const b = await drain(second, plan);
    expect([second.stats.cacheHits, second.stats.cacheMisses]).toEqual([good.length, 0]);
    expect(b).toEqual(a);
    // No temporary files left behind by the atomic writes.
    const files = readdirSync(cacheDir, { recursive: true }).map(String);
    expect(files.filter((f) => f.endsWith(".tmp"))).toEqual([]);
    expect(files.filter((f) => f.endsWith(".feat")).length).toBe(good.length);
    // Corrupting one entry forces its recomputation; then touching one file (new mtime) forces its own.
    // (Two separate passes: the corrupted entry could otherwise be the touched file's, counted once.)
    const entry = files.find((f) => f.endsWith(".feat"))!;
    writeFileSync(join(cacheDir, entry), "garbage");
    const third = mk();
    const c = await drain(third, plan);
    expect(third.stats.cacheMisses).toBe(1);
    expect(c).toEqual(a);
    utimesSync(good[0].audio, new Date(), new Date(Date.now() + 5000));
    const fourth = mk();
    expect(await drain(fourth, plan)).toEqual(a);
    expect(fourth.stats.cacheMisses).toBe(1);
    // A different feature key never reads these entries.
    const other = new BatchLoader({ utterances: good, features: fn, featureKey: "standin-80-v2", workers: 0, cacheDir });
    await drain(other, plan);
    expect(other.stats.cacheHits).toBe(0);
  });
});

describe("compiled dist/: the loader's worker threads and the prepare command line", () => {
  // Worker threads run plain Node, which cannot load TypeScript: dist/ is compiled by the global setup (test/setup/build-dist.ts).
  // Everything in these tests comes from dist/, so that DataError is one class (src/ and dist/ each have one).
  let dist: {
    BatchLoader: typeof BatchLoader;
    SkipLedger: typeof SkipLedger;
    DataError: typeof DataError;
    STANDIN_FBANK: import("../src/data/features.js").FeatureSpec;
  };
  beforeAll(async () => {
    const l = await import(join(process.cwd(), "dist/data/loader.js"));
    const f = await import(join(process.cwd(), "dist/data/features.js"));
    const e = await import(join(process.cwd(), "dist/data/errors.js"));
    dist = { BatchLoader: l.BatchLoader, SkipLedger: e.SkipLedger, DataError: e.DataError, STANDIN_FBANK: f.STANDIN_FBANK };
  }, 120_000);

  it("gives the same batches as the direct computation through 2 workers, skipping bad audio", async () => {
    const { dir, good, bad } = corpusDir();
    const utts = [...good, ...bad];
    const plan = makeBatches(utts.map((_, i) => 10 + (i % 5)), { maxFrames: 45, seed: 3 }).batches;
    const ledger = new dist.SkipLedger();
    const loader = new dist.BatchLoader({ utterances: utts, features: dist.STANDIN_FBANK, workers: 2, prefetch: 4, ledger, cacheDir: join(dir, "c") });
    try {
      const batches = await drain(loader as unknown as BatchLoader, plan);
      expect(checkAgainstDirect(batches, utts, standInFbank(80))).toBe(good.length);
      expect(ledger.errors.map((e) => e.kind).sort()).toEqual(bad.map((b) => b.kind).sort());
      expect(ledger.errors.every((e) => e instanceof dist.DataError && e.message.startsWith(`${e.file}: `))).toBe(true);
      expect(existsSync(join(dir, "c"))).toBe(true);
    } finally {
      await loader.close();
    }
  });

  it("reports a feature module that fails to load", async () => {
    const { good } = corpusDir();
    const loader = new dist.BatchLoader({ utterances: good, features: { ...dist.STANDIN_FBANK, factory: "nope" }, workers: 1 });
    try {
      await expect(drain(loader as unknown as BatchLoader, [[0]])).rejects.toThrow(/has no export nope/);
    } finally {
      await loader.close();
    }
  });

  const cli = (args: string[]) => spawnSync(process.execPath, ["dist/cli.js", ...args], { encoding: "utf8", env: { ...process.env, CI: "true" } });

  it("prints utterances, hours and the skipped files; --strict exits 1 naming the file", () => {
    const d = mkdtempSync(join(tmpdir(), "todm-cli-"));
    const ch = join(d, "split", "7", "70");
    mkdirSync(ch, { recursive: true });
    writeFileSync(join(ch, "7-70-0000.wav"), writeWav([new Float32Array(8000).fill(0.1)], 16000));
    writeFileSync(join(ch, "7-70-0001.wav"), new Uint8Array(0));
    writeFileSync(join(ch, "7-70.trans.txt"), "7-70-0000 HELLO THERE\n7-70-0001 EMPTY ONE\n");
    const out = join(d, "m.jsonl");
    const ok = cli(["prepare", "librispeech", join(d, "split"), "--out", out]);
    expect(ok.status).toBe(0);
    expect(ok.stdout).toContain(`wrote ${out}: 1 utterances, 0.00 hours`);
    expect(ok.stdout).toContain("skipped: 1 (empty 1)");
    expect(ok.stdout).toContain(`${join(ch, "7-70-0001.wav")}: empty audio file (0 bytes)`);
    expect(readFileSync(out, "utf8")).toBe(`{"audio_filepath":"split/7/70/7-70-0000.wav","duration":0.5,"text":"HELLO THERE","id":"7-70-0000"}\n`);
    const strict = cli(["prepare", "librispeech", join(d, "split"), "--out", out, "--strict"]);
    expect(strict.status).toBe(1);
    expect(strict.stderr).toContain(`todm: ${join(ch, "7-70-0001.wav")}: empty audio file`);
    const unknown = cli(["prepare", "kaldi", d, "--out", out]);
    expect(unknown.stderr).toContain('unknown format "kaldi"');
  });
});

