// Phase 4 of a training run (trainer.ts): the end. A last checkpoint; unless stopped by a signal, the
// final validation, RUN_DIR/model.safetensors and curves.svg; for a Supernet run, the chosen subnets
// scored on the test split (src/eval/subnets.ts, what `todm eval --run` does) and each exported as a
// standalone model (export.ts, what `todm export` does); the run's n-gram LM built and its weight tuned
// (lm.ts), named with that weight in the exported subnets' metadata (a single model: in model.safetensors).
// Also the --init-only model. Not here: the steps (loop.ts).

import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { corpusCacheDir } from "../data/corpus_plan.js";
import { runEvalSubnets } from "../eval/subnets.js";
import { writeFileAtomic } from "../io/safetensors.js";
import { saveModel } from "../model/io.js";
import { linePlot } from "../util/plot.js";
import type { TrainingData } from "../data/dataset.js";
import { supernetSpec } from "../model/config.js";
import type { Validation } from "./data.js";
import { runExport } from "./export.js";
import { buildAndTuneRunLm, type RunLmResult } from "./lm.js";
import type { StopReason } from "./loop.js";
import type { Run } from "./open.js";
import { readRunLog } from "./rundir.js";

/** The exact state a run starts its first step from, OUT/init.safetensors: what the PyTorch mirror (test/ref/train_mirror.py) loads. */
export function writeInitModel(run: Run, initFrom: string | undefined): string {
  const initPath = join(run.dir, "init.safetensors");
  saveModel(initPath, run.model, run.tokenizer, { "todm.info": JSON.stringify({ step: 0, seed: run.cfg.train.seed, initFrom: initFrom ?? null }) });
  run.log(`wrote the initial model ${initPath} (no training: --init-only)`);
  return initPath;
}

/** The end of the run after the loop stopped; returns the model file written (the checkpoint after a signal). */
export async function finishRun(run: Run, validation: Validation, stoppedBy: StopReason, elapsedSec: number, data: TrainingData): Promise<string> {
  const { pos, space, log } = run;
  pos.elapsedSec = elapsedSec;
  const ckpt = run.checkpoint(elapsedSec);
  log(`\nstopped (${stoppedBy}) at step ${pos.step}; checkpoint ${ckpt}`);
  if (stoppedBy === "signal") return ckpt;
  const wers = await validation.run();
  const wer = wers ? wers.get(run.subnets[0].name)! : null;
  if (wers && wer !== null) {
    run.writeLog({ type: "valid", step: pos.step, epoch: pos.epoch, wer, ...(space.enabled ? { subnets: Object.fromEntries(wers) } : {}), elapsedSec: pos.elapsedSec });
    log(`final validation WER ${wer.toFixed(2)}% (best ${pos.bestWer === null ? wer.toFixed(2) : Math.min(wer, pos.bestWer).toFixed(2)}%)` +
      (space.enabled ? `; subnets: ${[...wers].map(([n, w]) => `${n} ${w.toFixed(2)}%`).join(", ")}` : ""));
  }
  // a single model's LM beside model.safetensors, which names it; a Supernet's beside its exported subnets
  const lm = space.enabled ? null : await runLmSafely(run, data, join(run.dir, "lm.tlm"));
  const modelPath = join(run.dir, "model.safetensors");
  saveModel(modelPath, run.model, run.tokenizer, {
    "todm.info": JSON.stringify({ step: pos.step, validWer: wer, trainSeconds: pos.elapsedSec }),
    ...(lm ? { "todm.lm": JSON.stringify({ file: "lm.tlm", weight: lm.weight }) } : {}),
  });
  writePlot(run.dir);
  log(`wrote ${modelPath} and ${join(run.dir, "curves.svg")}`);
  if (space.enabled) await finishSupernet(run, data);
  return modelPath;
}

/**
 * The end of a Supernet run: the chosen subnets (supernet.export, default the validated ones) scored on the
 * test split (the built-in corpus's, else the first validation manifest) into RUN_DIR/subnets.md and
 * subnets.svg; the run's LM built to RUN_DIR/subnets/lm.tlm and its weight tuned with the largest (lm.ts);
 * each subnet exported as a standalone model to RUN_DIR/subnets/<name>.safetensors that names the LM with W.
 */
async function finishSupernet(run: Run, data: TrainingData): Promise<void> {
  const { cfg, dir, engine, log } = run;
  const names = cfg.supernet.export?.length ? cfg.supernet.export : run.validSubs.map((s) => s.name);
  const test = cfg.data.train.length ? cfg.data.valid[0] : join(corpusCacheDir(cfg.data.cacheDir, cfg.data.corpus ?? "v1"), "test.jsonl");
  if (test && existsSync(test)) {
    log(`\nscoring ${names.length} of the ${run.subnets.length} subnets on ${test}`);
    await runEvalSubnets(engine, { run: dir, data: test, subnets: names.join(","), beam: 1, log, progress: Boolean(process.stderr.isTTY) && process.env.CI !== "true" });
  } else {
    log("no test data to score the subnets on (give --valid): RUN_DIR/subnets.md not written");
  }
  mkdirSync(join(dir, "subnets"), { recursive: true });
  const lm = await runLmSafely(run, data, join(dir, "subnets", "lm.tlm"));
  for (const n of names) {
    const out = join(dir, "subnets", `${n}.safetensors`);
    runExport(engine, { run: dir, subnet: n, out, log, ...(lm ? { lm: lm.path, lmWeight: lm.weight, lmInPlace: true } : { noLm: true }) });
  }
}

/** The run's LM (lm.ts) with the whole model; a failure is logged and the run ends without an LM. */
async function runLmSafely(run: Run, data: TrainingData, path: string): Promise<RunLmResult | null> {
  try {
    return await buildAndTuneRunLm(run, data, supernetSpec(run.model.cfg), path);
  } catch (e) {
    run.log(`no LM: ${(e as Error).message}`);
    return null;
  }
}

/** curves.svg from log.jsonl: training loss (smoothed) and validation WER against steps. */
export function writePlot(runDir: string): void {
  const lines = readRunLog(runDir) as Record<string, any>[]; // eslint-disable-line @typescript-eslint/no-explicit-any
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
