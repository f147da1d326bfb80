// LayerNorm over the last dimension: a forward/backward pair in the style of llm.c's
// layernorm_forward/backward (train_gpt2.c), SIMD with scalar tails, each with a scalar `_naive` twin.
// RMSNorm, its sibling, is in rmsnorm.ts.
//
// What it is not: batch norm or group norm. Statistics are f32 in two passes (the mean, then the
// centred variance) as llm.c; the mean is summed relative to the row's first element, so rows whose
// mean is far from 0 (|mean| >> std) keep their precision. References: torch.nn.functional.layer_norm
// in test/fixtures/elementwise.json (test/ref/elementwise.py); float64 finite differences in
// test/norm.test.ts.
// Shapes: inp, out, dout, dinp are [R, C] with rows contiguous (row stride C); mean and rstd are [R];
// weight, bias, dweight, dbias are [C], read as the leading slice [0:C] of a possibly wider
// parameter. weight = 0 / bias = 0 mean "no affine part" (then pass dweight = 0 / dbias = 0); any
// d-pointer may be 0 when that gradient is not needed.

import { hsum4, madd4, splat } from "../math";

/**
 * out[r, j] = (inp[r, j] - mean[r]) * rstd[r] * weight[j] + bias[j], with mean[r] the row mean and
 * rstd[r] = 1 / sqrt(biased variance + eps); mean and rstd are saved for the backward.
 */
export function layernorm_forward(
  out: usize, mean: usize, rstd: usize, inp: usize, weight: usize, bias: usize, R: i32, C: i32, eps: f32,
): void {
  for (let r = 0; r < R; r++) {
    const x = inp + ((<usize>r * C) << 2), y = out + ((<usize>r * C) << 2);
    // The mean as x[0] + mean(x - x[0]): rows far from 0 (|mean| >> std) then sum small numbers.
    // Both sums run in four accumulators (16 floats per step): one accumulator made each pass one
    // chain of C/4 dependent adds, latency-bound.
    const x0 = load<f32>(x), x0v = f32x4.splat(x0);
    let a0 = splat(0), a1 = splat(0), a2 = splat(0), a3 = splat(0);
    let j = 0;
    for (; j + 16 <= C; j += 16) {
      const p = x + (<usize>j << 2);
      a0 = f32x4.add(a0, f32x4.sub(v128.load(p), x0v));
      a1 = f32x4.add(a1, f32x4.sub(v128.load(p, 16), x0v));
      a2 = f32x4.add(a2, f32x4.sub(v128.load(p, 32), x0v));
      a3 = f32x4.add(a3, f32x4.sub(v128.load(p, 48), x0v));
    }
    for (; j + 4 <= C; j += 4) a0 = f32x4.add(a0, f32x4.sub(v128.load(x + (<usize>j << 2)), x0v));
    let s = hsum4(f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3)));
    for (; j < C; j++) s += load<f32>(x + (<usize>j << 2)) - x0;
    const m = x0 + s / <f32>C;
    const mv = f32x4.splat(m);
    a0 = splat(0); a1 = splat(0); a2 = splat(0); a3 = splat(0);
    j = 0;
    for (; j + 16 <= C; j += 16) {
      const p = x + (<usize>j << 2);
      const d0 = f32x4.sub(v128.load(p), mv), d1 = f32x4.sub(v128.load(p, 16), mv);
      const d2 = f32x4.sub(v128.load(p, 32), mv), d3 = f32x4.sub(v128.load(p, 48), mv);
      a0 = madd4(d0, d0, a0);
      a1 = madd4(d1, d1, a1);
      a2 = madd4(d2, d2, a2);
      a3 = madd4(d3, d3, a3);
    }
    for (; j + 4 <= C; j += 4) {
      const d = f32x4.sub(v128.load(x + (<usize>j << 2)), mv);
      a0 = madd4(d, d, a0);
    }
    let v = hsum4(f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3)));
    for (; j < C; j++) {
      const d = load<f32>(x + (<usize>j << 2)) - m;
      v += d * d;
    }
    const rs: f32 = 1 / Mathf.sqrt(v / <f32>C + eps);
    store<f32>(mean + (<usize>r << 2), m);
    store<f32>(rstd + (<usize>r << 2), rs);
    const rv = f32x4.splat(rs);
    j = 0;
    for (; j + 4 <= C; j += 4) {
      const o = <usize>j << 2;
      let n = f32x4.mul(f32x4.sub(v128.load(x + o), mv), rv);
      if (weight) n = f32x4.mul(n, v128.load(weight + o));
      if (bias) n = f32x4.add(n, v128.load(bias + o));
      v128.store(y + o, n);
    }
    for (; j < C; j++) {
      const o = <usize>j << 2;
      let n = (load<f32>(x + o) - m) * rs;
      if (weight) n *= load<f32>(weight + o);
      if (bias) n += load<f32>(bias + o);
      store<f32>(y + o, n);
    }
  }
}

export function layernorm_forward_naive(
  out: usize, mean: usize, rstd: usize, inp: usize, weight: usize, bias: usize, R: i32, C: i32, eps: f32,
): void {
  for (let r = 0; r < R; r++) {
    const x = inp + ((<usize>r * C) << 2), y = out + ((<usize>r * C) << 2);
    const x0 = load<f32>(x);
    let s: f32 = 0;
    for (let j = 0; j < C; j++) s += load<f32>(x + (<usize>j << 2)) - x0;
    const m = x0 + s / <f32>C;
    let v: f32 = 0;
    for (let j = 0; j < C; j++) {
      const d = load<f32>(x + (<usize>j << 2)) - m;
      v += d * d;
    }
    const rs: f32 = 1 / Mathf.sqrt(v / <f32>C + eps);
    store<f32>(mean + (<usize>r << 2), m);
    store<f32>(rstd + (<usize>r << 2), rs);
    for (let j = 0; j < C; j++) {
      const o = <usize>j << 2;
      const w: f32 = weight ? load<f32>(weight + o) : 1;
      const b: f32 = bias ? load<f32>(bias + o) : 0;
      store<f32>(y + o, (load<f32>(x + o) - m) * rs * w + b);
    }
  }
}

/**
 * Inverts `out = norm * weight + bias`, norm = (inp - mean) * rstd (llm.c's derivation):
 *   dbias[j]   += sum_r dout[r, j]
 *   dweight[j] += sum_r norm[r, j] * dout[r, j]
 *   dinp[r, j] += rstd[r] * (dnorm[r, j] - mean_j(dnorm) - norm[r, j] * mean_j(dnorm * norm)), dnorm = dout * weight.
 */
export function layernorm_backward(
  dinp: usize, dweight: usize, dbias: usize, dout: usize, inp: usize, weight: usize, mean: usize, rstd: usize,
  R: i32, C: i32,
): void {
  for (let r = 0; r < R; r++) {
    const off = (<usize>r * C) << 2;
    const x = inp + off, g = dout + off;
    const mv = f32x4.splat(load<f32>(mean + (<usize>r << 2)));
    const rs = load<f32>(rstd + (<usize>r << 2));
    const rv = f32x4.splat(rs);
    // Pass 1: the two row means of the gradient, and the parameter gradients.
    let a1 = splat(0), a2 = splat(0);
    let j = 0;
    for (; j + 4 <= C; j += 4) {
      const o = <usize>j << 2;
      const gv = v128.load(g + o);
      const n = f32x4.mul(f32x4.sub(v128.load(x + o), mv), rv);
      const dn = weight ? f32x4.mul(gv, v128.load(weight + o)) : gv;
      a1 = f32x4.add(a1, dn);
      a2 = madd4(dn, n, a2);
      if (dbias) v128.store(dbias + o, f32x4.add(v128.load(dbias + o), gv));
      if (dweight) v128.store(dweight + o, madd4(n, gv, v128.load(dweight + o)));
    }
    let s1 = hsum4(a1), s2 = hsum4(a2);
    const j0 = j;
    for (; j < C; j++) {
      const o = <usize>j << 2;
      const gs = load<f32>(g + o);
      const n = (load<f32>(x + o) - f32x4.extract_lane(mv, 0)) * rs;
      const dn = weight ? gs * load<f32>(weight + o) : gs;
      s1 += dn;
      s2 += dn * n;
      if (dbias) store<f32>(dbias + o, load<f32>(dbias + o) + gs);
      if (dweight) store<f32>(dweight + o, load<f32>(dweight + o) + n * gs);
    }
    if (!dinp) continue;
    const m1 = f32x4.splat(s1 / <f32>C), m2 = f32x4.splat(s2 / <f32>C);
    // Pass 2: dinp += rstd * (dnorm - mean(dnorm) - norm * mean(dnorm * norm)).
    const d = dinp + off;
    j = 0;
    for (; j < j0; j += 4) {
      const o = <usize>j << 2;
      const gv = v128.load(g + o);
      const n = f32x4.mul(f32x4.sub(v128.load(x + o), mv), rv);
      const dn = weight ? f32x4.mul(gv, v128.load(weight + o)) : gv;
      const t = f32x4.sub(f32x4.sub(dn, m1), f32x4.mul(n, m2));
      v128.store(d + o, madd4(t, rv, v128.load(d + o)));
    }
    for (; j < C; j++) {
      const o = <usize>j << 2;
      const gs = load<f32>(g + o);
      const n = (load<f32>(x + o) - f32x4.extract_lane(mv, 0)) * rs;
      const dn = weight ? gs * load<f32>(weight + o) : gs;
      store<f32>(d + o, load<f32>(d + o) + (dn - s1 / <f32>C - n * (s2 / <f32>C)) * rs);
    }
  }
}

export function layernorm_backward_naive(
  dinp: usize, dweight: usize, dbias: usize, dout: usize, inp: usize, weight: usize, mean: usize, rstd: usize,
  R: i32, C: i32,
): void {
  for (let r = 0; r < R; r++) {
    const off = (<usize>r * C) << 2;
    const m = load<f32>(mean + (<usize>r << 2)), rs = load<f32>(rstd + (<usize>r << 2));
    let s1: f32 = 0, s2: f32 = 0;
    for (let j = 0; j < C; j++) {
      const o = <usize>j << 2;
      const gs = load<f32>(dout + off + o);
      const n = (load<f32>(inp + off + o) - m) * rs;
      const dn = weight ? gs * load<f32>(weight + o) : gs;
      s1 += dn;
      s2 += dn * n;
      if (dbias) store<f32>(dbias + o, load<f32>(dbias + o) + gs);
      if (dweight) store<f32>(dweight + o, load<f32>(dweight + o) + n * gs);
    }
    if (!dinp) continue;
    for (let j = 0; j < C; j++) {
      const o = <usize>j << 2;
      const gs = load<f32>(dout + off + o);
      const n = (load<f32>(inp + off + o) - m) * rs;
      const dn = weight ? gs * load<f32>(weight + o) : gs;
      store<f32>(dinp + off + o, load<f32>(dinp + off + o) + (dn - s1 / <f32>C - n * (s2 / <f32>C)) * rs);
    }
  }
}
