// The running average of the weights during a run (icefall's `model_avg`, train.py `update_averaged_model`):
// every `train.average.every` steps after the averaging started, the trainable region of the parameters is
// folded into a float64 copy on the host,
//
//   avg <- avg·(1 - N/t) + cur·(N/t),   N = every, t = step - start (t = N, 2N, ...),
//
// so after k updates avg is the plain mean of the k parameter snapshots taken at start + N, ..., start + kN
// (icefall's formula with t counted from the start instead of from step 0; the first update copies cur).
// The start is a fraction of the run's budget (`train.average.start`; averageProgress), because early
// weights are poor and a run's length is usually a time budget. The copy covers the whole trainable region,
// so a Supernet's shared weights, the CTC head and the pruned loss's projections are all averaged;
// constants (feature statistics, SSM constants) are never trained and are taken from the model.
// Saved in every checkpoint (checkpoint.ts) so that a resumed run continues it bit for bit; the end of the
// run (finish.ts) validates it against the final weights and keeps the better one.
// Not here: `todm average` (the mean of saved checkpoints after a run: src/commands/average.ts).

import type { ModelParams } from "../model/params.js";
import type { RunPosition } from "./checkpoint.js";
import type { TrainConfig } from "./config.js";

export interface AverageConfig {
  every: number; // steps between two updates of the average; 0 = no averaging
  start: number; // when averaging starts, as a fraction in [0, 1) of the run's budget (averageProgress)
}

/** What a checkpoint keeps of the average: where it started, how many snapshots it holds, and the weights. */
export interface AverageState {
  every: number;
  start: number | null; // the step averaging started at (null: not yet)
  count: number; // snapshots folded in
  weights: Float64Array | null; // the trainable region's mean (null while count is 0)
}

/** Throws a clear error for a train.average that is not {every: integer >= 0, start: fraction in [0, 1)}. */
export function validateAverage(a: AverageConfig, source: string): void {
  if (!Number.isInteger(a.every) || a.every < 0) {
    throw new Error(`${source}: train.average.every is ${JSON.stringify(a.every)}: expected a whole number of steps >= 0 (0 turns averaging off)`);
  }
  if (typeof a.start !== "number" || !(a.start >= 0 && a.start < 1)) {
    throw new Error(`${source}: train.average.start is ${JSON.stringify(a.start)}: expected a fraction of the run's budget in [0, 1) (0.5: average over the second half)`);
  }
}

/**
 * How far the run is, in [0, 1], for the average's start: step / train.maxSteps when maxSteps is set,
 * else elapsed training seconds / train.maxMinutes, else epochs done / train.epochs.
 */
export function averageProgress(cfg: TrainConfig, pos: RunPosition, elapsedSec: number, batchesPerEpoch: () => number): number {
  const t = cfg.train;
  if (t.maxSteps > 0) return pos.step / t.maxSteps;
  if (t.maxMinutes > 0) return elapsedSec / (60 * t.maxMinutes);
  return (pos.epoch + pos.batchInEpoch / Math.max(1, batchesPerEpoch())) / Math.max(1, t.epochs);
}

/** The running average of a model's trainable parameters; `saved` continues a checkpoint's. */
export class ModelAverage {
  readonly weights: Float64Array;
  start: number | null = null;
  count = 0;

  constructor(private readonly params: ModelParams, readonly cfg: AverageConfig, saved?: AverageState) {
    this.weights = new Float64Array(cfg.every > 0 ? params.trainableFloats : 0);
    if (saved && cfg.every > 0) {
      if (saved.every !== cfg.every) throw new Error(`the checkpoint's average was taken every ${saved.every} steps, the config says ${cfg.every}`);
      this.start = saved.start;
      this.count = saved.count;
      if (saved.count > 0) {
        if (!saved.weights || saved.weights.length !== this.weights.length) {
          throw new Error(`the checkpoint's average holds ${saved.weights?.length ?? 0} values, the model's trainable region ${this.weights.length}`);
        }
        this.weights.set(saved.weights);
      }
    }
  }

  get enabled(): boolean {
    return this.cfg.every > 0;
  }

  /** Starts the average at `step` once the run's progress (averageProgress) reaches cfg.start. */
  maybeStart(step: number, progress: number): void {
    if (this.enabled && this.start === null && progress >= this.cfg.start) this.start = step;
  }

  /**
   * After optimizer step `step` (its progress as for maybeStart): starts the average if due, then folds
   * the weights in when step - start is a positive multiple of cfg.every. Returns true when it folded.
   */
  afterStep(step: number, progress: number): boolean {
    this.maybeStart(step, progress);
    if (this.start === null) return false;
    const t = step - this.start;
    if (t <= 0 || t % this.cfg.every !== 0) return false;
    this.fold(this.cfg.every / t);
    this.count = t / this.cfg.every;
    return true;
  }

  /** avg <- avg·(1 - w) + cur·w over the trainable region, read through the engine's f32 view (no copy). */
  private fold(w: number): void {
    const f32 = this.params.engine.f32, base = this.params.paramPtr >> 2, avg = this.weights, keep = 1 - w;
    for (let i = 0; i < avg.length; i++) avg[i] = avg[i] * keep + f32[base + i] * w;
  }

  /** The averaged weights, rounded once to f32, written into the model's trainable region. */
  loadInto(): void {
    this.params.engine.write(this.params.paramPtr, Float32Array.from(this.weights));
  }

  /** For a checkpoint. The weights are this object's own array: the checkpoint encodes them at once. */
  state(): AverageState {
    return { every: this.cfg.every, start: this.start, count: this.count, weights: this.count > 0 ? this.weights : null };
  }
}
