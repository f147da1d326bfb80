// The MH-SSM layer on the host: its parameter table, its initialisation, and its forward, backward
// and streaming step over the kernels of assembly/ssm/ssm_discretize.ts, ssm.ts, ssm_backward.ts and
// ssm_gate.ts.
//
// What it is: the layer u [B, T, C] -> gated SSM output [B, T, C], C = H·P (see assembly/ssm/ssm.ts for
// the equations). What it is not: the output projection (the block applies its own Linear to the
// gated output), the autograd tape, or the training loop.
// Two levels: mhssmForwardRaw / mhssmBackwardRaw / mhssmStepRaw work on arena pointers (what a
// training step or the tape calls: the forward saves y [B, T, C], the backward recomputes the rest);
// mhssmForward / mhssmBackward / mhssmStream of test/kernels.ts copy typed arrays in and out (tests).
//
//   const cfg = { heads: 4, headDim: 64, stateSize: 16, bidirectional: true };
//   const params = mhssmInit(cfg, 1);
//   mhssmForwardRaw(engine, cfg, ptrs, out, y, u, { B, T });          // arena pointers
//
// Parameter names (mhssmShapes), per direction `fwd` and (bidirectional) `bwd`:
//   <dir>.s [C]        raw step size: dt = exp(lo + (hi - lo)·sigmoid(s)), trained
//   <dir>.c_re, <dir>.c_im [C, N/2]   output weights C, trained
//   <dir>.d [C]        skip, trained
// and the constants, shared by both directions and never trained:
//   a_re, a_im [N/2]   S4D-Lin A_n = -0.5 + i·π·n (kept fixed: ScaledAdam's RMS-relative updates and
//                      its RMS cap of 3 would crush log-parametrised A; shared NOTES.md)
//   log_dt_min, log_dt_max [C]   each channel's head range, geometric across heads: head 0 gets the
//                      largest steps (fast decay, local), the last head the smallest (global)
// Every per-channel tensor is indexed by channel first, so the subnet with k heads (k even) uses the
// leading k·P rows of each: pass `heads: k` in the options, the parameters of the full layer, and
// activations whose rows have stride `ld` (the full width) without copying.

import type { Engine } from "./engine.js";
import { seededRandom } from "../util/random.js";

export interface MhssmConfig {
  heads: number; // H, even (heads are gated in pairs)
  headDim: number; // P channels per head
  stateSize: number; // N, even (N/2 complex conjugate pairs)
  bidirectional: boolean;
  dtMin?: number; // smallest step of the last head (default 1e-3, S4D's)
  dtMax?: number; // largest step of head 0 (default 1e-1, S4D's)
}

export const MHSSM_DT_MIN = 1e-3;
export const MHSSM_DT_MAX = 1e-1;

export interface ParamShape {
  name: string;
  shape: number[];
  trainable: boolean;
}

export type MhssmParams = Record<string, Float32Array>;

function check(cfg: MhssmConfig): void {
  if (cfg.heads < 2 || cfg.heads % 2) throw new Error(`MH-SSM: heads must be even and >= 2, got ${cfg.heads}`);
  if (cfg.stateSize < 2 || cfg.stateSize % 2) throw new Error(`MH-SSM: stateSize must be even, got ${cfg.stateSize}`);
  if (cfg.headDim < 1) throw new Error(`MH-SSM: headDim must be >= 1, got ${cfg.headDim}`);
}

export function mhssmDirections(cfg: MhssmConfig): string[] {
  return cfg.bidirectional ? ["fwd", "bwd"] : ["fwd"];
}

/** The layer's tensors in their fixed order: trained parameters first, then the constants. */
export function mhssmShapes(cfg: MhssmConfig): ParamShape[] {
  check(cfg);
  const C = cfg.heads * cfg.headDim, N2 = cfg.stateSize / 2;
  const out: ParamShape[] = [];
  for (const dir of mhssmDirections(cfg)) {
    out.push({ name: `${dir}.s`, shape: [C], trainable: true });
    out.push({ name: `${dir}.c_re`, shape: [C, N2], trainable: true });
    out.push({ name: `${dir}.c_im`, shape: [C, N2], trainable: true });
    out.push({ name: `${dir}.d`, shape: [C], trainable: true });
  }
  out.push({ name: "a_re", shape: [N2], trainable: false });
  out.push({ name: "a_im", shape: [N2], trainable: false });
  out.push({ name: "log_dt_min", shape: [C], trainable: false });
  out.push({ name: "log_dt_max", shape: [C], trainable: false });
  return out;
}

/** Trained parameters of the subnet that keeps the first `heads` heads (for adaptive dropout, model sizes). */
export function mhssmParamCount(cfg: MhssmConfig, heads = cfg.heads): number {
  const C = heads * cfg.headDim;
  return mhssmDirections(cfg).length * (2 * C + C * cfg.stateSize); // s, d, and c_re + c_im (C·N/2 each)
}

/** Head h's step range: [dtMin, dtMax] split into H equal pieces in log space, head 0 the largest steps. */
export function mhssmHeadRange(cfg: MhssmConfig, h: number): [number, number] {
  const lo = Math.log(cfg.dtMin ?? MHSSM_DT_MIN), hi = Math.log(cfg.dtMax ?? MHSSM_DT_MAX);
  const step = (hi - lo) / cfg.heads;
  return [hi - (h + 1) * step, hi - h * step];
}

/** Seeded normals (src/util/random.ts), so that init does not depend on Math.random. */
const normals = (seed: number) => seededRandom(seed).normal;

/**
 * Initial parameters and constants (S4D-style): s spreads sigmoid(s) evenly over [0.05, 0.95] within
 * each head, so the head's channels span its dt range; C complex normal (each part N(0, 1/2)); D N(0, 1).
 */
export function mhssmInit(cfg: MhssmConfig, seed = 0): MhssmParams {
  check(cfg);
  const H = cfg.heads, P = cfg.headDim, C = H * P, N2 = cfg.stateSize / 2;
  const randn = normals(seed);
  const p: MhssmParams = {};
  for (const dir of mhssmDirections(cfg)) {
    const s = new Float32Array(C);
    for (let c = 0; c < C; c++) {
      const q = 0.05 + (0.9 * ((c % P) + 0.5)) / P;
      s[c] = Math.log(q / (1 - q));
    }
    p[`${dir}.s`] = s;
    p[`${dir}.c_re`] = Float32Array.from({ length: C * N2 }, () => randn() * Math.SQRT1_2);
    p[`${dir}.c_im`] = Float32Array.from({ length: C * N2 }, () => randn() * Math.SQRT1_2);
    p[`${dir}.d`] = Float32Array.from({ length: C }, () => randn());
  }
  p.a_re = new Float32Array(N2).fill(-0.5);
  p.a_im = Float32Array.from({ length: N2 }, (_, n) => Math.PI * n);
  p.log_dt_min = new Float32Array(C);
  p.log_dt_max = new Float32Array(C);
  for (let c = 0; c < C; c++) {
    const [lo, hi] = mhssmHeadRange(cfg, Math.floor(c / P));
    p.log_dt_min[c] = lo;
    p.log_dt_max[c] = hi;
  }
  return p;
}

export interface MhssmRunOptions {
  /** Active heads k (even, <= cfg.heads): the leading k·P channels. Default: all. */
  heads?: number;
  /** Row stride of u and du (>= k·P). Default: k·P. */
  ld?: number;
  /** Valid frames per sequence (i32 [B]); default all T. */
  lens?: ArrayLike<number>;
}

export interface MhssmForwardResult {
  y: Float32Array; // SSM output before gating [B, T, k·P] (summed over directions)
  out: Float32Array; // gated output [B, T, k·P]
}

export interface MhssmBackwardResult {
  du: Float32Array; // [B, T, ld]: only the leading k·P channels of each row are touched (else 0)
  grads: MhssmParams; // trained parameters' gradients, sliced to the active channels
}

/** Floats of carried state for streaming B sequences through k heads: [B, 2, N/2, k·P]. */
export function mhssmStateSize(cfg: MhssmConfig, B: number, heads = cfg.heads): number {
  return B * cfg.stateSize * heads * cfg.headDim;
}

/** Arena pointers of the layer's tensors, by the names of mhssmShapes (always the full layer's tensors). */
export type MhssmPtrs = Record<string, number>;

/** Sizes and strides of one call on arena tensors. */
export interface MhssmDims {
  B: number;
  T: number;
  /** Active heads k (even, <= cfg.heads): the leading k·P channels. Default: all. */
  heads?: number;
  /** Row stride of u and du (>= k·P). Default: k·P. */
  ldIn?: number;
  /** Row stride of y, out and dout (>= k·P). Default: k·P. */
  ldOut?: number;
  /** Arena pointer to the valid frames per sequence (i32 [B]), or 0 for all T. */
  lens?: number;
}

export interface Resolved { C: number; N2: number; P: number; B: number; T: number; ldIn: number; ldOut: number; lens: number }

/** Checks a call's dims against the layer and resolves its defaults (the copying test wrappers use it too). */
export function resolveMhssmDims(cfg: MhssmConfig, dims: MhssmDims): Resolved {
  check(cfg);
  const k = dims.heads ?? cfg.heads;
  if (k < 2 || k % 2 || k > cfg.heads) throw new Error(`MH-SSM: active heads must be even, in [2, ${cfg.heads}], got ${k}`);
  const P = cfg.headDim, C = k * P;
  const ldIn = dims.ldIn ?? C, ldOut = dims.ldOut ?? C;
  if (ldIn < C || ldOut < C) throw new Error(`MH-SSM: row strides ${ldIn}, ${ldOut} must be >= the active width ${C}`);
  return { C, N2: cfg.stateSize / 2, P, B: dims.B, T: dims.T, ldIn, ldOut, lens: dims.lens ?? 0 };
}

/** Discretises one direction (leading C channels) into fresh arena tensors dA, W [N2, C]. */
function discretize(e: Engine, r: Resolved, p: MhssmPtrs, dir: string): [number, number, number, number] {
  const n = r.N2 * r.C;
  const da: [number, number, number, number] = [e.alloc(n), e.alloc(n), e.alloc(n), e.alloc(n)];
  e.wasm.ssm_discretize_forward(da[0], da[1], da[2], da[3], p[`${dir}.s`], p[`${dir}.c_re`], p[`${dir}.c_im`],
    p.a_re, p.a_im, p.log_dt_min, p.log_dt_max, r.C, r.N2);
  return da;
}

/**
 * The layer's forward on arena tensors: y [B, T, k·P] = Σ_dir SSM_dir(u) (saved for the backward) and
 * out = gate(y), both with row stride ldOut; u with row stride ldIn. Temporaries are freed on return.
 */
export function mhssmForwardRaw(e: Engine, cfg: MhssmConfig, params: MhssmPtrs, out: number, y: number, u: number, dims: MhssmDims): void {
  const r = resolveMhssmDims(cfg, dims);
  e.scoped(() => {
    const scratch = e.alloc(e.wasm.ssm_scan_forward_scratch(r.T));
    mhssmDirections(cfg).forEach((dir, i) => {
      const [ar, ai, wr, wi] = discretize(e, r, params, dir);
      e.wasm.ssm_scan_forward(y, u, ar, ai, wr, wi, params[`${dir}.d`], r.lens, scratch, r.B, r.T, r.C, r.N2, r.ldOut, r.ldIn, i, i);
    });
    e.wasm.ssm_gate_forward(out, y, r.B * r.T, r.C, r.P, r.ldOut, r.ldOut);
  });
}

/**
 * The layer's backward on arena tensors: from dout (row stride ldOut) and the saved y, ACCUMULATES du
 * (row stride ldIn) and the gradients of the trained parameters (grads: pointers by the same names as
 * params, full-layer tensors; a subnet adds into their leading rows). Temporaries are freed on return.
 */
export function mhssmBackwardRaw(e: Engine, cfg: MhssmConfig, params: MhssmPtrs, grads: MhssmPtrs,
                                 du: number, dout: number, y: number, u: number, dims: MhssmDims): void {
  const r = resolveMhssmDims(cfg, dims);
  const { C, N2 } = r;
  e.scoped(() => {
    const dy = e.alloc(r.B * r.T * C); // "out = gate(y)" inverted into a compact dy
    e.wasm.mem_zero_f32(dy, r.B * r.T * C);
    e.wasm.ssm_gate_backward(dy, dout, y, r.B * r.T, C, r.P, C, r.ldOut, r.ldOut);
    const scratch = e.alloc(e.wasm.ssm_scan_backward_scratch(r.T));
    const g = [0, 1, 2, 3].map(() => e.alloc(N2 * C)); // adjoints of dA (re, im) and W (re, im)
    mhssmDirections(cfg).forEach((dir, i) => {
      const [ar, ai, wr, wi] = discretize(e, r, params, dir); // recomputed: cheaper than saving
      for (const p of g) e.wasm.mem_zero_f32(p, N2 * C);
      e.wasm.ssm_scan_backward(du, grads[`${dir}.d`], g[0], g[1], g[2], g[3], dy, u, ar, ai, wr, wi, params[`${dir}.d`],
        r.lens, scratch, r.B, r.T, C, N2, r.ldIn, C, r.ldIn, i);
      e.wasm.ssm_discretize_backward(grads[`${dir}.s`], grads[`${dir}.c_re`], grads[`${dir}.c_im`], g[0], g[1], g[2], g[3],
        params[`${dir}.s`], params[`${dir}.c_re`], params[`${dir}.c_im`], params.a_re, params.a_im, params.log_dt_min, params.log_dt_max, C, N2);
    });
  });
}

/**
 * Causal streaming on arena tensors: advances state [B, 2, N/2, k·P] by a chunk u [B, T, k·P] (row
 * stride ldIn) and writes out (row stride ldOut), using y [B, T, k·P] (ldOut) as its temporary.
 */
export function mhssmStepRaw(e: Engine, cfg: MhssmConfig, params: MhssmPtrs, out: number, y: number, state: number, u: number, dims: MhssmDims): void {
  if (cfg.bidirectional) throw new Error("MH-SSM: streaming needs a causal layer (bidirectional: false)");
  const r = resolveMhssmDims(cfg, dims);
  if (r.lens) throw new Error("MH-SSM: streaming takes no lengths (every chunk frame is valid)");
  e.scoped(() => {
    const [ar, ai, wr, wi] = discretize(e, r, params, "fwd");
    e.wasm.ssm_step(y, state, u, ar, ai, wr, wi, params["fwd.d"], e.alloc(e.wasm.ssm_scan_forward_scratch(r.T)),
      r.B, r.T, r.C, r.N2, r.ldOut, r.ldIn);
    e.wasm.ssm_gate_forward(out, y, r.B * r.T, r.C, r.P, r.ldOut, r.ldOut);
  });
}
