// The engine's inline math, the one place for it: the f32x4 fused multiply-add and the vector
// transcendental functions (exp4, sigmoid4, tanh4, the normal CDF) that every SIMD kernel uses, and
// the scalar helpers beside them (log_add_exp, normal_cdf), and the losses' row helpers (logsumexp_row,
// scaled_exp_row, each with its scalar twin). Everything here is @inline: nothing is a
// WASM export (v128 cannot cross to JS); kernels import what they need.
//
// What it is not: a libm. Scalar code (naive twins, SIMD tails) uses AssemblyScript's Mathf, a port of
// musl's f32 functions. The polynomial coefficients are ours, fitted by test/ref/fit_simd_math.py
// (weighted Lawson fits of the relative error against float64 math).
// Tested: assembly/__tests__/math.spec.ts (exp4, sigmoid4, tanh4 lane by lane against scalar Math.*,
// the special values and the underflow policy) and test/activation.test.ts (through exp_forward,
// sigmoid_forward, tanh_forward, gelu_forward against float64 references).
//
// madd4(a, b, c) = a*b + c is one fused multiply-add in the relaxed-SIMD build and a rounded
// multiply then add in the plain build: the two builds can differ in the last ulp.
//
// Special values of exp4 (the policy every kernel now shares): exp4(-inf) = 0, exp4(+inf) = +inf,
// exp4(NaN) = NaN; x >= 89 gives +inf (exp(x) overflows f32); results below 2^-126 are subnormal and
// graded (gradual underflow, absolute error within 2^-148), down to x = -104, below which they are 0.
// Subnormals are kept rather than flushed because exp_forward is an exported op that promises them; a
// kernel that only sums or multiplies exp4 results (softmax, the losses) sees values < 1.2e-38 either way.

// @ts-ignore: decorator
@inline
export function madd4(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) {
    return f32x4.relaxed_madd(a, b, c);
  } else {
    return f32x4.add(f32x4.mul(a, b), c);
  }
}

// @ts-ignore: decorator
@inline
export function splat(x: f32): v128 {
  return f32x4.splat(x);
}

// Lane-splatted constants in a static data segment. V8 builds every v128.const inside a loop with
// several instructions, while loading one from memory is a single instruction that can feed the
// arithmetic directly: measured 1.5x faster exp4 on this machine.
const KTAB: usize = memory.data<f32>([
  1.0, 1.0, 1.0, 1.0, // 0 ONE
  2.0, 2.0, 2.0, 2.0, // 1 TWO
  0.5, 0.5, 0.5, 0.5, // 2 HALF
  89.0, 89.0, 89.0, 89.0, // 3 EXP_HI
  -104.0, -104.0, -104.0, -104.0, // 4 EXP_LO
  1.44269504089, 1.44269504089, 1.44269504089, 1.44269504089, // 5 LOG2E
  12582912.0, 12582912.0, 12582912.0, 12582912.0, // 6 MAGIC
  -0.693359375, -0.693359375, -0.693359375, -0.693359375, // 7 NLN2_HI
  2.12194440e-4, 2.12194440e-4, 2.12194440e-4, 2.12194440e-4, // 8 NLN2_LO
  1.381461100e-3, 1.381461100e-3, 1.381461100e-3, 1.381461100e-3, // 9 E4
  8.368710035e-3, 8.368710035e-3, 8.368710035e-3, 8.368710035e-3, // 10 E3
  4.166838741e-2, 4.166838741e-2, 4.166838741e-2, 4.166838741e-2, // 11 E2
  1.666652069e-1, 1.666652069e-1, 1.666652069e-1, 1.666652069e-1, // 12 E1
  4.999999345e-1, 4.999999345e-1, 4.999999345e-1, 4.999999345e-1, // 13 E0
  -5.704990410e-3, -5.704990410e-3, -5.704990410e-3, -5.704990410e-3, // 14 T4
  2.063909066e-2, 2.063909066e-2, 2.063909066e-2, 2.063909066e-2, // 15 T3
  -5.373971628e-2, -5.373971628e-2, -5.373971628e-2, -5.373971628e-2, // 16 T2
  1.333144222e-1, 1.333144222e-1, 1.333144222e-1, 1.333144222e-1, // 17 T1
  -3.333328194e-1, -3.333328194e-1, -3.333328194e-1, -3.333328194e-1, // 18 T0
  0.625, 0.625, 0.625, 0.625, // 19 TANH_SPLIT
  0.70710678118, 0.70710678118, 0.70710678118, 0.70710678118, // 20 SQRT1_2
  10.5, 10.5, 10.5, 10.5, // 21 Z_MAX
  1.421994424e-1, 1.421994424e-1, 1.421994424e-1, 1.421994424e-1, // 22 C9
  -6.660910123e-1, -6.660910123e-1, -6.660910123e-1, -6.660910123e-1, // 23 C8
  1.122465736, 1.122465736, 1.122465736, 1.122465736, // 24 C7
  -6.513332041e-1, -6.513332041e-1, -6.513332041e-1, -6.513332041e-1, // 25 C6
  -1.167188369e-1, -1.167188369e-1, -1.167188369e-1, -1.167188369e-1, // 26 C5
  2.016036209e-2, 2.016036209e-2, 2.016036209e-2, 2.016036209e-2, // 27 C4
  2.836888028e-2, 2.836888028e-2, 2.836888028e-2, 2.836888028e-2, // 28 C3
  3.878973452e-1, 3.878973452e-1, 3.878973452e-1, 3.878973452e-1, // 29 C2
  9.984927832e-1, 9.984927832e-1, 9.984927832e-1, 9.984927832e-1, // 30 C1
  -1.265441451, -1.265441451, -1.265441451, -1.265441451, // 31 C0
  1.5957691216, 1.5957691216, 1.5957691216, 1.5957691216, // 32 GELU_2K0 = 2 sqrt(2/pi)
  0.044715, 0.044715, 0.044715, 0.044715, // 33 GELU_K1
  0.2140644488, 0.2140644488, 0.2140644488, 0.2140644488, // 34 GELU_6K0K1 = 2 sqrt(2/pi) * 3 * 0.044715
  0.3989422804, 0.3989422804, 0.3989422804, 0.3989422804, // 35 INV_SQRT_2PI
  -0.5, -0.5, -0.5, -0.5, // 36 NEG_HALF
  100.0, 100.0, 100.0, 100.0, // 37 X_SAT
  -100.0, -100.0, -100.0, -100.0, // 38 NEG_X_SAT
  -0.0, -0.0, -0.0, -0.0, // 39 SIGN: the sign bit alone
  1.8446744073709552e19, 1.8446744073709552e19, 1.8446744073709552e19, 1.8446744073709552e19, // 40 P64 = 2^64
  5.421010862427522e-20, 5.421010862427522e-20, 5.421010862427522e-20, 5.421010862427522e-20, // 41 M64 = 2^-64
], 16);
export const ONE = 0;
const TWO = 1;
const HALF = 2;
const EXP_HI = 3;
const EXP_LO = 4;
const LOG2E = 5;
const MAGIC = 6;
const NLN2_HI = 7;
const NLN2_LO = 8;
const E4 = 9;
const E3 = 10;
const E2 = 11;
const E1 = 12;
const E0 = 13;
const T4 = 14;
const T3 = 15;
const T2 = 16;
const T1 = 17;
const T0 = 18;
const TANH_SPLIT = 19;
const SQRT1_2 = 20;
const Z_MAX = 21;
const C9 = 22;
const C8 = 23;
const C7 = 24;
const C6 = 25;
const C5 = 26;
const C4 = 27;
const C3 = 28;
const C2 = 29;
const C1 = 30;
const C0 = 31;
export const GELU_2K0 = 32;
export const GELU_K1 = 33;
export const GELU_6K0K1 = 34;
export const INV_SQRT_2PI = 35;
export const NEG_HALF = 36;
export const X_SAT = 37;
export const NEG_X_SAT = 38;
const SIGN = 39;
const P64 = 40;
const M64 = 41;

// @ts-ignore: decorator
@inline
export function kv(i: i32): v128 {
  return v128.load(KTAB + (<usize>i << 4));
}

/**
 * The shared core of exp4 and sigmoid4: for xc already clamped to [-104, 89], t = xc·log2(e) + 1.5·2^23
 * (n = round(x/ln2) sits in t's low mantissa bits: one add replaces nearest + trunc_sat, ties to even;
 * `i32x4.sub(t, MAGIC)` is n as i32, in [-150, 129]) and this returns p = exp(r) in [0.70, 1.42], with
 * the Cody-Waite reduction x = n·ln2 + r, |r| <= ln2/2, and exp(r) = 1 + r + r^2·P(r), P of degree 4
 * (fit error 3e-9). The caller scales p by 2^n.
 */
// @ts-ignore: decorator
@inline
function exp_core(xc: v128, t: v128): v128 {
  const n = f32x4.sub(t, kv(MAGIC));
  // ln2 = LN2_HI + LN2_LO; LN2_HI has 9 significant bits, so n*LN2_HI is exact for |n| < 2^15.
  let r = madd4(n, kv(NLN2_HI), xc);
  r = madd4(n, kv(NLN2_LO), r);
  let p = madd4(kv(E4), r, kv(E3));
  p = madd4(p, r, kv(E2));
  p = madd4(p, r, kv(E1));
  p = madd4(p, r, kv(E0));
  p = madd4(p, f32x4.mul(r, r), r);
  return f32x4.add(p, kv(ONE));
}

/**
 * exp(x), lane-wise: p·2^n from exp_core, the scale applied as two powers of two 2^(n>>1)·2^(n - (n>>1))
 * so that results near FLT_MAX (x up to 88.72) and subnormal results (x down to -103.9) come out
 * right instead of overflowing the exponent field; the product p·2^(n>>1) is exact, so the result is
 * p·2^n rounded once. Measured max error 0.98 ulp for normal results over [-87.3, 88.72]
 * (test/activation.test.ts). x >= 89 gives +inf (the exact value overflows f32 too), x <= -104
 * gives 0, -inf gives 0, +inf gives +inf, NaN gives NaN (see the header for the policy).
 */
// @ts-ignore: decorator
@inline
export function exp4(x: v128): v128 {
  // pmin/pmax are single instructions (minps/maxps) and, with x as their first operand, pass NaN through.
  const xc = f32x4.pmax(f32x4.pmin(x, kv(EXP_HI)), kv(EXP_LO));
  const t = madd4(xc, kv(LOG2E), kv(MAGIC));
  const p = exp_core(xc, t);
  const ni = i32x4.sub(t, kv(MAGIC));
  // 2^k as bits is (k + 127) << 23 = (k << 23) + bits(1.0f).
  const n1 = i32x4.shr_s(ni, 1);
  const n2 = i32x4.sub(ni, n1);
  const s1 = i32x4.add(i32x4.shl(n1, 23), kv(ONE));
  const s2 = i32x4.add(i32x4.shl(n2, 23), kv(ONE));
  return f32x4.mul(f32x4.mul(p, s1), s2);
}

/**
 * 1 / (1 + exp(-x)), lane-wise, as e·s, s = 1/(1 + e), e = exp(-|x|) for x < 0 (and s for x >= 0), so the
 * lower tail keeps its relative accuracy down to the subnormals (x > -104) instead of flushing at
 * x = -88.7; a few ulp (test/activation.test.ts). NaN gives NaN.
 * e is exp4(-|x|) bit for bit, computed cheaper because its argument is <= 0 (n in [-150, 0]): no upper
 * clamp, and the scale as p·2^(n+64) (exact, a normal float) times 2^-64 (the one rounding, as in
 * exp4) instead of exp4's two-part scale: four vector ops fewer (the fused SiLU is throughput bound on
 * them). -|x| is x with its sign bit set (one OR) and the final choice is a mask of x's sign bit (one
 * blend in the relaxed build; x = -0 picks e·s = 0.5 = s, the same as x < 0 would).
 */
// @ts-ignore: decorator
@inline
export function sigmoid4(x: v128): v128 {
  const xc = f32x4.pmax(v128.or(x, kv(SIGN)), kv(EXP_LO)); // -|x|, clamped as in exp4
  const t = madd4(xc, kv(LOG2E), kv(MAGIC));
  const p = exp_core(xc, t);
  const ni = i32x4.sub(t, kv(MAGIC));
  const e = f32x4.mul(f32x4.mul(p, i32x4.add(i32x4.shl(ni, 23), kv(P64))), kv(M64)); // exp(-|x|)
  const s = f32x4.div(kv(ONE), f32x4.add(kv(ONE), e));
  const neg = i32x4.shr_s(x, 31);
  if (ASC_FEATURE_RELAXED_SIMD) return i32x4.relaxed_laneselect(f32x4.mul(e, s), s, neg);
  return v128.bitselect(f32x4.mul(e, s), s, neg);
}

/**
 * tanh(x), lane-wise. |x| < 0.625: x + x^3*P(x^2) with P of degree 4 (fit error 4e-9), which keeps
 * the relative accuracy near 0; otherwise sign(x) * (1 - 2/(exp(2|x|) + 1)), which saturates to
 * +-1 without NaN. About 2 ulp.
 */
// @ts-ignore: decorator
@inline
export function tanh4(x: v128): v128 {
  const a = f32x4.abs(x);
  const z = f32x4.mul(x, x);
  let p = madd4(kv(T4), z, kv(T3));
  p = madd4(p, z, kv(T2));
  p = madd4(p, z, kv(T1));
  p = madd4(p, z, kv(T0));
  const small = madd4(f32x4.mul(p, z), x, x);
  const e = exp4(f32x4.add(a, a));
  const big = f32x4.sub(kv(ONE), f32x4.div(kv(TWO), f32x4.add(e, kv(ONE))));
  const signed = v128.or(big, v128.andnot(x, a)); // x & ~|x| is x's sign bit
  return v128.bitselect(small, signed, f32x4.lt(a, kv(TANH_SPLIT)));
}

/**
 * The standard normal CDF Phi(x) = erfc(-x/sqrt2)/2, lane-wise. With z = |x|/sqrt2 and
 * t = 1/(1 + z/2): erfc(z) = t * exp(-z^2 + P(t)), P of degree 9 (the form of Numerical Recipes'
 * erfcc; our fit, relative error 5e-8 in float64). Phi(x) = erfc(z)/2 for x < 0 (relative accuracy
 * in the lower tail) and 1 - erfc(z)/2 for x >= 0. In the lower tail the f32 roundings of z and
 * z^2 move the exponent: measured relative error 4.3e-7 + 1.6e-7 x^2 (4e-6 at x = -5); a couple of
 * ulp for x >= 1 (up to 4e-7 relative near 0, where Phi is about 1/2).
 */
// @ts-ignore: decorator
@inline
export function normal_cdf4(x: v128): v128 {
  const z = f32x4.pmin(f32x4.mul(f32x4.abs(x), kv(SQRT1_2)), kv(Z_MAX));
  const t = f32x4.div(kv(ONE), madd4(z, kv(HALF), kv(ONE)));
  let p = madd4(kv(C9), t, kv(C8));
  p = madd4(p, t, kv(C7));
  p = madd4(p, t, kv(C6));
  p = madd4(p, t, kv(C5));
  p = madd4(p, t, kv(C4));
  p = madd4(p, t, kv(C3));
  p = madd4(p, t, kv(C2));
  p = madd4(p, t, kv(C1));
  p = madd4(p, t, kv(C0));
  const half_erfc = f32x4.mul(f32x4.mul(t, kv(HALF)), exp4(f32x4.sub(p, f32x4.mul(z, z))));
  return v128.bitselect(half_erfc, f32x4.sub(kv(ONE), half_erfc), f32x4.lt(x, f32x4.splat(0)));
}

/** Phi(x) for one f32, the same formula as normal_cdf4 in f64 (for naive twins and SIMD tails). */
export function normal_cdf(x: f32): f32 {
  // Mathf has no erf; compute in f64 with the same rational form, accurate to about 5e-8 relative.
  const z = Math.min(Math.abs(<f64>x) * 0.7071067811865476, 10.5);
  const t = 1.0 / (1.0 + 0.5 * z);
  let p = 1.421994424e-1;
  p = p * t - 6.660910123e-1;
  p = p * t + 1.122465736;
  p = p * t - 6.513332041e-1;
  p = p * t - 1.167188369e-1;
  p = p * t + 2.016036209e-2;
  p = p * t + 2.836888028e-2;
  p = p * t + 3.878973452e-1;
  p = p * t + 9.984927832e-1;
  p = p * t - 1.265441451;
  const half_erfc = 0.5 * t * Math.exp(p - z * z);
  return <f32>(x < 0 ? half_erfc : 1.0 - half_erfc);
}

/** σ(x) for one f32 (naive twins, SIMD tails): 1/(1 + e^-x), or e^x/(1 + e^x) below 0 (no overflow). */
// @ts-ignore: decorator
@inline
export function sigmoid1(x: f32): f32 {
  if (x >= 0) return 1.0 / (1.0 + Mathf.exp(-x));
  const e = Mathf.exp(x);
  return e / (1.0 + e);
}

/** The sum of v's four lanes, paired as (l0 + l1) + (l2 + l3). */
// @ts-ignore: decorator
@inline
export function hsum4(v: v128): f32 {
  return (f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1)) + (f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3));
}

/** log(exp(a) + exp(b)) without overflow; -inf on both sides gives -inf (not NaN). */
// @ts-ignore: decorator
@inline
export function log_add_exp(a: f32, b: f32): f32 {
  if (a == -Infinity) return b;
  if (b == -Infinity) return a;
  const m = a > b ? a : b;
  return m + Mathf.log1p(Mathf.exp(-Mathf.abs(a - b)));
}

/**
 * log Σ_k exp(z[k]) over one row of V f32 logits (the losses' fused log-softmax): the max, then the sum of
 * exp(z - max) in four lanes added as ((l0 + l1) + l2) + l3, then the scalar tail. naive: the scalar twin,
 * one pass each in index order.
 */
// @ts-ignore: decorator
@inline
export function logsumexp_row(z: usize, V: i32, naive: bool): f32 {
  let m: f32 = -Infinity, k = 0;
  if (!naive) {
    let vm = f32x4.splat(-Infinity);
    for (; k + 4 <= V; k += 4) vm = f32x4.max(vm, v128.load(z + (<usize>k << 2)));
    m = max(max(f32x4.extract_lane(vm, 0), f32x4.extract_lane(vm, 1)), max(f32x4.extract_lane(vm, 2), f32x4.extract_lane(vm, 3)));
  }
  for (; k < V; k++) m = max(m, load<f32>(z + (<usize>k << 2)));
  let s: f32 = 0;
  k = 0;
  if (!naive) {
    const vmax = f32x4.splat(m);
    let vs = f32x4.splat(0);
    for (; k + 4 <= V; k += 4) vs = f32x4.add(vs, exp4(f32x4.sub(v128.load(z + (<usize>k << 2)), vmax)));
    s = f32x4.extract_lane(vs, 0) + f32x4.extract_lane(vs, 1) + f32x4.extract_lane(vs, 2) + f32x4.extract_lane(vs, 3);
  }
  for (; k < V; k++) s += Mathf.exp(load<f32>(z + (<usize>k << 2)) - m);
  return m + Mathf.log(s);
}

/**
 * d[k] = scale·exp(z[k] + c) (inplace) or d[k] += scale·exp(z[k] + c), k < V: the softmax part of a fused
 * log-softmax loss's gradient (c = α + β - log P - lnorm). naive: the scalar twin.
 */
// @ts-ignore: decorator
@inline
export function scaled_exp_row(d: usize, z: usize, V: i32, c: f32, scale: f32, inplace: bool, naive: bool): void {
  let k = 0;
  if (!naive) {
    const vc = f32x4.splat(c), vs = f32x4.splat(scale);
    for (; k + 4 <= V; k += 4) {
      const g = f32x4.mul(vs, exp4(f32x4.add(v128.load(z + (<usize>k << 2)), vc)));
      v128.store(d + (<usize>k << 2), inplace ? g : f32x4.add(v128.load(d + (<usize>k << 2)), g));
    }
  }
  for (; k < V; k++) {
    const g = scale * Mathf.exp(load<f32>(z + (<usize>k << 2)) + c);
    store<f32>(d + (<usize>k << 2), inplace ? g : load<f32>(d + (<usize>k << 2)) + g);
  }
}
