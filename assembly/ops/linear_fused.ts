// Fused epilogues of the encoder's linear layers: the element-wise work around a linear layer done in
// one pass instead of three or four (the tape ops using them are in tape_fused.ts).
//
//   SiLU with dropout:   out = x · σ(x) · mask, x = lin + b (the feed-forward's hidden layer)
//   residual with scale: out = x + alpha · mask · o         (x + 1/2 · FF(x), x + Out(MHSSM(x)))
//
// What it is: forward/backward pairs over contiguous [R, C] buffers, SIMD with scalar tails, each with
// a scalar `_naive` twin. The backwards also sum the bias gradient (over rows) in the same pass, and
// SiLU's backward takes σ(pre) saved by its forward instead of recomputing an exp. `mask` may be 0
// (no dropout: m = 1). SiLU's kernels also add the bias to the GEMM's product as they read it.
// What it is not: a GEMM epilogue; the products stay in gemm.ts.
// Reference: the unfused kernels (linear.ts, activation.ts, elementwise.ts, dropout.ts); checked in
// test/linear_fused.test.ts against the naive twins, float64 finite differences, and the unfused ops
// on the tape.

import { kv, madd4, ONE, sigmoid1, sigmoid4 } from "../math";

// ---------------------------------------------------------------------------- SiLU with dropout

/**
 * out[r,c] = x · s · mask[r,c] and sig[r,c] = s = σ(x), with x = lin[r,c] + bias[c], over [R, C]
 * (R rows, C channels, contiguous); bias == 0 means none, mask == 0 all ones. lin is the linear
 * layer's product without its bias (a GEMM with beta = 0 wrote it, so no pass copied the bias in);
 * lin and sig are what silu_mask_backward takes.
 */
export function silu_mask_forward(out: usize, sig: usize, lin: usize, bias: usize, mask: usize, R: i32, C: i32): void {
  const C4 = C & ~3, C16 = C & ~15;
  for (let r = 0; r < R; r++) {
    const row = (<usize>r * C) << 2;
    // Four vectors per step, their four σ computed before any store: σ is one long dependency chain
    // (a polynomial, a division) and V8 emits the code in that order, so one vector per step kept too
    // few chains in flight for the FP scheduler (measured 1.8x faster on σ alone).
    let c = 0;
    for (; c < C16; c += 16) {
      const o = row + (<usize>c << 2), ob = <usize>c << 2;
      let x0 = v128.load(lin + o), x1 = v128.load(lin + o, 16), x2 = v128.load(lin + o, 32), x3 = v128.load(lin + o, 48);
      if (bias) {
        x0 = f32x4.add(x0, v128.load(bias + ob));
        x1 = f32x4.add(x1, v128.load(bias + ob, 16));
        x2 = f32x4.add(x2, v128.load(bias + ob, 32));
        x3 = f32x4.add(x3, v128.load(bias + ob, 48));
      }
      const s0 = sigmoid4(x0), s1 = sigmoid4(x1), s2 = sigmoid4(x2), s3 = sigmoid4(x3);
      v128.store(sig + o, s0);
      v128.store(sig + o, s1, 16);
      v128.store(sig + o, s2, 32);
      v128.store(sig + o, s3, 48);
      let y0 = f32x4.mul(x0, s0), y1 = f32x4.mul(x1, s1), y2 = f32x4.mul(x2, s2), y3 = f32x4.mul(x3, s3);
      if (mask) {
        y0 = f32x4.mul(y0, v128.load(mask + o));
        y1 = f32x4.mul(y1, v128.load(mask + o, 16));
        y2 = f32x4.mul(y2, v128.load(mask + o, 32));
        y3 = f32x4.mul(y3, v128.load(mask + o, 48));
      }
      v128.store(out + o, y0);
      v128.store(out + o, y1, 16);
      v128.store(out + o, y2, 32);
      v128.store(out + o, y3, 48);
    }
    for (; c < C4; c += 4) {
      const o = row + (<usize>c << 2);
      let x = v128.load(lin + o);
      if (bias) x = f32x4.add(x, v128.load(bias + (<usize>c << 2)));
      const s = sigmoid4(x);
      v128.store(sig + o, s);
      let y = f32x4.mul(x, s);
      if (mask) y = f32x4.mul(y, v128.load(mask + o));
      v128.store(out + o, y);
    }
    if (C4 < C) silu_mask_forward_row(out + row, sig + row, lin + row, bias, mask ? mask + row : 0, C4, C);
  }
}

/** Columns c0..C-1 of one row of silu_mask_forward (the scalar tail and the naive twin). */
// @ts-ignore: decorator
@inline
function silu_mask_forward_row(out: usize, sig: usize, lin: usize, bias: usize, mask: usize, c0: i32, C: i32): void {
  for (let c = c0; c < C; c++) {
    const o = <usize>c << 2;
    const x = bias ? load<f32>(lin + o) + load<f32>(bias + o) : load<f32>(lin + o);
    const s = sigmoid1(x);
    store<f32>(sig + o, s);
    store<f32>(out + o, mask ? x * s * load<f32>(mask + o) : x * s);
  }
}

export function silu_mask_forward_naive(out: usize, sig: usize, lin: usize, bias: usize, mask: usize, R: i32, C: i32): void {
  for (let r = 0; r < R; r++) {
    const row = (<usize>r * C) << 2;
    silu_mask_forward_row(out + row, sig + row, lin + row, bias, mask ? mask + row : 0, 0, C);
  }
}

/**
 * Inverts `out = x · σ(x) · mask`, x = lin + bias, over [R, C], with s = sig:
 *   d = dout · mask · s · (1 + x · (1 - s));   dlin = d;   dbias[c] += Σ_r d[r, c] (dbias != 0)
 * dlin is WRITTEN, not accumulated: it is the gradient of the fused op's own intermediate (nothing
 * else adds into it), so the op needs no zeroed buffer and no read of one. dbias accumulates, rows
 * summed in order 0..R-1.
 */
export function silu_mask_backward(dlin: usize, dbias: usize, dout: usize, lin: usize, bias: usize, sig: usize, mask: usize, R: i32, C: i32): void {
  const C4 = C & ~3;
  for (let r = 0; r < R; r++) {
    const row = (<usize>r * C) << 2;
    for (let c = 0; c < C4; c += 4) {
      const o = row + (<usize>c << 2), ob = <usize>c << 2;
      let g = v128.load(dout + o);
      if (mask) g = f32x4.mul(g, v128.load(mask + o));
      let x = v128.load(lin + o);
      if (bias) x = f32x4.add(x, v128.load(bias + ob));
      const s = v128.load(sig + o);
      const d = f32x4.mul(g, f32x4.mul(s, madd4(x, f32x4.sub(kv(ONE), s), kv(ONE))));
      v128.store(dlin + o, d);
      if (dbias) v128.store(dbias + ob, f32x4.add(v128.load(dbias + ob), d));
    }
    if (C4 < C) silu_mask_backward_row(dlin + row, dbias, dout + row, lin + row, bias, sig + row, mask ? mask + row : 0, C4, C);
  }
}

/** Columns c0..C-1 of one row of silu_mask_backward (the scalar tail and the naive twin). */
// @ts-ignore: decorator
@inline
function silu_mask_backward_row(dlin: usize, dbias: usize, dout: usize, lin: usize, bias: usize, sig: usize, mask: usize, c0: i32, C: i32): void {
  for (let c = c0; c < C; c++) {
    const o = <usize>c << 2;
    const g = mask ? load<f32>(dout + o) * load<f32>(mask + o) : load<f32>(dout + o);
    const x = bias ? load<f32>(lin + o) + load<f32>(bias + o) : load<f32>(lin + o);
    const s = load<f32>(sig + o);
    const d = g * (s * (x * (1 - s) + 1));
    store<f32>(dlin + o, d);
    if (dbias) store<f32>(dbias + o, load<f32>(dbias + o) + d);
  }
}

export function silu_mask_backward_naive(dlin: usize, dbias: usize, dout: usize, lin: usize, bias: usize, sig: usize, mask: usize, R: i32, C: i32): void {
  for (let r = 0; r < R; r++) {
    const row = (<usize>r * C) << 2;
    silu_mask_backward_row(dlin + row, dbias, dout + row, lin + row, bias, sig + row, mask ? mask + row : 0, 0, C);
  }
}

// ----------------------------------------------------------------------- residual with scale

/**
 * out[r, c] = x[r, c] + alpha · bias[c] over [R, C] (bias == 0: out = x). The start of
 * `out = x + alpha · (inp · W^T + bias)` when a GEMM with this alpha and beta = 1 adds the product.
 */
export function residual_bias_forward(out: usize, x: usize, bias: usize, alpha: f32, R: i32, C: i32): void {
  if (!bias) {
    memory.copy(out, x, (<usize>R * C) << 2);
    return;
  }
  const va = f32x4.splat(alpha);
  const C4 = C & ~3;
  for (let r = 0; r < R; r++) {
    const row = (<usize>r * C) << 2;
    for (let c = 0; c < C4; c += 4) {
      const o = row + (<usize>c << 2);
      v128.store(out + o, madd4(va, v128.load(bias + (<usize>c << 2)), v128.load(x + o)));
    }
    for (let c = C4; c < C; c++) {
      const o = row + (<usize>c << 2);
      store<f32>(out + o, load<f32>(x + o) + alpha * load<f32>(bias + (<usize>c << 2)));
    }
  }
}

export function residual_bias_forward_naive(out: usize, x: usize, bias: usize, alpha: f32, R: i32, C: i32): void {
  for (let r = 0; r < R; r++) {
    for (let c = 0; c < C; c++) {
      const o = (<usize>r * C + c) << 2;
      store<f32>(out + o, bias ? load<f32>(x + o) + alpha * load<f32>(bias + (<usize>c << 2)) : load<f32>(x + o));
    }
  }
}

/** out[i] = x[i] + alpha · mask[i] · o[i] over n floats (mask == 0: all ones). */
export function residual_mask_forward(out: usize, x: usize, o: usize, mask: usize, alpha: f32, n: i32): void {
  const va = f32x4.splat(alpha);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const p = <usize>i << 2;
    let v = v128.load(o + p);
    if (mask) v = f32x4.mul(v, v128.load(mask + p));
    v128.store(out + p, madd4(va, v, v128.load(x + p)));
  }
  const p = <usize>i << 2;
  residual_mask_forward_naive(out + p, x + p, o + p, mask ? mask + p : 0, alpha, n - i);
}

export function residual_mask_forward_naive(out: usize, x: usize, o: usize, mask: usize, alpha: f32, n: i32): void {
  for (let i = 0; i < n; i++) {
    const p = <usize>i << 2;
    const v = mask ? load<f32>(o + p) * load<f32>(mask + p) : load<f32>(o + p);
    store<f32>(out + p, load<f32>(x + p) + alpha * v);
  }
}

/**
 * Inverts `out = x + alpha · mask · o` over [R, C] (R rows, C channels, contiguous), with g = dout:
 *   dx += g (dx != 0);   do += alpha · mask · g (do != 0);   dbias[c] += Σ_r alpha · mask · g (dbias != 0)
 * (dbias: the bias that the linear layer added into o; rows summed in order 0..R-1). mask == 0: ones.
 */
export function residual_backward(dx: usize, ddo: usize, dbias: usize, dout: usize, mask: usize, alpha: f32, R: i32, C: i32): void {
  const va = f32x4.splat(alpha);
  const C4 = C & ~3;
  for (let r = 0; r < R; r++) {
    const row = (<usize>r * C) << 2;
    for (let c = 0; c < C4; c += 4) {
      const o = row + (<usize>c << 2);
      const g = v128.load(dout + o);
      if (dx) v128.store(dx + o, f32x4.add(v128.load(dx + o), g));
      let v = f32x4.mul(g, va);
      if (mask) v = f32x4.mul(v, v128.load(mask + o));
      if (ddo) v128.store(ddo + o, f32x4.add(v128.load(ddo + o), v));
      if (dbias) {
        const b = dbias + (<usize>c << 2);
        v128.store(b, f32x4.add(v128.load(b), v));
      }
    }
    if (C4 < C) residual_backward_row(dx ? dx + row : 0, ddo ? ddo + row : 0, dbias, dout + row, mask ? mask + row : 0, alpha, C4, C);
  }
}

/** Columns c0..C-1 of one row of residual_backward (the scalar tail and the naive twin). */
// @ts-ignore: decorator
@inline
function residual_backward_row(dx: usize, ddo: usize, dbias: usize, dout: usize, mask: usize, alpha: f32, c0: i32, C: i32): void {
  for (let c = c0; c < C; c++) {
    const o = <usize>c << 2;
    const g = load<f32>(dout + o);
    if (dx) store<f32>(dx + o, load<f32>(dx + o) + g);
    const v = mask ? g * alpha * load<f32>(mask + o) : g * alpha;
    if (ddo) store<f32>(ddo + o, load<f32>(ddo + o) + v);
    if (dbias) store<f32>(dbias + o, load<f32>(dbias + o) + v);
  }
}

export function residual_backward_naive(dx: usize, ddo: usize, dbias: usize, dout: usize, mask: usize, alpha: f32, R: i32, C: i32): void {
  for (let r = 0; r < R; r++) {
    const row = (<usize>r * C) << 2;
    residual_backward_row(dx ? dx + row : 0, ddo ? ddo + row : 0, dbias, dout + row, mask ? mask + row : 0, alpha, 0, C);
  }
}
