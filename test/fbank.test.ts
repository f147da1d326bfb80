// Kaldi fbank, its FFT and SpecAugment. References: torchaudio's kaldi.fbank (test/fixtures/fbank.json,
// written by test/ref/fbank.py), an O(n^2) float64 DFT for the FFTs, the naive twins for the SIMD
// kernels, the one-shot call for the stream, and the drawn masks for SpecAugment.
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import type { Engine } from "../src/index.js";
import { specAugment, specAugmentMasks } from "../src/index.js";
import { bothBuilds, engine, randn, rng } from "./helpers.js";
import { checkOp, readFixture } from "./harness.js";
import { fbankStream } from "./kernels.js";
import { fbank } from "../src/engine/features.js";

interface FixtureCase { name: string; sample_rate: number; n: number; frames: number; bins: number; samples: string; fbank: string }
const fixture = readFixture("fbank.json", "test/ref/fbank.py");
const f32 = (b64: string) => {
  const buf = Buffer.from(b64, "base64");
  return new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
};

/** float64 DFT of a complex signal (the FFT tests' reference). */
function dft(re: ArrayLike<number>, im: ArrayLike<number>): { re: Float64Array; im: Float64Array } {
  const n = re.length, outRe = new Float64Array(n), outIm = new Float64Array(n);
  const c = Float64Array.from({ length: n }, (_, j) => Math.cos((-2 * Math.PI * j) / n));
  const s = Float64Array.from({ length: n }, (_, j) => Math.sin((-2 * Math.PI * j) / n));
  for (let k = 0; k < n; k++) {
    let ar = 0, ai = 0;
    for (let j = 0, p = 0; j < n; j++, p = (p + k) % n) {
      ar += re[j] * c[p] - im[j] * s[p];
      ai += re[j] * s[p] + im[j] * c[p];
    }
    outRe[k] = ar;
    outIm[k] = ai;
  }
  return { re: outRe, im: outIm };
}

const l2 = (...xs: ArrayLike<number>[]) => Math.sqrt(xs.reduce((s, x) => s + Array.from(x).reduce((a, v) => a + v * v, 0), 0));
// f32 FFT error: each of the log2(n) stages adds about one ulp of the running L2 norm to each output;
// 2 * 2^-24 * (log2 n + 1) * ||x||_2 bounds it: measured at most 0.61 * 2^-24 * (log2 n + 1) * ||x||_2, n = 2..4096.
const fftTol = (n: number, norm: number) => 2 * 2 ** -24 * (Math.log2(n) + 1) * norm + 1e-30;

describe("fft", () => {
  it("complex fft_forward and its naive twin match a float64 DFT, n = 1..4096", async () => {
    for (const e of await bothBuilds()) {
      for (let n = 1; n <= 4096; n *= 2) {
        const r = rng(n);
        const re = randn(n, r), im = randn(n, r);
        const ref = dft(re, im);
        const tol = fftTol(n, l2(re, im));
        for (const fn of ["fft_forward", "fft_forward_naive"] as const) {
          e.scoped(() => {
            const pr = e.upload(re), pi = e.upload(im);
            e.wasm[fn](pr, pi, n);
            checkOp(`${e.build} ${fn} n=${n} re`, e.read(pr, n), ref.re, tol);
            checkOp(`${e.build} ${fn} n=${n} im`, e.read(pi, n), ref.im, tol);
          });
        }
      }
    }
  });

  it("rfft_forward and rfft_power (and twins) match a float64 DFT of a real signal, n = 2..4096", async () => {
    for (const e of await bothBuilds()) {
      for (let n = 2; n <= 4096; n *= 2) {
        const x = randn(n, rng(7 * n));
        const ref = dft(x, new Float64Array(n));
        const m = n / 2;
        const refPow = Float64Array.from({ length: m + 1 }, (_, k) => ref.re[k] ** 2 + ref.im[k] ** 2);
        const norm = l2(x);
        const tol = fftTol(n, norm);
        e.scoped(() => {
          const px = e.upload(x);
          for (const fn of ["rfft_forward", "rfft_forward_naive"] as const) {
            const or = e.alloc(m + 1), oi = e.alloc(m + 1);
            e.wasm[fn](or, oi, px, n);
            checkOp(`${e.build} ${fn} n=${n} re`, e.read(or, m + 1), ref.re.subarray(0, m + 1), tol);
            checkOp(`${e.build} ${fn} n=${n} im`, e.read(oi, m + 1), ref.im.subarray(0, m + 1), tol);
          }
          for (const fn of ["rfft_power", "rfft_power_naive"] as const) {
            const p = e.alloc(m + 1), sr = e.alloc(m + 1), si = e.alloc(m + 1);
            e.wasm[fn](p, px, n, sr, si);
            // |X|^2 from X with error tol: |(|X|+tol)^2 - |X|^2| <= 2 |X| tol + tol^2 <= 2 norm sqrt(n) tol + tol^2.
            checkOp(`${e.build} ${fn} n=${n}`, e.read(p, m + 1), refPow, 2 * norm * Math.sqrt(n) * tol + tol * tol);
          }
          expect(e.read(px, n)).toEqual(x); // the input is left alone
        });
      }
    }
  });
});

/** Throws at the first difference (bit-exact, NaN included): vitest's diff of long arrays is unreadable. */
function expectIdentical(name: string, got: Float32Array, ref: Float32Array): void {
  if (got.length !== ref.length) throw new Error(`${name}: length ${got.length} != ${ref.length}`);
  const a = new Uint32Array(got.buffer, got.byteOffset, got.length), b = new Uint32Array(ref.buffer, ref.byteOffset, ref.length);
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) throw new Error(`${name}: [${i}] ${got[i]} != ${ref[i]}`);
}

/** Max |got - ref| over entries whose reference is above -8, and the mean |got - ref| over all. */
function fbankErrors(got: Float32Array, ref: Float32Array): { maxAbove: number; mean: number } {
  let maxAbove = 0, sum = 0;
  for (let i = 0; i < ref.length; i++) {
    const d = Math.abs(got[i] - ref[i]);
    sum += Number.isNaN(d) ? Infinity : d;
    if (ref[i] > -8 && !(d <= maxAbove)) maxAbove = Number.isNaN(d) ? Infinity : d;
  }
  return { maxAbove, mean: ref.length ? sum / ref.length : 0 };
}

function fbankRaw(e: Engine, fn: "fbank_forward" | "fbank_forward_naive", x: Float32Array, rate: number, bins = 80): Float32Array {
  return e.scoped(() => {
    const frames = e.wasm.fbank_num_frames(x.length, rate);
    const px = e.upload(x), out = e.alloc(frames * bins);
    expect(e.wasm[fn](out, px, x.length, rate, bins)).toBe(frames);
    return e.read(out, frames * bins);
  });
}

describe("fbank", () => {
  const cases: FixtureCase[] = fixture.cases;

  it("reads a fixture made by torchaudio's kaldi.fbank", () => {
    expect(fixture.magic).toBe("todm-fixture");
    expect(fixture.version).toBe(1);
    expect(cases.length).toBeGreaterThan(10);
  });

  it("equals torchaudio kaldi.fbank: 1e-2 abs above -8, 1e-3 mean abs (both builds, SIMD and naive)", async () => {
    const worst = { maxAbove: 0, mean: 0 };
    for (const e of await bothBuilds()) {
      for (const c of cases) {
        const x = f32(c.samples), ref = f32(c.fbank);
        expect(x.length).toBe(c.n);
        const api = fbank(e, x, c.sample_rate);
        expect([api.frames, api.bins], c.name).toEqual([c.frames, 80]);
        for (const [what, got] of [["fbank", api.data], ["naive", fbankRaw(e, "fbank_forward_naive", x, c.sample_rate)]] as const) {
          const err = fbankErrors(got, ref);
          // The tolerances. Below -8 a bin holds < 3e-4 of energy, where f32 rounding of the
          // FFT (relative to the frame's total energy, not the bin's) dominates both implementations.
          if (!(err.maxAbove <= 1e-2 && err.mean <= 1e-3)) {
            throw new Error(`${e.build} ${what} "${c.name}": max |d| above -8 = ${err.maxAbove}, mean |d| = ${err.mean}`);
          }
          worst.maxAbove = Math.max(worst.maxAbove, err.maxAbove);
          worst.mean = Math.max(worst.mean, err.mean);
        }
      }
    }
    console.log(`fbank vs torchaudio, worst case over ${cases.length} signals: max |d| above -8 = ${worst.maxAbove.toExponential(2)}, mean |d| = ${worst.mean.toExponential(2)}`);
  });

  it("counts frames as Kaldi's snip_edges: 0 below one frame, 1 + (n - length) / shift above", async () => {
    const e = await engine();
    // torchaudio: window_size = int(rate * 25 * 0.001), window_shift = int(rate * 10 * 0.001).
    const geometry: [number, number, number, number][] = [[8000, 200, 80, 256], [16000, 400, 160, 512], [22050, 551, 220, 1024], [44100, 1102, 441, 2048], [48000, 1200, 480, 2048]];
    for (const [rate, len, shift, nfft] of geometry) {
      expect([e.wasm.fbank_frame_length(rate), e.wasm.fbank_frame_shift(rate), e.wasm.fbank_fft_size(rate)]).toEqual([len, shift, nfft]);
      for (const n of [0, 1, len - 1, len, len + 1, len + shift - 1, len + shift, 5 * len + 3]) {
        let frames = 0; // count by brute force: frame t fits when t * shift + len <= n
        while (frames * shift + len <= n) frames++;
        expect(fbank(e, new Float32Array(n), rate).frames, `rate ${rate}, n ${n}`).toBe(frames);
      }
    }
    expect(fbank(e, new Float32Array(399), 16000).data.length).toBe(0);
  });

  it("gives log(float epsilon) for digital silence, like Kaldi's floor", async () => {
    const e = await engine();
    const { data } = fbank(e, new Float32Array(1000).fill(0.25), 16000); // DC only: removed per frame
    for (const v of data) expect(v).toBe(Math.fround(Math.log(Math.fround(2 ** -23))));
  });

  it("matches its naive twin on random rates, lengths and levels", async () => {
    const engines = await bothBuilds();
    fc.assert(
      fc.property(
        fc.constantFrom(8000, 11025, 16000, 22050, 24000, 44100), fc.integer({ min: 0, max: 3000 }),
        fc.double({ min: -5, max: 0, noNaN: true }), fc.integer({ min: 4, max: 128 }), fc.integer(),
        (rate, n, logLevel, bins, seed) => {
          const x = randn(n, rng(seed), 10 ** logLevel);
          for (const e of engines) {
            const a = fbankRaw(e, "fbank_forward", x, rate, bins), b = fbankRaw(e, "fbank_forward_naive", x, rate, bins);
            const err = fbankErrors(a, b);
            // Same algorithm, different summation order (SIMD lanes, FMA in the relaxed build): entries
            // above -8 agree to 1e-3 (measured: under 1e-4); all entries to 1e-3 on average.
            if (!(err.maxAbove <= 1e-3 && err.mean <= 1e-3)) throw new Error(`${e.build} rate ${rate} n ${n} bins ${bins}: ${JSON.stringify(err)}`);
          }
        },
      ),
      { numRuns: 60 },
    );
  });

  it("takes logs four at a time within 3 ulp of float64 log; inf and NaN pass through", async () => {
    const ulp = (v: number) => 2 ** (Math.floor(Math.log2(Math.abs(Math.fround(v)))) - 23);
    for (const e of await bothBuilds()) {
      const r = rng(11);
      // near 1 (where log is small and its ulp tiny) and log-uniform over the range fbank can produce
      const x = Float32Array.from({ length: 40000 }, (_, i) => (i < 2000 ? 1 + (r() - 0.5) * 0.02 : 2 ** (-23 + r() * 150)));
      x.set([Infinity, Number.NaN, 1, 2 ** -23, 3], 40000 - 5);
      const got = e.scoped(() => {
        const px = e.upload(x), po = e.alloc(x.length);
        e.wasm.fbank_log_f32(po, px, x.length);
        return e.read(po, x.length);
      });
      for (let i = 0; i < x.length; i++) {
        const ref = Math.log(x[i]);
        const ok = Number.isFinite(ref) ? Math.abs(got[i] - ref) <= 3 * ulp(ref || 1) : Object.is(got[i], ref);
        if (!ok) throw new Error(`${e.build} log(${x[i]}) = ${got[i]}, float64 ${ref}`);
      }
    }
  });

  it("rejects unsupported sample rates and bin counts with a message", async () => {
    const e = await engine();
    expect(() => fbank(e, new Float32Array(100), 50)).toThrow(/sample rate 50/);
    expect(() => fbank(e, new Float32Array(100), 200000)).toThrow(/sample rate/);
    expect(() => fbank(e, new Float32Array(100), 16000, { numMelBins: 3 })).toThrow(/numMelBins 3/);
    expect(() => fbankStream(e, Number.NaN)).toThrow(/sample rate/);
  });
});

describe("fbankStream", () => {
  it("yields exactly the one-shot frames for any chunking, and flush() resets", async () => {
    const e = await engine();
    fc.assert(
      fc.property(
        fc.constantFrom(8000, 16000, 22050), fc.integer({ min: 0, max: 4000 }),
        // chunk sizes, cycled; empty chunks included, but at least one non-empty so the feed ends
        fc.array(fc.integer({ min: 0, max: 900 }), { minLength: 1, maxLength: 12 }).filter((a) => a.some((v) => v > 0)), fc.integer(),
        (rate, n, cuts, seed) => {
          const x = randn(n, rng(seed), 0.5);
          const whole = fbank(e, x, rate);
          const stream = fbankStream(e, rate);
          const got: Float32Array[] = [];
          let at = 0, i = 0;
          while (at < n) {
            const size = Math.min(n - at, cuts[i++ % cuts.length]);
            got.push(stream.accept(x.subarray(at, at + size)).data);
            at += size;
          }
          expect(stream.pendingSamples).toBeLessThan(e.wasm.fbank_frame_length(rate));
          const end = stream.flush();
          expect(end.frames).toBe(0);
          const joined = new Float32Array(got.reduce((s, g) => s + g.length, 0));
          got.reduce((off, g) => (joined.set(g, off), off + g.length), 0);
          expectIdentical(`rate ${rate} n ${n} cuts ${cuts}`, joined, whole.data); // bit-exact: same samples, same code
          // After flush the stream starts over: a second utterance gives its own one-shot frames.
          const y = x.subarray(0, Math.min(n, 1234));
          expectIdentical("after flush", stream.accept(y).data, fbank(e, y, rate).data);
        },
      ),
      { numRuns: 80 },
    );
  });
});

describe("specAugment", () => {
  const frames = 173, bins = 80;
  const feats = randn(frames * bins, rng(5), 10);

  it("is deterministic per seed, and different seeds give different masks", () => {
    const opts = { seed: 42 };
    expect(specAugment(feats, frames, bins, opts)).toEqual(specAugment(feats, frames, bins, opts));
    const many = new Set(Array.from({ length: 20 }, (_, s) => JSON.stringify(specAugmentMasks(frames, bins, { seed: s }))));
    expect(many.size).toBeGreaterThan(15);
  });

  it("keeps masks within the configured limits and leaves every other entry unchanged", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 300 }), fc.integer({ min: 1, max: 100 }), fc.integer({ min: 0, max: 4 }),
        fc.integer({ min: 0, max: 40 }), fc.integer({ min: 0, max: 4 }), fc.double({ min: 0, max: 0.5, noNaN: true }),
        fc.oneof(fc.constant<"mean">("mean"), fc.double({ min: -20, max: 20, noNaN: true })), fc.integer(),
        (T, F, freqMasks, freqMaskWidth, timeMasks, timeMaskFraction, maskValue, seed) => {
          const x = randn(T * F, rng(seed), 10);
          const opts = { freqMasks, freqMaskWidth, timeMasks, timeMaskFraction, maskValue, seed };
          const { freq, time } = specAugmentMasks(T, F, opts);
          expect([freq.length, time.length]).toEqual([freqMasks, timeMasks]);
          for (const m of freq) {
            expect(m.width).toBeLessThanOrEqual(Math.min(freqMaskWidth, F));
            expect(m.start).toBeGreaterThanOrEqual(0);
            expect(m.start + m.width).toBeLessThanOrEqual(F);
          }
          for (const m of time) {
            expect(m.width).toBeLessThanOrEqual(Math.floor(timeMaskFraction * T));
            expect(m.start).toBeGreaterThanOrEqual(0);
            expect(m.start + m.width).toBeLessThanOrEqual(T);
          }
          const mean = x.reduce((s, v) => s + v, 0) / x.length;
          const value = Math.fround(maskValue === "mean" ? mean : maskValue);
          const y = specAugment(x, T, F, opts);
          for (let t = 0; t < T; t++) {
            for (let f = 0; f < F; f++) {
              const masked = freq.some((m) => f >= m.start && f < m.start + m.width) || time.some((m) => t >= m.start && t < m.start + m.width);
              if (y[t * F + f] !== (masked ? value : x[t * F + f])) throw new Error(`entry (${t}, ${f}) masked=${masked}: ${y[t * F + f]}`);
            }
          }
        },
      ),
      { numRuns: 200 },
    );
    // the input itself is never written
    const copy = feats.slice();
    specAugment(feats, frames, bins, { seed: 1, freqMaskWidth: 40, timeMaskFraction: 0.5 });
    expect(feats).toEqual(copy);
  });
});
