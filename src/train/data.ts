// Phase 2 of a training run (trainer.ts): its data. The training and validation utterances (bad input
// skipped and counted), the batch loaders, each epoch's batch plan, the feature statistics a new run
// normalises with, SpecAugment, and the greedy validation WER of the validated subnets. Not here:
// reading manifests and corpora (src/data/), the feature extractor (src/engine/features.ts).

import { join } from "node:path";
import { specAugment } from "../engine/features.js";
import { loadTrainingData, type TrainingData } from "../data/dataset.js";
import { makeBatches, framesFor, type Batch } from "../data/batching.js";
import { BatchLoader } from "../data/loader.js";
import { ENGINE_FBANK } from "../data/features.js";
import { corpusCacheDir } from "../data/corpus_plan.js";
import { speedFactor } from "../audio/speed.js";
import type { Tokenizer } from "../data/tokenizer.js";
import { alignTexts } from "../eval/wer.js";
import type { TrainConfig } from "./config.js";
import type { Run } from "./open.js";

/** A 32-bit hash of a few integers (FNV-1a style): the seeds of a step's masks and subnets. */
export function hashSeed(...xs: number[]): number {
  let h = 0x811c9dc5;
  for (const x of xs) {
    h = Math.imul(h ^ (x >>> 0), 0x01000193);
    h ^= h >>> 13;
  }
  return h >>> 0;
}

/** The training and validation utterances, read with `tokenizer` (a resumed or initial model's) or a new one of the config's kind. */
export async function loadRunData(cfg: TrainConfig, tokenizer: Tokenizer | undefined, log: (l: string) => void): Promise<TrainingData> {
  const data = await loadTrainingData({
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
  if (data.train.utterances.length === 0) throw new Error("no training utterances left after skipping bad input");
  return data;
}

/**
 * The training batches: a loader over the training utterances and each epoch's plan (seeded by the run's
 * seed). With speed perturbation (train.speedPerturb) each utterance of each epoch plays at 0.9, 1.0 or
 * 1.1 (drawn from the seed, src/audio/speed.ts) and the epoch is planned on the perturbed lengths, so
 * maxFrames still holds; only factor 1.0 features are cached.
 * The built-in corpus v2 (~29 h) is read less than once by a default run, so its cached training
 * features would cost 3.3 GB of disk without ever being read (data.featureCache null = cache, except
 * there); validation features are always cached.
 */
export function trainBatches(cfg: TrainConfig, data: TrainingData, log: (l: string) => void = () => {}): { loader: BatchLoader; planFor: (epoch: number) => number[][] } {
  const utterances = data.train.utterances;
  const builtinV2 = cfg.data.train.length === 0 && (cfg.data.corpus ?? "v1") === "v2";
  const cacheDir = (cfg.data.featureCache ?? !builtinV2) ? join(cfg.data.cacheDir, "features") : undefined;
  // a run saved before speedPerturb existed had none
  const speed = cfg.train.speedPerturb ? { seed: cfg.train.seed } : undefined;
  const loader = new BatchLoader({ utterances, features: ENGINE_FBANK, workers: cfg.train.loaderWorkers, cacheDir, ledger: data.ledger, speedPerturb: speed });
  const framesAt = (epoch: number) => utterances.map((u, i) => framesFor(speed ? u.duration / speedFactor(speed.seed, epoch, i) : u.duration));
  const planFor = (epoch: number) => makeBatches(framesAt(epoch), { maxFrames: cfg.batch.maxFrames, buckets: cfg.batch.buckets, seed: cfg.train.seed }, epoch).batches;
  log(`speed perturbation: ${speed ? `on (0.9/1.0/1.1 per utterance per epoch, seed ${speed.seed}; perturbed features computed on the fly, only 1.0 cached)` : "off"}`);
  return { loader, planFor };
}

/** Per-bin mean and inverse standard deviation of the features of the first batches. */
export async function featureStats(loader: BatchLoader, plan: number[][], bins: number): Promise<{ mean: Float32Array; istd: Float32Array }> {
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

/** SpecAugment of a batch in place, each utterance's masks seeded by (seed, step, row). */
export function augment(cfg: TrainConfig, b: Batch, step: number): void {
  if (!cfg.train.specAugment) return;
  for (let u = 0; u < b.B; u++) {
    const n = b.featLens[u] * b.F, off = u * b.T * b.F;
    const masked = specAugment(b.feats.subarray(off, off + n), b.featLens[u], b.F, { seed: hashSeed(cfg.train.seed, step, u) });
    b.feats.set(masked, off);
  }
}

export type Validation = ReturnType<typeof validation>;

/** The validation set (the first train.validUtterances, 0: all) and its WER, on the run's current model. */
export function validation(run: Run, data: TrainingData) {
  const { cfg, space } = run;
  const validAll = data.valid.utterances;
  const utts = cfg.train.validUtterances > 0 ? validAll.slice(0, cfg.train.validUtterances) : validAll;
  const loader = utts.length ? new BatchLoader({ utterances: utts, features: ENGINE_FBANK, workers: 0, cacheDir: join(cfg.data.cacheDir, "features"), ledger: data.ledger }) : undefined;
  const plan = makeBatches(utts.map((u) => framesFor(u.duration)), { maxFrames: cfg.batch.maxFrames, buckets: 10, seed: 0 }, 0).batches;
  return {
    /** Greedy validation WER of each validated subnet (the largest first), or null without validation data. */
    run: async (): Promise<Map<string, number> | null> => {
      if (!loader) return null;
      const subs = space.enabled ? run.validSubs : [run.subnets[0]];
      const errors = new Array<number>(subs.length).fill(0);
      let words = 0;
      for await (const b of loader.run(plan)) {
        subs.forEach((s, k) => {
          const hyps = run.model.decode(b, s.spec);
          hyps.forEach((h, i) => {
            const we = alignTexts(utts[b.ids[i]].text, run.tokenizer.decode(h.tokens));
            errors[k] += we.errors;
            if (k === 0) words += we.words;
          });
        });
      }
      return words ? new Map(subs.map((s, k) => [s.name, (100 * errors[k]) / words])) : null;
    },
    close: async () => {
      await loader?.close();
    },
  };
}
