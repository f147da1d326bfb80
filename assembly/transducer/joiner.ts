// RNN-T joiner, forward and backward: project encoder and predictor outputs to J, add with
// broadcasting over the (T, U) lattice, tanh, project to V.
//
//   e = enc W_enc^T + b_enc  [B,T,J];  p = pred W_pred^T + b_pred  [B,U,J]
//   h[b,t,u,:] = tanh(e[b,t,:] + p[b,u,:])  [B,T,U,J];  logits = h W_out^T + b_out  [B,T,U,V]
//
// Every (B,T,U) product is one GEMM over all B*T*U rows (the backward's dh in row chunks of
// JOINER_CHUNK); the broadcast add and its reduction are SIMD loops. What it is not: a pruned joiner
// (k2) or one that reads a subset of (t, u). Reference: icefall zipformer joiner.py (add, tanh,
// project); tested against a float64 reference with finite differences and against the naive twin.
// Weights may be leading slices of larger ones (a subnet): W_enc [J, ld_wenc >= Denc],
// W_pred [J, ld_wpred >= Dpred], W_out [V, ld_wout >= J]; their gradients use the same strides.

import { gemm, gemm_naive } from "../ops/gemm";
import { tanh4 } from "../math";

const JOINER_CHUNK: i32 = 256; // rows of dh computed per GEMM in the backward

// @ts-ignore: decorator
@inline function mm(naive: bool, tA: i32, tB: i32, M: i32, N: i32, K: i32, A: usize, lda: i32, B: usize, ldb: i32, beta: f32, C: usize, ldc: i32): void {
  if (naive) gemm_naive(tA, tB, M, N, K, 1, A, lda, B, ldb, beta, C, ldc);
  else gemm(tA, tB, M, N, K, 1, A, lda, B, ldb, beta, C, ldc);
}

/** rows [n, N] = bias [N] broadcast. */
function fill_bias(rows: usize, bias: usize, n: i32, N: i32): void {
  for (let r = 0; r < n; r++) memory.copy(rows + ((<usize>r * N) << 2), bias, <usize>N << 2);
}

/** acc[N] += sum over n rows of x [n, N]. */
function add_colsum(acc: usize, x: usize, n: i32, N: i32): void {
  for (let r = 0; r < n; r++) {
    const xr = x + ((<usize>r * N) << 2);
    let k = 0;
    for (; k + 4 <= N; k += 4) v128.store(acc + (<usize>k << 2), f32x4.add(v128.load(acc + (<usize>k << 2)), v128.load(xr + (<usize>k << 2))));
    for (; k < N; k++) store<f32>(acc + (<usize>k << 2), load<f32>(acc + (<usize>k << 2)) + load<f32>(xr + (<usize>k << 2)));
  }
}

/** Floats of scratch the forward needs: e and p. */
export function joiner_forward_scratch(B: i32, T: i32, U: i32, J: i32): i32 {
  return (B * T + B * U) * J;
}

/** Floats of scratch the backward needs: dE, dP and one chunk of dh. */
export function joiner_backward_scratch(B: i32, T: i32, U: i32, J: i32): i32 {
  return (B * T + B * U + JOINER_CHUNK) * J;
}

function forward_impl(
  logits: usize, h: usize, enc: usize, pred: usize, w_enc: usize, b_enc: usize, w_pred: usize, b_pred: usize,
  w_out: usize, b_out: usize, scratch: usize, B: i32, T: i32, U: i32, Denc: i32, Dpred: i32, J: i32, V: i32,
  ld_wenc: i32, ld_wpred: i32, ld_wout: i32, naive: bool,
): void {
  const e = scratch, p = scratch + ((<usize>B * T * J) << 2);
  fill_bias(e, b_enc, B * T, J);
  mm(naive, 0, 1, B * T, J, Denc, enc, Denc, w_enc, ld_wenc, 1, e, J);
  fill_bias(p, b_pred, B * U, J);
  mm(naive, 0, 1, B * U, J, Dpred, pred, Dpred, w_pred, ld_wpred, 1, p, J);
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      const er = e + ((<usize>(b * T + t) * J) << 2);
      for (let u = 0; u < U; u++) {
        const pr = p + ((<usize>(b * U + u) * J) << 2);
        const hr = h + ((<usize>((b * T + t) * U + u) * J) << 2);
        let k = 0;
        if (!naive) {
          for (; k + 4 <= J; k += 4) {
            const o = <usize>k << 2;
            v128.store(hr + o, tanh4(f32x4.add(v128.load(er + o), v128.load(pr + o))));
          }
        }
        for (; k < J; k++) store<f32>(hr + (<usize>k << 2), Mathf.tanh(load<f32>(er + (<usize>k << 2)) + load<f32>(pr + (<usize>k << 2))));
      }
    }
  }
  fill_bias(logits, b_out, B * T * U, V);
  mm(naive, 0, 1, B * T * U, V, J, h, J, w_out, ld_wout, 1, logits, V);
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
  forward_impl(logits, h, enc, pred, w_enc, b_enc, w_pred, b_pred, w_out, b_out, scratch, B, T, U, Denc, Dpred, J, V, ld_wenc, ld_wpred, ld_wout, false);
}

/** Twin of joiner_forward: scalar tanh and gemm_naive. */
export function joiner_forward_naive(
  logits: usize, h: usize, enc: usize, pred: usize, w_enc: usize, b_enc: usize, w_pred: usize, b_pred: usize,
  w_out: usize, b_out: usize, scratch: usize, B: i32, T: i32, U: i32, Denc: i32, Dpred: i32, J: i32, V: i32,
  ld_wenc: i32, ld_wpred: i32, ld_wout: i32,
): void {
  forward_impl(logits, h, enc, pred, w_enc, b_enc, w_pred, b_pred, w_out, b_out, scratch, B, T, U, Denc, Dpred, J, V, ld_wenc, ld_wpred, ld_wout, true);
}

function backward_impl(
  denc: usize, dpred: usize, dw_enc: usize, db_enc: usize, dw_pred: usize, db_pred: usize, dw_out: usize, db_out: usize,
  h: usize, dlogits: usize, enc: usize, pred: usize, w_enc: usize, w_pred: usize, w_out: usize, scratch: usize,
  B: i32, T: i32, U: i32, Denc: i32, Dpred: i32, J: i32, V: i32, ld_wenc: i32, ld_wpred: i32, ld_wout: i32, naive: bool,
): void {
  const rows = B * T * U;
  // Inverts `logits = h W_out^T + b_out`: dW_out += dlogits^T h, db_out += column sums.
  mm(naive, 1, 0, V, J, rows, dlogits, V, h, J, 1, dw_out, ld_wout);
  add_colsum(db_out, dlogits, rows, V);
  const dE = scratch, dP = scratch + ((<usize>B * T * J) << 2), dh = dP + ((<usize>B * U * J) << 2);
  memory.fill(dE, 0, (<usize>(B * T + B * U) * J) << 2);
  for (let r0 = 0; r0 < rows; r0 += JOINER_CHUNK) {
    const n = min(JOINER_CHUNK, rows - r0);
    mm(naive, 0, 0, n, J, V, dlogits + ((<usize>r0 * V) << 2), V, w_out, ld_wout, 0, dh, J); // dh = dlogits W_out
    // Inverts `h = tanh(e + p)`: dz = dh (1 - h^2); the broadcast add sends dz to e[b,t] and to p[b,u].
    for (let r = r0; r < r0 + n; r++) {
      const b = r / (T * U), t = (r / U) % T, u = r % U;
      const hr = h + ((<usize>r * J) << 2), dr = dh + ((<usize>(r - r0) * J) << 2);
      const er = dE + ((<usize>(b * T + t) * J) << 2), pr = dP + ((<usize>(b * U + u) * J) << 2);
      let k = 0;
      if (!naive) {
        for (; k + 4 <= J; k += 4) {
          const o = <usize>k << 2;
          const hv = v128.load(hr + o);
          const dz = f32x4.mul(v128.load(dr + o), f32x4.sub(f32x4.splat(1.0), f32x4.mul(hv, hv)));
          v128.store(er + o, f32x4.add(v128.load(er + o), dz));
          v128.store(pr + o, f32x4.add(v128.load(pr + o), dz));
        }
      }
      for (; k < J; k++) {
        const o = <usize>k << 2;
        const hv = load<f32>(hr + o);
        const dz = load<f32>(dr + o) * (1 - hv * hv);
        store<f32>(er + o, load<f32>(er + o) + dz);
        store<f32>(pr + o, load<f32>(pr + o) + dz);
      }
    }
  }
  // Inverts `e = enc W_enc^T + b_enc` and `p = pred W_pred^T + b_pred`.
  mm(naive, 1, 0, J, Denc, B * T, dE, J, enc, Denc, 1, dw_enc, ld_wenc);
  add_colsum(db_enc, dE, B * T, J);
  mm(naive, 0, 0, B * T, Denc, J, dE, J, w_enc, ld_wenc, 1, denc, Denc);
  mm(naive, 1, 0, J, Dpred, B * U, dP, J, pred, Dpred, 1, dw_pred, ld_wpred);
  add_colsum(db_pred, dP, B * U, J);
  mm(naive, 0, 0, B * U, Dpred, J, dP, J, w_pred, ld_wpred, 1, dpred, Dpred);
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
  backward_impl(denc, dpred, dw_enc, db_enc, dw_pred, db_pred, dw_out, db_out, h, dlogits, enc, pred, w_enc, w_pred, w_out, scratch, B, T, U, Denc, Dpred, J, V, ld_wenc, ld_wpred, ld_wout, false);
}

/** Twin of joiner_backward: scalar loops and gemm_naive. */
export function joiner_backward_naive(
  denc: usize, dpred: usize, dw_enc: usize, db_enc: usize, dw_pred: usize, db_pred: usize, dw_out: usize, db_out: usize,
  h: usize, dlogits: usize, enc: usize, pred: usize, w_enc: usize, w_pred: usize, w_out: usize, scratch: usize,
  B: i32, T: i32, U: i32, Denc: i32, Dpred: i32, J: i32, V: i32, ld_wenc: i32, ld_wpred: i32, ld_wout: i32,
): void {
  backward_impl(denc, dpred, dw_enc, db_enc, dw_pred, db_pred, dw_out, db_out, h, dlogits, enc, pred, w_enc, w_pred, w_out, scratch, B, T, U, Denc, Dpred, J, V, ld_wenc, ld_wpred, ld_wout, true);
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
