// Fast Fourier transforms for the feature front end: an in-place complex FFT (decimation in
// frequency, split real/imaginary arrays, natural order in and out) and the real FFT built on it
// (a real signal of n samples packed as n/2 complex values, then untangled).
//
// Not a general FFT library: forward transforms only, power-of-two sizes up to FFT_MAX, f32, no
// scaling. The reference is the textbook DFT X[k] = sum_j x[j] exp(-2 pi i j k / n); the tests
// compare against an O(n^2) float64 DFT. The real-FFT untangling is the standard split
// (e.g. Press et al., Numerical Recipes, "FFT of real functions"): with Z = FFT_{n/2}(x[2j] + i x[2j+1]),
//   X[k] = E[k] + W^k O[k],  E[k] = (Z[k] + conj Z[m-k]) / 2,  O[k] = (Z[k] - conj Z[m-k]) / (2i),
//   W = exp(-2 pi i / n), m = n/2, and X[m-k] = conj(E[k] - W^k O[k]).
// Error: f32 rounding grows like log2(n) ulps of the signal's L2 norm.
// The SIMD kernels run radix-4 stages and a fused last stage + permutation (fft_core.ts); the
// naive twins run scalar radix-2 stages and a separate permutation.

import { mem_alloc } from "../memory";
import {
  FFT_MAX, TW_RE, TW_IM, butterfly_1, fft_last_to, fft_stages, last_two_stages, unscramble,
} from "./fft_core";

const HALF: f32 = 0.5;
// Working buffers of the SIMD paths (the fused last stage is out of place).
const TMP_RE: usize = mem_alloc(<usize>FFT_MAX << 2);
const TMP_IM: usize = mem_alloc(<usize>FFT_MAX << 2);

/**
 * In-place complex FFT: (re, im)[n] <- DFT of (re, im)[n], natural order, unscaled.
 * re, im: n floats each, contiguous; n a power of two <= FFT_MAX. SIMD radix-4 stages down to
 * quarter-span 4 (one radix-2 stage first when log2 n is odd), then the last radix-4 stage fused
 * with the permutation (n >= 16; scalar below).
 */
export function fft_forward(re: usize, im: usize, n: i32): void {
  if (n >= 16) {
    fft_stages(re, im, n);
    fft_last_to(TMP_RE, TMP_IM, re, im, n);
    memory.copy(re, TMP_RE, <usize>n << 2);
    memory.copy(im, TMP_IM, <usize>n << 2);
    return;
  }
  if (n >= 8) fft_stages(re, im, n);
  if (n >= 4) last_two_stages(re, im, n);
  else if (n == 2) butterfly_1(re, im);
  unscramble(re, im, n);
}

/** Scalar twin of fft_forward: radix-2 DIF, one butterfly at a time, then the bit-reversal swaps. */
export function fft_forward_naive(re: usize, im: usize, n: i32): void {
  for (let h = n >> 1; h >= 1; h >>= 1) {
    for (let s = 0; s < n; s += h << 1) {
      for (let j = 0; j < h; j++) {
        const a = <usize>(s + j) << 2, b = <usize>(s + j + h) << 2, w = <usize>(h + j) << 2;
        const ar = load<f32>(re + a), ai = load<f32>(im + a), br = load<f32>(re + b), bi = load<f32>(im + b);
        const wr = load<f32>(TW_RE + w), wi = load<f32>(TW_IM + w);
        store<f32>(re + a, ar + br);
        store<f32>(im + a, ai + bi);
        const dr = ar - br, di = ai - bi;
        store<f32>(re + b, dr * wr - di * wi);
        store<f32>(im + b, dr * wi + di * wr);
      }
    }
  }
  unscramble(re, im, n);
}

/** z[j] = x[2j] + i x[2j+1] for j < m: the real signal packed as half as many complex values. */
function pack_real(zr: usize, zi: usize, x: usize, m: i32): void {
  let j = 0;
  for (; j + 4 <= m; j += 4) {
    const v0 = v128.load(x + (<usize>j << 3)), v1 = v128.load(x + (<usize>j << 3), 16);
    v128.store(zr + (<usize>j << 2), v128.shuffle<f32>(v0, v1, 0, 2, 4, 6));
    v128.store(zi + (<usize>j << 2), v128.shuffle<f32>(v0, v1, 1, 3, 5, 7));
  }
  for (; j < m; j++) {
    store<f32>(zr + (<usize>j << 2), load<f32>(x + (<usize>j << 3)));
    store<f32>(zi + (<usize>j << 2), load<f32>(x + (<usize>j << 3), 4));
  }
}

/**
 * Real FFT: (out_re, out_im)[n/2 + 1] <- X[0..n/2] of the real signal x[n] (unscaled).
 * out_re, out_im: n/2 + 1 floats each, also used as the working buffers; x is not modified.
 * n: a power of two, 2 <= n <= FFT_MAX.
 */
export function rfft_forward(out_re: usize, out_im: usize, x: usize, n: i32): void {
  const m = n >> 1;
  pack_real(out_re, out_im, x, m);
  fft_forward(out_re, out_im, m);
  untangle(out_re, out_im, m);
}

/** Scalar twin of rfft_forward (scalar packing and FFT). */
export function rfft_forward_naive(out_re: usize, out_im: usize, x: usize, n: i32): void {
  const m = n >> 1;
  for (let j = 0; j < m; j++) {
    store<f32>(out_re + (<usize>j << 2), load<f32>(x + (<usize>j << 3)));
    store<f32>(out_im + (<usize>j << 2), load<f32>(x + (<usize>j << 3), 4));
  }
  fft_forward_naive(out_re, out_im, m);
  untangle(out_re, out_im, m);
}

/** In place: Z[0..m) (the packed FFT) -> X[0..m] (the real signal's spectrum), pairs (k, m-k) together. */
function untangle(re: usize, im: usize, m: i32): void {
  const z0r = load<f32>(re), z0i = load<f32>(im);
  store<f32>(re, z0r + z0i); store<f32>(im, 0);
  store<f32>(re + (<usize>m << 2), z0r - z0i); store<f32>(im + (<usize>m << 2), 0);
  for (let k = 1; k <= m >> 1; k++) {
    const pk = <usize>k << 2, pm = <usize>(m - k) << 2, pw = <usize>(m + k) << 2;
    const ar = load<f32>(re + pk), ai = load<f32>(im + pk);
    const br = load<f32>(re + pm), bi = -load<f32>(im + pm); // conj Z[m-k]
    const er = HALF * (ar + br), ei = HALF * (ai + bi);
    const odr = HALF * (ai - bi), odi = -HALF * (ar - br); // (A - B) / (2i)
    const wr = load<f32>(TW_RE + pw), wi = load<f32>(TW_IM + pw); // W^k = exp(-i pi k / m)
    const tr = wr * odr - wi * odi, ti = wr * odi + wi * odr;
    store<f32>(re + pk, er + tr); store<f32>(im + pk, ei + ti);
    store<f32>(re + pm, er - tr); store<f32>(im + pm, ti - ei); // conj(E - T)
  }
}

/**
 * Power spectrum of a real signal: power[k] = |X[k]|^2 for k = 0..n/2 (n/2 + 1 values).
 * x[n] is not modified; scratch_re, scratch_im: n/2 + 1 floats each (caller's per-call scratch).
 * n: a power of two, 2 <= n <= FFT_MAX. SIMD packing, FFT and untangling (4 bins k and 4 mirrors m-k).
 */
export function rfft_power(power: usize, x: usize, n: i32, scratch_re: usize, scratch_im: usize): void {
  const m = n >> 1;
  if (m >= 16) {
    pack_real(TMP_RE, TMP_IM, x, m);
    fft_stages(TMP_RE, TMP_IM, m);
    fft_last_to(scratch_re, scratch_im, TMP_RE, TMP_IM, m);
  } else {
    pack_real(scratch_re, scratch_im, x, m);
    fft_forward(scratch_re, scratch_im, m);
  }
  const z0r = load<f32>(scratch_re), z0i = load<f32>(scratch_im);
  store<f32>(power, (z0r + z0i) * (z0r + z0i));
  store<f32>(power + (<usize>m << 2), (z0r - z0i) * (z0r - z0i));
  const half = v128.splat<f32>(0.5);
  const half_k = m >> 1;
  let k = 1;
  for (; k + 3 <= half_k; k += 4) {
    const pk = <usize>k << 2, pm = <usize>(m - k - 3) << 2, pw = <usize>(m + k) << 2;
    const ar = v128.load(scratch_re + pk), ai = v128.load(scratch_im + pk);
    // conj Z[m-k .. m-k-3]: load the mirrored block and reverse its lanes
    const br = v128.shuffle<f32>(v128.load(scratch_re + pm), v128.load(scratch_re + pm), 3, 2, 1, 0);
    const bi = f32x4.neg(v128.shuffle<f32>(v128.load(scratch_im + pm), v128.load(scratch_im + pm), 3, 2, 1, 0));
    const er = f32x4.mul(half, f32x4.add(ar, br)), ei = f32x4.mul(half, f32x4.add(ai, bi));
    const odr = f32x4.mul(half, f32x4.sub(ai, bi)), odi = f32x4.mul(half, f32x4.sub(br, ar));
    const wr = v128.load(TW_RE + pw), wi = v128.load(TW_IM + pw);
    const tr = f32x4.sub(f32x4.mul(wr, odr), f32x4.mul(wi, odi));
    const ti = f32x4.add(f32x4.mul(wr, odi), f32x4.mul(wi, odr));
    const xr = f32x4.add(er, tr), xi = f32x4.add(ei, ti);
    const yr = f32x4.sub(er, tr), yi = f32x4.sub(ei, ti);
    v128.store(power + pk, f32x4.add(f32x4.mul(xr, xr), f32x4.mul(xi, xi)));
    const py = f32x4.add(f32x4.mul(yr, yr), f32x4.mul(yi, yi));
    v128.store(power + pm, v128.shuffle<f32>(py, py, 3, 2, 1, 0));
  }
  for (; k <= half_k; k++) {
    const pk = <usize>k << 2, pm = <usize>(m - k) << 2, pw = <usize>(m + k) << 2;
    const ar = load<f32>(scratch_re + pk), ai = load<f32>(scratch_im + pk);
    const br = load<f32>(scratch_re + pm), bi = -load<f32>(scratch_im + pm);
    const er = HALF * (ar + br), ei = HALF * (ai + bi);
    const odr = HALF * (ai - bi), odi = HALF * (br - ar);
    const wr = load<f32>(TW_RE + pw), wi = load<f32>(TW_IM + pw);
    const tr = wr * odr - wi * odi, ti = wr * odi + wi * odr;
    store<f32>(power + pk, (er + tr) * (er + tr) + (ei + ti) * (ei + ti));
    store<f32>(power + pm, (er - tr) * (er - tr) + (ei - ti) * (ei - ti));
  }
}

/** Scalar twin of rfft_power: rfft_forward_naive, then |X|^2. scratch_re, scratch_im: n/2 + 1 floats. */
export function rfft_power_naive(power: usize, x: usize, n: i32, scratch_re: usize, scratch_im: usize): void {
  const m = n >> 1;
  rfft_forward_naive(scratch_re, scratch_im, x, n);
  for (let k = 0; k <= m; k++) {
    const r = load<f32>(scratch_re + (<usize>k << 2)), i = load<f32>(scratch_im + (<usize>k << 2));
    store<f32>(power + (<usize>k << 2), r * r + i * i);
  }
}
