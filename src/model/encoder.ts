// The MH-SSM encoder's Stateformer block on the tape (what the subsampling front end feeds).
//
// A block is pre-norm and macaron (Conformer layout, attention replaced by the MH-SSM layer):
//   x = x + 1/2 · FF1(LN(x))
//   x = x + Out(MHSSM(In(LN(x))))           In: d -> k·P, Out: k·P -> d (the subnet's k heads)
//   x = x + Conv(LN(x))                     optional: pointwise 2d, GLU, depthwise K, SiLU, pointwise
//   x = x + 1/2 · FF2(LN(x))
//   y = LN(x)
// with FF(z) = W2 · drop_hidden(SiLU(W1 z + b1)) + b2, then drop_out; the convolution module is
// Conv(z) = PW2 · SiLU(DW_K(mask ⊙ GLU(PW1 z))), mask zeroing the frames past each utterance's end. The dropout points are named
// (`ffHidden`, `ffOut`, `ssmOut`, `convOut`) so that adaptive dropout can drive them per subnet.
// Subnet slicing: W1 keeps its leading ffDim rows, W2 its leading ffDim columns (row stride ffDim of
// the Supernet), In its leading k·P rows, Out its leading k·P columns; nothing is copied.
// W1 with its SiLU and dropout, and W2 and Out with their dropout, scale and residual add, run as fused
// tape ops (assembly/tape_fused.ts): the same math with fewer passes over the activations.

import type { Engine } from "../engine/engine.js";
import type { Tape, T } from "../engine/tape.js";
import { headDimOf, ssmWidth, type ModelConfig, type SubnetSpec } from "./config.js";
import type { ModelParams } from "./params.js";

export interface DropoutRates {
  ffHidden: number;
  ffOut: number;
  ssmOut: number;
  convOut: number;
}

export const NO_DROPOUT: DropoutRates = { ffHidden: 0, ffOut: 0, ssmOut: 0, convOut: 0 };

/** Tensor headers over the parameter and gradient regions, made once (they outlive every step). */
export class ParamHandles {
  private readonly handles = new Map<string, number>();
  private readonly blocks = new Map<string, number>();

  constructor(readonly engine: Engine, readonly params: ModelParams) {
    for (const e of params.entries) {
      const p = params.get(e.name);
      this.handles.set(e.name, engine.wasm.tensor_wrap(p.ptr, p.gptr, p.numel));
    }
    // made now, before any step's mark, so that they outlive every step
    for (let l = 0; l < params.cfg.layers; l++) this.ssmBlock(l, params.cfg.causal);
  }

  h(name: string): T {
    const t = this.handles.get(name);
    if (t === undefined) throw new Error(`no parameter named ${name}`);
    return t;
  }

  /** The MH-SSM operand block of layer l (made in the constructor): tensor handles, then constant pointers. */
  ssmBlock(l: number, causal: boolean): number {
    const key = `${l}`;
    let pb = this.blocks.get(key);
    if (pb === undefined) {
      if (this.blocks.size >= this.params.cfg.layers) throw new Error(`no encoder block ${l}`);
      const p = `encoder.blocks.${l}.ssm.`;
      const dir = (d: string) => [`${p}${d}.s`, `${p}${d}.c_re`, `${p}${d}.c_im`, `${p}${d}.d`].map((n) => this.h(n));
      const vals = [...dir("fwd"), ...(causal ? [0, 0, 0, 0] : dir("bwd")),
        ...["a_re", "a_im", "log_dt_min", "log_dt_max"].map((n) => this.params.get(`${p}${n}`).ptr)];
      pb = this.engine.upload(vals, "i32");
      this.blocks.set(key, pb);
    }
    return pb;
  }
}

/**
 * Stateless step-local dropout seeds: a hash of (step seed, call index), and per utterance a hash of
 * that with the utterance's index in the whole batch (`utterances[b]`, default b). A mask then depends
 * on (step, call, utterance, frame, channel) only, never on which other utterances share the batch or
 * on the padded length: the shards of a data-parallel step draw the masks of the whole batch.
 */
export class DropoutSeeds {
  private k = 0;
  constructor(private readonly base: number, private readonly utterances?: ArrayLike<number>) {}
  next(): number {
    this.k++;
    let h = Math.imul(this.base ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(this.k, 0xc2b2ae35);
    h ^= h >>> 16;
    h = Math.imul(h, 0x7feb352d);
    h ^= h >>> 15;
    return h >>> 0;
  }
  /** The seed of utterance b of this batch within call seed `s`. */
  utterance(s: number, b: number): number {
    const u = this.utterances ? this.utterances[b] : b;
    let h = Math.imul(s ^ 0x27d4eb2f, 0x165667b1) ^ Math.imul(u + 1, 0x9e3779b1);
    h ^= h >>> 15;
    h = Math.imul(h, 0x85ebca77);
    h ^= h >>> 13;
    return h >>> 0;
  }
}

/**
 * Inverted dropout of x [B·T, width] with one mask stretch per utterance: element (b, t, c) keeps
 * iff keep(seed_b, t·width + c) (assembly/dropout.ts, `dropout_mask`), then y = x ⊙ mask on the tape.
 * p = 0 records nothing and returns x (a seed is still drawn, so later calls keep their seeds).
 */
function dropout(tape: Tape, x: T, B: number, T_: number, width: number, p: number, seeds: DropoutSeeds): T {
  const m = dropoutMask(tape, B, T_, width, p, seeds);
  return m ? tape.mul(x, m, B * T_ * width) : x;
}

/** The mask tensor of `dropout` (values 0 or 1/(1-p)), or 0 when p = 0; draws its seed either way. */
function dropoutMask(tape: Tape, B: number, T_: number, width: number, p: number, seeds: DropoutSeeds): T | 0 {
  const s = seeds.next();
  if (!(p > 0)) return 0;
  const w = tape.engine.wasm, n = B * T_ * width, per = T_ * width;
  const m = w.tensor_new(n, 0);
  if (m === 0) throw new Error("out of WASM memory for a dropout mask: reduce the batch size (max frames per batch)");
  const base = w.tensor_data(m);
  for (let b = 0; b < B; b++) w.dropout_mask(base + 4 * b * per, per, p, seeds.utterance(s, b));
  return m;
}

/** x + 1/2 · FF(LN(x)), as two fused ops (assembly/tape_fused.ts): the hidden layer with its SiLU and
 * dropout, then the output layer with its dropout, the 1/2 and the residual add. */
function feedForwardResidual(tape: Tape, H: ParamHandles, prefix: string, x: T, B: number, T_: number, d: number, ff: number, ldFF: number,
                             drop: DropoutRates, seeds: DropoutSeeds): T {
  const rows = B * T_;
  const n = tape.layernorm(x, H.h(`${prefix}.norm.weight`), H.h(`${prefix}.norm.bias`), rows, d);
  const mHidden = dropoutMask(tape, B, T_, ff, drop.ffHidden, seeds);
  const h = tape.linearSilu(n, H.h(`${prefix}.w1.weight`), H.h(`${prefix}.w1.bias`), mHidden, rows, d, ff, d);
  const mOut = dropoutMask(tape, B, T_, d, drop.ffOut, seeds);
  return tape.linearResidual(x, h, H.h(`${prefix}.w2.weight`), H.h(`${prefix}.w2.bias`), mOut, 0.5, rows, ff, d, ldFF);
}

/** One Stateformer block of a subnet: x [B·T, d] -> [B·T, d]. `lensPtr`: i32 [B] frames per utterance. */
export function blockForward(tape: Tape, H: ParamHandles, cfg: ModelConfig, sub: SubnetSpec, l: number, x: T,
                             B: number, T_: number, lensPtr: number, drop: DropoutRates, seeds: DropoutSeeds, mask: T | 0 = 0): T {
  const p = `encoder.blocks.${l}.`;
  const d = cfg.dModel, rows = B * T_, n = rows * d;
  const P = headDimOf(cfg), C = sub.heads * P;
  // x = x + 1/2 · FF1(LN(x))
  x = feedForwardResidual(tape, H, `${p}ff1`, x, B, T_, d, sub.ffDim, cfg.ffDim, drop, seeds);
  // x = x + Out(MHSSM(In(LN(x))))
  {
    const z = tape.layernorm(x, H.h(`${p}ssm.norm.weight`), H.h(`${p}ssm.norm.bias`), rows, d);
    const u = tape.linear(z, H.h(`${p}ssm.in.weight`), H.h(`${p}ssm.in.bias`), rows, d, C, d);
    const pb = H.ssmBlock(l, cfg.causal);
    const s = tape.engine.wasm.t_mhssm(u, pb, B, T_, C, cfg.stateSize / 2, P, lensPtr, cfg.causal ? 0 : 1);
    if (s === 0) throw new Error("out of WASM memory in mhssm: reduce the batch size (max frames per batch)");
    const m = dropoutMask(tape, B, T_, d, drop.ssmOut, seeds);
    x = tape.linearResidual(x, s, H.h(`${p}ssm.out.weight`), H.h(`${p}ssm.out.bias`), m, 1, rows, C, d, ssmWidth(cfg));
  }
  if (cfg.convKernel) {
    // x = x + Conv(LN(x)): pointwise d -> 2d, GLU, padded frames zeroed (`mask`, so that no frame past an
    // utterance's end leaks into it), depthwise K over time, SiLU, pointwise d -> d
    const z = tape.layernorm(x, H.h(`${p}conv.norm.weight`), H.h(`${p}conv.norm.bias`), rows, d);
    const a = tape.linear(z, H.h(`${p}conv.pw1.weight`), H.h(`${p}conv.pw1.bias`), rows, d, 2 * d);
    let g = tape.mul(tape.sliceCols(a, rows, 2 * d, 0, d), tape.sigmoid(tape.sliceCols(a, rows, 2 * d, d, 2 * d), n), n);
    if (mask) g = tape.mul(g, mask, n);
    const c = tape.dwconv1d(g, H.h(`${p}conv.dw.weight`), H.h(`${p}conv.dw.bias`), B, T_, d, cfg.convKernel, cfg.causal);
    let o = tape.linear(tape.silu(c, n), H.h(`${p}conv.pw2.weight`), H.h(`${p}conv.pw2.bias`), rows, d, d);
    o = dropout(tape, o, B, T_, d, drop.convOut, seeds);
    x = tape.add(x, o, n);
  }
  // x = x + 1/2 · FF2(LN(x))
  x = feedForwardResidual(tape, H, `${p}ff2`, x, B, T_, d, sub.ffDim, cfg.ffDim, drop, seeds);
  return tape.layernorm(x, H.h(`${p}norm.weight`), H.h(`${p}norm.bias`), rows, d);
}
