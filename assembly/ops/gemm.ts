// GEMM: C = alpha * op(A) * op(B) + beta * C, row-major f32 with leading-dimension strides (BLAS
// sgemm semantics on row-major storage). Every matrix product of the engine goes through `gemm`.
//
// Design (GotoBLAS/BLIS blocking, Goto & van de Geijn 2008): for each KC-deep slab of K, op(B) is
// packed into KC x 8 panels (gemm_pack.ts) and, for each MC-row block, op(A) into KC x MR panels;
// a register-blocked micro-kernel then computes MR x 8 tiles of C from one A panel and one B panel.
// The tile is 5x8 in the relaxed build (f32x4.relaxed_madd, a true FMA) and 4x8 in the plain one
// (mul+add). V8 (Node 20, TurboFan) hoists all loads of a k step ahead of the arithmetic and gives
// WASM 15 vector registers on x64. A 4x8 step with one broadcast load per row keeps 4 broadcasts +
// 2 B vectors + 8 accumulators live (14); 5x8 or 6x8 that way need 17 or 20 and spilled
// accumulators (half the speed). The relaxed 5x8 kernel instead loads rows 0-3 of a k step as one
// vector and splats its lanes with shuffles, which V8 schedules next to their use: 10 accumulators
// + 2 B + the A vector + row 4's broadcast + one shuffled lane = 15, no spill. Ten independent FMA
// chains instead of eight cover the FMA latency (4 cycles, 2 per cycle on Zen 4) with room to spare,
// and a k step takes 21 instructions for 10 FMAs instead of 25 for 8: measured 3-4% faster on every
// GEMM shape of the encoder block (bench/block.ts). Edge tiles go through a scratch tile and only their valid part
// is written back. The tiles against one B panel come from one call (micro_panel5/4: the tile inlined
// in a loop down the column of C): a call per tile cost 1-2% of the encoder block. In the plain SIMD build packed A is further splatted (see A_SPLAT). Products with
// at most SMALL_M rows skip packing (gemm_small.ts). Not threaded: one call, one core.
// Reference: `gemm_naive` below (the test oracle); error: a sum of K products in another order
// (and fused in the relaxed build), so results differ from the naive twin by a few ulps times K.

import { madd4 } from "../math";
import { mem_alloc } from "../memory";
import { gemm_pack_a, gemm_pack_b } from "./gemm_pack";
import { gemm_small_nn, gemm_small_nt, put_row } from "./gemm_small";

const MR: i32 = ASC_FEATURE_RELAXED_SIMD ? 5 : 4; // rows of the micro-tile
const NR: i32 = 8; // columns of the micro-tile (two f32x4)
const KC: i32 = 256; // depth of a packed slab: an 8-column B panel is 8 KiB, it stays in L1
// In the plain SIMD build packed A holds every value splatted to four lanes, so the micro-kernel
// loads it with v128.load instead of v128.load32_splat: measured 3-6% faster there with MC = 64
// (the broadcasts compete with the separate mul and add for the FP pipes), no gain with FMA.
const A_SPLAT: bool = !ASC_FEATURE_RELAXED_SIMD;
// Rows of A per packed block (a multiple of MR), kept in L2: 120 rows = 120 KiB packed (relaxed
// build); 64 rows = 64 KiB packed + 256 KiB splatted (plain SIMD build).
const MC: i32 = A_SPLAT ? 64 : 120;
const NC: i32 = 1024; // columns of B per packed block: 1 MiB (512 and 2048 measured the same)
// Up to this many rows (transA = 0) the unpacked kernels of gemm_small.ts are faster: packing all of
// B costs as much as a product with few rows (measured: M = 1 was 3x, M = 8 1.1x faster unpacked;
// M = 16 was 1.1x slower).
const SMALL_M: i32 = 8;

// Scratch owned by gemm for the life of the module (taken before the host can take a mark).
const packA: usize = mem_alloc(<usize>(MC * KC) << 2);
const packA4: usize = A_SPLAT ? mem_alloc(<usize>(MC * KC) << 4) : 0;
const packB: usize = mem_alloc(<usize>(KC * NC) << 2);
const tile: usize = mem_alloc(<usize>(MR * NR) << 2);

/**
 * C[M,N] = alpha * op(A)[M,K] * op(B)[K,N] + beta * C[M,N]   (M, N, K: GEMM dimensions).
 * op(A) = A, stored [M, lda >= K] (transA = 0), or A^T with A stored [K, lda >= M] (transA = 1).
 * op(B) = B, stored [K, ldb >= N] (transB = 0), or B^T with B stored [N, ldb >= K] (transB = 1).
 * C is stored [M, ldc >= N]. beta = 0 overwrites C (even NaN in C), beta = 1 accumulates.
 * No alignment is required. C must not overlap A or B.
 */
export function gemm(
  transA: i32, transB: i32, M: i32, N: i32, K: i32, alpha: f32,
  A: usize, lda: i32, B: usize, ldb: i32, beta: f32, C: usize, ldc: i32,
): void {
  if (M <= 0 || N <= 0) return;
  if (K <= 0) {
    gemm_scale(M, N, beta, C, ldc);
    return;
  }
  if (transA == 0 && M <= SMALL_M) {
    if (transB) gemm_small_nt(M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    else gemm_small_nn(M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    return;
  }
  // Split K into slabs of near-equal depth (K = 260 gives 130 + 130, not 256 + 4).
  const slabs = (K + KC - 1) / KC;
  const kstep = (K + slabs - 1) / slabs;
  for (let jc = 0; jc < N; jc += NC) {
    const nc = min(NC, N - jc);
    for (let pc = 0; pc < K; pc += kstep) {
      const kc = min(kstep, K - pc);
      const bsrc = transB ? B + ((<usize>jc * ldb + pc) << 2) : B + ((<usize>pc * ldb + jc) << 2);
      gemm_pack_b(packB, bsrc, transB, kc, nc, ldb);
      // The first slab applies the caller's beta; later slabs add onto it.
      const betaSlab: f32 = pc == 0 ? beta : 1;
      for (let ic = 0; ic < M; ic += MC) {
        const mc = min(MC, M - ic);
        const asrc = transA ? A + ((<usize>pc * lda + ic) << 2) : A + ((<usize>ic * lda + pc) << 2);
        gemm_pack_a(packA, asrc, transA, mc, kc, lda, MR);
        if (A_SPLAT) splat4(packA4, packA, ((mc + MR - 1) / MR) * MR * kc);
        const pa = A_SPLAT ? packA4 : packA;
        for (let jr = 0; jr < nc; jr += NR) {
          const nr = min(NR, nc - jr);
          const bp = packB + ((<usize>jr * kc) << 2);
          const c = C + ((<usize>ic * ldc + jc + jr) << 2);
          if (MR == 5) micro_panel5(kc, pa, bp, c, ldc, alpha, betaSlab, mc, nr);
          else micro_panel4(kc, pa, bp, c, ldc, alpha, betaSlab, mc, nr);
        }
      }
    }
  }
}

/** dst[4i .. 4i+3] = src[i] for i < n: each packed A value splatted to a vector. */
function splat4(dst: usize, src: usize, n: i32): void {
  for (let i = 0; i < n; i++) v128.store(dst + (<usize>i << 4), v128.load32_splat(src + (<usize>i << 2)));
}

/** C = beta * C (K = 0); beta = 0 writes zeros. */
function gemm_scale(M: i32, N: i32, beta: f32, C: usize, ldc: i32): void {
  for (let i = 0; i < M; i++) {
    const row = C + ((<usize>i * ldc) << 2);
    for (let j = 0; j < N; j++) {
      const p = row + (<usize>j << 2);
      store<f32>(p, beta == 0 ? 0 : beta * load<f32>(p));
    }
  }
}

/** micro_kernel down a column of tiles (as micro_panel5: one call per B panel). */
function micro_panel4(kc: i32, pa: usize, bp: usize, c: usize, ldc: i32, alpha: f32, beta: f32, mc: i32, nr: i32): void {
  for (let ir = 0; ir < mc; ir += MR) {
    const ap = A_SPLAT ? pa + ((<usize>ir * kc) << 4) : pa + ((<usize>ir * kc) << 2);
    micro_kernel(kc, ap, bp, c + ((<usize>ir * ldc) << 2), ldc, alpha, beta, min(MR, mc - ir), nr);
  }
}

/**
 * One MR x 8 tile: C[0:mr, 0:nr] = alpha * Ap · Bp + beta * C, Ap a packed KC x MR panel, Bp a packed
 * KC x 8 panel, C with row stride ldc. mr < MR or nr < 8 (edge tiles) go through `tile`.
 */
// @ts-ignore: decorator
@inline
function micro_kernel(kc: i32, ap: usize, bp: usize, c: usize, ldc: i32, alpha: f32, beta: f32, mr: i32, nr: i32): void {
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0), c10 = f32x4.splat(0), c11 = f32x4.splat(0);
  let c20 = f32x4.splat(0), c21 = f32x4.splat(0), c30 = f32x4.splat(0), c31 = f32x4.splat(0);
  const bend = bp + ((<usize>kc * NR) << 2);
  while (bp < bend) {
    const b0 = v128.load(bp), b1 = v128.load(bp, 16);
    let a = A_SPLAT ? v128.load(ap) : v128.load32_splat(ap);
    c00 = madd4(a, b0, c00);
    c01 = madd4(a, b1, c01);
    a = A_SPLAT ? v128.load(ap, 16) : v128.load32_splat(ap, 4);
    c10 = madd4(a, b0, c10);
    c11 = madd4(a, b1, c11);
    a = A_SPLAT ? v128.load(ap, 32) : v128.load32_splat(ap, 8);
    c20 = madd4(a, b0, c20);
    c21 = madd4(a, b1, c21);
    a = A_SPLAT ? v128.load(ap, 48) : v128.load32_splat(ap, 12);
    c30 = madd4(a, b0, c30);
    c31 = madd4(a, b1, c31);
    ap += A_SPLAT ? 64 : 16;
    bp += <usize>NR << 2;
  }
  const va = f32x4.splat(alpha);
  if (mr == MR && nr == NR) {
    const ldcb = <usize>ldc << 2;
    if (alpha == 1 && (beta == 0 || beta == 1)) { // as in micro_kernel5
      put_row_unit(c, c00, c01, beta);
      put_row_unit(c + ldcb, c10, c11, beta);
      put_row_unit(c + 2 * ldcb, c20, c21, beta);
      put_row_unit(c + 3 * ldcb, c30, c31, beta);
      return;
    }
    put_row(c, c00, c01, va, beta);
    put_row(c + ldcb, c10, c11, va, beta);
    put_row(c + 2 * ldcb, c20, c21, va, beta);
    put_row(c + 3 * ldcb, c30, c31, va, beta);
    return;
  }
  // Edge tile: alpha * acc into the scratch tile, then only the valid mr x nr part into C.
  put_row(tile, c00, c01, va, 0);
  put_row(tile + 32, c10, c11, va, 0);
  put_row(tile + 64, c20, c21, va, 0);
  put_row(tile + 96, c30, c31, va, 0);
  for (let r = 0; r < mr; r++) {
    const row = c + ((<usize>r * ldc) << 2);
    const t = tile + (<usize>r << 5);
    for (let j = 0; j < nr; j++) {
      const p = row + (<usize>j << 2);
      const v = load<f32>(t + (<usize>j << 2));
      store<f32>(p, beta == 0 ? v : v + beta * load<f32>(p));
    }
  }
}

/**
 * The relaxed build's 5 x 8 tile: C[0:mr, 0:nr] = alpha * Ap · Bp + beta * C, Ap a packed KC x 5
 * panel (20 bytes per k), Bp a packed KC x 8 panel. Rows 0-3 of a k step come as one vector whose
 * lanes are splatted by shuffles, row 4 as a broadcast load (see the header for the register count).
 */
/**
 * micro_kernel5 down a column of tiles: rows 0..mc-1 of C (from c) against one packed B panel, the
 * tile inlined into the loop: one call per B panel instead of one per tile (measured ~1-2% on the
 * encoder block, whose products make about 270,000 tiles per step).
 */
function micro_panel5(kc: i32, pa: usize, bp: usize, c: usize, ldc: i32, alpha: f32, beta: f32, mc: i32, nr: i32): void {
  for (let ir = 0; ir < mc; ir += 5) {
    micro_kernel5(kc, pa + ((<usize>ir * kc) << 2), bp, c + ((<usize>ir * ldc) << 2), ldc, alpha, beta, min(5, mc - ir), nr);
  }
}

// @ts-ignore: decorator
@inline
function micro_kernel5(kc: i32, ap: usize, bp: usize, c: usize, ldc: i32, alpha: f32, beta: f32, mr: i32, nr: i32): void {
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0), c10 = f32x4.splat(0), c11 = f32x4.splat(0);
  let c20 = f32x4.splat(0), c21 = f32x4.splat(0), c30 = f32x4.splat(0), c31 = f32x4.splat(0);
  let c40 = f32x4.splat(0), c41 = f32x4.splat(0);
  const bend = bp + ((<usize>kc * NR) << 2);
  while (bp < bend) {
    const b0 = v128.load(bp), b1 = v128.load(bp, 16);
    const av = v128.load(ap);
    const a4 = v128.load32_splat(ap, 16);
    let a = i32x4.shuffle(av, av, 0, 0, 0, 0);
    c00 = madd4(a, b0, c00);
    c01 = madd4(a, b1, c01);
    a = i32x4.shuffle(av, av, 1, 1, 1, 1);
    c10 = madd4(a, b0, c10);
    c11 = madd4(a, b1, c11);
    a = i32x4.shuffle(av, av, 2, 2, 2, 2);
    c20 = madd4(a, b0, c20);
    c21 = madd4(a, b1, c21);
    a = i32x4.shuffle(av, av, 3, 3, 3, 3);
    c30 = madd4(a, b0, c30);
    c31 = madd4(a, b1, c31);
    c40 = madd4(a4, b0, c40);
    c41 = madd4(a4, b1, c41);
    ap += 20;
    bp += <usize>NR << 2;
  }
  const va = f32x4.splat(alpha);
  if (mr == 5 && nr == NR) {
    const ldcb = <usize>ldc << 2;
    if (alpha == 1 && (beta == 0 || beta == 1)) {
      // The common case (beta = 1: every K slab after the first, weight gradients): no products by
      // 1 (exact, so the same bits), 10-20 fewer vector operations per tile.
      put_row_unit(c, c00, c01, beta);
      put_row_unit(c + ldcb, c10, c11, beta);
      put_row_unit(c + 2 * ldcb, c20, c21, beta);
      put_row_unit(c + 3 * ldcb, c30, c31, beta);
      put_row_unit(c + 4 * ldcb, c40, c41, beta);
      return;
    }
    put_row(c, c00, c01, va, beta);
    put_row(c + ldcb, c10, c11, va, beta);
    put_row(c + 2 * ldcb, c20, c21, va, beta);
    put_row(c + 3 * ldcb, c30, c31, va, beta);
    put_row(c + 4 * ldcb, c40, c41, va, beta);
    return;
  }
  // Edge tile: alpha * acc into the scratch tile, then only the valid mr x nr part into C.
  put_row(tile, c00, c01, va, 0);
  put_row(tile + 32, c10, c11, va, 0);
  put_row(tile + 64, c20, c21, va, 0);
  put_row(tile + 96, c30, c31, va, 0);
  put_row(tile + 128, c40, c41, va, 0);
  for (let r = 0; r < mr; r++) {
    const row = c + ((<usize>r * ldc) << 2);
    const t = tile + (<usize>r << 5);
    for (let j = 0; j < nr; j++) {
      const p = row + (<usize>j << 2);
      const v = load<f32>(t + (<usize>j << 2));
      store<f32>(p, beta == 0 ? v : v + beta * load<f32>(p));
    }
  }
}

/** C[r, 0:8] = acc + beta * C[r, 0:8] with beta 0 or 1: put_row with alpha = 1, without the products by 1. */
// @ts-ignore: decorator
@inline
function put_row_unit(c: usize, acc0: v128, acc1: v128, beta: f32): void {
  if (beta != 0) {
    acc0 = f32x4.add(acc0, v128.load(c));
    acc1 = f32x4.add(acc1, v128.load(c, 16));
  }
  v128.store(c, acc0);
  v128.store(c, acc1, 16);
}

/**
 * The scalar twin of `gemm` (same arguments, same semantics): the reference in tests.
 * Accumulates each dot product in K order in f32.
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
