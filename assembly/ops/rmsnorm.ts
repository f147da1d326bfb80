// RMSNorm over the last dimension (Zhang & Sennrich 2019): a forward/backward pair, SIMD with scalar
// tails, each with a scalar `_naive` twin. The sibling of layernorm in norm.ts, kept apart for length.
//
// What it is not: LayerNorm (no mean subtraction, no bias). References: an RMSNorm written in
// test/ref/elementwise.py (torch 1.13 has no nn.RMSNorm) in test/fixtures/elementwise.json; float64
// finite differences in test/norm.test.ts.
// Shapes: inp, out, dout, dinp are [R, C], rows contiguous (row stride C); rstd is [R]; weight and
// dweight are [C], the leading slice [0:C] of a possibly wider parameter. weight = 0 means no gain
// (then pass dweight = 0); a d-pointer may be 0 when that gradient is not needed.

import { hsum4, madd4, splat } from "../math";

/** out[r, j] = inp[r, j] * rstd[r] * weight[j], rstd[r] = 1 / sqrt(mean_j inp[r, j]^2 + eps), saved. */
export function rmsnorm_forward(out: usize, rstd: usize, inp: usize, weight: usize, R: i32, C: i32, eps: f32): void {
  for (let r = 0; r < R; r++) {
    const x = inp + ((<usize>r * C) << 2), y = out + ((<usize>r * C) << 2);
    let acc = splat(0);
    let j = 0;
    for (; j + 4 <= C; j += 4) {
      const v = v128.load(x + (<usize>j << 2));
      acc = madd4(v, v, acc);
    }
    let ss = hsum4(acc);
    for (; j < C; j++) {
      const v = load<f32>(x + (<usize>j << 2));
      ss += v * v;
    }
    const rs: f32 = 1 / Mathf.sqrt(ss / <f32>C + eps);
    store<f32>(rstd + (<usize>r << 2), rs);
    const rv = f32x4.splat(rs);
    j = 0;
    for (; j + 4 <= C; j += 4) {
      const o = <usize>j << 2;
      const n = f32x4.mul(v128.load(x + o), rv);
      v128.store(y + o, weight ? f32x4.mul(n, v128.load(weight + o)) : n);
    }
    for (; j < C; j++) {
      const o = <usize>j << 2;
      const n = load<f32>(x + o) * rs;
      store<f32>(y + o, weight ? n * load<f32>(weight + o) : n);
    }
  }
}

export function rmsnorm_forward_naive(out: usize, rstd: usize, inp: usize, weight: usize, R: i32, C: i32, eps: f32): void {
  for (let r = 0; r < R; r++) {
    const x = inp + ((<usize>r * C) << 2), y = out + ((<usize>r * C) << 2);
    let ss: f32 = 0;
    for (let j = 0; j < C; j++) {
      const v = load<f32>(x + (<usize>j << 2));
      ss += v * v;
    }
    const rs: f32 = 1 / Mathf.sqrt(ss / <f32>C + eps);
    store<f32>(rstd + (<usize>r << 2), rs);
    for (let j = 0; j < C; j++) {
      const o = <usize>j << 2;
      const w: f32 = weight ? load<f32>(weight + o) : 1;
      store<f32>(y + o, load<f32>(x + o) * rs * w);
    }
  }
}

/**
 * Inverts `out = norm * weight`, norm = inp * rstd, rstd = (mean(inp^2) + eps)^(-1/2):
 *   dweight[j] += sum_r norm[r, j] * dout[r, j]
 *   dinp[r, j] += rstd[r] * (dnorm[r, j] - norm[r, j] * mean_j(dnorm * norm)), dnorm = dout * weight
 * (the layernorm formula without the mean terms; d rstd / d inp[j] = -rstd^3 inp[j] / C).
 */
export function rmsnorm_backward(
  dinp: usize, dweight: usize, dout: usize, inp: usize, weight: usize, rstd: usize, R: i32, C: i32,
): void {
  for (let r = 0; r < R; r++) {
    const off = (<usize>r * C) << 2;
    const x = inp + off, g = dout + off;
    const rs = load<f32>(rstd + (<usize>r << 2));
    const rv = f32x4.splat(rs);
    let acc = splat(0);
    let j = 0;
    for (; j + 4 <= C; j += 4) {
      const o = <usize>j << 2;
      const gv = v128.load(g + o);
      const n = f32x4.mul(v128.load(x + o), rv);
      const dn = weight ? f32x4.mul(gv, v128.load(weight + o)) : gv;
      acc = madd4(dn, n, acc);
      if (dweight) v128.store(dweight + o, madd4(n, gv, v128.load(dweight + o)));
    }
    let s = hsum4(acc);
    const j0 = j;
    for (; j < C; j++) {
      const o = <usize>j << 2;
      const gs = load<f32>(g + o);
      const n = load<f32>(x + o) * rs;
      s += (weight ? gs * load<f32>(weight + o) : gs) * n;
      if (dweight) store<f32>(dweight + o, load<f32>(dweight + o) + n * gs);
    }
    if (!dinp) continue;
    const ms = s / <f32>C;
    const mv = f32x4.splat(ms);
    const d = dinp + off;
    for (j = 0; j < j0; j += 4) {
      const o = <usize>j << 2;
      const gv = v128.load(g + o);
      const n = f32x4.mul(v128.load(x + o), rv);
      const dn = weight ? f32x4.mul(gv, v128.load(weight + o)) : gv;
      v128.store(d + o, madd4(f32x4.sub(dn, f32x4.mul(n, mv)), rv, v128.load(d + o)));
    }
    for (; j < C; j++) {
      const o = <usize>j << 2;
      const gs = load<f32>(g + o);
      const n = load<f32>(x + o) * rs;
      const dn = weight ? gs * load<f32>(weight + o) : gs;
      store<f32>(d + o, load<f32>(d + o) + (dn - n * ms) * rs);
    }
  }
}

export function rmsnorm_backward_naive(
  dinp: usize, dweight: usize, dout: usize, inp: usize, weight: usize, rstd: usize, R: i32, C: i32,
): void {
  for (let r = 0; r < R; r++) {
    const off = (<usize>r * C) << 2;
    const rs = load<f32>(rstd + (<usize>r << 2));
    let s: f32 = 0;
    for (let j = 0; j < C; j++) {
      const o = <usize>j << 2;
      const gs = load<f32>(dout + off + o);
      const n = load<f32>(inp + off + o) * rs;
      s += (weight ? gs * load<f32>(weight + o) : gs) * n;
      if (dweight) store<f32>(dweight + o, load<f32>(dweight + o) + n * gs);
    }
    if (!dinp) continue;
    for (let j = 0; j < C; j++) {
      const o = <usize>j << 2;
      const gs = load<f32>(dout + off + o);
      const n = load<f32>(inp + off + o) * rs;
      const dn = weight ? gs * load<f32>(weight + o) : gs;
      store<f32>(dinp + off + o, load<f32>(dinp + off + o) + (dn - n * (s / <f32>C)) * rs);
    }
  }
}
