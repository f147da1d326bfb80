// CTC loss (assembly/transducer/ctc.ts, src/engine/ctc.ts) against PyTorch, brute-force enumeration of alignments,
// float64 central finite differences and its scalar twin.
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { ctcLossArena, type Engine } from "../src/index.js";
import { bothBuilds, engine, finiteDiff, randn, rng } from "./helpers.js";
import { checkOp, readFixture } from "./harness.js";
import { ctcLoss } from "./kernels.js";

interface Case {
  name: string;
  shape: [number, number, number];
  U: number;
  targets: number[];
  input_lengths: number[];
  target_lengths: number[];
  logits: number[];
  losses: number[];
  grad: number[];
}

const fixture = readFixture("ctc.json", "test/ref/ctc.py");

function logSoftmax64(z: ArrayLike<number>, o: number, V: number): number[] {
  let m = -Infinity;
  for (let k = 0; k < V; k++) m = Math.max(m, z[o + k]);
  let s = 0;
  for (let k = 0; k < V; k++) s += Math.exp(z[o + k] - m);
  return Array.from({ length: V }, (_, k) => z[o + k] - m - Math.log(s));
}

/** p(y|x) by enumerating all V^T frame labellings and keeping those that collapse to y (float64). */
function bruteProb(z: ArrayLike<number>, b: number, T: number, V: number, Tb: number, y: number[]): number {
  const lp = Array.from({ length: Tb }, (_, t) => logSoftmax64(z, (b * T + t) * V, V));
  let total = 0;
  const path = new Array<number>(Tb).fill(0);
  for (let n = 0; n < V ** Tb; n++) {
    let r = n;
    for (let t = 0; t < Tb; t++) { path[t] = r % V; r = Math.floor(r / V); }
    const out: number[] = [];
    for (let t = 0; t < Tb; t++) if (path[t] !== 0 && (t === 0 || path[t] !== path[t - 1])) out.push(path[t]);
    if (out.length !== y.length || out.some((k, i) => k !== y[i])) continue;
    let s = 0;
    for (let t = 0; t < Tb; t++) s += lp[t][path[t]];
    total += Math.exp(s);
  }
  return total;
}

/** Sum over utterances of -log p(y|x), float64, forward algorithm in probability space (short T only). */
function ctcLossSum64(z: ArrayLike<number>, B: number, T: number, V: number, targets: number[], U: number, tl: number[], ul: number[]): number {
  let sum = 0;
  for (let b = 0; b < B; b++) {
    const y = targets.slice(b * U, b * U + ul[b]);
    const ext = [0];
    for (const k of y) ext.push(k, 0);
    let a = ext.map(() => 0);
    for (let t = 0; t < tl[b]; t++) {
      const p = logSoftmax64(z, (b * T + t) * V, V).map(Math.exp);
      a = ext.map((k, s) => {
        const prev = t === 0 ? (s < 2 ? 1 : 0) : a[s] + (s >= 1 ? a[s - 1] : 0) + (s >= 2 && k !== 0 && k !== ext[s - 2] ? a[s - 2] : 0);
        return prev * p[k];
      });
    }
    const prob = a[ext.length - 1] + (ext.length >= 2 ? a[ext.length - 2] : 0);
    if (prob > 0) sum -= Math.log(prob); // zero_infinity: an infeasible utterance adds 0
  }
  return sum;
}

/** Runs the arena kernels (SIMD or naive) with row stride ld >= V; dlogits starts at `init` (checks +=). */
function runKernel(e: Engine, z: Float32Array, B: number, T: number, V: number, ld: number, targets: number[], U: number, tl: number[], ul: number[], naive: boolean, init = 0) {
  return e.scoped(() => {
    const wide = new Float32Array(B * T * ld).fill(1e3); // stride padding: must never be read or written
    for (let r = 0; r < B * T; r++) wide.set(z.subarray(r * V, (r + 1) * V), r * ld);
    const zp = e.upload(wide);
    const dz = e.upload(new Float32Array(B * T * ld).fill(init));
    const losses = e.alloc(B), scratch = e.alloc(e.wasm.ctc_scratch(B, T, U, V));
    const tg = e.upload(targets.length ? targets : [0], "i32"), il = e.upload(tl, "i32"), tlp = e.upload(ul, "i32");
    const ones = e.upload(new Float32Array(B).fill(1));
    const infeasible = (naive ? e.wasm.ctc_loss_forward_naive : e.wasm.ctc_loss_forward)(losses, scratch, zp, tg, il, tlp, B, T, U, V, ld);
    (naive ? e.wasm.ctc_loss_backward_naive : e.wasm.ctc_loss_backward)(dz, scratch, ones, tg, il, tlp, B, T, U, V, ld);
    const g = e.read(dz, B * T * ld);
    const grad = new Float32Array(B * T * V);
    for (let r = 0; r < B * T; r++) {
      for (let k = V; k < ld; k++) if (g[r * ld + k] !== init) throw new Error(`stride padding written at row ${r}, column ${k}`);
      for (let k = 0; k < V; k++) grad[r * V + k] = g[r * ld + k] - init;
    }
    return { losses: e.read(losses, B), grad, infeasible };
  });
}

/** A random batch: labels in 1..V-1 with repeats likely at small V. */
function randomBatch(r: () => number, B: number, T: number, V: number, maxU: number) {
  const ul = Array.from({ length: B }, () => Math.floor(r() * (maxU + 1)));
  const U = Math.max(1, ...ul);
  const targets = Array.from({ length: B * U }, (_, i) => (i % U < ul[Math.floor(i / U)] ? 1 + Math.floor(r() * (V - 1)) : 0));
  const tl = Array.from({ length: B }, (_, b) => (b === 0 ? T : 1 + Math.floor(r() * T)));
  return { U, targets, tl, ul };
}

describe("ctc loss", () => {
  it("matches PyTorch F.ctc_loss (zero_infinity) on the fixture, both builds, SIMD and naive", async () => {
    expect(fixture.magic).toBe("todm-fixture");
    for (const e of await bothBuilds()) {
      for (const c of fixture.cases as Case[]) {
        const [B, T, V] = c.shape;
        const r = ctcLoss(e, Float32Array.from(c.logits), c.shape, Int32Array.from(c.targets), c.U, Int32Array.from(c.input_lengths), Int32Array.from(c.target_lengths));
        // losses: f32 log-softmax and up to T·(2U+1) = 169 f32 log-add-exps against a float64 reference; |loss| <= 32
        checkOp(`${c.name} losses`, r.losses, c.losses, 2e-5, 2e-5);
        // gradients are differences of probabilities in [0, 1], each from exp of f32 log values ~30: ~30·6e-8 relative
        checkOp(`${c.name} grad`, r.grad, c.grad, 1e-5, 1e-5);
        expect(r.infeasible).toBe(c.losses.filter((l, b) => l === 0 && c.target_lengths[b] > 0).length);
        const n = runKernel(e, Float32Array.from(c.logits), B, T, V, V, c.targets, c.U, c.input_lengths, c.target_lengths, true);
        checkOp(`${c.name} naive losses`, n.losses, c.losses, 2e-5, 2e-5); // as above
        checkOp(`${c.name} naive grad`, n.grad, c.grad, 1e-5, 1e-5); // as above
      }
    }
  });

  it("counts the infeasible case and gives it loss 0 and no gradient, without NaN", async () => {
    const e = await engine();
    const c = (fixture.cases as Case[]).find((x) => x.name.includes("infeasible"))!;
    const r = ctcLoss(e, Float32Array.from(c.logits), c.shape, Int32Array.from(c.targets), c.U, Int32Array.from(c.input_lengths), Int32Array.from(c.target_lengths));
    expect(r.infeasible).toBe(1);
    expect(r.losses[1]).toBe(0);
    const [, T, V] = c.shape;
    expect(Array.from(r.grad.subarray(T * V, 2 * T * V)).every((g) => g === 0)).toBe(true);
    expect(Array.from(r.grad).every(Number.isFinite)).toBe(true);
  });

  it("exp(-loss) equals the sum over all alignments (brute force, tiny T and V)", async () => {
    const e = await engine();
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 2, max: 4 }), fc.integer({ min: 1, max: 3 }), fc.integer(), fc.constantFrom(0.5, 3, 10), (T, V, B, seed, scale) => {
        const r = rng(seed);
        const { U, targets, tl, ul } = randomBatch(r, B, T, V, 4);
        const z = randn(B * T * V, r, scale);
        const got = runKernel(e, z, B, T, V, V, targets, U, tl, ul, false);
        let infeasible = 0;
        for (let b = 0; b < B; b++) {
          const p = bruteProb(z, b, T, V, tl[b], targets.slice(b * U, b * U + ul[b]));
          if (p === 0) { infeasible++; expect(got.losses[b]).toBe(0); continue; }
          // f32 recursion over <= 6 frames: relative error of p a few f32 ulps (a large-logit path can be 1e-40: compare logs)
          checkOp(`loss b=${b}`, [got.losses[b]], [-Math.log(p)], 1e-5, 1e-5);
        }
        expect(got.infeasible).toBe(infeasible);
      }),
      { numRuns: 150, seed: 7 },
    );
  });

  it("gradient matches float64 central finite differences of the summed loss", async () => {
    const e = await engine();
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 9 }), fc.integer({ min: 2, max: 7 }), fc.integer({ min: 1, max: 3 }), fc.integer(), (T, V, B, seed) => {
        const r = rng(seed);
        const { U, targets, tl, ul } = randomBatch(r, B, T, V, 4);
        const z = randn(B * T * V, r, 2);
        const got = runKernel(e, z, B, T, V, V + 3, targets, U, tl, ul, false, 0.25); // strided rows, accumulating into 0.25
        const x = Float64Array.from(z);
        const idx = Array.from({ length: z.length }, (_, i) => i);
        const fd = finiteDiff((v) => ctcLossSum64(v, B, T, V, targets, U, tl, ul), x, idx, 1e-5);
        // FD truncation error h²·f''' ~ 1e-10 and f32 gradient terms of size <= 1 (softmax, posteriors): 2e-6 covers f32 rounding
        checkOp("dL/dz", got.grad, fd, 2e-6, 1e-5);
      }),
      { numRuns: 60, seed: 11 },
    );
  });

  it("SIMD kernels match their scalar twins on larger awkward shapes", async () => {
    for (const e of await bothBuilds()) {
      for (const [B, T, V, maxU] of [[3, 41, 29, 15], [2, 57, 37, 20], [1, 13, 5, 6], [4, 23, 256, 9]]) {
        const r = rng(B * 1000 + T);
        const { U, targets, tl, ul } = randomBatch(r, B, T, V, maxU);
        const z = randn(B * T * V, r, 4);
        const s = runKernel(e, z, B, T, V, V + 1, targets, U, tl, ul, false, -0.5);
        const n = runKernel(e, z, B, T, V, V + 1, targets, U, tl, ul, true, -0.5);
        // exp4 (rel. 2e-7) vs Mathf.exp in the log-softmax, summed over V <= 256 terms; FMA in the relaxed build
        checkOp(`B${B} T${T} V${V} losses`, s.losses, n.losses, 1e-5, 1e-5);
        // γ = exp(α + β - log p) with α, β, log p of magnitude up to ~250 here, held in f32 (ulp 1.5e-5) after
        // ~T log-add-exps each: the exponent carries ~1e-4 absolute error, so does γ <= 1 (the file's known error)
        checkOp(`B${B} T${T} V${V} grad`, s.grad, n.grad, 2e-4, 0);
        expect(s.infeasible).toBe(n.infeasible);
        // frames t >= T_b get no gradient
        for (let b = 0; b < B; b++) for (let i = (b * T + tl[b]) * V; i < (b + 1) * T * V; i++) expect(s.grad[i]).toBe(0);
      }
    }
  });

  it("ctcLossArena accumulates dlosses-weighted gradients", async () => {
    const e = await engine();
    const r = rng(5);
    const B = 2, T = 7, V = 6;
    const { U, targets, tl, ul } = randomBatch(r, B, T, V, 3);
    const z = randn(B * T * V, r, 1);
    const ref = ctcLoss(e, z, [B, T, V], Int32Array.from(targets), U, Int32Array.from(tl), Int32Array.from(ul));
    const got = e.scoped(() => {
      const dz = e.upload(new Float32Array(B * T * V).fill(1));
      const p = { logits: e.upload(z), dlogits: dz, targets: e.upload(targets, "i32"), inputLengths: e.upload(tl, "i32"), targetLengths: e.upload(ul, "i32"), dlosses: e.upload([0.5, -2]) };
      ctcLossArena(e, p, B, T, U, V, V);
      return e.read(dz, B * T * V);
    });
    const want = ref.grad.map((g, i) => 1 + (i < T * V ? 0.5 : -2) * g);
    checkOp("weighted, accumulated", got, want, 1e-6, 1e-6); // one f32 multiply-add per element
  });

  it("rejects bad inputs with a message", async () => {
    const e = await engine();
    expect(() => ctcLoss(e, new Float32Array(6), [1, 2, 3], Int32Array.from([0]), 1, Int32Array.from([2]), Int32Array.from([1]))).toThrow(/0 is the blank/);
    expect(() => ctcLoss(e, new Float32Array(6), [1, 2, 3], Int32Array.from([1]), 1, Int32Array.from([3]), Int32Array.from([1]))).toThrow(/inputLengths/);
  });
});
