// In-place distillation over the RNN-T lattice: AlphaNet's adaptive alpha-divergence between the
// teacher's (the largest subnet's, detached) joiner distributions p and the student's q, with
// AlphaNet's stop-gradient surrogate as the backward.
//
// Per distribution (one lattice node, V classes), with w = p/q (AlphaNet f_divergence):
//   α general:  D_α = Σ_i q_i·(min(w_i^α, clip) - 1) / (α(α-1))     ρ_i = min(w_i^α, clip)/α (+ const)
//   α ≈ 1:      D_1 = Σ_i p_i·log w_i = KL(p‖q), unclipped         ρ_i = w_i
//   α ≈ 0:      D_0 = -Σ_i q_i·log min(w_i, clip)  (= KL(q‖p))      ρ_i = log min(w_i, clip) (+ const)
// (≈ means within 1e-3, as AlphaNet; the constants cancel in the gradient because Σ_i q_i = 1.)
// Per utterance b with T_b frames and U_b labels, over the nodes N_b = {(t,u): t < T_b, u <= U_b}:
//   D_α(b) = (1/|N_b|)·Σ_{n∈N_b} D_α(p_n‖q_n);   KD_b = max(D_α-(b), D_α+(b))
// and the chosen α is α- when D_α-(b) > D_α+(b), else α+ (AlphaNet's `gt`). The gradient is that of
// AlphaNet's surrogate -Σ_i sg(q_i)·sg(ρ_i)·log q_i, written with r_i = q_i·ρ_i and S = Σ_i r_i:
//   dstudent[n, j] += scale_b·(1/|N_b|)·(q_j·S - r_j)
// Where no clipping is active it equals the true gradient of D_α (the clip only picks the branch).
// Under the pruned loss, kd_alpha_band_forward_backward takes N_b from the teacher's band instead:
// {(t, s_t + r): t < T_b, r < R, s_t + r <= U_b} with s_t the band starts (src/model/model.ts says why).
//
// What it is not: a forward-only loss, a temperature, or the (1-λ)·RNN-T + λ·KD mix (the caller puts λ
// into `scales`). Reference: facebookresearch/AlphaNet loss_ops.py (f_divergence, AdaptiveLossSoft);
// formulas in /work/shared/PAPERS.md; tested against a PyTorch fixture of the surrogate
// (test/ref/alpha_div.py), float64 finite differences of the divergence, and the naive twin.
// Numerics: log q = z - (max + log Σ exp(z - max)), log w = log p - log q, and w^α = exp(min(α·log w,
// log clip)), so nothing overflows; q·w = p is used directly for the KL case. f32 per node, f64 per
// utterance sum. Teacher p = 0 (log p = -inf) counts 0 in KL (the limit), where AlphaNet gives NaN.

import { exp4, madd4 } from "../math";

const GENERAL: i32 = 0;
const ZERO: i32 = 1; // α ≈ 0
const KL: i32 = 2; // α ≈ 1

function alpha_kind(a: f32): i32 {
  if (Mathf.abs(a) < 1e-3) return ZERO;
  if (Mathf.abs(a - 1) < 1e-3) return KL;
  return GENERAL;
}

// Per-node results handed between the helpers below (plain globals: no managed objects).
let node_c: f32 = 0; // log Σ_k exp(z_k): log q_i = z_i - node_c
let node_inv: f32 = 0; // 1 / Σ_k exp(z_k - max): q_i = e_i·node_inv

// @ts-ignore: decorator
@inline function hsum(v: v128): f32 {
  return (f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1)) + (f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3));
}

// @ts-ignore: decorator
@inline function ld(p: usize, i: i32): f32 {
  return load<f32>(p + (<usize>i << 2));
}

// @ts-ignore: decorator
@inline function st(p: usize, i: i32, x: f32): void {
  store<f32>(p + (<usize>i << 2), x);
}

/** e[i] = exp(z[i] - max z) for i < V; sets node_c and node_inv. */
function node_softmax(e: usize, z: usize, V: i32): void {
  let vm = f32x4.splat(-Infinity);
  let i = 0;
  for (; i + 4 <= V; i += 4) vm = f32x4.max(vm, v128.load(z + (<usize>i << 2)));
  let m = Mathf.max(Mathf.max(f32x4.extract_lane(vm, 0), f32x4.extract_lane(vm, 1)), Mathf.max(f32x4.extract_lane(vm, 2), f32x4.extract_lane(vm, 3)));
  for (; i < V; i++) m = Mathf.max(m, ld(z, i));
  const mv = f32x4.splat(m);
  let acc = f32x4.splat(0);
  i = 0;
  for (; i + 4 <= V; i += 4) {
    const x = exp4(f32x4.sub(v128.load(z + (<usize>i << 2)), mv));
    v128.store(e + (<usize>i << 2), x);
    acc = f32x4.add(acc, x);
  }
  let s = hsum(acc);
  for (; i < V; i++) {
    const x = Mathf.exp(ld(z, i) - m);
    st(e, i, x);
    s += x;
  }
  node_c = m + Mathf.log(s);
  node_inv = 1 / s;
}

/** The scalar twin of node_softmax. */
function node_softmax_naive(e: usize, z: usize, V: i32): void {
  let m: f32 = -Infinity;
  for (let i = 0; i < V; i++) m = Mathf.max(m, ld(z, i));
  let s: f32 = 0;
  for (let i = 0; i < V; i++) {
    const x = Mathf.exp(ld(z, i) - m);
    st(e, i, x);
    s += x;
  }
  node_c = m + Mathf.log(s);
  node_inv = 1 / s;
}

/** One term of D_α at class i (scalar): the tails of the SIMD loops and the naive twin. */
// @ts-ignore: decorator
@inline function div_term(q: f32, lq: f32, lp: f32, alpha: f32, kind: i32, lclip: f32): f32 {
  const lw = lp - lq;
  if (kind == KL) {
    const p = Mathf.exp(lp);
    return p == 0 ? 0 : p * lw;
  }
  if (kind == ZERO) return q * -Mathf.min(lw, lclip);
  return q * (Mathf.exp(Mathf.min(alpha * lw, lclip)) - 1);
}

/** r_i = q_i·ρ_i at class i (scalar), without ρ's constants. */
// @ts-ignore: decorator
@inline function rho_term(q: f32, lq: f32, lp: f32, inv_alpha: f32, alpha: f32, kind: i32, lclip: f32): f32 {
  if (kind == KL) return Mathf.exp(lp); // q·w = p
  const lw = lp - lq;
  if (kind == ZERO) return q * Mathf.min(lw, lclip);
  return q * Mathf.exp(Mathf.min(alpha * lw, lclip)) * inv_alpha;
}

/** D_α(p‖q) of one node; e holds exp(z - max) from node_softmax. */
function node_div(z: usize, lp: usize, e: usize, V: i32, alpha: f32, kind: i32, lclip: f32): f32 {
  const cv = f32x4.splat(node_c), iv = f32x4.splat(node_inv);
  const av = f32x4.splat(alpha), lcv = f32x4.splat(lclip), one = f32x4.splat(1), zero = f32x4.splat(0);
  let acc = f32x4.splat(0);
  let i = 0;
  for (; i + 4 <= V; i += 4) {
    const o = <usize>i << 2;
    const lpv = v128.load(lp + o);
    const lw = f32x4.sub(lpv, f32x4.sub(v128.load(z + o), cv)); // log p - log q
    if (kind == KL) {
      const p = exp4(lpv);
      acc = f32x4.add(acc, v128.andnot(f32x4.mul(p, lw), f32x4.eq(p, zero))); // p log w, 0 where p = 0
    } else if (kind == ZERO) {
      acc = madd4(f32x4.mul(v128.load(e + o), iv), f32x4.neg(f32x4.min(lw, lcv)), acc);
    } else {
      const cw = exp4(f32x4.min(f32x4.mul(av, lw), lcv)); // min(w^α, clip)
      acc = madd4(f32x4.mul(v128.load(e + o), iv), f32x4.sub(cw, one), acc);
    }
  }
  let d = hsum(acc);
  for (; i < V; i++) d += div_term(ld(e, i) * node_inv, ld(z, i) - node_c, ld(lp, i), alpha, kind, lclip);
  return kind == GENERAL ? d / (alpha * (alpha - 1)) : d;
}

/** The scalar twin of node_div. */
function node_div_naive(z: usize, lp: usize, e: usize, V: i32, alpha: f32, kind: i32, lclip: f32): f32 {
  let d: f32 = 0;
  for (let i = 0; i < V; i++) d += div_term(ld(e, i) * node_inv, ld(z, i) - node_c, ld(lp, i), alpha, kind, lclip);
  return kind == GENERAL ? d / (alpha * (alpha - 1)) : d;
}

/**
 * dz[j] += g·(q_j·S - r_j), S = Σ_i r_i: the surrogate -Σ_i sg(q_i ρ_i)·log q_i, where
 * d log q_i / d z_j = δ_ij - q_j (log q = z - logsumexp z). r is scratch [V].
 */
function node_grad(dz: usize, z: usize, lp: usize, e: usize, r: usize, V: i32, alpha: f32, kind: i32, lclip: f32, g: f32): void {
  const cv = f32x4.splat(node_c), iv = f32x4.splat(node_inv);
  const av = f32x4.splat(alpha), lcv = f32x4.splat(lclip), ia = f32x4.splat(1 / alpha);
  let acc = f32x4.splat(0);
  let i = 0;
  for (; i + 4 <= V; i += 4) {
    const o = <usize>i << 2;
    const lpv = v128.load(lp + o);
    let rv: v128;
    if (kind == KL) {
      rv = exp4(lpv);
    } else {
      const lw = f32x4.sub(lpv, f32x4.sub(v128.load(z + o), cv));
      const q = f32x4.mul(v128.load(e + o), iv);
      if (kind == ZERO) rv = f32x4.mul(q, f32x4.min(lw, lcv));
      else rv = f32x4.mul(f32x4.mul(q, exp4(f32x4.min(f32x4.mul(av, lw), lcv))), ia);
    }
    v128.store(r + o, rv);
    acc = f32x4.add(acc, rv);
  }
  let S = hsum(acc);
  for (; i < V; i++) {
    const x = rho_term(ld(e, i) * node_inv, ld(z, i) - node_c, ld(lp, i), 1 / alpha, alpha, kind, lclip);
    st(r, i, x);
    S += x;
  }
  const gs = f32x4.splat(g * S), ng = f32x4.splat(-g);
  i = 0;
  for (; i + 4 <= V; i += 4) {
    const o = <usize>i << 2;
    const t = madd4(f32x4.mul(v128.load(e + o), iv), gs, f32x4.mul(v128.load(r + o), ng));
    v128.store(dz + o, f32x4.add(v128.load(dz + o), t));
  }
  for (; i < V; i++) st(dz, i, ld(dz, i) + (ld(e, i) * node_inv * (g * S) - g * ld(r, i)));
}

/** The scalar twin of node_grad. */
function node_grad_naive(dz: usize, z: usize, lp: usize, e: usize, r: usize, V: i32, alpha: f32, kind: i32, lclip: f32, g: f32): void {
  let S: f32 = 0;
  for (let i = 0; i < V; i++) {
    const x = rho_term(ld(e, i) * node_inv, ld(z, i) - node_c, ld(lp, i), 1 / alpha, alpha, kind, lclip);
    st(r, i, x);
    S += x;
  }
  for (let i = 0; i < V; i++) st(dz, i, ld(dz, i) + g * (ld(e, i) * node_inv * S - ld(r, i)));
}

/** Floats of scratch kd_alpha_forward_backward needs: exp(z - max) and r, one node each. */
export function kd_alpha_scratch(V: i32): i32 {
  return 2 * V;
}

// Nodes of frame t of utterance b: u = 0..count-1 of row (b·T + t) of the [B,T,U1,V] logits. On the full
// lattice (ranges = 0) every frame has the nodes u <= U_b. On a pruned band (ranges = the band starts [B,T]
// i32, U1 = the band width R) node r of frame t is the lattice node (t, s_t + r), which exists while
// s_t + r <= U_b: the band's padding past the utterance's last label is not a node.
// @ts-ignore: decorator
@inline function frame_nodes(ranges: usize, b: i32, t: i32, T: i32, U1: i32, Ub: i32): i32 {
  if (ranges == 0) return min(Ub + 1, U1);
  return min(max(Ub + 1 - load<i32>(ranges + (<usize>(b * T + t) << 2)), 0), U1);
}

function kd_impl(
  losses: usize, dstudent: usize, student: usize, teacher: usize, tlens: usize, ulens: usize, scales: usize, ranges: usize,
  scratch: usize, B: i32, T: i32, U1: i32, V: i32, alpha_neg: f32, alpha_pos: f32, clip: f32, naive: bool,
): void {
  const kn = alpha_kind(alpha_neg), kp = alpha_kind(alpha_pos);
  const same = alpha_neg == alpha_pos;
  const lclip = Mathf.log(clip);
  const e = scratch, r = scratch + (<usize>V << 2);
  for (let b = 0; b < B; b++) {
    // The host validates the lengths; clamping here only keeps bad ones from writing out of bounds.
    const Tb = min(max(load<i32>(tlens + (<usize>b << 2)), 0), T);
    const Ub = max(load<i32>(ulens + (<usize>b << 2)), -1);
    // Pass 1: D_α-(b) and D_α+(b), summed per node in f64.
    let sn: f64 = 0, sp: f64 = 0;
    let count = 0;
    for (let t = 0; t < Tb; t++) {
      const nU = frame_nodes(ranges, b, t, T, U1, Ub);
      count += nU;
      for (let u = 0; u < nU; u++) {
        const off = (<usize>((b * T + t) * U1 + u) * V) << 2;
        const z = student + off, lp = teacher + off;
        if (naive) node_softmax_naive(e, z, V);
        else node_softmax(e, z, V);
        const dn = naive ? node_div_naive(z, lp, e, V, alpha_neg, kn, lclip) : node_div(z, lp, e, V, alpha_neg, kn, lclip);
        sn += <f64>dn;
        if (!same) sp += <f64>(naive ? node_div_naive(z, lp, e, V, alpha_pos, kp, lclip) : node_div(z, lp, e, V, alpha_pos, kp, lclip));
      }
    }
    if (count == 0) {
      st(losses, b, 0);
      continue;
    }
    if (same) sp = sn;
    const dneg = sn / <f64>count, dpos = sp / <f64>count;
    const useNeg = dneg > dpos; // AlphaNet: ind = gt(loss_left, loss_right)
    st(losses, b, <f32>(useNeg ? dneg : dpos));
    const scale = ld(scales, b);
    if (scale == 0) continue;
    // Pass 2: the surrogate's gradient for the chosen α.
    const alpha = useNeg ? alpha_neg : alpha_pos, kind = useNeg ? kn : kp;
    const g = <f32>(<f64>scale / <f64>count);
    for (let t = 0; t < Tb; t++) {
      const nU = frame_nodes(ranges, b, t, T, U1, Ub);
      for (let u = 0; u < nU; u++) {
        const off = (<usize>((b * T + t) * U1 + u) * V) << 2;
        const z = student + off, lp = teacher + off, dz = dstudent + off;
        if (naive) {
          node_softmax_naive(e, z, V);
          node_grad_naive(dz, z, lp, e, r, V, alpha, kind, lclip, g);
        } else {
          node_softmax(e, z, V);
          node_grad(dz, z, lp, e, r, V, alpha, kind, lclip, g);
        }
      }
    }
  }
}

/**
 * AlphaNet's adaptive alpha-divergence KD_b (see the file header) and its surrogate gradient.
 * Out: losses [B] (KD_b, unscaled; 0 for an utterance without nodes).
 * Grad: dstudent [B,T,U,V] ACCUMULATES scale_b/|N_b|·(surrogate gradient) at nodes in N_b only; other
 * entries are not touched. dstudent must not alias student or teacher.
 * In: student logits [B,T,U,V]; teacher LOG-PROBS [B,T,U,V] (log_softmax_forward, in place, turns
 * logits into them); tlens [B] i32 (T_b), ulens [B] i32 (U_b labels: nodes u <= U_b); scales [B] f32
 * (a 0 skips the backward of that utterance). scratch: kd_alpha_scratch(V) floats.
 * Dims: U is labels+1 (U1). alpha_neg, alpha_pos: AlphaNet's α- and α+ (-1 and 1); clip > 0 (5).
 */
export function kd_alpha_forward_backward(
  losses: usize, dstudent: usize, student: usize, teacher: usize, tlens: usize, ulens: usize, scales: usize,
  scratch: usize, B: i32, T: i32, U1: i32, V: i32, alpha_neg: f32, alpha_pos: f32, clip: f32,
): void {
  kd_impl(losses, dstudent, student, teacher, tlens, ulens, scales, 0, scratch, B, T, U1, V, alpha_neg, alpha_pos, clip, false);
}

/** The scalar twin of kd_alpha_forward_backward (musl expf, one accumulator). */
export function kd_alpha_forward_backward_naive(
  losses: usize, dstudent: usize, student: usize, teacher: usize, tlens: usize, ulens: usize, scales: usize,
  scratch: usize, B: i32, T: i32, U1: i32, V: i32, alpha_neg: f32, alpha_pos: f32, clip: f32,
): void {
  kd_impl(losses, dstudent, student, teacher, tlens, ulens, scales, 0, scratch, B, T, U1, V, alpha_neg, alpha_pos, clip, true);
}

/**
 * kd_alpha_forward_backward on pruned RNN-T's band (assembly/transducer/rnnt_pruned_joiner.ts): student logits
 * and teacher log-probs [B,T,R,V], node r of frame t being the lattice node (t, ranges[b,t] + r); only the
 * nodes with ranges[b,t] + r <= U_b count (|N_b| is their number) and are written. ranges [B,T] i32.
 */
export function kd_alpha_band_forward_backward(
  losses: usize, dstudent: usize, student: usize, teacher: usize, tlens: usize, ulens: usize, scales: usize, ranges: usize,
  scratch: usize, B: i32, T: i32, R: i32, V: i32, alpha_neg: f32, alpha_pos: f32, clip: f32,
): void {
  kd_impl(losses, dstudent, student, teacher, tlens, ulens, scales, ranges, scratch, B, T, R, V, alpha_neg, alpha_pos, clip, false);
}

/** The scalar twin of kd_alpha_band_forward_backward. */
export function kd_alpha_band_forward_backward_naive(
  losses: usize, dstudent: usize, student: usize, teacher: usize, tlens: usize, ulens: usize, scales: usize, ranges: usize,
  scratch: usize, B: i32, T: i32, R: i32, V: i32, alpha_neg: f32, alpha_pos: f32, clip: f32,
): void {
  kd_impl(losses, dstudent, student, teacher, tlens, ulens, scales, ranges, scratch, B, T, R, V, alpha_neg, alpha_pos, clip, true);
}
