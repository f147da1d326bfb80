// Data movement and reductions: column slices and concatenation, transposes and the subsampling
// permute, sums and the mean over time. Each forward overwrites its output; each backward accumulates (+=) into gradients.
//
// These are linear maps, so each backward is the forward's adjoint; tests check the identity
// <forward(x), y> == <x, backward(y)> and a plain JS reference (test/tensor_ops.test.ts). Not here:
// elementwise arithmetic and activations (their own file), and reductions with masks.

import { madd4 } from "../math";
// @ts-ignore: decorator
@inline
function f(p: usize, i: i32): usize {
  return p + (<usize>i << 2);
}

/** dst[0..n) += src[0..n), SIMD with a scalar tail. */
// @ts-ignore: decorator
@inline
function add_into(dst: usize, src: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) v128.store(f(dst, i), f32x4.add(v128.load(f(dst, i)), v128.load(f(src, i))));
  for (; i < n; i++) store<f32>(f(dst, i), load<f32>(f(dst, i)) + load<f32>(f(src, i)));
}

/** Scalar twin of add_into. */
function add_into_naive(dst: usize, src: usize, n: i32): void {
  for (let i = 0; i < n; i++) store<f32>(f(dst, i), load<f32>(f(dst, i)) + load<f32>(f(src, i)));
}

/** out[r, 0:c1-c0] = inp[r, c0:c1]. out: [R, c1-c0]; inp: [R, C_in]; 0 <= c0 <= c1 <= C_in. */
export function slice_cols_forward(out: usize, inp: usize, R: i32, C_in: i32, c0: i32, c1: i32): void {
  const w = c1 - c0;
  for (let r = 0; r < R; r++) memory.copy(f(out, r * w), f(inp, r * C_in + c0), <usize>w << 2);
}

/** Forward: out[r, :] = inp[r, c0:c1], so dinp[r, c0:c1] += dout[r, :]. */
export function slice_cols_backward(dinp: usize, dout: usize, R: i32, C_in: i32, c0: i32, c1: i32): void {
  const w = c1 - c0;
  for (let r = 0; r < R; r++) add_into(f(dinp, r * C_in + c0), f(dout, r * w), w);
}

/** Scalar twin of slice_cols_backward. */
export function slice_cols_backward_naive(dinp: usize, dout: usize, R: i32, C_in: i32, c0: i32, c1: i32): void {
  const w = c1 - c0;
  for (let r = 0; r < R; r++) add_into_naive(f(dinp, r * C_in + c0), f(dout, r * w), w);
}

/** out[r, :] = [a[r, :], b[r, :]]. out: [R, Ca+Cb]; a: [R, Ca]; b: [R, Cb]. */
export function concat_cols_forward(out: usize, a: usize, b: usize, R: i32, Ca: i32, Cb: i32): void {
  const C = Ca + Cb;
  for (let r = 0; r < R; r++) {
    memory.copy(f(out, r * C), f(a, r * Ca), <usize>Ca << 2);
    memory.copy(f(out, r * C + Ca), f(b, r * Cb), <usize>Cb << 2);
  }
}

/** Forward: out[r] = [a[r], b[r]], so da[r] += dout[r, :Ca], db[r] += dout[r, Ca:]. da or db may be 0. */
export function concat_cols_backward(da: usize, db: usize, dout: usize, R: i32, Ca: i32, Cb: i32): void {
  const C = Ca + Cb;
  for (let r = 0; r < R; r++) {
    if (da) add_into(f(da, r * Ca), f(dout, r * C), Ca);
    if (db) add_into(f(db, r * Cb), f(dout, r * C + Ca), Cb);
  }
}

/** Scalar twin of concat_cols_backward. */
export function concat_cols_backward_naive(da: usize, db: usize, dout: usize, R: i32, Ca: i32, Cb: i32): void {
  const C = Ca + Cb;
  for (let r = 0; r < R; r++) {
    if (da) add_into_naive(f(da, r * Ca), f(dout, r * C), Ca);
    if (db) add_into_naive(f(db, r * Cb), f(dout, r * C + Ca), Cb);
  }
}

/**
 * out[b, y, x] = inp[b, x, y] + beta * out[b, y, x]: the last two dims swapped. out: [B, Y, X]; inp: [B, X, Y].
 * beta = 0 overwrites (the forward), beta = 1 accumulates (the backward). 4x4 blocks via shuffles.
 */
function transpose_add(out: usize, inp: usize, B: i32, X: i32, Y: i32, beta: i32): void {
  const n = X * Y;
  for (let b = 0; b < B; b++) {
    const s = f(inp, b * n), d = f(out, b * n);
    let x = 0;
    for (; x + 4 <= X; x += 4) {
      let y = 0;
      for (; y + 4 <= Y; y += 4) {
        const r0 = v128.load(f(s, x * Y + y)), r1 = v128.load(f(s, (x + 1) * Y + y));
        const r2 = v128.load(f(s, (x + 2) * Y + y)), r3 = v128.load(f(s, (x + 3) * Y + y));
        const t0 = v128.shuffle<f32>(r0, r1, 0, 4, 1, 5), t1 = v128.shuffle<f32>(r2, r3, 0, 4, 1, 5);
        const t2 = v128.shuffle<f32>(r0, r1, 2, 6, 3, 7), t3 = v128.shuffle<f32>(r2, r3, 2, 6, 3, 7);
        let c0 = v128.shuffle<f32>(t0, t1, 0, 1, 4, 5), c1 = v128.shuffle<f32>(t0, t1, 2, 3, 6, 7);
        let c2 = v128.shuffle<f32>(t2, t3, 0, 1, 4, 5), c3 = v128.shuffle<f32>(t2, t3, 2, 3, 6, 7);
        const o0 = f(d, y * X + x), o1 = f(d, (y + 1) * X + x), o2 = f(d, (y + 2) * X + x), o3 = f(d, (y + 3) * X + x);
        if (beta) {
          c0 = f32x4.add(c0, v128.load(o0)); c1 = f32x4.add(c1, v128.load(o1));
          c2 = f32x4.add(c2, v128.load(o2)); c3 = f32x4.add(c3, v128.load(o3));
        }
        v128.store(o0, c0); v128.store(o1, c1); v128.store(o2, c2); v128.store(o3, c3);
      }
      for (; y < Y; y++) {
        for (let i = x; i < x + 4; i++) {
          const o = f(d, y * X + i), v = load<f32>(f(s, i * Y + y));
          store<f32>(o, beta ? load<f32>(o) + v : v);
        }
      }
    }
    for (; x < X; x++) {
      for (let y = 0; y < Y; y++) {
        const o = f(d, y * X + x), v = load<f32>(f(s, x * Y + y));
        store<f32>(o, beta ? load<f32>(o) + v : v);
      }
    }
  }
}

/** out[b, y, x] = inp[b, x, y]. out: [B, Y, X]; inp: [B, X, Y]. */
export function transpose_forward(out: usize, inp: usize, B: i32, X: i32, Y: i32): void {
  transpose_add(out, inp, B, X, Y, 0);
}

/** Forward: out[b, y, x] = inp[b, x, y], so dinp[b, x, y] += dout[b, y, x]. dinp: [B, X, Y]; dout: [B, Y, X]. */
export function transpose_backward(dinp: usize, dout: usize, B: i32, X: i32, Y: i32): void {
  transpose_add(dinp, dout, B, Y, X, 1);
}

/** Scalar twin of transpose_forward. */
export function transpose_forward_naive(out: usize, inp: usize, B: i32, X: i32, Y: i32): void {
  for (let b = 0; b < B; b++)
    for (let x = 0; x < X; x++)
      for (let y = 0; y < Y; y++) store<f32>(f(out, (b * Y + y) * X + x), load<f32>(f(inp, (b * X + x) * Y + y)));
}

/** Scalar twin of transpose_backward. */
export function transpose_backward_naive(dinp: usize, dout: usize, B: i32, X: i32, Y: i32): void {
  for (let b = 0; b < B; b++)
    for (let x = 0; x < X; x++)
      for (let y = 0; y < Y; y++) {
        const o = f(dinp, (b * X + x) * Y + y);
        store<f32>(o, load<f32>(o) + load<f32>(f(dout, (b * Y + y) * X + x)));
      }
}

/**
 * out[b, t, c, f] = inp[b, c, t, f]: the subsampling output [B, C, T, F] as [B, T, C*F] (rows of F copied).
 * out: [B, T, C, F]; inp: [B, C, T, F].
 */
export function permute_bctf_to_btcf_forward(out: usize, inp: usize, B: i32, C: i32, T: i32, F: i32): void {
  for (let b = 0; b < B; b++)
    for (let c = 0; c < C; c++)
      for (let t = 0; t < T; t++) memory.copy(f(out, ((b * T + t) * C + c) * F), f(inp, ((b * C + c) * T + t) * F), <usize>F << 2);
}

/** Forward: out[b, t, c, :] = inp[b, c, t, :], so dinp[b, c, t, :] += dout[b, t, c, :]. */
export function permute_bctf_to_btcf_backward(dinp: usize, dout: usize, B: i32, C: i32, T: i32, F: i32): void {
  for (let b = 0; b < B; b++)
    for (let c = 0; c < C; c++)
      for (let t = 0; t < T; t++) add_into(f(dinp, ((b * C + c) * T + t) * F), f(dout, ((b * T + t) * C + c) * F), F);
}

/** Scalar twin of permute_bctf_to_btcf_backward. */
export function permute_bctf_to_btcf_backward_naive(dinp: usize, dout: usize, B: i32, C: i32, T: i32, F: i32): void {
  for (let b = 0; b < B; b++)
    for (let c = 0; c < C; c++)
      for (let t = 0; t < T; t++) add_into_naive(f(dinp, ((b * C + c) * T + t) * F), f(dout, ((b * T + t) * C + c) * F), F);
}

/** out[c] = sum_r inp[r, c]. out: [C]; inp: [R, C]. */
export function sum_rows_forward(out: usize, inp: usize, R: i32, C: i32): void {
  memory.fill(out, 0, <usize>C << 2);
  for (let r = 0; r < R; r++) add_into(out, f(inp, r * C), C);
}

/** Scalar twin of sum_rows_forward. */
export function sum_rows_forward_naive(out: usize, inp: usize, R: i32, C: i32): void {
  memory.fill(out, 0, <usize>C << 2);
  for (let r = 0; r < R; r++) add_into_naive(out, f(inp, r * C), C);
}

/** Forward: out[c] = sum_r inp[r, c], so dinp[r, c] += dout[c]. */
export function sum_rows_backward(dinp: usize, dout: usize, R: i32, C: i32): void {
  for (let r = 0; r < R; r++) add_into(f(dinp, r * C), dout, C);
}

/** Scalar twin of sum_rows_backward. */
export function sum_rows_backward_naive(dinp: usize, dout: usize, R: i32, C: i32): void {
  for (let r = 0; r < R; r++) add_into_naive(f(dinp, r * C), dout, C);
}

/** out[0] = sum_i inp[i] over n floats, four SIMD partial sums in f32. */
export function sum_forward(out: usize, inp: usize, n: i32): void {
  let a0 = f32x4.splat(0), a1 = a0, a2 = a0, a3 = a0;
  let i = 0;
  for (; i + 16 <= n; i += 16) {
    const p = f(inp, i);
    a0 = f32x4.add(a0, v128.load(p)); a1 = f32x4.add(a1, v128.load(p, 16));
    a2 = f32x4.add(a2, v128.load(p, 32)); a3 = f32x4.add(a3, v128.load(p, 48));
  }
  for (; i + 4 <= n; i += 4) a0 = f32x4.add(a0, v128.load(f(inp, i)));
  const a = f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3));
  let s: f32 = f32x4.extract_lane(a, 0) + f32x4.extract_lane(a, 1) + f32x4.extract_lane(a, 2) + f32x4.extract_lane(a, 3);
  for (; i < n; i++) s += load<f32>(f(inp, i));
  store<f32>(out, s);
}

/** Scalar twin of sum_forward (sequential f32 sum). */
export function sum_forward_naive(out: usize, inp: usize, n: i32): void {
  let s: f32 = 0;
  for (let i = 0; i < n; i++) s += load<f32>(f(inp, i));
  store<f32>(out, s);
}

/** Forward: out[0] = sum_i inp[i], so dinp[i] += dout[0]. */
export function sum_backward(dinp: usize, dout: usize, n: i32): void {
  const g = load<f32>(dout), gv = f32x4.splat(g);
  let i = 0;
  for (; i + 4 <= n; i += 4) v128.store(f(dinp, i), f32x4.add(v128.load(f(dinp, i)), gv));
  for (; i < n; i++) store<f32>(f(dinp, i), load<f32>(f(dinp, i)) + g);
}

/** Scalar twin of sum_backward. */
export function sum_backward_naive(dinp: usize, dout: usize, n: i32): void {
  const g = load<f32>(dout);
  for (let i = 0; i < n; i++) store<f32>(f(dinp, i), load<f32>(f(dinp, i)) + g);
}

/** out[b, c] = (1/T) sum_t inp[b, t, c]: mean over time. out: [B, C]; inp: [B, T, C]. */
export function mean_time_forward(out: usize, inp: usize, B: i32, T: i32, C: i32): void {
  const s = f32x4.splat(<f32>1 / <f32>T);
  for (let b = 0; b < B; b++) {
    const o = f(out, b * C);
    sum_rows_forward(o, f(inp, b * T * C), T, C);
    let i = 0;
    for (; i + 4 <= C; i += 4) v128.store(f(o, i), f32x4.mul(v128.load(f(o, i)), s));
    for (; i < C; i++) store<f32>(f(o, i), load<f32>(f(o, i)) * (<f32>1 / <f32>T));
  }
}

/** Forward: out[b, c] = (1/T) sum_t inp[b, t, c], so dinp[b, t, c] += dout[b, c] / T. */
export function mean_time_backward(dinp: usize, dout: usize, B: i32, T: i32, C: i32): void {
  const inv: f32 = <f32>1 / <f32>T, s = f32x4.splat(inv);
  for (let b = 0; b < B; b++) {
    const g = f(dout, b * C);
    for (let t = 0; t < T; t++) {
      const d = f(dinp, (b * T + t) * C);
      let i = 0;
      for (; i + 4 <= C; i += 4) v128.store(f(d, i), madd4(v128.load(f(g, i)), s, v128.load(f(d, i))));
      for (; i < C; i++) store<f32>(f(d, i), load<f32>(f(d, i)) + load<f32>(f(g, i)) * inv);
    }
  }
}

/** Scalar twin of mean_time_backward. */
export function mean_time_backward_naive(dinp: usize, dout: usize, B: i32, T: i32, C: i32): void {
  const inv: f32 = <f32>1 / <f32>T;
  for (let b = 0; b < B; b++)
    for (let t = 0; t < T; t++)
      for (let i = 0; i < C; i++) {
        const d = f(dinp, (b * T + t) * C + i);
        store<f32>(d, load<f32>(d) + load<f32>(f(dout, b * C + i)) * inv);
      }
}
