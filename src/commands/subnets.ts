// `todm subnets`: the subnets of a Supernet (a train config or a run), largest first, with parameters,
// multiply-accumulates per second of audio and, for a run, the last validation WER it recorded.
//
//   todm subnets                          # the default train config
//   todm subnets --config my.json         # a train config, as `todm train --config`
//   todm subnets --run runs/exp1          # a run: its model file's config, config.json's search space
//   todm subnets --run runs/exp1 --names  # names only, one a line, largest first
//
// With supernet.enabled false the list is the single model. Also the run helpers that export and
// `eval --run` share: the run's space and model config, and the validation WERs of its log.

import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { subnetName, supernetSpec, type ModelConfig } from "../model/config.js";
import { parseModelMetadata } from "../model/io.js";
import { listSubnets, validateSpace, type SubnetInfo, type SupernetSpace } from "../model/supernet.js";
import { readSafetensors } from "../io/safetensors.js";
import { loadTrainConfig } from "../train/config.js";

export interface RunSpace {
  model: ModelConfig;
  space: SupernetSpace;
  subnets: SubnetInfo[];
  /** Where the model config came from. */
  modelSource: string;
}

/** Subnets of a model under a space (checked; `source` names the config in errors), largest first. */
function subnetsOf(model: ModelConfig, space: SupernetSpace, source: string): SubnetInfo[] {
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

export interface SubnetsCommandOptions {
  config?: string;
  run?: string;
  names?: boolean;
  log?: (line: string) => void;
}

export const fmtCount = (n: number) => (n >= 1e6 ? `${(n / 1e6).toFixed(2)} M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)} k` : String(n));

/** Prints the list; returns it. */
export function runSubnets(opts: SubnetsCommandOptions): SubnetInfo[] {
  const log = opts.log ?? ((l: string) => console.log(l));
  if (opts.config && opts.run) throw new Error("subnets: give --config or --run, not both");
  let subnets: SubnetInfo[], source: string, wers = new Map<string, number>(), step: number | null = null;
  if (opts.run) {
    const r = readRunSpace(opts.run);
    subnets = r.subnets;
    source = `run ${opts.run} (model: ${r.modelSource})`;
    ({ step, wers } = lastValidationWers(opts.run, r.model));
  } else {
    const train = loadTrainConfig(opts.config, []);
    subnets = subnetsOf(train.model, train.supernet, opts.config ?? "the default train config");
    source = opts.config ? `config ${opts.config}` : "the default train config";
  }
  if (opts.names) {
    for (const s of subnets) log(s.name);
    return subnets;
  }
  log(`${subnets.length} subnet${subnets.length === 1 ? "" : "s"} of ${source}, largest first${subnets.length === 1 ? " (supernet.enabled is false: the single model)" : ""}`);
  const hasWer = wers.size > 0;
  log(`${"subnet".padEnd(16)} ${"layers".padStart(6)} ${"ffDim".padStart(6)} ${"heads".padStart(5)} ${"params".padStart(10)} ${"MMAC/s".padStart(8)}${hasWer ? `  valid WER% (step ${step})` : ""}`);
  for (const s of subnets) {
    const w = wers.get(s.name);
    log(`${s.name.padEnd(16)} ${String(s.spec.layers).padStart(6)} ${String(s.spec.ffDim).padStart(6)} ${String(s.spec.heads).padStart(5)} ${fmtCount(s.params).padStart(10)} ${(s.macs / 1e6).toFixed(1).padStart(8)}${hasWer ? `  ${w === undefined ? "-" : w.toFixed(2)}` : ""}`);
  }
  log("params: trained parameters; MMAC/s: millions of multiply-accumulates per second of audio (GEMMs and the SSM scan; 3 tokens/s)");
  return subnets;
}
