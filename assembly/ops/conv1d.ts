// Depthwise 1-D convolution over time, channels last: the conformer-style conv module's kernel.
//
// Each channel c is convolved with its own K taps (PyTorch F.conv1d with groups=C, weight [C, 1, K],
// stored here as [C, K]) along T, with zero padding: causal pads K-1 frames on the left, otherwise
// (K odd) (K-1)/2 on both sides, so the output keeps length T. Cross-correlation, as in PyTorch.
// It is not a streaming kernel (no carried state between calls) and not a pointwise (1x1) conv: that
// is a GEMM. The reference is test/ref/conv.py (F.conv1d, groups=C) and the `_naive` twins below.
//
// SIMD runs over channels (contiguous in [B, T, C]) in blocks of 16 (4 vectors of accumulators held
// across the K taps), then blocks of 4, then a scalar tail. The taps of a block are first copied to
// WT as [K, 16] so each tap is one vector load.

import { madd4 } from "../math";
import { mem_alloc } from "../memory";

/** The largest kernel width the SIMD kernels accept (the size of WT). */
export const DWCONV1D_MAX_K: i32 = 1024;
const CB: i32 = 16; // channels per SIMD block
// Permanent scratch (64 KiB) taken once at module start, below any mark the host can take.
const WT: usize = mem_alloc(<usize>(DWCONV1D_MAX_K * CB) << 2);

/** p[0] += a[0], p[step] += a[1], p[2*step] += a[2], p[3*step] += a[3] (step in bytes). */
// @ts-ignore: decorator
@inline
function add_lanes(p: usize, a: v128, step: usize): void {
  store<f32>(p, load<f32>(p) + f32x4.extract_lane(a, 0));
  store<f32>(p + step, load<f32>(p + step) + f32x4.extract_lane(a, 1));
  store<f32>(p + 2 * step, load<f32>(p + 2 * step) + f32x4.extract_lane(a, 2));
  store<f32>(p + 3 * step, load<f32>(p + 3 * step) + f32x4.extract_lane(a, 3));
}

/** Left padding in frames: K-1 when causal, else (K-1)/2 (K odd). */
// @ts-ignore: decorator
@inline
function pad_left(K: i32, causal: i32): i32 {
  return causal ? K - 1 : (K - 1) >> 1;
}

/**
 * Copies the taps of channels [c0, c0+nc) (nc <= 16) into WT as [K, 16]: WT[k*16 + j] = weight[c0+j, k].
 */
function load_taps(weight: usize, c0: i32, nc: i32, K: i32): void {
  for (let j = 0; j < nc; j++) {
    const w = weight + ((<usize>(c0 + j) * K) << 2);
    for (let k = 0; k < K; k++) {
      store<f32>(WT + ((<usize>(k * CB + j)) << 2), load<f32>(w + (<usize>k << 2)));
    }
  }
}

/**
 * out[b, t, c] = bias[c] + sum_k weight[c, k] * inp[b, t + k - P, c], zero outside [0, T),
 * P = K-1 (causal != 0) or (K-1)/2 (symmetric; K should be odd: for even K the extra pad frame goes right).
 * out, inp: [B, T, C]; weight: [C, K]; bias: [C] or 0 (none). K <= DWCONV1D_MAX_K.
 */
export function dwconv1d_forward(
  out: usize, inp: usize, weight: usize, bias: usize, B: i32, T: i32, C: i32, K: i32, causal: i32,
): void {
  assert(K >= 1 && K <= DWCONV1D_MAX_K, "dwconv1d: K out of range");
  const P = pad_left(K, causal);
  const rowBytes = <usize>C << 2;
  for (let c0 = 0; c0 < C; c0 += CB) {
    const nc = min(CB, C - c0);
    load_taps(weight, c0, nc, K);
    for (let b = 0; b < B; b++) {
      const inpB = inp + <usize>b * T * rowBytes + (<usize>c0 << 2);
      const outB = out + <usize>b * T * rowBytes + (<usize>c0 << 2);
      for (let t = 0; t < T; t++) {
        // out[t] reads inp[t + k - P] for k in [k0, k1): the taps that land inside [0, T).
        const k0 = max(0, P - t), k1 = min(K, T + P - t);
        const src = inpB + <usize>(t - P) * rowBytes; // inp row of tap k is src + k*rowBytes
        const dst = outB + <usize>t * rowBytes;
        let j = 0;
        if (nc == CB) {
          let a0 = f32x4.splat(0), a1 = a0, a2 = a0, a3 = a0;
          if (bias) {
            const bp = bias + (<usize>c0 << 2);
            a0 = v128.load(bp); a1 = v128.load(bp, 16); a2 = v128.load(bp, 32); a3 = v128.load(bp, 48);
          }
          for (let k = k0; k < k1; k++) {
            const x = src + <usize>k * rowBytes;
            const w = WT + (<usize>(k * CB) << 2);
            a0 = madd4(v128.load(w), v128.load(x), a0);
            a1 = madd4(v128.load(w, 16), v128.load(x, 16), a1);
            a2 = madd4(v128.load(w, 32), v128.load(x, 32), a2);
            a3 = madd4(v128.load(w, 48), v128.load(x, 48), a3);
          }
          v128.store(dst, a0); v128.store(dst, a1, 16); v128.store(dst, a2, 32); v128.store(dst, a3, 48);
          j = CB;
        }
        for (; j + 4 <= nc; j += 4) {
          const off = <usize>j << 2;
          let a = bias ? v128.load(bias + (<usize>c0 << 2) + off) : f32x4.splat(0);
          for (let k = k0; k < k1; k++) {
            a = madd4(v128.load(WT + (<usize>(k * CB) << 2) + off), v128.load(src + <usize>k * rowBytes + off), a);
          }
          v128.store(dst + off, a);
        }
        for (; j < nc; j++) {
          const off = <usize>j << 2;
          let a: f32 = bias ? load<f32>(bias + (<usize>c0 << 2) + off) : 0;
          for (let k = k0; k < k1; k++) {
            a += load<f32>(WT + (<usize>(k * CB) << 2) + off) * load<f32>(src + <usize>k * rowBytes + off);
          }
          store<f32>(dst + off, a);
        }
      }
    }
  }
}

/**
 * Gradients of dwconv1d_forward, accumulated (+=). Any of dinp, dweight, dbias may be 0 (not needed).
 * dinp, dout, inp: [B, T, C]; dweight, weight: [C, K]; dbias: [C].
 */
export function dwconv1d_backward(
  dinp: usize, dweight: usize, dbias: usize, dout: usize, inp: usize, weight: usize,
  B: i32, T: i32, C: i32, K: i32, causal: i32,
): void {
  assert(K >= 1 && K <= DWCONV1D_MAX_K, "dwconv1d: K out of range");
  const P = pad_left(K, causal);
  const rowBytes = <usize>C << 2;
  for (let c0 = 0; c0 < C; c0 += CB) {
    const nc = min(CB, C - c0);
    const cOff = <usize>c0 << 2;
    if (dinp) {
      // Forward: out[t] += weight[c, k] * inp[t + k - P], so dinp[s] += weight[c, k] * dout[s - k + P]
      // for the k with s - k + P in [0, T): k in (s + P - T, s + P].
      load_taps(weight, c0, nc, K);
      for (let b = 0; b < B; b++) {
        const doutB = dout + <usize>b * T * rowBytes + cOff;
        const dinpB = dinp + <usize>b * T * rowBytes + cOff;
        for (let s = 0; s < T; s++) {
          const k0 = max(0, s + P - T + 1), k1 = min(K, s + P + 1);
          const src = doutB + <usize>(s + P) * rowBytes; // dout row of tap k is src - k*rowBytes
          const dst = dinpB + <usize>s * rowBytes;
          let j = 0;
          if (nc == CB) {
            let a0 = v128.load(dst), a1 = v128.load(dst, 16), a2 = v128.load(dst, 32), a3 = v128.load(dst, 48);
            for (let k = k0; k < k1; k++) {
              const g = src - <usize>k * rowBytes;
              const w = WT + (<usize>(k * CB) << 2);
              a0 = madd4(v128.load(w), v128.load(g), a0);
              a1 = madd4(v128.load(w, 16), v128.load(g, 16), a1);
              a2 = madd4(v128.load(w, 32), v128.load(g, 32), a2);
              a3 = madd4(v128.load(w, 48), v128.load(g, 48), a3);
            }
            v128.store(dst, a0); v128.store(dst, a1, 16); v128.store(dst, a2, 32); v128.store(dst, a3, 48);
            j = CB;
          }
          for (; j + 4 <= nc; j += 4) {
            const off = <usize>j << 2;
            let a = v128.load(dst + off);
            for (let k = k0; k < k1; k++) {
              a = madd4(v128.load(WT + (<usize>(k * CB) << 2) + off), v128.load(src - <usize>k * rowBytes + off), a);
            }
            v128.store(dst + off, a);
          }
          for (; j < nc; j++) {
            const off = <usize>j << 2;
            let a = load<f32>(dst + off);
            for (let k = k0; k < k1; k++) {
              a += load<f32>(WT + (<usize>(k * CB) << 2) + off) * load<f32>(src - <usize>k * rowBytes + off);
            }
            store<f32>(dst + off, a);
          }
        }
      }
    }
    if (dweight) {
      // Forward: out[t] += weight[c, k] * inp[t + k - P], so dweight[c, k] += sum_{b,t} dout[t] * inp[t + k - P].
      for (let k = 0; k < K; k++) {
        const t0 = max(0, P - k), t1 = min(T, T + P - k);
        const step = <usize>K << 2; // dweight[c+1, k] - dweight[c, k], in bytes
        let j = 0;
        if (nc == CB) {
          // Four accumulators (16 channels), as in the forward: the adds of one chain are not back to back.
          let a0 = f32x4.splat(0), a1 = a0, a2 = a0, a3 = a0;
          for (let b = 0; b < B; b++) {
            const g = dout + <usize>b * T * rowBytes + cOff;
            const x = inp + <usize>b * T * rowBytes + cOff + <usize>(k - P) * rowBytes;
            for (let t = t0; t < t1; t++) {
              const gt = g + <usize>t * rowBytes, xt = x + <usize>t * rowBytes;
              a0 = madd4(v128.load(gt), v128.load(xt), a0);
              a1 = madd4(v128.load(gt, 16), v128.load(xt, 16), a1);
              a2 = madd4(v128.load(gt, 32), v128.load(xt, 32), a2);
              a3 = madd4(v128.load(gt, 48), v128.load(xt, 48), a3);
            }
          }
          const dw = dweight + ((<usize>c0 * K + k) << 2);
          add_lanes(dw, a0, step);
          add_lanes(dw + 4 * step, a1, step);
          add_lanes(dw + 8 * step, a2, step);
          add_lanes(dw + 12 * step, a3, step);
          j = CB;
        }
        for (; j + 4 <= nc; j += 4) {
          const off = cOff + (<usize>j << 2);
          let a = f32x4.splat(0);
          for (let b = 0; b < B; b++) {
            const g = dout + <usize>b * T * rowBytes + off;
            const x = inp + <usize>b * T * rowBytes + off + <usize>(k - P) * rowBytes;
            for (let t = t0; t < t1; t++) {
              a = madd4(v128.load(g + <usize>t * rowBytes), v128.load(x + <usize>t * rowBytes), a);
            }
          }
          add_lanes(dweight + ((<usize>(c0 + j) * K + k) << 2), a, step);
        }
        for (; j < nc; j++) {
          const off = cOff + (<usize>j << 2);
          let a: f32 = 0;
          for (let b = 0; b < B; b++) {
            const g = dout + <usize>b * T * rowBytes + off;
            const x = inp + <usize>b * T * rowBytes + off + <usize>(k - P) * rowBytes;
            for (let t = t0; t < t1; t++) a += load<f32>(g + <usize>t * rowBytes) * load<f32>(x + <usize>t * rowBytes);
          }
          const dw = dweight + ((<usize>(c0 + j) * K + k) << 2);
          store<f32>(dw, load<f32>(dw) + a);
        }
      }
    }
  }
  if (dbias) {
    // Forward: out[t] = bias[c] + ..., so dbias[c] += sum_{b,t} dout[b, t, c].
    const R = B * T;
    let j = 0;
    for (; j + 4 <= C; j += 4) {
      const off = <usize>j << 2;
      let a = v128.load(dbias + off);
      for (let r = 0; r < R; r++) a = f32x4.add(a, v128.load(dout + <usize>r * rowBytes + off));
      v128.store(dbias + off, a);
    }
    for (; j < C; j++) {
      const off = <usize>j << 2;
      let a = load<f32>(dbias + off);
      for (let r = 0; r < R; r++) a += load<f32>(dout + <usize>r * rowBytes + off);
      store<f32>(dbias + off, a);
    }
  }
}

/** Scalar twin of dwconv1d_forward (same contract, any K). */
export function dwconv1d_forward_naive(
  out: usize, inp: usize, weight: usize, bias: usize, B: i32, T: i32, C: i32, K: i32, causal: i32,
): void {
  const P = pad_left(K, causal);
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      for (let c = 0; c < C; c++) {
        let a: f32 = bias ? load<f32>(bias + (<usize>c << 2)) : 0;
        for (let k = 0; k < K; k++) {
          const s = t + k - P;
          if (s < 0 || s >= T) continue;
          a += load<f32>(weight + ((<usize>c * K + k) << 2)) * load<f32>(inp + ((<usize>(b * T + s) * C + c) << 2));
        }
        store<f32>(out + ((<usize>(b * T + t) * C + c) << 2), a);
      }
    }
  }
}

/** Scalar twin of dwconv1d_backward (same contract, any K). */
export function dwconv1d_backward_naive(
  dinp: usize, dweight: usize, dbias: usize, dout: usize, inp: usize, weight: usize,
  B: i32, T: i32, C: i32, K: i32, causal: i32,
): void {
  const P = pad_left(K, causal);
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      for (let c = 0; c < C; c++) {
        const g = load<f32>(dout + ((<usize>(b * T + t) * C + c) << 2));
        if (dbias) store<f32>(dbias + (<usize>c << 2), load<f32>(dbias + (<usize>c << 2)) + g);
        for (let k = 0; k < K; k++) {
          const s = t + k - P;
          if (s < 0 || s >= T) continue;
          const xi = (<usize>(b * T + s) * C + c) << 2, wi = (<usize>c * K + k) << 2;
          if (dinp) store<f32>(dinp + xi, load<f32>(dinp + xi) + load<f32>(weight + wi) * g);
          if (dweight) store<f32>(dweight + wi, load<f32>(dweight + wi) + load<f32>(inp + xi) * g);
        }
      }
    }
  }
}
