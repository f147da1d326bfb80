// Reading a run directory (what `todm train` writes, src/train/trainer.ts): its model file, its Supernet's
// subnets (the model file's config under config.json's search space), its log and the validation WERs the
// log recorded. Shared by the end of a run (finish.ts), `todm subnets`, `todm export` and `todm eval --run`.
// Not here: writing a run (trainer.ts and its phases), choosing a subnet to export (export.ts).

import { existsSync, readFileSync, statSync } from "node:fs";
import { isAbsolute, join } from "node:path";
import { subnetName, supernetSpec, type ModelConfig } from "../model/config.js";
import { parseModelMetadata } from "../model/io.js";
import { listSubnets, validateSpace, type SubnetInfo, type SupernetSpace } from "../model/supernet.js";
import { ModelFileError, readSafetensors } from "../io/safetensors.js";
import { loadTrainConfig } from "./config.js";

export interface RunSpace {
  model: ModelConfig;
  space: SupernetSpace;
  subnets: SubnetInfo[];
  /** Where the model config came from. */
  modelSource: string;
}

/** Subnets of a model under a space (checked; `source` names the config in errors), largest first. */
export function subnetsOf(model: ModelConfig, space: SupernetSpace, source: string): SubnetInfo[] {
  if (space.enabled) validateSpace(model, space, source);
  const inside = (s: SubnetInfo) => s.spec.layers <= model.layers && s.spec.ffDim <= model.ffDim && s.spec.heads <= model.heads;
  const all = listSubnets(model, space).filter(inside);
  return all.length ? all : listSubnets(model, { ...space, enabled: false });
}

/**
 * A run's subnets: the model config of `modelFile` (default RUN_DIR/model.safetensors, else
 * best.safetensors; its vocabulary is the tokenizer's) and the search space of RUN_DIR/config.json.
 */
export function readRunSpace(runDir: string, modelFile?: string): RunSpace {
  const cfgPath = join(runDir, "config.json");
  if (!existsSync(runDir)) throw new Error(`--run ${runDir}: no such directory`);
  if (!existsSync(cfgPath)) throw new Error(`--run ${runDir}: no config.json (is it a todm run directory?)`);
  const train = loadTrainConfig(cfgPath, []);
  const file = modelFile ?? [join(runDir, "model.safetensors"), join(runDir, "best.safetensors")].find((f) => existsSync(f));
  let model = train.model, modelSource = `${cfgPath} (model.vocabSize as configured)`;
  if (file && existsSync(file)) {
    model = parseModelMetadata(readSafetensors(file), file).cfg;
    modelSource = file;
  }
  return { model, space: train.supernet, subnets: subnetsOf(model, train.supernet, cfgPath), modelSource };
}

/** The validation WERs of the last `valid` line of RUN_DIR/log.jsonl that has any, by subnet name. */
export function lastValidationWers(runDir: string, model: ModelConfig): { step: number | null; wers: Map<string, number> } {
  const path = join(runDir, "log.jsonl");
  const wers = new Map<string, number>();
  if (!existsSync(path)) return { step: null, wers };
  const lines = readFileSync(path, "utf8").split("\n").filter(Boolean);
  for (let i = lines.length - 1; i >= 0; i--) {
    let r: { type?: string; step?: number; wer?: unknown; subnets?: Record<string, unknown> };
    try {
      r = JSON.parse(lines[i]);
    } catch {
      throw new Error(`${path}:${i + 1}: not JSON`);
    }
    if (r.type !== "valid") continue;
    for (const [name, w] of Object.entries(r.subnets ?? {})) if (typeof w === "number" && Number.isFinite(w)) wers.set(name, w);
    const largest = subnetName(supernetSpec(model));
    if (!wers.has(largest) && typeof r.wer === "number" && Number.isFinite(r.wer)) wers.set(largest, r.wer);
    if (wers.size) return { step: r.step ?? null, wers };
  }
  return { step: null, wers };
}

/** "1.5M", "800k", "2e6", "1200000" -> a number. */
export function parseCount(s: string, what = "--max-params"): number {
  const m = /^\s*([0-9]*\.?[0-9]+(?:e[0-9]+)?)\s*([kKmMgG]?)\s*$/.exec(s);
  if (!m) throw new Error(`${what} ${s}: expected a number, optionally with a k, M or G suffix (e.g. 1.5M)`);
  const mult = { "": 1, k: 1e3, m: 1e6, g: 1e9 }[m[2].toLowerCase()]!;
  return Number(m[1]) * mult;
}

export const fmtCount = (n: number) => (n >= 1e6 ? `${(n / 1e6).toFixed(2)} M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)} k` : String(n));

/** RUN_DIR/model.safetensors, or `--model-file` (a name inside the run directory, or a path). */
export function runModelFile(runDir: string, modelFile?: string): string {
  if (!existsSync(runDir) || !statSync(runDir).isDirectory()) throw new Error(`--run ${runDir}: no such directory`);
  // a name inside the run directory first (best.safetensors), else a path
  const inRun = modelFile && !isAbsolute(modelFile) ? join(runDir, modelFile) : undefined;
  const file = !modelFile ? join(runDir, "model.safetensors") : inRun && (existsSync(inRun) || !existsSync(modelFile)) ? inRun : modelFile;
  if (!existsSync(file)) {
    const hint = existsSync(join(runDir, "checkpoints"))
      ? `make one with todm average --run ${runDir} --last N --out FILE, or pick another with --model-file (e.g. best.safetensors)`
      : "a finished run holds model.safetensors (and best.safetensors)";
    throw new ModelFileError(file, "no such model file", hint);
  }
  return file;
}

/** The records of RUN_DIR/log.jsonl, in order. */
export function readRunLog(runDir: string): Record<string, unknown>[] {
  return readFileSync(join(runDir, "log.jsonl"), "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l));
}
