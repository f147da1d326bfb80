// Scalar math shared by kernels: numerically careful helpers, inlined where they are used.

/** log(exp(a) + exp(b)) without overflow; -inf on both sides gives -inf (not NaN). */
// @ts-ignore: decorator
@inline
export function log_add_exp(a: f32, b: f32): f32 {
  if (a == -Infinity) return b;
  if (b == -Infinity) return a;
  const m = a > b ? a : b;
  return m + Mathf.log1p(Mathf.exp(-Mathf.abs(a - b)));
}
