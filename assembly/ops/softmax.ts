// Row-wise softmax and log-softmax over the last dimension, forward/backward pairs, SIMD with scalar
// tails, each with a scalar `_naive` twin.
//
// What it is not: the log-softmax fused into the RNN-T loss (that kernel has its own), nor masking.
// Both subtract the row maximum first, so logits of any finite size (|x| up to f32 max) neither
// overflow nor lose the row; -inf entries give probability 0. A row whose maximum is not finite
// (all -inf, or +inf, or NaN) gives NaN, as torch does. References: torch.softmax / log_softmax
// in test/fixtures/elementwise.json, float64 finite differences in test/softmax.test.ts.
// Shapes: inp, out, dout, dinp are [R, C], rows contiguous (row stride C).
// Both backwards take the forward's output. out may alias inp.

import { exp4, hsum4, madd4, splat } from "../math";

/** max over x[0:C]. */
// @ts-ignore: decorator
@inline
function row_max(x: usize, C: i32): f32 {
  let m = f32x4.splat(-Infinity);
  let j = 0;
  for (; j + 4 <= C; j += 4) m = f32x4.max(m, v128.load(x + (<usize>j << 2)));
  let s = Mathf.max(Mathf.max(f32x4.extract_lane(m, 0), f32x4.extract_lane(m, 1)),
    Mathf.max(f32x4.extract_lane(m, 2), f32x4.extract_lane(m, 3)));
  for (; j < C; j++) s = Mathf.max(s, load<f32>(x + (<usize>j << 2)));
  return s;
}

/** dst[j] = exp(x[j] - m) for j < C (dst may be 0: only the sum is wanted); returns the sum. */
// @ts-ignore: decorator
@inline
function exp_shifted_sum(dst: usize, x: usize, m: f32, C: i32): f32 {
  const mv = f32x4.splat(m);
  let acc = f32x4.splat(0);
  let j = 0;
  for (; j + 4 <= C; j += 4) {
    const o = <usize>j << 2;
    const e = exp4(f32x4.sub(v128.load(x + o), mv));
    if (dst) v128.store(dst + o, e);
    acc = f32x4.add(acc, e);
  }
  let s = hsum4(acc);
  for (; j < C; j++) {
    const e = Mathf.exp(load<f32>(x + (<usize>j << 2)) - m);
    if (dst) store<f32>(dst + (<usize>j << 2), e);
    s += e;
  }
  return s;
}

/** out[r, j] = exp(inp[r, j] - max_r) / sum_k exp(inp[r, k] - max_r). */
export function softmax_forward(out: usize, inp: usize, R: i32, C: i32): void {
  for (let r = 0; r < R; r++) {
    const x = inp + ((<usize>r * C) << 2), y = out + ((<usize>r * C) << 2);
    const sum = exp_shifted_sum(y, x, row_max(x, C), C);
    const inv = f32x4.splat(1 / sum);
    let j = 0;
    for (; j + 4 <= C; j += 4) v128.store(y + (<usize>j << 2), f32x4.mul(v128.load(y + (<usize>j << 2)), inv));
    for (; j < C; j++) store<f32>(y + (<usize>j << 2), load<f32>(y + (<usize>j << 2)) * (1 / sum));
  }
}

export function softmax_forward_naive(out: usize, inp: usize, R: i32, C: i32): void {
  for (let r = 0; r < R; r++) {
    const x = inp + ((<usize>r * C) << 2), y = out + ((<usize>r * C) << 2);
    let m: f32 = -Infinity;
    for (let j = 0; j < C; j++) m = Mathf.max(m, load<f32>(x + (<usize>j << 2)));
    let sum: f32 = 0;
    for (let j = 0; j < C; j++) {
      const e = Mathf.exp(load<f32>(x + (<usize>j << 2)) - m);
      store<f32>(y + (<usize>j << 2), e);
      sum += e;
    }
    for (let j = 0; j < C; j++) store<f32>(y + (<usize>j << 2), load<f32>(y + (<usize>j << 2)) / sum);
  }
}

/**
 * Inverts `out = exp(x - max) / sum`: dinp[r, j] += out[r, j] * (dout[r, j] - sum_k dout[r, k] * out[r, k]).
 */
export function softmax_backward(dinp: usize, dout: usize, out: usize, R: i32, C: i32): void {
  for (let r = 0; r < R; r++) {
    const off = (<usize>r * C) << 2;
    const g = dout + off, y = out + off, d = dinp + off;
    let acc = f32x4.splat(0);
    let j = 0;
    for (; j + 4 <= C; j += 4) acc = madd4(v128.load(g + (<usize>j << 2)), v128.load(y + (<usize>j << 2)), acc);
    let dot = hsum4(acc);
    for (; j < C; j++) dot += load<f32>(g + (<usize>j << 2)) * load<f32>(y + (<usize>j << 2));
    const dv = f32x4.splat(dot);
    j = 0;
    for (; j + 4 <= C; j += 4) {
      const o = <usize>j << 2;
      const t = f32x4.sub(v128.load(g + o), dv);
      v128.store(d + o, madd4(v128.load(y + o), t, v128.load(d + o)));
    }
    for (; j < C; j++) {
      const o = <usize>j << 2;
      store<f32>(d + o, load<f32>(d + o) + load<f32>(y + o) * (load<f32>(g + o) - dot));
    }
  }
}

export function softmax_backward_naive(dinp: usize, dout: usize, out: usize, R: i32, C: i32): void {
  for (let r = 0; r < R; r++) {
    const off = (<usize>r * C) << 2;
    let dot: f32 = 0;
    for (let j = 0; j < C; j++) dot += load<f32>(dout + off + (<usize>j << 2)) * load<f32>(out + off + (<usize>j << 2));
    for (let j = 0; j < C; j++) {
      const o = off + (<usize>j << 2);
      store<f32>(dinp + o, load<f32>(dinp + o) + load<f32>(out + o) * (load<f32>(dout + o) - dot));
    }
  }
}

/** out[r, j] = (inp[r, j] - max_r) - log(sum_k exp(inp[r, k] - max_r)). */
export function log_softmax_forward(out: usize, inp: usize, R: i32, C: i32): void {
  for (let r = 0; r < R; r++) {
    const x = inp + ((<usize>r * C) << 2), y = out + ((<usize>r * C) << 2);
    const m = row_max(x, C);
    const lse = Mathf.log(exp_shifted_sum(0, x, m, C));
    const mv = f32x4.splat(m), lv = f32x4.splat(lse);
    let j = 0;
    for (; j + 4 <= C; j += 4) {
      const o = <usize>j << 2;
      v128.store(y + o, f32x4.sub(f32x4.sub(v128.load(x + o), mv), lv));
    }
    for (; j < C; j++) store<f32>(y + (<usize>j << 2), (load<f32>(x + (<usize>j << 2)) - m) - lse);
  }
}

export function log_softmax_forward_naive(out: usize, inp: usize, R: i32, C: i32): void {
  for (let r = 0; r < R; r++) {
    const x = inp + ((<usize>r * C) << 2), y = out + ((<usize>r * C) << 2);
    let m: f32 = -Infinity;
    for (let j = 0; j < C; j++) m = Mathf.max(m, load<f32>(x + (<usize>j << 2)));
    let sum: f32 = 0;
    for (let j = 0; j < C; j++) sum += Mathf.exp(load<f32>(x + (<usize>j << 2)) - m);
    const lse = Mathf.log(sum);
    for (let j = 0; j < C; j++) store<f32>(y + (<usize>j << 2), (load<f32>(x + (<usize>j << 2)) - m) - lse);
  }
}

/** Inverts `out = x - max - log(sum)`: dinp[r, j] += dout[r, j] - exp(out[r, j]) * sum_k dout[r, k]. */
export function log_softmax_backward(dinp: usize, dout: usize, out: usize, R: i32, C: i32): void {
  for (let r = 0; r < R; r++) {
    const off = (<usize>r * C) << 2;
    const g = dout + off, y = out + off, d = dinp + off;
    let acc = f32x4.splat(0);
    let j = 0;
    for (; j + 4 <= C; j += 4) acc = f32x4.add(acc, v128.load(g + (<usize>j << 2)));
    let gsum = hsum4(acc);
    for (; j < C; j++) gsum += load<f32>(g + (<usize>j << 2));
    const nsum = f32x4.splat(-gsum);
    j = 0;
    for (; j + 4 <= C; j += 4) {
      const o = <usize>j << 2;
      const t = madd4(exp4(v128.load(y + o)), nsum, v128.load(g + o));
      v128.store(d + o, f32x4.add(v128.load(d + o), t));
    }
    for (; j < C; j++) {
      const o = <usize>j << 2;
      store<f32>(d + o, load<f32>(d + o) + (load<f32>(g + o) - Mathf.exp(load<f32>(y + o)) * gsum));
    }
  }
}

export function log_softmax_backward_naive(dinp: usize, dout: usize, out: usize, R: i32, C: i32): void {
  for (let r = 0; r < R; r++) {
    const off = (<usize>r * C) << 2;
    let gsum: f32 = 0;
    for (let j = 0; j < C; j++) gsum += load<f32>(dout + off + (<usize>j << 2));
    for (let j = 0; j < C; j++) {
      const o = off + (<usize>j << 2);
      store<f32>(dinp + o, load<f32>(dinp + o) + (load<f32>(dout + o) - Mathf.exp(load<f32>(out + o)) * gsum));
    }
  }
}
