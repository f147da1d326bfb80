// ScaledAdam over a flat parameter region: the optimizer of the training loop, two kernels per step.
//
// This is icefall's ScaledAdam (egs/librispeech/ASR/zipformer/optim.py at commit 36e0420c, the
// refactored version of December 2024), written from its semantics: Adam steps (beta2 only, bias
// corrected) multiplied by each tensor's RMS, momentum on the resulting delta (no beta1 bias
// correction), a learned log-scale per tensor updated every P = size_update_period steps, scalars at
// scalar_lr_scale and clamped to +-scalar_max. Clipping is split: scaled_adam_grad_norm gives the
// host the RMS-scaled gradient norm, the host keeps the history and its median (src/engine/optim.ts), and
// passes the clipping factor back as `grad_scale`. It is not AdamW (see adamw.ts) and it does not
// log. The reference is test/fixtures/scaled_adam.json (test/ref/optim.py runs icefall's code).
// Known error: f32 sums in another order than torch's, FMA in the relaxed build, and the clipping
// factor and RMS folded into the per-step constants: last-bit differences per step, within 2e-7 of
// each tensor's scale after 24 steps on the fixture.
//
// Layout, owned by the host (src/engine/optim.ts):
//   table          i32 [n_tensors, 2]: {offset in floats into every region, numel}. numel == 1 is a
//                  scalar parameter (icefall's `p.numel() == p.shape[0]` on its stacked tensors).
//   params, grads, exp_avg, exp_avg_sq   f32 regions with one layout (the table's offsets).
//                  exp_avg holds the momentum of the update, icefall's state "delta".
//   tensor_state   f32 [n_tensors, 4 + P], one slot per tensor:
//                  [0] param_rms  [1] scale_exp_avg_sq  [2] sum of grad^2 (written by grad_norm)
//                  [3] the last scale step (for inspection)  [4 .. 4+P) scale_grads, a ring over steps.
// The host zeroes exp_avg, exp_avg_sq and tensor_state once; step 0 initialises param_rms.
// The learned-scale step and the dot products are in scaled_adam_scale.ts.

import { madd4 } from "../math";
import { mem_alloc } from "../memory";
import { BLOCK, SLOT_HEADER, at, dot_f32, dot_f32_naive, size_step } from "./scaled_adam_scale";

// The two results of pre_pass_sums (globals: no managed objects cross a call).
let sum_pp: f64 = 0;
let sum_pg: f64 = 0;

/** sum(p^2) and sum(p * g) in one pass over p and g, into sum_pp and sum_pg. */
function pre_pass_sums(p: usize, g: usize, n: i32, naive: bool): void {
  if (naive) {
    sum_pp = dot_f32_naive(p, p, n);
    sum_pg = dot_f32_naive(p, g, n);
    return;
  }
  let pp: f64 = 0, pg: f64 = 0;
  let i = 0;
  while (i + 4 <= n) {
    const end = min(n, i + BLOCK) & ~3;
    let pp0 = f32x4.splat(0), pp1 = f32x4.splat(0), pg0 = f32x4.splat(0), pg1 = f32x4.splat(0);
    for (; i + 8 <= end; i += 8) {
      const p0 = v128.load(at(p, i)), p1 = v128.load(at(p, i + 4));
      pp0 = madd4(p0, p0, pp0);
      pp1 = madd4(p1, p1, pp1);
      pg0 = madd4(p0, v128.load(at(g, i)), pg0);
      pg1 = madd4(p1, v128.load(at(g, i + 4)), pg1);
    }
    for (; i < end; i += 4) {
      const p0 = v128.load(at(p, i));
      pp0 = madd4(p0, p0, pp0);
      pg0 = madd4(p0, v128.load(at(g, i)), pg0);
    }
    const app = f32x4.add(pp0, pp1), apg = f32x4.add(pg0, pg1);
    pp += <f64>f32x4.extract_lane(app, 0) + <f64>f32x4.extract_lane(app, 1);
    pp += <f64>f32x4.extract_lane(app, 2) + <f64>f32x4.extract_lane(app, 3);
    pg += <f64>f32x4.extract_lane(apg, 0) + <f64>f32x4.extract_lane(apg, 1);
    pg += <f64>f32x4.extract_lane(apg, 2) + <f64>f32x4.extract_lane(apg, 3);
  }
  sum_pp = pp + dot_f32_naive(at(p, i), at(p, i), n - i);
  sum_pg = pg + dot_f32_naive(at(p, i), at(g, i), n - i);
}

/**
 * Clipping, phase 1: the gradient norm icefall compares with its threshold,
 * sqrt(sum over tensors of sum(g^2) * w), w = param_rms^2 (the value before this step) for tensors,
 * scalar_lr_scale^2 for scalars. Writes each tensor's sum(g^2) to its slot [2]. Reads grads only.
 */
export function scaled_adam_grad_norm(
  tensor_state: usize, grads: usize, table: usize,
  scalar_lr_scale: f64, size_update_period: i32, n_tensors: i32,
): f64 {
  return grad_norm(tensor_state, grads, table, scalar_lr_scale, size_update_period, n_tensors, false);
}

/** The scalar twin of scaled_adam_grad_norm (f64 sums). */
export function scaled_adam_grad_norm_naive(
  tensor_state: usize, grads: usize, table: usize,
  scalar_lr_scale: f64, size_update_period: i32, n_tensors: i32,
): f64 {
  return grad_norm(tensor_state, grads, table, scalar_lr_scale, size_update_period, n_tensors, true);
}

// @ts-ignore: decorator
@inline
function grad_norm(
  tensor_state: usize, grads: usize, table: usize,
  scalar_lr_scale: f64, P: i32, n_tensors: i32, naive: bool,
): f64 {
  let tot: f64 = 0;
  for (let t = 0; t < n_tensors; t++) {
    const off = load<i32>(table + (<usize>t << 3));
    const n = load<i32>(table + (<usize>t << 3) + 4);
    const slot = at(tensor_state, t * (SLOT_HEADER + P));
    const g = at(grads, off);
    const sumsq = naive ? dot_f32_naive(g, g, n) : dot_f32(g, g, n);
    store<f32>(slot + 8, <f32>sumsq);
    const w: f64 = n == 1 ? scalar_lr_scale : <f64>load<f32>(slot);
    tot += sumsq * w * w;
  }
  return Math.sqrt(tot);
}

/**
 * Phase 2: one ScaledAdam step over every tensor of the table, in place on params, exp_avg,
 * exp_avg_sq and tensor_state. `grad_scale` is the clipping factor (1 for none; the host zeroes the
 * grads itself when it is 0). `step` counts from 0. Per element of a non-scalar tensor, with
 * g = grad * grad_scale, r = max(param_rms, param_min_rms), bc2 = 1 - beta2^(step+1):
 *   exp_avg_sq = beta2 * exp_avg_sq + (1 - beta2) * g^2
 *   delta      = -lr * g / (sqrt(exp_avg_sq / (bc2 < 0.99 ? bc2 : 1)) + eps) * r + s * p
 *   exp_avg    = beta1 * exp_avg + (1 - beta1) * delta;   p += exp_avg
 * where s is the tensor's scale step (nonzero only when step % P == P - 1 and step > 0). On those
 * steps, and on step 0, param_rms is first recomputed from p (a pre-pass over p and g).
 * Scalars use lr * scalar_lr_scale, r = 1, s = 0, and are clamped to [-scalar_max, scalar_max].
 */
export function scaled_adam_update(
  params: usize, exp_avg: usize, exp_avg_sq: usize, tensor_state: usize, grads: usize, table: usize,
  lr: f64, beta1: f64, beta2: f64, eps: f64, scalar_lr_scale: f64,
  param_min_rms: f64, param_max_rms: f64, scalar_max: f64, grad_scale: f32,
  step: i32, size_update_period: i32, n_tensors: i32,
): void {
  update(params, exp_avg, exp_avg_sq, tensor_state, grads, table, lr, beta1, beta2, eps, scalar_lr_scale,
    param_min_rms, param_max_rms, scalar_max, grad_scale, step, size_update_period, n_tensors, false);
}

/** The scalar twin of scaled_adam_update (no SIMD, f64 sums). */
export function scaled_adam_update_naive(
  params: usize, exp_avg: usize, exp_avg_sq: usize, tensor_state: usize, grads: usize, table: usize,
  lr: f64, beta1: f64, beta2: f64, eps: f64, scalar_lr_scale: f64,
  param_min_rms: f64, param_max_rms: f64, scalar_max: f64, grad_scale: f32,
  step: i32, size_update_period: i32, n_tensors: i32,
): void {
  update(params, exp_avg, exp_avg_sq, tensor_state, grads, table, lr, beta1, beta2, eps, scalar_lr_scale,
    param_min_rms, param_max_rms, scalar_max, grad_scale, step, size_update_period, n_tensors, true);
}

// Per-step constants of the element loops, f32, written by `update` and read back with
// v128.load32_splat: a load pins them before the loop (V8's TurboFan otherwise recomputed an f64
// division inside the loop and the step ran 2x slower). Permanent scratch taken at module start.
// The clipping factor c is folded into them: (1 - beta2) c^2 for g^2, and -lr c r for the step.
const K: usize = mem_alloc(64);
const K_B1 = 0, K_OMB1 = 4, K_B2 = 8, K_OMB2_C2 = 12, K_EPS = 16, K_INV_BC2 = 20, K_NEG_LR_C_RMS = 24;
const K_SCALE_STEP = 28;

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

// @ts-ignore: decorator
@inline
function update(
  params: usize, exp_avg: usize, exp_avg_sq: usize, tensor_state: usize, grads: usize, table: usize,
  lr: f64, beta1: f64, beta2: f64, eps: f64, scalar_lr_scale: f64,
  param_min_rms: f64, param_max_rms: f64, scalar_max: f64, grad_scale: f32,
  step: i32, P: i32, n_tensors: i32, naive: bool,
): void {
  const phase = step % P;
  const size_step_now = phase == P - 1;
  const bc2 = 1.0 - Math.pow(beta2, <f64>(step + 1));
  const inv_bc2: f32 = bc2 < 0.99 ? <f32>(1.0 / bc2) : 1; // icefall skips the division from bc2 >= 0.99
  store<f32>(K + K_B1, <f32>beta1);
  store<f32>(K + K_OMB1, <f32>(1.0 - beta1));
  store<f32>(K + K_B2, <f32>beta2);
  store<f32>(K + K_OMB2_C2, <f32>((1.0 - beta2) * <f64>grad_scale * <f64>grad_scale));
  store<f32>(K + K_EPS, <f32>eps);
  store<f32>(K + K_INV_BC2, inv_bc2);
  for (let t = 0; t < n_tensors; t++) {
    const off = load<i32>(table + (<usize>t << 3));
    const n = load<i32>(table + (<usize>t << 3) + 4);
    const p = at(params, off), g = at(grads, off), m = at(exp_avg, off), v = at(exp_avg_sq, off);
    if (n == 1) {
      update_scalar(p, m, v, g, <f32>(-lr * scalar_lr_scale), beta1, beta2, eps, inv_bc2, scalar_max, grad_scale);
      continue;
    }
    const slot = at(tensor_state, t * (SLOT_HEADER + P));
    const ring = slot + (<usize>(SLOT_HEADER + phase) << 2);
    const pre_pass = step == 0 || size_step_now;
    if (pre_pass) {
      // icefall: param_rms is set from p at step 0 and recomputed (before the update) every P steps.
      pre_pass_sums(p, g, n, naive);
      store<f32>(slot, Mathf.sqrt(<f32>(sum_pp / <f64>n)));
      store<f32>(ring, <f32>sum_pg * grad_scale);
    }
    let scale_step: f32 = 0;
    if (size_step_now && step > 0) {
      scale_step = size_step(slot, lr * scalar_lr_scale, beta2, eps, param_min_rms, param_max_rms, step, P);
      store<f32>(slot + 12, scale_step);
    }
    const rms = max(load<f32>(slot), <f32>param_min_rms);
    store<f32>(K + K_NEG_LR_C_RMS, <f32>(-lr * <f64>grad_scale * <f64>rms));
    store<f32>(K + K_SCALE_STEP, scale_step);
    const pg = naive ? update_tensor_naive(p, m, v, g, n) : update_tensor(p, m, v, g, n);
    if (!pre_pass) store<f32>(ring, <f32>(pg * <f64>grad_scale));
  }
}

/** One scalar parameter (icefall: no RMS scaling, no scale step, clamped to +-scalar_max). */
// @ts-ignore: decorator
@inline
function update_scalar(
  p: usize, m: usize, v: usize, g: usize, neg_lr: f32, beta1: f64, beta2: f64, eps: f64,
  inv_bc2: f32, scalar_max: f64, grad_scale: f32,
): void {
  const gi = load<f32>(g) * grad_scale;
  const vi = load<f32>(v) * <f32>beta2 + <f32>(1.0 - beta2) * gi * gi;
  store<f32>(v, vi);
  const delta = neg_lr * gi / (Mathf.sqrt(vi * inv_bc2) + <f32>eps);
  const mi = load<f32>(m) * <f32>beta1 + <f32>(1.0 - beta1) * delta;
  store<f32>(m, mi);
  const lim = <f32>scalar_max;
  store<f32>(p, min(max(load<f32>(p) + mi, -lim), lim));
}

/**
 * The per-element loop of scaled_adam_update for one tensor of n floats (SIMD, scalar tail), with
 * the constants in K; returns sum(p * grad) with p before the update and grad unclipped. With c the
 * clipping factor, g = c * grad and r the clamped RMS, per element:
 *   v = beta2 * v + ((1 - beta2) c^2) * grad^2          (icefall: beta2 * v + (1 - beta2) * g^2)
 *   delta = ((-lr c r) * grad) / (sqrt(v * inv_bc2) + eps) + s * p   (icefall: (-lr * g) / denom * r)
 *   m = beta1 * m + (1 - beta1) * delta;  p += m
 * Folding c and r into the constants changes only the last bits.
 */
function update_tensor(p: usize, m: usize, v: usize, g: usize, n: i32): f64 {
  const b1 = kv(K_B1), omb1 = kv(K_OMB1), b2 = kv(K_B2), omb2c2 = kv(K_OMB2_C2), veps = kv(K_EPS);
  const vinv = kv(K_INV_BC2), vstep = kv(K_NEG_LR_C_RMS), vs = kv(K_SCALE_STEP);
  let total: f64 = 0;
  let i = 0;
  while (i + 4 <= n) {
    const end = min(n, i + BLOCK) & ~3;
    let pg = f32x4.splat(0);
    for (; i < end; i += 4) {
      const gi = v128.load(at(g, i));
      const pi = v128.load(at(p, i));
      pg = madd4(pi, gi, pg);
      const vi = madd4(f32x4.mul(omb2c2, gi), gi, f32x4.mul(v128.load(at(v, i)), b2));
      v128.store(at(v, i), vi);
      const denom = f32x4.add(f32x4.sqrt(f32x4.mul(vi, vinv)), veps);
      const delta = madd4(pi, vs, f32x4.div(f32x4.mul(vstep, gi), denom));
      const mi = madd4(omb1, delta, f32x4.mul(v128.load(at(m, i)), b1));
      v128.store(at(m, i), mi);
      v128.store(at(p, i), f32x4.add(pi, mi));
    }
    total += <f64>f32x4.extract_lane(pg, 0) + <f64>f32x4.extract_lane(pg, 1);
    total += <f64>f32x4.extract_lane(pg, 2) + <f64>f32x4.extract_lane(pg, 3);
  }
  return total + update_tensor_naive(at(p, i), at(m, i), at(v, i), at(g, i), n - i);
}

/** The scalar twin of update_tensor (also its tail), with the same constants from K. */
function update_tensor_naive(p: usize, m: usize, v: usize, g: usize, n: i32): f64 {
  const b1 = kf(K_B1), omb1 = kf(K_OMB1), b2 = kf(K_B2), omb2c2 = kf(K_OMB2_C2), eps = kf(K_EPS);
  const inv_bc2 = kf(K_INV_BC2), step = kf(K_NEG_LR_C_RMS), scale_step = kf(K_SCALE_STEP);
  let total: f64 = 0;
  for (let i = 0; i < n; i++) {
    const gi = load<f32>(at(g, i));
    const pi = load<f32>(at(p, i));
    total += <f64>pi * <f64>gi;
    const vi = load<f32>(at(v, i)) * b2 + omb2c2 * gi * gi;
    store<f32>(at(v, i), vi);
    const delta = step * gi / (Mathf.sqrt(vi * inv_bc2) + eps) + pi * scale_step;
    const mi = load<f32>(at(m, i)) * b1 + omb1 * delta;
    store<f32>(at(m, i), mi);
    store<f32>(at(p, i), pi + mi);
  }
  return total;
}
