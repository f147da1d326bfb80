// dropout (assembly/ops/dropout.ts): the mask against an independent BigInt implementation of the
// documented hash, SIMD against the naive twin bit for bit (both builds), determinism per seed,
// independence from call length, binomial bounds on the keep rate, and backward = d0 + mask * dout.
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import type { Engine } from "../src/index.js";
import { bothBuilds, engine, randn, rng } from "./helpers.js";

type Kernel = (...args: number[]) => void;
const k = (e: Engine, name: string): Kernel => (e.wasm as unknown as Record<string, Kernel>)[name];

/** The keep decision as documented in dropout.ts, in BigInt (independent of the WASM code). */
function keepRef(seed: number, i: number, p: number): boolean {
  const M = (1n << 64n) - 1n;
  let z = (((BigInt(seed >>> 0) << 32n) | BigInt(i >> 1)) * 0x9e3779b97f4a7c15n) & M;
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & M;
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & M;
  z ^= z >> 31n;
  const word = i % 2 === 0 ? z >> 32n : z & 0xffffffffn;
  const u = Number(word >> 8n);
  const thr = p <= 0 ? 0 : p >= 1 ? 2 ** 24 : Math.round(Math.fround(p) * 2 ** 24);
  return u >= thr;
}

function forward(e: Engine, x: ArrayLike<number>, p: number, seed: number, naive = false) {
  return e.scoped(() => {
    const n = x.length, out = e.alloc(n), mask = e.alloc(n);
    k(e, naive ? "dropout_forward_naive" : "dropout_forward")(out, mask, e.upload(x), n, p, seed);
    return { out: e.read(out, n), mask: e.read(mask, n) };
  });
}

/** Number of kept elements in a mask. */
const kept = (mask: Float32Array) => mask.reduce((s, m) => s + (m !== 0 ? 1 : 0), 0);

describe("dropout", () => {
  it("mask equals an independent BigInt implementation of the documented hash", async () => {
    const e = await engine();
    for (const [p, seed] of [[0.1, 1], [0.5, 0xdeadbeef | 0], [0.9, 12345]]) {
      const { mask } = forward(e, new Float32Array(301).fill(1), p, seed);
      const scale = Math.fround(1 / Math.fround(1 - Math.fround(p)));
      mask.forEach((m, i) => expect(m, `i=${i}`).toBe(keepRef(seed, i, p) ? scale : 0));
    }
  });

  it("SIMD equals the naive twin bit for bit (both builds), and out = inp * mask", async () => {
    for (const e of await bothBuilds()) {
      fc.assert(
        fc.property(fc.integer({ min: 1, max: 70 }), fc.double({ min: 0, max: 1, noNaN: true }), fc.integer(),
          (n, p, seed) => {
            const x = randn(n, rng(seed), 3);
            const a = forward(e, x, p, seed), b = forward(e, x, p, seed, true);
            expect(Array.from(a.mask)).toEqual(Array.from(b.mask));
            expect(Array.from(a.out)).toEqual(Array.from(b.out));
            expect(Array.from(a.out)).toEqual(Array.from(x, (v, i) => Math.fround(v * a.mask[i])));
          }),
        { numRuns: 100 },
      );
    }
  });

  it("same seed gives the same mask; a longer call extends it (no dependence on n or SIMD width)", async () => {
    const e = await engine();
    const x = new Float32Array(1000).fill(1);
    const a = forward(e, x, 0.3, 77).mask, b = forward(e, x, 0.3, 77).mask;
    expect(Array.from(a)).toEqual(Array.from(b));
    for (const n of [1, 3, 5, 7, 13, 999]) {
      expect(Array.from(forward(e, x.subarray(0, n), 0.3, 77).mask)).toEqual(Array.from(a.subarray(0, n)));
    }
  });

  it("keep rate within 5 binomial standard deviations; seeds and neighbours independent", async () => {
    const e = await engine();
    const n = 1 << 20;
    const ones = new Float32Array(n).fill(1);
    for (const p of [0.05, 0.1, 0.3, 0.5, 0.9]) {
      const q = 1 - p;
      const sd = Math.sqrt(n * p * q);
      const m1 = forward(e, ones, p, 1).mask, m2 = forward(e, ones, p, 2).mask;
      // Binomial(n, 1-p): |kept - n(1-p)| <= 5 sd fails by chance with probability 5.7e-7 per check.
      for (const m of [m1, m2]) expect(Math.abs(kept(m) - n * q)).toBeLessThanOrEqual(5 * sd);
      // Different seeds differ, and as independent draws do: both kept with probability q^2,
      // count ~ Binomial(n, q^2) (5 sd bound again).
      let both = 0, pairs = 0;
      for (let i = 0; i < n; i++) {
        if (m1[i] !== 0 && m2[i] !== 0) both++;
        if (m1[i] !== 0 && i + 1 < n && m1[i + 1] !== 0) pairs++;
      }
      const q2 = q * q, sd2 = Math.sqrt(n * q2 * (1 - q2));
      expect(Math.abs(both - n * q2)).toBeLessThanOrEqual(5 * sd2);
      // Neighbours i, i+1 under one seed are independent too: lag-1 pairs, n-1 of them. Adjacent pairs
      // share an element, which multiplies the binomial variance by 1 + 2q/(1+q) (covariance q^3 - q^4).
      expect(Math.abs(pairs - (n - 1) * q2)).toBeLessThanOrEqual(5 * sd2 * Math.sqrt(1 + (2 * q) / (1 + q)));
      expect(Array.from(m1.subarray(0, 64))).not.toEqual(Array.from(m2.subarray(0, 64)));
    }
  });

  it("p = 0 is the identity, p = 1 drops everything, kept values are scaled by 1/(1-p)", async () => {
    const e = await engine();
    const x = randn(37, rng(5), 4);
    const id = forward(e, x, 0, 9);
    expect(Array.from(id.out)).toEqual(Array.from(x));
    expect(Array.from(id.mask)).toEqual(Array(37).fill(1));
    const all = forward(e, x, 1, 9);
    expect(all.mask.every((m) => m === 0)).toBe(true);
    const half = forward(e, x, 0.25, 9);
    const s = Math.fround(1 / 0.75);
    half.mask.forEach((m) => expect(m === 0 || m === s).toBe(true));
  });

  it("backward: dinp = d0 + dout * mask exactly (both builds)", async () => {
    for (const e of await bothBuilds()) {
      for (const n of [1, 3, 4, 5, 7, 13, 64, 67]) {
        const r = rng(n);
        const x = randn(n, r), dout = randn(n, r), d0 = randn(n, r);
        const { mask } = forward(e, x, 0.4, n);
        for (const fn of ["dropout_backward", "dropout_backward_naive"]) {
          const got = e.scoped(() => {
            const dinp = e.upload(d0);
            k(e, fn)(dinp, e.upload(dout), e.upload(mask), n);
            return e.read(dinp, n);
          });
          // One product and one sum, each rounded once in f32: Math.fround reproduces them exactly.
          expect(Array.from(got)).toEqual(Array.from(d0, (v, i) => Math.fround(v + Math.fround(dout[i] * mask[i]))));
        }
      }
    }
  });
});

describe("dropout_mask (the per-utterance masks of data-parallel training)", () => {
  it("equals dropout_forward's mask and its naive twin bit for bit (both builds, awkward lengths)", async () => {
    for (const e of await bothBuilds()) {
      fc.assert(
        fc.property(fc.integer({ min: 1, max: 70 }), fc.double({ min: 0, max: 1, noNaN: true }), fc.integer(), (n, p, seed) => {
          const masks = ["dropout_mask", "dropout_mask_naive"].map((name) => e.scoped(() => {
            const m = e.alloc(n);
            k(e, name)(m, n, p, seed);
            return Array.from(e.read(m, n));
          }));
          const ref = Array.from(forward(e, new Float32Array(n).fill(1), p, seed, true).mask);
          expect(masks[0]).toEqual(ref);
          expect(masks[1]).toEqual(ref);
        }),
        { numRuns: 100 },
      );
    }
  });
});
