// The RNN-T lattice over given arc log-probs, its arc occupations, and pruned RNN-T's prune ranges.
//
// What it is: (1) rnnt_lattice: α, β and -log P of the (T, U) lattice from per-node blank and label log-probs
// (Graves 2012), used by the full loss (assembly/transducer/rnnt.ts, after its fused log-softmax) and the simple loss;
// (2) rnnt_simple_occupation: the occupation of every arc, ∂log P/∂ŷ(t,u) and ∂log P/∂∅(t,u) (k2's px_grad,
// py_grad); (3) rnnt_prune_ranges: per frame the first of s_range consecutive symbols kept by the pruned loss.
// What it is not: SIMD. These are O(B·T·U) scalar loops with no V dimension; rnnt_prune_ranges keeps a twin
// computing its constraints in closed form. Reference: k2 `get_rnnt_prune_ranges` and
// `_adjust_pruning_lower_bound` (read, not copied); /work/shared/PAPERS.md "Pruned RNN-T". Tested against
// brute-force enumeration of alignments (occupations) and against the band constraints (test/rnnt-pruned.test.ts).

import { log_add_exp } from "../math";

const NEG_INF: f32 = -Infinity;

// @ts-ignore: decorator
@inline function at(p: usize, i: i32): f32 { return load<f32>(p + (<usize>i << 2)); }
// @ts-ignore: decorator
@inline function put(p: usize, i: i32, x: f32): void { store<f32>(p + (<usize>i << 2), x); }
// @ts-ignore: decorator
@inline function ld32(p: usize, i: i32): i32 { return load<i32>(p + (<usize>i << 2)); }

/**
 * losses[b] = -β(0,0) over lattices [B,T,U] of arc log-probs (∅ = lp_blank, ŷ = lp_label, ŷ(t,Ub) unused):
 * α(0,0) = 0, α(t,u) = logaddexp(α(t-1,u) + ∅(t-1,u), α(t,u-1) + ŷ(t,u-1));
 * β(Tb-1,Ub) = ∅(Tb-1,Ub), β(t,u) = logaddexp(β(t+1,u) + ∅(t,u), β(t,u+1) + ŷ(t,u)).
 * Out: losses [B]; alpha, beta [B,T,U] (nodes t < logit_lengths[b], u <= target_lengths[b]).
 */
export function rnnt_lattice(
  losses: usize, alpha: usize, beta: usize, lp_blank: usize, lp_label: usize,
  logit_lengths: usize, target_lengths: usize, B: i32, T: i32, U: i32,
): void {
  for (let b = 0; b < B; b++) {
    const Tb = ld32(logit_lengths, b), Ub = ld32(target_lengths, b), base = b * T * U;
    for (let t = 0; t < Tb; t++) {
      for (let u = 0; u <= Ub; u++) {
        const n = base + t * U + u;
        if (t == 0 && u == 0) { put(alpha, n, 0); continue; }
        const stay = t > 0 ? at(alpha, n - U) + at(lp_blank, n - U) : NEG_INF;
        const emit = u > 0 ? at(alpha, n - 1) + at(lp_label, n - 1) : NEG_INF;
        put(alpha, n, log_add_exp(stay, emit));
      }
    }
    for (let t = Tb - 1; t >= 0; t--) {
      for (let u = Ub; u >= 0; u--) {
        const n = base + t * U + u;
        if (t == Tb - 1 && u == Ub) { put(beta, n, at(lp_blank, n)); continue; }
        const stay = t < Tb - 1 ? at(beta, n + U) + at(lp_blank, n) : NEG_INF;
        const emit = u < Ub ? at(beta, n + 1) + at(lp_label, n) : NEG_INF;
        put(beta, n, log_add_exp(stay, emit));
      }
    }
    put(losses, b, -at(beta, base));
  }
}

/**
 * Arc occupations (posterior probabilities of using each arc; k2's px_grad and py_grad), [B,T,U] each:
 * px_grad(t,u) = exp(α(t,u) + ŷ(t,u) + β(t,u+1) - log P) for u < Ub, py_grad(t,u) = exp(α + ∅ + β(t+1,u) - log P)
 * (β(Tb,Ub) = 0 for the final blank, no arc elsewhere on the last frame). Zero at padding, and everywhere for
 * an utterance whose loss is +inf. In: losses, lp_blank, lp_label, alpha, beta as rnnt_lattice left them.
 * Every alignment takes one blank per frame and each label once: Σ_u py_grad(t,u) = 1 for t < Tb and
 * Σ_t px_grad(t,u) = 1 for u < Ub.
 */
export function rnnt_simple_occupation(
  px_grad: usize, py_grad: usize, losses: usize, lp_blank: usize, lp_label: usize, alpha: usize, beta: usize,
  logit_lengths: usize, target_lengths: usize, B: i32, T: i32, U: i32,
): void {
  for (let b = 0; b < B; b++) {
    const Tb = ld32(logit_lengths, b), Ub = ld32(target_lengths, b), base = b * T * U;
    const logP = -at(losses, b), ok = logP > NEG_INF;
    for (let t = 0; t < T; t++) {
      for (let u = 0; u < U; u++) {
        const n = base + t * U + u;
        let gx: f32 = 0, gy: f32 = 0;
        if (ok && t < Tb && u <= Ub) {
          const a = at(alpha, n) - logP;
          if (u < Ub) gx = Mathf.exp(a + at(lp_label, n) + at(beta, n + 1));
          if (t < Tb - 1) gy = Mathf.exp(a + at(lp_blank, n) + at(beta, n + U));
          else if (u == Ub) gy = Mathf.exp(a + at(lp_blank, n));
        }
        put(px_grad, n, gx);
        put(py_grad, n, gy);
      }
    }
  }
}

/** The s_range-window with the most occupation at frame t (first on ties), over starts 0..max(0, Ub+1-R). */
function best_window(px_grad: usize, py_grad: usize, n0: i32, Ub: i32, R: i32): i32 {
  const last = max(0, Ub + 1 - R);
  let best = 0, bestMass: f32 = -1;
  for (let s = 0; s <= last; s++) {
    let m: f32 = 0;
    for (let u = s; u < min(s + R, Ub + 1); u++) m += at(px_grad, n0 + u) + at(py_grad, n0 + u);
    if (m > bestMass) { bestMass = m; best = s; }
  }
  return best;
}

function ranges_impl(ranges: usize, px_grad: usize, py_grad: usize, logit_lengths: usize, target_lengths: usize, B: i32, T: i32, U: i32, R: i32, naive: bool): void {
  for (let b = 0; b < B; b++) {
    const Tb = ld32(logit_lengths, b), Ub = ld32(target_lengths, b);
    const rb = ranges + ((<usize>b * T) << 2);
    // Raw starts: the heaviest window for t < Tb-1; the last frame and padding end the band at Ub.
    for (let t = 0; t < T; t++) store<i32>(rb + (<usize>t << 2), t < Tb - 1 ? best_window(px_grad, py_grad, (b * T + t) * U, Ub, R) : max(0, Ub + 1 - R));
    if (!naive) {
      // (1) never decreasing: s[t] = min(s[t], s[t+1]) from the right (lowers starts);
      for (let t = T - 2; t >= 0; t--) store<i32>(rb + (<usize>t << 2), min(ld32(rb, t), ld32(rb, t + 1)));
      // (2) steps of at most R-1: s[t] = max(s[t], s[t+1] - (R-1)) from the right (raises starts);
      for (let t = T - 2; t >= 0; t--) store<i32>(rb + (<usize>t << 2), max(ld32(rb, t), ld32(rb, t + 1) - (R - 1)));
      // (3) reachable from (0,0): s[t] = min(s[t], (R-1)·t), so s[0] = 0 (lowers starts).
      for (let t = 0; t < T; t++) store<i32>(rb + (<usize>t << 2), min(ld32(rb, t), (R - 1) * t));
    } else {
      // The same three steps in closed form, O(T^2): s1[t] = min_{t'>=t} s0[t'];
      // s2[t] = max_{t'>=t} (s1[t'] - (R-1)(t'-t)); s3[t] = min(s2[t], (R-1)t).
      for (let t = 0; t < T; t++) {
        let s2 = I32.MIN_VALUE;
        for (let t1 = t; t1 < T; t1++) {
          let s1 = I32.MAX_VALUE;
          for (let t2 = t1; t2 < T; t2++) s1 = min(s1, ld32(rb, t2));
          s2 = max(s2, s1 - (R - 1) * (t1 - t));
        }
        store<i32>(rb + (<usize>t << 2), s2); // safe in place: later t read only frames >= t + 1
      }
      for (let t = 0; t < T; t++) store<i32>(rb + (<usize>t << 2), min(ld32(rb, t), (R - 1) * t));
    }
  }
}

/**
 * ranges [B,T] i32: the first symbol of the s_range = R window kept at each frame (the band is u in
 * ranges[b,t] .. ranges[b,t]+R-1; u > target_lengths[b] in it are off the lattice). From the occupations
 * px_grad, py_grad [B,T,U] of the simple loss: the start of the window with most occupation (first on ties,
 * starts 0..max(0, Ub+1-R)) for t < Tb-1, and max(0, Ub+1-R) for t >= Tb-1 (so the last frame's band ends at
 * Ub); then (1) starts never decrease, (2) consecutive starts differ by at most R-1 (bands overlap, no symbol
 * skipped), (3) start <= (R-1)·t (hence start 0 at t = 0). All starts lie in [0, max(0, Ub+1-R)]. A complete
 * path fits in the band iff Ub <= (R-1)·Tb (R-1 labels per frame at most); otherwise the pruned loss is +inf.
 * R >= 2 (R = 1 admits no label). Padding frames t >= Tb are written too (the last frame's start).
 */
export function rnnt_prune_ranges(ranges: usize, px_grad: usize, py_grad: usize, logit_lengths: usize, target_lengths: usize, B: i32, T: i32, U: i32, R: i32): void {
  ranges_impl(ranges, px_grad, py_grad, logit_lengths, target_lengths, B, T, U, R, false);
}

/** Twin of rnnt_prune_ranges: the constraints by their closed forms (O(T^3) per utterance: tests only). */
export function rnnt_prune_ranges_naive(ranges: usize, px_grad: usize, py_grad: usize, logit_lengths: usize, target_lengths: usize, B: i32, T: i32, U: i32, R: i32): void {
  ranges_impl(ranges, px_grad, py_grad, logit_lengths, target_lengths, B, T, U, R, true);
}
