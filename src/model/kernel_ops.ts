// The inference implementation of the encoder's ops (encoder.ts `EncoderOps`): the forward kernels
// called directly (no tape, no dropout) on the inference build, one utterance chunk by chunk.
//
// What it is: `KernelOps`, `EncoderState` and `encodeChunk`: each call takes new fbank frames and
// returns the encoder frames they complete, carrying in JS arrays (so streams never leak arena memory
// and any number share one instance) per subsampling convolution the input rows its next window needs
// (a causal model starts with 2 zero rows: the left padding), per layer the SSM state (ssm_step) and the
// last K-1 GLU rows of the causal depthwise convolution. Every layer runs over all of a chunk's frames
// at once. A non-causal model is encoded in one call over the whole utterance (src/infer/ refuses to
// stream it). int8 weights (`ForwardWeights.i8`) run through gemm_i8_forward; on f32 weights the fused
// linears compute as the tape's fused ops (assembly/tape/tape_fused.ts): the output equals
// Model.encodeOutput bit for bit (test/infer.test.ts).
// What it is not: the block or the frontend (encoder.ts), the model file's loading (src/infer/model.ts).

import type { EngineExports } from "../engine/engine.js";
import type { ArenaExports, WasmHost } from "../wasm/host.js";
import { headDimOf, strideTwoRows, subsamplePad, type ModelConfig, type SubnetSpec } from "./config.js";
import { blocksForward, frontendForward, type EncoderOps } from "./encoder.js";

const LN_EPS = 1e-5; // the tape's layernorm default, as in training

/** The kernels the forward calls: the inference build exports them all. */
export type ForwardHost = WasmHost<ArenaExports & Pick<EngineExports,
  "conv2d_forward" | "conv2d_scratch_size" | "relu_forward" | "permute_bctf_to_btcf_forward" | "linear_forward" | "gemm_i8_forward" |
  "gemm" | "silu_forward" | "silu_mask_forward" | "scale_forward" | "add_forward" | "residual_bias_forward" | "layernorm_forward" |
  "ssm_scan_forward_scratch" | "ssm_step" | "ssm_scan_forward" | "ssm_gate_forward" | "slice_cols_forward" | "sigmoid_forward" |
  "mul_forward" | "dwconv1d_forward">>;

/** A subnet's weights in the arena, as the loader (src/infer/model.ts) packs them. */
export interface ForwardWeights {
  cfg: ModelConfig;
  sub: SubnetSpec;
  /** Arena pointer of an f32 tensor. */
  ptr: (name: string) => number;
  /** Per encoder layer and direction: dA re/im, W re/im, each [N2, C] (C = the subnet's channels). */
  ssm: { fwd: number[]; bwd: number[] }[];
  /** The linear weights kept int8: byte pointer of W [rows, cols] and of its f32 row scales. */
  i8: Map<string, { w: number; scale: number }>;
}

/** What a stream carries between chunks (all host-side copies). */
export class EncoderState {
  /** Per subsampling convolution: its input rows not yet consumed, [channels, kept, bins]. */
  carry: Float32Array[];
  kept: number[];
  /** Per layer: SSM state [2, N2, C] (re block, im block). */
  ssm: Float32Array[];
  /** Per layer: the last K-1 rows of the GLU output [K-1, d] (zeros at the start: the causal padding). */
  conv: Float32Array[];
  /** Encoder frames produced so far. */
  frames = 0;

  constructor(m: ForwardWeights) {
    const { cfg, sub } = m;
    const pad = subsamplePad(cfg.causal);
    this.kept = [pad, pad];
    this.carry = [new Float32Array(pad * cfg.featDim), new Float32Array(cfg.subsampleChannels * pad * strideTwoRows(cfg.featDim))];
    const C = sub.heads * headDimOf(cfg);
    this.ssm = Array.from({ length: sub.layers }, () => new Float32Array(cfg.stateSize * C));
    this.conv = Array.from({ length: sub.layers }, () => new Float32Array(Math.max(0, cfg.convKernel - 1) * cfg.dModel));
  }
}

/** The encoder's ops over arena pointers; `rows`: the current activations' frames. */
export class KernelOps implements EncoderOps<number> {
  rows = 0;

  constructor(readonly host: ForwardHost, readonly m: ForwardWeights, readonly st: EncoderState) {}

  /** (x - mean) · istd per bin, on the host as in training. */
  normalize(feats: Float32Array): number {
    const { host, m } = this, F = m.cfg.featDim, n = feats.length / F;
    const mean = host.read(m.ptr("frontend.feat_mean"), F), istd = host.read(m.ptr("frontend.feat_istd"), F);
    const x = new Float32Array(n * F);
    for (let r = 0; r < n; r++) for (let k = 0; k < F; k++) x[r * F + k] = (feats[r * F + k] - mean[k]) * istd[k];
    this.rows = n;
    return host.upload(x);
  }

  /** Over the carried rows then the new ones, per channel; keeps the rows the next window needs. */
  subsampleConv(x: number, stage: 0 | 1, name: string, cin: number, fin: number): number | null {
    const { host, m, st } = this, w = host.wasm, cs = m.cfg.subsampleChannels;
    const kept = st.kept[stage], n = this.rows, r = kept + n;
    const input = host.alloc(cin * r * fin, "subsampling input");
    const n2 = strideTwoRows(r), left = r - 2 * n2;
    {
      const f32 = host.f32, o = input >> 2, s = x >> 2, carry = st.carry[stage];
      const next = new Float32Array(cin * left * fin);
      for (let c = 0; c < cin; c++) {
        f32.set(carry.subarray(c * kept * fin, (c + 1) * kept * fin), o + c * r * fin);
        f32.copyWithin(o + c * r * fin + kept * fin, s + c * n * fin, s + (c + 1) * n * fin);
        next.set(f32.subarray(o + c * r * fin + 2 * n2 * fin, o + (c + 1) * r * fin), c * left * fin);
      }
      st.carry[stage] = next;
      st.kept[stage] = left;
    }
    this.rows = n2;
    if (n2 === 0) return null;
    const fout = strideTwoRows(fin), out = host.alloc(cs * n2 * fout, "subsampling output");
    const col = host.alloc(w.conv2d_scratch_size(cin, r, fin, 3, 3, 2, 2, 0, 0), "subsampling scratch");
    w.conv2d_forward(out, input, m.ptr(`${name}.weight`), m.ptr(`${name}.bias`), col, 1, cin, r, fin, cs, 3, 3, 2, 2, 0, 0, 0);
    w.relu_forward(out, out, cs * n2 * fout);
    return out;
  }

  flattenChannels(x: number, c: number, f: number): number {
    const out = this.host.alloc(c * this.rows * f, "subsampling output");
    this.host.wasm.permute_bctf_to_btcf_forward(out, x, 1, c, this.rows, f);
    return out;
  }

  layerNorm(x: number, name: string, d: number): number {
    const { host, m, rows } = this;
    const out = host.alloc(rows * d), mean = host.alloc(rows), rstd = host.alloc(rows);
    host.wasm.layernorm_forward(out, mean, rstd, x, m.ptr(`${name}.weight`), m.ptr(`${name}.bias`), rows, d, LN_EPS);
    return out;
  }

  /** linear_forward on f32 weights, gemm_i8_forward on int8 ones (scratch from the arena). */
  linear(x: number, name: string, K: number, N: number, ldw: number): number {
    const { host, m, rows: M } = this;
    const out = host.alloc(M * N, "encoder activations");
    const q = m.i8.get(`${name}.weight`), bias = m.ptr(`${name}.bias`);
    if (!q) {
      host.wasm.linear_forward(out, x, m.ptr(`${name}.weight`), bias, M, K, N, ldw);
      return out;
    }
    const xq = host.alloc(Math.ceil((M * K) / 4), "int8 activations"), xscale = host.alloc(M, "int8 activation scales");
    host.wasm.gemm_i8_forward(out, xq, xscale, x, q.w, q.scale, bias, M, N, K, K, ldw, N);
    return out;
  }

  /** As the tape's fused t_linear_silu on f32 weights (GEMM, then bias, σ and product in one pass). */
  linearSilu(x: number, name: string, K: number, N: number, ldw: number): number {
    const { host, m, rows: M } = this, w = host.wasm;
    if (m.i8.has(`${name}.weight`)) {
      const out = this.linear(x, name, K, N, ldw);
      w.silu_forward(out, out, M * N);
      return out;
    }
    const out = host.alloc(M * N), lin = host.alloc(M * N), sig = host.alloc(M * N);
    w.gemm(0, 1, M, N, K, 1, x, K, m.ptr(`${name}.weight`), ldw, 0, lin, N);
    w.silu_mask_forward(out, sig, lin, m.ptr(`${name}.bias`), 0, M, N);
    return out;
  }

  /** As the tape's fused t_linear_residual on f32 weights (res + alpha · b, then the GEMM accumulates). */
  linearResidual(res: number, x: number, name: string, K: number, N: number, ldw: number, alpha: number): number {
    const { host, m, rows: M } = this, w = host.wasm;
    if (m.i8.has(`${name}.weight`)) {
      const o = this.linear(x, name, K, N, ldw);
      if (alpha !== 1) w.scale_forward(o, o, alpha, M * N);
      w.add_forward(o, res, o, M * N);
      return o;
    }
    const out = host.alloc(M * N);
    w.residual_bias_forward(out, res, m.ptr(`${name}.bias`), alpha, M, N);
    w.gemm(0, 1, M, N, K, alpha, x, K, m.ptr(`${name}.weight`), ldw, 1, out, N);
    return out;
  }

  /** Causal: ssm_step from the carried state; else the scan forward then backward in time. Then the gate. */
  mhssm(u: number, l: number, C: number, P: number): number {
    const { host, m, st, rows } = this, w = host.wasm, cfg = m.cfg, N2 = cfg.stateSize / 2;
    const p = `encoder.blocks.${l}.ssm.`;
    const y = host.alloc(rows * C), scratch = host.alloc(w.ssm_scan_forward_scratch(rows));
    const f = m.ssm[l].fwd;
    if (cfg.causal) {
      const state = host.upload(st.ssm[l]);
      w.ssm_step(y, state, u, f[0], f[1], f[2], f[3], m.ptr(`${p}fwd.d`), scratch, 1, rows, C, N2, C, C);
      st.ssm[l] = host.read(state, st.ssm[l].length);
    } else {
      const b = m.ssm[l].bwd;
      w.ssm_scan_forward(y, u, f[0], f[1], f[2], f[3], m.ptr(`${p}fwd.d`), 0, scratch, 1, rows, C, N2, C, C, 0, 0);
      w.ssm_scan_forward(y, u, b[0], b[1], b[2], b[3], m.ptr(`${p}bwd.d`), 0, scratch, 1, rows, C, N2, C, C, 1, 1);
    }
    const g = host.alloc(rows * C);
    w.ssm_gate_forward(g, y, rows, C, P, C, C);
    return g;
  }

  /** The depthwise convolution over [carried K-1 GLU rows; the new ones] when causal (centred over the
   * whole utterance otherwise); the first K-1 outputs belong to the previous chunk. */
  gluDepthwiseSilu(a: number, l: number, name: string, d: number, K: number): number {
    const { host, m, st, rows } = this, w = host.wasm, n = rows * d, causal = m.cfg.causal, ctx = causal ? K - 1 : 0;
    const lin = host.alloc(n), gate = host.alloc(n);
    w.slice_cols_forward(lin, a, rows, 2 * d, 0, d);
    w.slice_cols_forward(gate, a, rows, 2 * d, d, 2 * d);
    w.sigmoid_forward(gate, gate, n);
    const g = host.alloc((ctx + rows) * d);
    host.write(g, st.conv[l]);
    w.mul_forward(g + 4 * ctx * d, lin, gate, n);
    if (ctx) st.conv[l] = host.read(g + 4 * rows * d, ctx * d);
    const c = host.alloc((ctx + rows) * d);
    w.dwconv1d_forward(c, g, m.ptr(`${name}.weight`), m.ptr(`${name}.bias`), 1, ctx + rows, d, K, causal ? 1 : 0);
    const cn = c + 4 * ctx * d;
    w.silu_forward(cn, cn, n);
    return cn;
  }

  dropout(x: number): number {
    return x;
  }

  add(x: number, y: number, width: number): number {
    const out = this.host.alloc(this.rows * width);
    this.host.wasm.add_forward(out, x, y, this.rows * width);
    return out;
  }
}

/**
 * Runs new fbank rows (feats [n, featDim], not normalised) through the encoder; returns the arena pointer
 * of the completed encoder frames [frames, d] (allocated in the caller's scope) and their count.
 */
export function encodeChunk(host: ForwardHost, m: ForwardWeights, st: EncoderState, feats: Float32Array): { enc: number; frames: number } {
  const ops = new KernelOps(host, m, st);
  const h = frontendForward(ops, m.cfg, feats);
  if (h === null) return { enc: 0, frames: 0 };
  const enc = blocksForward(ops, m.cfg, m.sub, h);
  st.frames += ops.rows;
  return { enc, frames: ops.rows };
}
