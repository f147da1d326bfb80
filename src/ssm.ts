// The MH-SSM layer on the host: its parameter table, its initialisation, and a JS API (forward,
// backward, streaming) over the kernels of assembly/ssm.ts, ssm_backward.ts and ssm_gate.ts.
//
// What it is: the layer u [B, T, C] -> gated SSM output [B, T, C], C = H·P (see assembly/ssm.ts for
// the equations). What it is not: the output projection (the block applies its own Linear to the
// gated output), the autograd tape, or the training loop. The JS API copies everything in and out of
// the arena (engine.scoped), so it serves tests, tools and inference, not the training step's hot path.
//
//   const cfg = { heads: 4, headDim: 64, stateSize: 16, bidirectional: true };
//   const params = mhssmInit(cfg, 1);
//   const { out } = engine.mhssmForward(cfg, params, u, B, T);
//
// Parameter names (mhssmShapes), per direction `fwd` and (bidirectional) `bwd`:
//   <dir>.s [C]        raw step size: dt = exp(lo + (hi - lo)·sigmoid(s)), trained
//   <dir>.c_re, <dir>.c_im [C, N/2]   output weights C, trained
//   <dir>.d [C]        skip, trained
// and the constants, shared by both directions and never trained:
//   a_re, a_im [N/2]   S4D-Lin A_n = -0.5 + i·π·n (kept fixed: ScaledAdam's RMS-relative updates and
//                      its RMS cap of 3 would crush log-parametrised A; see docs NOTES.md)
//   log_dt_min, log_dt_max [C]   each channel's head range, geometric across heads: head 0 gets the
//                      largest steps (fast decay, local), the last head the smallest (global)
// Every per-channel tensor is indexed by channel first, so the subnet with k heads (k even) uses the
// leading k·P rows of each: pass `heads: k` in the options, the parameters of the full layer, and
// activations whose rows have stride `ld` (the full width) without copying.

import { Engine } from "./engine.js";

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

/** Head h's step range: [dtMin, dtMax] split into H equal pieces in log space, head 0 the largest steps. */
export function mhssmHeadRange(cfg: MhssmConfig, h: number): [number, number] {
  const lo = Math.log(cfg.dtMin ?? MHSSM_DT_MIN), hi = Math.log(cfg.dtMax ?? MHSSM_DT_MAX);
  const step = (hi - lo) / cfg.heads;
  return [hi - (h + 1) * step, hi - h * step];
}

/** A seeded normal generator (mulberry32 + Box-Muller), so that init does not depend on Math.random. */
function normals(seed: number): () => number {
  let s = seed >>> 0;
  const uniform = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) + 0.5) / 4294967296;
  };
  return () => Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform());
}

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

declare module "./engine.js" {
  interface Engine {
    /** The layer's forward: y = SSM(u) (both directions summed), out = gate(y). */
    mhssmForward(cfg: MhssmConfig, params: MhssmParams, u: ArrayLike<number>, B: number, T: number, opts?: MhssmRunOptions): MhssmForwardResult;
    /** The layer's backward for an upstream gradient dout [B, T, k·P] of `out`. */
    mhssmBackward(cfg: MhssmConfig, params: MhssmParams, u: ArrayLike<number>, dout: ArrayLike<number>, B: number, T: number, opts?: MhssmRunOptions): MhssmBackwardResult;
    /**
     * Causal streaming: advances `state` (Float32Array of mhssmStateSize floats, zeros at the start,
     * updated in place) by a chunk u [B, T, k·P]; returns the gated output of the chunk.
     */
    mhssmStream(cfg: MhssmConfig, params: MhssmParams, state: Float32Array, u: ArrayLike<number>, B: number, T: number, opts?: { heads?: number }): Float32Array;
  }
}

/** Floats of carried state for streaming B sequences through k heads: [B, 2, N/2, k·P]. */
export function mhssmStateSize(cfg: MhssmConfig, B: number, heads = cfg.heads): number {
  return B * cfg.stateSize * heads * cfg.headDim;
}

interface Layout {
  C: number; N2: number; P: number; ld: number;
  consts: { a_re: number; a_im: number; lo: number; hi: number };
}

function layout(e: Engine, cfg: MhssmConfig, params: MhssmParams, opts: MhssmRunOptions): Layout {
  check(cfg);
  const k = opts.heads ?? cfg.heads;
  if (k < 2 || k % 2 || k > cfg.heads) throw new Error(`MH-SSM: active heads must be even, in [2, ${cfg.heads}], got ${k}`);
  const P = cfg.headDim, C = k * P, N2 = cfg.stateSize / 2;
  const ld = opts.ld ?? C;
  if (ld < C) throw new Error(`MH-SSM: row stride ${ld} < active width ${C}`);
  for (const { name, shape } of mhssmShapes(cfg)) {
    const n = shape.reduce((a, b) => a * b, 1);
    if (params[name]?.length !== n) throw new Error(`MH-SSM: parameter ${name} needs ${n} floats, got ${params[name]?.length}`);
  }
  const consts = {
    a_re: e.upload(params.a_re), a_im: e.upload(params.a_im),
    lo: e.upload(params.log_dt_min.subarray(0, C)), hi: e.upload(params.log_dt_max.subarray(0, C)),
  };
  return { C, N2, P, ld, consts };
}

/** Uploads one direction's parameters (leading C channels) and discretises them. */
function direction(e: Engine, L: Layout, params: MhssmParams, dir: string) {
  const { C, N2 } = L;
  const s = e.upload(params[`${dir}.s`].subarray(0, C));
  const c_re = e.upload(params[`${dir}.c_re`].subarray(0, C * N2));
  const c_im = e.upload(params[`${dir}.c_im`].subarray(0, C * N2));
  const d = e.upload(params[`${dir}.d`].subarray(0, C));
  const da_re = e.alloc(N2 * C), da_im = e.alloc(N2 * C), w_re = e.alloc(N2 * C), w_im = e.alloc(N2 * C);
  const k = L.consts;
  e.wasm.ssm_discretize_forward(da_re, da_im, w_re, w_im, s, c_re, c_im, k.a_re, k.a_im, k.lo, k.hi, C, N2);
  return { s, c_re, c_im, d, da_re, da_im, w_re, w_im };
}

function uploadLens(e: Engine, lens: ArrayLike<number> | undefined, B: number): number {
  if (!lens) return 0;
  if (lens.length !== B) throw new Error(`MH-SSM: lens has ${lens.length} entries for B = ${B}`);
  return e.upload(lens, "i32");
}

/** Runs the scans of every direction into a fresh y [B, T, C]; returns its pointer. */
function scans(e: Engine, cfg: MhssmConfig, L: Layout, dirs: ReturnType<typeof direction>[], u: number, lens: number, B: number, T: number): number {
  const y = e.alloc(B * T * L.C), scratch = e.alloc(e.wasm.ssm_scan_forward_scratch(T));
  dirs.forEach((p, i) => {
    e.wasm.ssm_scan_forward(y, u, p.da_re, p.da_im, p.w_re, p.w_im, p.d, lens, scratch, B, T, L.C, L.N2, L.C, L.ld, i, i);
  });
  return y;
}

Engine.prototype.mhssmForward = function (this: Engine, cfg, params, u, B, T, opts = {}) {
  return this.scoped(() => {
    const L = layout(this, cfg, params, opts);
    if (u.length !== B * T * L.ld) throw new Error(`MH-SSM: u needs B·T·ld = ${B * T * L.ld} floats, got ${u.length}`);
    const dirs = mhssmDirections(cfg).map((dir) => direction(this, L, params, dir));
    const up = this.upload(u), lens = uploadLens(this, opts.lens, B);
    const y = scans(this, cfg, L, dirs, up, lens, B, T);
    const out = this.alloc(B * T * L.C);
    this.wasm.ssm_gate_forward(out, y, B * T, L.C, L.P, L.C, L.C);
    return { y: this.read(y, B * T * L.C), out: this.read(out, B * T * L.C) };
  });
};

Engine.prototype.mhssmBackward = function (this: Engine, cfg, params, u, dout, B, T, opts = {}) {
  return this.scoped(() => {
    const L = layout(this, cfg, params, opts);
    const { C, N2 } = L;
    if (u.length !== B * T * L.ld) throw new Error(`MH-SSM: u needs B·T·ld = ${B * T * L.ld} floats, got ${u.length}`);
    if (dout.length !== B * T * C) throw new Error(`MH-SSM: dout needs B·T·C = ${B * T * C} floats, got ${dout.length}`);
    const names = mhssmDirections(cfg);
    const dirs = names.map((dir) => direction(this, L, params, dir));
    const up = this.upload(u), lens = uploadLens(this, opts.lens, B);
    const y = scans(this, cfg, L, dirs, up, lens, B, T);
    const dy = this.alloc(B * T * C);
    this.wasm.mem_zero_f32(dy, B * T * C);
    this.wasm.ssm_gate_backward(dy, this.upload(dout), y, B * T, C, L.P, C, C, C);
    const du = this.alloc(B * T * L.ld);
    this.wasm.mem_zero_f32(du, B * T * L.ld);
    const scratch = this.alloc(this.wasm.ssm_scan_backward_scratch(T));
    const grads: MhssmParams = {};
    dirs.forEach((p, i) => {
      const g = this.alloc(4 * N2 * C); // adjoints of dA (re, im) and W (re, im), [N2, C] each
      const pg = this.alloc(2 * C + 2 * C * N2); // ds, dd, dc_re, dc_im
      this.wasm.mem_zero_f32(g, 4 * N2 * C);
      this.wasm.mem_zero_f32(pg, 2 * C + 2 * C * N2);
      const [gar, gai, gwr, gwi] = [0, 1, 2, 3].map((j) => g + 4 * j * N2 * C);
      const ds = pg, dd = pg + 4 * C, dcr = pg + 8 * C, dci = pg + 8 * C + 4 * C * N2;
      this.wasm.ssm_scan_backward(du, dd, gar, gai, gwr, gwi, dy, up, p.da_re, p.da_im, p.w_re, p.w_im, p.d,
        lens, scratch, B, T, C, N2, L.ld, C, L.ld, i);
      const k = L.consts;
      this.wasm.ssm_discretize_backward(ds, dcr, dci, gar, gai, gwr, gwi, p.s, p.c_re, p.c_im, k.a_re, k.a_im, k.lo, k.hi, C, N2);
      grads[`${names[i]}.s`] = this.read(ds, C);
      grads[`${names[i]}.d`] = this.read(dd, C);
      grads[`${names[i]}.c_re`] = this.read(dcr, C * N2);
      grads[`${names[i]}.c_im`] = this.read(dci, C * N2);
    });
    return { du: this.read(du, B * T * L.ld), grads };
  });
};

Engine.prototype.mhssmStream = function (this: Engine, cfg, params, state, u, B, T, opts = {}) {
  if (cfg.bidirectional) throw new Error("MH-SSM: streaming needs a causal layer (bidirectional: false)");
  return this.scoped(() => {
    const L = layout(this, cfg, params, { heads: opts.heads });
    const { C, N2 } = L;
    if (state.length !== B * 2 * N2 * C) throw new Error(`MH-SSM: state needs ${B * 2 * N2 * C} floats, got ${state.length}`);
    if (u.length !== B * T * C) throw new Error(`MH-SSM: u needs B·T·C = ${B * T * C} floats, got ${u.length}`);
    const p = direction(this, L, params, "fwd");
    const st = this.upload(state), up = this.upload(u);
    const y = this.alloc(B * T * C), out = this.alloc(B * T * C);
    this.wasm.ssm_step(y, st, up, p.da_re, p.da_im, p.w_re, p.w_im, p.d, this.alloc(this.wasm.ssm_scan_forward_scratch(T)), B, T, C, N2, C, C);
    this.wasm.ssm_gate_forward(out, y, B * T, C, L.P, C, C);
    state.set(this.read(st, state.length));
    return this.read(out, B * T * C);
  });
};
