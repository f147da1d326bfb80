// CTC loss (Graves et al. 2006), forward and backward over a batch, log space, log-softmax fused, blank 0.
//
// What it is: per-utterance -log p(y | x) summed over every frame-level path of the extended label
// sequence l' = (∅, y1, ∅, y2, …, yU, ∅) (S = 2U+1 states) that collapses to y, and the gradient with
// respect to the raw logits, softmax - occupation / p (Graves 2012, eq. 7.29). Utterances whose y cannot
// fit in their frames (T_b < U_b + repeated neighbours) get loss 0 and no gradient and are counted:
// PyTorch's `zero_infinity=True`. What it is not: a reduction (the caller weights the losses through
// dlosses), nor any blank other than 0. Reference: torch.nn.functional.ctc_loss(log_softmax(z), …,
// blank=0, reduction='none', zero_infinity=True), fixture by test/ref/ctc.py.
//
// Layout (legend of assembly/index.ts; here U = the longest label sequence, not labels+1):
// logits / dlogits [B, T, V] with row stride ld >= V; targets [B, U] i32, padded; input_lengths and
// target_lengths [B] i32, 0 <= T_b <= T, 0 <= U_b <= U. Scratch: ctc_scratch(B, T, U, V) floats holding
// lp [B,T,V] (log-softmax), α and β [B,T,2U+1], logp [B]; written by the forward, read by the backward.
//
// Known error: f32 throughout; the SIMD log-softmax uses exp4 (assembly/math.ts logsumexp_row, about 1 ulp).
// α and β accumulate ~T log-add-exps, so with |log p| ~ 100 the gradient carries ~1e-5 relative error.

import { exp4, log_add_exp, logsumexp_row, madd4 } from "../math";

const NEG_INF: f32 = -Infinity;

// @ts-ignore: decorator
@inline function at(p: usize, i: i32): f32 {
  return load<f32>(p + (<usize>i << 2));
}

// @ts-ignore: decorator
@inline function put(p: usize, i: i32, x: f32): void {
  store<f32>(p + (<usize>i << 2), x);
}

/** Floats of scratch the forward fills and the backward reads: lp [B,T,V], α, β [B,T,2U+1], logp [B]. */
export function ctc_scratch(B: i32, T: i32, U: i32, V: i32): i32 {
  return B * T * V + 2 * B * T * (2 * U + 1) + B;
}

/** out[k] = z[k] - logsumexp(z), k < V, SIMD with a scalar tail; naive: the scalar twin. */
function log_softmax_row(out: usize, z: usize, V: i32, naive: bool): void {
  const ln = logsumexp_row(z, V, naive);
  let k = 0;
  if (!naive) {
    const vln = f32x4.splat(ln);
    for (; k + 4 <= V; k += 4) v128.store(out + (<usize>k << 2), f32x4.sub(v128.load(z + (<usize>k << 2)), vln));
  }
  for (; k < V; k++) put(out, k, at(z, k) - ln);
}

/** l'_s: blank at even s, y_{(s-1)/2} at odd s. */
// @ts-ignore: decorator
@inline function ext(tgt: usize, s: i32): i32 {
  return s & 1 ? load<i32>(tgt + (<usize>(s >> 1) << 2)) : 0;
}

/** True when the path may skip from state s-2 to s: l'_s is a label that differs from l'_{s-2}. */
// @ts-ignore: decorator
@inline function can_skip(tgt: usize, s: i32): bool {
  return (s & 1) != 0 && s >= 2 && ext(tgt, s) != ext(tgt, s - 2);
}

function forward_impl(
  losses: usize, scratch: usize, logits: usize, targets: usize, input_lengths: usize, target_lengths: usize,
  B: i32, T: i32, U: i32, V: i32, ld: i32, naive: bool,
): i32 {
  const S = 2 * U + 1;
  const lp = scratch, alpha = lp + ((<usize>B * T * V) << 2), beta = alpha + ((<usize>B * T * S) << 2);
  const logp = beta + ((<usize>B * T * S) << 2);
  let infeasible = 0;
  for (let b = 0; b < B; b++) {
    const Tb = load<i32>(input_lengths + (<usize>b << 2));
    const Ub = load<i32>(target_lengths + (<usize>b << 2));
    const Sb = 2 * Ub + 1;
    const tgt = targets + ((<usize>b * U) << 2);
    let repeats = 0;
    for (let u = 1; u < Ub; u++) if (ext(tgt, 2 * u + 1) == ext(tgt, 2 * u - 1)) repeats++;
    if (Tb < Ub + repeats || (Tb == 0 && Ub > 0)) { // no path fits: zero_infinity
      put(logp, b, NEG_INF);
      put(losses, b, 0);
      infeasible++;
      continue;
    }
    if (Tb == 0) { put(logp, b, 0); put(losses, b, 0); continue; } // empty input, empty target: p = 1
    // lp[t] = log_softmax(z[t])
    for (let t = 0; t < Tb; t++) {
      const z = logits + ((<usize>(b * T + t) * ld) << 2), o = lp + ((<usize>(b * T + t) * V) << 2);
      log_softmax_row(o, z, V, naive);
    }
    // α_0(0) = lp_0(∅), α_0(1) = lp_0(y1);
    // α_t(s) = lp_t(l'_s) + logaddexp(α_{t-1}(s), α_{t-1}(s-1), α_{t-1}(s-2) if can_skip(s)).
    const ab = alpha + ((<usize>b * T * S) << 2), bb = beta + ((<usize>b * T * S) << 2);
    for (let t = 0; t < Tb; t++) {
      const row = lp + ((<usize>(b * T + t) * V) << 2);
      for (let s = 0; s < Sb; s++) {
        let a: f32;
        if (t == 0) a = s < 2 ? 0 : NEG_INF;
        else {
          const prev = (t - 1) * S + s;
          a = at(ab, prev);
          if (s >= 1) a = log_add_exp(a, at(ab, prev - 1));
          if (can_skip(tgt, s)) a = log_add_exp(a, at(ab, prev - 2));
        }
        put(ab, t * S + s, a == NEG_INF ? NEG_INF : a + at(row, ext(tgt, s)));
      }
    }
    // β_{Tb-1}(s) = 0 for the last two states (-inf elsewhere), the emission at t NOT included;
    // β_t(s) = logaddexp over s' in {s, s+1, s+2 if can_skip(s+2)} of lp_{t+1}(l'_{s'}) + β_{t+1}(s').
    for (let t = Tb - 1; t >= 0; t--) {
      const next = lp + ((<usize>(b * T + t + 1) * V) << 2);
      for (let s = Sb - 1; s >= 0; s--) {
        let v: f32;
        if (t == Tb - 1) v = s >= Sb - 2 ? 0 : NEG_INF;
        else {
          const n = (t + 1) * S + s;
          v = at(bb, n) + at(next, ext(tgt, s));
          if (s + 1 < Sb) v = log_add_exp(v, at(bb, n + 1) + at(next, ext(tgt, s + 1)));
          if (s + 2 < Sb && can_skip(tgt, s + 2)) v = log_add_exp(v, at(bb, n + 2) + at(next, ext(tgt, s + 2)));
        }
        put(bb, t * S + s, v);
      }
    }
    // log p = logaddexp(α_{Tb-1}(S-1), α_{Tb-1}(S-2))
    const last = (Tb - 1) * S;
    let lpb = at(ab, last + Sb - 1);
    if (Sb >= 2) lpb = log_add_exp(lpb, at(ab, last + Sb - 2));
    if (!isFinite(lpb)) { // every path underflowed (e.g. -inf logits): zero_infinity as well
      lpb = NEG_INF;
      infeasible++;
    }
    put(logp, b, lpb);
    put(losses, b, isFinite(lpb) ? -lpb : 0);
  }
  return infeasible;
}

/**
 * losses[b] = -log p(y_b | x_b) for b < B, 0 for an utterance no path fits (counted); saves lp, α, β, logp
 * in scratch. Returns the number of infeasible utterances (zero_infinity=True). Out: losses [B]. Saved:
 * scratch, ctc_scratch(B, T, U, V) floats. In: logits [B,T,V] (row stride ld), targets [B,U] i32 in 1..V-1,
 * input_lengths [B] in 0..T, target_lengths [B] in 0..U.
 */
export function ctc_loss_forward(
  losses: usize, scratch: usize, logits: usize, targets: usize, input_lengths: usize, target_lengths: usize,
  B: i32, T: i32, U: i32, V: i32, ld: i32,
): i32 {
  return forward_impl(losses, scratch, logits, targets, input_lengths, target_lengths, B, T, U, V, ld, false);
}

/** Scalar twin of ctc_loss_forward (same arguments). */
export function ctc_loss_forward_naive(
  losses: usize, scratch: usize, logits: usize, targets: usize, input_lengths: usize, target_lengths: usize,
  B: i32, T: i32, U: i32, V: i32, ld: i32,
): i32 {
  return forward_impl(losses, scratch, logits, targets, input_lengths, target_lengths, B, T, U, V, ld, true);
}

function backward_impl(
  dlogits: usize, scratch: usize, dlosses: usize, targets: usize, input_lengths: usize, target_lengths: usize,
  B: i32, T: i32, U: i32, V: i32, ld: i32, naive: bool,
): void {
  const S = 2 * U + 1;
  const lp = scratch, alpha = lp + ((<usize>B * T * V) << 2), beta = alpha + ((<usize>B * T * S) << 2);
  const logp = beta + ((<usize>B * T * S) << 2);
  for (let b = 0; b < B; b++) {
    const lpb = at(logp, b);
    if (!isFinite(lpb)) continue; // infeasible (zero_infinity): no gradient
    const Tb = load<i32>(input_lengths + (<usize>b << 2));
    const Sb = 2 * load<i32>(target_lengths + (<usize>b << 2)) + 1;
    const tgt = targets + ((<usize>b * U) << 2);
    const scale = at(dlosses, b);
    const ab = alpha + ((<usize>b * T * S) << 2), bb = beta + ((<usize>b * T * S) << 2);
    for (let t = 0; t < Tb; t++) {
      const row = lp + ((<usize>(b * T + t) * V) << 2), d = dlogits + ((<usize>(b * T + t) * ld) << 2);
      // Inverts `lp[t] = log_softmax(z[t])`: the softmax term, d[k] += scale * exp(lp_t(k)) ...
      let k = 0;
      if (!naive) {
        const vs = f32x4.splat(scale);
        for (; k + 4 <= V; k += 4) {
          const p = v128.load(d + (<usize>k << 2));
          v128.store(d + (<usize>k << 2), madd4(vs, exp4(v128.load(row + (<usize>k << 2))), p));
        }
      }
      for (; k < V; k++) put(d, k, at(d, k) + scale * Mathf.exp(at(row, k)));
      // ... minus the occupation: inverting `α_t(s) = lp_t(l'_s) + …`, each state s emits l'_s at t with
      // posterior γ_t(s) = exp(α_t(s) + β_t(s) - log p) (β excludes the emission at t).
      for (let s = 0; s < Sb; s++) {
        const g = at(ab, t * S + s) + at(bb, t * S + s) - lpb;
        if (g == NEG_INF) continue;
        const y = ext(tgt, s);
        put(d, y, at(d, y) - scale * Mathf.exp(g));
      }
    }
  }
}

/**
 * dlogits[b,t,:] += dlosses[b] * dL_b/dz[b,t,:] for t < input_lengths[b]; frames t >= T_b and infeasible
 * utterances get nothing. dlogits [B,T,V] with the logits' row stride ld. Reads the forward's scratch
 * (the logits themselves are not needed: their log-softmax is saved). dlosses [B].
 */
export function ctc_loss_backward(
  dlogits: usize, scratch: usize, dlosses: usize, targets: usize, input_lengths: usize, target_lengths: usize,
  B: i32, T: i32, U: i32, V: i32, ld: i32,
): void {
  backward_impl(dlogits, scratch, dlosses, targets, input_lengths, target_lengths, B, T, U, V, ld, false);
}

/** Scalar twin of ctc_loss_backward. */
export function ctc_loss_backward_naive(
  dlogits: usize, scratch: usize, dlosses: usize, targets: usize, input_lengths: usize, target_lengths: usize,
  B: i32, T: i32, U: i32, V: i32, ld: i32,
): void {
  backward_impl(dlogits, scratch, dlosses, targets, input_lengths, target_lengths, B, T, U, V, ld, true);
}
