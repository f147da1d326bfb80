// Copying wrappers over kernels, for tests only: each validates its inputs, copies them into the
// arena, runs the same arena functions the training path runs (src/engine/ctc.ts, src/engine/kd.ts, src/engine/rnnt.ts,
// src/engine/ssm.ts, src/engine/optim.ts, assembly/ops/gemm_i8.ts) and returns fresh arrays.
//
// What it is not: library code. These used to be methods patched onto Engine's prototype from the
// modules above; the training path calls the arena functions directly and never needed them.
// Reference semantics: the header of each module named above.

import type { Engine } from "../src/engine/engine.js";
import { ctcLossArena, checkCtcInputs, type CtcLossResult } from "../src/engine/ctc.js";
import { checkKdInputs, KD_ALPHA_DEFAULTS, type KdAlphaOptions, type KdAlphaResult, type KdDims } from "../src/engine/kd.js";
import { checkRnntInputs, type RnntLossOptions, type RnntLossResult } from "../src/engine/rnnt.js";
import {
  mhssmBackwardRaw, mhssmForwardRaw, mhssmShapes, mhssmStepRaw, resolveMhssmDims,
  type MhssmBackwardResult, type MhssmConfig, type MhssmDims, type MhssmForwardResult, type MhssmParams, type MhssmPtrs, type MhssmRunOptions,
} from "../src/engine/ssm.js";
import { FbankStream, type FbankOptions } from "../src/engine/features.js";
import { TensorAdamW, TensorScaledAdam, type AdamWOptions, type ScaledAdamOptimizer, type ScaledAdamOptions, type TensorOptimizer } from "../src/engine/optim.js";

/** A stream giving the same frames as `fbank` over the concatenation of everything accepted. */
export function fbankStream(e: Engine, sampleRate: number, opts: FbankOptions = {}): FbankStream {
  return new FbankStream(e, sampleRate, opts.numMelBins);
}

/** icefall's ScaledAdam over tensors of these shapes ([] is a scalar); see src/engine/optim.ts. */
export function scaledAdam(e: Engine, shapes: readonly (readonly number[])[], opts: ScaledAdamOptions = {}): ScaledAdamOptimizer {
  return new TensorScaledAdam(e, shapes, opts);
}

/** torch.optim.AdamW over tensors of these shapes; see src/engine/optim.ts. */
export function adamW(e: Engine, shapes: readonly (readonly number[])[], opts: AdamWOptions = {}): TensorOptimizer {
  return new TensorAdamW(e, shapes, opts);
}

/**
 * y[M,N] = x[M,K] · (q[N,K] · scale[N])^T + bias[N] (bias null: none). "int8" (Default) quantises each
 * row of x to int8 and sums int8 products exactly in int32; "dequant" dequantises W and runs f32 gemm.
 */
export function gemmI8(
  e: Engine, x: Float32Array, M: number, K: number, q: Int8Array, scale: Float32Array, bias: Float32Array | null, N: number,
  method: "int8" | "dequant" = "int8",
): Float32Array {
  if (x.length !== M * K || q.length !== N * K || scale.length !== N || (bias && bias.length !== N)) {
    throw new Error(`gemmI8: x has ${x.length} values (M·K = ${M * K}), q ${q.length} (N·K = ${N * K}), scale ${scale.length}, bias ${bias?.length ?? "none"} (N = ${N})`);
  }
  return e.scoped(() => {
    const px = e.upload(x), pq = e.uploadI8(q), ps = e.upload(scale), pb = bias ? e.upload(bias) : 0;
    const y = e.alloc(M * N);
    if (method === "int8") e.wasm.gemm_i8_forward(y, e.alloc(Math.ceil((M * K) / 4)), e.alloc(M), px, pq, ps, pb, M, N, K, K, K, N);
    else e.wasm.gemm_i8_dequant_forward(y, e.alloc(N * K), px, pq, ps, pb, M, N, K, K, K, N);
    return e.read(y, M * N);
  });
}

/**
 * CTC loss (blank 0) and its gradient with respect to the raw logits (log-softmax fused).
 * logits [B, T, V] f32; targets [B, U] i32 in 1..V-1, padded; inputLengths [B] in 0..T; targetLengths [B] in 0..U.
 */
export function ctcLoss(
  e: Engine, logits: Float32Array, shape: readonly [number, number, number], targets: Int32Array, U: number,
  inputLengths: Int32Array, targetLengths: Int32Array,
): CtcLossResult {
  checkCtcInputs(logits, shape, targets, U, inputLengths, targetLengths);
  const [B, T, V] = shape;
  return e.scoped(() => {
    const z = e.upload(logits);
    const grad = e.alloc(B * T * V, "CTC gradient");
    e.wasm.mem_zero_f32(grad, B * T * V);
    const ones = e.upload(new Float32Array(B).fill(1));
    const { losses, infeasible } = ctcLossArena(e, {
      logits: z, dlogits: grad, targets: e.upload(targets.length ? targets : [0], "i32"),
      inputLengths: e.upload(inputLengths, "i32"), targetLengths: e.upload(targetLengths, "i32"), dlosses: ones,
    }, B, T, U, V, V);
    return { losses: e.read(losses, B), grad: e.read(grad, B * T * V), infeasible };
  });
}

/**
 * AlphaNet's adaptive alpha-divergence KD per utterance and its surrogate gradient.
 * student logits and teacherLogProbs [B,T,U1,V] f32; tlens [B] in 0..T; ulens [B] in 0..U1-1
 * (nodes u <= ulens[b]); scales [B] (the gradient's weight per utterance).
 */
export function kdAlpha(
  e: Engine, student: Float32Array, teacherLogProbs: Float32Array, tlens: ArrayLike<number>, ulens: ArrayLike<number>,
  scales: ArrayLike<number>, dims: KdDims, opts: KdAlphaOptions = {},
): KdAlphaResult {
  const o = { ...KD_ALPHA_DEFAULTS, ...opts };
  checkKdInputs(student, teacherLogProbs, tlens, ulens, scales, dims, o);
  const { B, T, U1, V } = dims;
  const n = B * T * U1 * V;
  return e.scoped(() => {
    const z = e.upload(student), lp = e.upload(teacherLogProbs);
    const tl = e.upload(tlens, "i32"), ul = e.upload(ulens, "i32"), sc = e.upload(scales);
    const losses = e.alloc(B, "KD losses"), grad = e.alloc(n, "KD gradient");
    e.wasm.mem_zero_f32(grad, n);
    const scratch = e.alloc(e.wasm.kd_alpha_scratch(V), "KD scratch");
    e.wasm.kd_alpha_forward_backward(losses, grad, z, lp, tl, ul, sc, scratch, B, T, U1, V, o.alphaNeg, o.alphaPos, o.clip);
    return { losses: e.read(losses, B), grad: e.read(grad, n) };
  });
}

/**
 * RNN-T loss and its gradient with respect to the raw logits (log-softmax fused).
 * logits [B, T, U+1, V] f32; targets [B, U] i32, padded; logitLengths [B] in 1..T;
 * targetLengths [B] in 0..U. Shapes may be padded beyond the longest utterance.
 */
export function rnntLoss(
  e: Engine, logits: Float32Array, shape: readonly [number, number, number, number], targets: Int32Array,
  logitLengths: Int32Array, targetLengths: Int32Array, opts: RnntLossOptions = {},
): RnntLossResult {
  const blank = checkRnntInputs(logits, shape, targets, logitLengths, targetLengths, opts.blank ?? 0);
  const [B, T, U1, V] = shape;
  const nodes = B * T * U1;
  return e.scoped(() => {
    const z = e.upload(logits);
    const tg = e.upload(targets.length ? targets : [0], "i32");
    const tl = e.upload(logitLengths, "i32");
    const ul = e.upload(targetLengths, "i32");
    const losses = e.alloc(B, "losses");
    const lat = [0, 1, 2, 3, 4].map(() => e.alloc(nodes, "RNN-T lattice"));
    const ones = e.upload(new Float32Array(B).fill(1));
    e.wasm.rnnt_loss_forward(losses, lat[0], lat[1], lat[2], lat[3], lat[4], z, tg, tl, ul, B, T, U1, V, blank);
    e.wasm.rnnt_loss_backward_inplace(z, losses, lat[0], lat[1], lat[2], lat[3], lat[4], ones, tg, tl, ul, B, T, U1, V, blank);
    return { losses: e.read(losses, B), grad: e.read(z, logits.length) };
  });
}


function uploadParams(e: Engine, cfg: MhssmConfig, params: MhssmParams): MhssmPtrs {
  const ptrs: MhssmPtrs = {};
  for (const { name, shape } of mhssmShapes(cfg)) {
    const n = shape.reduce((a, b) => a * b, 1);
    if (params[name]?.length !== n) throw new Error(`MH-SSM: parameter ${name} needs ${n} floats, got ${params[name]?.length}`);
    ptrs[name] = e.upload(params[name]);
  }
  return ptrs;
}

function uploadLens(e: Engine, lens: ArrayLike<number> | undefined, B: number): number {
  if (!lens) return 0;
  if (lens.length !== B) throw new Error(`MH-SSM: lens has ${lens.length} entries for B = ${B}`);
  return e.upload(lens, "i32");
}

function checkLength(what: string, got: number, want: number): void {
  if (got !== want) throw new Error(`MH-SSM: ${what} needs ${want} floats, got ${got}`);
}

/** The layer's forward: y = SSM(u) (both directions summed), out = gate(y). */
export function mhssmForward(e: Engine, cfg: MhssmConfig, params: MhssmParams, u: ArrayLike<number>, B: number, T: number, opts: MhssmRunOptions = {}): MhssmForwardResult {
  return e.scoped(() => {
    const r = resolveMhssmDims(cfg, { B, T, heads: opts.heads, ldIn: opts.ld });
    checkLength("u (B·T·ld)", u.length, B * T * r.ldIn);
    const p = uploadParams(e, cfg, params);
    const dims: MhssmDims = { B, T, heads: opts.heads, ldIn: r.ldIn, lens: uploadLens(e, opts.lens, B) };
    const y = e.alloc(B * T * r.C), out = e.alloc(B * T * r.C);
    mhssmForwardRaw(e, cfg, p, out, y, e.upload(u), dims);
    return { y: e.read(y, B * T * r.C), out: e.read(out, B * T * r.C) };
  });
}

/** The layer's backward for an upstream gradient dout [B, T, k·P] of `out`. */
export function mhssmBackward(e: Engine, cfg: MhssmConfig, params: MhssmParams, u: ArrayLike<number>, dout: ArrayLike<number>, B: number, T: number, opts: MhssmRunOptions = {}): MhssmBackwardResult {
  return e.scoped(() => {
    const r = resolveMhssmDims(cfg, { B, T, heads: opts.heads, ldIn: opts.ld });
    checkLength("u (B·T·ld)", u.length, B * T * r.ldIn);
    checkLength("dout (B·T·k·P)", dout.length, B * T * r.C);
    const p = uploadParams(e, cfg, params);
    const trained = mhssmShapes(cfg).filter((s) => s.trainable);
    const g: MhssmPtrs = {};
    for (const { name } of trained) {
      g[name] = e.alloc(params[name].length);
      e.wasm.mem_zero_f32(g[name], params[name].length);
    }
    const dims: MhssmDims = { B, T, heads: opts.heads, ldIn: r.ldIn, lens: uploadLens(e, opts.lens, B) };
    const up = e.upload(u), y = e.alloc(B * T * r.C), out = e.alloc(B * T * r.C);
    mhssmForwardRaw(e, cfg, p, out, y, up, dims);
    const du = e.alloc(B * T * r.ldIn);
    e.wasm.mem_zero_f32(du, B * T * r.ldIn);
    mhssmBackwardRaw(e, cfg, p, g, du, e.upload(dout), y, up, dims);
    const grads: MhssmParams = {};
    for (const { name, shape } of trained) grads[name] = e.read(g[name], (shape.length > 1 ? shape[1] : 1) * r.C);
    return { du: e.read(du, B * T * r.ldIn), grads };
  });
}

/**
 * Causal streaming: advances `state` (Float32Array of mhssmStateSize floats, zeros at the start,
 * updated in place) by a chunk u [B, T, k·P]; returns the gated output of the chunk.
 */
export function mhssmStream(e: Engine, cfg: MhssmConfig, params: MhssmParams, state: Float32Array, u: ArrayLike<number>, B: number, T: number, opts: { heads?: number } = {}): Float32Array {
  return e.scoped(() => {
    const r = resolveMhssmDims(cfg, { B, T, heads: opts.heads });
    checkLength("state (mhssmStateSize)", state.length, B * 2 * r.N2 * r.C);
    checkLength("u (B·T·k·P)", u.length, B * T * r.C);
    const p = uploadParams(e, cfg, params);
    const st = e.upload(state), y = e.alloc(B * T * r.C), out = e.alloc(B * T * r.C);
    mhssmStepRaw(e, cfg, p, out, y, st, e.upload(u), { B, T, heads: opts.heads });
    state.set(e.read(st, state.length));
    return e.read(out, B * T * r.C);
  });
}
