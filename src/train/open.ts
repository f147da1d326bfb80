// Phase 1 of a training run (trainer.ts): open it. A new run seeds its model (or copies an initial
// model's weights: fine-tuning); a resumed one loads the newest checkpoint (model, optimizer, position),
// keeps the budget and the thread count of this invocation, and drops the log lines written after that
// checkpoint (they are redone), and continues the checkpoint's running average of the weights
// (average.ts). The run's Supernet (its subnets, the ones validated, KD) is resolved
// here too. Not here: reading the data (data.ts), the steps (loop.ts), the end (finish.ts).

import { appendFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import type { Engine } from "../engine/engine.js";
import type { Tokenizer } from "../data/tokenizer.js";
import { writeFileAtomic } from "../io/safetensors.js";
import { Model } from "../model/model.js";
import { countParams, hasCtcHead, hasSimpleHead, sameArchitecture, withoutPrunedKeys, subnetName, supernetSpec, type ModelConfig } from "../model/config.js";
import { DEFAULT_SPACE, kdOptions, listSubnets, validateSpace, validationSubnets } from "../model/supernet.js";
import { loadModel } from "../model/io.js";
import { ModelAverage, validateAverage } from "./average.js";
import { listCheckpoints, loadCheckpoint, saveCheckpoint, type RunPosition } from "./checkpoint.js";
import { AVERAGE_OFF, type TrainConfig } from "./config.js";
import { OptimizerBox } from "./optimizer.js";
import { readRunLog } from "./rundir.js";

/** An open run: what the loop and the end share (openRun's result). */
export type Run = ReturnType<typeof openRun>;

/** The newest checkpoint (resume) or the initial model (--init-from), and the configuration the run continues with. */
export function openSource(engine: Engine, cfg: TrainConfig, opts: { out: string; resume?: boolean; initFrom?: string }, log: (l: string) => void):
  { cfg: TrainConfig; checkpoint?: ReturnType<typeof loadCheckpoint>; init?: ReturnType<typeof loadModel>; tokenizer?: Tokenizer } {
  const checkpoints = opts.resume ? listCheckpoints(opts.out) : [];
  if (opts.resume && checkpoints.length === 0) {
    throw new Error(`${opts.out}: nothing to resume (no checkpoints/step-*.safetensors); start a new run with --out`);
  }
  if (checkpoints.length) {
    const path = checkpoints[checkpoints.length - 1];
    const checkpoint = loadCheckpoint(engine, path);
    const saved = checkpoint.trainConfig as TrainConfig | null;
    // the budget and the thread count belong to this invocation, not to the run; a run saved before
    // train.average existed continues without averaging; the LM settings act only at the end: this
    // command's (a run saved before them had none)
    if (saved) cfg = { ...saved, supernet: saved.supernet ?? structuredClone(DEFAULT_SPACE), train: { ...saved.train, average: saved.train.average ?? { ...AVERAGE_OFF }, maxMinutes: cfg.train.maxMinutes, maxSteps: cfg.train.maxSteps, threads: cfg.train.threads }, lm: cfg.lm };
    log(`resuming from ${path} (step ${checkpoint.position.step}, epoch ${checkpoint.position.epoch})`);
    return { cfg, checkpoint, tokenizer: checkpoint.tokenizer };
  }
  // fine-tuning reads the data with the initial model's tokenizer
  const init = opts.initFrom ? loadModel(engine, opts.initFrom) : undefined;
  return { cfg, init, tokenizer: init?.tokenizer };
}

/** The run's model, optimizer, position and Supernet, from its source and the data's tokenizer; writes config.json. */
export function openRun(engine: Engine, src: ReturnType<typeof openSource>, tokenizer: Tokenizer, opts: { out: string; initFrom?: string }, log: (l: string) => void) {
  const { cfg, checkpoint, init } = src, dir = opts.out, logPath = join(dir, "log.jsonl");
  // ctcWeight 0 and the pruned loss's keys under loss "full" are dropped: such a run saves exactly the config
  // it saved before the keys existed
  const modelCfg: ModelConfig = { ...(hasSimpleHead(cfg.model) ? cfg.model : withoutPrunedKeys(cfg.model)), vocabSize: tokenizer.size };
  if (!hasCtcHead(modelCfg)) delete modelCfg.ctcWeight;
  if (modelCfg.featDim !== 80) throw new Error(`model.featDim is ${modelCfg.featDim}: the training loader computes 80-bin fbank features, so it must be 80`);
  let model: Model, pos: RunPosition;
  if (checkpoint) {
    model = checkpoint.model;
    pos = checkpoint.position;
    // steps logged after the checkpoint were lost with the process: drop them, they will be redone
    if (existsSync(logPath)) {
      const keep = readRunLog(dir).filter((r) => typeof r.step !== "number" || (r.step as number) <= pos.step);
      writeFileAtomic(logPath, keep.map((r) => JSON.stringify(r) + "\n").join(""));
    }
  } else {
    if (existsSync(logPath)) throw new Error(`${dir} already holds a run (log.jsonl): use --resume ${dir}, or another --out`);
    model = new Model(engine, modelCfg);
    model.params.init(cfg.train.seed);
    if (init) {
      // The auxiliary CTC head and the simple loss's projections are training-only (exports drop them): a
      // model with or without them may start a run with or without them. Everything else must match.
      const noCtc = (c: ModelConfig): ModelConfig => ({ ...withoutPrunedKeys(c), ctcWeight: 0 });
      if (!sameArchitecture(noCtc(init.model.cfg), noCtc(modelCfg)) || init.tokenizer.size !== tokenizer.size) {
        throw new Error(`--init-from ${opts.initFrom}: its model config differs from this run's (fine-tuning needs the same architecture)`);
      }
      // The run's own model (its ctcWeight), seeded, then every tensor the initial model has copied in by name:
      // a CTC head or simple-loss projections the initial model lacks keep their seeded initialisation.
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
    }
    pos = { step: 0, epoch: 0, batchInEpoch: 0, elapsedSec: 0, bestWer: null, bestStep: null };
  }
  writeFileAtomic(join(dir, "config.json"), JSON.stringify(cfg, null, 2) + "\n");
  const opt = new OptimizerBox(engine, model, cfg.optim);
  if (checkpoint) opt.restore(checkpoint.optimizer);
  validateAverage(cfg.train.average, "train config");
  const average = new ModelAverage(model.params, cfg.train.average, checkpoint?.average);
  if (average.enabled) {
    log(`weight averaging every ${cfg.train.average.every} steps from ${cfg.train.average.start} of the budget` +
      (average.start !== null ? ` (started at step ${average.start}, ${average.count} snapshots)` : ""));
  }
  const sub = supernetSpec(model.cfg);
  log(`model ${subnetName(sub)}: ${(countParams(model.cfg) / 1e6).toFixed(2)} M parameters, ${model.cfg.causal ? "causal (streaming)" : "bidirectional"}`);
  const space = cfg.supernet;
  if (space.enabled) validateSpace(model.cfg, space, "supernet config");
  const subnets = listSubnets(model.cfg, space);
  const validSubs = validationSubnets(subnets, space.validate);
  const kd = kdOptions(space);
  if (space.enabled) {
    log(`Supernet: ${subnets.length} subnets, ${subnets[0].name} (${(subnets[0].params / 1e6).toFixed(2)} M) to ${subnets[subnets.length - 1].name} (${(subnets[subnets.length - 1].params / 1e6).toFixed(2)} M); ` +
      `each step the largest, the smallest and ${space.random} random${space.sampleBias ? ` (sampling weights (params_max/params)^${space.sampleBias})` : ""}; KD ${kd ? `${space.kd.method} (lambda ${kd.lambda}, alpha ${kd.alphaNeg}/${kd.alphaPos}, clip ${kd.clip})` : "off"}; ` +
      `dropout ${space.dropout.rule} (p_max ${cfg.train.dropout}${space.dropout.rule === "adaptive" ? `, gamma ${space.dropout.gamma}` : ""}); validating ${validSubs.map((v) => v.name).join(", ")}`);
  }
  return {
    engine, cfg, dir, logPath, model, tokenizer, opt, pos, log,
    /** The running average of the weights (average.ts; disabled when train.average.every is 0). */
    average,
    /** The whole model's subnet, every subnet of the space (largest first), those validated, and KD. */
    sub, space, subnets, validSubs, kd,
    /** Appends one record to RUN_DIR/log.jsonl. */
    writeLog: (rec: Record<string, unknown>) => appendFileSync(logPath, JSON.stringify(rec) + "\n"),
    /** Writes a checkpoint at the current position, with the training time `elapsedSec`. */
    checkpoint: (elapsedSec: number) => saveCheckpoint(dir, model, tokenizer, opt.snapshot(), { ...pos, elapsedSec }, cfg, cfg.train.keepCheckpoints,
      average.enabled ? average.state() : undefined),
  };
}
