// GEMM against its naive twin (placeholder until the SIMD kernel lands).
import { describe, it } from "vitest";
import fc from "fast-check";
import { assertClose, engine, randn, rng } from "./helpers.js";

describe("gemm", () => {
  it("matches gemm_naive on awkward shapes, all transposes, strided views", async () => {
    const e = await engine();
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 20 }), fc.integer({ min: 1, max: 20 }), fc.integer({ min: 1, max: 40 }),
        fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 3 }), fc.boolean(), fc.boolean(), fc.integer(),
        (M, N, K, padA, padC, tA, tB, seed) => {
          e.scoped(() => {
            const r = rng(seed);
            const lda = (tA ? M : K) + padA, ldb = (tB ? K : N) + padA, ldc = N + padC;
            const A = e.upload(randn((tA ? K : M) * lda, r));
            const B = e.upload(randn((tB ? N : K) * ldb, r));
            const c0 = randn(M * ldc, r);
            const C1 = e.upload(c0), C2 = e.upload(c0);
            e.wasm.gemm(+tA, +tB, M, N, K, 0.5, A, lda, B, ldb, 1, C1, ldc);
            e.wasm.gemm_naive(+tA, +tB, M, N, K, 0.5, A, lda, B, ldb, 1, C2, ldc);
            // Sums of up to 40 products of magnitude <= 1 in another order (FMA or not): 1e-5 abs + 1e-5 rel.
            assertClose("gemm", e.read(C1, M * ldc), e.read(C2, M * ldc), 1e-5, 1e-5);
          });
        },
      ),
      { numRuns: 200 },
    );
  });
});
