// The whole transducer on the engine: features -> convolutional subsampling -> Stateformer blocks
// (the tape) -> joiner with the LSTM predictor -> RNN-T loss, for any subnet of the Supernet.
//
// The encoder (encoder.ts, recorded by tape_ops.ts) runs on the autograd tape. The transducer half has
// a fixed structure and large activations, so it is driven directly by its kernels' forward/backward
// pairs (predictor.ts, joiner.ts, src/engine/rnnt.ts); its gradient with respect to the encoder output lands in the tape's
// gradient of that tensor, and one `tape_backward` call finishes the encoder. A Supernet step
// (sandwichStep) runs the frontend (normalisation, subsampling: no dropout, not elastic) once: each
// member back-propagates only its own records (`tape_backward_from`), its gradient w.r.t. the frontend's
// output accumulating there, and the frontend's records run backward once at the end.
// With model.ctcWeight = w > 0 each member also trains an auxiliary CTC head on its encoder output
// (hybrid CTC/transducer: loss RNN-T + w·CTC, src/engine/ctc.ts); its gradient joins the joiner's in the encoder
// output's tape gradient before the encoder's backward. StepResult.lossSum stays the RNN-T loss.
// With model.loss = "pruned" (prunedTransducer) the transducer half is k2/icefall's pruned RNN-T
// (src/model/rnnt_pruned.ts): the simple loss on am = simple.am(enc), lm = simple.lm(pred), prune ranges
// from its occupations, the real joiner and the RNN-T loss on the T x pruneRange band only; the loss is
// scales.simple·simple + scales.pruned·pruned (icefall's warm-up, SandwichPlan.lossScales), lossSum the
// pruned loss and simpleSum the simple loss, both unweighted. Distillation under the pruned loss is on
// the full lattice, for the KD term alone (see prunedTransducer).
//
//   const model = new Model(engine, cfg);  model.params.init(seed);
//   const r = model.trainStep(batch, subnet, { dropout, seed });   // accumulates gradients
//   const hyps = model.decode(batch, subnet);                       // greedy search

import type { Engine } from "../engine/engine.js";
import { Tape, type T } from "../engine/tape.js";
import type { Batch } from "../data/batching.js";
import { greedySearch, modifiedBeamSearch, type FusionOptions, type Hypothesis } from "../decode/decode.js";
import { joinerBackward, joinerConfig, joinerForward } from "./joiner.js";
import { predictorBackward, predictorConfig, predictorForward } from "./predictor.js";
import { rnntLossInPlace } from "../engine/rnnt.js";
import { ctcLossArena } from "../engine/ctc.js";
import { transducerSearchModel } from "./search.js";
import { hasCtcHead, hasSimpleHead, PRUNED_DEFAULTS, subsampledLength, supernetSpec, validateConfig, type ModelConfig, type SubnetSpec } from "./config.js";
import { blocksForward, frontendForward, NO_DROPOUT, type DropoutRates } from "./encoder.js";
import { DropoutSeeds, ParamHandles, TapeOps } from "./tape_ops.js";
import { ModelParams } from "./params.js";
import { prunedJoinerLoss, prunedKd, prunedLossScales, pruneRanges, simpleLoss, simpleLossBackward, type TransducerTargets } from "./rnnt_pruned.js";

export { subsampledLength } from "./config.js";

export interface StepOptions {
  dropout?: DropoutRates;
  /** Seeds the step's dropout masks. */
  seed?: number;
  /** Weight of each utterance's loss in the gradient (default 1/B: the batch mean). */
  lossScale?: number;
  /**
   * Each utterance's index in the whole batch when this batch is a shard of it (data-parallel
   * training, src/train/parallel.ts); default 0..B-1. Dropout masks are drawn per (seed, index).
   */
  utterances?: ArrayLike<number>;
  /**
   * model.loss "pruned": the weights of the simple and the pruned loss (icefall's warm-up, prunedLossScales).
   * Default: the final ones, { simple: model.simpleLossScale, pruned: 1 }. Ignored by the full loss.
   */
  lossScales?: LossScales;
}

/** The weights of the pruned RNN-T's two losses in a step (src/model/rnnt_pruned.ts prunedLossScales). */
export interface LossScales {
  simple: number;
  pruned: number;
}

/** In-place distillation of a student subnet by the largest (AlphaNet's adaptive alpha-divergence, assembly/transducer/kd.ts). */
export interface KdOptions {
  /** a student's loss is (1 - lambda)·RNN-T + lambda·KD */
  lambda: number;
  /** alphaNeg = alphaPos = 1 is plain KL(teacher || student). */
  alphaNeg: number;
  alphaPos: number;
  clip: number;
  /**
   * model.loss "pruned" only: where a student learns from the teacher. "band": on the teacher's pruned band
   * (its prune ranges, R nodes per frame); "full": on the full T x (U+1) lattice, which costs every member the
   * full joiner again. Default "band" (supernet.kd.lattice, src/model/supernet.ts, says what it measured).
   */
  lattice?: "band" | "full";
}

/** One subnet of a sandwich step and its dropout. */
export interface SandwichMember {
  spec: SubnetSpec;
  dropout: DropoutRates;
  /** This student's KD weight instead of the plan's kd.lambda (supernet.kd.sizeGamma); ignored for the teacher. */
  kdLambda?: number;
}

/** A Supernet step: members[0] is the largest (the teacher); the others learn from it when kd is set. */
export interface SandwichPlan {
  members: SandwichMember[];
  kd: KdOptions | null;
  /**
   * Run the frontend (normalisation, subsampling) once for all members and back-propagate it once with
   * their summed gradients (default true). Same losses; its parameters' gradients differ by f32 rounding.
   */
  shareFrontend?: boolean;
  /** model.loss "pruned": this step's loss weights (every member's); default the final ones. */
  lossScales?: LossScales;
}

/** Where a step's distillation stands: the teacher writes its log-probabilities, a student reads them. */
/**
 * Where a step's distillation stands: the teacher writes its log-probabilities, a student reads them. With
 * `ranges` (model.loss "pruned", KdOptions.lattice "band") they are the teacher's band's [B,T',R,V] and the
 * teacher also writes its band starts [B,T'] i32 there; without, the full lattice's [B,T',U+1,V].
 */
export type KdRole = { teacherOut: number; ranges?: number } | { teacher: number; ranges?: number; opts: KdOptions };

export interface StepResult {
  /** Sum over the batch of per-utterance losses (nats). */
  lossSum: number;
  /** Sum over the batch of per-utterance distillation divergences (students only; 0 otherwise). */
  kdSum?: number;
  /**
   * Sum over the batch of per-utterance auxiliary CTC losses (nats, before the weight model.ctcWeight;
   * 0 without the CTC head). lossSum stays the RNN-T loss alone.
   */
  ctcSum?: number;
  /** Utterances whose labels do not fit their encoder frames for CTC (loss 0, no gradient: zero_infinity). */
  ctcInfeasible?: number;
  /**
   * model.loss "pruned": sum over the batch of per-utterance simple losses (nats, unweighted). lossSum and
   * losses are then the pruned loss's (+inf for an utterance with more labels than (pruneRange-1)·frames).
   */
  simpleSum?: number;
  losses: Float32Array;
  /** Encoder frames after subsampling, summed over the batch. */
  frames: number;
}

/** One sandwich member's sums over the batch (StepResult's; 0 where the model has no such term). */
export interface MemberSums {
  lossSum: number;
  kdSum: number;
  ctcSum: number;
  simpleSum: number;
}

/** The frontend's output on the tape: h [B, T', d], T' and the valid frames per utterance (i32 [B] in the arena). */
interface Frontend {
  h: T;
  T2: number;
  lensPtr: number;
}

export class Model {
  readonly params: ModelParams;
  readonly handles: ParamHandles;
  readonly tape: Tape;

  constructor(readonly engine: Engine, readonly cfg: ModelConfig) {
    validateConfig(cfg);
    this.params = new ModelParams(engine, cfg);
    this.handles = new ParamHandles(engine, this.params);
    this.tape = new Tape(engine, 1 << 16);
  }

  /**
   * The member-independent head of the encoder on the tape: normalisation (on the host, into the
   * arena), the convolutional subsampling and its output projection, and each utterance's frame count
   * after it. No dropout, nothing elastic: every subnet of a sandwich step gets the same output.
   */
  private frontend(batch: Batch): Frontend {
    const { engine: e, cfg } = this;
    const { B, T, F } = batch;
    if (F !== cfg.featDim) throw new Error(`the batch has ${F} feature bins, the model expects ${cfg.featDim}`);
    const T2 = subsampledLength(T, cfg.causal);
    if (T2 < 1) throw new Error(`a batch of ${T} frames is too short for subsampling by 4`);
    const h = frontendForward(new TapeOps(this.tape, this.handles, cfg, B, T), cfg, batch.feats)!;
    const lensPtr = e.alloc(B, "lengths"); // i32 [B], in the arena until the step's reset
    for (let b = 0; b < B; b++) e.i32[(lensPtr >> 2) + b] = Math.min(T2, subsampledLength(batch.featLens[b], cfg.causal));
    return { h, T2, lensPtr };
  }

  /** The subnet's first `sub.layers` blocks on the tape, from the frontend's output. */
  private encodeBlocks(front: Frontend, B: number, sub: SubnetSpec, drop: DropoutRates, seeds: DropoutSeeds) {
    const cfg = this.cfg;
    if (sub.layers > cfg.layers || sub.ffDim > cfg.ffDim || sub.heads > cfg.heads) {
      throw new Error(`subnet L${sub.layers}-ff${sub.ffDim}-h${sub.heads} exceeds the Supernet L${cfg.layers}-ff${cfg.ffDim}-h${cfg.heads}`);
    }
    const { T2, lensPtr } = front;
    let h = front.h;
    const mask = cfg.convKernel ? this.frameMask(lensPtr, B, T2) : 0;
    h = blocksForward(new TapeOps(this.tape, this.handles, cfg, B, T2, { lensPtr, drop, seeds, mask }), cfg, sub, h);
    return { enc: h, T2, lensPtr };
  }

  /** A [B·T, d] tensor of ones on valid frames and zeros past each utterance's length. */
  private frameMask(lensPtr: number, B: number, T_: number): T {
    const d = this.cfg.dModel;
    const m = this.engine.wasm.tensor_new(B * T_ * d, 0);
    if (m === 0) throw new Error("out of WASM memory for the frame mask: lower batch.maxFrames");
    const base = this.engine.wasm.tensor_data(m) >> 2, f32 = this.engine.f32, i32 = this.engine.i32; // views taken after the allocation
    for (let b = 0; b < B; b++) {
      const len = i32[(lensPtr >> 2) + b];
      f32.fill(1, base + b * T_ * d, base + (b * T_ + len) * d).fill(0, base + (b * T_ + len) * d, base + (b + 1) * T_ * d);
    }
    return m;
  }

  /**
   * Forward and backward of one batch through a subnet: gradients ACCUMULATE into the gradient
   * region (zero it with params.zeroGrad() before a step). Frees its activations on return.
   */
  trainStep(batch: Batch, sub: SubnetSpec = supernetSpec(this.cfg), opts: StepOptions = {}, kd?: KdRole): StepResult {
    this.tape.begin();
    try {
      return this.memberStep(batch, this.frontend(batch), 0, sub, opts, kd);
    } finally {
      this.tape.end();
    }
  }

  /**
   * One subnet's forward and backward from the frontend's output `front`, whose ops are the tape's
   * records [0, lo): back-propagates the records from `lo` on only, so with lo = 0 the frontend too
   * (trainStep) and with lo > 0 the frontend's gradient just accumulates in front.h (sandwichStep).
   */
  private memberStep(batch: Batch, front: Frontend, lo: number, sub: SubnetSpec, opts: StepOptions, kd?: KdRole): StepResult {
    const { engine: e } = this;
    const { B, U } = batch;
    const seeds = new DropoutSeeds(opts.seed ?? 0, opts.utterances);
    const { enc, T2, lensPtr } = this.encodeBlocks(front, B, sub, opts.dropout ?? NO_DROPOUT, seeds);
    const U1 = U + 1;
    // predictor input: blank (id 0) then the labels, written straight into the arena
    const idsPtr = e.alloc(B * U1, "predictor ids");
    const i32 = e.i32, ids = idsPtr >> 2;
    for (let b = 0; b < B; b++) {
      i32[ids + b * U1] = 0;
      for (let u = 0; u < U; u++) i32[ids + b * U1 + u + 1] = batch.tokens[b * U + u];
    }
    const scale = opts.lossScale ?? 1 / B;
    const lambda = kd && "teacher" in kd ? kd.opts.lambda : 0;
    const t = hasSimpleHead(this.cfg)
      ? this.prunedTransducer(batch, enc, T2, lensPtr, idsPtr, scale, lambda, opts.lossScales, kd)
      : this.fullTransducer(batch, enc, T2, lensPtr, idsPtr, scale, lambda, kd);
    const { lossValues, kdSum, targets, tokenLens } = t;
    // The CTC term keeps its full weight for distilled students too (not (1 - lambda)·w): it trains the
    // shared encoder acoustically whatever the member learns its transducer outputs from.
    const ctc = hasCtcHead(this.cfg) ? this.ctcHead(enc, B, T2, U, lensPtr, targets, tokenLens, this.cfg.ctcWeight! * scale) : { sum: 0, infeasible: 0 };
    e.wasm.tape_backward_from(0, lo); // the encoder output's gradient is already in place
    let lossSum = 0, frames = 0;
    for (let b = 0; b < B; b++) {
      lossSum += lossValues[b];
      frames += e.i32[(lensPtr >> 2) + b];
    }
    return {
      lossSum, kdSum, losses: lossValues, frames,
      ...(hasCtcHead(this.cfg) ? { ctcSum: ctc.sum, ctcInfeasible: ctc.infeasible } : {}),
      ...(t.simpleSum !== undefined ? { simpleSum: t.simpleSum } : {}),
    };
  }

  /**
   * The full-lattice transducer half of a member step: predictor, joiner on all T' x (U+1) nodes, the
   * RNN-T loss (and KD) with its gradient written over the logits, and the backward of joiner and
   * predictor, into the tape's gradient of enc. Returns the per-utterance losses and the uploaded targets.
   */
  private fullTransducer(batch: Batch, enc: T, T2: number, lensPtr: number, idsPtr: number, scale: number, lambda: number, kd?: KdRole) {
    const { engine: e } = this;
    const { B, U } = batch, U1 = U + 1;
    const dlosses = e.alloc(B, "loss weights");
    e.f32.fill((1 - lambda) * scale, dlosses >> 2, (dlosses >> 2) + B);
    const pcfg = predictorConfig(this.cfg), jcfg = joinerConfig(this.cfg);
    const pBase = this.params.get("predictor.embedding.weight"), jBase = this.params.get("joiner.enc.weight");
    const psaved = predictorForward(e, pcfg, pBase.ptr, idsPtr, B, U1);
    const jsaved = joinerForward(e, jcfg, jBase.ptr, e.wasm.tensor_data(enc), psaved.out, B, T2, U1);
    const V = this.cfg.vocabSize, nLogits = B * T2 * U1 * V;
    const tokenLens = e.upload(batch.tokenLens, "i32");
    let kdGrad = 0, kdSum = 0;
    if (kd && "teacherOut" in kd) {
      // the teacher's joiner distributions, detached, for the students of this step
      e.wasm.log_softmax_forward(kd.teacherOut, jsaved.logits, B * T2 * U1, V);
    } else if (kd && lambda > 0) {
      // KD's gradient goes to its own buffer: the RNN-T loss below overwrites the logits with its own
      kdGrad = e.alloc(nLogits, "distillation gradient");
      e.wasm.mem_zero_f32(kdGrad, nLogits);
      const kdLosses = e.alloc(B, "distillation losses"), kdScales = e.alloc(B, "distillation weights");
      e.f32.fill(lambda * scale, kdScales >> 2, (kdScales >> 2) + B);
      const o = kd.opts;
      const scratch = e.alloc(e.wasm.kd_alpha_scratch(V), "distillation scratch");
      e.wasm.kd_alpha_forward_backward(kdLosses, kdGrad, jsaved.logits, kd.teacher, lensPtr, tokenLens, kdScales, scratch, B, T2, U1, V, o.alphaNeg, o.alphaPos, o.clip);
      for (const v of e.read(kdLosses, B)) kdSum += v;
    }
    const targets = e.upload(batch.tokens.length ? batch.tokens : [0], "i32");
    const losses = rnntLossInPlace(e, {
      logits: jsaved.logits,
      targets,
      logitLengths: lensPtr,
      targetLengths: tokenLens,
      dlosses,
    }, [B, T2, U1, V], 0);
    if (kdGrad) e.wasm.add_forward(jsaved.logits, jsaved.logits, kdGrad, nLogits);
    const lossValues = e.read(losses, B); // the step's result: one small copy
    const dpred = e.alloc(B * U1 * pcfg.hidden);
    e.wasm.mem_zero_f32(dpred, B * U1 * pcfg.hidden);
    joinerBackward(e, jcfg, jBase.ptr, jBase.gptr, jsaved, jsaved.logits, e.wasm.tensor_grad(enc), dpred);
    predictorBackward(e, pcfg, pBase.ptr, pBase.gptr, psaved, dpred);
    return { lossValues, kdSum, targets, tokenLens, simpleSum: undefined as number | undefined };
  }

  /**
   * The pruned transducer half of a member step (model.loss "pruned"; k2/icefall, src/model/rnnt_pruned.ts):
   * am = simple.am(enc) [B,T',V], lm = simple.lm(pred) [B,U+1,V], the simple loss and its occupations, the
   * prune ranges, the joiner and the RNN-T loss on the band (gradients through the joiner into enc and
   * pred), and the simple loss's backward through both projections into enc and pred; the two losses
   * weighted by `scales` (and by 1 - lambda for a distilled student).
   *
   * Distillation (kd.ranges set, KdOptions.lattice "band", the default): the student learns from the teacher's
   * distributions on the TEACHER's band: the teacher writes its prune ranges and its band's log-probabilities,
   * and each student evaluates its joiner on that same band (a second band pass beside its own loss's) for
   * the alpha-divergence over the band's lattice nodes (src/model/rnnt_pruned.ts prunedKd). The teacher's
   * band is where its alignments carry their mass, so that is where its distributions say most; it is
   * computed once per step, and no member pays the full joiner. lattice "full": the student learns on the
   * FULL lattice, for the KD term alone: the teacher runs the full joiner forward (no backward) to write its
   * log-probabilities, a student runs it forward and backward for its KD gradient; the RNN-T terms stay
   * pruned. The two are compared in RESULTS.md (issue 16).
   */
  private prunedTransducer(batch: Batch, enc: T, T2: number, lensPtr: number, idsPtr: number, scale: number, lambda: number, lossScales?: LossScales, kd?: KdRole) {
    const { engine: e, cfg } = this;
    const { B, U } = batch, U1 = U + 1, V = cfg.vocabSize, d = cfg.dModel, P = cfg.predictorDim;
    const scales = lossScales ?? prunedLossScales(0, 0, cfg.simpleLossScale ?? PRUNED_DEFAULTS.simpleLossScale);
    const R = cfg.pruneRange ?? PRUNED_DEFAULTS.pruneRange;
    const weights = (w: number, what: string) => {
      const p = e.alloc(B, what);
      e.f32.fill(w, p >> 2, (p >> 2) + B);
      return p;
    };
    const dPruned = weights((1 - lambda) * scale * scales.pruned, "pruned loss weights");
    const dSimple = weights((1 - lambda) * scale * scales.simple, "simple loss weights");
    const pcfg = predictorConfig(cfg), jcfg = joinerConfig(cfg);
    const pBase = this.params.get("predictor.embedding.weight"), jBase = this.params.get("joiner.enc.weight");
    const psaved = predictorForward(e, pcfg, pBase.ptr, idsPtr, B, U1);
    const tokenLens = e.upload(batch.tokenLens, "i32");
    const targets = e.upload(batch.tokens.length ? batch.tokens : [0], "i32");
    const encData = e.wasm.tensor_data(enc), encGrad = e.wasm.tensor_grad(enc);
    const dpred = e.alloc(B * U1 * P, "predictor output gradient");
    e.wasm.mem_zero_f32(dpred, B * U1 * P);
    let kdSum = 0;
    if (kd && !kd.ranges && ("teacherOut" in kd || lambda > 0)) {
      // the full joiner, for distillation only (see above)
      const mark = e.mark();
      const jsaved = joinerForward(e, jcfg, jBase.ptr, encData, psaved.out, B, T2, U1);
      if ("teacherOut" in kd) {
        e.wasm.log_softmax_forward(kd.teacherOut, jsaved.logits, B * T2 * U1, V);
      } else {
        const nLogits = B * T2 * U1 * V;
        const kdGrad = e.alloc(nLogits, "distillation gradient");
        e.wasm.mem_zero_f32(kdGrad, nLogits);
        const kdLosses = e.alloc(B, "distillation losses"), kdScales = weights(lambda * scale, "distillation weights");
        const o = kd.opts;
        const scratch = e.alloc(e.wasm.kd_alpha_scratch(V), "distillation scratch");
        e.wasm.kd_alpha_forward_backward(kdLosses, kdGrad, jsaved.logits, kd.teacher, lensPtr, tokenLens, kdScales, scratch, B, T2, U1, V, o.alphaNeg, o.alphaPos, o.clip);
        for (const v of e.read(kdLosses, B)) kdSum += v;
        joinerBackward(e, jcfg, jBase.ptr, jBase.gptr, jsaved, kdGrad, encGrad, dpred);
      }
      e.reset(mark);
    }
    // the simple joiner: am = enc · Wam^T + bam, lm = pred · Wlm^T + blm
    const Wam = this.params.get("simple.am.weight"), bam = this.params.get("simple.am.bias");
    const Wlm = this.params.get("simple.lm.weight"), blm = this.params.get("simple.lm.bias");
    const am = e.alloc(B * T2 * V, "simple loss am"), lm = e.alloc(B * U1 * V, "simple loss lm");
    e.wasm.linear_forward(am, encData, Wam.ptr, bam.ptr, B * T2, d, V, d);
    e.wasm.linear_forward(lm, psaved.out, Wlm.ptr, blm.ptr, B * U1, P, V, P);
    const tg = (dlosses: number): TransducerTargets => ({ targets, logitLengths: lensPtr, targetLengths: tokenLens, dlosses });
    const simple = simpleLoss(e, am, lm, tg(dSimple), { B, T: T2, U1, V }, {
      lmScale: cfg.simpleLmScale ?? PRUNED_DEFAULTS.simpleLmScale, amScale: cfg.simpleAmScale ?? PRUNED_DEFAULTS.simpleAmScale,
    });
    const ranges = pruneRanges(e, simple, R);
    const io = { enc: encData, pred: psaved.out, denc: encGrad, dpred };
    const bandTeacher = kd?.ranges && "teacherOut" in kd;
    if (bandTeacher) e.i32.copyWithin(kd.ranges! >> 2, ranges >> 2, (ranges >> 2) + B * T2);
    const losses = prunedJoinerLoss(e, jcfg, jBase.ptr, jBase.gptr, io, ranges, tg(dPruned), { B, T: T2, U1 }, { sRange: R, teacherOut: bandTeacher ? (kd as { teacherOut: number }).teacherOut : 0 });
    if (kd?.ranges && "teacher" in kd && lambda > 0) {
      // distillation on the teacher's band (see above)
      const o = kd.opts;
      kdSum = prunedKd(e, jcfg, jBase.ptr, jBase.gptr, io, { ranges: kd.ranges, logprobs: kd.teacher },
        { scales: weights(lambda * scale, "distillation weights"), logitLengths: lensPtr, targetLengths: tokenLens, alphaNeg: o.alphaNeg, alphaPos: o.alphaPos, clip: o.clip }, { B, T: T2, U1 }, R);
    }
    const lossValues = e.read(losses, B);
    let simpleSum = 0;
    for (const v of e.read(simple.losses, B)) simpleSum += v;
    // the simple loss's backward, through both projections: d(enc) += dam · Wam, d(pred) += dlm · Wlm
    const dam = e.alloc(B * T2 * V, "simple loss am gradient"), dlm = e.alloc(B * U1 * V, "simple loss lm gradient");
    e.wasm.mem_zero_f32(dam, B * T2 * V);
    e.wasm.mem_zero_f32(dlm, B * U1 * V);
    simpleLossBackward(e, simple, dam, dlm);
    e.wasm.linear_backward(encGrad, Wam.gptr, bam.gptr, dam, encData, Wam.ptr, B * T2, d, V, d);
    e.wasm.linear_backward(dpred, Wlm.gptr, blm.gptr, dlm, psaved.out, Wlm.ptr, B * U1, P, V, P);
    predictorBackward(e, pcfg, pBase.ptr, pBase.gptr, psaved, dpred);
    return { lossValues, kdSum, targets, tokenLens, simpleSum };
  }

  /**
   * The auxiliary CTC loss on the encoder output enc [B·T', d]: logits = enc · ctc.weight^T + ctc.bias
   * [B·T', V], CTC (blank 0) over each utterance's valid frames, and its gradient times `weight` (the
   * step's ctcWeight / B) accumulated into the tape's gradient of enc and into the head's gradients.
   * Returns the unweighted sum of the per-utterance losses and the infeasible count.
   */
  private ctcHead(enc: T, B: number, T2: number, U: number, lensPtr: number, targets: number, tokenLens: number, weight: number): { sum: number; infeasible: number } {
    const e = this.engine, d = this.cfg.dModel, V = this.cfg.vocabSize, rows = B * T2;
    const W = this.params.get("ctc.weight"), bias = this.params.get("ctc.bias");
    const x = e.wasm.tensor_data(enc);
    const logits = e.alloc(rows * V, "CTC logits"), dlogits = e.alloc(rows * V, "CTC logit gradient");
    e.wasm.linear_forward(logits, x, W.ptr, bias.ptr, rows, d, V, d);
    e.wasm.mem_zero_f32(dlogits, rows * V);
    const dlosses = e.alloc(B, "CTC loss weights");
    e.f32.fill(weight, dlosses >> 2, (dlosses >> 2) + B);
    const { losses, infeasible } = ctcLossArena(e, { logits, dlogits, targets, inputLengths: lensPtr, targetLengths: tokenLens, dlosses }, B, T2, U, V, V);
    // inverts `logits = x · W^T + b`: d(enc) += dlogits · W, dW += dlogits^T · x, db += Σ rows
    e.wasm.linear_backward(e.wasm.tensor_grad(enc), W.gptr, bias.gptr, dlogits, x, W.ptr, rows, d, V, d);
    let sum = 0;
    for (const v of e.read(losses, B)) sum += v;
    return { sum, infeasible };
  }

  /**
   * One Supernet step (the sandwich rule): forward and backward of every member on the same batch, each
   * with its own dropout, gradients accumulated (zero them first). The first member, the largest, learns
   * from the labels and, when plan.kd is set, its joiner distributions (detached) teach the others in
   * place. The result's losses are the largest's; `members` holds each member's loss and KD sums.
   * With two or more members the frontend runs once and is back-propagated once (opts.shareFrontend, else
   * plan.shareFrontend, default true); false runs each member's full trainStep in turn.
   */
  sandwichStep(batch: Batch, plan: SandwichPlan, opts: Omit<StepOptions, "dropout"> & { shareFrontend?: boolean } = {}): StepResult & { members: MemberSums[] } {
    const e = this.engine;
    const { shareFrontend, ...stepOpts } = opts;
    opts = stepOpts;
    const share = (shareFrontend ?? plan.shareFrontend ?? true) && plan.members.length > 1;
    const useKd = plan.kd !== null && plan.kd.lambda > 0 && plan.members.length > 1;
    const mark = e.mark();
    try {
      const T2 = subsampledLength(batch.T, this.cfg.causal);
      const band = useKd && this.cfg.loss === "pruned" && (plan.kd!.lattice ?? "band") === "band";
      const nodes = band ? this.cfg.pruneRange ?? PRUNED_DEFAULTS.pruneRange : batch.U + 1;
      const teacher = useKd ? e.alloc(batch.B * T2 * nodes * this.cfg.vocabSize, "teacher log-probabilities") : 0;
      const ranges = band ? e.alloc(batch.B * T2, "teacher band starts") : 0;
      const memberOpts = (m: SandwichMember, i: number): [StepOptions, KdRole | undefined] => [
        // each member draws its own dropout masks: mix the member's index into the step seed
        { ...opts, dropout: m.dropout, lossScales: opts.lossScales ?? plan.lossScales, seed: i === 0 ? opts.seed : (Math.imul((opts.seed ?? 0) ^ 0x5bd1e995, 0x2c1b3c6d) + Math.imul(i, 0x297a2d39)) >>> 0 },
        !useKd ? undefined : i === 0 ? { teacherOut: teacher, ranges } : { teacher, ranges, opts: m.kdLambda === undefined ? plan.kd! : { ...plan.kd!, lambda: m.kdLambda } },
      ];
      let results: StepResult[];
      if (!share) {
        results = plan.members.map((m, i) => this.trainStep(batch, m.spec, ...memberOpts(m, i)));
      } else {
        // the frontend once: its records stay at the head of the tape, its output's gradient (lazy
        // zeros until the first member writes it) accumulates every member's, and its backward runs
        // once after the last member
        const { tape } = this;
        tape.begin();
        try {
          const front = this.frontend(batch);
          const lo = e.wasm.tape_length(), memberMark = e.mark();
          results = plan.members.map((m, i) => {
            try {
              return this.memberStep(batch, front, lo, m.spec, ...memberOpts(m, i));
            } finally {
              e.wasm.tape_truncate(lo);
              e.reset(memberMark);
            }
          });
          tape.backward(0);
        } finally {
          tape.end();
        }
      }
      return { ...results[0], members: results.map((r) => ({ lossSum: r.lossSum, kdSum: r.kdSum ?? 0, ctcSum: r.ctcSum ?? 0, simpleSum: r.simpleSum ?? 0 })) };
    } finally {
      e.reset(mark);
    }
  }

  /** The encoder output [B, T', d] of a subnet (no dropout), its length T' and the valid frames per utterance, as copies. */
  encodeOutput(batch: Batch, sub: SubnetSpec = supernetSpec(this.cfg)): { enc: Float32Array; T2: number; lens2: Int32Array } {
    return this.withEncoder(batch, sub, (enc, T2, lens2) => ({ enc: this.engine.read(enc, batch.B * T2 * this.cfg.dModel), T2, lens2 }));
  }

  /** Greedy (or beam) transcripts of a batch through a subnet, as token ids. No gradients. With `fusion`, modified beam search (even at beam 1) with shallow fusion. */
  decode(batch: Batch, sub: SubnetSpec = supernetSpec(this.cfg), opts: { beam?: number; maxSymPerFrame?: number; fusion?: FusionOptions<any> } = {}): Hypothesis[] {
    return this.withEncoder(batch, sub, (enc, T2, lens2) => {
      const sm = transducerSearchModel(this.engine, this.cfg, (n) => this.params.get(n).ptr, enc, batch.B, T2);
      return (opts.beam && opts.beam > 1) || opts.fusion
        ? modifiedBeamSearch(sm, lens2, { beam: opts.beam ?? 1, fusion: opts.fusion })
        : greedySearch(sm, lens2, { maxSymPerFrame: opts.maxSymPerFrame ?? 1 });
    });
  }

  /** `use` of the subnet's encoder output (arena pointer, no dropout), its length T' and valid frames, in one tape scope. */
  private withEncoder<R>(batch: Batch, sub: SubnetSpec, use: (enc: number, T2: number, lens2: Int32Array) => R): R {
    this.tape.begin();
    try {
      const { enc, T2, lensPtr } = this.encodeBlocks(this.frontend(batch), batch.B, sub, NO_DROPOUT, new DropoutSeeds(0));
      return use(this.engine.wasm.tensor_data(enc), T2, this.engine.readI32(lensPtr, batch.B));
    } finally {
      this.tape.end();
    }
  }
}
