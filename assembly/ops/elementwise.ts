// Binary and scaling elementwise ops on n contiguous floats: add, mul, scale. SIMD with a scalar
// tail, each with a scalar `_naive` twin.
//
// What it is not: broadcasting (a bias over rows, the joiner's (t, u) broadcast), reductions, slicing
// or concatenation; those belong to other files. Reference: plain arithmetic, checked in
// test/elementwise.test.ts against float64 finite differences and the naive twins.
// Shapes: every buffer is [n], contiguous. out may alias a, b or inp (each element is read before it
// is written). In the backwards a gradient pointer may be 0, meaning "not needed".

import { madd4 } from "../math";

/** out[i] = a[i] + b[i]. */
export function add_forward(out: usize, a: usize, b: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    v128.store(out + o, f32x4.add(v128.load(a + o), v128.load(b + o)));
  }
  add_forward_naive(out + (<usize>i << 2), a + (<usize>i << 2), b + (<usize>i << 2), n - i);
}

export function add_forward_naive(out: usize, a: usize, b: usize, n: i32): void {
  for (let i = 0; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(out + o, load<f32>(a + o) + load<f32>(b + o));
  }
}

/** dst[i] += src[i], the accumulate every backward here is made of. */
function acc(dst: usize, src: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    v128.store(dst + o, f32x4.add(v128.load(dst + o), v128.load(src + o)));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(dst + o, load<f32>(dst + o) + load<f32>(src + o));
  }
}

/** Inverts `out = a + b`: da[i] += dout[i], db[i] += dout[i]. */
export function add_backward(da: usize, db: usize, dout: usize, n: i32): void {
  if (da) acc(da, dout, n);
  if (db) acc(db, dout, n);
}

export function add_backward_naive(da: usize, db: usize, dout: usize, n: i32): void {
  for (let i = 0; i < n; i++) {
    const o = <usize>i << 2;
    const g = load<f32>(dout + o);
    if (da) store<f32>(da + o, load<f32>(da + o) + g);
    if (db) store<f32>(db + o, load<f32>(db + o) + g);
  }
}

/** out[i] = a[i] * b[i]. */
export function mul_forward(out: usize, a: usize, b: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    v128.store(out + o, f32x4.mul(v128.load(a + o), v128.load(b + o)));
  }
  mul_forward_naive(out + (<usize>i << 2), a + (<usize>i << 2), b + (<usize>i << 2), n - i);
}

export function mul_forward_naive(out: usize, a: usize, b: usize, n: i32): void {
  for (let i = 0; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(out + o, load<f32>(a + o) * load<f32>(b + o));
  }
}

/** dst[i] += g[i] * w[i]. */
function acc_mul(dst: usize, g: usize, w: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    v128.store(dst + o, madd4(v128.load(g + o), v128.load(w + o), v128.load(dst + o)));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(dst + o, load<f32>(dst + o) + load<f32>(g + o) * load<f32>(w + o));
  }
}

/** Inverts `out = a * b`: da[i] += dout[i] * b[i], db[i] += dout[i] * a[i]. */
export function mul_backward(da: usize, db: usize, dout: usize, a: usize, b: usize, n: i32): void {
  if (da) acc_mul(da, dout, b, n);
  if (db) acc_mul(db, dout, a, n);
}

export function mul_backward_naive(da: usize, db: usize, dout: usize, a: usize, b: usize, n: i32): void {
  for (let i = 0; i < n; i++) {
    const o = <usize>i << 2;
    const g = load<f32>(dout + o);
    if (da) store<f32>(da + o, load<f32>(da + o) + g * load<f32>(b + o));
    if (db) store<f32>(db + o, load<f32>(db + o) + g * load<f32>(a + o));
  }
}

/** out[i] = s * inp[i]. */
export function scale_forward(out: usize, inp: usize, s: f32, n: i32): void {
  const sv = f32x4.splat(s);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    v128.store(out + o, f32x4.mul(v128.load(inp + o), sv));
  }
  scale_forward_naive(out + (<usize>i << 2), inp + (<usize>i << 2), s, n - i);
}

export function scale_forward_naive(out: usize, inp: usize, s: f32, n: i32): void {
  for (let i = 0; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(out + o, s * load<f32>(inp + o));
  }
}

/** Inverts `out = s * inp`: dinp[i] += s * dout[i]. */
export function scale_backward(dinp: usize, dout: usize, s: f32, n: i32): void {
  const sv = f32x4.splat(s);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    v128.store(dinp + o, madd4(v128.load(dout + o), sv, v128.load(dinp + o)));
  }
  scale_backward_naive(dinp + (<usize>i << 2), dout + (<usize>i << 2), s, n - i);
}

export function scale_backward_naive(dinp: usize, dout: usize, s: f32, n: i32): void {
  for (let i = 0; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(dinp + o, load<f32>(dinp + o) + s * load<f32>(dout + o));
  }
}
