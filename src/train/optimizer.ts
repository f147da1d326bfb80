// The optimizer of a training run over a model's parameter region: ScaledAdam with Eden or AdamW,
// chosen by the config, with its learning-rate schedule and a snapshot for checkpoints.
// Used by the training loop (trainer.ts) and by every replica of data-parallel training (parallel.ts).

import type { Engine } from "../engine/engine.js";
import { eden, ScaledAdamRegion, AdamWRegion, type ScaledAdamState } from "../engine/optim.js";
import type { Model } from "../model/model.js";
import type { OptimizerSnapshot } from "./checkpoint.js";
import type { TrainConfig } from "./config.js";

export class OptimizerBox {
  readonly scaled?: ScaledAdamRegion;
  readonly adamw?: AdamWRegion;
  constructor(readonly engine: Engine, model: Model, readonly cfg: TrainConfig["optim"]) {
    const p = model.params;
    if (cfg.name === "adamw") {
      this.adamw = new AdamWRegion(engine, { params: p.paramPtr, grads: p.gradPtr, n: p.trainableFloats }, { lr: cfg.adamwLr, weightDecay: cfg.weightDecay });
    } else {
      this.scaled = new ScaledAdamRegion(engine, { params: p.paramPtr, grads: p.gradPtr, tensors: p.trainable() }, { lr: cfg.baseLr, clippingScale: cfg.clippingScale });
    }
  }
  lrAt(step: number, epoch: number): number {
    const c = this.cfg;
    const sched = eden(step, epoch, { baseLr: 1, lrBatches: c.lrBatches, lrEpochs: c.lrEpochs, warmupBatches: c.warmupBatches, warmupStart: c.warmupStart });
    return sched * (this.adamw ? c.adamwLr : c.baseLr);
  }
  step(lr: number): void {
    if (this.adamw) {
      this.adamw.setLr(lr);
      this.adamw.step();
    } else {
      this.scaled!.setLr(lr);
      this.scaled!.step();
    }
  }
  snapshot(): OptimizerSnapshot {
    if (this.adamw) {
      const a = this.adamw, n = a.region.n;
      return { tensors: { exp_avg: this.engine.read(a.expAvg, n), exp_avg_sq: this.engine.read(a.expAvgSq, n) }, json: { name: "adamw", step: a.stepCount, lr: a.lr } };
    }
    const s = this.scaled!.saveState();
    const tensors: Record<string, Float32Array> = { exp_avg: s.expAvg, exp_avg_sq: s.expAvgSq, tensor_state: s.tensorState };
    if (s.clippingNorms) tensors.clipping_norms = s.clippingNorms;
    return { tensors, json: { name: "scaled_adam", step: s.step, lr: s.lr, clippingThreshold: s.clippingThreshold } };
  }
  restore(snap: OptimizerSnapshot): void {
    const j = snap.json as { name: string; step: number; lr: number; clippingThreshold?: number | null };
    const want = this.adamw ? "adamw" : "scaled_adam";
    if (j.name !== want) throw new Error(`the checkpoint's optimizer is ${j.name}, the config asks for ${want}`);
    if (this.adamw) {
      this.engine.write(this.adamw.expAvg, snap.tensors.exp_avg);
      this.engine.write(this.adamw.expAvgSq, snap.tensors.exp_avg_sq);
      this.adamw.stepCount = j.step;
      this.adamw.lr = j.lr;
      return;
    }
    const st: ScaledAdamState = {
      step: j.step, lr: j.lr, expAvg: snap.tensors.exp_avg, expAvgSq: snap.tensors.exp_avg_sq, tensorState: snap.tensors.tensor_state,
      clippingNorms: snap.tensors.clipping_norms ?? null, clippingThreshold: j.clippingThreshold ?? null,
    };
    this.scaled!.loadState(st);
  }
}
