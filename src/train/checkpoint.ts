// Checkpoints: a model file (src/model/io.ts) plus the optimizer's state as `optim.*` tensors, the
// run's position as JSON metadata `todm.checkpoint` ({step, epoch, batchInEpoch, ...}) and, when the run
// averages its weights (average.ts), the running average as the F64 tensor `average.weights` (the
// trainable region of the parameters, flat) with `todm.average` ({every, start, count}). Written
// atomically as RUN_DIR/checkpoints/step-<8 digits>.safetensors; the newest K are kept.

import { mkdirSync, readdirSync, unlinkSync } from "node:fs";
import { join } from "node:path";
import type { Tokenizer } from "../data/tokenizer.js";
import { encodeSafetensors, readSafetensors, writeFileAtomic, ModelFileError, type NamedTensor } from "../io/safetensors.js";
import { FORMAT_VERSION, loadModelFromFile } from "../model/io.js";
import type { Model } from "../model/model.js";
import type { Engine } from "../engine/engine.js";
import type { AverageState } from "./average.js";

export interface RunPosition {
  step: number; // optimizer steps taken
  epoch: number;
  batchInEpoch: number; // batches of `epoch` already consumed
  elapsedSec: number; // training time before this checkpoint
  bestWer: number | null;
  bestStep: number | null;
}

export interface OptimizerSnapshot {
  tensors: Record<string, Float32Array>;
  json: Record<string, unknown>;
}

export function checkpointName(step: number): string {
  return `step-${String(step).padStart(8, "0")}.safetensors`;
}

export function listCheckpoints(runDir: string): string[] {
  try {
    return readdirSync(join(runDir, "checkpoints")).filter((f) => /^step-\d{8}\.safetensors$/.test(f)).sort().map((f) => join(runDir, "checkpoints", f));
  } catch {
    return [];
  }
}

export function saveCheckpoint(runDir: string, model: Model, tokenizer: Tokenizer, opt: OptimizerSnapshot,
                               pos: RunPosition, trainConfig: unknown, keep: number, average?: AverageState): string {
  const dir = join(runDir, "checkpoints");
  mkdirSync(dir, { recursive: true });
  const tensors: NamedTensor[] = model.params.entries.map((e) => ({ name: e.name, dtype: "F32", shape: e.shape, data: model.params.read(e.name) }));
  for (const [k, v] of Object.entries(opt.tensors)) tensors.push({ name: `optim.${k}`, dtype: "F32", shape: [v.length], data: v });
  if (average?.weights) tensors.push({ name: "average.weights", dtype: "F64", shape: [average.weights.length], data: average.weights });
  const path = join(dir, checkpointName(pos.step));
  writeFileAtomic(path, encodeSafetensors(tensors, {
    "todm.format_version": FORMAT_VERSION,
    "todm.config": JSON.stringify(model.cfg),
    "todm.tokenizer": JSON.stringify(tokenizer.toJSON()),
    "todm.checkpoint": JSON.stringify({ ...pos, optimizer: opt.json }),
    "todm.train_config": JSON.stringify(trainConfig),
    ...(average ? { "todm.average": JSON.stringify({ every: average.every, start: average.start, count: average.count }) } : {}),
  }));
  const all = listCheckpoints(runDir);
  for (const old of all.slice(0, Math.max(0, all.length - keep))) unlinkSync(old);
  return path;
}

export interface LoadedCheckpoint {
  model: Model;
  tokenizer: Tokenizer;
  position: RunPosition;
  optimizer: OptimizerSnapshot;
  trainConfig: unknown;
  /** The running average of the weights, when the run kept one (todm.average). */
  average?: AverageState;
}

export function loadCheckpoint(engine: Engine, path: string): LoadedCheckpoint {
  const file = readSafetensors(path);
  const { model, tokenizer, metadata } = loadModelFromFile(engine, file, path);
  let ck: RunPosition & { optimizer: Record<string, unknown> };
  try {
    ck = JSON.parse(metadata["todm.checkpoint"] ?? "");
  } catch {
    throw new ModelFileError(path, "not a checkpoint: no todm.checkpoint metadata (a model file? use --init-from)");
  }
  const tensors: Record<string, Float32Array> = {};
  for (const [name, t] of file.tensors) if (name.startsWith("optim.")) tensors[name.slice(6)] = t.data as Float32Array;
  const { optimizer, ...position } = ck;
  let average: AverageState | undefined;
  if (metadata["todm.average"] !== undefined) {
    const a = JSON.parse(metadata["todm.average"]) as Omit<AverageState, "weights">;
    const w = file.tensors.get("average.weights");
    if (a.count > 0 && w?.dtype !== "F64") throw new ModelFileError(path, `todm.average holds ${a.count} snapshots but the F64 tensor average.weights is ${w ? w.dtype : "missing"}`);
    average = { ...a, weights: a.count > 0 ? (w!.data as Float64Array) : null };
  }
  return { model, tokenizer, position, optimizer: { tensors, json: optimizer }, trainConfig: JSON.parse(metadata["todm.train_config"] ?? "null"), average };
}
