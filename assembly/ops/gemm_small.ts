// GEMM without packing, for products with few rows (M <= GEMM_SMALL_M): decoding runs linear layers
// on one frame at a time, and there packing all of B would cost as much as the product itself.
// Two direct kernels read A and B where they lie:
// - gemm_small_nt (transA = 0, transB = 1, as in linear_forward): dot products along contiguous
//   rows of A and B, 2 rows x 4 columns of C at a time;
// - gemm_small_nn (transA = 0, transB = 0): rows of B streamed, 4 rows x 8 columns of C at a time.
// Also the helpers shared with gemm.ts (madd, put_row). Not a public kernel: `gemm` dispatches here.
// Reference: gemm_naive (gemm.ts), through `gemm` in test/gemm.test.ts.

import { hsum4, madd4 } from "../math";
/** C[r, 0:8] = alpha * acc + beta * C[r, 0:8] for one row (beta = 0: C is not read). */
// @ts-ignore: decorator
@inline
export function put_row(c: usize, acc0: v128, acc1: v128, alpha: v128, beta: f32): void {
  let v0 = f32x4.mul(acc0, alpha), v1 = f32x4.mul(acc1, alpha);
  if (beta != 0) {
    const b = f32x4.splat(beta);
    v0 = f32x4.add(v0, f32x4.mul(v128.load(c), b));
    v1 = f32x4.add(v1, f32x4.mul(v128.load(c, 16), b));
  }
  v128.store(c, v0);
  v128.store(c, v1, 16);
}

/** C[i,j] = alpha * dot + beta * C[i,j] for one element (beta = 0: C is not read). */
// @ts-ignore: decorator
@inline
function put_one(c: usize, dot: f32, alpha: f32, beta: f32): void {
  store<f32>(c, beta == 0 ? alpha * dot : alpha * dot + beta * load<f32>(c));
}

/**
 * C[M,N] = alpha * A[M,K] · B[N,K]^T + beta * C: A stored [M, lda >= K], B stored [N, ldb >= K],
 * C [M, ldc >= N] (GEMM dimensions). A missing second row or fourth column of a block re-reads a
 * valid one and its result is dropped, so nothing outside A, B or C is read.
 */
export function gemm_small_nt(
  M: i32, N: i32, K: i32, alpha: f32, A: usize, lda: i32, B: usize, ldb: i32, beta: f32, C: usize, ldc: i32,
): void {
  const aRow = <usize>lda << 2, bRow = <usize>ldb << 2, cRow = <usize>ldc << 2;
  for (let i = 0; i < M; i += 2) {
    const two = i + 1 < M;
    const a0 = A + <usize>i * aRow, a1 = two ? a0 + aRow : a0;
    for (let j = 0; j < N; j += 4) {
      const cols = min(4, N - j);
      const b0 = B + <usize>j * bRow;
      const b1 = cols > 1 ? b0 + bRow : b0, b2 = cols > 2 ? b0 + 2 * bRow : b0, b3 = cols > 3 ? b0 + 3 * bRow : b0;
      let s00 = f32x4.splat(0), s01 = f32x4.splat(0), s02 = f32x4.splat(0), s03 = f32x4.splat(0);
      let s10 = f32x4.splat(0), s11 = f32x4.splat(0), s12 = f32x4.splat(0), s13 = f32x4.splat(0);
      let k = 0;
      for (; k + 4 <= K; k += 4) {
        const o = <usize>k << 2;
        const x0 = v128.load(a0 + o), x1 = v128.load(a1 + o);
        let w = v128.load(b0 + o);
        s00 = madd4(x0, w, s00);
        s10 = madd4(x1, w, s10);
        w = v128.load(b1 + o);
        s01 = madd4(x0, w, s01);
        s11 = madd4(x1, w, s11);
        w = v128.load(b2 + o);
        s02 = madd4(x0, w, s02);
        s12 = madd4(x1, w, s12);
        w = v128.load(b3 + o);
        s03 = madd4(x0, w, s03);
        s13 = madd4(x1, w, s13);
      }
      let d00 = hsum4(s00), d01 = hsum4(s01), d02 = hsum4(s02), d03 = hsum4(s03);
      let d10 = hsum4(s10), d11 = hsum4(s11), d12 = hsum4(s12), d13 = hsum4(s13);
      for (; k < K; k++) {
        const o = <usize>k << 2;
        const x0 = load<f32>(a0 + o), x1 = load<f32>(a1 + o);
        const w0 = load<f32>(b0 + o), w1 = load<f32>(b1 + o), w2 = load<f32>(b2 + o), w3 = load<f32>(b3 + o);
        d00 += x0 * w0; d01 += x0 * w1; d02 += x0 * w2; d03 += x0 * w3;
        d10 += x1 * w0; d11 += x1 * w1; d12 += x1 * w2; d13 += x1 * w3;
      }
      const c0 = C + <usize>i * cRow + (<usize>j << 2);
      put_one(c0, d00, alpha, beta);
      if (cols > 1) put_one(c0 + 4, d01, alpha, beta);
      if (cols > 2) put_one(c0 + 8, d02, alpha, beta);
      if (cols > 3) put_one(c0 + 12, d03, alpha, beta);
      if (two) {
        const c1 = c0 + cRow;
        put_one(c1, d10, alpha, beta);
        if (cols > 1) put_one(c1 + 4, d11, alpha, beta);
        if (cols > 2) put_one(c1 + 8, d12, alpha, beta);
        if (cols > 3) put_one(c1 + 12, d13, alpha, beta);
      }
    }
  }
}

/**
 * C[M,N] = alpha * A[M,K] · B[K,N] + beta * C: A stored [M, lda >= K], B stored [K, ldb >= N],
 * C [M, ldc >= N] (GEMM dimensions). Blocks of 4 rows x 8 columns; missing rows re-read a valid
 * row and are dropped; the last N % 8 columns are done one by one.
 */
export function gemm_small_nn(
  M: i32, N: i32, K: i32, alpha: f32, A: usize, lda: i32, B: usize, ldb: i32, beta: f32, C: usize, ldc: i32,
): void {
  const aRow = <usize>lda << 2, bRow = <usize>ldb << 2, cRow = <usize>ldc << 2;
  const va = f32x4.splat(alpha);
  const N8 = N & ~7;
  for (let i = 0; i < M; i += 4) {
    const rows = min(4, M - i);
    const a0 = A + <usize>i * aRow;
    const a1 = rows > 1 ? a0 + aRow : a0, a2 = rows > 2 ? a0 + 2 * aRow : a0, a3 = rows > 3 ? a0 + 3 * aRow : a0;
    const c = C + <usize>i * cRow;
    for (let j = 0; j < N8; j += 8) {
      let c00 = f32x4.splat(0), c01 = f32x4.splat(0), c10 = f32x4.splat(0), c11 = f32x4.splat(0);
      let c20 = f32x4.splat(0), c21 = f32x4.splat(0), c30 = f32x4.splat(0), c31 = f32x4.splat(0);
      let bp = B + (<usize>j << 2);
      for (let k = 0; k < K; k++) {
        const o = <usize>k << 2;
        const b0 = v128.load(bp), b1 = v128.load(bp, 16);
        let a = v128.load32_splat(a0 + o);
        c00 = madd4(a, b0, c00);
        c01 = madd4(a, b1, c01);
        a = v128.load32_splat(a1 + o);
        c10 = madd4(a, b0, c10);
        c11 = madd4(a, b1, c11);
        a = v128.load32_splat(a2 + o);
        c20 = madd4(a, b0, c20);
        c21 = madd4(a, b1, c21);
        a = v128.load32_splat(a3 + o);
        c30 = madd4(a, b0, c30);
        c31 = madd4(a, b1, c31);
        bp += bRow;
      }
      const cj = c + (<usize>j << 2);
      put_row(cj, c00, c01, va, beta);
      if (rows > 1) put_row(cj + cRow, c10, c11, va, beta);
      if (rows > 2) put_row(cj + 2 * cRow, c20, c21, va, beta);
      if (rows > 3) put_row(cj + 3 * cRow, c30, c31, va, beta);
    }
    for (let r = 0; r < rows; r++) {
      const ar = a0 + <usize>r * aRow;
      for (let j = N8; j < N; j++) {
        let dot: f32 = 0;
        let bp = B + (<usize>j << 2);
        for (let k = 0; k < K; k++) {
          dot += load<f32>(ar + (<usize>k << 2)) * load<f32>(bp);
          bp += bRow;
        }
        put_one(c + <usize>r * cRow + (<usize>j << 2), dot, alpha, beta);
      }
    }
  }
}
