// Pointwise activations: relu, sigmoid, tanh, silu (swish) and exp, each a forward/backward pair
// over n contiguous floats, SIMD with a scalar tail, each with a scalar `_naive` twin.
//
// What it is not: gelu (gelu.ts), the softmaxes (softmax.ts). The vector math and its accuracy live
// in assembly/math.ts; the naive twins use Mathf (musl). References: torch.relu / sigmoid / tanh /
// nn.functional.silu / exp, checked in test/activation.test.ts against test/fixtures/elementwise.json
// and float64 finite differences.
//
// What each backward takes (what its forward saves):
//   relu    inp  (torch's convention: the gradient at exactly 0 is 0)
//   sigmoid out  (s' = s * (1 - s))
//   tanh    out  (t' = 1 - t^2)
//   silu    inp  (needs sigmoid(x) again: one exp, cheaper to recompute than to store)
//   exp     out  (exp' = exp)
// Shapes: out, inp, dinp, dout are [n], contiguous. out may alias inp (in place) when the backward
// takes out, or when no backward follows.

import { exp4, kv, madd4, ONE, sigmoid1, sigmoid4, splat, tanh4 } from "../math";

// ---------------------------------------------------------------------------------------- relu

/** out[i] = max(inp[i], 0). */
export function relu_forward(out: usize, inp: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    v128.store(out + o, f32x4.max(v128.load(inp + o), splat(0)));
  }
  for (; i < n; i++) relu_forward_naive(out + (<usize>i << 2), inp + (<usize>i << 2), 1);
}

export function relu_forward_naive(out: usize, inp: usize, n: i32): void {
  for (let i = 0; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(out + o, Mathf.max(load<f32>(inp + o), 0));
  }
}

/** Inverts `out = max(inp, 0)`: dinp[i] += inp[i] > 0 ? dout[i] : 0. */
export function relu_backward(dinp: usize, dout: usize, inp: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    const pass = v128.and(v128.load(dout + o), f32x4.gt(v128.load(inp + o), splat(0)));
    v128.store(dinp + o, f32x4.add(v128.load(dinp + o), pass));
  }
  for (; i < n; i++) relu_backward_naive(dinp + (<usize>i << 2), dout + (<usize>i << 2), inp + (<usize>i << 2), 1);
}

export function relu_backward_naive(dinp: usize, dout: usize, inp: usize, n: i32): void {
  for (let i = 0; i < n; i++) {
    const o = <usize>i << 2;
    if (load<f32>(inp + o) > 0) store<f32>(dinp + o, load<f32>(dinp + o) + load<f32>(dout + o));
  }
}

// ------------------------------------------------------------------------------------- sigmoid

/** out[i] = 1 / (1 + exp(-inp[i])). */
export function sigmoid_forward(out: usize, inp: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    v128.store(out + o, sigmoid4(v128.load(inp + o)));
  }
  for (; i < n; i++) sigmoid_forward_naive(out + (<usize>i << 2), inp + (<usize>i << 2), 1);
}

export function sigmoid_forward_naive(out: usize, inp: usize, n: i32): void {
  for (let i = 0; i < n; i++) store<f32>(out + (<usize>i << 2), sigmoid1(load<f32>(inp + (<usize>i << 2))));
}

/** Inverts `out = sigmoid(inp)`: dinp[i] += dout[i] * out[i] * (1 - out[i]). */
export function sigmoid_backward(dinp: usize, dout: usize, out: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    const y = v128.load(out + o);
    const g = f32x4.mul(y, f32x4.sub(kv(ONE), y));
    v128.store(dinp + o, madd4(v128.load(dout + o), g, v128.load(dinp + o)));
  }
  for (; i < n; i++) sigmoid_backward_naive(dinp + (<usize>i << 2), dout + (<usize>i << 2), out + (<usize>i << 2), 1);
}

export function sigmoid_backward_naive(dinp: usize, dout: usize, out: usize, n: i32): void {
  for (let i = 0; i < n; i++) {
    const o = <usize>i << 2;
    const y = load<f32>(out + o);
    store<f32>(dinp + o, load<f32>(dinp + o) + load<f32>(dout + o) * (y * (1 - y)));
  }
}

// ---------------------------------------------------------------------------------------- tanh

/** out[i] = tanh(inp[i]). */
export function tanh_forward(out: usize, inp: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    v128.store(out + o, tanh4(v128.load(inp + o)));
  }
  for (; i < n; i++) tanh_forward_naive(out + (<usize>i << 2), inp + (<usize>i << 2), 1);
}

export function tanh_forward_naive(out: usize, inp: usize, n: i32): void {
  for (let i = 0; i < n; i++) store<f32>(out + (<usize>i << 2), Mathf.tanh(load<f32>(inp + (<usize>i << 2))));
}

/** Inverts `out = tanh(inp)`: dinp[i] += dout[i] * (1 - out[i]^2). */
export function tanh_backward(dinp: usize, dout: usize, out: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    const y = v128.load(out + o);
    const g = f32x4.sub(kv(ONE), f32x4.mul(y, y));
    v128.store(dinp + o, madd4(v128.load(dout + o), g, v128.load(dinp + o)));
  }
  for (; i < n; i++) tanh_backward_naive(dinp + (<usize>i << 2), dout + (<usize>i << 2), out + (<usize>i << 2), 1);
}

export function tanh_backward_naive(dinp: usize, dout: usize, out: usize, n: i32): void {
  for (let i = 0; i < n; i++) {
    const o = <usize>i << 2;
    const y = load<f32>(out + o);
    store<f32>(dinp + o, load<f32>(dinp + o) + load<f32>(dout + o) * (1 - y * y));
  }
}

// ---------------------------------------------------------------------------------------- silu

/** out[i] = inp[i] * sigmoid(inp[i])  (SiLU, also called swish). */
export function silu_forward(out: usize, inp: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    const x = v128.load(inp + o);
    v128.store(out + o, f32x4.mul(x, sigmoid4(x)));
  }
  for (; i < n; i++) silu_forward_naive(out + (<usize>i << 2), inp + (<usize>i << 2), 1);
}

export function silu_forward_naive(out: usize, inp: usize, n: i32): void {
  for (let i = 0; i < n; i++) {
    const x = load<f32>(inp + (<usize>i << 2));
    store<f32>(out + (<usize>i << 2), x * sigmoid1(x));
  }
}

/** Inverts `out = x * sigmoid(x)`: dinp[i] += dout[i] * s * (1 + x * (1 - s)), s = sigmoid(x). */
export function silu_backward(dinp: usize, dout: usize, inp: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    const x = v128.load(inp + o);
    const s = sigmoid4(x);
    const g = f32x4.mul(s, madd4(x, f32x4.sub(kv(ONE), s), kv(ONE)));
    v128.store(dinp + o, madd4(v128.load(dout + o), g, v128.load(dinp + o)));
  }
  for (; i < n; i++) silu_backward_naive(dinp + (<usize>i << 2), dout + (<usize>i << 2), inp + (<usize>i << 2), 1);
}

export function silu_backward_naive(dinp: usize, dout: usize, inp: usize, n: i32): void {
  for (let i = 0; i < n; i++) {
    const o = <usize>i << 2;
    const x = load<f32>(inp + o);
    const s = sigmoid1(x);
    store<f32>(dinp + o, load<f32>(dinp + o) + load<f32>(dout + o) * (s * (1 + x * (1 - s))));
  }
}

// ----------------------------------------------------------------------------------------- exp

/** out[i] = exp(inp[i]); +inf for inp >= 88.73 (the f32 overflow point), 0 far below -87. */
export function exp_forward(out: usize, inp: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    v128.store(out + o, exp4(v128.load(inp + o)));
  }
  for (; i < n; i++) exp_forward_naive(out + (<usize>i << 2), inp + (<usize>i << 2), 1);
}

export function exp_forward_naive(out: usize, inp: usize, n: i32): void {
  for (let i = 0; i < n; i++) store<f32>(out + (<usize>i << 2), Mathf.exp(load<f32>(inp + (<usize>i << 2))));
}

/** Inverts `out = exp(inp)`: dinp[i] += dout[i] * out[i]. */
export function exp_backward(dinp: usize, dout: usize, out: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    v128.store(dinp + o, madd4(v128.load(dout + o), v128.load(out + o), v128.load(dinp + o)));
  }
  for (; i < n; i++) exp_backward_naive(dinp + (<usize>i << 2), dout + (<usize>i << 2), out + (<usize>i << 2), 1);
}

export function exp_backward_naive(dinp: usize, dout: usize, out: usize, n: i32): void {
  for (let i = 0; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(dinp + o, load<f32>(dinp + o) + load<f32>(dout + o) * load<f32>(out + o));
  }
}
