// Phase 4 of a training run (trainer.ts): the end. A last checkpoint; unless stopped by a signal, the
// final validation, RUN_DIR/model.safetensors (the better of the final and the averaged weights when the
// run averaged them: average.ts) and curves.svg; for a Supernet run, the chosen subnets
// scored on the test split (src/eval/subnets.ts, what `todm eval --run` does) and each exported as a
// standalone model (export.ts, what `todm export` does); the run's n-gram LM built and its weight tuned
// (lm.ts), named with that weight in the exported subnets' metadata (a single model: in model.safetensors).
// Also the --init-only model. Not here: the steps (loop.ts).

import { existsSync, mkdirSync, unlinkSync } from "node:fs";
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
  const { pos, space, log, average } = run;
  pos.elapsedSec = elapsedSec;
  const ckpt = run.checkpoint(elapsedSec);
  log(`\nstopped (${stoppedBy}) at step ${pos.step}; checkpoint ${ckpt}`);
  if (stoppedBy === "signal") return ckpt;
  const wers = await validation.run();
  const wer = wers ? wers.get(run.subnets[0].name)! : null;
  if (wers && wer !== null) {
    log(`final validation WER ${wer.toFixed(2)}% (best ${pos.bestWer === null ? wer.toFixed(2) : Math.min(wer, pos.bestWer).toFixed(2)}%)` +
      (space.enabled ? `; subnets: ${fmtWers(wers)}` : ""));
  }
  const modelPath = join(run.dir, "model.safetensors");
  let info: Record<string, unknown> = { step: pos.step, validWer: wer, trainSeconds: pos.elapsedSec };
  if (average.count > 0) {
    info = await keepBetterOfAverage(run, validation, wers, info);
  } else {
    if (wers && wer !== null) run.writeLog(validRecord(run, wers));
    if (average.enabled) log(`weight averaging: no snapshot taken (${average.start === null ? "the run ended before train.average.start" : `started at step ${average.start}, fewer than train.average.every steps before the end`}); model.safetensors holds the final weights`);
    saveModel(modelPath, run.model, run.tokenizer, { "todm.info": JSON.stringify(info) });
  }
  // a single model's LM beside model.safetensors, which names it (tuned on the weights just chosen); a
  // Supernet's beside its exported subnets
  const lm = space.enabled ? null : await runLmSafely(run, data, join(run.dir, "lm.tlm"));
  if (lm) saveModel(modelPath, run.model, run.tokenizer, { "todm.info": JSON.stringify(info), "todm.lm": JSON.stringify({ file: "lm.tlm", weight: lm.weight }) });
  writePlot(run.dir);
  log(`wrote ${average.count > 0 ? "" : `${modelPath} and `}${join(run.dir, "curves.svg")}`);
  if (space.enabled) await finishSupernet(run, data);
  return modelPath;
}

const fmtWers = (wers: Map<string, number>) => [...wers].map(([n, w]) => `${n} ${w.toFixed(2)}%`).join(", ");

/** A log.jsonl `valid` record of the run's current step; `weights` says which weights when the run averaged. */
function validRecord(run: Run, wers: Map<string, number>, weights?: "final" | "average"): Record<string, unknown> {
  const { pos, space } = run;
  return { type: "valid", step: pos.step, epoch: pos.epoch, wer: wers.get(run.subnets[0].name)!, ...(space.enabled ? { subnets: Object.fromEntries(wers) } : {}),
    elapsedSec: pos.elapsedSec, ...(weights ? { weights } : {}) };
}

/**
 * The running average of the weights (average.ts) against the final weights, on the same validation subset:
 * the better becomes RUN_DIR/model.safetensors, the other model-final.safetensors or model-avg.safetensors.
 * "Better" is the lower mean WER over the validated subnets (a single model: its WER). The mean, not the
 * largest subnet alone: the one set of weights serves every exported subnet, and four subnets' WERs on
 * the same utterances are a steadier measure than one. The average is kept only when it measures better
 * (a tie or no validation data keeps the final weights). Both WERs go to the log and to todm.info; the
 * chosen model's `valid` record is written last, so that the readers of the last validation (export,
 * eval --run) see the weights of model.safetensors. The model is left holding the chosen weights.
 */
async function keepBetterOfAverage(run: Run, validation: Validation, finalWers: Map<string, number> | null, info: Record<string, unknown>): Promise<Record<string, unknown>> {
  const { engine, model, average, dir, log } = run;
  const finalWeights = engine.read(model.params.paramPtr, model.params.trainableFloats);
  average.loadInto();
  const avgWers = await validation.run();
  const mean = (w: Map<string, number> | null) => (w && w.size ? [...w.values()].reduce((a, b) => a + b, 0) / w.size : null);
  const finalScore = mean(finalWers), avgScore = mean(avgWers);
  const chosen: "average" | "final" = finalScore !== null && avgScore !== null && avgScore < finalScore ? "average" : "final";
  const summary = {
    every: average.cfg.every, start: average.start, count: average.count, chosen,
    measure: run.space.enabled ? "mean validation WER of the validated subnets" : "validation WER",
    finalWer: finalScore, averageWer: avgScore,
  };
  const fmt = (x: number | null) => (x === null ? "n/a" : `${x.toFixed(2)}%`);
  log(`weight averaging: ${average.count} snapshots every ${average.cfg.every} steps from step ${average.start}; ${summary.measure}: ` +
    `averaged ${fmt(avgScore)}${avgWers && run.space.enabled ? ` (${fmtWers(avgWers)})` : ""}, final ${fmt(finalScore)}; ` +
    `model.safetensors holds the ${chosen === "average" ? "averaged" : "final"} weights${finalScore === null ? " (no validation data to compare them)" : ""}`);
  const records = [finalWers && validRecord(run, finalWers, "final"), avgWers && validRecord(run, avgWers, "average")].filter((r) => r !== null);
  if (chosen === "final") records.reverse();
  for (const r of records) run.writeLog(r);
  run.writeLog({ type: "average", step: run.pos.step, ...summary });
  const files = { average: chosen === "average" ? "model.safetensors" : "model-avg.safetensors", final: chosen === "final" ? "model.safetensors" : "model-final.safetensors" };
  const largest = (w: Map<string, number> | null) => (w ? w.get(run.subnets[0].name) ?? null : null);
  // the model holds the averaged weights, then the final ones
  saveModel(join(dir, files.average), model, run.tokenizer, { "todm.info": JSON.stringify({ ...info, validWer: largest(avgWers), weights: "average", average: summary }) });
  engine.write(model.params.paramPtr, finalWeights);
  saveModel(join(dir, files.final), model, run.tokenizer, { "todm.info": JSON.stringify({ ...info, validWer: largest(finalWers), weights: "final", average: summary }) });
  if (chosen === "average") average.loadInto();
  // a file of an earlier end of this run (resumed since) that now names the other weights
  const stale = join(dir, chosen === "average" ? "model-avg.safetensors" : "model-final.safetensors");
  if (existsSync(stale)) unlinkSync(stale);
  log(`wrote ${join(dir, files.average)} (averaged) and ${join(dir, files.final)} (final)`);
  const largestOf = chosen === "average" ? avgWers : finalWers;
  return { ...info, validWer: largest(largestOf), weights: chosen, average: summary }; // what model.safetensors says
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
  // the averaged weights' validation at the end is not a point of the training curve (finish.ts)
  const valid = lines.filter((r) => r.type === "valid" && r.wer !== null && r.weights !== "average");
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
