// `train()`, the library's training run (what `todm train` runs): a small driver over four phases, each
// in its own file (src/train/README.md): open.ts (resume or start), data.ts, loop.ts (the steps), finish.ts.
//
// A run directory holds:
//   config.json          the resolved configuration
//   log.jsonl            one line per step ({"type":"step",...}) and per validation ({"type":"valid",...})
//   checkpoints/         step-<8 digits>.safetensors (model + optimizer + position), the newest K kept
//   best.safetensors     the model with the best validation WER so far
//   model.safetensors    the final model, or the running average of the weights when it validates better (average.ts)
//   model-avg.safetensors / model-final.safetensors   the other of the two
//   curves.svg           loss and validation WER over steps
// Determinism: the batch order, dropout masks and SpecAugment masks are functions of (seed, epoch,
// step), so a run resumed from a checkpoint reproduces the losses of an uninterrupted run.
// With train.threads > 1 each step runs data-parallel (parallel.ts); dropout and SpecAugment masks are
// drawn per utterance of the whole batch, so the losses are those of one thread up to float rounding.

import { mkdirSync } from "node:fs";
import type { Engine } from "../engine/engine.js";
import type { TrainConfig } from "./config.js";
import { featureStats, loadRunData, trainBatches, validation } from "./data.js";
import { finishRun, writeInitModel } from "./finish.js";
import { statusLine, trainLoop } from "./loop.js";
import { openRun, openSource } from "./open.js";

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

export async function train(engine: Engine, cfg: TrainConfig, opts: TrainOptions): Promise<TrainResult> {
  const log = opts.log ?? ((l: string) => console.log(l));
  mkdirSync(opts.out, { recursive: true });
  // open (from a checkpoint or an initial model), data, then the run itself with the data's tokenizer
  const source = openSource(engine, cfg, opts, log);
  const data = await loadRunData(source.cfg, source.tokenizer, log);
  const run = openRun(engine, source, data.tokenizer, opts, log);
  const { loader, planFor } = trainBatches(run.cfg, data, log);
  if (!source.checkpoint && !opts.initFrom) {
    const stats = await featureStats(loader, planFor(0).slice(0, 20), run.model.cfg.featDim);
    run.model.params.write("frontend.feat_mean", stats.mean);
    run.model.params.write("frontend.feat_istd", stats.istd);
  }
  if (opts.initOnly) {
    if (source.checkpoint) throw new Error("--init-only writes a new run's initial model; it cannot be combined with --resume");
    await loader.close();
    return { steps: 0, finalLoss: NaN, bestWer: null, modelPath: writeInitModel(run, opts.initFrom), stoppedBy: "init-only" };
  }
  const valid = validation(run, data);
  // the loop, then the end
  const t0 = Date.now() - run.pos.elapsedSec * 1000;
  const { stoppedBy, lastLoss } = await trainLoop(run, loader, planFor, valid, t0, opts.status ?? statusLine());
  for (const line of data.ledger.report()) log(line); // bad input met while loading batches, if any
  const modelPath = await finishRun(run, valid, stoppedBy, (Date.now() - t0) / 1000, data);
  return { steps: run.pos.step, finalLoss: lastLoss, bestWer: run.pos.bestWer, modelPath, stoppedBy };
}
