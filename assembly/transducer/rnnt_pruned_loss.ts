// The RNN-T loss over pruned RNN-T's band (k2 `rnnt_loss_pruned`), log-softmax fused, forward and backward.
//
// What it is: assembly/transducer/rnnt.ts's loss where frame t holds only the R nodes u = s_t .. s_t+R-1 (s_t = ranges[b,t],
// from rnnt_prune_ranges), band layout [B,T,R] (node r of frame t is u = s_t + r). Arcs leaving the band are
// absent (-inf): the blank from (t,u) needs u in frame t+1's band, the label needs r+1 < R; nodes u > Ub are off
// the lattice. With R = U and all starts 0 it is the full loss. If the band admits no complete path (s_0 != 0,
// or Ub outside the last frame's band), the loss is +inf and the backward leaves that utterance's gradient 0.
// What it is not: the joiner (rnnt_pruned_joiner.ts). Reference: assembly/transducer/rnnt.ts (Graves 2012), k2's pruned
// loss (read, not copied); tested equal to engine.rnntLoss at R = U, by finite differences and the naive twin.
// Known error: as assembly/transducer/rnnt.ts (f32 lattice, polynomial exp ~2e-7 relative).

import { log_add_exp, logsumexp_row, scaled_exp_row } from "../math";

const NEG_INF: f32 = -Infinity;

// @ts-ignore: decorator
@inline function at(p: usize, i: i32): f32 { return load<f32>(p + (<usize>i << 2)); }
// @ts-ignore: decorator
@inline function put(p: usize, i: i32, x: f32): void { store<f32>(p + (<usize>i << 2), x); }
// @ts-ignore: decorator
@inline function ld32(p: usize, i: i32): i32 { return load<i32>(p + (<usize>i << 2)); }

function forward_impl(
  losses: usize, lnorm: usize, lp_blank: usize, lp_label: usize, alpha: usize, beta: usize,
  logits: usize, ranges: usize, targets: usize, logit_lengths: usize, target_lengths: usize,
  B: i32, T: i32, U: i32, R: i32, V: i32, blank: i32, naive: bool,
): void {
  for (let b = 0; b < B; b++) {
    const Tb = ld32(logit_lengths, b), Ub = ld32(target_lengths, b);
    const tgt = targets + ((<usize>b * (U - 1)) << 2), sb = ranges + ((<usize>b * T) << 2), base = b * T * R;
    for (let t = 0; t < Tb; t++) {
      const s = ld32(sb, t);
      for (let r = 0; r < R; r++) {
        const n = base + t * R + r, u = s + r;
        if (u > Ub) { put(lnorm, n, 0); put(lp_blank, n, NEG_INF); put(lp_label, n, NEG_INF); continue; }
        const z = logits + ((<usize>n * V) << 2);
        const ln = logsumexp_row(z, V, naive);
        put(lnorm, n, ln);
        put(lp_blank, n, at(z, blank) - ln);
        put(lp_label, n, u < Ub ? at(z, ld32(tgt, u)) - ln : NEG_INF);
      }
    }
    // α(t,u) = logaddexp(α(t-1,u) + ∅(t-1,u) if u is in frame t-1's band, α(t,u-1) + ŷ(t,u-1) if r > 0).
    for (let t = 0; t < Tb; t++) {
      const s = ld32(sb, t), sp = t > 0 ? ld32(sb, t - 1) : 0;
      for (let r = 0; r < R; r++) {
        const n = base + t * R + r, u = s + r;
        if (u > Ub) { put(alpha, n, NEG_INF); continue; }
        if (t == 0 && u == 0) { put(alpha, n, 0); continue; }
        const rp = u - sp;
        const stay = t > 0 && rp >= 0 && rp < R ? at(alpha, n - R - r + rp) + at(lp_blank, n - R - r + rp) : NEG_INF;
        const emit = r > 0 ? at(alpha, n - 1) + at(lp_label, n - 1) : NEG_INF;
        put(alpha, n, log_add_exp(stay, emit));
      }
    }
    // β(Tb-1,Ub) = ∅(Tb-1,Ub); β(t,u) = logaddexp(β(t+1,u) + ∅(t,u) if u in frame t+1's band, β(t,u+1) + ŷ(t,u)).
    for (let t = Tb - 1; t >= 0; t--) {
      const s = ld32(sb, t), sn = t < Tb - 1 ? ld32(sb, t + 1) : 0;
      for (let r = R - 1; r >= 0; r--) {
        const n = base + t * R + r, u = s + r;
        if (u > Ub) { put(beta, n, NEG_INF); continue; }
        if (t == Tb - 1 && u == Ub) { put(beta, n, at(lp_blank, n)); continue; }
        const rn = u - sn;
        const stay = t < Tb - 1 && rn >= 0 && rn < R ? at(beta, n + R - r + rn) + at(lp_blank, n) : NEG_INF;
        const emit = r + 1 < R && u < Ub ? at(beta, n + 1) + at(lp_label, n) : NEG_INF;
        put(beta, n, log_add_exp(stay, emit));
      }
    }
    put(losses, b, ld32(sb, 0) == 0 ? -at(beta, base) : Infinity);
  }
}

/**
 * losses[b] = -log P over the band. Out: losses [B]. Saved: lnorm, lp_blank, lp_label, alpha, beta [B,T,R]
 * (frames t < logit_lengths[b] written). In: logits [B,T,R,V] (rnnt_pruned_joiner_forward), ranges [B,T] i32,
 * targets [B,U-1] i32, logit_lengths [B] in 1..T, target_lengths [B] in 0..U-1. blank in 0..V-1.
 */
export function rnnt_pruned_loss_forward(
  losses: usize, lnorm: usize, lp_blank: usize, lp_label: usize, alpha: usize, beta: usize,
  logits: usize, ranges: usize, targets: usize, logit_lengths: usize, target_lengths: usize,
  B: i32, T: i32, U: i32, R: i32, V: i32, blank: i32,
): void {
  forward_impl(losses, lnorm, lp_blank, lp_label, alpha, beta, logits, ranges, targets, logit_lengths, target_lengths, B, T, U, R, V, blank, false);
}

/** Scalar twin of rnnt_pruned_loss_forward. */
export function rnnt_pruned_loss_forward_naive(
  losses: usize, lnorm: usize, lp_blank: usize, lp_label: usize, alpha: usize, beta: usize,
  logits: usize, ranges: usize, targets: usize, logit_lengths: usize, target_lengths: usize,
  B: i32, T: i32, U: i32, R: i32, V: i32, blank: i32,
): void {
  forward_impl(losses, lnorm, lp_blank, lp_label, alpha, beta, logits, ranges, targets, logit_lengths, target_lengths, B, T, U, R, V, blank, true);
}

function backward_impl(
  dlogits: usize, losses: usize, lnorm: usize, lp_blank: usize, lp_label: usize, alpha: usize, beta: usize,
  dlosses: usize, logits: usize, ranges: usize, targets: usize, logit_lengths: usize, target_lengths: usize,
  B: i32, T: i32, U: i32, R: i32, V: i32, blank: i32, inplace: bool, naive: bool,
): void {
  for (let b = 0; b < B; b++) {
    const Tb = ld32(logit_lengths, b), Ub = ld32(target_lengths, b);
    const tgt = targets + ((<usize>b * (U - 1)) << 2), sb = ranges + ((<usize>b * T) << 2);
    const logP = -at(losses, b), scale = at(dlosses, b), ok = logP > NEG_INF;
    for (let t = 0; t < T; t++) {
      const s = t < Tb ? ld32(sb, t) : 0, sn = t < Tb - 1 ? ld32(sb, t + 1) : 0;
      for (let r = 0; r < R; r++) {
        const n = (b * T + t) * R + r, u = s + r;
        const z = logits + ((<usize>n * V) << 2), d = dlogits + ((<usize>n * V) << 2);
        if (!ok || t >= Tb || u > Ub) { // padding, off-lattice node or infeasible band: zero gradient
          if (inplace) memory.fill(d, 0, <usize>V << 2);
          continue;
        }
        // Inverts `ln = logsumexp_row(z)`: dL/dz_k = exp(z_k - lnorm + α + β - log P) (β sums the in-band arcs) ...
        const a = at(alpha, n) - logP;
        scaled_exp_row(d, z, V, a + at(beta, n) - at(lnorm, n), scale, inplace, naive);
        // ... minus the blank arc's occupation, inverting `stay = β(t+1,u) + ∅(t,u)` (if in band) and
        // `β(Tb-1,Ub) = ∅(Tb-1,Ub)` ...
        const rn = u - sn;
        if (t < Tb - 1) {
          if (rn >= 0 && rn < R) put(d, blank, at(d, blank) - scale * Mathf.exp(a + at(lp_blank, n) + at(beta, n + R - r + rn)));
        } else if (u == Ub) put(d, blank, at(d, blank) - scale * Mathf.exp(a + at(lp_blank, n)));
        // ... and minus the label arc's, inverting `emit = β(t,u+1) + ŷ(t,u)`.
        if (u < Ub && r + 1 < R) {
          const y = ld32(tgt, u);
          put(d, y, at(d, y) - scale * Mathf.exp(a + at(lp_label, n) + at(beta, n + 1)));
        }
      }
    }
  }
}

/**
 * dlogits [B,T,R,V] += dlosses[b]·dL_b/dlogits (not aliasing logits). Saved and inputs as the forward.
 */
export function rnnt_pruned_loss_backward(
  dlogits: usize, losses: usize, lnorm: usize, lp_blank: usize, lp_label: usize, alpha: usize, beta: usize,
  dlosses: usize, logits: usize, ranges: usize, targets: usize, logit_lengths: usize, target_lengths: usize,
  B: i32, T: i32, U: i32, R: i32, V: i32, blank: i32,
): void {
  backward_impl(dlogits, losses, lnorm, lp_blank, lp_label, alpha, beta, dlosses, logits, ranges, targets, logit_lengths, target_lengths, B, T, U, R, V, blank, false, false);
}

/** Scalar twin of rnnt_pruned_loss_backward. */
export function rnnt_pruned_loss_backward_naive(
  dlogits: usize, losses: usize, lnorm: usize, lp_blank: usize, lp_label: usize, alpha: usize, beta: usize,
  dlosses: usize, logits: usize, ranges: usize, targets: usize, logit_lengths: usize, target_lengths: usize,
  B: i32, T: i32, U: i32, R: i32, V: i32, blank: i32,
): void {
  backward_impl(dlogits, losses, lnorm, lp_blank, lp_label, alpha, beta, dlosses, logits, ranges, targets, logit_lengths, target_lengths, B, T, U, R, V, blank, false, true);
}

/**
 * The training path: OVERWRITES logits [B,T,R,V] with dlosses[b]·dL_b/dlogits (zeros elsewhere), as
 * rnnt_loss_backward_inplace does for the full loss; the one backward that does not accumulate.
 */
export function rnnt_pruned_loss_backward_inplace(
  logits: usize, losses: usize, lnorm: usize, lp_blank: usize, lp_label: usize, alpha: usize, beta: usize,
  dlosses: usize, ranges: usize, targets: usize, logit_lengths: usize, target_lengths: usize,
  B: i32, T: i32, U: i32, R: i32, V: i32, blank: i32,
): void {
  backward_impl(logits, losses, lnorm, lp_blank, lp_label, alpha, beta, dlosses, logits, ranges, targets, logit_lengths, target_lengths, B, T, U, R, V, blank, true, false);
}
