// The training implementation of the encoder's ops (encoder.ts `EncoderOps`): every op recorded on the
// autograd tape (src/engine/tape.ts), over a padded batch [B, T, ·].
//
// What it is: `TapeOps`, the parameter handles they read (`ParamHandles`), the stateless dropout seeds
// (`DropoutSeeds`) and `blockForward` (one block). The linears with SiLU, dropout, scale or residual add
// are fused tape ops (assembly/tape/tape_fused.ts); the GLU output is zeroed past each utterance's end.
// What it is not: the block or the frontend themselves (encoder.ts), the transducer half (model.ts).

import type { Engine } from "../engine/engine.js";
import type { Tape, T } from "../engine/tape.js";
import { strideTwoRows, subsamplePad, type ModelConfig, type SubnetSpec } from "./config.js";
import { NO_DROPOUT, stateformerBlock, type DropoutRates, type DropPoint, type EncoderOps } from "./encoder.js";
import type { ModelParams } from "./params.js";

/** Tensor headers over the parameter and gradient regions, made once (they outlive every step). */
export class ParamHandles {
  private readonly handles = new Map<string, number>();
  /** Per layer, the MH-SSM operand block (t_mhssm): tensor handles, then constant pointers. */
  readonly ssmBlocks: number[] = [];

  constructor(readonly engine: Engine, readonly params: ModelParams) {
    for (const e of params.entries) {
      const p = params.get(e.name);
      this.handles.set(e.name, engine.wasm.tensor_wrap(p.ptr, p.gptr, p.numel));
    }
    // the MH-SSM operand blocks, made now, before any step's mark, so that they outlive every step
    for (let l = 0; l < params.cfg.layers; l++) {
      const p = `encoder.blocks.${l}.ssm.`;
      const dir = (d: string) => [`${p}${d}.s`, `${p}${d}.c_re`, `${p}${d}.c_im`, `${p}${d}.d`].map((n) => this.h(n));
      const vals = [...dir("fwd"), ...(params.cfg.causal ? [0, 0, 0, 0] : dir("bwd")),
        ...["a_re", "a_im", "log_dt_min", "log_dt_max"].map((n) => params.get(`${p}${n}`).ptr)];
      this.ssmBlocks.push(engine.upload(vals, "i32"));
    }
  }

  h(name: string): T {
    const t = this.handles.get(name);
    if (t === undefined) throw new Error(`no parameter named ${name}`);
    return t;
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

/** What the blocks need beyond the frontend: valid frames per utterance, dropout, the frame mask. */
export interface TapeBlockContext {
  /** i32 [B] in the arena: frames per utterance. */
  lensPtr: number;
  drop: DropoutRates;
  seeds: DropoutSeeds;
  /** [B·T, d] ones on valid frames, zeros past each length (0: no masking). */
  mask: T | 0;
}

/** What the frontend's ops see: no lengths, no dropout, no mask (it draws no dropout seed). */
const FRONTEND: TapeBlockContext = { lensPtr: 0, drop: NO_DROPOUT, seeds: new DropoutSeeds(0), mask: 0 };

/** The encoder's ops on the tape over a batch of B utterances of T frames (T shrinks through the frontend). */
export class TapeOps implements EncoderOps<T> {
  constructor(readonly tape: Tape, readonly H: ParamHandles, readonly cfg: ModelConfig, readonly B: number, public T: number,
              readonly ctx: TapeBlockContext = FRONTEND) {}

  private get rows(): number {
    return this.B * this.T;
  }

  /**
   * Inverted dropout's mask [B·T, width] with one stretch per utterance: element (b, t, c) keeps iff
   * keep(seed_b, t·width + c) (assembly/ops/dropout.ts, `dropout_mask`); values 0 or 1/(1-p), or 0 (no
   * tensor) when p = 0. Draws its seed either way, so later calls keep their seeds.
   */
  private mask(width: number, point: DropPoint): T | 0 {
    const { drop, seeds } = this.ctx;
    const s = seeds.next(), p = drop[point];
    if (!(p > 0)) return 0;
    const w = this.tape.engine.wasm, n = this.rows * width, per = this.T * width;
    const m = w.tensor_new(n, 0);
    if (m === 0) throw new Error("out of WASM memory for a dropout mask: reduce the batch size (max frames per batch)");
    const base = w.tensor_data(m);
    for (let b = 0; b < this.B; b++) w.dropout_mask(base + 4 * b * per, per, p, seeds.utterance(s, b));
    return m;
  }

  /** Normalises on the host into the tape's copy of the features. */
  normalize(feats: Float32Array): T {
    const { tape, cfg } = this, e = tape.engine, F = cfg.featDim;
    const x = tape.input(feats, false);
    const xd = e.wasm.tensor_data(x) >> 2, f32 = e.f32;
    const P = this.H.params;
    const mean = P.get("frontend.feat_mean").ptr >> 2, istd = P.get("frontend.feat_istd").ptr >> 2;
    for (let r = 0; r < this.rows; r++) for (let k = 0; k < F; k++) f32[xd + r * F + k] = (f32[xd + r * F + k] - f32[mean + k]) * f32[istd + k];
    return x;
  }

  subsampleConv(x: T, _stage: 0 | 1, name: string, cin: number, fin: number): T {
    const { tape, H, cfg, B } = this, cs = cfg.subsampleChannels, pad = subsamplePad(cfg.causal);
    const T1 = strideTwoRows(this.T, pad), F1 = strideTwoRows(fin);
    const h = tape.engine.wasm.t_conv2d(x, H.h(`${name}.weight`), H.h(`${name}.bias`), B, cin, this.T, fin, cs, 3, 3, 2, 2, pad, 0, 0);
    this.T = T1;
    return tape.relu(h, B * cs * T1 * F1);
  }

  flattenChannels(x: T, c: number, f: number): T {
    return this.tape.engine.wasm.t_permute_bctf(x, this.B, c, this.T, f);
  }

  layerNorm(x: T, name: string, d: number): T {
    return this.tape.layernorm(x, this.H.h(`${name}.weight`), this.H.h(`${name}.bias`), this.rows, d);
  }

  linear(x: T, name: string, K: number, N: number, ldw: number): T {
    return this.tape.linear(x, this.H.h(`${name}.weight`), this.H.h(`${name}.bias`), this.rows, K, N, ldw);
  }

  linearSilu(x: T, name: string, K: number, N: number, ldw: number, drop: DropPoint): T {
    const m = this.mask(N, drop);
    return this.tape.linearSilu(x, this.H.h(`${name}.weight`), this.H.h(`${name}.bias`), m, this.rows, K, N, ldw);
  }

  linearResidual(res: T, x: T, name: string, K: number, N: number, ldw: number, alpha: number, drop: DropPoint): T {
    const m = this.mask(N, drop);
    return this.tape.linearResidual(res, x, this.H.h(`${name}.weight`), this.H.h(`${name}.bias`), m, alpha, this.rows, K, N, ldw);
  }

  mhssm(u: T, layer: number, C: number, P: number): T {
    const { cfg } = this;
    const s = this.tape.engine.wasm.t_mhssm(u, this.H.ssmBlocks[layer], this.B, this.T, C, cfg.stateSize / 2, P, this.ctx.lensPtr, cfg.causal ? 0 : 1);
    if (s === 0) throw new Error("out of WASM memory in mhssm: reduce the batch size (max frames per batch)");
    return s;
  }

  gluDepthwiseSilu(a: T, _layer: number, name: string, d: number, K: number): T {
    const { tape, rows } = this, n = rows * d, { mask } = this.ctx;
    let g = tape.mul(tape.sliceCols(a, rows, 2 * d, 0, d), tape.sigmoid(tape.sliceCols(a, rows, 2 * d, d, 2 * d), n), n);
    if (mask) g = tape.mul(g, mask, n);
    const c = tape.dwconv1d(g, this.H.h(`${name}.weight`), this.H.h(`${name}.bias`), this.B, this.T, d, K, this.cfg.causal);
    return tape.silu(c, n);
  }

  dropout(x: T, width: number, drop: DropPoint): T {
    const m = this.mask(width, drop);
    return m ? this.tape.mul(x, m, this.rows * width) : x;
  }

  add(x: T, y: T, width: number): T {
    return this.tape.add(x, y, this.rows * width);
  }
}

/** One Stateformer block of a subnet on the tape: x [B·T, d] -> [B·T, d]. `lensPtr`: i32 [B] frames per utterance. */
export function blockForward(tape: Tape, H: ParamHandles, cfg: ModelConfig, sub: SubnetSpec, l: number, x: T,
                             B: number, T_: number, lensPtr: number, drop: DropoutRates, seeds: DropoutSeeds, mask: T | 0 = 0): T {
  return stateformerBlock(new TapeOps(tape, H, cfg, B, T_, { lensPtr, drop, seeds, mask }), cfg, sub, l, x);
}
