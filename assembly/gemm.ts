// GEMM: C = alpha * op(A) * op(B) + beta * C, row-major, f32, with leading-dimension strides.
// PLACEHOLDER: the naive twin only; the SIMD kernel replaces `gemm` (see the engine issue).

/**
 * C[M,N] = alpha * op(A)[M,K] * op(B)[K,N] + beta * C[M,N].
 * op(A) = A, stored [M, lda >= K] (transA = 0), or A^T with A stored [K, lda >= M] (transA = 1).
 * op(B) = B, stored [K, ldb >= N] (transB = 0), or B^T with B stored [N, ldb >= K] (transB = 1).
 * C is stored [M, ldc >= N]. beta = 0 overwrites C (even NaN in C), beta = 1 accumulates.
 */
export function gemm_naive(
  transA: i32, transB: i32, M: i32, N: i32, K: i32, alpha: f32,
  A: usize, lda: i32, B: usize, ldb: i32, beta: f32, C: usize, ldc: i32,
): void {
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < N; j++) {
      let acc: f32 = 0;
      for (let k = 0; k < K; k++) {
        const a = transA ? load<f32>(A + ((<usize>k * lda + i) << 2)) : load<f32>(A + ((<usize>i * lda + k) << 2));
        const b = transB ? load<f32>(B + ((<usize>j * ldb + k) << 2)) : load<f32>(B + ((<usize>k * ldb + j) << 2));
        acc += a * b;
      }
      const c = C + ((<usize>i * ldc + j) << 2);
      store<f32>(c, beta == 0 ? alpha * acc : alpha * acc + beta * load<f32>(c));
    }
  }
}

export function gemm(
  transA: i32, transB: i32, M: i32, N: i32, K: i32, alpha: f32,
  A: usize, lda: i32, B: usize, ldb: i32, beta: f32, C: usize, ldc: i32,
): void {
  gemm_naive(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}
