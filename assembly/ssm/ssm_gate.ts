// The MH-SSM inter-head gating: heads are paired (0,1), (2,3), ..., and each head's output is gated
// channel-wise by the sigmoid of its partner's:
//   out[h·P + j] = y[h·P + j] · σ(y[partner(h)·P + j]),  partner(2i) = 2i+1, partner(2i+1) = 2i.
// What it is not: the scan (ssm.ts) or the output projection (the caller's Linear). Our design: the
// MH-SSM paper (Fathullah et al. 2023) abstract gives no gating equation (shared PAPERS.md).
// A leading slice of k heads (k even) is the leading k·P channels: pass C = k·P.
// The SIMD path computes σ with sigmoid4 (assembly/math.ts, a few ulp); the naive twin uses Mathf.exp. They agree to about 1e-6 relative.
import { madd4, sigmoid4 } from "../math";

// @ts-ignore: decorator
@inline
function sigmoid1(x: f32): f32 {
  return 1 / (1 + Mathf.exp(-x));
}

/**
 * out[B·T rows, C] = pairwise-gated y[B·T rows, C]; C = H·P with H even; row strides ld_out, ld_y >= C.
 * Saves nothing beyond y itself (the backward takes y).
 */
export function ssm_gate_forward(out: usize, y: usize, rows: i32, C: i32, P: i32, ld_out: i32, ld_y: i32): void {
  const P4 = P & ~3, P8 = P & ~7;
  for (let r = 0; r < rows; r++) {
    const yr = y + ((<usize>r * ld_y) << 2), orow = out + ((<usize>r * ld_out) << 2);
    for (let h = 0; h + 1 < C / P; h += 2) {
      const a0 = <usize>(h * P) << 2, b0 = <usize>((h + 1) * P) << 2;
      let j = 0;
      // Eight channels per step, their four σ computed before any store: each σ is a long dependency
      // chain and V8 emits the code in source order (as silu_mask_forward in linear_fused.ts).
      for (; j < P8; j += 8) {
        const pa = yr + a0 + (<usize>j << 2), pb = yr + b0 + (<usize>j << 2);
        const a = v128.load(pa), b = v128.load(pb), a1 = v128.load(pa, 16), b1 = v128.load(pb, 16);
        const sa = sigmoid4(a), sb = sigmoid4(b), sa1 = sigmoid4(a1), sb1 = sigmoid4(b1);
        const qa = orow + a0 + (<usize>j << 2), qb = orow + b0 + (<usize>j << 2);
        v128.store(qa, f32x4.mul(a, sb));
        v128.store(qb, f32x4.mul(b, sa));
        v128.store(qa, f32x4.mul(a1, sb1), 16);
        v128.store(qb, f32x4.mul(b1, sa1), 16);
      }
      for (; j < P4; j += 4) {
        const a = v128.load(yr + a0 + (<usize>j << 2)), b = v128.load(yr + b0 + (<usize>j << 2));
        v128.store(orow + a0 + (<usize>j << 2), f32x4.mul(a, sigmoid4(b)));
        v128.store(orow + b0 + (<usize>j << 2), f32x4.mul(b, sigmoid4(a)));
      }
      for (let j = P4; j < P; j++) {
        const a = load<f32>(yr + a0 + (<usize>j << 2)), b = load<f32>(yr + b0 + (<usize>j << 2));
        store<f32>(orow + a0 + (<usize>j << 2), a * sigmoid1(b));
        store<f32>(orow + b0 + (<usize>j << 2), b * sigmoid1(a));
      }
    }
  }
}

/** The scalar twin of ssm_gate_forward. */
export function ssm_gate_forward_naive(out: usize, y: usize, rows: i32, C: i32, P: i32, ld_out: i32, ld_y: i32): void {
  for (let r = 0; r < rows; r++) {
    const yr = y + ((<usize>r * ld_y) << 2), orow = out + ((<usize>r * ld_out) << 2);
    for (let h = 0; h + 1 < C / P; h += 2) {
      for (let j = 0; j < P; j++) {
        const ia = <usize>(h * P + j) << 2, ib = <usize>((h + 1) * P + j) << 2;
        const a = load<f32>(yr + ia), b = load<f32>(yr + ib);
        store<f32>(orow + ia, a * sigmoid1(b));
        store<f32>(orow + ib, b * sigmoid1(a));
      }
    }
  }
}

/**
 * Inverts "out_a = a·σ(b), out_b = b·σ(a)" (a, b: channel j of heads 2i and 2i+1):
 *   dy_a += dout_a·σ(b) + dout_b·b·σ(a)(1 - σ(a));  dy_b += dout_b·σ(a) + dout_a·a·σ(b)(1 - σ(b)).
 * dy, dout, y [B·T rows, C] with row strides ld_dy, ld_dout, ld_y.
 */
export function ssm_gate_backward(dy: usize, dout: usize, y: usize, rows: i32, C: i32, P: i32,
                                  ld_dy: i32, ld_dout: i32, ld_y: i32): void {
  const P4 = P & ~3, P8 = P & ~7;
  const one = f32x4.splat(1);
  for (let r = 0; r < rows; r++) {
    const yr = y + ((<usize>r * ld_y) << 2);
    const gr = dout + ((<usize>r * ld_dout) << 2), dr = dy + ((<usize>r * ld_dy) << 2);
    for (let h = 0; h + 1 < C / P; h += 2) {
      const a0 = <usize>(h * P) << 2, b0 = <usize>((h + 1) * P) << 2;
      let j = 0;
      for (; j < P8; j += 8) { // eight channels, four σ before any store (as in the forward)
        const ja = a0 + (<usize>j << 2), jb = b0 + (<usize>j << 2);
        const a = v128.load(yr + ja), b = v128.load(yr + jb), a1 = v128.load(yr + ja, 16), b1 = v128.load(yr + jb, 16);
        const sa = sigmoid4(a), sb = sigmoid4(b), sa1 = sigmoid4(a1), sb1 = sigmoid4(b1);
        const ga = v128.load(gr + ja), gb = v128.load(gr + jb), ga1 = v128.load(gr + ja, 16), gb1 = v128.load(gr + jb, 16);
        const da = madd4(f32x4.mul(gb, b), f32x4.mul(sa, f32x4.sub(one, sa)), f32x4.mul(ga, sb));
        const db = madd4(f32x4.mul(ga, a), f32x4.mul(sb, f32x4.sub(one, sb)), f32x4.mul(gb, sa));
        const da1 = madd4(f32x4.mul(gb1, b1), f32x4.mul(sa1, f32x4.sub(one, sa1)), f32x4.mul(ga1, sb1));
        const db1 = madd4(f32x4.mul(ga1, a1), f32x4.mul(sb1, f32x4.sub(one, sb1)), f32x4.mul(gb1, sa1));
        v128.store(dr + ja, f32x4.add(v128.load(dr + ja), da));
        v128.store(dr + jb, f32x4.add(v128.load(dr + jb), db));
        v128.store(dr + ja, f32x4.add(v128.load(dr + ja, 16), da1), 16);
        v128.store(dr + jb, f32x4.add(v128.load(dr + jb, 16), db1), 16);
      }
      for (; j < P4; j += 4) {
        const ja = a0 + (<usize>j << 2), jb = b0 + (<usize>j << 2);
        const a = v128.load(yr + ja), b = v128.load(yr + jb);
        const ga = v128.load(gr + ja), gb = v128.load(gr + jb);
        const sa = sigmoid4(a), sb = sigmoid4(b);
        const da = madd4(f32x4.mul(gb, b), f32x4.mul(sa, f32x4.sub(one, sa)), f32x4.mul(ga, sb));
        const db = madd4(f32x4.mul(ga, a), f32x4.mul(sb, f32x4.sub(one, sb)), f32x4.mul(gb, sa));
        v128.store(dr + ja, f32x4.add(v128.load(dr + ja), da));
        v128.store(dr + jb, f32x4.add(v128.load(dr + jb), db));
      }
      for (let j = P4; j < P; j++) {
        gate_pair_backward(dr, gr, yr, a0 + (<usize>j << 2), b0 + (<usize>j << 2));
      }
    }
  }
}

// @ts-ignore: decorator
@inline
function gate_pair_backward(dr: usize, gr: usize, yr: usize, ja: usize, jb: usize): void {
  const a = load<f32>(yr + ja), b = load<f32>(yr + jb);
  const ga = load<f32>(gr + ja), gb = load<f32>(gr + jb);
  const sa = sigmoid1(a), sb = sigmoid1(b);
  store<f32>(dr + ja, load<f32>(dr + ja) + ga * sb + gb * b * sa * (1 - sa));
  store<f32>(dr + jb, load<f32>(dr + jb) + gb * sa + ga * a * sb * (1 - sb));
}

/** The scalar twin of ssm_gate_backward. */
export function ssm_gate_backward_naive(dy: usize, dout: usize, y: usize, rows: i32, C: i32, P: i32,
                                        ld_dy: i32, ld_dout: i32, ld_y: i32): void {
  for (let r = 0; r < rows; r++) {
    const yr = y + ((<usize>r * ld_y) << 2);
    const gr = dout + ((<usize>r * ld_dout) << 2), dr = dy + ((<usize>r * ld_dy) << 2);
    for (let h = 0; h + 1 < C / P; h += 2) {
      for (let j = 0; j < P; j++) {
        gate_pair_backward(dr, gr, yr, <usize>(h * P + j) << 2, <usize>((h + 1) * P + j) << 2);
      }
    }
  }
}
