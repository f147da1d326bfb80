// In-place distillation on the host: the options, results and input check of assembly/transducer/kd.ts.
//
// What it is: the types and `checkKdInputs` of AlphaNet's adaptive alpha-divergence between the
// teacher's log-probabilities and the student's logits over each utterance's RNN-T lattice. The
// copying wrapper the tests use (kdAlpha: check, copy in, run kd_alpha_forward_backward, fresh arrays
// out) is in test/kernels.ts. What it is not: the training path, which calls the kernel on arena pointers (teacher logits
// turned into log-probs in place by log_softmax_forward, dstudent accumulating beside the RNN-T
// gradient). Semantics and formulas: the header of assembly/transducer/kd.ts.

import { EngineError } from "./engine.js";

export interface KdDims {
  B: number;
  T: number;
  /** Labels + 1: the lattice's U. */
  U1: number;
  V: number;
}

export interface KdAlphaOptions {
  /** AlphaNet's α-; default -1. */
  alphaNeg?: number;
  /** AlphaNet's α+; default 1 (KL(p‖q)). alphaNeg = alphaPos = 1 is plain KL. */
  alphaPos?: number;
  /** The clip of w^α (of w itself for α ≈ 0); default 5. Not applied at α ≈ 1. */
  clip?: number;
}

export const KD_ALPHA_DEFAULTS: Required<KdAlphaOptions> = { alphaNeg: -1, alphaPos: 1, clip: 5 };

export interface KdAlphaResult {
  /** KD_b = max(D_α-(b), D_α+(b)) per utterance, [B], unscaled. */
  losses: Float32Array;
  /** scale_b/|N_b| times the surrogate's gradient w.r.t. the student logits, [B,T,U1,V]; 0 off the lattice. */
  grad: Float32Array;
}

/** Throws unless the inputs describe a valid batch (teacher rows on the lattice must be log-probs). */
export function checkKdInputs(
  student: ArrayLike<number>, teacherLogProbs: ArrayLike<number>, tlens: ArrayLike<number>, ulens: ArrayLike<number>,
  scales: ArrayLike<number>, dims: KdDims, opts: Required<KdAlphaOptions>,
): void {
  const { B, T, U1, V } = dims;
  if (![B, T, U1, V].every((d) => Number.isInteger(d) && d >= 1)) {
    throw new EngineError(`kdAlpha: dims must be positive integers, got B=${B} T=${T} U1=${U1} V=${V}`);
  }
  const n = B * T * U1 * V;
  if (student.length !== n || teacherLogProbs.length !== n) {
    throw new EngineError(`kdAlpha: student has ${student.length} and teacher ${teacherLogProbs.length} values; [B,T,U1,V] needs ${n}`);
  }
  if (tlens.length !== B || ulens.length !== B || scales.length !== B) throw new EngineError(`kdAlpha: tlens, ulens and scales need B = ${B} entries`);
  if (!(opts.clip > 0) || !Number.isFinite(opts.alphaNeg) || !Number.isFinite(opts.alphaPos)) {
    throw new EngineError(`kdAlpha: need finite alphas and clip > 0, got alphaNeg=${opts.alphaNeg} alphaPos=${opts.alphaPos} clip=${opts.clip}`);
  }
  for (let b = 0; b < B; b++) {
    const Tb = tlens[b], Ub = ulens[b];
    if (!Number.isInteger(Tb) || Tb < 0 || Tb > T) throw new EngineError(`kdAlpha: tlens[${b}] = ${Tb} not in 0..${T}`);
    if (!Number.isInteger(Ub) || Ub < 0 || Ub > U1 - 1) throw new EngineError(`kdAlpha: ulens[${b}] = ${Ub} not in 0..${U1 - 1}`);
    // A teacher given as raw logits would silently give a wrong divergence: check each lattice row.
    for (let t = 0; t < Tb; t++) {
      for (let u = 0; u <= Ub; u++) {
        const o = ((b * T + t) * U1 + u) * V;
        let s = 0;
        for (let k = 0; k < V; k++) s += Math.exp(teacherLogProbs[o + k]);
        // f32 log-probs sum to 1 within ~V ulp; 1e-3 only rejects unnormalized rows.
        if (!(Math.abs(s - 1) < 1e-3)) {
          throw new EngineError(`kdAlpha: teacher row (b=${b}, t=${t}, u=${u}) sums to ${s} in probability: pass log-probs (log_softmax), not logits`);
        }
      }
    }
  }
}
