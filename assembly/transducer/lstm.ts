// LSTM layer (the RNN-T predictor's recurrence), forward and backward through time, batched over B.
//
// What it is: one unidirectional layer with torch.nn.LSTM's semantics and layout: gates (i, f, g, o),
// W_ih [4H, In], W_hh [4H, H], b_ih [4H], b_hh [4H];
//   i = σ(W_ii x + b_ii + W_hi h + b_hi), f = σ(...), g = tanh(...), o = σ(...),
//   c' = f ⊙ c + i ⊙ g,  h' = o ⊙ tanh(c').
// The input projection of all steps is one GEMM; each step adds one [B,H]x[H,4H] GEMM. A decoding
// step is lstm_forward with T = 1 and (h0, c0) = the carried state. Stacked layers are composed by the
// host (src/model/predictor.ts). What it is not: bidirectional, projected (proj_size) or peephole LSTMs.
// Reference: torch.nn.LSTM (test/ref/lstm.py writes the fixture); float64 finite differences in tests.
// The gate nonlinearities are SIMD over H (sigmoid4/tanh4 from assembly/math.ts) with a scalar tail; the
// naive twins use the scalar loop (Mathf) throughout and gemm_naive.
//
// Sequences are batch-major: x [B, T, ldx >= In], h_out and c_out [B, T, H], gates [B, T, 4H].

import { gemm, gemm_naive } from "../ops/gemm";
import { sigmoid1, sigmoid4, tanh4 } from "../math";

// @ts-ignore: decorator
@inline function at(p: usize, i: i32): f32 {
  return load<f32>(p + (<usize>i << 2));
}

// @ts-ignore: decorator
@inline function put(p: usize, i: i32, x: f32): void {
  store<f32>(p + (<usize>i << 2), x);
}

// @ts-ignore: decorator
@inline function ld4(p: usize, i: i32): v128 {
  return v128.load(p + (<usize>i << 2));
}

// @ts-ignore: decorator
@inline function st4(p: usize, i: i32, x: v128): void {
  v128.store(p + (<usize>i << 2), x);
}

// @ts-ignore: decorator
@inline function mm(naive: bool, tA: i32, tB: i32, M: i32, N: i32, K: i32, A: usize, lda: i32, B: usize, ldb: i32, beta: f32, C: usize, ldc: i32): void {
  if (naive) gemm_naive(tA, tB, M, N, K, 1, A, lda, B, ldb, beta, C, ldc);
  else gemm(tA, tB, M, N, K, 1, A, lda, B, ldb, beta, C, ldc);
}

function forward_impl(
  h_out: usize, c_out: usize, gates: usize, x: usize, w_ih: usize, w_hh: usize, b_ih: usize, b_hh: usize,
  h0: usize, c0: usize, B: i32, T: i32, In: i32, H: i32, ldx: i32, naive: bool,
): void {
  const G = 4 * H;
  // gates[b,t,:] = x[b,t,:] W_ih^T + b_ih + b_hh, all steps at once.
  for (let r = 0; r < B * T; r++) for (let j = 0; j < G; j++) put(gates, r * G + j, at(b_ih, j) + at(b_hh, j));
  mm(naive, 0, 1, B * T, G, In, x, ldx, w_ih, In, 1, gates, G);
  for (let t = 0; t < T; t++) {
    const hp = t == 0 ? h0 : h_out + ((<usize>(t - 1) * H) << 2);
    const ldh = t == 0 ? H : T * H;
    const gt = gates + ((<usize>t * G) << 2);
    mm(naive, 0, 1, B, G, H, hp, ldh, w_hh, H, 1, gt, T * G); // gates[:,t,:] += h_{t-1} W_hh^T
    for (let b = 0; b < B; b++) {
      const g0 = (b * T + t) * G;
      const o0 = (b * T + t) * H;
      const cp = t == 0 ? c0 + ((<usize>b * H) << 2) : c_out + ((<usize>(o0 - H)) << 2);
      let j = 0;
      if (!naive) {
        for (; j + 4 <= H; j += 4) {
          const i = sigmoid4(ld4(gates, g0 + j)), f = sigmoid4(ld4(gates, g0 + H + j));
          const g = tanh4(ld4(gates, g0 + 2 * H + j)), o = sigmoid4(ld4(gates, g0 + 3 * H + j));
          const c = f32x4.add(f32x4.mul(f, ld4(cp, j)), f32x4.mul(i, g));
          st4(gates, g0 + j, i); st4(gates, g0 + H + j, f); st4(gates, g0 + 2 * H + j, g); st4(gates, g0 + 3 * H + j, o);
          st4(c_out, o0 + j, c);
          st4(h_out, o0 + j, f32x4.mul(o, tanh4(c)));
        }
      }
      for (; j < H; j++) {
        const i = sigmoid1(at(gates, g0 + j));
        const f = sigmoid1(at(gates, g0 + H + j));
        const g = Mathf.tanh(at(gates, g0 + 2 * H + j));
        const o = sigmoid1(at(gates, g0 + 3 * H + j));
        const c = f * at(cp, j) + i * g;
        put(gates, g0 + j, i); put(gates, g0 + H + j, f); put(gates, g0 + 2 * H + j, g); put(gates, g0 + 3 * H + j, o);
        put(c_out, o0 + j, c);
        put(h_out, o0 + j, o * Mathf.tanh(c));
      }
    }
  }
}

/**
 * One LSTM layer over T steps. Out: h_out [B,T,H]. Saved: c_out [B,T,H], gates [B,T,4H] (activated
 * i, f, g, o). In: x [B,T,ldx], w_ih [4H,In], w_hh [4H,H], b_ih [4H], b_hh [4H], h0 [B,H], c0 [B,H].
 */
export function lstm_forward(
  h_out: usize, c_out: usize, gates: usize, x: usize, w_ih: usize, w_hh: usize, b_ih: usize, b_hh: usize,
  h0: usize, c0: usize, B: i32, T: i32, In: i32, H: i32, ldx: i32,
): void {
  forward_impl(h_out, c_out, gates, x, w_ih, w_hh, b_ih, b_hh, h0, c0, B, T, In, H, ldx, false);
}

/** Twin of lstm_forward with gemm_naive. */
export function lstm_forward_naive(
  h_out: usize, c_out: usize, gates: usize, x: usize, w_ih: usize, w_hh: usize, b_ih: usize, b_hh: usize,
  h0: usize, c0: usize, B: i32, T: i32, In: i32, H: i32, ldx: i32,
): void {
  forward_impl(h_out, c_out, gates, x, w_ih, w_hh, b_ih, b_hh, h0, c0, B, T, In, H, ldx, true);
}

function backward_impl(
  dx: usize, dw_ih: usize, dw_hh: usize, db_ih: usize, db_hh: usize, dh0: usize, dc0: usize,
  h_out: usize, c_out: usize, gates: usize, dh: usize, x: usize, w_ih: usize, w_hh: usize,
  h0: usize, c0: usize, scratch: usize, B: i32, T: i32, In: i32, H: i32, ldx: i32, naive: bool,
): void {
  const G = 4 * H;
  const dgates = scratch; // [B,T,4H] pre-activation gate gradients
  const dh_next = scratch + ((<usize>B * T * G) << 2); // [B,H] dL/dh_{t} arriving from step t+1
  const dc_next = dh_next + ((<usize>B * H) << 2); // [B,H] dL/dc_{t} arriving from step t+1
  memory.fill(dh_next, 0, (<usize>B * H * 2) << 2);
  for (let t = T - 1; t >= 0; t--) {
    for (let b = 0; b < B; b++) {
      const g0 = (b * T + t) * G;
      const o0 = (b * T + t) * H;
      const cp = t == 0 ? c0 + ((<usize>b * H) << 2) : c_out + ((<usize>(o0 - H)) << 2);
      // Inverts `h' = o * tanh(c')` and `c' = f * c + i * g` (SIMD, then the scalar tail).
      let j = 0;
      if (!naive) {
        const one = f32x4.splat(1.0);
        for (; j + 4 <= H; j += 4) {
          const i = ld4(gates, g0 + j), f = ld4(gates, g0 + H + j), g = ld4(gates, g0 + 2 * H + j), o = ld4(gates, g0 + 3 * H + j);
          const tc = tanh4(ld4(c_out, o0 + j));
          const dht = f32x4.add(ld4(dh, o0 + j), ld4(dh_next, b * H + j));
          const dc = f32x4.add(ld4(dc_next, b * H + j), f32x4.mul(f32x4.mul(dht, o), f32x4.sub(one, f32x4.mul(tc, tc))));
          st4(dgates, g0 + j, f32x4.mul(f32x4.mul(dc, g), f32x4.mul(i, f32x4.sub(one, i))));
          st4(dgates, g0 + H + j, f32x4.mul(f32x4.mul(dc, ld4(cp, j)), f32x4.mul(f, f32x4.sub(one, f))));
          st4(dgates, g0 + 2 * H + j, f32x4.mul(f32x4.mul(dc, i), f32x4.sub(one, f32x4.mul(g, g))));
          st4(dgates, g0 + 3 * H + j, f32x4.mul(f32x4.mul(dht, tc), f32x4.mul(o, f32x4.sub(one, o))));
          st4(dc_next, b * H + j, f32x4.mul(dc, f));
        }
      }
      for (; j < H; j++) {
        const i = at(gates, g0 + j), f = at(gates, g0 + H + j), g = at(gates, g0 + 2 * H + j), o = at(gates, g0 + 3 * H + j);
        const tc = Mathf.tanh(at(c_out, o0 + j));
        const dht = at(dh, o0 + j) + at(dh_next, b * H + j);
        // Inverts `h' = o * tanh(c')` and `c' = f * c + i * g`.
        const dc = at(dc_next, b * H + j) + dht * o * (1 - tc * tc);
        put(dgates, g0 + j, dc * g * i * (1 - i));
        put(dgates, g0 + H + j, dc * at(cp, j) * f * (1 - f));
        put(dgates, g0 + 2 * H + j, dc * i * (1 - g * g));
        put(dgates, g0 + 3 * H + j, dht * tc * o * (1 - o));
        put(dc_next, b * H + j, dc * f);
      }
    }
    // Inverts `gates[:,t,:] += h_{t-1} W_hh^T`: dh_{t-1} = dgates_t W_hh.
    mm(naive, 0, 0, B, H, G, dgates + ((<usize>t * G) << 2), T * G, w_hh, H, 0, dh_next, H);
  }
  for (let k = 0; k < B * H; k++) {
    put(dh0, k, at(dh0, k) + at(dh_next, k));
    put(dc0, k, at(dc0, k) + at(dc_next, k));
  }
  // dW_hh += sum_t dgates_t^T h_{t-1}: h0 for t = 0, then per utterance the shifted outputs.
  mm(naive, 1, 0, G, H, B, dgates, T * G, h0, H, 1, dw_hh, H);
  for (let b = 0; b < B; b++) {
    if (T > 1) mm(naive, 1, 0, G, H, T - 1, dgates + ((<usize>(b * T + 1) * G) << 2), G, h_out + ((<usize>b * T * H) << 2), H, 1, dw_hh, H);
  }
  // Inverts `gates = x W_ih^T + b_ih + b_hh`.
  mm(naive, 1, 0, G, In, B * T, dgates, G, x, ldx, 1, dw_ih, In);
  mm(naive, 0, 0, B * T, In, G, dgates, G, w_ih, In, 1, dx, ldx);
  for (let r = 0; r < B * T; r++) {
    for (let j = 0; j < G; j++) {
      const d = at(dgates, r * G + j);
      put(db_ih, j, at(db_ih, j) + d);
      put(db_hh, j, at(db_hh, j) + d);
    }
  }
}

/**
 * Backward through time of lstm_forward. Accumulates into dx [B,T,ldx], dw_ih [4H,In], dw_hh [4H,H],
 * db_ih, db_hh [4H], dh0, dc0 [B,H]. Saved: h_out, c_out, gates from the forward. In: dh [B,T,H] (the
 * gradient of the outputs h_out), x, w_ih, w_hh, h0, c0 as the forward. scratch: B*T*4H + 2*B*H floats.
 */
export function lstm_backward(
  dx: usize, dw_ih: usize, dw_hh: usize, db_ih: usize, db_hh: usize, dh0: usize, dc0: usize,
  h_out: usize, c_out: usize, gates: usize, dh: usize, x: usize, w_ih: usize, w_hh: usize,
  h0: usize, c0: usize, scratch: usize, B: i32, T: i32, In: i32, H: i32, ldx: i32,
): void {
  backward_impl(dx, dw_ih, dw_hh, db_ih, db_hh, dh0, dc0, h_out, c_out, gates, dh, x, w_ih, w_hh, h0, c0, scratch, B, T, In, H, ldx, false);
}

/** Twin of lstm_backward with gemm_naive. */
export function lstm_backward_naive(
  dx: usize, dw_ih: usize, dw_hh: usize, db_ih: usize, db_hh: usize, dh0: usize, dc0: usize,
  h_out: usize, c_out: usize, gates: usize, dh: usize, x: usize, w_ih: usize, w_hh: usize,
  h0: usize, c0: usize, scratch: usize, B: i32, T: i32, In: i32, H: i32, ldx: i32,
): void {
  backward_impl(dx, dw_ih, dw_hh, db_ih, db_hh, dh0, dc0, h_out, c_out, gates, dh, x, w_ih, w_hh, h0, c0, scratch, B, T, In, H, ldx, true);
}
