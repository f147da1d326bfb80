// RNN-T loss on the host: `engine.rnntLoss(...)`, a copying wrapper over assembly/rnnt.ts.
//
// What it is: the public, safe entry point. It copies the logits into the arena, runs the forward
// and the in-place backward there, and returns fresh arrays; the caller's logits are untouched.
// What it is not: the training path, which calls rnnt_loss_forward / rnnt_loss_backward_inplace
// on arena tensors directly and keeps no second [B,T,U+1,V] buffer.
// Reference semantics: torchaudio.functional.rnnt_loss(..., reduction='none', clamp=-1).

import { Engine, EngineError } from "./engine.js";

export interface RnntLossOptions {
  /** The blank's index in 0..V-1; a negative value counts from the end (-1 is the last class). Default 0. */
  blank?: number;
}

export interface RnntLossResult {
  /** One loss per utterance, -log P(y | x), [B]. */
  losses: Float32Array;
  /** d(sum of losses)/d(logits), [B, T, U+1, V]; zero at padding nodes. */
  grad: Float32Array;
}

declare module "./engine.js" {
  interface Engine {
    /**
     * RNN-T loss and its gradient with respect to the raw logits (log-softmax fused).
     * logits [B, T, U+1, V] f32; targets [B, U] i32, padded; logitLengths [B] in 1..T;
     * targetLengths [B] in 0..U. Shapes may be padded beyond the longest utterance.
     */
    rnntLoss(
      logits: Float32Array, shape: readonly [number, number, number, number], targets: Int32Array,
      logitLengths: Int32Array, targetLengths: Int32Array, opts?: RnntLossOptions,
    ): RnntLossResult;
  }
}

/** Throws unless the shapes, lengths and targets describe a valid batch; returns the blank's index. */
export function checkRnntInputs(
  logits: ArrayLike<number>, shape: readonly number[], targets: ArrayLike<number>,
  logitLengths: ArrayLike<number>, targetLengths: ArrayLike<number>, blankOpt = 0,
): number {
  if (shape.length !== 4 || !shape.every((d) => Number.isInteger(d) && d >= 1)) {
    throw new EngineError(`rnntLoss: shape must be [B, T, U+1, V] of positive integers, got [${shape.join(", ")}]`);
  }
  const [B, T, U1, V] = shape;
  if (logits.length !== B * T * U1 * V) {
    throw new EngineError(`rnntLoss: logits has ${logits.length} values, shape [${shape.join(", ")}] needs ${B * T * U1 * V}`);
  }
  if (targets.length !== B * (U1 - 1)) throw new EngineError(`rnntLoss: targets has ${targets.length} values, [B, U] needs ${B * (U1 - 1)}`);
  if (logitLengths.length !== B || targetLengths.length !== B) throw new EngineError(`rnntLoss: lengths must have B = ${B} entries`);
  const blank = blankOpt < 0 ? V + blankOpt : blankOpt;
  if (!Number.isInteger(blank) || blank < 0 || blank >= V) throw new EngineError(`rnntLoss: blank ${blankOpt} out of range for V = ${V}`);
  for (let b = 0; b < B; b++) {
    const Tb = logitLengths[b], Ub = targetLengths[b];
    if (!Number.isInteger(Tb) || Tb < 1 || Tb > T) throw new EngineError(`rnntLoss: logitLengths[${b}] = ${Tb} not in 1..${T}`);
    if (!Number.isInteger(Ub) || Ub < 0 || Ub > U1 - 1) throw new EngineError(`rnntLoss: targetLengths[${b}] = ${Ub} not in 0..${U1 - 1}`);
    for (let u = 0; u < Ub; u++) {
      const y = targets[b * (U1 - 1) + u];
      if (!Number.isInteger(y) || y < 0 || y >= V) throw new EngineError(`rnntLoss: targets[${b}, ${u}] = ${y} not in 0..${V - 1}`);
    }
  }
  return blank;
}

Engine.prototype.rnntLoss = function (
  this: Engine, logits, shape, targets, logitLengths, targetLengths, opts = {},
): RnntLossResult {
  const blank = checkRnntInputs(logits, shape, targets, logitLengths, targetLengths, opts.blank ?? 0);
  const [B, T, U1, V] = shape;
  const nodes = B * T * U1;
  return this.scoped(() => {
    const z = this.upload(logits);
    const tg = this.upload(targets.length ? targets : [0], "i32");
    const tl = this.upload(logitLengths, "i32");
    const ul = this.upload(targetLengths, "i32");
    const losses = this.alloc(B, "losses");
    const lat = [0, 1, 2, 3, 4].map(() => this.alloc(nodes, "RNN-T lattice"));
    const ones = this.upload(new Float32Array(B).fill(1));
    this.wasm.rnnt_loss_forward(losses, lat[0], lat[1], lat[2], lat[3], lat[4], z, tg, tl, ul, B, T, U1, V, blank);
    this.wasm.rnnt_loss_backward_inplace(z, losses, lat[0], lat[1], lat[2], lat[3], lat[4], ones, tg, tl, ul, B, T, U1, V, blank);
    return { losses: this.read(losses, B), grad: this.read(z, logits.length) };
  });
};

/** Arena pointers for rnntLossInPlace. */
export interface RnntArenaInputs {
  logits: number; // [B, T, U+1, V] f32; overwritten with the gradient
  targets: number; // [B, U] i32
  logitLengths: number; // [B] i32
  targetLengths: number; // [B] i32
  dlosses: number; // [B] f32: the weight of each utterance's loss (1 for a sum, 1/B for a mean)
}

/**
 * The training path: runs the loss on arena tensors and writes dlosses[b] * dL_b/dlogits OVER the
 * logits (no second [B,T,U+1,V] buffer). Returns the pointer of the losses [B], allocated in the arena
 * with the five [B,T,U+1] lattices (free them with the caller's mark). Inputs are not validated here:
 * lengths and targets must satisfy the rules checkRnntInputs enforces; blank must be in 0..V-1.
 */
export function rnntLossInPlace(e: Engine, p: RnntArenaInputs, shape: readonly [number, number, number, number], blank = 0): number {
  const [B, T, U1, V] = shape;
  const losses = e.alloc(B, "losses");
  const lat = [0, 1, 2, 3, 4].map(() => e.alloc(B * T * U1, "RNN-T lattice"));
  e.wasm.rnnt_loss_forward(losses, lat[0], lat[1], lat[2], lat[3], lat[4], p.logits, p.targets, p.logitLengths, p.targetLengths, B, T, U1, V, blank);
  e.wasm.rnnt_loss_backward_inplace(p.logits, losses, lat[0], lat[1], lat[2], lat[3], lat[4], p.dlosses, p.targets, p.logitLengths, p.targetLengths, B, T, U1, V, blank);
  return losses;
}
