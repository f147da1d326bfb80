// Slices, concatenation, transposes, the subsampling permute and sums (assembly/ops/tensor_ops.ts).
// All are linear: each forward is checked against a plain JS reference, each backward against the
// exact adjoint identity <forward(x), y> == <x, backward(y)> (computed in float64 from the kernels'
// outputs), against its accumulation contract (pre-filled gradients are added to, not overwritten),
// and against its scalar `_naive` twin, in both builds.
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { bothBuilds, randn, rng } from "./helpers.js";
import { checkOp } from "./harness.js";
import type { Engine } from "../src/index.js";

type Kernel = (out: number, inp: number) => void;

interface LinearOp {
  name: string;
  inLen: number;
  outLen: number;
  forward: (e: Engine) => Kernel;
  backward: (e: Engine) => Kernel; // (dinp, dout)
  backwardNaive?: (e: Engine) => Kernel;
  forwardNaive?: (e: Engine) => Kernel;
  reference: (x: Float32Array) => ArrayLike<number>; // plain JS forward, float64 where it sums
  /** Tolerance of forward vs reference and of the adjoint identity: 0 for pure data movement. */
  atol: number;
  /** Tolerance of backward vs its naive twin: 0 (same operations in the same order) unless stated. */
  twinAtol?: number;
}

const dot = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
};

function runKernel(e: Engine, k: Kernel, outInit: Float32Array, inp: Float32Array): Float32Array {
  return e.scoped(() => {
    const o = e.upload(outInit);
    k(o, e.upload(inp));
    return e.read(o, outInit.length);
  });
}

function checkLinearOp(e: Engine, op: LinearOp, seed: number): void {
  const r = rng(seed);
  const x = randn(op.inLen, r), y = randn(op.outLen, r), g0 = randn(op.inLen, r);
  const tag = `${e.build} ${op.name}`;
  const fx = runKernel(e, op.forward(e), new Float32Array(op.outLen).fill(NaN), x); // must overwrite all of out
  checkOp(`${tag} forward vs JS`, fx, op.reference(x), op.atol, op.atol ? 1e-6 : 0);
  if (op.forwardNaive) {
    checkOp(`${tag} forward vs naive`, fx, runKernel(e, op.forwardNaive(e), new Float32Array(op.outLen).fill(NaN), x), op.atol, 0);
  }
  const bty = runKernel(e, op.backward(e), new Float32Array(op.inLen), y);
  // <F x, y> == <x, F^T y>: exact maths; the float64 dots of f32 values differ by rounding only (1e-12 rel),
  // plus the forward's own f32 rounding for the sums (op.atol per output element).
  const lhs = dot(fx, y), rhs = dot(x, bty);
  const scale = dot(Float64Array.from(fx, Math.abs), Float64Array.from(y, Math.abs)) + 1;
  expect(Math.abs(lhs - rhs), `${tag} adjoint: ${lhs} vs ${rhs}`).toBeLessThanOrEqual(1e-12 * scale + op.atol * op.outLen);
  // Accumulation: pre-filled gradients are added to. Sum of two f32 values, rounded once: 1 ulp (6e-8 rel).
  const acc = runKernel(e, op.backward(e), g0, y);
  checkOp(`${tag} backward accumulates`, acc, Float64Array.from(g0, (v, i) => v + bty[i]), 1e-7, 2e-7);
  if (op.backwardNaive) {
    // The twin does the same additions in the same order: identical results, unless op.twinAtol says why not.
    checkOp(`${tag} backward vs naive`, acc, runKernel(e, op.backwardNaive(e), g0, y), op.twinAtol ?? 0, 0);
  }
}

const small = (max: number) => fc.integer({ min: 1, max });

describe("tensor_ops", () => {
  it("slice_cols: forward copies inp[:, c0:c1]; backward is its adjoint and accumulates", async () => {
    for (const e of await bothBuilds()) {
      fc.assert(
        fc.property(small(7), small(37), fc.nat(), fc.nat(), fc.integer(), (R, C, u, v, seed) => {
          const c0 = u % (C + 1), c1 = c0 + (v % (C - c0 + 1));
          const w = c1 - c0;
          checkLinearOp(e, {
            name: `slice_cols R=${R} C=${C} [${c0}, ${c1})`, inLen: R * C, outLen: R * w, atol: 0,
            forward: (e) => (o, i) => e.wasm.slice_cols_forward(o, i, R, C, c0, c1),
            backward: (e) => (d, g) => e.wasm.slice_cols_backward(d, g, R, C, c0, c1),
            backwardNaive: (e) => (d, g) => e.wasm.slice_cols_backward_naive(d, g, R, C, c0, c1),
            reference: (x) => Array.from({ length: R * w }, (_, k) => x[Math.floor(k / w) * C + c0 + (k % w)]),
          }, seed);
        }),
        { numRuns: 100 },
      );
    }
  });

  it("concat_cols: forward joins [a, b] per row; backward splits, accumulates, and skips a 0 gradient", async () => {
    for (const e of await bothBuilds()) {
      fc.assert(
        fc.property(small(7), fc.integer({ min: 0, max: 21 }), fc.integer({ min: 0, max: 21 }), fc.integer(), (R, Ca, Cb, seed) => {
          const C = Ca + Cb;
          if (C === 0) return;
          // The op's input is [a (R*Ca), b (R*Cb)] laid out back to back, so one buffer holds both.
          checkLinearOp(e, {
            name: `concat_cols R=${R} Ca=${Ca} Cb=${Cb}`, inLen: R * C, outLen: R * C, atol: 0,
            forward: (e) => (o, i) => e.wasm.concat_cols_forward(o, i, i + 4 * R * Ca, R, Ca, Cb),
            backward: (e) => (d, g) => e.wasm.concat_cols_backward(d, d + 4 * R * Ca, g, R, Ca, Cb),
            backwardNaive: (e) => (d, g) => e.wasm.concat_cols_backward_naive(d, d + 4 * R * Ca, g, R, Ca, Cb),
            reference: (x) => Array.from({ length: R * C }, (_, k) => {
              const r = Math.floor(k / C), c = k % C;
              return c < Ca ? x[r * Ca + c] : x[R * Ca + r * Cb + (c - Ca)];
            }),
          }, seed);
          // db = 0: only da is written.
          const r = rng(seed), g = randn(R * C, r);
          const got = e.scoped(() => {
            const d = e.upload(new Float32Array(R * C));
            e.wasm.concat_cols_backward(d, 0, e.upload(g), R, Ca, Cb);
            return e.read(d, R * C);
          });
          const ref = Array.from({ length: R * C }, (_, k) => (k < R * Ca ? g[Math.floor(k / Ca) * C + (k % Ca)] : 0));
          checkOp("concat_cols_backward with db = 0", got, ref, 0, 0);
        }),
        { numRuns: 100 },
      );
    }
  });

  it("transpose: forward swaps the last two dims (4x4 SIMD blocks + tails); backward is its adjoint", async () => {
    for (const e of await bothBuilds()) {
      fc.assert(
        fc.property(small(3), small(13), small(13), fc.integer(), (B, X, Y, seed) => {
          checkLinearOp(e, {
            name: `transpose B=${B} X=${X} Y=${Y}`, inLen: B * X * Y, outLen: B * X * Y, atol: 0,
            forward: (e) => (o, i) => e.wasm.transpose_forward(o, i, B, X, Y),
            forwardNaive: (e) => (o, i) => e.wasm.transpose_forward_naive(o, i, B, X, Y),
            backward: (e) => (d, g) => e.wasm.transpose_backward(d, g, B, X, Y),
            backwardNaive: (e) => (d, g) => e.wasm.transpose_backward_naive(d, g, B, X, Y),
            reference: (x) => Array.from({ length: B * X * Y }, (_, k) => {
              const b = Math.floor(k / (X * Y)), y = Math.floor(k / X) % Y, xx = k % X;
              return x[(b * X + xx) * Y + y];
            }),
          }, seed);
        }),
        { numRuns: 100 },
      );
    }
  });

  it("permute_bctf_to_btcf: [B, C, T, F] -> [B, T, C*F]; backward is its adjoint", async () => {
    for (const e of await bothBuilds()) {
      fc.assert(
        fc.property(small(2), small(5), small(9), small(11), fc.integer(), (B, C, T, F, seed) => {
          const n = B * C * T * F;
          checkLinearOp(e, {
            name: `permute B=${B} C=${C} T=${T} F=${F}`, inLen: n, outLen: n, atol: 0,
            forward: (e) => (o, i) => e.wasm.permute_bctf_to_btcf_forward(o, i, B, C, T, F),
            backward: (e) => (d, g) => e.wasm.permute_bctf_to_btcf_backward(d, g, B, C, T, F),
            backwardNaive: (e) => (d, g) => e.wasm.permute_bctf_to_btcf_backward_naive(d, g, B, C, T, F),
            reference: (x) => Array.from({ length: n }, (_, k) => {
              const f = k % F, c = Math.floor(k / F) % C, t = Math.floor(k / (F * C)) % T, b = Math.floor(k / (F * C * T));
              return x[((b * C + c) * T + t) * F + f];
            }),
          }, seed);
        }),
        { numRuns: 60 },
      );
    }
  });

  it("sum_rows: forward sums over rows (vs float64); backward broadcasts, is its adjoint", async () => {
    for (const e of await bothBuilds()) {
      fc.assert(
        fc.property(small(40), small(37), fc.integer(), (R, C, seed) => {
          checkLinearOp(e, {
            // f32 sums of <= 40 values in [-1, 1]: 40 roundings of <= 40 * 6e-8: 1e-5 abs.
            name: `sum_rows R=${R} C=${C}`, inLen: R * C, outLen: C, atol: 1e-5,
            forward: (e) => (o, i) => e.wasm.sum_rows_forward(o, i, R, C),
            forwardNaive: (e) => (o, i) => e.wasm.sum_rows_forward_naive(o, i, R, C),
            backward: (e) => (d, g) => e.wasm.sum_rows_backward(d, g, R, C),
            backwardNaive: (e) => (d, g) => e.wasm.sum_rows_backward_naive(d, g, R, C),
            reference: (x) => Array.from({ length: C }, (_, c) => {
              let s = 0;
              for (let r = 0; r < R; r++) s += x[r * C + c];
              return s;
            }),
          }, seed);
        }),
        { numRuns: 100 },
      );
    }
  });

  it("sum: forward totals n values (vs float64, n across the 16/4/1 SIMD steps); backward broadcasts", async () => {
    for (const e of await bothBuilds()) {
      fc.assert(
        fc.property(fc.integer({ min: 1, max: 300 }), fc.integer(), (n, seed) => {
          checkLinearOp(e, {
            // f32 sum of <= 300 values in [-1, 1]: 300 roundings of partial sums <= 300 * 6e-8 each: 1e-4 abs
            // (the naive twin sums sequentially, so it is compared with the same bound).
            name: `sum n=${n}`, inLen: n, outLen: 1, atol: 1e-4,
            forward: (e) => (o, i) => e.wasm.sum_forward(o, i, n),
            forwardNaive: (e) => (o, i) => e.wasm.sum_forward_naive(o, i, n),
            backward: (e) => (d, g) => e.wasm.sum_backward(d, g, n),
            backwardNaive: (e) => (d, g) => e.wasm.sum_backward_naive(d, g, n),
            reference: (x) => [x.reduce((s, v) => s + v, 0)],
          }, seed);
        }),
        { numRuns: 100 },
      );
    }
  });

  it("mean_time: forward averages over T (vs float64); backward spreads dout/T, is its adjoint", async () => {
    for (const e of await bothBuilds()) {
      fc.assert(
        fc.property(small(3), small(17), small(21), fc.integer(), (B, T, C, seed) => {
          checkLinearOp(e, {
            // f32 sum of <= 17 values in [-1, 1], then a scale by the rounded 1/T: 4e-6 abs.
            name: `mean_time B=${B} T=${T} C=${C}`, inLen: B * T * C, outLen: B * C, atol: 4e-6,
            // The relaxed build fuses g*(1/T) + d (one rounding instead of two): 1 ulp of values <= 2, 2.5e-7.
            twinAtol: 2.5e-7,
            forward: (e) => (o, i) => e.wasm.mean_time_forward(o, i, B, T, C),
            backward: (e) => (d, g) => e.wasm.mean_time_backward(d, g, B, T, C),
            backwardNaive: (e) => (d, g) => e.wasm.mean_time_backward_naive(d, g, B, T, C),
            reference: (x) => Array.from({ length: B * C }, (_, k) => {
              const b = Math.floor(k / C), c = k % C;
              let s = 0;
              for (let t = 0; t < T; t++) s += x[(b * T + t) * C + c];
              return s / T;
            }),
          }, seed);
        }),
        { numRuns: 100 },
      );
    }
  });
});
