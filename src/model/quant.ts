// Per-channel symmetric int8 weights for model files (`todm export --int8`), on the host.
//
// A quantised matrix W [rows, cols] is stored as int8 q [rows, cols] plus one f32 scale per output row:
//   scale_r = max_c |W[r, c]| / 127,   q[r, c] = round(W[r, c] / scale_r) in [-127, 127]
// and read back as W'[r, c] = q[r, c] · scale_r, so |W - W'| <= scale_r / 2 element-wise (round to
// nearest; -128 is never used, so the grid is symmetric). A row of zeros has scale 0 and stays zero.
// Which tensors: every 2-D weight matrix of the encoder, predictor and joiner (linear layers, the LSTM's
// w_ih and w_hh, the predictor's embedding); not norms, biases, convolution kernels or any MH-SSM tensor
// (s, c_re, c_im, d and the constants stay F32: they are small and the scan is sensitive to them).
// Not here: the int8 GEMM kernel (assembly/ops/gemm_i8.ts), the inference engine's int8 loader (src/infer/).

import type { ParamSpec } from "./config.js";

/** The metadata value `todm.quant` of an int8 model file. */
export const QUANT_INT8 = "int8";

/** Whether `todm export --int8` stores this parameter as int8 with per-row scales. */
export function isQuantizable(p: Pick<ParamSpec, "shape" | "init">): boolean {
  return p.shape.length === 2 && (p.init === "linear" || p.init === "lstm" || p.init === "embedding");
}

/** Per-row symmetric int8 quantisation of a row-major [rows, cols] matrix. */
export function quantizeRowsInt8(w: ArrayLike<number>, rows: number, cols: number): { q: Int8Array; scale: Float32Array } {
  if (w.length !== rows * cols) throw new Error(`quantize: ${w.length} values are not ${rows} x ${cols}`);
  const q = new Int8Array(rows * cols), scale = new Float32Array(rows);
  for (let r = 0; r < rows; r++) {
    let m = 0;
    for (let c = 0; c < cols; c++) m = Math.max(m, Math.abs(w[r * cols + c]));
    if (!Number.isFinite(m)) throw new Error(`quantize: row ${r} holds a non-finite value`);
    const s = Math.fround(m / 127);
    scale[r] = s;
    if (s === 0) continue;
    for (let c = 0; c < cols; c++) q[r * cols + c] = Math.max(-127, Math.min(127, Math.round(w[r * cols + c] / s)));
  }
  return { q, scale };
}

/** W'[r, c] = q[r, c] · scale[r], as f32. */
export function dequantizeRowsInt8(q: Int8Array, scale: Float32Array, rows: number, cols: number): Float32Array {
  if (q.length !== rows * cols || scale.length !== rows) throw new Error(`dequantize: ${q.length} values and ${scale.length} scales are not ${rows} x ${cols}`);
  const w = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) w[r * cols + c] = q[r * cols + c] * scale[r];
  return w;
}
