// GELU, a forward/backward pair over n contiguous floats, SIMD with a scalar tail, with `_naive` twins.
//
// approximate = 0: the exact form x * Phi(x), Phi the standard normal CDF (torch's default,
//   nn.functional.gelu(x)); Phi comes from an erfc approximation (assembly/math.ts normal_cdf4):
//   relative error <= 4e-7 for x >= 0 and 4.3e-7 + 1.6e-7 x^2 for x < 0 (measured; 4e-6 at x = -5).
// approximate = 1: the tanh form 0.5 * x * (1 + tanh(k0 * (x + k1 * x^3))), torch's
//   gelu(x, approximate='tanh'), computed as x * sigmoid(2u) (the same value: 1 + tanh(u) = 2 sigmoid(2u))
//   which avoids the cancellation of 1 + tanh(u) for negative x. In the lower tail the f32 rounding
//   of 2u (about |2u| * 1e-7 absolute) becomes a relative error of exp(2u): measured 48 ulp at x = -5.
// What it is not: the other activations (activation.ts). Reference: torch.nn.functional.gelu in
// test/fixtures/elementwise.json; gradients checked against float64 finite differences.
// The backward takes the forward's input (the derivative needs Phi(x) and the pdf at x).
// out may alias inp only when no backward follows.

import {
  exp4, GELU_2K0, GELU_6K0K1, GELU_K1, INV_SQRT_2PI, kv, madd4, NEG_HALF, NEG_X_SAT, normal_cdf, normal_cdf4, ONE,
  sigmoid1, sigmoid4, X_SAT,
} from "../math";

// The scalar twins' constants; the vector code reads the same values from math.ts's table.
const K0: f32 = 0.7978845608028654; // sqrt(2/pi)
const K1: f32 = 0.044715;
const INV_SQRT_2PI_S: f32 = 0.3989422804014327;
const X_SAT_S: f32 = 100;

// Beyond |x| = 100 both derivatives are exactly 0 or 1 in f32; the backwards clamp x there so that
// x^2 and x * (1 - s) * u' cannot overflow into inf * 0 = NaN (at |x| > 1.8e19 without the clamp).
// @ts-ignore: decorator
@inline
function clamp4(x: v128): v128 {
  return f32x4.pmax(f32x4.pmin(x, kv(X_SAT)), kv(NEG_X_SAT)); // NaN passes through
}

/** out[i] = gelu(inp[i]), exact (approximate = 0) or tanh form (approximate = 1). */
export function gelu_forward(out: usize, inp: usize, n: i32, approximate: i32): void {
  let i = 0;
  if (approximate) {
    for (; i + 4 <= n; i += 4) {
      const o = <usize>i << 2;
      const x = v128.load(inp + o);
      // 2u = 2*K0 * (x + K1 x^3)
      const u2 = f32x4.mul(f32x4.mul(x, kv(GELU_2K0)), madd4(f32x4.mul(x, x), kv(GELU_K1), kv(ONE)));
      v128.store(out + o, f32x4.mul(x, sigmoid4(u2)));
    }
  } else {
    for (; i + 4 <= n; i += 4) {
      const o = <usize>i << 2;
      const x = v128.load(inp + o);
      v128.store(out + o, f32x4.mul(x, normal_cdf4(x)));
    }
  }
  gelu_forward_naive(out + (<usize>i << 2), inp + (<usize>i << 2), n - i, approximate);
}

export function gelu_forward_naive(out: usize, inp: usize, n: i32, approximate: i32): void {
  for (let i = 0; i < n; i++) {
    const x = load<f32>(inp + (<usize>i << 2));
    const y = approximate ? x * sigmoid1(2 * K0 * x * (1 + K1 * x * x)) : x * normal_cdf(x);
    store<f32>(out + (<usize>i << 2), y);
  }
}

/**
 * Inverts `out = x * Phi(x)`: dinp[i] += dout[i] * (Phi(x) + x * pdf(x)), pdf(x) = exp(-x^2/2)/sqrt(2 pi);
 * or, for approximate = 1, inverts `out = x * s`, s = sigmoid(2u), u = K0 (x + K1 x^3):
 * dinp[i] += dout[i] * (s + x * s * (1 - s) * 2 K0 (1 + 3 K1 x^2)).
 */
export function gelu_backward(dinp: usize, dout: usize, inp: usize, n: i32, approximate: i32): void {
  let i = 0;
  if (approximate) {
    for (; i + 4 <= n; i += 4) {
      const o = <usize>i << 2;
      const x = clamp4(v128.load(inp + o));
      const xx = f32x4.mul(x, x);
      const s = sigmoid4(f32x4.mul(f32x4.mul(x, kv(GELU_2K0)), madd4(xx, kv(GELU_K1), kv(ONE))));
      const du2 = madd4(xx, kv(GELU_6K0K1), kv(GELU_2K0)); // d(2u)/dx
      const g = madd4(f32x4.mul(f32x4.mul(x, s), f32x4.sub(kv(ONE), s)), du2, s);
      v128.store(dinp + o, madd4(v128.load(dout + o), g, v128.load(dinp + o)));
    }
  } else {
    for (; i + 4 <= n; i += 4) {
      const o = <usize>i << 2;
      const x = clamp4(v128.load(inp + o));
      const pdf = f32x4.mul(exp4(f32x4.mul(f32x4.mul(x, x), kv(NEG_HALF))), kv(INV_SQRT_2PI));
      const g = madd4(x, pdf, normal_cdf4(x));
      v128.store(dinp + o, madd4(v128.load(dout + o), g, v128.load(dinp + o)));
    }
  }
  gelu_backward_naive(dinp + (<usize>i << 2), dout + (<usize>i << 2), inp + (<usize>i << 2), n - i, approximate);
}

export function gelu_backward_naive(dinp: usize, dout: usize, inp: usize, n: i32, approximate: i32): void {
  for (let i = 0; i < n; i++) {
    const o = <usize>i << 2;
    const x = Mathf.min(Mathf.max(load<f32>(inp + o), -X_SAT_S), X_SAT_S);
    let g: f32;
    if (approximate) {
      const s = sigmoid1(2 * K0 * x * (1 + K1 * x * x));
      g = s + x * s * (1 - s) * 2 * K0 * (1 + 3 * K1 * x * x);
    } else {
      g = normal_cdf(x) + x * Mathf.exp(-0.5 * x * x) * INV_SQRT_2PI_S;
    }
    store<f32>(dinp + o, load<f32>(dinp + o) + load<f32>(dout + o) * g);
  }
}
