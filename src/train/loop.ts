// Phase 3 of a training run (trainer.ts): the steps. Each step draws its plan (the sandwich of subnets
// and their dropout, seeded by the run's seed and the step alone, so a resumed run draws the same),
// augments the batch, and hands it to the step interface (parallel.ts: one replica or N, the same
// gradient check and optimizer step); then the log line, the status line, validation every
// train.validEvery steps (best.safetensors on a new best WER), the running average of the weights every
// train.average.every steps once it started (average.ts), and a checkpoint every
// train.checkpointEvery. It stops at the end of the epochs, at train.maxSteps, when the time budget runs
// out, or on SIGINT (after the step in flight). Not here: opening the run (open.ts), the end (finish.ts).

import { join } from "node:path";
import { EngineError } from "../engine/engine.js";
import type { BatchLoader } from "../data/loader.js";
import { hasCtcHead, hasSimpleHead, PRUNED_DEFAULTS, subnetName } from "../model/config.js";
import { prunedLossScales } from "../model/rnnt_pruned.js";
import { prunedWarmupOf } from "./config.js";
import type { SandwichPlan } from "../model/model.js";
import type { DropoutRates } from "../model/encoder.js";
import { sampleSandwich, studentLambda, subnetDropout } from "../model/supernet.js";
import { saveModel } from "../model/io.js";
import { mulberry32 } from "../util/random.js";
import { averageProgress } from "./average.js";
import { augment, hashSeed, type Validation } from "./data.js";
import type { Run } from "./open.js";
import { ParallelTrainer } from "./parallel.js";

export type StopReason = "budget" | "steps" | "epochs" | "signal";

/** The step's subnets and their dropout (seeded by the run's seed and the step alone). */
export function planAt(run: Run, step: number): SandwichPlan {
  const { cfg, space, subnets, model } = run;
  const rates = (p: number): DropoutRates => ({ ffHidden: p, ffOut: p, ssmOut: p, convOut: p });
  // the pruned loss's two weights at this step (icefall's warm-up, scaled to the run: prunedWarmupOf)
  const scales = hasSimpleHead(model.cfg)
    ? { lossScales: prunedLossScales(step, prunedWarmupOf(cfg), model.cfg.simpleLossScale ?? PRUNED_DEFAULTS.simpleLossScale) } : {};
  if (!space.enabled) return { members: [{ spec: run.sub, dropout: rates(cfg.train.dropout) }], kd: null, ...scales };
  const picked = sampleSandwich(subnets, space.random, mulberry32(hashSeed(cfg.train.seed, step, 0x5a4d)), space.sampleBias ?? 0);
  const sizeGamma = space.kd.sizeGamma ?? 0;
  return {
    members: picked.map((s, i) => ({
      spec: s.spec, dropout: rates(subnetDropout(space.dropout, cfg.train.dropout, s.params, subnets[0].params)),
      ...(run.kd && sizeGamma && i > 0 ? { kdLambda: studentLambda(run.kd.lambda, sizeGamma, s.params, subnets[0].params) } : {}),
    })),
    kd: run.kd, shareFrontend: cfg.train.shareFrontend, ...scales,
  };
}

/** Logs one validation; writes best.safetensors on a new best WER. */
async function validateNow(run: Run, validation: Validation, t0: number): Promise<void> {
  const { pos, space } = run;
  const wers = await validation.run();
  const wer = wers ? wers.get(run.subnets[0].name)! : null;
  run.writeLog({ type: "valid", step: pos.step, epoch: pos.epoch, wer, ...(space.enabled && wers ? { subnets: Object.fromEntries(wers) } : {}), elapsedSec: (Date.now() - t0) / 1000 });
  run.log(`\nstep ${pos.step}: validation WER ${wer === null ? "n/a" : wer.toFixed(2) + "%"}` +
    (space.enabled && wers ? ` (${[...wers].map(([n, w]) => `${n} ${w.toFixed(2)}%`).join(", ")})` : ""));
  if (wer !== null && (pos.bestWer === null || wer < pos.bestWer)) {
    pos.bestWer = wer;
    pos.bestStep = pos.step;
    saveModel(join(run.dir, "best.safetensors"), run.model, run.tokenizer, { "todm.info": JSON.stringify({ step: pos.step, validWer: wer }) });
  }
}

/**
 * Trains until a stop; `t0` is when the run's clock started (now minus the time of earlier sessions).
 * Closes the loaders on the way out.
 */
export async function trainLoop(run: Run, loader: BatchLoader, planFor: (epoch: number) => number[][], validation: Validation, t0: number,
                                status: (line: string) => void): Promise<{ stoppedBy: StopReason; lastLoss: number }> {
  const { cfg, model, pos, space, log } = run;
  let stopSignal = false;
  const onSigint = () => {
    if (stopSignal) process.exit(130);
    stopSignal = true;
    log("\nSIGINT: finishing this step, writing a checkpoint, then stopping (Ctrl-C again to quit at once)");
  };
  process.on("SIGINT", onSigint);
  const budgetMs = cfg.train.maxMinutes > 0 ? cfg.train.maxMinutes * 60_000 : Infinity;
  let stoppedBy: StopReason = "epochs";
  let lastLoss = NaN, emaLoss = NaN, emaCtc = NaN, audioSec = 0, skippedInARow = 0;
  const tRate = Date.now();
  const threads = cfg.train.threads ?? 1;
  let par: ParallelTrainer | undefined;
  // the average's start, as a fraction of the budget (train.average.start); a start of 0 is step 0
  // (by epochs when the run has neither train.maxSteps nor train.maxMinutes: the epoch's batch count, once per epoch)
  let planned = -1, plannedBatches = 0;
  const batchesPerEpoch = () => {
    if (planned !== pos.epoch) {
      planned = pos.epoch;
      plannedBatches = planFor(pos.epoch).length;
    }
    return plannedBatches;
  };
  const progress = () => averageProgress(cfg, pos, (Date.now() - t0) / 1000, batchesPerEpoch);
  run.average.maybeStart(pos.step, progress());
  try {
    par = await ParallelTrainer.create(model, run.opt, { threads, optim: cfg.optim });
    if (threads > 1) log(`data-parallel training on ${threads} threads (replicas synced from this thread's model)`);
    outer: for (; pos.epoch < cfg.train.epochs; pos.epoch++, pos.batchInEpoch = 0) {
      for await (const batch of loader.run(planFor(pos.epoch).slice(pos.batchInEpoch), pos.epoch)) {
        if (Date.now() - t0 >= budgetMs) { stoppedBy = "budget"; break outer; }
        if (cfg.train.maxSteps > 0 && pos.step >= cfg.train.maxSteps) { stoppedBy = "steps"; break outer; }
        augment(cfg, batch, pos.step);
        const tStep = Date.now();
        const lr = run.opt.lrAt(pos.step, pos.epoch);
        const plan = planAt(run, pos.step);
        let r: Awaited<ReturnType<ParallelTrainer["step"]>>;
        try {
          // every replica steps its optimizer, or skips the step when the loss or the gradient is not finite
          r = await par.step(batch, plan, { seed: hashSeed(cfg.train.seed, pos.step), lr });
        } catch (e) {
          if (e instanceof EngineError && /out of WASM memory/.test(e.message)) {
            throw new Error(`${e.message}\n  (the batch had ${batch.B} utterances x ${batch.T} frames: lower batch.maxFrames, now ${cfg.batch.maxFrames})`);
          }
          throw e;
        }
        pos.batchInEpoch++;
        if (!r.applied) {
          if (++skippedInARow >= 50) throw new Error(`50 batches in a row had a non-finite loss or gradient: the data or the learning rate is broken (see ${run.logPath})`);
          run.writeLog({ type: "skip", step: pos.step, epoch: pos.epoch, reason: !Number.isFinite(r.lossSum) ? "non-finite loss" : "non-finite gradient" });
          log(`step ${pos.step}: non-finite ${!Number.isFinite(r.lossSum) ? "loss" : "gradient"}, batch skipped`);
          continue;
        }
        skippedInARow = 0;
        pos.step++;
        if (run.average.afterStep(pos.step, progress()) && run.average.count === 1) log(`\nweight averaging: first snapshot at step ${pos.step} (started at step ${run.average.start})`);
        const sec = batch.featLens.reduce((a, b) => a + b, 0) / 100;
        audioSec += sec;
        lastLoss = r.lossSum / batch.B;
        // the auxiliary CTC loss (model.ctcWeight > 0) of the largest member, unweighted, next to the RNN-T loss
        const ctc = hasCtcHead(model.cfg) ? { ctcLoss: r.members[0].ctcSum / batch.B } : {};
        // model.loss "pruned": `loss` is the pruned RNN-T loss; the simple loss beside it (unweighted) and the step's two weights
        const simple = hasSimpleHead(model.cfg) ? { simpleLoss: r.members[0].simpleSum / batch.B, lossScales: plan.lossScales } : {};
        if (ctc.ctcLoss !== undefined) emaCtc = Number.isNaN(emaCtc) ? ctc.ctcLoss : 0.95 * emaCtc + 0.05 * ctc.ctcLoss;
        emaLoss = Number.isNaN(emaLoss) ? lastLoss : 0.95 * emaLoss + 0.05 * lastLoss;
        const stepMs = Date.now() - tStep;
        const sandwich = space.enabled
          ? { subnets: plan.members.map((m) => subnetName(m.spec)), dropout: plan.members.map((m) => +m.dropout.ffHidden.toFixed(4)),
              losses: r.members.map((m) => +(m.lossSum / batch.B).toFixed(4)), kd: r.members.map((m) => +(m.kdSum / batch.B).toFixed(5)),
              ...(hasCtcHead(model.cfg) ? { ctcLosses: r.members.map((m) => +(m.ctcSum / batch.B).toFixed(4)) } : {}),
              ...(hasSimpleHead(model.cfg) ? { simpleLosses: r.members.map((m) => +(m.simpleSum / batch.B).toFixed(4)) } : {}) }
          : {};
        run.writeLog({ type: "step", step: pos.step, epoch: pos.epoch, loss: lastLoss, lossPerFrame: r.lossSum / r.frames, ...ctc, ...simple, lr, utterances: batch.B, audioSec: sec, stepMs, elapsedSec: (Date.now() - t0) / 1000, ...sandwich });
        const el = Date.now() - t0;
        const rate = audioSec / Math.max(1e-3, (Date.now() - tRate) / 1000);
        const eta = Number.isFinite(budgetMs) ? `${Math.max(0, Math.round((budgetMs - el) / 1000))}s left` : "";
        status(`step ${pos.step} epoch ${pos.epoch} loss ${emaLoss.toFixed(3)}${Number.isNaN(emaCtc) ? "" : ` ctc ${emaCtc.toFixed(3)}`} lr ${lr.toExponential(2)} ${rate.toFixed(0)} s audio/s ${Math.round(el / 1000)}s ${eta}`);
        if (cfg.train.validEvery > 0 && pos.step % cfg.train.validEvery === 0) await validateNow(run, validation, t0);
        if (cfg.train.checkpointEvery > 0 && pos.step % cfg.train.checkpointEvery === 0) run.checkpoint((Date.now() - t0) / 1000);
        // Prefetched batches resolve without waiting on I/O, so give signal handlers their turn now.
        await new Promise<void>((r) => setImmediate(r));
        if (stopSignal) { stoppedBy = "signal"; break outer; }
      }
    }
  } finally {
    process.off("SIGINT", onSigint);
    await par?.close();
    await loader.close();
    await validation.close();
  }
  return { stoppedBy, lastLoss };
}

/** The default status line: redrawn on stderr at most every 200 ms when it is a TTY, else a log line every 30 s. */
export function statusLine(): (line: string) => void {
  const tty = Boolean(process.stderr.isTTY) && process.env.CI !== "true";
  let last = 0;
  return (line: string) => {
    const now = Date.now();
    if (tty) {
      if (now - last < 200) return;
      process.stderr.write(`\r${line}\x1b[K`);
    } else {
      if (now - last < 30_000) return;
      process.stderr.write(`${line}\n`);
    }
    last = now;
  };
}
