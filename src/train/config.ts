// `todm train`'s configuration: one table of options with defaults (icefall train.py style), loaded
// from a JSON file and overridden from the command line (`--set key=value`, dotted keys).
// The defaults train the README's quick start: a Supernet of the small streaming model (18 subnets), 38
// minutes of training on a 2-core machine on the built-in synthetic corpus, then its subnets scored and
// exported (under 45 minutes in all). `--set supernet.enabled=false` trains the single model.

import { readFileSync } from "node:fs";
import { DEFAULT_CORPUS, type CorpusVersion } from "../data/corpus_plan.js";
import { DEFAULT_MODEL, PRUNED_DEFAULTS, type ModelConfig } from "../model/config.js";
import { DEFAULT_SPACE, type SupernetSpace } from "../model/supernet.js";
import { validateAverage, type AverageConfig } from "./average.js";

export interface TrainConfig {
  model: ModelConfig;
  data: {
    train: string[]; // manifests (JSONL) or LibriSpeech dirs; [] = the built-in synthetic corpus
    valid: string[];
    tokenizer: "bpe" | "char"; // char by default: it learned faster than BPE 256 in the 25-minute budget (RESULTS.md)
    vocabSize: number; // BPE vocabulary including blank
    maxDuration: number; // seconds; longer utterances are left out
    cacheDir: string; // synthetic corpus and feature cache
    featureCache: boolean | null; // cache training features on disk; null = yes, except for the built-in corpus v2 (see trainer.ts)
    corpus: CorpusVersion; // the built-in corpus used when train is [] ("v1": 6,000 espeak-ng sentences; "v2": issue 15's); a run saved without it used v1
    strict: boolean;
  };
  optim: {
    name: "scaled_adam" | "adamw";
    baseLr: number; // Eden base learning rate (ScaledAdam); AdamW uses adamwLr
    lrBatches: number;
    lrEpochs: number;
    warmupBatches: number;
    warmupStart: number;
    clippingScale: number | null;
    adamwLr: number;
    weightDecay: number;
  };
  batch: {
    maxFrames: number; // cap on B x T feature frames (10 ms each) per batch
    buckets: number;
  };
  train: {
    seed: number;
    maxMinutes: number; // wall-clock budget for the whole run; 0 = none
    maxSteps: number; // 0 = none
    epochs: number;
    dropout: number; // p for every dropout point of the encoder
    specAugment: boolean;
    speedPerturb: boolean; // each utterance of each epoch at speed 0.9, 1.0 or 1.1, drawn from the seed (src/audio/speed.ts); default SPEED_PERTURB
    validEvery: number; // steps between validations
    validUtterances: number; // validation subset size (0 = all)
    checkpointEvery: number; // steps between checkpoints
    keepCheckpoints: number;
    loaderWorkers: number;
    threads: number; // data-parallel training threads (src/train/parallel.ts); 1 = the calling thread only
    shareFrontend: boolean; // a Supernet step runs the subsampling once for all its subnets (Model.sandwichStep)
    /**
     * model.loss "pruned": steps of icefall's warm-up of the two loss scales (simple 1 -> model.simpleLossScale,
     * pruned 0.1 -> 1; src/model/rnnt_pruned.ts prunedLossScales). null = prunedWarmupOf(optim): icefall's
     * warm_step 2000 in proportion to its Eden lr_batches 5000, i.e. 0.4·optim.lrBatches (120 steps at the
     * default 300, about an eighth of the main job's ~1,000 updates). Unmeasured: the integrator's A/B sets it.
     */
    prunedWarmupSteps: number | null;
    /**
     * The running average of the weights (icefall's model_avg; src/train/average.ts): folded in every
     * `every` steps (0 = off) from `start`, a fraction in [0, 1) of the run's budget (train.maxSteps when
     * set, else train.maxMinutes of training time, else train.epochs). At the end the averaged and the
     * final weights are validated and the better becomes model.safetensors (finish.ts). Unmeasured
     * defaults: the integrator's A/B sets them.
     */
    average: AverageConfig;
  };
  /** The Supernet (src/model/supernet.ts): search space, sandwich sampling, distillation, dropout rule. */
  supernet: SupernetSpace;
  /** The n-gram LM the run builds and tunes at its end (src/train/lm.ts); read from the command line on resume too. */
  lm: {
    enabled: boolean; // build RUN_DIR/subnets/lm.tlm (single model: RUN_DIR/lm.tlm) from the training text and tune its weight
    order: number; // n-gram order over the tokenizer's units
    maxMb: number; // size limit of the LM file, MiB (the min count is raised until it fits)
    tuneUtterances: number; // the first N validation utterances the weight is tuned on (0 = all)
    beam: number; // beam of the tuning search
    grid: number[]; // the LM weights tried
  };
}

/**
 * Speed perturbation by default: off, by issue 15's A/B (corpus v2, default single model, seed 1, 1,029
 * updates, RESULTS.md): on, the yardstick moved 69.2% -> 67.0% greedy (inside the intervals) but
 * flite-heldout got worse (84.3% -> 86.4% greedy, 78.9% -> 82.3% beam 4) and valid too (63.9% -> 66.0%).
 * A default run reads corpus v2 about once, so the perturbation is not fighting repetition.
 */
export const SPEED_PERTURB = false;

/**
 * Weight averaging by default: every 10 steps over the last 30% of the budget (about 80 snapshots in the main
 * job's ~2,700 updates). Measured in the main job (RESULTS.md, session 8): from 0.7 of the budget 0.9-1.2
 * points greedy better than from 0.5 (paired intervals touching 0), the average 3-5 points better than the
 * final weights either way; while the WER still falls fast, an early start keeps weights that lag. A fold
 * reads 3.1 M floats, a few ms against a step of 0.7 s, so the period is about the snapshots' spread, not
 * their cost (not varied).
 */
export const AVERAGE: AverageConfig = { every: 10, start: 0.7 };

/** A run saved before train.average existed continues without averaging (open.ts). */
export const AVERAGE_OFF: AverageConfig = { every: 0, start: AVERAGE.start };

export const DEFAULT_TRAIN: TrainConfig = {
  // The training recipe adds the auxiliary CTC loss (weight 0.3) to the architecture's defaults: measured
  // on the default single model, 400 updates, same seed: 84.1% against 88.0% validation WER (RESULTS.md).
  // DEFAULT_MODEL itself has none, so library code that builds a Model gets no CTC head unless it asks.
  // The pruned RNN-T loss (issue 16's 10-minute proxies, RESULTS.md "What each lever bought"): as accurate as
  // the full loss at equal time (single model 83.8% vs 84.2% greedy, Supernet 89.3% vs 88.6%, both inside
  // the intervals) with 23-25% cheaper steps, so more of them in the main job. `--set model.loss=full` keeps
  // the full loss; under "full" the run drops the pruned loss's keys from the model it saves (open.ts).
  model: { ...DEFAULT_MODEL, ctcWeight: 0.3, ...PRUNED_DEFAULTS, loss: "pruned" },
  data: { train: [], valid: [], tokenizer: "char", vocabSize: 256, maxDuration: 20, cacheDir: "data-cache", featureCache: null, corpus: DEFAULT_CORPUS, strict: false },
  optim: {
    name: "scaled_adam", baseLr: 0.045, lrBatches: 300, lrEpochs: 8, warmupBatches: 100, warmupStart: 0.5,
    clippingScale: 2.0, adamwLr: 1e-3, weightDecay: 1e-2,
  },
  // 60 s of audio per batch: twice the updates of 120 s in the same time, 74.6% against 84.2% greedy on the
  // yardstick after 10 minutes (single model); 30 s batches were worse again (84.0%): RESULTS.md.
  batch: { maxFrames: 6000, buckets: 30 },
  // No SpecAugment: the main job sees each utterance about 1.3 times, too few for the masks to pay; they
  // delay the knee where the transducer starts to emit (10-minute proxy: 69.9% against 77.7% greedy on the
  // yardstick, RESULTS.md "What each lever bought"). Fine-tuning on a small corpus turns it back on.
  train: {
    seed: 1, maxMinutes: 38, maxSteps: 0, epochs: 100, dropout: 0.1, specAugment: false,
    validEvery: 200, validUtterances: 200, checkpointEvery: 100, keepCheckpoints: 5, loaderWorkers: 1, threads: 2,
    shareFrontend: true, speedPerturb: SPEED_PERTURB, prunedWarmupSteps: null, average: { ...AVERAGE },
  },
  supernet: structuredClone(DEFAULT_SPACE),
  // A character 6-gram at most 4 MiB: RESULTS.md "A first look at the LM" (2.69 MiB, built in 1.1 s; λ 0.2-0.3
  // best of 0.1..1 on 200 valid utterances). The tuning is timed in RESULTS.md "The run's LM".
  lm: { enabled: true, order: 6, maxMb: 4, tuneUtterances: 200, beam: 4, grid: [0.1, 0.2, 0.3, 0.4, 0.5] },
};

/** The pruned loss's warm-up in steps: train.prunedWarmupSteps, or 0.4·optim.lrBatches when null (icefall's 2000 / 5000). */
export function prunedWarmupOf(cfg: Pick<TrainConfig, "train" | "optim">): number {
  return cfg.train.prunedWarmupSteps ?? Math.round(0.4 * cfg.optim.lrBatches);
}

type Json = string | number | boolean | null | Json[] | { [k: string]: Json };

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === "object" && x !== null && !Array.isArray(x);
}

/** Deep-merges `patch` into a copy of `base`, refusing keys the base does not have (typos). */
export function mergeConfig<T>(base: T, patch: unknown, source: string, path = ""): T {
  if (!isObject(patch)) throw new Error(`${source}: ${path || "the config"} must be a JSON object`);
  const out = structuredClone(base) as Record<string, unknown>;
  for (const [k, v] of Object.entries(patch)) {
    const key = path ? `${path}.${k}` : k;
    if (!(k in out)) throw new Error(`${source}: unknown option "${key}" (see \`todm train --help\`)`);
    const cur = out[k];
    if (isObject(cur)) out[k] = mergeConfig(cur, v, source, key);
    else {
      const ok = cur === null || v === null || typeof cur === typeof v || (Array.isArray(cur) && Array.isArray(v));
      if (!ok) throw new Error(`${source}: option "${key}" must be ${Array.isArray(cur) ? "an array" : `a ${typeof cur}`}, got ${JSON.stringify(v)}`);
      out[k] = v;
    }
  }
  return out as T;
}

/** Parses `key=value` (value as JSON when it parses, else a string) into a nested patch. */
export function parseOverride(s: string): Record<string, Json> {
  const eq = s.indexOf("=");
  if (eq <= 0) throw new Error(`--set ${s}: expected key=value, e.g. --set train.maxMinutes=10`);
  const keys = s.slice(0, eq).split(".");
  let value: Json;
  try {
    value = JSON.parse(s.slice(eq + 1));
  } catch {
    value = s.slice(eq + 1);
  }
  const root: Record<string, Json> = {};
  let node = root;
  keys.forEach((k, i) => {
    if (i === keys.length - 1) node[k] = value;
    else node = (node[k] = {}) as Record<string, Json>;
  });
  return root;
}

export function loadTrainConfig(file: string | undefined, overrides: string[]): TrainConfig {
  let cfg = structuredClone(DEFAULT_TRAIN);
  if (file) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(file, "utf8"));
    } catch (e) {
      throw new Error(`${file}: ${(e as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : `not valid JSON (${(e as Error).message})`}`);
    }
    cfg = mergeConfig(cfg, parsed, file);
  }
  for (const o of overrides) cfg = mergeConfig(cfg, parseOverride(o), `--set ${o}`);
  validateAverage(cfg.train.average, [file, ...overrides.filter((o) => o.startsWith("train.average")).map((o) => `--set ${o}`)].filter(Boolean).join(", ") || "config");
  return cfg;
}

/** Every option with its default, one per line, for --help. */
export function describeDefaults(cfg: unknown = DEFAULT_TRAIN, path = ""): string[] {
  if (!isObject(cfg)) return [`  ${path} = ${JSON.stringify(cfg)}`];
  return Object.entries(cfg).flatMap(([k, v]) => describeDefaults(v, path ? `${path}.${k}` : k));
}
