// int8 GEMM for int8 model files: y[M,N] = x[M,K] (f32) · W[N,K]^T (int8, one f32 scale per row of W)
// + bias[N], the linear layer of an int8 model (`todm export --int8`, src/model/quant.ts).
//
// Two ways, both exported so the benchmark (bench/gemm_i8.ts) can compare them with f32 `gemm`:
// - gemm_i8_forward: quantise each row of x to int8 on the fly (symmetric, scale max|x_row|/127, round
//   to nearest even), then exact int32 dot products of int8 pairs widened to i16 (v128.load8x8_s, then
//   i32x4.dot_i16x8_s), 2 rows x 4 columns of y at a time, and y = acc · (sx_i · sw_j) + b_j.
// - gemm_i8_dequant_forward: dequantise W to f32 into caller scratch, then f32 `gemm` (exact weights as
//   the loader sees them; no activation quantisation).
// Measured on this machine (one thread, best of 60, default-model shapes M x K x N): gemm_i8_forward runs
// at 0.87-1.2x the speed of f32 `gemm` at 400x144x576 and 400x576x144, 1.0-1.2x at 25x144x576 and
// 1.5-1.75x at 1x256x1024 (decoding: a quarter of the weight bytes to stream); dequantising W on every
// call is never faster than f32 gemm (0.4-0.7x at M = 1), so gemm_i8_forward is the int8 path.
// Not here: the relaxed i32x4.relaxed_dot_i8x16_i7x16_add_s path (its second operand must be 7-bit,
// which would cost activations one bit), quantising the weights (done once on the host), threads.
// Reference: gemm_i8_naive (same quantisation and integer sums, scalar: results equal bit for bit);
// error against f32 with the dequantised weights: |Σ_k w'_jk (x_ik - q_ik·sx_i)| <= sx_i/2 · Σ_k |w'_jk|.

import { gemm } from "./gemm";

/**
 * xq[i, k] = nearest(x[i, k] · 127 / max_k |x[i, k]|) as int8 and xscale[i] = max_k |x[i, k]| / 127
 * (a zero row: scale 0 and zeros). x stored [M, ldx >= K]; xq [M, K] bytes; xscale [M] f32.
 */
function quantize_rows_i8(xq: usize, xscale: usize, x: usize, M: i32, K: i32, ldx: i32): void {
  for (let i = 0; i < M; i++) {
    const row = x + ((<usize>i * ldx) << 2), qrow = xq + <usize>i * K;
    let vmax = f32x4.splat(0);
    let k = 0;
    for (; k + 4 <= K; k += 4) vmax = f32x4.max(vmax, f32x4.abs(v128.load(row + (<usize>k << 2))));
    let m = max(max(f32x4.extract_lane(vmax, 0), f32x4.extract_lane(vmax, 1)), max(f32x4.extract_lane(vmax, 2), f32x4.extract_lane(vmax, 3)));
    for (; k < K; k++) m = max(m, abs(load<f32>(row + (<usize>k << 2))));
    const s: f32 = m / 127;
    store<f32>(xscale + (<usize>i << 2), s);
    const inv: f32 = m > 0 ? <f32>127 / m : 0;
    const vinv = f32x4.splat(inv);
    k = 0;
    for (; k + 16 <= K; k += 16) {
      const p = row + (<usize>k << 2);
      const a = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v128.load(p), vinv)));
      const b = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v128.load(p, 16), vinv)));
      const c = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v128.load(p, 32), vinv)));
      const d = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v128.load(p, 48), vinv)));
      v128.store(qrow + <usize>k, i8x16.narrow_i16x8_s(i16x8.narrow_i32x4_s(a, b), i16x8.narrow_i32x4_s(c, d)));
    }
    for (; k < K; k++) store<i8>(qrow + <usize>k, <i8><i32>nearest<f32>(load<f32>(row + (<usize>k << 2)) * inv));
  }
}

/** y = acc · (sx · sw) + b for one element (b = 0 without bias). */
// @ts-ignore: decorator
@inline
function put_i8(y: usize, acc: i32, sx: f32, sw: f32, b: f32): void {
  store<f32>(y, <f32>acc * (sx * sw) + b);
}

// @ts-ignore: decorator
@inline
function hsum_i32(v: v128): i32 {
  return i32x4.extract_lane(v, 0) + i32x4.extract_lane(v, 1) + i32x4.extract_lane(v, 2) + i32x4.extract_lane(v, 3);
}

/**
 * y[M,N] = quantise(x)[M,K] · W[N,K]^T · (sx_i · wscale_j) + bias[N]   (M, N, K: GEMM dimensions).
 * y stored [M, ldy >= N]; xq (M·K bytes) and xscale (M f32) are caller scratch that receive the
 * quantised x; x stored [M, ldx >= K] f32; w int8 [N, ldw >= K]; wscale [N] f32; bias [N] f32 or 0 (none).
 * K up to 133,000 (int32 sums of 127·127 products). No alignment is required.
 */
export function gemm_i8_forward(
  y: usize, xq: usize, xscale: usize, x: usize, w: usize, wscale: usize, bias: usize,
  M: i32, N: i32, K: i32, ldx: i32, ldw: i32, ldy: i32,
): void {
  quantize_rows_i8(xq, xscale, x, M, K, ldx);
  const K8 = K & ~7;
  for (let i = 0; i < M; i += 2) {
    const two = i + 1 < M;
    const a0 = xq + <usize>i * K, a1 = two ? a0 + <usize>K : a0; // a missing second row re-reads the first
    const sx0 = load<f32>(xscale + (<usize>i << 2)), sx1 = two ? load<f32>(xscale + (<usize>(i + 1) << 2)) : sx0;
    for (let j = 0; j < N; j += 4) {
      const cols = min(4, N - j);
      const b0 = w + <usize>j * ldw; // a missing column re-reads the first; its result is dropped
      const b1 = cols > 1 ? b0 + <usize>ldw : b0, b2 = cols > 2 ? b0 + 2 * <usize>ldw : b0, b3 = cols > 3 ? b0 + 3 * <usize>ldw : b0;
      let s00 = i32x4.splat(0), s01 = i32x4.splat(0), s02 = i32x4.splat(0), s03 = i32x4.splat(0);
      let s10 = i32x4.splat(0), s11 = i32x4.splat(0), s12 = i32x4.splat(0), s13 = i32x4.splat(0);
      for (let k = 0; k < K8; k += 8) {
        const o = <usize>k;
        const x0 = v128.load8x8_s(a0 + o), x1 = v128.load8x8_s(a1 + o);
        let v = v128.load8x8_s(b0 + o);
        s00 = i32x4.add(s00, i32x4.dot_i16x8_s(x0, v));
        s10 = i32x4.add(s10, i32x4.dot_i16x8_s(x1, v));
        v = v128.load8x8_s(b1 + o);
        s01 = i32x4.add(s01, i32x4.dot_i16x8_s(x0, v));
        s11 = i32x4.add(s11, i32x4.dot_i16x8_s(x1, v));
        v = v128.load8x8_s(b2 + o);
        s02 = i32x4.add(s02, i32x4.dot_i16x8_s(x0, v));
        s12 = i32x4.add(s12, i32x4.dot_i16x8_s(x1, v));
        v = v128.load8x8_s(b3 + o);
        s03 = i32x4.add(s03, i32x4.dot_i16x8_s(x0, v));
        s13 = i32x4.add(s13, i32x4.dot_i16x8_s(x1, v));
      }
      let d00 = hsum_i32(s00), d01 = hsum_i32(s01), d02 = hsum_i32(s02), d03 = hsum_i32(s03);
      let d10 = hsum_i32(s10), d11 = hsum_i32(s11), d12 = hsum_i32(s12), d13 = hsum_i32(s13);
      for (let k = K8; k < K; k++) { // scalar tail
        const o = <usize>k;
        const p0 = <i32>load<i8>(a0 + o), p1 = <i32>load<i8>(a1 + o);
        const q0 = <i32>load<i8>(b0 + o), q1 = <i32>load<i8>(b1 + o), q2 = <i32>load<i8>(b2 + o), q3 = <i32>load<i8>(b3 + o);
        d00 += p0 * q0; d01 += p0 * q1; d02 += p0 * q2; d03 += p0 * q3;
        d10 += p1 * q0; d11 += p1 * q1; d12 += p1 * q2; d13 += p1 * q3;
      }
      const y0 = y + ((<usize>i * ldy + j) << 2), y1 = y0 + (<usize>ldy << 2);
      const sw = wscale + (<usize>j << 2), bb = bias + (<usize>j << 2);
      put_i8(y0, d00, sx0, load<f32>(sw), bias ? load<f32>(bb) : 0);
      if (two) put_i8(y1, d10, sx1, load<f32>(sw), bias ? load<f32>(bb) : 0);
      if (cols > 1) {
        put_i8(y0 + 4, d01, sx0, load<f32>(sw, 4), bias ? load<f32>(bb, 4) : 0);
        if (two) put_i8(y1 + 4, d11, sx1, load<f32>(sw, 4), bias ? load<f32>(bb, 4) : 0);
      }
      if (cols > 2) {
        put_i8(y0 + 8, d02, sx0, load<f32>(sw, 8), bias ? load<f32>(bb, 8) : 0);
        if (two) put_i8(y1 + 8, d12, sx1, load<f32>(sw, 8), bias ? load<f32>(bb, 8) : 0);
      }
      if (cols > 3) {
        put_i8(y0 + 12, d03, sx0, load<f32>(sw, 12), bias ? load<f32>(bb, 12) : 0);
        if (two) put_i8(y1 + 12, d13, sx1, load<f32>(sw, 12), bias ? load<f32>(bb, 12) : 0);
      }
    }
  }
}

/** The scalar twin of gemm_i8_forward (same arguments, same quantisation, same integer sums). */
export function gemm_i8_naive(
  y: usize, xq: usize, xscale: usize, x: usize, w: usize, wscale: usize, bias: usize,
  M: i32, N: i32, K: i32, ldx: i32, ldw: i32, ldy: i32,
): void {
  for (let i = 0; i < M; i++) {
    const row = x + ((<usize>i * ldx) << 2), qrow = xq + <usize>i * K;
    let m: f32 = 0;
    for (let k = 0; k < K; k++) m = max(m, abs(load<f32>(row + (<usize>k << 2))));
    const s: f32 = m / 127, inv: f32 = m > 0 ? <f32>127 / m : 0;
    store<f32>(xscale + (<usize>i << 2), s);
    for (let k = 0; k < K; k++) store<i8>(qrow + <usize>k, <i8><i32>nearest<f32>(load<f32>(row + (<usize>k << 2)) * inv));
    for (let j = 0; j < N; j++) {
      let acc: i32 = 0;
      for (let k = 0; k < K; k++) acc += <i32>load<i8>(qrow + <usize>k) * <i32>load<i8>(w + <usize>j * ldw + <usize>k);
      put_i8(y + ((<usize>i * ldy + j) << 2), acc, s, load<f32>(wscale + (<usize>j << 2)), bias ? load<f32>(bias + (<usize>j << 2)) : 0);
    }
  }
}

/**
 * The same product with W dequantised instead: wf[N,K] = w[n, k] · wscale[n] (caller scratch, f32,
 * N·K floats), then y = x · wf^T + bias through f32 `gemm`. Arguments as gemm_i8_forward, wf for xq.
 */
export function gemm_i8_dequant_forward(
  y: usize, wf: usize, x: usize, w: usize, wscale: usize, bias: usize,
  M: i32, N: i32, K: i32, ldx: i32, ldw: i32, ldy: i32,
): void {
  for (let n = 0; n < N; n++) {
    const src = w + <usize>n * ldw, dst = wf + ((<usize>n * K) << 2);
    const s: f32 = load<f32>(wscale + (<usize>n << 2));
    const vs = f32x4.splat(s);
    let k = 0;
    for (; k + 8 <= K; k += 8) {
      const h = v128.load8x8_s(src + <usize>k); // 8 x i16
      v128.store(dst + (<usize>k << 2), f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(h)), vs));
      v128.store(dst + (<usize>k << 2), f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(h)), vs), 16);
    }
    for (; k < K; k++) store<f32>(dst + (<usize>k << 2), <f32>load<i8>(src + <usize>k) * s);
  }
  gemm(0, 1, M, N, K, 1, x, ldx, wf, K, 0, y, ldy);
  if (bias) {
    for (let i = 0; i < M; i++) {
      const row = y + ((<usize>i * ldy) << 2);
      let j = 0;
      for (; j + 4 <= N; j += 4) v128.store(row + (<usize>j << 2), f32x4.add(v128.load(row + (<usize>j << 2)), v128.load(bias + (<usize>j << 2))));
      for (; j < N; j++) store<f32>(row + (<usize>j << 2), load<f32>(row + (<usize>j << 2)) + load<f32>(bias + (<usize>j << 2)));
    }
  }
}
