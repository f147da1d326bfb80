// Vectorised transcendental functions on f32x4, shared by the activation, softmax and norm kernels.
//
// What it is: inline helpers (exp, sigmoid, tanh, the normal CDF) with their accuracy stated and
// tested through exported kernels (exp_forward, tanh_forward, ... in activation.ts) against float64
// Math.*. What it is not: a libm. Scalar code (naive twins, SIMD tails) uses AssemblyScript's Mathf,
// a port of musl's f32 functions. The polynomial coefficients are ours, fitted by
// test/ref/fit_simd_math.py (weighted Lawson fits of the relative error against float64 math).
//
// madd4(a, b, c) = a*b + c is one fused multiply-add in the relaxed-SIMD build and a rounded
// multiply then add in the plain build: the two builds can differ in the last ulp.

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

/**
 * exp(x), lane-wise. Cody-Waite range reduction x = n*ln2 + r with |r| <= ln2/2, then
 * exp(r) = 1 + r + r^2*P(r) with P of degree 4 (fit error 3e-9), then the scale 2^n applied as
 * two powers of two 2^(n>>1) * 2^(n - (n>>1)) so that results near FLT_MAX (x up to 88.72) and
 * subnormal results (x down to -103.9) come out right instead of overflowing the exponent field.
 * Measured max error 0.98 ulp for normal results over [-87.3, 88.72] (test/activation.test.ts). x >= 89 gives +inf (the exact value overflows
 * f32 too), x <= -104 gives 0, -inf gives 0, +inf gives +inf, NaN gives NaN.
 */
// @ts-ignore: decorator
@inline
export function exp4(x: v128): v128 {
  // Clamping keeps n and the exponent fields below in range. pmin/pmax are single instructions
  // (minps/maxps) and, with x as their first operand, pass NaN through.
  const xc = f32x4.pmax(f32x4.pmin(x, splat(89.0)), splat(-104.0));
  // n = round(x/ln2) by the 1.5*2^23 trick: adding it rounds to an integer (ties to even) and leaves
  // n in the low mantissa bits, so one add replaces nearest + trunc_sat.
  const t = madd4(xc, splat(1.44269504089), splat(12582912.0));
  const n = f32x4.sub(t, splat(12582912.0));
  const ni = i32x4.sub(t, i32x4.splat(0x4b400000)); // n as i32, in [-150, 129]
  // ln2 = LN2_HI + LN2_LO; LN2_HI has 9 significant bits, so n*LN2_HI is exact for |n| < 2^15.
  let r = madd4(n, splat(-0.693359375), xc);
  r = madd4(n, splat(2.12194440e-4), r);
  let p = splat(1.381461100e-3);
  p = madd4(p, r, splat(8.368710035e-3));
  p = madd4(p, r, splat(4.166838741e-2));
  p = madd4(p, r, splat(1.666652069e-1));
  p = madd4(p, r, splat(4.999999345e-1));
  p = madd4(p, f32x4.mul(r, r), r);
  p = f32x4.add(p, splat(1.0));
  const n1 = i32x4.shr_s(ni, 1);
  const n2 = i32x4.sub(ni, n1);
  const bias = i32x4.splat(127);
  const s1 = i32x4.shl(i32x4.add(n1, bias), 23);
  const s2 = i32x4.shl(i32x4.add(n2, bias), 23);
  return f32x4.mul(f32x4.mul(p, s1), s2);
}

/**
 * 1 / (1 + exp(-x)), lane-wise, as e/(1 + e) with e = exp(-|x|) for x < 0 so that the lower tail
 * keeps its relative accuracy down to the subnormals (x > -104) instead of flushing at x = -88.7.
 */
// @ts-ignore: decorator
@inline
export function sigmoid4(x: v128): v128 {
  const e = exp4(f32x4.neg(f32x4.abs(x)));
  const s = f32x4.div(splat(1.0), f32x4.add(splat(1.0), e));
  return v128.bitselect(f32x4.mul(e, s), s, f32x4.lt(x, splat(0.0)));
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
  let p = splat(-5.704990410e-3);
  p = madd4(p, z, splat(2.063909066e-2));
  p = madd4(p, z, splat(-5.373971628e-2));
  p = madd4(p, z, splat(1.333144222e-1));
  p = madd4(p, z, splat(-3.333328194e-1));
  const small = madd4(f32x4.mul(p, z), x, x);
  const e = exp4(f32x4.add(a, a));
  const big = f32x4.sub(splat(1.0), f32x4.div(splat(2.0), f32x4.add(e, splat(1.0))));
  const signed = v128.or(big, v128.and(x, i32x4.splat(0x80000000)));
  return v128.bitselect(small, signed, f32x4.lt(a, splat(0.625)));
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
  const z = f32x4.min(f32x4.mul(f32x4.abs(x), splat(0.70710678118)), splat(10.5));
  const t = f32x4.div(splat(1.0), madd4(z, splat(0.5), splat(1.0)));
  let p = splat(1.421994424e-1);
  p = madd4(p, t, splat(-6.660910123e-1));
  p = madd4(p, t, splat(1.122465736));
  p = madd4(p, t, splat(-6.513332041e-1));
  p = madd4(p, t, splat(-1.167188369e-1));
  p = madd4(p, t, splat(2.016036209e-2));
  p = madd4(p, t, splat(2.836888028e-2));
  p = madd4(p, t, splat(3.878973452e-1));
  p = madd4(p, t, splat(9.984927832e-1));
  p = madd4(p, t, splat(-1.265441451));
  const half_erfc = f32x4.mul(f32x4.mul(t, splat(0.5)), exp4(f32x4.sub(p, f32x4.mul(z, z))));
  return v128.bitselect(half_erfc, f32x4.sub(splat(1.0), half_erfc), f32x4.lt(x, splat(0.0)));
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
