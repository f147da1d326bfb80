// Fast Fourier transforms for the feature front end: an in-place complex FFT (radix-2 decimation in
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
//
// Twiddles are tables computed at module start: for each half-span h (a power of two below
// FFT_MAX), entries [h, 2h) of TW hold exp(-i pi j / h), j < h, and entries [h, 2h) of TW3 hold
// exp(-3 i pi j / (2h)) (the third twiddle of a radix-4 butterfly). Every stage of every size reads
// its twiddles contiguously, so SIMD loads need no gather.
// The SIMD transform runs radix-4 stages (a radix-2 stage first when log2 n is odd); its scalar
// twin runs radix-2 stages. Both are decimation in frequency with bit-reversed output; a radix-4
// butterfly writes its outputs in bit-reversed order, so both end with the same permutation.

import { mem_alloc } from "./memory";

/** The largest complex FFT size, and the largest real FFT size (the real FFT uses half of it). */
export const FFT_MAX: i32 = 4096;

const HALF: f32 = 0.5;
const TW_RE: usize = mem_alloc(<usize>FFT_MAX << 2);
const TW_IM: usize = mem_alloc(<usize>FFT_MAX << 2);
const TW3_RE: usize = mem_alloc(<usize>FFT_MAX << 2);
const TW3_IM: usize = mem_alloc(<usize>FFT_MAX << 2);
const BITREV: usize = mem_alloc(<usize>FFT_MAX << 2); // bit-reversal permutation of the last size used
let bitrev_n: i32 = 0;

function init_twiddles(): void {
  for (let h = 1; h < FFT_MAX; h <<= 1) {
    for (let j = 0; j < h; j++) {
      const a = -Math.PI * <f64>j / <f64>h; // float64 angle, rounded once to f32
      store<f32>(TW_RE + ((<usize>(h + j)) << 2), <f32>Math.cos(a));
      store<f32>(TW_IM + ((<usize>(h + j)) << 2), <f32>Math.sin(a));
      store<f32>(TW3_RE + ((<usize>(h + j)) << 2), <f32>Math.cos(1.5 * a));
      store<f32>(TW3_IM + ((<usize>(h + j)) << 2), <f32>Math.sin(1.5 * a));
    }
  }
}
init_twiddles();

/** Fills BITREV for size n (a power of two) unless it already holds it. */
function ensure_bitrev(n: i32): void {
  if (bitrev_n == n) return;
  const bits = ctz(n);
  for (let k = 0; k < n; k++) {
    let r = 0, v = k;
    for (let b = 0; b < bits; b++) {
      r = (r << 1) | (v & 1);
      v >>= 1;
    }
    store<i32>(BITREV + (<usize>k << 2), r);
  }
  bitrev_n = n;
}

/** True when n is a power of two in [1, FFT_MAX]. */
export function fft_size_ok(n: i32): bool {
  return n >= 1 && n <= FFT_MAX && (n & (n - 1)) == 0;
}

/** Puts the bit-reversed output of the DIF stages back into natural order. */
function unscramble(re: usize, im: usize, n: i32): void {
  ensure_bitrev(n);
  for (let k = 0; k < n; k++) {
    const r = load<i32>(BITREV + (<usize>k << 2));
    if (r > k) {
      const pk = <usize>k << 2, pr = <usize>r << 2;
      const tr = load<f32>(re + pk), ti = load<f32>(im + pk);
      store<f32>(re + pk, load<f32>(re + pr));
      store<f32>(im + pk, load<f32>(im + pr));
      store<f32>(re + pr, tr);
      store<f32>(im + pr, ti);
    }
  }
}

/** The two last DIF stages (half-spans 2 and 1) on each group of 4: twiddles 1 and -i, no multiplies. */
// @ts-ignore: decorator
@inline
function last_two_stages(re: usize, im: usize, n: i32): void {
  for (let s = 0; s < n; s += 4) {
    const p = re + (<usize>s << 2), q = im + (<usize>s << 2);
    const x0r = load<f32>(p), x1r = load<f32>(p, 4), x2r = load<f32>(p, 8), x3r = load<f32>(p, 12);
    const x0i = load<f32>(q), x1i = load<f32>(q, 4), x2i = load<f32>(q, 8), x3i = load<f32>(q, 12);
    const y0r = x0r + x2r, y0i = x0i + x2i, y2r = x0r - x2r, y2i = x0i - x2i;
    const y1r = x1r + x3r, y1i = x1i + x3i;
    const y3r = x1i - x3i, y3i = x3r - x1r; // (x1 - x3) * (-i)
    store<f32>(p, y0r + y1r); store<f32>(q, y0i + y1i);
    store<f32>(p, y0r - y1r, 4); store<f32>(q, y0i - y1i, 4);
    store<f32>(p, y2r + y3r, 8); store<f32>(q, y2i + y3i, 8);
    store<f32>(p, y2r - y3r, 12); store<f32>(q, y2i - y3i, 12);
  }
}

/** One radix-2 DIF stage of half-span h >= 4 (SIMD): x[j] + x[j+h], (x[j] - x[j+h]) * exp(-i pi j / h). */
function radix2_stage(re: usize, im: usize, n: i32, h: i32): void {
  const wr0 = TW_RE + (<usize>h << 2), wi0 = TW_IM + (<usize>h << 2);
  for (let s = 0; s < n; s += h << 1) {
    const ar0 = re + (<usize>s << 2), ai0 = im + (<usize>s << 2);
    const br0 = ar0 + (<usize>h << 2), bi0 = ai0 + (<usize>h << 2);
    for (let j = 0; j < h; j += 4) {
      const o = <usize>j << 2;
      const ar = v128.load(ar0 + o), ai = v128.load(ai0 + o);
      const br = v128.load(br0 + o), bi = v128.load(bi0 + o);
      const wr = v128.load(wr0 + o), wi = v128.load(wi0 + o);
      v128.store(ar0 + o, f32x4.add(ar, br));
      v128.store(ai0 + o, f32x4.add(ai, bi));
      const dr = f32x4.sub(ar, br), di = f32x4.sub(ai, bi);
      v128.store(br0 + o, f32x4.sub(f32x4.mul(dr, wr), f32x4.mul(di, wi)));
      v128.store(bi0 + o, f32x4.add(f32x4.mul(dr, wi), f32x4.mul(di, wr)));
    }
  }
}

/**
 * One radix-4 DIF stage of quarter-span q >= 4 (SIMD), the two radix-2 stages of half-spans 2q and q
 * fused. With W = exp(-2 pi i / 4q), t0 = a0 + a2, t1 = a0 - a2, t2 = a1 + a3, t3 = -i (a1 - a3):
 *   x[j] = t0 + t2, x[j+q] = (t0 - t2) W^2j, x[j+2q] = (t1 + t3) W^j, x[j+3q] = (t1 - t3) W^3j.
 */
function radix4_stage(re: usize, im: usize, n: i32, q: i32): void {
  const w1r = TW_RE + (<usize>(2 * q) << 2), w1i = TW_IM + (<usize>(2 * q) << 2);
  const w2r = TW_RE + (<usize>q << 2), w2i = TW_IM + (<usize>q << 2);
  const w3r = TW3_RE + (<usize>q << 2), w3i = TW3_IM + (<usize>q << 2);
  const qb = <usize>q << 2;
  for (let s = 0; s < n; s += q << 2) {
    const r0 = re + (<usize>s << 2), i0 = im + (<usize>s << 2);
    for (let j = 0; j < q; j += 4) {
      const o = <usize>j << 2;
      const a0r = v128.load(r0 + o), a0i = v128.load(i0 + o);
      const a1r = v128.load(r0 + o + qb), a1i = v128.load(i0 + o + qb);
      const a2r = v128.load(r0 + o + 2 * qb), a2i = v128.load(i0 + o + 2 * qb);
      const a3r = v128.load(r0 + o + 3 * qb), a3i = v128.load(i0 + o + 3 * qb);
      const t0r = f32x4.add(a0r, a2r), t0i = f32x4.add(a0i, a2i);
      const t1r = f32x4.sub(a0r, a2r), t1i = f32x4.sub(a0i, a2i);
      const t2r = f32x4.add(a1r, a3r), t2i = f32x4.add(a1i, a3i);
      const t3r = f32x4.sub(a1i, a3i), t3i = f32x4.sub(a3r, a1r);
      v128.store(r0 + o, f32x4.add(t0r, t2r));
      v128.store(i0 + o, f32x4.add(t0i, t2i));
      let xr = f32x4.sub(t0r, t2r), xi = f32x4.sub(t0i, t2i);
      let wr = v128.load(w2r + o), wi = v128.load(w2i + o);
      v128.store(r0 + o + qb, f32x4.sub(f32x4.mul(xr, wr), f32x4.mul(xi, wi)));
      v128.store(i0 + o + qb, f32x4.add(f32x4.mul(xr, wi), f32x4.mul(xi, wr)));
      xr = f32x4.add(t1r, t3r); xi = f32x4.add(t1i, t3i);
      wr = v128.load(w1r + o); wi = v128.load(w1i + o);
      v128.store(r0 + o + 2 * qb, f32x4.sub(f32x4.mul(xr, wr), f32x4.mul(xi, wi)));
      v128.store(i0 + o + 2 * qb, f32x4.add(f32x4.mul(xr, wi), f32x4.mul(xi, wr)));
      xr = f32x4.sub(t1r, t3r); xi = f32x4.sub(t1i, t3i);
      wr = v128.load(w3r + o); wi = v128.load(w3i + o);
      v128.store(r0 + o + 3 * qb, f32x4.sub(f32x4.mul(xr, wr), f32x4.mul(xi, wi)));
      v128.store(i0 + o + 3 * qb, f32x4.add(f32x4.mul(xr, wi), f32x4.mul(xi, wr)));
    }
  }
}

/**
 * In-place complex FFT: (re, im)[n] <- DFT of (re, im)[n], natural order, unscaled.
 * re, im: n floats each, contiguous; n a power of two <= FFT_MAX. SIMD radix-4 stages down to
 * quarter-span 4 (one radix-2 stage first when log2 n is odd), then a scalar radix-4 on groups of 4.
 */
export function fft_forward(re: usize, im: usize, n: i32): void {
  let block = n; // the size of the sub-transforms still to do
  if (n >= 8 && (ctz(n) & 1)) {
    radix2_stage(re, im, n, n >> 1);
    block = n >> 1;
  }
  for (let q = block >> 2; q >= 4; q >>= 2) radix4_stage(re, im, n, q);
  if (n >= 4) last_two_stages(re, im, n);
  else if (n == 2) butterfly_1(re, im);
  unscramble(re, im, n);
}

// @ts-ignore: decorator
@inline
function butterfly_1(re: usize, im: usize): void {
  const ar = load<f32>(re), ai = load<f32>(im), br = load<f32>(re, 4), bi = load<f32>(im, 4);
  store<f32>(re, ar + br); store<f32>(im, ai + bi);
  store<f32>(re, ar - br, 4); store<f32>(im, ai - bi, 4);
}

/** Scalar twin of fft_forward: the same radix-2 DIF, one butterfly at a time, every stage. */
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
  pack_real(scratch_re, scratch_im, x, m);
  fft_forward(scratch_re, scratch_im, m);
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
