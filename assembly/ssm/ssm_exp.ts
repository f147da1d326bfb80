// SIMD exp and sigmoid on 4 f32 lanes, for the MH-SSM gating (ssm_gate.ts).
//
// What it is: exp by Cody-Waite range reduction (x = k·ln2 + r, |r| <= ln2/2) and Cephes expf's
// degree-6 polynomial for exp(r), scaled by 2^k through the exponent bits; inputs are clamped to
// [-87, 88] so 2^k stays a normal float (exp(-87) = 1.6e-38; results past the clamp saturate).
// Error: about 1 ulp (assembly/__tests__/ssm_exp.spec.ts: measured 1.1e-7 relative over [-87, 88]).
// What it is not: exported from the engine (v128 cannot cross to JS); imported by kernels only.
// Kept in the MH-SSM family so it does not collide with a general elementwise library; merge later.

// @ts-ignore: decorator
@inline
function madd(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, c);
  return f32x4.add(f32x4.mul(a, b), c);
}

/** exp on 4 lanes: x = k·ln2 + r, |r| <= ln2/2, exp(r) by polynomial, times 2^k via the exponent bits. */
// @ts-ignore: decorator
@inline
export function exp_f32x4(x: v128): v128 {
  x = f32x4.max(f32x4.min(x, f32x4.splat(88.0)), f32x4.splat(-87.0)); // keeps 2^k a normal float
  const k = f32x4.nearest(f32x4.mul(x, f32x4.splat(1.44269504089)));
  let r = madd(k, f32x4.splat(-0.693359375), x); // ln2 split in two parts (Cody-Waite)
  r = madd(k, f32x4.splat(2.12194440e-4), r);
  let p = f32x4.splat(1.9875691500e-4);
  p = madd(p, r, f32x4.splat(1.3981999507e-3));
  p = madd(p, r, f32x4.splat(8.3334519073e-3));
  p = madd(p, r, f32x4.splat(4.1665795894e-2));
  p = madd(p, r, f32x4.splat(1.6666665459e-1));
  p = madd(p, r, f32x4.splat(5.0000001201e-1));
  p = madd(p, f32x4.mul(r, r), f32x4.add(r, f32x4.splat(1)));
  const scale = i32x4.shl(i32x4.add(i32x4.trunc_sat_f32x4_s(k), i32x4.splat(127)), 23);
  return f32x4.mul(p, scale);
}

// @ts-ignore: decorator
@inline
export function sigmoid_f32x4(x: v128): v128 {
  const one = f32x4.splat(1);
  return f32x4.div(one, f32x4.add(one, exp_f32x4(f32x4.neg(x))));
}
