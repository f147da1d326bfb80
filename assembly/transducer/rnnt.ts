// RNN-T loss (Graves 2012), forward and backward, log space, with the log-softmax over V fused in.
//
// What it is: per-utterance -log P(y | x) over the (T, U) lattice of raw joiner logits, and the gradient
// with respect to those raw logits. Frame and label lengths are per utterance; nodes past them are
// padding, ignored by the forward and given zero gradient by the backward. Any blank index.
// What it is not: pruned (k2) or "simple" RNN-T, nor gradient clamping (torchaudio's clamp > 0).
// Reference: torchaudio's CPU kernel (src/libtorchaudio/rnnt/cpu/cpu_kernels.h) with clamp = -1 and
// fused_log_softmax = True; formulas in /work/shared/PAPERS.md. Tested against a torchaudio fixture
// (test/ref/rnnt.py), brute force over all alignments, and float64 finite differences.
//
// Memory: besides logits [B,T,U,V] and their gradient (which may overwrite the logits), only five
// lattices of [B,T,U] floats: lnorm, lp_blank, lp_label, alpha, beta (all saved by the forward).
// Here U = labels + 1 (the legend's U); targets are [B, U-1] int32, padded.
//
// Known error: f32 throughout. The vectorised exp (exp4, assembly/math.ts) is within about 1 ulp and
// grades results below 2^-126 as subnormals; the lattice uses Mathf log1p/exp (log_add_exp).
// α, β are f32: with |log P| ~ 1000 (long T) one ulp is 6e-5, so gradients carry ~1e-4 relative error.

import { exp4, logsumexp_row, scaled_exp_row } from "../math";
import { rnnt_lattice } from "./rnnt_prune_ranges";

const NEG_INF: f32 = -Infinity;

/**
 * out[i] = exp(x[i]) for i < n with the loss's vectorised exp, results below 2^-126 (x < -87.33654)
 * flushed to 0: the contract of this export, which only its accuracy test uses (test/rnnt.test.ts;
 * exp4 itself grades subnormals, and exp_forward is the engine's exp op).
 */
export function rnnt_exp_array(out: usize, x: usize, n: i32): void {
  const lo = f32x4.splat(-87.33654);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const v = v128.load(x + (<usize>i << 2));
    v128.store(out + (<usize>i << 2), v128.andnot(exp4(v), f32x4.lt(v, lo)));
  }
  for (; i < n; i++) {
    const v = load<f32>(x + (<usize>i << 2));
    store<f32>(out + (<usize>i << 2), v < <f32>-87.33654 ? 0 : f32x4.extract_lane(exp4(f32x4.splat(v)), 0));
  }
}

// @ts-ignore: decorator
@inline function at(p: usize, i: i32): f32 {
  return load<f32>(p + (<usize>i << 2));
}

// @ts-ignore: decorator
@inline function put(p: usize, i: i32, x: f32): void {
  store<f32>(p + (<usize>i << 2), x);
}

function forward_impl(
  losses: usize, lnorm: usize, lp_blank: usize, lp_label: usize, alpha: usize, beta: usize,
  logits: usize, targets: usize, logit_lengths: usize, target_lengths: usize,
  B: i32, T: i32, U: i32, V: i32, blank: i32, naive: bool,
): void {
  for (let b = 0; b < B; b++) {
    const Tb = load<i32>(logit_lengths + (<usize>b << 2));
    const Ub = load<i32>(target_lengths + (<usize>b << 2)); // labels; nodes u = 0..Ub
    const tgt = targets + ((<usize>b * (U - 1)) << 2);
    // Per node: lnorm = logsumexp_k z; ∅(t,u) = z[blank] - lnorm; ŷ(t,u) = z[y_{u+1}] - lnorm.
    for (let t = 0; t < Tb; t++) {
      for (let u = 0; u <= Ub; u++) {
        const n = (b * T + t) * U + u;
        const z = logits + ((<usize>n * V) << 2);
        const ln = logsumexp_row(z, V, naive);
        put(lnorm, n, ln);
        put(lp_blank, n, at(z, blank) - ln);
        put(lp_label, n, u < Ub ? at(z, load<i32>(tgt + (<usize>u << 2))) - ln : NEG_INF);
      }
    }
  }
  // α(0,0) = 0, α(t,u) = logaddexp(α(t-1,u) + ∅(t-1,u), α(t,u-1) + ŷ(t,u-1));
  // β(Tb-1,Ub) = ∅(Tb-1,Ub), β(t,u) = logaddexp(β(t+1,u) + ∅(t,u), β(t,u+1) + ŷ(t,u)); log P = β(0,0).
  rnnt_lattice(losses, alpha, beta, lp_blank, lp_label, logit_lengths, target_lengths, B, T, U);
}

/**
 * losses[b] = -log P(y_b | x_b), b < B, and saves the lattices the backward needs.
 * Out: losses [B]. Saved: lnorm, lp_blank, lp_label, alpha, beta [B,T,U] (only nodes t < logit_lengths[b],
 * u <= target_lengths[b] are written). In: logits [B,T,U,V] contiguous; targets [B,U-1] i32 (padded);
 * logit_lengths [B] i32 in 1..T; target_lengths [B] i32 in 0..U-1. blank in 0..V-1.
 */
export function rnnt_loss_forward(
  losses: usize, lnorm: usize, lp_blank: usize, lp_label: usize, alpha: usize, beta: usize,
  logits: usize, targets: usize, logit_lengths: usize, target_lengths: usize,
  B: i32, T: i32, U: i32, V: i32, blank: i32,
): void {
  forward_impl(losses, lnorm, lp_blank, lp_label, alpha, beta, logits, targets, logit_lengths, target_lengths, B, T, U, V, blank, false);
}

/** Scalar twin of rnnt_loss_forward (same arguments). */
export function rnnt_loss_forward_naive(
  losses: usize, lnorm: usize, lp_blank: usize, lp_label: usize, alpha: usize, beta: usize,
  logits: usize, targets: usize, logit_lengths: usize, target_lengths: usize,
  B: i32, T: i32, U: i32, V: i32, blank: i32,
): void {
  forward_impl(losses, lnorm, lp_blank, lp_label, alpha, beta, logits, targets, logit_lengths, target_lengths, B, T, U, V, blank, true);
}

function backward_impl(
  dlogits: usize, losses: usize, lnorm: usize, lp_blank: usize, lp_label: usize, alpha: usize, beta: usize,
  dlosses: usize, logits: usize, targets: usize, logit_lengths: usize, target_lengths: usize,
  B: i32, T: i32, U: i32, V: i32, blank: i32, inplace: bool, naive: bool,
): void {
  for (let b = 0; b < B; b++) {
    const Tb = load<i32>(logit_lengths + (<usize>b << 2));
    const Ub = load<i32>(target_lengths + (<usize>b << 2));
    const tgt = targets + ((<usize>b * (U - 1)) << 2);
    const logP = -at(losses, b); // from `put(losses, b, -at(beta, base))`
    const scale = at(dlosses, b);
    for (let t = 0; t < T; t++) {
      for (let u = 0; u < U; u++) {
        const n = (b * T + t) * U + u;
        const z = logits + ((<usize>n * V) << 2);
        const d = dlogits + ((<usize>n * V) << 2);
        if (t >= Tb || u > Ub) { // padding: zero gradient
          if (inplace) memory.fill(d, 0, <usize>V << 2);
          continue;
        }
        // Inverts `ln = logsumexp_row(z, V)` and the arcs: dL/dz_k = exp(z_k - lnorm + α + β - log P) ...
        const a = at(alpha, n) - logP;
        scaled_exp_row(d, z, V, a + at(beta, n) - at(lnorm, n), scale, inplace, naive);
        // ... minus exp(α + ∅ + β(t+1,u) - log P) at the blank (β(t+1,u) = 0 for the final blank),
        // inverting `stay = β(t+1,u) + ∅(t,u)` and `β(Tb-1,Ub) = ∅(Tb-1,Ub)` ...
        if (t < Tb - 1) put(d, blank, at(d, blank) - scale * Mathf.exp(a + at(lp_blank, n) + at(beta, n + U)));
        else if (u == Ub) put(d, blank, at(d, blank) - scale * Mathf.exp(a + at(lp_blank, n)));
        // ... and minus exp(α + ŷ + β(t,u+1) - log P) at the label, inverting `emit = β(t,u+1) + ŷ(t,u)`.
        if (u < Ub) {
          const y = load<i32>(tgt + (<usize>u << 2));
          put(d, y, at(d, y) - scale * Mathf.exp(a + at(lp_label, n) + at(beta, n + 1)));
        }
      }
    }
  }
}

/**
 * dlogits[b,t,u,:] += dlosses[b] * dL_b/dz[b,t,u,:] (zero at padding nodes), from the forward's saved lattices.
 * dlogits [B,T,U,V] may not alias logits (see rnnt_loss_backward_inplace). Other arguments as the forward.
 */
export function rnnt_loss_backward(
  dlogits: usize, losses: usize, lnorm: usize, lp_blank: usize, lp_label: usize, alpha: usize, beta: usize,
  dlosses: usize, logits: usize, targets: usize, logit_lengths: usize, target_lengths: usize,
  B: i32, T: i32, U: i32, V: i32, blank: i32,
): void {
  backward_impl(dlogits, losses, lnorm, lp_blank, lp_label, alpha, beta, dlosses, logits, targets, logit_lengths, target_lengths, B, T, U, V, blank, false, false);
}

/** Scalar twin of rnnt_loss_backward. */
export function rnnt_loss_backward_naive(
  dlogits: usize, losses: usize, lnorm: usize, lp_blank: usize, lp_label: usize, alpha: usize, beta: usize,
  dlosses: usize, logits: usize, targets: usize, logit_lengths: usize, target_lengths: usize,
  B: i32, T: i32, U: i32, V: i32, blank: i32,
): void {
  backward_impl(dlogits, losses, lnorm, lp_blank, lp_label, alpha, beta, dlosses, logits, targets, logit_lengths, target_lengths, B, T, U, V, blank, false, true);
}

/**
 * The training path's variant: OVERWRITES logits [B,T,U,V] with dlosses[b] * dL_b/dz (zeros at padding
 * nodes), so no second [B,T,U,V] buffer is needed. The logits are gone afterwards. This is the one
 * backward that does not accumulate: the buffer it writes held the logits, not a gradient.
 */
export function rnnt_loss_backward_inplace(
  logits: usize, losses: usize, lnorm: usize, lp_blank: usize, lp_label: usize, alpha: usize, beta: usize,
  dlosses: usize, targets: usize, logit_lengths: usize, target_lengths: usize,
  B: i32, T: i32, U: i32, V: i32, blank: i32,
): void {
  backward_impl(logits, losses, lnorm, lp_blank, lp_label, alpha, beta, dlosses, logits, targets, logit_lengths, target_lengths, B, T, U, V, blank, true, false);
}
