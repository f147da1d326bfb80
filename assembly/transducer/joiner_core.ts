// The RNN-T joiner's one implementation, on the full (T, U) lattice or on pruned RNN-T's band; not a WASM
// export itself (assembly/transducer/joiner.ts and rnnt_pruned_joiner.ts are the exported kernels).
//
//   e = enc W_enc^T + b_enc [B,T,J];  p = pred W_pred^T + b_pred [B,U,J]
//   h[b,t,r,:] = tanh(e[b,t,:] + p[b, g(b,t,r), :]) [B,T,R,J];  logits = h W_out^T + b_out [B,T,R,V]
//   g(b,t,r) = min(ranges[b,t] + r, U-1) on the band; with ranges = 0 (no band) R = U and g(b,t,r) = r.
//
// Every (B,T,R) product is one GEMM over all B*T*R rows (the backward's dh in row chunks of JOINER_CHUNK);
// the broadcast add and its reduction are SIMD loops, each with its scalar twin (naive).

import { gemm, gemm_naive } from "../ops/gemm";
import { tanh4 } from "../math";

export const JOINER_CHUNK: i32 = 256; // rows of dh per GEMM in the backward

// @ts-ignore: decorator
@inline function mm(naive: bool, tA: i32, tB: i32, M: i32, N: i32, K: i32, A: usize, lda: i32, B: usize, ldb: i32, beta: f32, C: usize, ldc: i32): void {
  if (naive) gemm_naive(tA, tB, M, N, K, 1, A, lda, B, ldb, beta, C, ldc);
  else gemm(tA, tB, M, N, K, 1, A, lda, B, ldb, beta, C, ldc);
}

/** The predictor row node r of frame t reads: b*U + min(ranges[b,t] + r, U-1), or b*U + r without a band. */
// @ts-ignore: decorator
@inline function gather_row(ranges: usize, b: i32, t: i32, r: i32, T: i32, U: i32): i32 {
  return ranges ? b * U + min(load<i32>(ranges + (<usize>(b * T + t) << 2)) + r, U - 1) : b * U + r;
}

/** rows [n, N] = bias [N] broadcast. */
export function fill_bias(rows: usize, bias: usize, n: i32, N: i32): void {
  for (let r = 0; r < n; r++) memory.copy(rows + ((<usize>r * N) << 2), bias, <usize>N << 2);
}

/** acc[N] += sum over n rows of x [n, N] (SIMD unless naive; the same sums either way, column by column). */
function add_colsum(acc: usize, x: usize, n: i32, N: i32, naive: bool): void {
  for (let r = 0; r < n; r++) {
    const xr = x + ((<usize>r * N) << 2);
    let k = 0;
    if (!naive) for (; k + 4 <= N; k += 4) v128.store(acc + (<usize>k << 2), f32x4.add(v128.load(acc + (<usize>k << 2)), v128.load(xr + (<usize>k << 2))));
    for (; k < N; k++) store<f32>(acc + (<usize>k << 2), load<f32>(acc + (<usize>k << 2)) + load<f32>(xr + (<usize>k << 2)));
  }
}

/** Floats of scratch the forward needs: e and p. */
export function joiner_scratch_forward(B: i32, T: i32, U: i32, J: i32): i32 {
  return (B * T + B * U) * J;
}

/** Floats of scratch the backward needs: dE, dP and one chunk of dh. */
export function joiner_scratch_backward(B: i32, T: i32, U: i32, J: i32): i32 {
  return (B * T + B * U + JOINER_CHUNK) * J;
}

/** The forward on the lattice (ranges 0, R = U) or the band; naive: scalar loops and gemm_naive. */
export function joiner_forward_impl(
  logits: usize, h: usize, enc: usize, pred: usize, ranges: usize, w_enc: usize, b_enc: usize, w_pred: usize, b_pred: usize,
  w_out: usize, b_out: usize, scratch: usize, B: i32, T: i32, U: i32, R: i32, Denc: i32, Dpred: i32, J: i32, V: i32,
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
      for (let r = 0; r < R; r++) {
        const pr = p + ((<usize>gather_row(ranges, b, t, r, T, U) * J) << 2);
        const hr = h + ((<usize>((b * T + t) * R + r) * J) << 2);
        let k = 0;
        if (!naive) for (; k + 4 <= J; k += 4) { const o = <usize>k << 2; v128.store(hr + o, tanh4(f32x4.add(v128.load(er + o), v128.load(pr + o)))); }
        for (; k < J; k++) store<f32>(hr + (<usize>k << 2), Mathf.tanh(load<f32>(er + (<usize>k << 2)) + load<f32>(pr + (<usize>k << 2))));
      }
    }
  }
  fill_bias(logits, b_out, B * T * R, V);
  mm(naive, 0, 1, B * T * R, V, J, h, J, w_out, ld_wout, 1, logits, V);
}

/** The backward of joiner_forward_impl, accumulating into every gradient; naive as the forward. */
export function joiner_backward_impl(
  denc: usize, dpred: usize, dw_enc: usize, db_enc: usize, dw_pred: usize, db_pred: usize, dw_out: usize, db_out: usize,
  h: usize, dlogits: usize, enc: usize, pred: usize, ranges: usize, w_enc: usize, w_pred: usize, w_out: usize, scratch: usize,
  B: i32, T: i32, U: i32, R: i32, Denc: i32, Dpred: i32, J: i32, V: i32, ld_wenc: i32, ld_wpred: i32, ld_wout: i32, naive: bool,
): void {
  const rows = B * T * R;
  // Inverts `logits = h W_out^T + b_out`.
  mm(naive, 1, 0, V, J, rows, dlogits, V, h, J, 1, dw_out, ld_wout);
  add_colsum(db_out, dlogits, rows, V, naive);
  const dE = scratch, dP = scratch + ((<usize>B * T * J) << 2), dh = dP + ((<usize>B * U * J) << 2);
  memory.fill(dE, 0, (<usize>(B * T + B * U) * J) << 2);
  for (let r0 = 0; r0 < rows; r0 += JOINER_CHUNK) {
    const n = min(JOINER_CHUNK, rows - r0);
    mm(naive, 0, 0, n, J, V, dlogits + ((<usize>r0 * V) << 2), V, w_out, ld_wout, 0, dh, J); // dh = dlogits W_out
    // Inverts `h = tanh(e + p[g])`: dz = dh (1 - h^2) goes to e[b,t] and, through the gather, to p[g(b,t,r)].
    for (let i = r0; i < r0 + n; i++) {
      const b = i / (T * R), t = (i / R) % T, r = i % R;
      const hr = h + ((<usize>i * J) << 2), dr = dh + ((<usize>(i - r0) * J) << 2);
      const er = dE + ((<usize>(b * T + t) * J) << 2), pr = dP + ((<usize>gather_row(ranges, b, t, r, T, U) * J) << 2);
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
  add_colsum(db_enc, dE, B * T, J, naive);
  mm(naive, 0, 0, B * T, Denc, J, dE, J, w_enc, ld_wenc, 1, denc, Denc);
  mm(naive, 1, 0, J, Dpred, B * U, dP, J, pred, Dpred, 1, dw_pred, ld_wpred);
  add_colsum(db_pred, dP, B * U, J, naive);
  mm(naive, 0, 0, B * U, Dpred, J, dP, J, w_pred, ld_wpred, 1, dpred, Dpred);
}
