// The "simple" RNN-T loss of pruned RNN-T (Kuang et al. 2022; k2 `rnnt_loss_smoothed`), forward and backward.
//
// What it is: the RNN-T loss of a trivial joiner, logits(t,u,v) = am[t,v] + lm[u,v], smoothed with an lm-only
// and an am-only term, computed without a T x U x V tensor. Per utterance (c = 1 - l - a):
//   N[t,u]  = log Σ_v exp(am[t,v] + lm[u,v]) = amax[t] + lmax[u] + log (exp(am - amax) · exp(lm - lmax)^T)[t,u]
//   Ln[u]   = log Σ_v exp(lm[u,v]);   q[v] = mean over the batch's rows u <= Ub of softmax(lm[b,u,:])[v] + 1e-20
//   An[t]   = log Σ_v exp(am[t,v]) q[v]   (q: k2's "unigram LM" of the am-only term, differentiated through)
//   ŷ(t,u)  = c (am[t,y] + lm[u,y] - N) + l (lm[u,y] - Ln[u]) + a (am[t,y] + log q[y] - An[t]),  y = y_{u+1}
//   ∅(t,u)  = the same with y = blank;  loss = -log P from the RNN-T recursion over ŷ, ∅ (assembly/transducer/rnnt.ts).
// Where the GEMM's dot product underflows (below SIMPLE_TINY, e.g. am and lm peaked on different symbols), N is
// recomputed at that node by a direct max-subtracted log-sum-exp over v, and the backward treats the node directly.
// What it is not: k2 to the bit. k2 averages q over every row of lm, padding included; here over the valid rows
// only (the same for an unpadded batch). k2 adds a floor before the log of the normaliser's dot product; here an
// underflowed dot product is recomputed directly. PAPERS.md writes the am-only term without q (am's own
// log-softmax); k2's code has q, and this follows the code. icefall trains with am_scale = 0, where all agree.
// Reference: PAPERS.md "Pruned RNN-T", k2 rnnt_loss.py (read, not copied); tested against test/ref/rnnt_simple.py
// (float64 torch from the formulas), brute-force enumeration, float64 finite differences and the naive twins.
// Layouts: am [B,T,V], lm [B,U,V], lattices [B,T,U], side [B*(T+U) + V] (An then Ln per utterance, then q; An and
// q are written only when am_scale != 0); U = labels + 1. The am-only term couples the batch through q.

import { gemm, gemm_naive } from "../ops/gemm";
import { exp4 } from "../math";
import { rnnt_lattice } from "./rnnt_prune_ranges";

const NEG_INF: f32 = -Infinity;
const SIMPLE_TINY: f32 = 1e-30; // a normaliser's dot product below this is recomputed directly
const UNIGRAM_FLOOR: f32 = 1e-20; // added to the unigram q before its log (k2's older floor)

// @ts-ignore: decorator
@inline function at(p: usize, i: i32): f32 { return load<f32>(p + (<usize>i << 2)); }
// @ts-ignore: decorator
@inline function put(p: usize, i: i32, x: f32): void { store<f32>(p + (<usize>i << 2), x); }

// @ts-ignore: decorator
@inline function mm(naive: bool, tA: i32, tB: i32, M: i32, N: i32, K: i32, A: usize, lda: i32, B: usize, ldb: i32, beta: f32, C: usize, ldc: i32): void {
  if (naive) gemm_naive(tA, tB, M, N, K, 1, A, lda, B, ldb, beta, C, ldc);
  else gemm(tA, tB, M, N, K, 1, A, lda, B, ldb, beta, C, ldc);
}

/** Floats of scratch rnnt_simple_forward / _backward need (one utterance at a time). */
export function rnnt_simple_scratch(T: i32, U: i32, V: i32): i32 {
  return (T + U) * V + T * U + max(T, U) * V + T + U + V;
}

/** Rows u <= Ub over the batch (the unigram's denominator). */
function valid_rows(target_lengths: usize, B: i32): i32 {
  let n = 0;
  for (let b = 0; b < B; b++) n += load<i32>(target_lengths + (<usize>b << 2)) + 1;
  return n;
}

/** q[v] = mean over the rows u <= Ub of softmax(lm[b,u,:])[v] + UNIGRAM_FLOOR; e [V], mx [1]: scratch. */
function unigram(q: usize, lm: usize, target_lengths: usize, e: usize, mx: usize, B: i32, U: i32, V: i32, naive: bool): void {
  memory.fill(q, 0, <usize>V << 2);
  for (let b = 0; b < B; b++) {
    const Ub = load<i32>(target_lengths + (<usize>b << 2));
    for (let u = 0; u <= Ub; u++) {
      exp_rows(e, mx, lm + ((<usize>(b * U + u) * V) << 2), 1, V, naive);
      const inv: f32 = 1 / row_sum(e, V);
      for (let k = 0; k < V; k++) put(q, k, at(q, k) + at(e, k) * inv);
    }
  }
  const inv: f32 = 1 / <f32>valid_rows(target_lengths, B);
  for (let k = 0; k < V; k++) put(q, k, at(q, k) * inv + UNIGRAM_FLOOR);
}

/** Σ_v x[v] y[v]. */
function dot(x: usize, y: usize, V: i32): f32 {
  let s: f32 = 0;
  for (let k = 0; k < V; k++) s += at(x, k) * at(y, k);
  return s;
}

/** For n rows of x [n,V]: mx[r] = max_v x[r,v], e[r,:] = exp(x[r,:] - mx[r]); returns nothing. */
function exp_rows(e: usize, mx: usize, x: usize, n: i32, V: i32, naive: bool): void {
  for (let r = 0; r < n; r++) {
    const xr = x + ((<usize>r * V) << 2), er = e + ((<usize>r * V) << 2);
    let m = NEG_INF, k = 0;
    if (!naive) {
      let vm = f32x4.splat(NEG_INF);
      for (; k + 4 <= V; k += 4) vm = f32x4.max(vm, v128.load(xr + (<usize>k << 2)));
      m = max(max(f32x4.extract_lane(vm, 0), f32x4.extract_lane(vm, 1)), max(f32x4.extract_lane(vm, 2), f32x4.extract_lane(vm, 3)));
    }
    for (; k < V; k++) m = max(m, at(xr, k));
    put(mx, r, m);
    k = 0;
    if (!naive) {
      const vmax = f32x4.splat(m);
      for (; k + 4 <= V; k += 4) v128.store(er + (<usize>k << 2), exp4(f32x4.sub(v128.load(xr + (<usize>k << 2)), vmax)));
    }
    for (; k < V; k++) put(er, k, Mathf.exp(at(xr, k) - m));
  }
}

/** Σ_v of one row (the row sums of exp_rows give the side normalisers). */
function row_sum(x: usize, V: i32): f32 {
  let s: f32 = 0;
  for (let k = 0; k < V; k++) s += at(x, k);
  return s;
}

/** log Σ_v exp(a[v] + l[v]), max-subtracted: the fallback for an underflowed GEMM normaliser. */
function direct_lse(a: usize, l: usize, V: i32): f32 {
  let m = NEG_INF;
  for (let k = 0; k < V; k++) m = max(m, at(a, k) + at(l, k));
  let s: f32 = 0;
  for (let k = 0; k < V; k++) s += Mathf.exp(at(a, k) + at(l, k) - m);
  return m + Mathf.log(s);
}

function forward_impl(
  losses: usize, norm: usize, side: usize, lp_blank: usize, lp_label: usize, alpha: usize, beta: usize,
  am: usize, lm: usize, targets: usize, logit_lengths: usize, target_lengths: usize, scratch: usize,
  B: i32, T: i32, U: i32, V: i32, blank: i32, lm_scale: f32, am_scale: f32, naive: bool,
): void {
  const c: f32 = 1 - lm_scale - am_scale;
  const EA = scratch, EL = EA + ((<usize>T * V) << 2), D = EL + ((<usize>U * V) << 2);
  const amax = D + ((<usize>T * U) << 2) + ((<usize>max(T, U) * V) << 2), lmax = amax + ((<usize>T) << 2);
  const q = side + ((<usize>B * (T + U)) << 2);
  if (am_scale != 0) unigram(q, lm, target_lengths, EA, amax, B, U, V, naive);
  for (let b = 0; b < B; b++) {
    const Tb = load<i32>(logit_lengths + (<usize>b << 2)), Ub = load<i32>(target_lengths + (<usize>b << 2));
    const tgt = targets + ((<usize>b * (U - 1)) << 2);
    const amb = am + ((<usize>b * T * V) << 2), lmb = lm + ((<usize>b * U * V) << 2);
    exp_rows(EA, amax, amb, Tb, V, naive);
    exp_rows(EL, lmax, lmb, Ub + 1, V, naive);
    mm(naive, 0, 1, Tb, Ub + 1, V, EA, V, EL, V, 0, D, U); // D = exp(am - amax) exp(lm - lmax)^T
    const sd = side + ((<usize>b * (T + U)) << 2);
    if (am_scale != 0) for (let t = 0; t < Tb; t++) put(sd, t, at(amax, t) + Mathf.log(dot(EA + ((<usize>t * V) << 2), q, V)));
    for (let u = 0; u <= Ub; u++) put(sd, T + u, at(lmax, u) + Mathf.log(row_sum(EL + ((<usize>u * V) << 2), V)));
    for (let t = 0; t < Tb; t++) {
      const at_ = amb + ((<usize>t * V) << 2), An: f32 = am_scale != 0 ? at(sd, t) : 0;
      for (let u = 0; u <= Ub; u++) {
        const lu = lmb + ((<usize>u * V) << 2), Ln = at(sd, T + u);
        const n = (b * T + t) * U + u;
        const d = at(D, t * U + u);
        const N = d > SIMPLE_TINY ? at(amax, t) + at(lmax, u) + Mathf.log(d) : direct_lse(at_, lu, V);
        put(norm, n, N);
        const amb_: f32 = am_scale != 0 ? am_scale * (at(at_, blank) + Mathf.log(at(q, blank)) - An) : 0;
        put(lp_blank, n, c * (at(at_, blank) + at(lu, blank) - N) + lm_scale * (at(lu, blank) - Ln) + amb_);
        if (u < Ub) {
          const y = load<i32>(tgt + (<usize>u << 2));
          const amy: f32 = am_scale != 0 ? am_scale * (at(at_, y) + Mathf.log(at(q, y)) - An) : 0;
          put(lp_label, n, c * (at(at_, y) + at(lu, y) - N) + lm_scale * (at(lu, y) - Ln) + amy);
        } else put(lp_label, n, NEG_INF);
      }
    }
  }
  rnnt_lattice(losses, alpha, beta, lp_blank, lp_label, logit_lengths, target_lengths, B, T, U);
}

/**
 * losses[b] = -log P_simple(y_b | x_b). Out: losses [B]. Saved: norm [B,T,U] (N above), side [B*(T+U) + V],
 * lp_blank, lp_label, alpha, beta [B,T,U] (nodes t < logit_lengths[b], u <= target_lengths[b] written).
 * In: am [B,T,V], lm [B,U,V], targets [B,U-1] i32, logit_lengths [B] in 1..T, target_lengths [B] in 0..U-1.
 * scratch: rnnt_simple_scratch(T,U,V) floats. blank in 0..V-1; lm_scale, am_scale >= 0 with sum <= 1.
 */
export function rnnt_simple_forward(
  losses: usize, norm: usize, side: usize, lp_blank: usize, lp_label: usize, alpha: usize, beta: usize,
  am: usize, lm: usize, targets: usize, logit_lengths: usize, target_lengths: usize, scratch: usize,
  B: i32, T: i32, U: i32, V: i32, blank: i32, lm_scale: f32, am_scale: f32,
): void {
  forward_impl(losses, norm, side, lp_blank, lp_label, alpha, beta, am, lm, targets, logit_lengths, target_lengths, scratch, B, T, U, V, blank, lm_scale, am_scale, false);
}

/** Scalar twin of rnnt_simple_forward (scalar exp, gemm_naive). */
export function rnnt_simple_forward_naive(
  losses: usize, norm: usize, side: usize, lp_blank: usize, lp_label: usize, alpha: usize, beta: usize,
  am: usize, lm: usize, targets: usize, logit_lengths: usize, target_lengths: usize, scratch: usize,
  B: i32, T: i32, U: i32, V: i32, blank: i32, lm_scale: f32, am_scale: f32,
): void {
  forward_impl(losses, norm, side, lp_blank, lp_label, alpha, beta, am, lm, targets, logit_lengths, target_lengths, scratch, B, T, U, V, blank, lm_scale, am_scale, true);
}

/** dst[k] += s * e[k] * q[k] for k < V. */
function add_scaled_product(dst: usize, e: usize, q: usize, s: f32, V: i32, naive: bool): void {
  let k = 0;
  if (!naive) {
    const vs = f32x4.splat(s);
    for (; k + 4 <= V; k += 4) {
      const o = <usize>k << 2;
      v128.store(dst + o, f32x4.add(v128.load(dst + o), f32x4.mul(vs, f32x4.mul(v128.load(e + o), v128.load(q + o)))));
    }
  }
  for (; k < V; k++) put(dst, k, at(dst, k) + s * at(e, k) * at(q, k));
}

function backward_impl(
  dam: usize, dlm: usize, norm: usize, side: usize, px_grad: usize, py_grad: usize,
  dlosses: usize, am: usize, lm: usize, targets: usize, logit_lengths: usize, target_lengths: usize, scratch: usize,
  B: i32, T: i32, U: i32, V: i32, blank: i32, lm_scale: f32, am_scale: f32, naive: bool,
): void {
  const c: f32 = 1 - lm_scale - am_scale;
  const EA = scratch, EL = EA + ((<usize>T * V) << 2), W = EL + ((<usize>U * V) << 2), Q = W + ((<usize>T * U) << 2);
  const amax = Q + ((<usize>max(T, U) * V) << 2), lmax = amax + ((<usize>T) << 2), G = lmax + ((<usize>U) << 2);
  const q = side + ((<usize>B * (T + U)) << 2);
  if (am_scale != 0) memory.fill(G, 0, <usize>V << 2); // G[v] = dL/dq[v], summed over the batch
  for (let b = 0; b < B; b++) {
    const Tb = load<i32>(logit_lengths + (<usize>b << 2)), Ub = load<i32>(target_lengths + (<usize>b << 2));
    const tgt = targets + ((<usize>b * (U - 1)) << 2);
    const amb = am + ((<usize>b * T * V) << 2), lmb = lm + ((<usize>b * U * V) << 2);
    const damb = dam + ((<usize>b * T * V) << 2), dlmb = dlm + ((<usize>b * U * V) << 2);
    const sd = side + ((<usize>b * (T + U)) << 2);
    const scale = at(dlosses, b);
    exp_rows(EA, amax, amb, Tb, V, naive);
    exp_rows(EL, lmax, lmb, Ub + 1, V, naive);
    // dL/dŷ = -px_grad, dL/d∅ = -py_grad (occupations); o = px_grad + py_grad is the node's occupation.
    // Inverting `- N` in ŷ and ∅: dL/d(am[t,v] + lm[u,v]) += c·o·exp(am + lm - N), written as
    // EA[t,v]·EL[u,v]·W[t,u] with W = c·o·exp(amax + lmax - N), summed over u (for am) or t (for lm) by GEMMs.
    for (let t = 0; t < Tb; t++) {
      for (let u = 0; u <= Ub; u++) {
        const n = (b * T + t) * U + u;
        const o = scale * (at(px_grad, n) + at(py_grad, n));
        const N = at(norm, n), g = at(amax, t) + at(lmax, u) - N;
        if (-g < Mathf.log(SIMPLE_TINY) + 1) { // log D below log(TINY) + 1: the forward's fallback region, done directly
          put(W, t * U + u, 0);
          const a_ = amb + ((<usize>t * V) << 2), l_ = lmb + ((<usize>u * V) << 2);
          const da = damb + ((<usize>t * V) << 2), dl = dlmb + ((<usize>u * V) << 2);
          for (let k = 0; k < V; k++) {
            const p = c * o * Mathf.exp(at(a_, k) + at(l_, k) - N);
            put(da, k, at(da, k) + p);
            put(dl, k, at(dl, k) + p);
          }
        } else put(W, t * U + u, c * o * Mathf.exp(g));
      }
    }
    mm(naive, 0, 0, Tb, V, Ub + 1, W, U, EL, V, 0, Q, V); // Q = W EL
    for (let t = 0; t < Tb; t++) add_scaled_product(damb + ((<usize>t * V) << 2), EA + ((<usize>t * V) << 2), Q + ((<usize>t * V) << 2), 1, V, naive);
    mm(naive, 1, 0, Ub + 1, V, Tb, W, U, EA, V, 0, Q, V); // Q = W^T EA
    for (let u = 0; u <= Ub; u++) add_scaled_product(dlmb + ((<usize>u * V) << 2), EL + ((<usize>u * V) << 2), Q + ((<usize>u * V) << 2), 1, V, naive);
    // Inverting `- Ln[u]` (l): softmax rows weighted by the symbol's occupation.
    // Inverting `- An[t]` (a): dam[t,v] += a·o_t·P(t,v) with P = EA·q·exp(amax - An) (q-weighted softmax), and
    // dL/dq[v] += a·o_t·P(t,v)/q[v] (the rest of dL/dq comes from `log q[y]` below).
    if (am_scale != 0) {
      for (let t = 0; t < Tb; t++) {
        let o: f32 = 0;
        for (let u = 0; u <= Ub; u++) { const n = (b * T + t) * U + u; o += at(px_grad, n) + at(py_grad, n); }
        const s = am_scale * scale * o * Mathf.exp(at(amax, t) - at(sd, t));
        const da = damb + ((<usize>t * V) << 2), ea = EA + ((<usize>t * V) << 2);
        for (let k = 0; k < V; k++) {
          put(da, k, at(da, k) + s * at(ea, k) * at(q, k));
          put(G, k, at(G, k) + s * at(ea, k));
        }
      }
    }
    if (lm_scale != 0) {
      for (let u = 0; u <= Ub; u++) {
        let o: f32 = 0;
        for (let t = 0; t < Tb; t++) { const n = (b * T + t) * U + u; o += at(px_grad, n) + at(py_grad, n); }
        const s = lm_scale * scale * o * Mathf.exp(at(lmax, u) - at(sd, T + u));
        const dl = dlmb + ((<usize>u * V) << 2), el = EL + ((<usize>u * V) << 2);
        for (let k = 0; k < V; k++) put(dl, k, at(dl, k) + s * at(el, k));
      }
    }
    // Inverting the gathered terms `(c + a) am[t,y]` and `(c + l) lm[u,y]` of ŷ (y = y_{u+1}) and of ∅ (y = blank).
    for (let t = 0; t < Tb; t++) {
      const da = damb + ((<usize>t * V) << 2);
      for (let u = 0; u <= Ub; u++) {
        const n = (b * T + t) * U + u, dl = dlmb + ((<usize>u * V) << 2);
        const gy = scale * at(py_grad, n);
        put(da, blank, at(da, blank) - (c + am_scale) * gy);
        put(dl, blank, at(dl, blank) - (c + lm_scale) * gy);
        if (am_scale != 0) put(G, blank, at(G, blank) - am_scale * gy / at(q, blank)); // `log q[blank]`
        if (u < Ub) {
          const y = load<i32>(tgt + (<usize>u << 2)), gx = scale * at(px_grad, n);
          put(da, y, at(da, y) - (c + am_scale) * gx);
          put(dl, y, at(dl, y) - (c + lm_scale) * gx);
          if (am_scale != 0) put(G, y, at(G, y) - am_scale * gx / at(q, y)); // `log q[y]`
        }
      }
    }
  }
  // Inverting `q = mean of softmax(lm rows) + floor`: dlm[row,k] += (1/rows)·s[k]·(G[k] - Σ_v G[v] s[v]), s = softmax.
  if (am_scale != 0) {
    const inv: f32 = 1 / <f32>valid_rows(target_lengths, B);
    for (let b = 0; b < B; b++) {
      const Ub = load<i32>(target_lengths + (<usize>b << 2));
      for (let u = 0; u <= Ub; u++) {
        const row = (b * U + u) * V, dl = dlm + ((<usize>row) << 2);
        exp_rows(EA, amax, lm + ((<usize>row) << 2), 1, V, naive);
        const z: f32 = 1 / row_sum(EA, V), g = dot(G, EA, V) * z;
        for (let k = 0; k < V; k++) put(dl, k, at(dl, k) + inv * at(EA, k) * z * (at(G, k) - g));
      }
    }
  }
}

/**
 * dam [B,T,V] += dlosses[b]·dL_b/dam, dlm [B,U,V] += dlosses[b]·dL_b/dlm (zero rows past the lengths untouched).
 * Saved: norm, side from the forward; px_grad, py_grad [B,T,U] from rnnt_simple_occupation. Other arguments as
 * the forward (scratch: rnnt_simple_scratch(T,U,V) floats).
 */
export function rnnt_simple_backward(
  dam: usize, dlm: usize, norm: usize, side: usize, px_grad: usize, py_grad: usize,
  dlosses: usize, am: usize, lm: usize, targets: usize, logit_lengths: usize, target_lengths: usize, scratch: usize,
  B: i32, T: i32, U: i32, V: i32, blank: i32, lm_scale: f32, am_scale: f32,
): void {
  backward_impl(dam, dlm, norm, side, px_grad, py_grad, dlosses, am, lm, targets, logit_lengths, target_lengths, scratch, B, T, U, V, blank, lm_scale, am_scale, false);
}

/** Scalar twin of rnnt_simple_backward. */
export function rnnt_simple_backward_naive(
  dam: usize, dlm: usize, norm: usize, side: usize, px_grad: usize, py_grad: usize,
  dlosses: usize, am: usize, lm: usize, targets: usize, logit_lengths: usize, target_lengths: usize, scratch: usize,
  B: i32, T: i32, U: i32, V: i32, blank: i32, lm_scale: f32, am_scale: f32,
): void {
  backward_impl(dam, dlm, norm, side, px_grad, py_grad, dlosses, am, lm, targets, logit_lengths, target_lengths, scratch, B, T, U, V, blank, lm_scale, am_scale, true);
}
