// The batch loader: runs decoding, resampling, features and collation ahead of the trainer, in worker
// threads, so that a training step never waits on I/O in steady state.
//
//   const loader = new BatchLoader({ utterances: corpus.utterances, features: ENGINE_FBANK, cacheDir });
//   for (let epoch = 0; ; epoch++) {
//     const plan = makeBatches(frames, { maxFrames: 15000, seed }, epoch);
//     for await (const batch of loader.run(plan.batches)) trainStep(batch);
//   }
//   await loader.close();  // and print loader.ledger.report()
//
// With `workers: N` (default 1, so that the trainer keeps the other core) each worker owns a feature
// function built from a FeatureSpec; batches are handed out round-robin, at most `prefetch` in flight,
// and yielded in plan order. With `workers: 0` everything runs on the calling thread (tests, the
// benchmark's one-core measurement); then `features` may be a plain function. Utterances whose audio
// fails (empty, truncated, corrupt, unknown, missing) are left out of their batch and recorded in the
// ledger (thrown in strict mode); a batch left empty is skipped. `waitMs` counts the time the consumer
// spent waiting for a batch: the measure of "the trainer never waits".

import { Worker } from "node:worker_threads";
import type { Batch } from "./batching.js";
import { DataError, SkipLedger } from "./errors.js";
import { loadBatch, type BatchJob, type BatchResult, type FeatureEnv } from "./featcache.js";
import type { FeatureFn, FeatureSpec } from "./features.js";
import type { Utterance } from "./corpus.js";
import { speedFactor } from "../audio/speed.js";

export interface LoaderOptions {
  utterances: Pick<Utterance, "audio" | "tokens">[];
  /** A spec (required with workers) or, in process, a function. */
  features: FeatureSpec | FeatureFn;
  /** Names the features in cache keys; defaults to the spec's JSON. Required for a function with a cache. */
  featureKey?: string;
  /** Worker threads (default 1); 0 runs on the calling thread. */
  workers?: number;
  /** Batches in flight (default 4). */
  prefetch?: number;
  /** Feature cache folder; none by default. */
  cacheDir?: string;
  sampleRate?: number;
  ledger?: SkipLedger;
  /** Speed perturbation: each utterance of each epoch at 0.9, 1.0 or 1.1, drawn from this seed (src/audio/speed.ts). */
  speedPerturb?: { seed: number };
}

export interface LoaderStats {
  batches: number;
  utterances: number;
  skipped: number;
  /** Milliseconds the consumer waited for batches. */
  waitMs: number;
  cacheHits: number;
  cacheMisses: number;
  /** Seconds of audio delivered. */
  audioSeconds: number;
  /** Utterances speed-perturbed (factor 0.9 or 1.1), and the loader threads' milliseconds spent perturbing them. */
  perturbed: number;
  perturbMs: number;
}

interface Pending {
  resolve: (r: BatchResult) => void;
  reject: (e: Error) => void;
}

export class BatchLoader {
  readonly ledger: SkipLedger;
  readonly stats: LoaderStats = { batches: 0, utterances: 0, skipped: 0, waitMs: 0, cacheHits: 0, cacheMisses: 0, audioSeconds: 0, perturbed: 0, perturbMs: 0 };
  private readonly opts: LoaderOptions;
  private readonly workers: Worker[] = [];
  private readonly pending = new Map<number, Pending>();
  private readonly workerStats = new Map<Worker, FeatureEnv["stats"]>();
  private localEnv?: FeatureEnv;
  /** In process with a FeatureSpec: the feature function being built. */
  private localEnvPromise?: Promise<void>;
  private seq = 0;
  private fatal?: Error;

  constructor(opts: LoaderOptions) {
    this.opts = opts;
    this.ledger = opts.ledger ?? new SkipLedger();
    const nWorkers = opts.workers ?? 1;
    const sampleRate = opts.sampleRate ?? 16000;
    if (typeof opts.features === "function") {
      if (nWorkers > 0) throw new Error("BatchLoader: worker threads need a FeatureSpec, not a function (or use workers: 0)");
      if (opts.cacheDir && !opts.featureKey) throw new Error("BatchLoader: a feature cache with a function needs a featureKey naming it");
      this.localEnv = {
        features: opts.features,
        perturb: opts.features.speed,
        featureKey: opts.featureKey ?? "",
        sampleRate,
        cacheDir: opts.cacheDir,
        stats: { cacheHits: 0, cacheMisses: 0, audioSeconds: 0 },
      };
      return;
    }
    const spec = opts.features;
    const featureKey = opts.featureKey ?? JSON.stringify(spec);
    if (nWorkers === 0) {
      const env = (async () => {
        const mod = await import(spec.module);
        return mod[spec.factory](spec.config ?? {}) as Promise<FeatureFn>;
      })();
      this.localEnvPromise = env.then((features) => {
        this.localEnv = { features, perturb: features.speed, featureKey, sampleRate, cacheDir: opts.cacheDir, stats: { cacheHits: 0, cacheMisses: 0, audioSeconds: 0 } };
      });
      return;
    }
    for (let i = 0; i < nWorkers; i++) {
      const w = new Worker(new URL("./loader-worker.js", import.meta.url), {
        workerData: { spec, featureKey, sampleRate, cacheDir: opts.cacheDir },
      });
      w.on("message", (m: { type: string; result?: BatchResult; stats?: FeatureEnv["stats"]; message?: string }) => {
        if (m.type === "result" && m.result) {
          this.workerStats.set(w, m.stats!);
          const p = this.pending.get(m.result.seq);
          this.pending.delete(m.result.seq);
          p?.resolve(m.result);
        } else if (m.type === "fatal") this.fail(new Error(`loader worker: ${m.message}`));
      });
      w.on("error", (e) => this.fail(e));
      w.on("exit", (code) => {
        if (code !== 0 && this.pending.size) this.fail(new Error(`loader worker exited with code ${code}`));
      });
      this.workers.push(w);
    }
  }

  private fail(e: Error): void {
    this.fatal ??= e;
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
  }

  private submit(batch: number[], k: number, epoch: number): Promise<BatchResult> {
    const sp = this.opts.speedPerturb;
    const job: BatchJob = {
      seq: this.seq++,
      items: batch.map((id) => ({
        id, audio: this.opts.utterances[id].audio, tokens: this.opts.utterances[id].tokens ?? new Int32Array(0),
        ...(sp ? { factor: speedFactor(sp.seed, epoch, id) } : {}),
      })),
    };
    if (this.workers.length === 0) {
      return (this.localEnvPromise ?? Promise.resolve()).then(() => loadBatch(this.localEnv!, job));
    }
    if (this.fatal) return Promise.reject(this.fatal);
    return new Promise<BatchResult>((resolve, reject) => {
      this.pending.set(job.seq, { resolve, reject });
      this.workers[k % this.workers.length].postMessage({ type: "job", job });
    });
  }

  /** Yields the batches of one epoch's plan, in order, skipping (and recording) bad utterances; `epoch` draws the speed factors. */
  async *run(plan: number[][], epoch = 0): AsyncGenerator<Batch> {
    const depth = Math.max(1, this.opts.prefetch ?? 4);
    const inflight: Promise<BatchResult>[] = [];
    let next = 0;
    const fill = () => {
      while (next < plan.length && inflight.length < depth) {
        const p = this.submit(plan[next], next, epoch);
        p.catch(() => undefined); // rejections are rethrown where awaited
        inflight.push(p);
        next++;
      }
    };
    fill();
    while (inflight.length) {
      const t0 = performance.now();
      const r = await inflight.shift()!;
      this.stats.waitMs += performance.now() - t0;
      fill();
      for (const e of r.errors) {
        this.stats.skipped++;
        this.ledger.skip(DataError.from(e));
      }
      this.refreshStats();
      if (!r.batch) continue;
      this.stats.batches++;
      this.stats.utterances += r.batch.B;
      yield r.batch;
    }
  }

  private refreshStats(): void {
    const all = this.localEnv ? [this.localEnv.stats] : [...this.workerStats.values()];
    this.stats.cacheHits = all.reduce((s, x) => s + x.cacheHits, 0);
    this.stats.cacheMisses = all.reduce((s, x) => s + x.cacheMisses, 0);
    this.stats.audioSeconds = all.reduce((s, x) => s + x.audioSeconds, 0);
    this.stats.perturbed = all.reduce((s, x) => s + (x.perturbed ?? 0), 0);
    this.stats.perturbMs = all.reduce((s, x) => s + (x.perturbMs ?? 0), 0);
  }

  /** Stops the workers. */
  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
    this.workers.length = 0;
  }
}
