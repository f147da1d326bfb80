// ScaledAdam's scalar helpers: the learned-scale step of one tensor and the blocked f32 dot product.
//
// Internals of scaled_adam.ts, kept apart so that as-pect can test them without making them WASM
// exports (assembly/index.ts does not list this file). They are not kernels of their own. The
// reference is icefall's zipformer optim.py @ 36e0420c (scaling_step) and
// assembly/__tests__/scaled_adam_scale.spec.ts. Known error: f32 sums of P terms (P is small).

import { madd4 } from "../math";
/** Floats before the scale_grads ring in a tensor's state slot (see scaled_adam.ts). */
export const SLOT_HEADER: i32 = 4;
/** The f32 lanes of a dot product are folded into an f64 total every BLOCK elements. */
export const BLOCK: i32 = 256;

/** The address of float i of a region. */
// @ts-ignore: decorator
@inline
export function at(base: usize, i: i32): usize {
  return base + (<usize>i << 2);
}

/**
 * Sum of x[i] * y[i] over n floats: f32 lanes within blocks of BLOCK, f64 across blocks. Four
 * accumulators, so the loop is not bound by the latency of one chain of adds.
 */
export function dot_f32(x: usize, y: usize, n: i32): f64 {
  let total: f64 = 0;
  let i = 0;
  while (i + 4 <= n) {
    const end = min(n, i + BLOCK) & ~3;
    let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
    for (; i + 16 <= end; i += 16) {
      a0 = madd4(v128.load(at(x, i)), v128.load(at(y, i)), a0);
      a1 = madd4(v128.load(at(x, i + 4)), v128.load(at(y, i + 4)), a1);
      a2 = madd4(v128.load(at(x, i + 8)), v128.load(at(y, i + 8)), a2);
      a3 = madd4(v128.load(at(x, i + 12)), v128.load(at(y, i + 12)), a3);
    }
    for (; i < end; i += 4) a0 = madd4(v128.load(at(x, i)), v128.load(at(y, i)), a0);
    const acc = f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3));
    total += <f64>f32x4.extract_lane(acc, 0) + <f64>f32x4.extract_lane(acc, 1);
    total += <f64>f32x4.extract_lane(acc, 2) + <f64>f32x4.extract_lane(acc, 3);
  }
  for (; i < n; i++) total += <f64>(load<f32>(at(x, i)) * load<f32>(at(y, i)));
  return total;
}

/** The scalar twin of dot_f32: every product and sum in f64. */
export function dot_f32_naive(x: usize, y: usize, n: i32): f64 {
  let total: f64 = 0;
  for (let i = 0; i < n; i++) total += <f64>load<f32>(at(x, i)) * <f64>load<f32>(at(y, i));
  return total;
}

/**
 * The change of log-scale of one tensor (icefall scaling_step), from its state slot: slot[0] is
 * param_rms (already recomputed this step), slot[1] scale_exp_avg_sq (updated here), slot[4 .. 4+P)
 * the ring of sum(p * g) over the last P steps. With beta2_P = beta2^P and k = (step + 1) / P:
 *   scale_exp_avg_sq = beta2_P * scale_exp_avg_sq + (1 - beta2_P) * mean(ring^2)
 *   s = -size_lr * sqrt(1 - beta2_P^k) * sum(ring) / (sqrt(scale_exp_avg_sq) + eps)
 * then s = 0 when param_rms < param_min_rms, s clamped to [-0.1, 0.1], and s at most
 * (param_max_rms - param_rms) / param_rms, so the RMS never grows past param_max_rms.
 * The caller adds s * p to the update.
 */
export function size_step(
  slot: usize, size_lr: f64, beta2: f64, eps: f64, param_min_rms: f64, param_max_rms: f64, step: i32, P: i32,
): f32 {
  const beta2_corr = Math.pow(beta2, <f64>P);
  let sum: f32 = 0, sumsq: f32 = 0;
  for (let i = 0; i < P; i++) {
    const x = load<f32>(slot + (<usize>(SLOT_HEADER + i) << 2));
    sum += x;
    sumsq += x * x;
  }
  const avg = load<f32>(slot + 4) * <f32>beta2_corr + <f32>(1.0 - beta2_corr) * (sumsq / <f32>P);
  store<f32>(slot + 4, avg);
  const bias_correction2 = 1.0 - Math.pow(beta2_corr, <f64>((step + 1) / P));
  const denom = Mathf.sqrt(avg) + <f32>eps;
  let s = <f32>(-size_lr * Math.sqrt(bias_correction2)) * sum / denom;
  const rms = load<f32>(slot);
  if (rms < <f32>param_min_rms) s = 0;
  s = min(max(s, <f32>-0.1), <f32>0.1);
  return min(s, (<f32>param_max_rms - rms) / rms);
}
