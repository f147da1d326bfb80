// The FFT's internals, shared by the kernels in fft.ts (complex and real FFT) and not exported
// from the engine: twiddle tables, the SIMD decimation-in-frequency stages, and the last stage with
// the bit-reversal permutation. See fft.ts for what the transforms compute and their references.
//
// Twiddles are tables computed at module start: for each half-span h (a power of two below
// FFT_MAX), entries [h, 2h) of TW hold exp(-i pi j / h), j < h, and entries [h, 2h) of TW3 hold
// exp(-3 i pi j / (2h)) (the third twiddle of a radix-4 butterfly). Every stage of every size reads
// its twiddles contiguously, so SIMD loads need no gather.
// The SIMD transform runs radix-4 stages (a radix-2 stage first when log2 n is odd); the scalar
// twin in fft.ts runs radix-2 stages. Both are decimation in frequency with bit-reversed output; a
// radix-4 butterfly writes its outputs in bit-reversed order, so both end with the same permutation.

import { mem_alloc } from "../memory";

/** The largest complex FFT size, and the largest real FFT size (the real FFT uses half of it). */
export const FFT_MAX: i32 = 4096;

export const TW_RE: usize = mem_alloc(<usize>FFT_MAX << 2);
export const TW_IM: usize = mem_alloc(<usize>FFT_MAX << 2);
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

/** Puts the bit-reversed output of the DIF stages back into natural order. */
export function unscramble(re: usize, im: usize, n: i32): void {
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
export function last_two_stages(re: usize, im: usize, n: i32): void {
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

// @ts-ignore: decorator
@inline
export function butterfly_1(re: usize, im: usize): void {
  const ar = load<f32>(re), ai = load<f32>(im), br = load<f32>(re, 4), bi = load<f32>(im, 4);
  store<f32>(re, ar + br); store<f32>(im, ai + bi);
  store<f32>(re, ar - br, 4); store<f32>(im, ai - bi, 4);
}

/**
 * All SIMD stages but the last radix-4 one (quarter-span 1), in place: one radix-2 stage when log2 n
 * is odd, then radix-4 stages of quarter-spans n/4 (or n/8), ..., 4. n >= 8.
 */
export function fft_stages(re: usize, im: usize, n: i32): void {
  let block = n; // the size of the sub-transforms still to do
  if (ctz(n) & 1) {
    radix2_stage(re, im, n, n >> 1);
    block = n >> 1;
  }
  for (let q = block >> 2; q >= 4; q >>= 2) radix4_stage(re, im, n, q);
}

// @ts-ignore: decorator
@inline
function transpose_lo(a: v128, b: v128): v128 {
  return v128.shuffle<f32>(a, b, 0, 4, 1, 5);
}

// @ts-ignore: decorator
@inline
function transpose_hi(a: v128, b: v128): v128 {
  return v128.shuffle<f32>(a, b, 2, 6, 3, 7);
}

/**
 * The last radix-4 stage (quarter-span 1, twiddles 1 and -i) fused with the bit-reversal
 * permutation, out of place: (out_re, out_im)[n] <- the natural-order DFT, from (re, im)[n] after
 * fft_stages. n >= 16, out distinct from the input.
 * Group g (elements 4g..4g+3) yields z_t, which belongs at natural index rev2(t) n/4 + rev(g), rev
 * over log2(n) - 2 bits. The four groups whose reversed indices are k..k+3 (k a multiple of 4) are
 * g0 = rev(k), g0 + n/8, g0 + n/16 and g0 + 3n/16; transposed 4x4, each z_t is one contiguous store.
 */
export function fft_last_to(out_re: usize, out_im: usize, re: usize, im: usize, n: i32): void {
  const quarter = n >> 2;
  ensure_bitrev(quarter);
  const s1 = <usize>(quarter >> 1) << 4, s2 = <usize>(quarter >> 2) << 4; // byte offsets of n/8, n/16 groups
  const qb = <usize>quarter << 2;
  for (let k = 0; k < quarter; k += 4) {
    const g0 = <usize>load<i32>(BITREV + (<usize>k << 2)) << 4;
    const o1 = g0 + s1, o2 = g0 + s2, o3 = g0 + s1 + s2;
    // x_t: element t of the four groups, one group per lane
    let a = v128.load(re + g0), b = v128.load(re + o1), c = v128.load(re + o2), d = v128.load(re + o3);
    let lo0 = transpose_lo(a, b), hi0 = transpose_hi(a, b), lo1 = transpose_lo(c, d), hi1 = transpose_hi(c, d);
    const x0r = v128.shuffle<f32>(lo0, lo1, 0, 1, 4, 5), x1r = v128.shuffle<f32>(lo0, lo1, 2, 3, 6, 7);
    const x2r = v128.shuffle<f32>(hi0, hi1, 0, 1, 4, 5), x3r = v128.shuffle<f32>(hi0, hi1, 2, 3, 6, 7);
    a = v128.load(im + g0); b = v128.load(im + o1); c = v128.load(im + o2); d = v128.load(im + o3);
    lo0 = transpose_lo(a, b); hi0 = transpose_hi(a, b); lo1 = transpose_lo(c, d); hi1 = transpose_hi(c, d);
    const x0i = v128.shuffle<f32>(lo0, lo1, 0, 1, 4, 5), x1i = v128.shuffle<f32>(lo0, lo1, 2, 3, 6, 7);
    const x2i = v128.shuffle<f32>(hi0, hi1, 0, 1, 4, 5), x3i = v128.shuffle<f32>(hi0, hi1, 2, 3, 6, 7);
    const y0r = f32x4.add(x0r, x2r), y0i = f32x4.add(x0i, x2i), y2r = f32x4.sub(x0r, x2r), y2i = f32x4.sub(x0i, x2i);
    const y1r = f32x4.add(x1r, x3r), y1i = f32x4.add(x1i, x3i);
    const y3r = f32x4.sub(x1i, x3i), y3i = f32x4.sub(x3r, x1r); // (x1 - x3) * (-i)
    const ok = <usize>k << 2;
    v128.store(out_re + ok, f32x4.add(y0r, y1r)); // z0 -> rev2(0) = 0
    v128.store(out_im + ok, f32x4.add(y0i, y1i));
    v128.store(out_re + ok + 2 * qb, f32x4.sub(y0r, y1r)); // z1 -> rev2(1) = 2
    v128.store(out_im + ok + 2 * qb, f32x4.sub(y0i, y1i));
    v128.store(out_re + ok + qb, f32x4.add(y2r, y3r)); // z2 -> rev2(2) = 1
    v128.store(out_im + ok + qb, f32x4.add(y2i, y3i));
    v128.store(out_re + ok + 3 * qb, f32x4.sub(y2r, y3r)); // z3 -> 3
    v128.store(out_im + ok + 3 * qb, f32x4.sub(y2i, y3i));
  }
}
