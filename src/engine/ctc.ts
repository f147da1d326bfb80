// CTC loss on the host: `checkCtcInputs` and `ctcLossArena`, the training path's call on arena tensors
// (src/model/model.ts, the auxiliary CTC head), over assembly/transducer/ctc.ts.
//
// What it is: the input check and the unvalidated arena call. The copying wrapper the tests use
// (ctcLoss: validate, copy in, fresh arrays out) is in test/kernels.ts. What it is not: a reduction or a blank other than 0.
// Reference semantics: torch.nn.functional.ctc_loss(log_softmax(logits), ..., blank=0, reduction='none',
// zero_infinity=True): an utterance no alignment fits gets loss 0 and gradient 0.

import { EngineError, type Engine } from "./engine.js";

export interface CtcLossResult {
  /** One loss per utterance, -log p(y | x), [B]; 0 for an infeasible utterance. */
  losses: Float32Array;
  /** d(sum of losses)/d(logits), [B, T, V]; zero at frames t >= inputLengths[b] and for infeasible utterances. */
  grad: Float32Array;
  /** How many utterances had no alignment (T_b < U_b + repeats) and were zeroed. */
  infeasible: number;
}

/** Throws unless the shapes, lengths and targets describe a valid batch. */
export function checkCtcInputs(
  logits: ArrayLike<number>, shape: readonly number[], targets: ArrayLike<number>, U: number,
  inputLengths: ArrayLike<number>, targetLengths: ArrayLike<number>,
): void {
  if (shape.length !== 3 || !shape.every((d) => Number.isInteger(d) && d >= 1)) {
    throw new EngineError(`ctcLoss: shape must be [B, T, V] of positive integers, got [${shape.join(", ")}]`);
  }
  const [B, T, V] = shape;
  if (V < 2) throw new EngineError(`ctcLoss: V = ${V}, needs the blank and at least one symbol`);
  if (logits.length !== B * T * V) throw new EngineError(`ctcLoss: logits has ${logits.length} values, [${shape.join(", ")}] needs ${B * T * V}`);
  if (!Number.isInteger(U) || U < 0 || targets.length !== B * U) throw new EngineError(`ctcLoss: targets has ${targets.length} values, [B, U] = [${B}, ${U}] needs ${B * U}`);
  if (inputLengths.length !== B || targetLengths.length !== B) throw new EngineError(`ctcLoss: lengths must have B = ${B} entries`);
  for (let b = 0; b < B; b++) {
    const Tb = inputLengths[b], Ub = targetLengths[b];
    if (!Number.isInteger(Tb) || Tb < 0 || Tb > T) throw new EngineError(`ctcLoss: inputLengths[${b}] = ${Tb} not in 0..${T}`);
    if (!Number.isInteger(Ub) || Ub < 0 || Ub > U) throw new EngineError(`ctcLoss: targetLengths[${b}] = ${Ub} not in 0..${U}`);
    for (let u = 0; u < Ub; u++) {
      const y = targets[b * U + u];
      if (!Number.isInteger(y) || y < 1 || y >= V) throw new EngineError(`ctcLoss: targets[${b}, ${u}] = ${y} not in 1..${V - 1} (0 is the blank)`);
    }
  }
}

/** Arena pointers for ctcLossArena. */
export interface CtcArenaInputs {
  logits: number; // [B, T, V] f32, row stride ld
  dlogits: number; // [B, T, V] f32, row stride ld: the gradient ACCUMULATES here
  targets: number; // [B, U] i32
  inputLengths: number; // [B] i32
  targetLengths: number; // [B] i32
  dlosses: number; // [B] f32: the weight of each utterance's loss
}

/**
 * Forward and backward on arena tensors: dlogits += dlosses[b] * dL_b/dlogits. Returns the losses' pointer
 * ([B], in the arena with the scratch; free both with the caller's mark) and the infeasible count.
 * Inputs are not validated: they must satisfy checkCtcInputs.
 */
export function ctcLossArena(e: Engine, p: CtcArenaInputs, B: number, T: number, U: number, V: number, ld: number): { losses: number; infeasible: number } {
  const losses = e.alloc(B, "CTC losses");
  const scratch = e.alloc(e.wasm.ctc_scratch(B, T, U, V), "CTC scratch");
  const infeasible = e.wasm.ctc_loss_forward(losses, scratch, p.logits, p.targets, p.inputLengths, p.targetLengths, B, T, U, V, ld);
  e.wasm.ctc_loss_backward(p.dlogits, scratch, p.dlosses, p.targets, p.inputLengths, p.targetLengths, B, T, U, V, ld);
  return { losses, infeasible };
}
