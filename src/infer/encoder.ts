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

import type { LoadedModel } from "./model.js";
import type { InferHost } from "./wasm.js";
import { headDimOf, subsampledBins, type ModelConfig } from "../model/config.js";

const LN_EPS = 1e-5; // src/tape.ts layernorm's default, as in training

/** Channels per MH-SSM head (config.ts headDimOf: an exported subnet keeps its Supernet's head width). */
export const headDim = headDimOf;

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
  w.linear_forward(h, perm, m.ptr("encoder.subsample.out.weight"), m.ptr("encoder.subsample.out.bias"), n2, cs * F2, d, cs * F2);
  for (let l = 0; l < sub.layers; l++) h = block(host, m, st, l, h, n2);
  st.frames += n2;
  return { enc: h, frames: n2 };
}

/** LayerNorm of x [rows, d] with the named weight and bias, into a new buffer. */
function layernorm(host: InferHost, m: LoadedModel, prefix: string, x: number, rows: number, d: number): number {
  const out = host.alloc(rows * d), mean = host.alloc(rows), rstd = host.alloc(rows);
  host.wasm.layernorm_forward(out, mean, rstd, x, m.ptr(`${prefix}.weight`), m.ptr(`${prefix}.bias`), rows, d, LN_EPS);
  return out;
}

/** x += 1/2 · FF(LN(x)), FF(z) = W2 · SiLU(W1 z + b1) + b2 on the subnet's leading ffDim units. */
function feedForward(host: InferHost, m: LoadedModel, prefix: string, x: number, rows: number): number {
  const { cfg, sub } = m, w = host.wasm, d = cfg.dModel, ff = sub.ffDim, n = rows * d;
  const z = layernorm(host, m, `${prefix}.norm`, x, rows, d);
  const h = host.alloc(rows * ff);
  w.linear_forward(h, z, m.ptr(`${prefix}.w1.weight`), m.ptr(`${prefix}.w1.bias`), rows, d, ff, d);
  w.silu_forward(h, h, rows * ff);
  const o = host.alloc(n);
  w.linear_forward(o, h, m.ptr(`${prefix}.w2.weight`), m.ptr(`${prefix}.w2.bias`), rows, ff, d, cfg.ffDim);
  w.scale_forward(o, o, 0.5, n);
  const y = host.alloc(n);
  w.add_forward(y, x, o, n);
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
    w.linear_forward(u, z, m.ptr(`${p}ssm.in.weight`), m.ptr(`${p}ssm.in.bias`), rows, d, C, d);
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
    const o = host.alloc(n);
    w.linear_forward(o, g, m.ptr(`${p}ssm.out.weight`), m.ptr(`${p}ssm.out.bias`), rows, C, d, cfg.heads * P);
    const x2 = host.alloc(n);
    w.add_forward(x2, x, o, n);
    x = x2;
  }
  if (cfg.convKernel) {
    // x = x + Conv(LN(x)): pointwise d -> 2d, GLU, depthwise K over time (carried K-1 rows when causal), SiLU, pointwise
    const K = cfg.convKernel, ctx = cfg.causal ? K - 1 : 0;
    const z = layernorm(host, m, `${p}conv.norm`, x, rows, d);
    const a = host.alloc(rows * 2 * d);
    w.linear_forward(a, z, m.ptr(`${p}conv.pw1.weight`), m.ptr(`${p}conv.pw1.bias`), rows, d, 2 * d, d);
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
    w.linear_forward(o, cn, m.ptr(`${p}conv.pw2.weight`), m.ptr(`${p}conv.pw2.bias`), rows, d, d, d);
    const x2 = host.alloc(n);
    w.add_forward(x2, x, o, n);
    x = x2;
  }
  x = feedForward(host, m, `${p}ff2`, x, rows);
  return layernorm(host, m, `${p}norm`, x, rows, d);
}
