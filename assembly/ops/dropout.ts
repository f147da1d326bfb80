// Dropout with a counter-based random mask: a forward/backward pair, SIMD with a scalar tail, each
// with a scalar `_naive` twin that produces the same bits.
//
// The keep decision for element i depends only on (seed, i), never on call order or SIMD width:
//   z = splitmix64_finalizer((seed * 2^32 + floor(i/2)) * 0x9E3779B97F4A7C15)   (Steele, Lea & Flood 2014)
//   w = the high 32 bits of z for even i, the low 32 bits for odd i (one hash serves two elements);
//   u = w >> 8, uniform on [0, 2^24); keep iff u >= round(p * 2^24).
// (seed, counter) -> z is a bijection on 64 bits, so two seeds give two disjoint stretches of one stream.
// The caller derives a seed per (step, layer, call); the index restarts at 0 in every call.
// What it is not: adaptive dropout's schedule (the host picks p). Reference: the binomial and
// independence checks in test/dropout.test.ts (a torch fixture cannot match a different RNG).
// Shapes: out, mask, inp, dinp, dout are [n], contiguous. out may alias inp (the backward needs only mask).

const GOLDEN: u64 = 0x9e3779b97f4a7c15;
const M1: u64 = 0xbf58476d1ce4e5b9;
const M2: u64 = 0x94d049bb133111eb;

// @ts-ignore: decorator
@inline
function keep_bits(seed: u32, i: u32): u32 {
  let z = ((<u64>seed << 32) | <u64>(i >> 1)) * GOLDEN;
  z = (z ^ (z >> 30)) * M1;
  z = (z ^ (z >> 27)) * M2;
  z ^= z >> 31;
  const w = i & 1 ? <u32>z : <u32>(z >> 32);
  return w >> 8; // 24 bits
}

// @ts-ignore: decorator
@inline
function mix2(z: v128): v128 {
  z = i64x2.mul(z, i64x2.splat(GOLDEN));
  z = i64x2.mul(v128.xor(z, i64x2.shr_u(z, 30)), i64x2.splat(M1));
  z = i64x2.mul(v128.xor(z, i64x2.shr_u(z, 27)), i64x2.splat(M2));
  return v128.xor(z, i64x2.shr_u(z, 31));
}

// @ts-ignore: decorator
@inline
function threshold(p: f32): u32 {
  if (!(p > 0)) return 0; // p <= 0 (or NaN): keep everything
  if (p >= 1) return 16777216; // every u < 2^24: drop everything
  return <u32>Math.round(<f64>p * 16777216.0);
}

/**
 * mask[i] = keep ? 1/(1-p) : 0; out[i] = inp[i] * mask[i]. The mask is saved for the backward.
 * p = 0 keeps everything (mask 1, out = inp); p >= 1 drops everything (mask 0).
 */
export function dropout_forward(out: usize, mask: usize, inp: usize, n: i32, p: f32, seed: u32): void {
  const thr = threshold(p);
  const scale: f32 = p >= 1 ? 0 : 1 / (1 - p);
  const sv = f32x4.splat(scale);
  const tv = i32x4.splat(thr);
  const hi = i64x2.splat(<i64>seed << 32);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    // Counters i/2 and i/2 + 1 (i is even here) serve elements i, i+1 and i+2, i+3.
    const z = mix2(v128.or(hi, i64x2(<i64>(i >> 1), <i64>((i >> 1) + 1))));
    // Words [hi(z0), lo(z0), hi(z1), lo(z1)] for elements i..i+3, then 24 bits of each.
    const u = i32x4.shr_u(i8x16.shuffle(z, z, 4, 5, 6, 7, 0, 1, 2, 3, 12, 13, 14, 15, 8, 9, 10, 11), 8);
    const m = v128.and(sv, i32x4.ge_u(u, tv));
    const o = <usize>i << 2;
    v128.store(mask + o, m);
    v128.store(out + o, f32x4.mul(v128.load(inp + o), m));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    const m: f32 = keep_bits(seed, i) >= thr ? scale : 0;
    store<f32>(mask + o, m);
    store<f32>(out + o, load<f32>(inp + o) * m);
  }
}

export function dropout_forward_naive(out: usize, mask: usize, inp: usize, n: i32, p: f32, seed: u32): void {
  const thr = threshold(p);
  const scale: f32 = p >= 1 ? 0 : 1 / (1 - p);
  for (let i = 0; i < n; i++) {
    const o = <usize>i << 2;
    const m: f32 = keep_bits(seed, i) >= thr ? scale : 0;
    store<f32>(mask + o, m);
    store<f32>(out + o, load<f32>(inp + o) * m);
  }
}

/** Inverts `out = inp * mask`: dinp[i] += dout[i] * mask[i]. */
export function dropout_backward(dinp: usize, dout: usize, mask: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    v128.store(dinp + o, f32x4.add(v128.load(dinp + o), f32x4.mul(v128.load(dout + o), v128.load(mask + o))));
  }
  dropout_backward_naive(dinp + (<usize>i << 2), dout + (<usize>i << 2), mask + (<usize>i << 2), n - i);
}

export function dropout_backward_naive(dinp: usize, dout: usize, mask: usize, n: i32): void {
  for (let i = 0; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(dinp + o, load<f32>(dinp + o) + load<f32>(dout + o) * load<f32>(mask + o));
  }
}

/**
 * The keep-mask alone: mask[i] = keep(seed, i) ? 1/(1-p) : 0, the same bits as dropout_forward's mask.
 * The host applies it per utterance (seed per utterance, index restarting at each utterance's first
 * element), so that a mask does not depend on which other utterances share the batch: data-parallel
 * shards then see the masks of the whole batch (src/model/encoder.ts, src/train/parallel.ts).
 */
export function dropout_mask(mask: usize, n: i32, p: f32, seed: u32): void {
  const thr = threshold(p);
  const scale: f32 = p >= 1 ? 0 : 1 / (1 - p);
  const sv = f32x4.splat(scale);
  const tv = i32x4.splat(thr);
  const hi = i64x2.splat(<i64>seed << 32);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const z = mix2(v128.or(hi, i64x2(<i64>(i >> 1), <i64>((i >> 1) + 1))));
    const u = i32x4.shr_u(i8x16.shuffle(z, z, 4, 5, 6, 7, 0, 1, 2, 3, 12, 13, 14, 15, 8, 9, 10, 11), 8);
    v128.store(mask + (<usize>i << 2), v128.and(sv, i32x4.ge_u(u, tv)));
  }
  for (; i < n; i++) store<f32>(mask + (<usize>i << 2), keep_bits(seed, i) >= thr ? scale : 0);
}

export function dropout_mask_naive(mask: usize, n: i32, p: f32, seed: u32): void {
  const thr = threshold(p);
  const scale: f32 = p >= 1 ? 0 : 1 / (1 - p);
  for (let i = 0; i < n; i++) store<f32>(mask + (<usize>i << 2), keep_bits(seed, i) >= thr ? scale : 0);
}
