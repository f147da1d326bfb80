// The encoder forward on the inference build, chunk by chunk with carried state.
//
// What it is: the inference twin of src/model/model.ts `encode` + src/model/encoder.ts `blockForward`
// (no tape, no dropout, one utterance), calling the same kernels in the same order, so its output
// equals Model.encodeOutput (test/infer.test.ts). A causal model runs as a stream: every call takes
// the new fbank frames and returns the encoder frames they complete, carrying
//   - the feature rows and first-convolution rows the next 3x3 stride-2 window still needs (the
//     causal left padding of 2 rows is 2 zero rows at the start of each buffer),
//   - each layer's SSM state (ssm_step: h = x/dB per mode and channel),
//   - each layer's last K-1 GLU rows for the causal depthwise convolution, when the model has one.
// All carried state lives in JS arrays, uploaded into the arena per call, so streams never leak arena
// memory and any number of them can share one instance. One call per chunk runs every layer over all
// of the chunk's frames (a few dozen kernel calls per chunk, never one per frame).
// A non-causal model (bidirectional SSM, centred convolution) is encoded in one call over the whole
// utterance (`whole = true`); streaming it is refused by the caller.
// int8 model files: every linear layer whose weight the loader kept int8 (model.ts ENCODER_INT8) runs
// through gemm_i8_forward (activations quantised per row on the fly); the rest is f32 as above.

import type { LoadedModel } from "./model.js";
import type { InferHost } from "./wasm.js";
import { headDimOf, subsampledBins, type ModelConfig } from "../model/config.js";

const LN_EPS = 1e-5; // src/tape.ts layernorm's default, as in training

/** Channels per MH-SSM head (config.ts headDimOf: the config's headDim, 0 or absent = dModel / heads). */
export function headDim(cfg: ModelConfig): number {
  return headDimOf(cfg);
}

/** What a stream carries between chunks (all host-side copies). */
export class EncoderState {
  /** Normalised feature rows not yet consumed by conv1: [rows, F]. */
  feat: Float32Array;
  /** relu(conv1) rows not yet consumed by conv2: [cs, rows1, F1] (channel-major, as conv2d reads it). */
  sub1: Float32Array;
  rows1: number;
  /** Per layer: SSM state [2, N2, C] (re block, im block). */
  ssm: Float32Array[];
  /** Per layer: the last K-1 rows of the GLU output [K-1, d] (zeros at the start: the causal padding). */
  conv: Float32Array[];
  /** Encoder frames produced so far. */
  frames = 0;

  constructor(m: LoadedModel) {
    const { cfg, sub } = m;
    const pad = cfg.causal ? 2 : 0;
    const F1 = Math.floor((cfg.featDim - 3) / 2) + 1;
    this.feat = new Float32Array(pad * cfg.featDim);
    this.rows1 = pad;
    this.sub1 = new Float32Array(cfg.subsampleChannels * pad * F1);
    const C = sub.heads * headDim(cfg);
    this.ssm = Array.from({ length: sub.layers }, () => new Float32Array(cfg.stateSize * C));
    this.conv = Array.from({ length: sub.layers }, () => new Float32Array(Math.max(0, cfg.convKernel - 1) * cfg.dModel));
  }
}

/** Output rows of a 3-row, stride-2 window over `n` rows (no padding: the buffers hold it). */
const windows = (n: number) => (n >= 3 ? Math.floor((n - 3) / 2) + 1 : 0);

/**
 * Runs `n` new fbank rows (feats [n, F], not normalised) through the encoder; returns the arena
 * pointer of the completed encoder frames [frames, d] (allocated in the caller's scope) and their count.
 */
export function encodeChunk(host: InferHost, m: LoadedModel, st: EncoderState, feats: Float32Array, n: number): { enc: number; frames: number } {
  const { cfg, sub } = m;
  const w = host.wasm, F = cfg.featDim, cs = cfg.subsampleChannels, d = cfg.dModel;
  const F1 = Math.floor((F - 3) / 2) + 1, F2 = subsampledBins(F);
  // (x - mean) * istd per bin, on the host as in Model.encode
  const mean = host.read(m.ptr("frontend.feat_mean"), F), istd = host.read(m.ptr("frontend.feat_istd"), F);
  const keep = st.feat.length / F, rows0 = keep + n;
  const x = new Float32Array(rows0 * F);
  x.set(st.feat);
  for (let r = 0; r < n; r++) for (let k = 0; k < F; k++) x[(keep + r) * F + k] = (feats[r * F + k] - mean[k]) * istd[k];
  // conv1 -> relu over the windows these rows complete
  const n1 = windows(rows0);
  st.feat = x.slice(2 * n1 * F);
  if (n1 === 0) return { enc: 0, frames: 0 };
  const xp = host.upload(x);
  const c1 = host.alloc(cs * n1 * F1, "conv1 output");
  const col1 = host.alloc(w.conv2d_scratch_size(1, rows0, F, 3, 3, 2, 2, 0, 0), "conv1 scratch");
  w.conv2d_forward(c1, xp, m.ptr("encoder.subsample.conv1.weight"), m.ptr("encoder.subsample.conv1.bias"), col1, 1, 1, rows0, F, cs, 3, 3, 2, 2, 0, 0, 0);
  w.relu_forward(c1, c1, cs * n1 * F1);
  // conv2 input: per channel, the carried rows then the new ones
  const r1 = st.rows1 + n1;
  const in2 = host.alloc(cs * r1 * F1, "conv2 input");
  {
    const f32 = host.f32, o = in2 >> 2, s = c1 >> 2;
    for (let c = 0; c < cs; c++) {
      f32.set(st.sub1.subarray(c * st.rows1 * F1, (c + 1) * st.rows1 * F1), o + c * r1 * F1);
      f32.copyWithin(o + c * r1 * F1 + st.rows1 * F1, s + c * n1 * F1, s + (c + 1) * n1 * F1);
    }
  }
  const n2 = windows(r1);
  {
    const f32 = host.f32, o = in2 >> 2, left = r1 - 2 * n2;
    const next = new Float32Array(cs * left * F1);
    for (let c = 0; c < cs; c++) next.set(f32.subarray(o + c * r1 * F1 + 2 * n2 * F1, o + (c + 1) * r1 * F1), c * left * F1);
    st.sub1 = next;
    st.rows1 = left;
  }
  if (n2 === 0) return { enc: 0, frames: 0 };
  const c2 = host.alloc(cs * n2 * F2, "conv2 output");
  const col2 = host.alloc(w.conv2d_scratch_size(cs, r1, F1, 3, 3, 2, 2, 0, 0), "conv2 scratch");
  w.conv2d_forward(c2, in2, m.ptr("encoder.subsample.conv2.weight"), m.ptr("encoder.subsample.conv2.bias"), col2, 1, cs, r1, F1, cs, 3, 3, 2, 2, 0, 0, 0);
  w.relu_forward(c2, c2, cs * n2 * F2);
  const perm = host.alloc(cs * n2 * F2, "subsampling output");
  w.permute_bctf_to_btcf_forward(perm, c2, 1, cs, n2, F2);
  let h = host.alloc(n2 * d, "encoder activations");
  linear(host, m, h, perm, "encoder.subsample.out", n2, cs * F2, d, cs * F2);
  for (let l = 0; l < sub.layers; l++) h = block(host, m, st, l, h, n2);
  st.frames += n2;
  return { enc: h, frames: n2 };
}

/**
 * out[M, N] = x[M, K] · W[:N, :K]^T + b[:N] for the layer `name` (`<name>.weight` stored [rows, ldw],
 * `<name>.bias`): linear_forward on f32 weights, gemm_i8_forward on int8 ones (scratch from the arena).
 */
function linear(host: InferHost, m: LoadedModel, out: number, x: number, name: string, M: number, K: number, N: number, ldw: number): void {
  const q = m.i8.get(`${name}.weight`), bias = m.ptr(`${name}.bias`);
  if (!q) return host.wasm.linear_forward(out, x, m.ptr(`${name}.weight`), bias, M, K, N, ldw);
  const xq = host.alloc(Math.ceil((M * K) / 4), "int8 activations"), xscale = host.alloc(M, "int8 activation scales");
  host.wasm.gemm_i8_forward(out, xq, xscale, x, q.w, q.scale, bias, M, N, K, K, ldw, N);
}

/**
 * SiLU(x · W^T + b) of the layer `name` into out[M, N]: on f32 weights as the training tape's fused
 * t_linear_silu computes it (GEMM without the bias, then the bias, σ and the product in one pass), so that
 * both give the same bits; on int8 weights gemm_i8_forward, then SiLU.
 */
function linearSilu(host: InferHost, m: LoadedModel, out: number, x: number, name: string, M: number, K: number, N: number, ldw: number): void {
  const w = host.wasm;
  if (m.i8.has(`${name}.weight`)) {
    linear(host, m, out, x, name, M, K, N, ldw);
    return w.silu_forward(out, out, M * N);
  }
  const lin = host.alloc(M * N), sig = host.alloc(M * N);
  w.gemm(0, 1, M, N, K, 1, x, K, m.ptr(`${name}.weight`), ldw, 0, lin, N);
  w.silu_mask_forward(out, sig, lin, m.ptr(`${name}.bias`), 0, M, N);
}

/**
 * out[M, N] = res + alpha · (x · W^T + b) for the layer `name`: on f32 weights as the training tape's
 * fused t_linear_residual without dropout (res + alpha · b first, then the GEMM accumulates onto it), so
 * that both give the same bits; on int8 weights gemm_i8_forward, scale and add.
 */
function linearResidual(host: InferHost, m: LoadedModel, out: number, res: number, x: number, name: string, M: number, K: number, N: number, ldw: number, alpha: number): void {
  const w = host.wasm;
  if (m.i8.has(`${name}.weight`)) {
    const o = host.alloc(M * N);
    linear(host, m, o, x, name, M, K, N, ldw);
    if (alpha !== 1) w.scale_forward(o, o, alpha, M * N);
    return w.add_forward(out, res, o, M * N);
  }
  w.residual_bias_forward(out, res, m.ptr(`${name}.bias`), alpha, M, N);
  w.gemm(0, 1, M, N, K, alpha, x, K, m.ptr(`${name}.weight`), ldw, 1, out, N);
}

/** LayerNorm of x [rows, d] with the named weight and bias, into a new buffer. */
function layernorm(host: InferHost, m: LoadedModel, prefix: string, x: number, rows: number, d: number): number {
  const out = host.alloc(rows * d), mean = host.alloc(rows), rstd = host.alloc(rows);
  host.wasm.layernorm_forward(out, mean, rstd, x, m.ptr(`${prefix}.weight`), m.ptr(`${prefix}.bias`), rows, d, LN_EPS);
  return out;
}

/** x += 1/2 · FF(LN(x)), FF(z) = W2 · SiLU(W1 z + b1) + b2 on the subnet's leading ffDim units. */
function feedForward(host: InferHost, m: LoadedModel, prefix: string, x: number, rows: number): number {
  const { cfg, sub } = m, d = cfg.dModel, ff = sub.ffDim, n = rows * d;
  const z = layernorm(host, m, `${prefix}.norm`, x, rows, d);
  const h = host.alloc(rows * ff);
  linearSilu(host, m, h, z, `${prefix}.w1`, rows, d, ff, d);
  const y = host.alloc(n);
  linearResidual(host, m, y, x, h, `${prefix}.w2`, rows, ff, d, cfg.ffDim, 0.5);
  return y;
}

/** One Stateformer block (src/model/encoder.ts blockForward) over `rows` new frames. */
function block(host: InferHost, m: LoadedModel, st: EncoderState, l: number, x: number, rows: number): number {
  const { cfg, sub } = m, w = host.wasm, d = cfg.dModel, n = rows * d;
  const p = `encoder.blocks.${l}.`;
  const P = headDim(cfg), C = sub.heads * P, N2 = cfg.stateSize / 2;
  x = feedForward(host, m, `${p}ff1`, x, rows);
  {
    // x = x + Out(MHSSM(In(LN(x))))
    const z = layernorm(host, m, `${p}ssm.norm`, x, rows, d);
    const u = host.alloc(rows * C);
    linear(host, m, u, z, `${p}ssm.in`, rows, d, C, d);
    const y = host.alloc(rows * C), scratch = host.alloc(w.ssm_scan_forward_scratch(rows));
    const f = m.ssm[l].fwd;
    if (cfg.causal) {
      const state = host.upload(st.ssm[l]);
      w.ssm_step(y, state, u, f[0], f[1], f[2], f[3], m.ptr(`${p}ssm.fwd.d`), scratch, 1, rows, C, N2, C, C);
      st.ssm[l] = host.read(state, st.ssm[l].length);
    } else {
      const b = m.ssm[l].bwd;
      w.ssm_scan_forward(y, u, f[0], f[1], f[2], f[3], m.ptr(`${p}ssm.fwd.d`), 0, scratch, 1, rows, C, N2, C, C, 0, 0);
      w.ssm_scan_forward(y, u, b[0], b[1], b[2], b[3], m.ptr(`${p}ssm.bwd.d`), 0, scratch, 1, rows, C, N2, C, C, 1, 1);
    }
    const g = host.alloc(rows * C);
    w.ssm_gate_forward(g, y, rows, C, P, C, C);
    const x2 = host.alloc(n);
    linearResidual(host, m, x2, x, g, `${p}ssm.out`, rows, C, d, cfg.heads * P, 1);
    x = x2;
  }
  if (cfg.convKernel) {
    // x = x + Conv(LN(x)): pointwise d -> 2d, GLU, depthwise K over time (carried K-1 rows when causal), SiLU, pointwise
    const K = cfg.convKernel, ctx = cfg.causal ? K - 1 : 0;
    const z = layernorm(host, m, `${p}conv.norm`, x, rows, d);
    const a = host.alloc(rows * 2 * d);
    linear(host, m, a, z, `${p}conv.pw1`, rows, d, 2 * d, d);
    const lin = host.alloc(n), gate = host.alloc(n);
    w.slice_cols_forward(lin, a, rows, 2 * d, 0, d);
    w.slice_cols_forward(gate, a, rows, 2 * d, d, 2 * d);
    w.sigmoid_forward(gate, gate, n);
    const g = host.alloc((ctx + rows) * d); // [carried K-1 rows; GLU of the new rows]
    host.write(g, st.conv[l]);
    w.mul_forward(g + 4 * ctx * d, lin, gate, n);
    if (ctx) st.conv[l] = host.read(g + 4 * rows * d, ctx * d);
    const c = host.alloc((ctx + rows) * d);
    w.dwconv1d_forward(c, g, m.ptr(`${p}conv.dw.weight`), m.ptr(`${p}conv.dw.bias`), 1, ctx + rows, d, K, cfg.causal ? 1 : 0);
    const cn = c + 4 * ctx * d; // the first K-1 outputs belong to the previous chunk
    w.silu_forward(cn, cn, n);
    const o = host.alloc(n);
    linear(host, m, o, cn, `${p}conv.pw2`, rows, d, d, d);
    const x2 = host.alloc(n);
    w.add_forward(x2, x, o, n);
    x = x2;
  }
  x = feedForward(host, m, `${p}ff2`, x, rows);
  return layernorm(host, m, `${p}norm`, x, rows, d);
}
