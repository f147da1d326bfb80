// Pruned RNN-T on the host: free functions over engine memory for the kernels of assembly/transducer/.
//
// What it is: the simple loss (trivial joiner am + lm, smoothed) with its occupations, the prune ranges drawn
// from them, the real joiner and the RNN-T loss on the T x sRange band, and icefall's warm-up of the two loss
// scales. Every tensor is an arena pointer; these functions allocate their outputs and saved lattices in the
// arena (free them with the caller's mark) and do not validate lengths or targets (checkRnntInputs does that).
// What it is not: the model's step (src/model/model.ts prunedTransducer drives these under model.loss "pruned"); no prototype
// patching of Engine. Reference: /work/shared/PAPERS.md "Pruned RNN-T"; tests in test/rnnt-pruned.test.ts.
//
// A step, in order: simpleLoss -> pruneRanges -> prunedJoinerLoss (forward, in-place loss backward, joiner
// backward) -> simpleLossBackward; the loss is scales.simple * simple + scales.pruned * pruned.

import { EngineError, type Engine } from "../engine/engine.js";
import { joinerPointers, type JoinerConfig } from "./joiner.js";

/** Arena pointers shared by both losses. U1 = labels + 1 (the kernels' U). */
export interface TransducerTargets {
  targets: number; // [B, U1-1] i32, padded
  logitLengths: number; // [B] i32 in 1..T
  targetLengths: number; // [B] i32 in 0..U1-1
  dlosses: number; // [B] f32: each utterance's weight in the summed loss (1, or 1/B for a mean, times the scale)
}

export interface SimpleLossOptions {
  /** k2 lm_only_scale (icefall lm_scale). Default 0.25. */
  lmScale?: number;
  /** k2 am_only_scale (icefall am_scale): the am-only term under the batch's unigram LM. Default 0. */
  amScale?: number;
  /** Blank index. Default 0. */
  blank?: number;
}

/** What simpleLoss keeps for pruneRanges and simpleLossBackward (all [B,T,U1] unless said). */
export interface SimpleLossSaved {
  B: number; T: number; U1: number; V: number; blank: number; lmScale: number; amScale: number;
  am: number; lm: number; tg: TransducerTargets;
  losses: number; // [B]
  norm: number; side: number; // side [B*(T+U1) + V]
  lpBlank: number; lpLabel: number; alpha: number; beta: number;
  pxGrad: number; pyGrad: number; // arc occupations (k2's px_grad, py_grad)
}

function checkScales(lmScale: number, amScale: number): void {
  if (!(lmScale >= 0 && amScale >= 0 && lmScale + amScale <= 1)) {
    throw new EngineError(`src/model/rnnt_pruned.ts: lmScale ${lmScale} and amScale ${amScale} must be >= 0 with a sum <= 1`);
  }
}

/**
 * The simple loss's forward and its arc occupations. am [B,T,V] (encoder projected to V), lm [B,U1,V]
 * (predictor projected to V). Losses at `saved.losses` [B].
 */
export function simpleLoss(
  e: Engine, am: number, lm: number, tg: TransducerTargets, dims: { B: number; T: number; U1: number; V: number }, opts: SimpleLossOptions = {},
): SimpleLossSaved {
  const { B, T, U1, V } = dims;
  const lmScale = opts.lmScale ?? 0.25, amScale = opts.amScale ?? 0, blank = opts.blank ?? 0;
  checkScales(lmScale, amScale);
  if (!Number.isInteger(blank) || blank < 0 || blank >= V) throw new EngineError(`src/model/rnnt_pruned.ts: blank ${blank} not in 0..${V - 1}`);
  const nodes = B * T * U1;
  const losses = e.alloc(B, "simple losses"), side = e.alloc(B * (T + U1) + V, "simple side normalisers");
  const [norm, lpBlank, lpLabel, alpha, beta, pxGrad, pyGrad] = [0, 1, 2, 3, 4, 5, 6].map(() => e.alloc(nodes, "simple RNN-T lattice"));
  e.scoped(() => {
    const scratch = e.alloc(e.wasm.rnnt_simple_scratch(T, U1, V), "simple loss scratch");
    e.wasm.rnnt_simple_forward(losses, norm, side, lpBlank, lpLabel, alpha, beta, am, lm, tg.targets, tg.logitLengths, tg.targetLengths, scratch, B, T, U1, V, blank, lmScale, amScale);
  });
  e.wasm.rnnt_simple_occupation(pxGrad, pyGrad, losses, lpBlank, lpLabel, alpha, beta, tg.logitLengths, tg.targetLengths, B, T, U1);
  return { B, T, U1, V, blank, lmScale, amScale, am, lm, tg, losses, norm, side, lpBlank, lpLabel, alpha, beta, pxGrad, pyGrad };
}

/** Accumulates tg.dlosses[b]·dL_b/dam into dam [B,T,V] and .../dlm into dlm [B,U1,V]. */
export function simpleLossBackward(e: Engine, s: SimpleLossSaved, dam: number, dlm: number): void {
  const { B, T, U1, V, tg } = s;
  e.scoped(() => {
    const scratch = e.alloc(e.wasm.rnnt_simple_scratch(T, U1, V), "simple loss scratch");
    e.wasm.rnnt_simple_backward(dam, dlm, s.norm, s.side, s.pxGrad, s.pyGrad, tg.dlosses, s.am, s.lm, tg.targets, tg.logitLengths, tg.targetLengths, scratch, B, T, U1, V, s.blank, s.lmScale, s.amScale);
  });
}

/**
 * Band starts [B,T] i32 (arena) from the simple loss's occupations: sRange symbols per frame, starting at 0,
 * never decreasing, steps <= sRange-1, the last frame ending at the utterance's last symbol (see
 * rnnt_prune_ranges in assembly/transducer/rnnt_prune_ranges.ts for the exact rule). icefall prune_range 5.
 */
export function pruneRanges(e: Engine, s: SimpleLossSaved, sRange = 5): number {
  if (!Number.isInteger(sRange) || sRange < 2) throw new EngineError(`src/model/rnnt_pruned.ts: sRange must be an integer >= 2, got ${sRange}`);
  const ranges = e.alloc(s.B * s.T, "prune ranges");
  e.wasm.rnnt_prune_ranges(ranges, s.pxGrad, s.pyGrad, s.tg.logitLengths, s.tg.targetLengths, s.B, s.T, s.U1, sRange);
  return ranges;
}

/** The joiner's inputs and their gradients (accumulated), arena pointers. */
export interface JoinerIO { enc: number; pred: number; denc: number; dpred: number }

/**
 * The training path of the pruned loss: the joiner on the band, the band's RNN-T loss, its gradient written over
 * the band logits, and the joiner's backward accumulating into dparams (joiner layout, src/model/joiner.ts), denc
 * [B,T,Denc] and dpred [B,U1,Dpred]. enc [B,T,Denc], pred [B,U1,Dpred], ranges [B,T] i32 (pruneRanges).
 * Returns the pointer of the losses [B] (+inf for an utterance whose band admits no path: gradient 0).
 * opts.teacherOut: also write the band's log-probabilities [B,T,R,V] there (a distilling teacher, prunedKd).
 */
export function prunedJoinerLoss(
  e: Engine, cfg: JoinerConfig, params: number, dparams: number, io: JoinerIO, ranges: number,
  tg: TransducerTargets, dims: { B: number; T: number; U1: number }, opts: { sRange?: number; blank?: number; teacherOut?: number } = {},
): number {
  const { B, T, U1 } = dims;
  const { enc, pred, denc, dpred } = io;
  const sRange = opts.sRange ?? 5, blank = opts.blank ?? 0;
  const { encDim, predDim, joinDim: J, vocab: V } = cfg;
  if (!Number.isInteger(sRange) || sRange < 2) throw new EngineError(`src/model/rnnt_pruned.ts: sRange must be an integer >= 2, got ${sRange}`);
  const R = sRange, rows = B * T * R;
  const w = joinerPointers(cfg, params), d = joinerPointers(cfg, dparams);
  const losses = e.alloc(B, "pruned losses");
  e.scoped(() => {
    const logits = e.alloc(rows * V, "pruned joiner logits"), h = e.alloc(rows * J, "pruned joiner activations");
    e.scoped(() => {
      const scratch = e.alloc(e.wasm.rnnt_pruned_joiner_forward_scratch(B, T, U1, J), "pruned joiner scratch");
      e.wasm.rnnt_pruned_joiner_forward(logits, h, enc, pred, ranges, w["enc.weight"], w["enc.bias"], w["pred.weight"], w["pred.bias"], w["out.weight"], w["out.bias"], scratch, B, T, U1, R, encDim, predDim, J, V, encDim, predDim, J);
    });
    // a distilling teacher keeps its band's log-probabilities [B,T,R,V] before the loss overwrites the logits
    if (opts.teacherOut) e.wasm.log_softmax_forward(opts.teacherOut, logits, rows, V);
    const lat = [0, 1, 2, 3, 4].map(() => e.alloc(rows, "pruned RNN-T lattice"));
    e.wasm.rnnt_pruned_loss_forward(losses, lat[0], lat[1], lat[2], lat[3], lat[4], logits, ranges, tg.targets, tg.logitLengths, tg.targetLengths, B, T, U1, R, V, blank);
    e.wasm.rnnt_pruned_loss_backward_inplace(logits, losses, lat[0], lat[1], lat[2], lat[3], lat[4], tg.dlosses, ranges, tg.targets, tg.logitLengths, tg.targetLengths, B, T, U1, R, V, blank);
    const scratch = e.alloc(e.wasm.rnnt_pruned_joiner_backward_scratch(B, T, U1, J), "pruned joiner backward scratch");
    e.wasm.rnnt_pruned_joiner_backward(
      denc, dpred, d["enc.weight"], d["enc.bias"], d["pred.weight"], d["pred.bias"], d["out.weight"], d["out.bias"],
      h, logits, enc, pred, ranges, w["enc.weight"], w["pred.weight"], w["out.weight"], scratch,
      B, T, U1, R, encDim, predDim, J, V, encDim, predDim, J,
    );
  });
  return losses;
}

/** What a distilled student reads of the teacher's step: its band starts [B,T] i32 and log-probabilities there [B,T,R,V]. */
export interface TeacherBand {
  ranges: number;
  logprobs: number;
}

/**
 * In-place distillation on the teacher's band (model.loss "pruned", supernet.kd.lattice "band"): the student's
 * joiner on the teacher's band, the alpha-divergence against the teacher's log-probabilities there over the
 * band's lattice nodes (kd_alpha_band_forward_backward), and the joiner's backward of that gradient into
 * dparams, denc and dpred. kd.scales [B] f32 weight each utterance (lambda times the loss scale); lens are
 * the T_b [B] i32 and U_b [B] i32. Returns the sum of the per-utterance divergences.
 */
export function prunedKd(
  e: Engine, cfg: JoinerConfig, params: number, dparams: number, io: JoinerIO, teacher: TeacherBand,
  kd: { scales: number; logitLengths: number; targetLengths: number; alphaNeg: number; alphaPos: number; clip: number },
  dims: { B: number; T: number; U1: number }, sRange: number,
): number {
  const { B, T, U1 } = dims;
  const { encDim, predDim, joinDim: J, vocab: V } = cfg;
  const R = sRange, rows = B * T * R;
  const w = joinerPointers(cfg, params), d = joinerPointers(cfg, dparams);
  let sum = 0;
  e.scoped(() => {
    const logits = e.alloc(rows * V, "band joiner logits"), h = e.alloc(rows * J, "band joiner activations");
    e.scoped(() => {
      const scratch = e.alloc(e.wasm.rnnt_pruned_joiner_forward_scratch(B, T, U1, J), "band joiner scratch");
      e.wasm.rnnt_pruned_joiner_forward(logits, h, io.enc, io.pred, teacher.ranges, w["enc.weight"], w["enc.bias"], w["pred.weight"], w["pred.bias"], w["out.weight"], w["out.bias"], scratch, B, T, U1, R, encDim, predDim, J, V, encDim, predDim, J);
    });
    const dlogits = e.alloc(rows * V, "band distillation gradient");
    e.wasm.mem_zero_f32(dlogits, rows * V);
    const losses = e.alloc(B, "band distillation losses");
    const scratch = e.alloc(e.wasm.kd_alpha_scratch(V), "distillation scratch");
    e.wasm.kd_alpha_band_forward_backward(losses, dlogits, logits, teacher.logprobs, kd.logitLengths, kd.targetLengths, kd.scales, teacher.ranges, scratch, B, T, R, V, kd.alphaNeg, kd.alphaPos, kd.clip);
    for (const v of e.read(losses, B)) sum += v;
    const bscratch = e.alloc(e.wasm.rnnt_pruned_joiner_backward_scratch(B, T, U1, J), "band joiner backward scratch");
    e.wasm.rnnt_pruned_joiner_backward(
      io.denc, io.dpred, d["enc.weight"], d["enc.bias"], d["pred.weight"], d["pred.bias"], d["out.weight"], d["out.bias"],
      h, dlogits, io.enc, io.pred, teacher.ranges, w["enc.weight"], w["pred.weight"], w["out.weight"], bscratch,
      B, T, U1, R, encDim, predDim, J, V, encDim, predDim, J,
    );
  });
  return sum;
}

/**
 * icefall's warm-up of the two loss scales (train.py, pruned_transducer_stateless): with f = min(step / warmSteps, 1),
 *   simple = 1 - f·(1 - simpleFinal)   (1.0 -> simpleFinal, icefall simple_loss_scale 0.5)
 *   pruned = 0.1 + 0.9·f               (0.1 -> 1.0)
 * and loss = simple·L_simple + pruned·L_pruned. icefall's warm_step is 2000 batches; scale it to the run.
 * warmSteps <= 0 means no warm-up (the final scales from step 0).
 */
export function prunedLossScales(step: number, warmSteps: number, simpleFinal = 0.5): { simple: number; pruned: number } {
  const f = warmSteps > 0 ? Math.min(Math.max(step, 0) / warmSteps, 1) : 1;
  return { simple: 1 - f * (1 - simpleFinal), pruned: 0.1 + 0.9 * f };
}
