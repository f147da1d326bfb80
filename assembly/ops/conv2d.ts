// 2-D convolution, NCHW, for the convolutional subsampling front end (e.g. conv(1->C, 3x3, stride 2),
// ReLU, conv(C->C, 3x3, stride 2) over a log-mel [B, 1, T, 80]).
//
// Computed as im2col + `gemm`: per batch item, the receptive fields are unrolled into a scratch
// matrix COL [Cin*KT*KF, T'*F'] supplied by the caller (conv2d_scratch_size floats), and the
// convolution is one GEMM with the weight [Cout, Cin*KT*KF]. Padding is zero and only along T
// (padT_left = KT-1, padT_right = 0 is the causal front end; 0, 0 is none); there is no padding in F,
// no dilation, no groups. Cross-correlation, as in PyTorch. Reference: test/ref/conv.py (F.conv2d
// after F.pad) and the direct `_naive` twins below, which do not use im2col or gemm.
//
// Output sizes: T' = (T + padT_left + padT_right - KT) / ST + 1, F' = (F - KF) / SF + 1.
// The weight's rows may be strided (ldw), so a subnet can use the leading Cin channels of a wider weight.
// Why im2col: at B=8, T=400, F=80, C=256 the GEMMs take about 95% of the second conv's CPU time (im2col
// and col2im the rest), and the first conv (Cin=1) is about 3% of the front end, so a direct loop
// would not pay.

import { gemm } from "./gemm";

/** Floats of im2col scratch that conv2d_forward / conv2d_backward need: Cin*KT*KF * T'*F'. */
export function conv2d_scratch_size(
  Cin: i32, T: i32, F: i32, KT: i32, KF: i32, ST: i32, SF: i32, padT_left: i32, padT_right: i32,
): i32 {
  const To = (T + padT_left + padT_right - KT) / ST + 1, Fo = (F - KF) / SF + 1;
  return Cin * KT * KF * To * Fo;
}

/**
 * COL[(ci*KT + kt)*KF + kf, to*F' + fo] = x[ci, to*ST + kt - padT_left, fo*SF + kf], 0 outside [0, T).
 * x: one batch item [Cin, T, F]; COL: [Cin*KT*KF, T'*F'].
 */
function im2col(col: usize, x: usize, Cin: i32, T: i32, F: i32, KT: i32, KF: i32, ST: i32, SF: i32,
  padL: i32, To: i32, Fo: i32): void {
  let dst = col;
  const rowBytes = <usize>Fo << 2;
  for (let ci = 0; ci < Cin; ci++) {
    for (let kt = 0; kt < KT; kt++) {
      for (let kf = 0; kf < KF; kf++) {
        for (let to = 0; to < To; to++) {
          const t = to * ST + kt - padL;
          if (t < 0 || t >= T) {
            memory.fill(dst, 0, rowBytes);
          } else {
            const src = x + ((<usize>(ci * T + t) * F + kf) << 2);
            gather_row(dst, src, Fo, SF, F - kf);
          }
          dst += rowBytes;
        }
      }
    }
  }
}

/** dst[i] = src[i*SF] for i < n; `avail` floats are readable from src (SIMD loads stay inside). */
// @ts-ignore: decorator
@inline
function gather_row(dst: usize, src: usize, n: i32, SF: i32, avail: i32): void {
  if (SF == 1) {
    memory.copy(dst, src, <usize>n << 2);
    return;
  }
  let i = 0;
  if (SF == 2) {
    // Four outputs from two vectors: lanes 0, 2 of src[2i..2i+3] and of src[2i+4..2i+7].
    for (; 2 * i + 8 <= avail && i + 4 <= n; i += 4) {
      const p = src + (<usize>(2 * i) << 2);
      v128.store(dst + (<usize>i << 2), v128.shuffle<f32>(v128.load(p), v128.load(p, 16), 0, 2, 4, 6));
    }
  }
  for (; i < n; i++) store<f32>(dst + (<usize>i << 2), load<f32>(src + (<usize>(i * SF) << 2)));
}

/** dst[i*SF] += src[i] for i < n; `avail` floats are writable at dst (SIMD stays inside). */
// @ts-ignore: decorator
@inline
function scatter_add_row(dst: usize, src: usize, n: i32, SF: i32, avail: i32): void {
  let i = 0;
  if (SF == 2) {
    // src[i..i+3] spread over the even lanes of dst[2i..2i+7]; the odd lanes get + 0.
    const z = f32x4.splat(0);
    for (; 2 * i + 8 <= avail && i + 4 <= n; i += 4) {
      const p = dst + (<usize>(2 * i) << 2), s = v128.load(src + (<usize>i << 2));
      v128.store(p, f32x4.add(v128.load(p), v128.shuffle<f32>(s, z, 0, 4, 1, 4)));
      v128.store(p, f32x4.add(v128.load(p, 16), v128.shuffle<f32>(s, z, 2, 4, 3, 4)), 16);
    }
  }
  for (; i < n; i++) {
    const d = dst + (<usize>(i * SF) << 2);
    store<f32>(d, load<f32>(d) + load<f32>(src + (<usize>i << 2)));
  }
}

/**
 * Inverse of im2col's gather, accumulated: x[ci, t, fo*SF + kf] += COL[(ci*KT + kt)*KF + kf, to*F' + fo].
 */
function col2im_add(x: usize, col: usize, Cin: i32, T: i32, F: i32, KT: i32, KF: i32, ST: i32, SF: i32,
  padL: i32, To: i32, Fo: i32): void {
  let src = col;
  const rowBytes = <usize>Fo << 2;
  for (let ci = 0; ci < Cin; ci++) {
    for (let kt = 0; kt < KT; kt++) {
      for (let kf = 0; kf < KF; kf++) {
        for (let to = 0; to < To; to++) {
          const t = to * ST + kt - padL;
          if (t >= 0 && t < T) {
            const dst = x + ((<usize>(ci * T + t) * F + kf) << 2);
            if (SF == 1) {
              let i = 0;
              for (; i + 4 <= Fo; i += 4) {
                const o = <usize>i << 2;
                v128.store(dst + o, f32x4.add(v128.load(dst + o), v128.load(src + o)));
              }
              for (; i < Fo; i++) {
                const o = <usize>i << 2;
                store<f32>(dst + o, load<f32>(dst + o) + load<f32>(src + o));
              }
            } else {
              scatter_add_row(dst, src, Fo, SF, F - kf);
            }
          }
          src += rowBytes;
        }
      }
    }
  }
}

/**
 * out[b, co, to, fo] = bias[co] + sum_{ci,kt,kf} weight[co, ci, kt, kf] * x[b, ci, to*ST + kt - padT_left, fo*SF + kf]
 * (x zero outside [0, T) in time).
 * out: [B, Cout, T', F']; inp: [B, Cin, T, F]; weight: [Cout, Cin, KT, KF] with rows of ldw >= Cin*KT*KF
 * floats (ldw = 0 means Cin*KT*KF; a larger ldw reads the leading Cin channels of a wider Supernet weight);
 * bias: [Cout] or 0 (none); col: scratch of conv2d_scratch_size(...) floats, overwritten.
 */
export function conv2d_forward(
  out: usize, inp: usize, weight: usize, bias: usize, col: usize,
  B: i32, Cin: i32, T: i32, F: i32, Cout: i32, KT: i32, KF: i32, ST: i32, SF: i32, padT_left: i32, padT_right: i32,
  ldw: i32,
): void {
  const To = (T + padT_left + padT_right - KT) / ST + 1, Fo = (F - KF) / SF + 1;
  const P = To * Fo, CKK = Cin * KT * KF, LDW = ldw > 0 ? ldw : CKK;
  for (let b = 0; b < B; b++) {
    const x = inp + ((<usize>b * Cin * T * F) << 2);
    const y = out + ((<usize>b * Cout * P) << 2);
    im2col(col, x, Cin, T, F, KT, KF, ST, SF, padT_left, To, Fo);
    gemm(0, 0, Cout, P, CKK, 1, weight, LDW, col, P, 0, y, P);
    if (bias) {
      for (let co = 0; co < Cout; co++) {
        const row = y + ((<usize>co * P) << 2);
        const bv = load<f32>(bias + (<usize>co << 2));
        const bs = f32x4.splat(bv);
        let i = 0;
        for (; i + 4 <= P; i += 4) v128.store(row + (<usize>i << 2), f32x4.add(v128.load(row + (<usize>i << 2)), bs));
        for (; i < P; i++) store<f32>(row + (<usize>i << 2), load<f32>(row + (<usize>i << 2)) + bv);
      }
    }
  }
}

/**
 * Gradients of conv2d_forward, accumulated (+=). Any of dinp, dweight, dbias may be 0 (not needed:
 * the first conv of the front end needs no dinp). Shapes as conv2d_forward; dweight has weight's layout
 * (rows of ldw floats, the padding columns untouched); col is overwritten.
 */
export function conv2d_backward(
  dinp: usize, dweight: usize, dbias: usize, dout: usize, inp: usize, weight: usize, col: usize,
  B: i32, Cin: i32, T: i32, F: i32, Cout: i32, KT: i32, KF: i32, ST: i32, SF: i32, padT_left: i32, padT_right: i32,
  ldw: i32,
): void {
  const To = (T + padT_left + padT_right - KT) / ST + 1, Fo = (F - KF) / SF + 1;
  const P = To * Fo, CKK = Cin * KT * KF, LDW = ldw > 0 ? ldw : CKK;
  for (let b = 0; b < B; b++) {
    const x = inp + ((<usize>b * Cin * T * F) << 2);
    const g = dout + ((<usize>b * Cout * P) << 2);
    if (dbias) {
      // Forward: out[co, p] = bias[co] + ..., so dbias[co] += sum_p dout[co, p].
      for (let co = 0; co < Cout; co++) {
        const row = g + ((<usize>co * P) << 2);
        let a = f32x4.splat(0);
        let i = 0;
        for (; i + 4 <= P; i += 4) a = f32x4.add(a, v128.load(row + (<usize>i << 2)));
        let s: f32 = f32x4.extract_lane(a, 0) + f32x4.extract_lane(a, 1) + f32x4.extract_lane(a, 2) + f32x4.extract_lane(a, 3);
        for (; i < P; i++) s += load<f32>(row + (<usize>i << 2));
        const db = dbias + (<usize>co << 2);
        store<f32>(db, load<f32>(db) + s);
      }
    }
    if (dweight) {
      // Forward: out = weight[Cout, CKK] * COL[CKK, P], so dweight += dout[Cout, P] * COL^T.
      im2col(col, x, Cin, T, F, KT, KF, ST, SF, padT_left, To, Fo);
      gemm(0, 1, Cout, CKK, P, 1, g, P, col, P, 1, dweight, LDW);
    }
    if (dinp) {
      // Forward: out = weight * COL, so dCOL = weight^T[CKK, Cout] * dout[Cout, P], then COL's gather is inverted.
      gemm(1, 0, CKK, P, Cout, 1, weight, LDW, g, P, 0, col, P);
      col2im_add(dinp + ((<usize>b * Cin * T * F) << 2), col, Cin, T, F, KT, KF, ST, SF, padT_left, To, Fo);
    }
  }
}

/** Direct (no im2col, no gemm) scalar twin of conv2d_forward; no scratch. */
export function conv2d_forward_naive(
  out: usize, inp: usize, weight: usize, bias: usize,
  B: i32, Cin: i32, T: i32, F: i32, Cout: i32, KT: i32, KF: i32, ST: i32, SF: i32, padT_left: i32, padT_right: i32,
  ldw: i32,
): void {
  const To = (T + padT_left + padT_right - KT) / ST + 1, Fo = (F - KF) / SF + 1;
  const LDW = ldw > 0 ? ldw : Cin * KT * KF;
  for (let b = 0; b < B; b++) {
    for (let co = 0; co < Cout; co++) {
      for (let to = 0; to < To; to++) {
        for (let fo = 0; fo < Fo; fo++) {
          let a: f32 = bias ? load<f32>(bias + (<usize>co << 2)) : 0;
          for (let ci = 0; ci < Cin; ci++) {
            for (let kt = 0; kt < KT; kt++) {
              const t = to * ST + kt - padT_left;
              if (t < 0 || t >= T) continue;
              for (let kf = 0; kf < KF; kf++) {
                const xv = load<f32>(inp + ((<usize>((b * Cin + ci) * T + t) * F + fo * SF + kf) << 2));
                a += load<f32>(weight + ((<usize>co * LDW + (ci * KT + kt) * KF + kf) << 2)) * xv;
              }
            }
          }
          store<f32>(out + ((<usize>((b * Cout + co) * To + to) * Fo + fo) << 2), a);
        }
      }
    }
  }
}

/** Direct scalar twin of conv2d_backward (same contract, no scratch). */
export function conv2d_backward_naive(
  dinp: usize, dweight: usize, dbias: usize, dout: usize, inp: usize, weight: usize,
  B: i32, Cin: i32, T: i32, F: i32, Cout: i32, KT: i32, KF: i32, ST: i32, SF: i32, padT_left: i32, padT_right: i32,
  ldw: i32,
): void {
  const To = (T + padT_left + padT_right - KT) / ST + 1, Fo = (F - KF) / SF + 1;
  const LDW = ldw > 0 ? ldw : Cin * KT * KF;
  for (let b = 0; b < B; b++) {
    for (let co = 0; co < Cout; co++) {
      for (let to = 0; to < To; to++) {
        for (let fo = 0; fo < Fo; fo++) {
          const g = load<f32>(dout + ((<usize>((b * Cout + co) * To + to) * Fo + fo) << 2));
          if (dbias) store<f32>(dbias + (<usize>co << 2), load<f32>(dbias + (<usize>co << 2)) + g);
          for (let ci = 0; ci < Cin; ci++) {
            for (let kt = 0; kt < KT; kt++) {
              const t = to * ST + kt - padT_left;
              if (t < 0 || t >= T) continue;
              for (let kf = 0; kf < KF; kf++) {
                const xi = (<usize>((b * Cin + ci) * T + t) * F + fo * SF + kf) << 2;
                const wi = (<usize>co * LDW + (ci * KT + kt) * KF + kf) << 2;
                if (dinp) store<f32>(dinp + xi, load<f32>(dinp + xi) + load<f32>(weight + wi) * g);
                if (dweight) store<f32>(dweight + wi, load<f32>(dweight + wi) + load<f32>(inp + xi) * g);
              }
            }
          }
        }
      }
    }
  }
}
