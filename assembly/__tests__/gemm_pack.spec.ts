// The packed layouts of gemm_pack.ts, element by element, against their definition (the comment at
// the top of gemm_pack.ts): every transpose, a full and a partial panel, zero padding, and k counts
// that take both the 4x4-transpose loops and their scalar tails. Memory comes from heap.alloc (the
// arena's mem_alloc must not be used under as-pect's runtime).
import { gemm_pack_a, gemm_pack_b } from "../ops/gemm_pack";

const MR: i32 = 4;

/** The value of op(A)[i,k] or op(B)[k,j] in these specs: distinct, exact in f32. */
function val(row: i32, col: i32): f32 {
  const v: i32 = row * 100 + col + 1;
  return <f32>v;
}

describe("gemm_pack_a", () => {
  it("packs op(A) into MR-row panels, zero-padded, for transA = 0 and 1", () => {
    const mc = 5, kc = 6;
    for (let transA = 0; transA < 2; transA++) {
      const lda = transA ? mc + 3 : kc + 2; // padded leading dimension
      const src = heap.alloc(<usize>(transA ? kc : mc) * lda * 4);
      for (let i = 0; i < mc; i++) {
        for (let k = 0; k < kc; k++) {
          const at = transA ? k * lda + i : i * lda + k;
          store<f32>(src + <usize>at * 4, val(i, k));
        }
      }
      const panels = (mc + MR - 1) / MR;
      const dst = heap.alloc(<usize>(panels * MR * kc) * 4);
      gemm_pack_a(dst, src, transA, mc, kc, lda, MR);
      for (let p = 0; p < panels; p++) {
        for (let k = 0; k < kc; k++) {
          for (let r = 0; r < MR; r++) {
            const i = p * MR + r;
            const want: f32 = i < mc ? val(i, k) : 0;
            expect<f32>(load<f32>(dst + <usize>(p * kc * MR + k * MR + r) * 4)).toBe(want);
          }
        }
      }
      heap.free(dst);
      heap.free(src);
    }
  });
});

describe("gemm_pack_b", () => {
  it("packs op(B) into 8-column panels, zero-padded, for transB = 0 and 1", () => {
    const kc = 6, nc = 11;
    for (let transB = 0; transB < 2; transB++) {
      const ldb = transB ? kc + 1 : nc + 2;
      const src = heap.alloc(<usize>(transB ? nc : kc) * ldb * 4);
      for (let k = 0; k < kc; k++) {
        for (let j = 0; j < nc; j++) {
          const at = transB ? j * ldb + k : k * ldb + j;
          store<f32>(src + <usize>at * 4, val(k, j));
        }
      }
      const panels = (nc + 7) / 8;
      const dst = heap.alloc(<usize>(panels * 8 * kc) * 4);
      gemm_pack_b(dst, src, transB, kc, nc, ldb);
      for (let q = 0; q < panels; q++) {
        for (let k = 0; k < kc; k++) {
          for (let c = 0; c < 8; c++) {
            const j = q * 8 + c;
            const want: f32 = j < nc ? val(k, j) : 0;
            expect<f32>(load<f32>(dst + <usize>(q * kc * 8 + k * 8 + c) * 4)).toBe(want);
          }
        }
      }
      heap.free(dst);
      heap.free(src);
    }
  });
});
