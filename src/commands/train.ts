// `todm train`: resolves the configuration (defaults, --config FILE, --set overrides, data options),
// prints it, and runs the training loop (src/train/trainer.ts).
//
//   node dist/cli.js train                                  # default model, built-in synthetic corpus (v2)
//   node dist/cli.js train --corpus v1                      # on the corpus of RESULTS.md's earlier runs
//   node dist/cli.js train --out runs/k --train k.jsonl --valid kv.jsonl --set train.maxMinutes=30
//   node dist/cli.js train --resume runs/k                  # continue a stopped or killed run
//   node dist/cli.js train --threads 2                      # data-parallel on 2 threads (src/train/parallel.ts)
//   node dist/cli.js train --out /tmp/init --init-only      # only OUT/init.safetensors: the step-0 model

import { createEngine } from "../index.js";
import { CORPUS_VERSIONS, type CorpusVersion } from "../data/corpus_plan.js";
import { loadTrainConfig } from "../train/config.js";
import { train } from "../train/trainer.js";

export interface TrainCliOptions {
  config?: string;
  out?: string;
  resume?: string;
  initFrom?: string;
  initOnly?: boolean;
  threads?: string;
  train?: string[];
  valid?: string[];
  set?: string[];
  minutes?: string;
  steps?: string;
  seed?: string;
  corpus?: string;
}

export async function runTrain(o: TrainCliOptions): Promise<void> {
  const overrides = [...(o.set ?? [])];
  if (o.train?.length) overrides.push(`data.train=${JSON.stringify(o.train)}`);
  if (o.valid?.length) overrides.push(`data.valid=${JSON.stringify(o.valid)}`);
  if (o.minutes !== undefined) overrides.push(`train.maxMinutes=${Number(o.minutes)}`);
  if (o.steps !== undefined) overrides.push(`train.maxSteps=${Number(o.steps)}`);
  if (o.seed !== undefined) overrides.push(`train.seed=${Number(o.seed)}`);
  if (o.corpus !== undefined) {
    if (!CORPUS_VERSIONS.includes(o.corpus as CorpusVersion)) throw new Error(`--corpus ${o.corpus}: expected one of ${CORPUS_VERSIONS.join(", ")}`);
    overrides.push(`data.corpus=${o.corpus}`);
  }
  if (o.threads !== undefined) {
    const n = Number(o.threads);
    if (!Number.isInteger(n) || n < 1) throw new Error(`--threads ${o.threads}: expected a whole number >= 1`);
    overrides.push(`train.threads=${n}`);
  }
  const cfg = loadTrainConfig(o.config, overrides);
  const out = o.resume ?? o.out ?? "runs/default";
  console.log(`todm train: run directory ${out}${o.resume ? " (resume)" : ""}`);
  console.log("resolved config:");
  console.log(JSON.stringify(cfg, null, 2));
  const engine = await createEngine();
  console.log(`engine build: ${engine.build}`);
  const r = await train(engine, cfg, { out, resume: Boolean(o.resume), initFrom: o.initFrom, initOnly: Boolean(o.initOnly) });
  console.log(`done: ${r.steps} steps, stopped by ${r.stoppedBy}; model ${r.modelPath}`);
  if (r.stoppedBy === "signal") process.exitCode = 130;
}
