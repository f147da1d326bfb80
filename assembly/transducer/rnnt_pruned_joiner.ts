// The RNN-T joiner of assembly/transducer/joiner.ts evaluated only on pruned RNN-T's band, forward and backward.
//
//   e = enc W_enc^T + b_enc [B,T,J];  p = pred W_pred^T + b_pred [B,U,J]
//   h[b,t,r,:] = tanh(e[b,t,:] + p[b, g(b,t,r), :]) [B,T,R,J],  g(b,t,r) = min(ranges[b,t] + r, U-1)
//   logits = h W_out^T + b_out [B,T,R,V]
// The band's symbols u = ranges[b,t] + r past U-1 gather the last predictor row (the loss ignores them).
// What it is not: the loss (assembly/transducer/rnnt_pruned_loss.ts), nor a joiner for decoding.
// Reference: icefall zipformer joiner.py with k2 `do_rnnt_pruning` (gather, read not copied); with R = U and
// ranges 0 it is assembly/transducer/joiner.ts exactly (both are joiner_core.ts's one implementation). Tested
// against that, finite differences, and the naive twin.
// Weights may be leading slices (ld strides) as in assembly/transducer/joiner.ts.

import { joiner_backward_impl, joiner_forward_impl, joiner_scratch_backward, joiner_scratch_forward } from "./joiner_core";

/** Floats of scratch the forward needs: e and p. */
export function rnnt_pruned_joiner_forward_scratch(B: i32, T: i32, U: i32, J: i32): i32 {
  return joiner_scratch_forward(B, T, U, J);
}

/** Floats of scratch the backward needs: dE, dP and one chunk of dh. */
export function rnnt_pruned_joiner_backward_scratch(B: i32, T: i32, U: i32, J: i32): i32 {
  return joiner_scratch_backward(B, T, U, J);
}

/**
 * Out: logits [B,T,R,V]. Saved: h [B,T,R,J]. In: enc [B,T,Denc], pred [B,U,Dpred], ranges [B,T] i32 (band
 * starts, rnnt_prune_ranges), w_enc [J,ld_wenc], b_enc [J], w_pred [J,ld_wpred], b_pred [J], w_out [V,ld_wout],
 * b_out [V]. scratch: rnnt_pruned_joiner_forward_scratch(B,T,U,J) floats.
 */
export function rnnt_pruned_joiner_forward(
  logits: usize, h: usize, enc: usize, pred: usize, ranges: usize, w_enc: usize, b_enc: usize, w_pred: usize, b_pred: usize,
  w_out: usize, b_out: usize, scratch: usize, B: i32, T: i32, U: i32, R: i32, Denc: i32, Dpred: i32, J: i32, V: i32,
  ld_wenc: i32, ld_wpred: i32, ld_wout: i32,
): void {
  joiner_forward_impl(logits, h, enc, pred, ranges, w_enc, b_enc, w_pred, b_pred, w_out, b_out, scratch, B, T, U, R, Denc, Dpred, J, V, ld_wenc, ld_wpred, ld_wout, false);
}

/** Twin of rnnt_pruned_joiner_forward: scalar tanh and gemm_naive. */
export function rnnt_pruned_joiner_forward_naive(
  logits: usize, h: usize, enc: usize, pred: usize, ranges: usize, w_enc: usize, b_enc: usize, w_pred: usize, b_pred: usize,
  w_out: usize, b_out: usize, scratch: usize, B: i32, T: i32, U: i32, R: i32, Denc: i32, Dpred: i32, J: i32, V: i32,
  ld_wenc: i32, ld_wpred: i32, ld_wout: i32,
): void {
  joiner_forward_impl(logits, h, enc, pred, ranges, w_enc, b_enc, w_pred, b_pred, w_out, b_out, scratch, B, T, U, R, Denc, Dpred, J, V, ld_wenc, ld_wpred, ld_wout, true);
}

/**
 * Backward of rnnt_pruned_joiner_forward from dlogits [B,T,R,V]. Accumulates into denc [B,T,Denc],
 * dpred [B,U,Dpred], dw_enc [J,ld_wenc], db_enc [J], dw_pred [J,ld_wpred], db_pred [J], dw_out [V,ld_wout],
 * db_out [V]. Saved: h. In: as the forward. scratch: rnnt_pruned_joiner_backward_scratch(B,T,U,J) floats.
 */
export function rnnt_pruned_joiner_backward(
  denc: usize, dpred: usize, dw_enc: usize, db_enc: usize, dw_pred: usize, db_pred: usize, dw_out: usize, db_out: usize,
  h: usize, dlogits: usize, enc: usize, pred: usize, ranges: usize, w_enc: usize, w_pred: usize, w_out: usize, scratch: usize,
  B: i32, T: i32, U: i32, R: i32, Denc: i32, Dpred: i32, J: i32, V: i32, ld_wenc: i32, ld_wpred: i32, ld_wout: i32,
): void {
  joiner_backward_impl(denc, dpred, dw_enc, db_enc, dw_pred, db_pred, dw_out, db_out, h, dlogits, enc, pred, ranges, w_enc, w_pred, w_out, scratch, B, T, U, R, Denc, Dpred, J, V, ld_wenc, ld_wpred, ld_wout, false);
}

/** Twin of rnnt_pruned_joiner_backward: scalar loops and gemm_naive. */
export function rnnt_pruned_joiner_backward_naive(
  denc: usize, dpred: usize, dw_enc: usize, db_enc: usize, dw_pred: usize, db_pred: usize, dw_out: usize, db_out: usize,
  h: usize, dlogits: usize, enc: usize, pred: usize, ranges: usize, w_enc: usize, w_pred: usize, w_out: usize, scratch: usize,
  B: i32, T: i32, U: i32, R: i32, Denc: i32, Dpred: i32, J: i32, V: i32, ld_wenc: i32, ld_wpred: i32, ld_wout: i32,
): void {
  joiner_backward_impl(denc, dpred, dw_enc, db_enc, dw_pred, db_pred, dw_out, db_out, h, dlogits, enc, pred, ranges, w_enc, w_pred, w_out, scratch, B, T, U, R, Denc, Dpred, J, V, ld_wenc, ld_wpred, ld_wout, true);
}
