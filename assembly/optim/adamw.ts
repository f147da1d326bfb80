// AdamW (decoupled weight decay) over a flat f32 region: one fused pass per step.
//
// The semantics are torch.optim.AdamW's single-tensor path in torch 1.13 (amsgrad and maximize off):
// decay first, p *= 1 - lr * weight_decay, then Adam with both bias corrections and eps added after
// the square root has been divided by sqrt(1 - beta2^t). It is not ScaledAdam (scaled_adam.ts) and
// has no per-tensor behaviour: every element of the region gets the same hyperparameters. The
// reference is test/fixtures/adamw.json (test/ref/optim.py). Known error: FMA in the relaxed build,
// and sqrt(v) is multiplied by 1/sqrt(1 - beta2^t) (one division fewer per element) where torch
// divides by sqrt(1 - beta2^t): a few ulp per step.

import { madd4 } from "../math";
import { mem_alloc } from "../memory";

// Per-step constants, f32, stored by adamw_update and read back with v128.load32_splat: a load pins
// them before the loop (V8's TurboFan otherwise recomputed an f64 division and square root inside
// the loop and the step ran 2x slower). Permanent scratch taken at module start.
const K: usize = mem_alloc(64);
const K_DECAY = 0, K_B1 = 4, K_OMB1 = 8, K_B2 = 12, K_OMB2 = 16, K_NEG_STEP = 20, K_INV_BC2_SQRT = 24, K_EPS = 28;

// @ts-ignore: decorator
@inline
function kf(at_: i32): f32 {
  return load<f32>(K + <usize>at_);
}

// @ts-ignore: decorator
@inline
function kv(at_: i32): v128 {
  return v128.load32_splat(K + <usize>at_);
}

/** Stores the constants of step `step` (from 0) into K. */
function set_constants(lr: f64, beta1: f64, beta2: f64, eps: f64, weight_decay: f64, step: i32): void {
  const t = <f64>(step + 1);
  store<f32>(K + K_DECAY, <f32>(1.0 - lr * weight_decay));
  store<f32>(K + K_B1, <f32>beta1);
  store<f32>(K + K_OMB1, <f32>(1.0 - beta1));
  store<f32>(K + K_B2, <f32>beta2);
  store<f32>(K + K_OMB2, <f32>(1.0 - beta2));
  store<f32>(K + K_NEG_STEP, <f32>(-lr / (1.0 - Math.pow(beta1, t))));
  store<f32>(K + K_INV_BC2_SQRT, <f32>(1.0 / Math.sqrt(1.0 - Math.pow(beta2, t))));
  store<f32>(K + K_EPS, <f32>eps);
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
  set_constants(lr, beta1, beta2, eps, weight_decay, step);
  const decay = kv(K_DECAY), b1 = kv(K_B1), omb1 = kv(K_OMB1), b2 = kv(K_B2), omb2 = kv(K_OMB2);
  const neg_step = kv(K_NEG_STEP), inv_bc2_sqrt = kv(K_INV_BC2_SQRT), veps = kv(K_EPS);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    const g = v128.load(grads + o);
    const p = f32x4.mul(v128.load(params + o), decay);
    const m = madd4(omb1, g, f32x4.mul(v128.load(exp_avg + o), b1));
    const v = madd4(f32x4.mul(omb2, g), g, f32x4.mul(v128.load(exp_avg_sq + o), b2));
    v128.store(exp_avg + o, m);
    v128.store(exp_avg_sq + o, v);
    const denom = madd4(f32x4.sqrt(v), inv_bc2_sqrt, veps);
    v128.store(params + o, madd4(neg_step, f32x4.div(m, denom), p));
  }
  const o = <usize>i << 2;
  update_naive(params + o, exp_avg + o, exp_avg_sq + o, grads + o, n - i);
}

/** The scalar twin of adamw_update. */
export function adamw_update_naive(
  params: usize, exp_avg: usize, exp_avg_sq: usize, grads: usize,
  lr: f64, beta1: f64, beta2: f64, eps: f64, weight_decay: f64, step: i32, n: i32,
): void {
  set_constants(lr, beta1, beta2, eps, weight_decay, step);
  update_naive(params, exp_avg, exp_avg_sq, grads, n);
}

/** The scalar loop (the twin, and the SIMD loop's tail), with the constants in K. */
function update_naive(params: usize, exp_avg: usize, exp_avg_sq: usize, grads: usize, n: i32): void {
  const decay = kf(K_DECAY), b1 = kf(K_B1), omb1 = kf(K_OMB1), b2 = kf(K_B2), omb2 = kf(K_OMB2);
  const neg_step = kf(K_NEG_STEP), inv_bc2_sqrt = kf(K_INV_BC2_SQRT), eps = kf(K_EPS);
  for (let i = 0; i < n; i++) {
    const o = <usize>i << 2;
    const g = load<f32>(grads + o);
    const p = load<f32>(params + o) * decay;
    const m = load<f32>(exp_avg + o) * b1 + omb1 * g;
    const v = load<f32>(exp_avg_sq + o) * b2 + omb2 * g * g;
    store<f32>(exp_avg + o, m);
    store<f32>(exp_avg_sq + o, v);
    store<f32>(params + o, p + neg_step * (m / (Mathf.sqrt(v) * inv_bc2_sqrt + eps)));
  }
}
