// RNN-T loss on the host: `checkRnntInputs` and `rnntLossInPlace`, the training path's call on arena
// tensors over assembly/transducer/rnnt.ts (rnnt_loss_forward / rnnt_loss_backward_inplace, no second
// [B,T,U+1,V] buffer).
// What it is not: the copying wrapper the tests use (rnntLoss: copy in, fresh arrays out, the
// caller's logits untouched), which is in test/kernels.ts.
// Reference semantics: torchaudio.functional.rnnt_loss(..., reduction='none', clamp=-1).

import { EngineError, type Engine } from "./engine.js";

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
