// Linear layer and bias add: llm.c's matmul_forward/matmul_backward on PyTorch's nn.Linear layout
// (weight [out_features, in_features], y = x W^T + b), with the products done by `gemm`.
//
// Not an activation or a fused epilogue: a layer that needs one calls its own kernel after this.
// The weight may be the leading OC x C slice of a larger one (a Supernet subnet): it is read with
// row stride ldw, and its gradient is written with the same stride, so a subnet's gradient lands
// in the right place of the full gradient buffer.
// Reference: torch.nn.functional.linear (test/ref/linear.py writes test/fixtures/linear.json), and
// float64 central finite differences in test/linear.test.ts.

import { gemm, gemm_naive } from "./gemm";

/**
 * out[BT,OC] = inp[BT,C] · weight[0:OC, 0:C]^T + bias[0:OC]   (B batch, T frames, C channels in,
 * OC channels out). weight is stored [>= OC, ldw >= C]; bias == 0 (a null pointer) means no bias.
 * out and inp are contiguous ([BT, OC] and [BT, C]); out must not overlap inp or weight.
 */
export function linear_forward(out: usize, inp: usize, weight: usize, bias: usize, BT: i32, C: i32, OC: i32, ldw: i32): void {
  if (bias) {
    const rowBytes = <usize>OC << 2;
    for (let r = 0; r < BT; r++) memory.copy(out + <usize>r * rowBytes, bias, rowBytes);
    gemm(0, 1, BT, OC, C, 1, inp, C, weight, ldw, 1, out, OC);
  } else {
    gemm(0, 1, BT, OC, C, 1, inp, C, weight, ldw, 0, out, OC);
  }
}

/**
 * Backward of linear_forward; accumulates into every gradient it is given:
 *   dinp[BT,C]          += dout[BT,OC] · weight[0:OC, 0:C]      (skipped when dinp == 0)
 *   dweight[0:OC, 0:C]  += dout^T[OC,BT] · inp[BT,C]            (row stride ldw, like weight)
 *   dbias[0:OC]         += sum over rows of dout                (skipped when dbias == 0)
 * inverting `out = inp · weight^T + bias`.
 */
export function linear_backward(
  dinp: usize, dweight: usize, dbias: usize, dout: usize, inp: usize, weight: usize,
  BT: i32, C: i32, OC: i32, ldw: i32,
): void {
  if (dinp) gemm(0, 0, BT, C, OC, 1, dout, OC, weight, ldw, 1, dinp, C);
  gemm(1, 0, OC, C, BT, 1, dout, OC, inp, C, 1, dweight, ldw);
  if (dbias) bias_add_backward(0, dbias, dout, BT, OC);
}

/** The scalar twin of linear_forward, on gemm_naive. */
export function linear_forward_naive(out: usize, inp: usize, weight: usize, bias: usize, BT: i32, C: i32, OC: i32, ldw: i32): void {
  gemm_naive(0, 1, BT, OC, C, 1, inp, C, weight, ldw, 0, out, OC);
  if (bias) bias_add_forward_naive(out, out, bias, BT, OC);
}

/** The scalar twin of linear_backward, on gemm_naive. */
export function linear_backward_naive(
  dinp: usize, dweight: usize, dbias: usize, dout: usize, inp: usize, weight: usize,
  BT: i32, C: i32, OC: i32, ldw: i32,
): void {
  if (dinp) gemm_naive(0, 0, BT, C, OC, 1, dout, OC, weight, ldw, 1, dinp, C);
  gemm_naive(1, 0, OC, C, BT, 1, dout, OC, inp, C, 1, dweight, ldw);
  if (dbias) bias_add_backward_naive(0, dbias, dout, BT, OC);
}

/**
 * out[R,C] = inp[R,C] + bias[C] (bias broadcast over rows; R rows, C channels). Contiguous rows;
 * out may be inp (in place).
 */
export function bias_add_forward(out: usize, inp: usize, bias: usize, R: i32, C: i32): void {
  const rowBytes = <usize>C << 2;
  for (let r = 0; r < R; r++) {
    const o = out + <usize>r * rowBytes, x = inp + <usize>r * rowBytes;
    let c = 0;
    for (; c + 4 <= C; c += 4) {
      const off = <usize>c << 2;
      v128.store(o + off, f32x4.add(v128.load(x + off), v128.load(bias + off)));
    }
    for (; c < C; c++) {
      const off = <usize>c << 2;
      store<f32>(o + off, load<f32>(x + off) + load<f32>(bias + off));
    }
  }
}

/**
 * Backward of bias_add_forward, inverting `out = inp + bias`:
 *   dinp[R,C] += dout[R,C]                 (skipped when dinp == 0)
 *   dbias[C]  += sum over rows of dout     (skipped when dbias == 0; rows added in order 0..R-1)
 */
export function bias_add_backward(dinp: usize, dbias: usize, dout: usize, R: i32, C: i32): void {
  const rowBytes = <usize>C << 2;
  if (dinp) {
    const n = R * C;
    let i = 0;
    for (; i + 4 <= n; i += 4) {
      const off = <usize>i << 2;
      v128.store(dinp + off, f32x4.add(v128.load(dinp + off), v128.load(dout + off)));
    }
    for (; i < n; i++) {
      const off = <usize>i << 2;
      store<f32>(dinp + off, load<f32>(dinp + off) + load<f32>(dout + off));
    }
  }
  if (!dbias) return;
  // Sixteen columns at a time (one cache line of each row), then four, then one.
  let c = 0;
  for (; c + 16 <= C; c += 16) {
    const off = <usize>c << 2;
    let s0 = v128.load(dbias + off), s1 = v128.load(dbias + off, 16);
    let s2 = v128.load(dbias + off, 32), s3 = v128.load(dbias + off, 48);
    let p = dout + off;
    for (let r = 0; r < R; r++) {
      s0 = f32x4.add(s0, v128.load(p));
      s1 = f32x4.add(s1, v128.load(p, 16));
      s2 = f32x4.add(s2, v128.load(p, 32));
      s3 = f32x4.add(s3, v128.load(p, 48));
      p += rowBytes;
    }
    v128.store(dbias + off, s0);
    v128.store(dbias + off, s1, 16);
    v128.store(dbias + off, s2, 32);
    v128.store(dbias + off, s3, 48);
  }
  for (; c + 4 <= C; c += 4) {
    const off = <usize>c << 2;
    let s = v128.load(dbias + off);
    let p = dout + off;
    for (let r = 0; r < R; r++) {
      s = f32x4.add(s, v128.load(p));
      p += rowBytes;
    }
    v128.store(dbias + off, s);
  }
  for (; c < C; c++) {
    const off = <usize>c << 2;
    let s = load<f32>(dbias + off);
    let p = dout + off;
    for (let r = 0; r < R; r++) {
      s += load<f32>(p);
      p += rowBytes;
    }
    store<f32>(dbias + off, s);
  }
}

/** The scalar twin of bias_add_forward. */
export function bias_add_forward_naive(out: usize, inp: usize, bias: usize, R: i32, C: i32): void {
  for (let r = 0; r < R; r++) {
    for (let c = 0; c < C; c++) {
      const i = (<usize>r * C + c) << 2;
      store<f32>(out + i, load<f32>(inp + i) + load<f32>(bias + (<usize>c << 2)));
    }
  }
}

/** The scalar twin of bias_add_backward (same summation order, so results are bit-identical). */
export function bias_add_backward_naive(dinp: usize, dbias: usize, dout: usize, R: i32, C: i32): void {
  for (let c = 0; c < C; c++) {
    let s: f32 = dbias ? load<f32>(dbias + (<usize>c << 2)) : 0;
    for (let r = 0; r < R; r++) {
      const i = (<usize>r * C + c) << 2;
      if (dinp) store<f32>(dinp + i, load<f32>(dinp + i) + load<f32>(dout + i));
      s += load<f32>(dout + i);
    }
    if (dbias) store<f32>(dbias + (<usize>c << 2), s);
  }
}
