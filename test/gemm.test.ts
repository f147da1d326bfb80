// GEMM (assembly/ops/gemm.ts) against its scalar twin gemm_naive, in both builds (the relaxed one fuses
// multiply-adds, so its rounding differs). Shapes are drawn by fast-check (every dimension 1..70, so
// edge tiles of every size), plus fixed shapes larger than the blocking (K > KC = 256, M > MC = 120 or 64,
// N > NC = 1024), and products with M <= 8 rows that take the unpacked path. The tolerance is the
// classical dot-product error bound (Higham, "Accuracy and Stability of Numerical Algorithms", 2nd
// ed., sec. 3.1): each result is within gamma_K * sum_k |a_ik b_kj| of the exact value, so two f32
// results are within twice that of each other.
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { bothBuilds, randn, rng } from "./helpers.js";
import type { Engine } from "../src/index.js";

const U = 2 ** -24; // f32 unit roundoff

interface Case {
  tA: number; tB: number; M: number; N: number; K: number;
  padA: number; padB: number; padC: number; alpha: number; beta: number; seed: number;
}

/** Runs gemm and gemm_naive on the same data and checks every element of C, padding included. */
function checkCase(e: Engine, c: Case): void {
  const { tA, tB, M, N, K, alpha, beta } = c;
  const lda = (tA ? M : K) + c.padA, ldb = (tB ? K : N) + c.padB, ldc = N + c.padC;
  const r = rng(c.seed);
  const a = randn((tA ? K : M) * lda, r), b = randn((tB ? N : K) * ldb, r);
  // beta = 0 must overwrite C without reading it: fill C with NaN then. Padding columns, and one
  // guard row above and below C, are NaN and must stay NaN (nothing outside M x N is written).
  const c0 = beta === 0 ? new Float32Array(M * ldc).fill(NaN) : randn(M * ldc, r);
  for (let i = 0; i < M; i++) c0.fill(NaN, i * ldc + N, (i + 1) * ldc);
  const guarded = new Float32Array((M + 2) * ldc).fill(NaN);
  guarded.set(c0, ldc);
  e.scoped(() => {
    const A = e.upload(a), B = e.upload(b), G1 = e.upload(guarded), C2 = e.upload(c0);
    const C1 = G1 + 4 * ldc;
    e.wasm.gemm(tA, tB, M, N, K, alpha, A, lda, B, ldb, beta, C1, ldc);
    e.wasm.gemm_naive(tA, tB, M, N, K, alpha, A, lda, B, ldb, beta, C2, ldc);
    const got = e.read(C1, M * ldc), ref = e.read(C2, M * ldc);
    const guards = [...e.read(G1, ldc), ...e.read(C1 + 4 * M * ldc, ldc)];
    expect(guards.every(Number.isNaN), "gemm wrote outside C").toBe(true);
    expect(Array.from(e.read(A, a.length)), "gemm must not write A").toEqual(Array.from(a));
    expect(Array.from(e.read(B, b.length)), "gemm must not write B").toEqual(Array.from(b));
    const at = (i: number, k: number) => (tA ? a[k * lda + i] : a[i * lda + k]);
    const bt = (k: number, j: number) => (tB ? b[j * ldb + k] : b[k * ldb + j]);
    const name = `${build(e)} gemm(${tA},${tB}) M=${M} N=${N} K=${K} ld=${lda},${ldb},${ldc} alpha=${alpha} beta=${beta}`;
    for (let i = 0; i < M; i++) {
      for (let j = 0; j < ldc; j++) {
        const p = i * ldc + j;
        if (j >= N) {
          if (!Number.isNaN(got[p])) throw new Error(`${name}: wrote the padding at [${i},${j}]`);
          continue;
        }
        let absSum = 0;
        for (let k = 0; k < K; k++) absSum += Math.abs(at(i, k) * bt(k, j));
        const cTerm = beta === 0 ? 0 : Math.abs(beta * c0[p]);
        // Both results carry gamma_K = K*u/(1-K*u) of error on the products, plus one rounding each
        // for alpha*, beta* and the final add: (2K + 8) u bounds their difference, with a floor for
        // exact zeros.
        const tol = (2 * K + 8) * U * (Math.abs(alpha) * absSum + cTerm) + 1e-30;
        const err = Math.abs(got[p] - ref[p]);
        if (!(err <= tol)) {
          throw new Error(`${name}: NOT OK at [${i},${j}]: ${got[p]} vs naive ${ref[p]} (|diff| ${err}, bound ${tol})`);
        }
      }
    }
  });
}

const build = (e: Engine) => e.build;

describe("gemm", () => {
  it("matches gemm_naive on awkward shapes, all transposes, strided views, alpha/beta (both builds)", async () => {
    const engines = await bothBuilds();
    expect(engines.length).toBeGreaterThan(0);
    for (const e of engines) {
      fc.assert(
        fc.property(
          fc.record({
            tA: fc.integer({ min: 0, max: 1 }), tB: fc.integer({ min: 0, max: 1 }),
            M: fc.integer({ min: 1, max: 70 }), N: fc.integer({ min: 1, max: 70 }), K: fc.integer({ min: 1, max: 70 }),
            padA: fc.integer({ min: 0, max: 5 }), padB: fc.integer({ min: 0, max: 5 }), padC: fc.integer({ min: 0, max: 5 }),
            alpha: fc.constantFrom(1, 0.5, -1.25, 0), beta: fc.constantFrom(0, 1, 0.5, -2), seed: fc.integer(),
          }),
          (c) => checkCase(e, c),
        ),
        { numRuns: 150 },
      );
    }
  });

  it("matches gemm_naive on shapes larger than the blocking (K > 256, M > 128, N > 1024)", async () => {
    const base = { padA: 3, padB: 1, padC: 2, alpha: 1, seed: 7 };
    for (const e of await bothBuilds()) {
      for (const tA of [0, 1]) {
        for (const tB of [0, 1]) {
          checkCase(e, { ...base, tA, tB, M: 131, N: 37, K: 600, beta: 0 }); // three K slabs, M edge
          checkCase(e, { ...base, tA, tB, M: 259, N: 19, K: 257, beta: 1 }); // K = 257: two slabs of ~128
          checkCase(e, { ...base, tA, tB, M: 6, N: 2100, K: 13, beta: 0.5 }); // tA = 0: unpacked path
          checkCase(e, { ...base, tA, tB, M: 21, N: 2100, K: 13, beta: 0.5 }); // three N blocks
          checkCase(e, { ...base, tA, tB, M: 7, N: 45, K: 601, beta: 1 }); // unpacked path (tA = 0), long K
          checkCase(e, { ...base, tA, tB, M: 9, N: 45, K: 99, beta: 0 }); // just above the unpacked path
        }
      }
    }
  });

  it("K = 0 scales C by beta, and beta = 0 writes zeros over NaN", async () => {
    for (const e of await bothBuilds()) {
      e.scoped(() => {
        const C = e.upload(new Float32Array([1, 2, 3, 4, 5, 6]));
        e.wasm.gemm(0, 0, 2, 3, 0, 1, 0, 1, 0, 3, 2, C, 3);
        // No products: C = 2 * C exactly.
        expect(Array.from(e.read(C, 6))).toEqual([2, 4, 6, 8, 10, 12]);
        e.write(C, new Float32Array(6).fill(NaN));
        e.wasm.gemm(0, 0, 2, 3, 0, 1, 0, 1, 0, 3, 0, C, 3);
        expect(Array.from(e.read(C, 6))).toEqual([0, 0, 0, 0, 0, 0]);
      });
    }
  });
});
