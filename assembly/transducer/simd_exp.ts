// Private vectorised exp and tanh shared by the RNN-T loss and the joiner (inlined where used).
//
// What it is: f32x4 exp (Cephes expf: range reduction x = n ln2 + r, degree-6 polynomial, rel. error
// ~2e-7 over [-87.3, 88]; below 2^-126, incl. -inf, it returns 0) and tanh built on it. What it is not:
// the engine's general math library (assembly/simd_math.ts, another engineer's); merge when it lands.
// Not registered in assembly/index.ts: nothing here is a WASM export.

// @ts-ignore: decorator
@inline export function madd4(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, c);
  return f32x4.add(f32x4.mul(a, b), c);
}

/** exp on 4 lanes: 2^n * p(r), x = n ln2 + r, |r| <= ln2/2; x < -87.33 (incl. -inf) gives 0, x > 88 clamps. */
// @ts-ignore: decorator
@inline export function exp4(x: v128): v128 {
  const under = f32x4.lt(x, f32x4.splat(-87.33654));
  x = f32x4.max(f32x4.min(x, f32x4.splat(88.0)), f32x4.splat(-87.33654));
  const n = f32x4.nearest(f32x4.mul(x, f32x4.splat(1.44269504)));
  let r = madd4(n, f32x4.splat(-0.693359375), x); // ln2 split in two (Cephes C1, C2) for an exact r
  r = madd4(n, f32x4.splat(2.12194440e-4), r);
  let p = f32x4.splat(1.9875691500e-4);
  p = madd4(p, r, f32x4.splat(1.3981999507e-3));
  p = madd4(p, r, f32x4.splat(8.3334519073e-3));
  p = madd4(p, r, f32x4.splat(4.1665795894e-2));
  p = madd4(p, r, f32x4.splat(1.6666665459e-1));
  p = madd4(p, r, f32x4.splat(5.0000001201e-1));
  p = madd4(p, f32x4.mul(r, r), f32x4.add(r, f32x4.splat(1.0)));
  const scale = i32x4.shl(i32x4.add(i32x4.trunc_sat_f32x4_s(n), i32x4.splat(127)), 23);
  return v128.andnot(f32x4.mul(p, scale), under);
}

/**
 * tanh on 4 lanes: sign(x) * (1 - 2 / (exp(2|x|) + 1)). Absolute error ~2e-7 everywhere (relative
 * error grows for |x| < 1e-3, where tanh x ~ x is below the absolute error's scale); exact ±1 beyond |x| ~ 9.
 */
// @ts-ignore: decorator
@inline export function tanh4(x: v128): v128 {
  const ax = f32x4.abs(x);
  const e = exp4(f32x4.add(ax, ax));
  const t = f32x4.sub(f32x4.splat(1.0), f32x4.div(f32x4.splat(2.0), f32x4.add(e, f32x4.splat(1.0))));
  return v128.or(t, v128.and(x, i32x4.splat(0x80000000))); // copy the sign of x
}
