// RNN-T joiner, forward and backward: project encoder and predictor outputs to J, add with
// broadcasting over the (T, U) lattice, tanh, project to V.
//
//   e = enc W_enc^T + b_enc  [B,T,J];  p = pred W_pred^T + b_pred  [B,U,J]
//   h[b,t,u,:] = tanh(e[b,t,:] + p[b,u,:])  [B,T,U,J];  logits = h W_out^T + b_out  [B,T,U,V]
//
// The implementation is joiner_core.ts's, without a band (rnnt_pruned_joiner.ts is the same on pruned
// RNN-T's band): every (B,T,U) product one GEMM over all B*T*U rows, the broadcast add and its reduction
// SIMD loops. What it is not: a joiner that reads a subset of (t, u) (that is the pruned one). Reference: icefall zipformer joiner.py (add, tanh,
// project); tested against a float64 reference with finite differences and against the naive twin.
// Weights may be leading slices of larger ones (a subnet): W_enc [J, ld_wenc >= Denc],
// W_pred [J, ld_wpred >= Dpred], W_out [V, ld_wout >= J]; their gradients use the same strides.

import { gemm } from "../ops/gemm";
import { tanh4 } from "../math";
import { fill_bias, joiner_backward_impl, joiner_forward_impl, joiner_scratch_backward, joiner_scratch_forward } from "./joiner_core";

/** Floats of scratch the forward needs: e and p. */
export function joiner_forward_scratch(B: i32, T: i32, U: i32, J: i32): i32 {
  return joiner_scratch_forward(B, T, U, J);
}

/** Floats of scratch the backward needs: dE, dP and one chunk of dh. */
export function joiner_backward_scratch(B: i32, T: i32, U: i32, J: i32): i32 {
  return joiner_scratch_backward(B, T, U, J);
}

/**
 * Out: logits [B,T,U,V]. Saved: h [B,T,U,J]. In: enc [B,T,Denc], pred [B,U,Dpred], w_enc [J,ld_wenc],
 * b_enc [J], w_pred [J,ld_wpred], b_pred [J], w_out [V,ld_wout], b_out [V].
 * scratch: joiner_forward_scratch(B,T,U,J) floats.
 */
export function joiner_forward(
  logits: usize, h: usize, enc: usize, pred: usize, w_enc: usize, b_enc: usize, w_pred: usize, b_pred: usize,
  w_out: usize, b_out: usize, scratch: usize, B: i32, T: i32, U: i32, Denc: i32, Dpred: i32, J: i32, V: i32,
  ld_wenc: i32, ld_wpred: i32, ld_wout: i32,
): void {
  joiner_forward_impl(logits, h, enc, pred, 0, w_enc, b_enc, w_pred, b_pred, w_out, b_out, scratch, B, T, U, U, Denc, Dpred, J, V, ld_wenc, ld_wpred, ld_wout, false);
}

/** Twin of joiner_forward: scalar tanh and gemm_naive. */
export function joiner_forward_naive(
  logits: usize, h: usize, enc: usize, pred: usize, w_enc: usize, b_enc: usize, w_pred: usize, b_pred: usize,
  w_out: usize, b_out: usize, scratch: usize, B: i32, T: i32, U: i32, Denc: i32, Dpred: i32, J: i32, V: i32,
  ld_wenc: i32, ld_wpred: i32, ld_wout: i32,
): void {
  joiner_forward_impl(logits, h, enc, pred, 0, w_enc, b_enc, w_pred, b_pred, w_out, b_out, scratch, B, T, U, U, Denc, Dpred, J, V, ld_wenc, ld_wpred, ld_wout, true);
}

/**
 * Backward of joiner_forward from dlogits [B,T,U,V]. Accumulates into denc [B,T,Denc], dpred [B,U,Dpred],
 * dw_enc [J,ld_wenc], db_enc [J], dw_pred [J,ld_wpred], db_pred [J], dw_out [V,ld_wout], db_out [V].
 * Saved: h. In: as the forward. scratch: joiner_backward_scratch(B,T,U,J) floats.
 */
export function joiner_backward(
  denc: usize, dpred: usize, dw_enc: usize, db_enc: usize, dw_pred: usize, db_pred: usize, dw_out: usize, db_out: usize,
  h: usize, dlogits: usize, enc: usize, pred: usize, w_enc: usize, w_pred: usize, w_out: usize, scratch: usize,
  B: i32, T: i32, U: i32, Denc: i32, Dpred: i32, J: i32, V: i32, ld_wenc: i32, ld_wpred: i32, ld_wout: i32,
): void {
  joiner_backward_impl(denc, dpred, dw_enc, db_enc, dw_pred, db_pred, dw_out, db_out, h, dlogits, enc, pred, 0, w_enc, w_pred, w_out, scratch, B, T, U, U, Denc, Dpred, J, V, ld_wenc, ld_wpred, ld_wout, false);
}

/** Twin of joiner_backward: scalar loops and gemm_naive. */
export function joiner_backward_naive(
  denc: usize, dpred: usize, dw_enc: usize, db_enc: usize, dw_pred: usize, db_pred: usize, dw_out: usize, db_out: usize,
  h: usize, dlogits: usize, enc: usize, pred: usize, w_enc: usize, w_pred: usize, w_out: usize, scratch: usize,
  B: i32, T: i32, U: i32, Denc: i32, Dpred: i32, J: i32, V: i32, ld_wenc: i32, ld_wpred: i32, ld_wout: i32,
): void {
  joiner_backward_impl(denc, dpred, dw_enc, db_enc, dw_pred, db_pred, dw_out, db_out, h, dlogits, enc, pred, 0, w_enc, w_pred, w_out, scratch, B, T, U, U, Denc, Dpred, J, V, ld_wenc, ld_wpred, ld_wout, true);
}

/**
 * Decoding: logits for n (frame, hypothesis) pairs. logits [n,V] = tanh(e[rows[i]] + p[i]) W_out^T + b_out,
 * with e [*, J] the projected encoder frames (enc W_enc^T + b_enc, computed once per utterance batch),
 * p [n, J] the projected predictor outputs, rows [n] i32. scratch: n*J floats (h).
 */
export function joiner_pairs_forward(
  logits: usize, e: usize, p: usize, rows: usize, w_out: usize, b_out: usize, scratch: usize,
  n: i32, J: i32, V: i32, ld_wout: i32,
): void {
  for (let i = 0; i < n; i++) {
    const er = e + ((<usize>load<i32>(rows + (<usize>i << 2)) * J) << 2);
    const pr = p + ((<usize>i * J) << 2), hr = scratch + ((<usize>i * J) << 2);
    let k = 0;
    for (; k + 4 <= J; k += 4) {
      const o = <usize>k << 2;
      v128.store(hr + o, tanh4(f32x4.add(v128.load(er + o), v128.load(pr + o))));
    }
    for (; k < J; k++) store<f32>(hr + (<usize>k << 2), Mathf.tanh(load<f32>(er + (<usize>k << 2)) + load<f32>(pr + (<usize>k << 2))));
  }
  fill_bias(logits, b_out, n, V);
  gemm(0, 1, n, V, J, 1, scratch, J, w_out, ld_wout, 1, logits, V);
}
