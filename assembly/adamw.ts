// AdamW (decoupled weight decay) over a flat f32 region: one fused pass per step.
//
// The semantics are torch.optim.AdamW's single-tensor path in torch 1.13 (amsgrad and maximize off):
// decay first, p *= 1 - lr * weight_decay, then Adam with both bias corrections and eps added after
// the square root has been divided by sqrt(1 - beta2^t). It is not ScaledAdam (scaled_adam.ts) and
// has no per-tensor behaviour: every element of the region gets the same hyperparameters. The
// reference is test/fixtures/adamw.json (test/ref/optim.py). Known error: FMA in the relaxed build,
// and sqrt(v) is multiplied by 1/sqrt(1 - beta2^t) (one division fewer per element) where torch
// divides by sqrt(1 - beta2^t): a few ulp per step.

// @ts-ignore: decorator
@inline
function madd(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) {
    return f32x4.relaxed_madd(a, b, c);
  } else {
    return f32x4.add(f32x4.mul(a, b), c);
  }
}

/**
 * One AdamW step over n floats of params, exp_avg, exp_avg_sq and grads (one layout), in place.
 * `step` counts from 0; with t = step + 1:
 *   p  = p * (1 - lr * weight_decay)
 *   m  = beta1 * m + (1 - beta1) * g;   v = beta2 * v + (1 - beta2) * g^2
 *   p += -(lr / (1 - beta1^t)) * m / (sqrt(v) * (1 / sqrt(1 - beta2^t)) + eps)
 */
export function adamw_update(
  params: usize, exp_avg: usize, exp_avg_sq: usize, grads: usize,
  lr: f64, beta1: f64, beta2: f64, eps: f64, weight_decay: f64, step: i32, n: i32,
): void {
  const t = <f64>(step + 1);
  const decay = f32x4.splat(<f32>(1.0 - lr * weight_decay));
  const b1 = f32x4.splat(<f32>beta1), omb1 = f32x4.splat(<f32>(1.0 - beta1));
  const b2 = f32x4.splat(<f32>beta2), omb2 = f32x4.splat(<f32>(1.0 - beta2));
  const neg_step = f32x4.splat(<f32>(-lr / (1.0 - Math.pow(beta1, t))));
  const inv_bc2_sqrt = f32x4.splat(<f32>(1.0 / Math.sqrt(1.0 - Math.pow(beta2, t))));
  const veps = f32x4.splat(<f32>eps);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    const g = v128.load(grads + o);
    const p = f32x4.mul(v128.load(params + o), decay);
    const m = madd(omb1, g, f32x4.mul(v128.load(exp_avg + o), b1));
    const v = madd(f32x4.mul(omb2, g), g, f32x4.mul(v128.load(exp_avg_sq + o), b2));
    v128.store(exp_avg + o, m);
    v128.store(exp_avg_sq + o, v);
    const denom = madd(f32x4.sqrt(v), inv_bc2_sqrt, veps);
    v128.store(params + o, madd(neg_step, f32x4.div(m, denom), p));
  }
  const o = <usize>i << 2;
  adamw_update_naive(params + o, exp_avg + o, exp_avg_sq + o, grads + o, lr, beta1, beta2, eps, weight_decay, step, n - i);
}

/** The scalar twin of adamw_update (also its tail). */
export function adamw_update_naive(
  params: usize, exp_avg: usize, exp_avg_sq: usize, grads: usize,
  lr: f64, beta1: f64, beta2: f64, eps: f64, weight_decay: f64, step: i32, n: i32,
): void {
  const t = <f64>(step + 1);
  const decay = <f32>(1.0 - lr * weight_decay);
  const b1 = <f32>beta1, omb1 = <f32>(1.0 - beta1), b2 = <f32>beta2, omb2 = <f32>(1.0 - beta2);
  const neg_step = <f32>(-lr / (1.0 - Math.pow(beta1, t)));
  const inv_bc2_sqrt = <f32>(1.0 / Math.sqrt(1.0 - Math.pow(beta2, t)));
  for (let i = 0; i < n; i++) {
    const o = <usize>i << 2;
    const g = load<f32>(grads + o);
    const p = load<f32>(params + o) * decay;
    const m = load<f32>(exp_avg + o) * b1 + omb1 * g;
    const v = load<f32>(exp_avg_sq + o) * b2 + omb2 * g * g;
    store<f32>(exp_avg + o, m);
    store<f32>(exp_avg_sq + o, v);
    store<f32>(params + o, p + neg_step * (m / (Mathf.sqrt(v) * inv_bc2_sqrt + <f32>eps)));
  }
}
