// The training loop of `todm train`: data, model, ScaledAdam + Eden (or AdamW), validation WER,
// checkpoints, resume, and a clean stop on SIGINT or when the time budget runs out.
//
// A run directory holds:
//   config.json          the resolved configuration
//   log.jsonl            one line per step ({"type":"step",...}) and per validation ({"type":"valid",...})
//   checkpoints/         step-<8 digits>.safetensors (model + optimizer + position), the newest K kept
//   best.safetensors     the model with the best validation WER so far
//   model.safetensors    the final model
//   curves.svg           loss and validation WER over steps
// Determinism: the batch order, dropout masks and SpecAugment masks are functions of (seed, epoch,
// step), so a run resumed from a checkpoint reproduces the losses of an uninterrupted run.
// With train.threads > 1 each step runs data-parallel (parallel.ts); dropout and SpecAugment masks are
// drawn per utterance of the whole batch, so the losses are those of one thread up to float rounding.

import { appendFileSync, existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { Engine } from "../engine.js";
import { EngineError } from "../engine.js";
import { specAugment } from "../features.js";
import { loadTrainingData, type TrainingData } from "../data/dataset.js";
import { corpusCacheDir } from "../data/corpus_plan.js";
import { speedFactor } from "../audio/speed.js";
import { makeBatches, framesFor, type Batch } from "../data/batching.js";
import { BatchLoader } from "../data/loader.js";
import { ENGINE_FBANK } from "../data/features.js";
import type { Utterance } from "../data/corpus.js";
import type { Tokenizer } from "../data/tokenizer.js";
import { alignTexts } from "../wer.js";
import { Model } from "../model/model.js";
import { countParams, hasCtcHead, inferenceConfig, sameArchitecture, subnetName, supernetSpec, type ModelConfig } from "../model/config.js";
import { DEFAULT_SPACE, type SubnetInfo, kdOptions, listSubnets, sampleSandwich, subnetDropout, validateSpace, validationSubnets } from "../model/supernet.js";
import { mulberry32 } from "../random.js";
import type { SandwichPlan } from "../model/model.js";
import type { DropoutRates } from "../model/encoder.js";
import { loadModel, saveModel } from "../model/io.js";
import { writeFileAtomic } from "../safetensors.js";
import { linePlot } from "../plot.js";
import { listCheckpoints, loadCheckpoint, saveCheckpoint, type OptimizerSnapshot, type RunPosition } from "./checkpoint.js";
import type { TrainConfig } from "./config.js";
import { OptimizerBox } from "./optimizer.js";
import { ParallelTrainer } from "./parallel.js";
import { runEvalSubnets } from "../commands/eval_subnets.js";
import { runExport } from "../commands/export.js";

export interface TrainOptions {
  out: string;
  resume?: boolean; // continue from the newest checkpoint in `out`
  initFrom?: string; // start from a model file's weights (fine-tuning)
  /** Write the step-0 model (seeded weights, feature statistics, tokenizer) to OUT/init.safetensors and stop. */
  initOnly?: boolean;
  log?: (line: string) => void;
  /** Status line updates (progress); default: redraw on stderr when it is a TTY, else periodic log lines. */
  status?: (line: string) => void;
}

export interface TrainResult {
  steps: number;
  finalLoss: number;
  bestWer: number | null;
  modelPath: string;
  stoppedBy: "budget" | "steps" | "epochs" | "signal" | "init-only";
}

function hashSeed(...xs: number[]): number {
  let h = 0x811c9dc5;
  for (const x of xs) {
    h = Math.imul(h ^ (x >>> 0), 0x01000193);
    h ^= h >>> 13;
  }
  return h >>> 0;
}

/** Per-bin mean and inverse standard deviation of the features of the first batches. */
async function featureStats(loader: BatchLoader, plan: number[][], bins: number): Promise<{ mean: Float32Array; istd: Float32Array }> {
  const sum = new Float64Array(bins), sq = new Float64Array(bins);
  let n = 0;
  for await (const b of loader.run(plan)) {
    for (let u = 0; u < b.B; u++) {
      for (let t = 0; t < b.featLens[u]; t++) {
        const o = (u * b.T + t) * b.F;
        let finite = true;
        for (let k = 0; k < bins; k++) finite &&= Number.isFinite(b.feats[o + k]);
        if (!finite) continue; // a corrupt utterance must not poison the normalisation
        for (let k = 0; k < bins; k++) {
          const v = b.feats[o + k];
          sum[k] += v;
          sq[k] += v * v;
        }
        n++;
      }
    }
  }
  const mean = new Float32Array(bins), istd = new Float32Array(bins);
  for (let k = 0; k < bins; k++) {
    const m = n ? sum[k] / n : 0;
    mean[k] = m;
    istd[k] = 1 / Math.sqrt(Math.max(1e-8, (n ? sq[k] / n : 1) - m * m));
  }
  return { mean, istd };
}

export async function train(engine: Engine, cfg: TrainConfig, opts: TrainOptions): Promise<TrainResult> {
  const log = opts.log ?? ((l: string) => console.log(l));
  const runDir = opts.out;
  mkdirSync(runDir, { recursive: true });
  const logPath = join(runDir, "log.jsonl");
  const writeLog = (rec: Record<string, unknown>) => appendFileSync(logPath, JSON.stringify(rec) + "\n");

  // ---- resume or start --------------------------------------------------------------------------
  let model: Model, tokenizer: Tokenizer | undefined, pos: RunPosition;
  let optSnap: OptimizerSnapshot | undefined;
  const checkpoints = opts.resume ? listCheckpoints(runDir) : [];
  if (opts.resume && checkpoints.length === 0) {
    throw new Error(`${runDir}: nothing to resume (no checkpoints/step-*.safetensors); start a new run with --out`);
  }
  let loaded: ReturnType<typeof loadCheckpoint> | undefined;
  if (checkpoints.length) {
    const path = checkpoints[checkpoints.length - 1];
    loaded = loadCheckpoint(engine, path);
    const saved = loaded.trainConfig as TrainConfig | null;
    // the budget and the thread count belong to this invocation, not to the run
    if (saved) cfg = { ...saved, supernet: saved.supernet ?? structuredClone(DEFAULT_SPACE), train: { ...saved.train, maxMinutes: cfg.train.maxMinutes, maxSteps: cfg.train.maxSteps, threads: cfg.train.threads } };
    tokenizer = loaded.tokenizer;
    log(`resuming from ${path} (step ${loaded.position.step}, epoch ${loaded.position.epoch})`);
  }

  // fine-tuning reads the data with the initial model's tokenizer
  const init = !loaded && opts.initFrom ? loadModel(engine, opts.initFrom) : undefined;
  if (init) tokenizer = init.tokenizer;

  // ---- data -------------------------------------------------------------------------------------
  const data: TrainingData = await loadTrainingData({
    train: cfg.data.train.length ? cfg.data.train : undefined,
    valid: cfg.data.valid.length ? cfg.data.valid : undefined,
    tokenizer: tokenizer ?? { type: cfg.data.tokenizer, vocabSize: cfg.data.vocabSize },
    strict: cfg.data.strict,
    maxDuration: cfg.data.maxDuration,
    corpus: cfg.data.corpus ?? "v1",
    defaultCorpusDir: corpusCacheDir(cfg.data.cacheDir, cfg.data.corpus ?? "v1"),
    log,
  });
  for (const line of data.summary) log(line);
  tokenizer = data.tokenizer;
  const trainUtts = data.train.utterances;
  if (trainUtts.length === 0) throw new Error("no training utterances left after skipping bad input");
  // ctcWeight 0 is dropped: a run without the CTC head saves exactly the config it saved before the key existed
  const modelCfg: ModelConfig = hasCtcHead(cfg.model) ? { ...cfg.model, vocabSize: tokenizer.size } : { ...inferenceConfig(cfg.model), vocabSize: tokenizer.size };
  if (modelCfg.featDim !== 80) throw new Error(`model.featDim is ${modelCfg.featDim}: the training loader computes 80-bin fbank features, so it must be 80`);

  if (loaded) {
    model = loaded.model;
    pos = loaded.position;
    optSnap = loaded.optimizer;
    // steps logged after the checkpoint were lost with the process: drop them, they will be redone
    if (existsSync(logPath)) {
      const keep = readRunLog(runDir).filter((r) => typeof r.step !== "number" || (r.step as number) <= pos.step);
      writeFileAtomic(logPath, keep.map((r) => JSON.stringify(r) + "\n").join(""));
    }
  } else {
    if (existsSync(logPath)) throw new Error(`${runDir} already holds a run (log.jsonl): use --resume ${runDir}, or another --out`);
    if (init) {
      // The auxiliary CTC head is training-only (exports drop it): a model with or without one may start a
      // run with or without one. Everything else must match.
      const noCtc = (c: ModelConfig): ModelConfig => ({ ...c, ctcWeight: 0 });
      if (!sameArchitecture(noCtc(init.model.cfg), noCtc(modelCfg)) || init.tokenizer.size !== tokenizer.size) {
        throw new Error(`--init-from ${opts.initFrom}: its model config differs from this run's (fine-tuning needs the same architecture)`);
      }
      // The run's own model (its ctcWeight), seeded, then every tensor the initial model has copied in by name:
      // a CTC head the initial model lacks keeps its seeded initialisation.
      model = new Model(engine, modelCfg);
      model.params.init(cfg.train.seed);
      const fresh: string[] = [];
      for (const p of model.params.entries) {
        if (!init.model.params.has(p.name)) {
          fresh.push(p.name);
          continue;
        }
        engine.wasm.mem_copy_f32(model.params.get(p.name).ptr, init.model.params.get(p.name).ptr, p.numel);
      }
      tokenizer = init.tokenizer;
      log(`initialised from ${opts.initFrom}${fresh.length ? ` (${fresh.join(", ")}: not in it, initialised fresh)` : ""}`);
    } else {
      model = new Model(engine, modelCfg);
      model.params.init(cfg.train.seed);
    }
    pos = { step: 0, epoch: 0, batchInEpoch: 0, elapsedSec: 0, bestWer: null, bestStep: null };
  }
  writeFileAtomic(join(runDir, "config.json"), JSON.stringify(cfg, null, 2) + "\n");
  const opt = new OptimizerBox(engine, model, cfg.optim);
  if (optSnap) opt.restore(optSnap);
  const sub = supernetSpec(model.cfg);
  log(`model ${subnetName(sub)}: ${(countParams(model.cfg) / 1e6).toFixed(2)} M parameters, ${model.cfg.causal ? "causal (streaming)" : "bidirectional"}`);
  const space = cfg.supernet;
  if (space.enabled) validateSpace(model.cfg, space, "supernet config");
  const subnets = listSubnets(model.cfg, space);
  const paramsMax = subnets[0].params;
  const validSubs = validationSubnets(subnets, space.validate);
  const kd = kdOptions(space);
  if (space.enabled) {
    log(`Supernet: ${subnets.length} subnets, ${subnets[0].name} (${(subnets[0].params / 1e6).toFixed(2)} M) to ${subnets[subnets.length - 1].name} (${(subnets[subnets.length - 1].params / 1e6).toFixed(2)} M); ` +
      `each step the largest, the smallest and ${space.random} random; KD ${kd ? `${space.kd.method} (lambda ${kd.lambda}, alpha ${kd.alphaNeg}/${kd.alphaPos}, clip ${kd.clip})` : "off"}; ` +
      `dropout ${space.dropout.rule} (p_max ${cfg.train.dropout}${space.dropout.rule === "adaptive" ? `, gamma ${space.dropout.gamma}` : ""}); validating ${validSubs.map((v) => v.name).join(", ")}`);
  }
  const rates = (p: number): DropoutRates => ({ ffHidden: p, ffOut: p, ssmOut: p, convOut: p });
  /** The step's subnets (seeded by the run's seed and the step alone, so a resumed run draws the same) and their dropout. */
  const planAt = (step: number): SandwichPlan => {
    if (!space.enabled) return { members: [{ spec: sub, dropout: rates(cfg.train.dropout) }], kd: null };
    const picked = sampleSandwich(subnets, space.random, mulberry32(hashSeed(cfg.train.seed, step, 0x5a4d)));
    return { members: picked.map((s) => ({ spec: s.spec, dropout: rates(subnetDropout(space.dropout, cfg.train.dropout, s.params, paramsMax)) })), kd, shareFrontend: cfg.train.shareFrontend };
  };

  // ---- loaders ----------------------------------------------------------------------------------
  const cacheDir = join(cfg.data.cacheDir, "features");
  // The built-in corpus v2 (~29 h) is read less than once by a default run, so cached training features would
  // cost their 3.3 GB of disk without ever being read; a miss costs the loader's worker ~0.1 s per batch, beside
  // a step of ~2.7 s (issue 15). Validation features (a few hundred utterances, read at every validation) are cached.
  const builtinV2 = cfg.data.train.length === 0 && (cfg.data.corpus ?? "v1") === "v2";
  const trainCache = (cfg.data.featureCache ?? !builtinV2) ? cacheDir : undefined;
  // A run saved before speedPerturb existed had none.
  const speed = cfg.train.speedPerturb ? { seed: cfg.train.seed } : undefined;
  const loader = new BatchLoader({ utterances: trainUtts, features: ENGINE_FBANK, workers: cfg.train.loaderWorkers, cacheDir: trainCache, ledger: data.ledger, speedPerturb: speed });
  // With speed perturbation an epoch's batches are planned on the perturbed lengths, so maxFrames still holds.
  const framesAt = (epoch: number) => trainUtts.map((u, i) => framesFor(speed ? u.duration / speedFactor(speed.seed, epoch, i) : u.duration));
  const planFor = (epoch: number) => makeBatches(framesAt(epoch), { maxFrames: cfg.batch.maxFrames, buckets: cfg.batch.buckets, seed: cfg.train.seed }, epoch);
  log(`speed perturbation: ${speed ? `on (0.9/1.0/1.1 per utterance per epoch, seed ${speed.seed}; perturbed features computed on the fly, only 1.0 cached)` : "off"}`);
  if (!loaded && !opts.initFrom) {
    const stats = await featureStats(loader, planFor(0).batches.slice(0, 20), modelCfg.featDim);
    model.params.write("frontend.feat_mean", stats.mean);
    model.params.write("frontend.feat_istd", stats.istd);
  }
  if (opts.initOnly) {
    // The exact state a run starts its first step from: what the PyTorch mirror (test/ref/train_mirror.py) loads.
    if (loaded) throw new Error("--init-only writes a new run's initial model; it cannot be combined with --resume");
    await loader.close();
    const initPath = join(runDir, "init.safetensors");
    saveModel(initPath, model, tokenizer, { "todm.info": JSON.stringify({ step: 0, seed: cfg.train.seed, initFrom: opts.initFrom ?? null }) });
    log(`wrote the initial model ${initPath} (no training: --init-only)`);
    return { steps: 0, finalLoss: NaN, bestWer: null, modelPath: initPath, stoppedBy: "init-only" };
  }
  const validAll = data.valid.utterances;
  const validUtts: Utterance[] = cfg.train.validUtterances > 0 ? validAll.slice(0, cfg.train.validUtterances) : validAll;
  const validLoader = validUtts.length ? new BatchLoader({ utterances: validUtts, features: ENGINE_FBANK, workers: 0, cacheDir, ledger: data.ledger }) : undefined;
  const validPlan = makeBatches(validUtts.map((u) => framesFor(u.duration)), { maxFrames: cfg.batch.maxFrames, buckets: 10, seed: 0 }, 0).batches;

  /** Greedy validation WER of each validated subnet (the largest first), or null without validation data. */
  const validate = async (): Promise<Map<string, number> | null> => {
    if (!validLoader) return null;
    const subs = space.enabled ? validSubs : [subnets[0]];
    const errors = new Array<number>(subs.length).fill(0);
    let words = 0;
    for await (const b of validLoader.run(validPlan)) {
      subs.forEach((s, k) => {
        const hyps = model.decode(b, s.spec);
        hyps.forEach((h, i) => {
          const we = alignTexts(validUtts[b.ids[i]].text, tokenizer!.decode(h.tokens));
          errors[k] += we.errors;
          if (k === 0) words += we.words;
        });
      });
    }
    return words ? new Map(subs.map((s, k) => [s.name, (100 * errors[k]) / words])) : null;
  };

  // ---- the loop ---------------------------------------------------------------------------------
  let stopSignal = false;
  const onSigint = () => {
    if (stopSignal) process.exit(130);
    stopSignal = true;
    log("\nSIGINT: finishing this step, writing a checkpoint, then stopping (Ctrl-C again to quit at once)");
  };
  process.on("SIGINT", onSigint);
  const t0 = Date.now() - pos.elapsedSec * 1000;
  const budgetMs = cfg.train.maxMinutes > 0 ? cfg.train.maxMinutes * 60_000 : Infinity;
  const status = opts.status ?? makeStatus();
  const checkpoint = () => saveCheckpoint(runDir, model, tokenizer!, opt.snapshot(), { ...pos, elapsedSec: (Date.now() - t0) / 1000 }, cfg, cfg.train.keepCheckpoints);
  let stoppedBy: TrainResult["stoppedBy"] = "epochs";
  let lastLoss = NaN, emaLoss = NaN, emaCtc = NaN, audioSec = 0, skippedInARow = 0;
  const tRate = Date.now();
  const augment = (b: Batch, step: number) => {
    if (!cfg.train.specAugment) return;
    for (let u = 0; u < b.B; u++) {
      const n = b.featLens[u] * b.F, off = u * b.T * b.F;
      const masked = specAugment(b.feats.subarray(off, off + n), b.featLens[u], b.F, { seed: hashSeed(cfg.train.seed, step, u) });
      b.feats.set(masked, off);
    }
  };
  const threads = cfg.train.threads ?? 1;
  let par: ParallelTrainer | undefined;
  try {
    if (threads > 1) {
      par = await ParallelTrainer.create(model, opt, { threads, optim: cfg.optim });
      log(`data-parallel training on ${threads} threads (replicas synced from this thread's model)`);
    }
    outer: for (; pos.epoch < cfg.train.epochs; pos.epoch++, pos.batchInEpoch = 0) {
      const plan = planFor(pos.epoch).batches;
      const todo = plan.slice(pos.batchInEpoch);
      for await (const batch of loader.run(todo, pos.epoch)) {
        if (Date.now() - t0 >= budgetMs) { stoppedBy = "budget"; break outer; }
        if (cfg.train.maxSteps > 0 && pos.step >= cfg.train.maxSteps) { stoppedBy = "steps"; break outer; }
        augment(batch, pos.step);
        const tStep = Date.now();
        const lr = opt.lrAt(pos.step, pos.epoch);
        const plan = planAt(pos.step);
        let r: { lossSum: number; frames: number; members: { lossSum: number; kdSum: number; ctcSum: number }[] }, gsum: number;
        try {
          if (par) {
            // every replica steps its optimizer (or skips the step) inside: same decision as below
            const pr = await par.step(batch, plan, { seed: hashSeed(cfg.train.seed, pos.step), lr });
            r = pr;
            gsum = pr.gradSum;
          } else {
            model.params.zeroGrad();
            r = model.sandwichStep(batch, plan, { seed: hashSeed(cfg.train.seed, pos.step) });
            gsum = engine.scoped(() => {
              const out = engine.alloc(1);
              engine.wasm.sum_forward(out, model.params.gradPtr, model.params.trainableFloats);
              return engine.read(out, 1)[0];
            });
          }
        } catch (e) {
          if (e instanceof EngineError && /out of WASM memory/.test(e.message)) {
            throw new Error(`${e.message}\n  (the batch had ${batch.B} utterances x ${batch.T} frames: lower batch.maxFrames, now ${cfg.batch.maxFrames})`);
          }
          throw e;
        }
        pos.batchInEpoch++;
        if (!Number.isFinite(r.lossSum) || !Number.isFinite(gsum)) {
          if (++skippedInARow >= 50) throw new Error(`50 batches in a row had a non-finite loss or gradient: the data or the learning rate is broken (see ${logPath})`);
          writeLog({ type: "skip", step: pos.step, epoch: pos.epoch, reason: !Number.isFinite(r.lossSum) ? "non-finite loss" : "non-finite gradient" });
          log(`step ${pos.step}: non-finite ${!Number.isFinite(r.lossSum) ? "loss" : "gradient"}, batch skipped`);
          continue;
        }
        skippedInARow = 0;
        if (!par) opt.step(lr);
        pos.step++;
        const sec = batch.featLens.reduce((a, b) => a + b, 0) / 100;
        audioSec += sec;
        lastLoss = r.lossSum / batch.B;
        // the auxiliary CTC loss (model.ctcWeight > 0) of the largest member, unweighted, next to the RNN-T loss
        const ctc = hasCtcHead(model.cfg) ? { ctcLoss: r.members[0].ctcSum / batch.B } : {};
        if (ctc.ctcLoss !== undefined) emaCtc = Number.isNaN(emaCtc) ? ctc.ctcLoss : 0.95 * emaCtc + 0.05 * ctc.ctcLoss;
        emaLoss = Number.isNaN(emaLoss) ? lastLoss : 0.95 * emaLoss + 0.05 * lastLoss;
        const stepMs = Date.now() - tStep;
        const sandwich = space.enabled
          ? { subnets: plan.members.map((m) => subnetName(m.spec)), dropout: plan.members.map((m) => +m.dropout.ffHidden.toFixed(4)),
              losses: r.members.map((m) => +(m.lossSum / batch.B).toFixed(4)), kd: r.members.map((m) => +(m.kdSum / batch.B).toFixed(5)),
              ...(hasCtcHead(model.cfg) ? { ctcLosses: r.members.map((m) => +(m.ctcSum / batch.B).toFixed(4)) } : {}) }
          : {};
        writeLog({ type: "step", step: pos.step, epoch: pos.epoch, loss: lastLoss, lossPerFrame: r.lossSum / r.frames, ...ctc, lr, utterances: batch.B, audioSec: sec, stepMs, elapsedSec: (Date.now() - t0) / 1000, ...sandwich });
        const el = Date.now() - t0;
        const rate = audioSec / Math.max(1e-3, (Date.now() - tRate) / 1000);
        const eta = Number.isFinite(budgetMs) ? `${Math.max(0, Math.round((budgetMs - el) / 1000))}s left` : "";
        status(`step ${pos.step} epoch ${pos.epoch} loss ${emaLoss.toFixed(3)}${Number.isNaN(emaCtc) ? "" : ` ctc ${emaCtc.toFixed(3)}`} lr ${lr.toExponential(2)} ${rate.toFixed(0)} s audio/s ${Math.round(el / 1000)}s ${eta}`);
        if (cfg.train.validEvery > 0 && pos.step % cfg.train.validEvery === 0) {
          const wers = await validate();
          const wer = wers ? wers.get(subnets[0].name)! : null;
          writeLog({ type: "valid", step: pos.step, epoch: pos.epoch, wer, ...(space.enabled && wers ? { subnets: Object.fromEntries(wers) } : {}), elapsedSec: (Date.now() - t0) / 1000 });
          log(`\nstep ${pos.step}: validation WER ${wer === null ? "n/a" : wer.toFixed(2) + "%"}` +
            (space.enabled && wers ? ` (${[...wers].map(([n, w]) => `${n} ${w.toFixed(2)}%`).join(", ")})` : ""));
          if (wer !== null && (pos.bestWer === null || wer < pos.bestWer)) {
            pos.bestWer = wer;
            pos.bestStep = pos.step;
            saveModel(join(runDir, "best.safetensors"), model, tokenizer, { "todm.info": JSON.stringify({ step: pos.step, validWer: wer }) });
          }
        }
        if (cfg.train.checkpointEvery > 0 && pos.step % cfg.train.checkpointEvery === 0) checkpoint();
        // Prefetched batches resolve without waiting on I/O, so give signal handlers their turn now.
        await new Promise<void>((r) => setImmediate(r));
        if (stopSignal) { stoppedBy = "signal"; break outer; }
      }
    }
  } finally {
    process.off("SIGINT", onSigint);
    await par?.close();
    await loader.close();
    await validLoader?.close();
  }
  pos.elapsedSec = (Date.now() - t0) / 1000;
  for (const line of data.ledger.report()) log(line); // bad input met while loading batches, if any
  const ckpt = checkpoint();
  log(`\nstopped (${stoppedBy}) at step ${pos.step}; checkpoint ${ckpt}`);
  if (stoppedBy === "signal") return { steps: pos.step, finalLoss: lastLoss, bestWer: pos.bestWer, modelPath: ckpt, stoppedBy };
  const wers = await validate();
  const wer = wers ? wers.get(subnets[0].name)! : null;
  if (wers && wer !== null) {
    writeLog({ type: "valid", step: pos.step, epoch: pos.epoch, wer, ...(space.enabled ? { subnets: Object.fromEntries(wers) } : {}), elapsedSec: pos.elapsedSec });
    log(`final validation WER ${wer.toFixed(2)}% (best ${pos.bestWer === null ? wer.toFixed(2) : Math.min(wer, pos.bestWer).toFixed(2)}%)` +
      (space.enabled ? `; subnets: ${[...wers].map(([n, w]) => `${n} ${w.toFixed(2)}%`).join(", ")}` : ""));
  }
  const modelPath = join(runDir, "model.safetensors");
  saveModel(modelPath, model, tokenizer, { "todm.info": JSON.stringify({ step: pos.step, validWer: wer, trainSeconds: pos.elapsedSec }) });
  writePlot(runDir);
  log(`wrote ${modelPath} and ${join(runDir, "curves.svg")}`);
  if (space.enabled) await finishSupernet(engine, runDir, cfg, subnets, validSubs, log);
  return { steps: pos.step, finalLoss: lastLoss, bestWer: pos.bestWer, modelPath, stoppedBy };
}

/**
 * The end of a Supernet run: the chosen subnets (supernet.export, default the validated ones) scored on the
 * test split (the built-in corpus's, else the first validation manifest) into RUN_DIR/subnets.md and
 * subnets.svg, and each exported as a standalone model to RUN_DIR/subnets/<name>.safetensors.
 */
async function finishSupernet(engine: Engine, runDir: string, cfg: TrainConfig, all: SubnetInfo[], validated: SubnetInfo[], log: (l: string) => void): Promise<void> {
  const names = cfg.supernet.export?.length ? cfg.supernet.export : validated.map((s) => s.name);
  const test = cfg.data.train.length ? cfg.data.valid[0] : join(corpusCacheDir(cfg.data.cacheDir, cfg.data.corpus ?? "v1"), "test.jsonl");
  if (test && existsSync(test)) {
    log(`\nscoring ${names.length} of the ${all.length} subnets on ${test}`);
    await runEvalSubnets(engine, { run: runDir, data: test, subnets: names.join(","), beam: 1, log, progress: Boolean(process.stderr.isTTY) && process.env.CI !== "true" });
  } else {
    log("no test data to score the subnets on (give --valid): RUN_DIR/subnets.md not written");
  }
  mkdirSync(join(runDir, "subnets"), { recursive: true });
  for (const n of names) runExport(engine, { run: runDir, subnet: n, out: join(runDir, "subnets", `${n}.safetensors`), log });
}

/** curves.svg from log.jsonl: training loss (smoothed) and validation WER against steps. */
export function writePlot(runDir: string): void {
  const lines = readFileSync(join(runDir, "log.jsonl"), "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l));
  const steps = lines.filter((r) => r.type === "step");
  const valid = lines.filter((r) => r.type === "valid" && r.wer !== null);
  const smooth: [number, number][] = [];
  let ema = NaN;
  for (const r of steps) {
    ema = Number.isNaN(ema) ? r.loss : 0.95 * ema + 0.05 * r.loss;
    smooth.push([r.step, ema]);
  }
  writeFileAtomic(join(runDir, "curves.svg"), linePlot(
    [
      { name: "training loss per utterance (smoothed)", points: smooth },
      ...(valid.some((r) => r.subnets)
        ? [...new Set(valid.flatMap((r) => Object.keys(r.subnets ?? {})))].map((name) => ({
            name: `validation WER % ${name}`, points: valid.filter((r) => r.subnets?.[name] !== undefined).map((r) => [r.step, r.subnets[name]] as [number, number]),
            axis: "right" as const, dots: true,
          }))
        : [{ name: "validation WER %", points: valid.map((r) => [r.step, r.wer] as [number, number]), axis: "right" as const, dots: true }]),
    ],
    { title: "todm training", xLabel: "step", yLabel: "loss (nats per utterance)", yLabelRight: "WER %" },
  ));
}

function makeStatus(): (line: string) => void {
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

export function readRunLog(runDir: string): Record<string, unknown>[] {
  return readFileSync(join(runDir, "log.jsonl"), "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l));
}
