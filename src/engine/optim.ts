// Optimizers and the learning-rate schedule: ScaledAdam (icefall), AdamW (torch) and Eden (icefall).
//
// What it is: the host half of the optimizers whose per-element work is in assembly/optim/scaled_adam.ts
// and assembly/optim/adamw.ts. It owns the tensor table and the state layout, keeps ScaledAdam's clipping
// history and takes its median, and offers two ways in:
//   - for the training loop, `ScaledAdamRegion` / `AdamWRegion` update a parameter region that already
//     lives in the engine's memory, in place, without copying (see their doc comments);
//   - for checking tensor by tensor, `new TensorScaledAdam(engine, shapes, opts)` / `new TensorAdamW(...)`
//     (test/kernels.ts: scaledAdam, adamW) update Float32Arrays in place with `step(params, grads)`.
// What it is not: a parameter-group system (one set of hyperparameters per optimizer) or a logger.
// References: icefall egs/librispeech/ASR/zipformer/optim.py at commit 36e0420c (ScaledAdam, Eden),
// torch 1.13 torch.optim.AdamW; checked against test/fixtures/{scaled_adam,adamw,eden}.json.
//
//   const opt = new TensorScaledAdam(engine, [[256, 80], [256], []], { lr: 0.045, clippingScale: 2.0 });
//   for (const [batch, grads] of data.entries()) {
//     opt.setLr(eden(batch, epoch, { baseLr: 0.045, lrBatches: 7500, lrEpochs: 3.5 }));
//     opt.step(params, grads); // params: Float32Array[], updated in place
//   }

import { EngineError, type Engine } from "./engine.js";

/** One tensor of a flat region: its first float (offset, in floats) and its size. */
export interface TensorSlot {
  offset: number;
  numel: number;
  shape?: readonly number[];
}

/** icefall's ScaledAdam arguments in camelCase; every one optional, defaults as in icefall. */
export interface ScaledAdamOptions {
  lr?: number;
  /** Clip the RMS-scaled gradient norm at this times the median of recent norms; null: no clipping. */
  clippingScale?: number | null;
  betas?: readonly [number, number];
  scalarLrScale?: number;
  eps?: number;
  paramMinRms?: number;
  paramMaxRms?: number;
  scalarMax?: number;
  sizeUpdatePeriod?: number;
  clippingUpdatePeriod?: number;
}

export type ResolvedScaledAdamOptions = Required<ScaledAdamOptions>;

/** icefall's defaults (ScaledAdam.__init__). */
export const SCALED_ADAM_DEFAULTS: Readonly<ResolvedScaledAdamOptions> = Object.freeze({
  lr: 3e-2,
  clippingScale: null,
  betas: [0.9, 0.98] as const,
  scalarLrScale: 0.1,
  eps: 1e-8,
  paramMinRms: 1e-5,
  paramMaxRms: 3.0,
  scalarMax: 10.0,
  sizeUpdatePeriod: 4,
  clippingUpdatePeriod: 100,
});

/** torch.optim.AdamW's arguments in camelCase, torch's defaults. */
export interface AdamWOptions {
  lr?: number;
  betas?: readonly [number, number];
  eps?: number;
  weightDecay?: number;
}

export const ADAMW_DEFAULTS: Readonly<Required<AdamWOptions>> = Object.freeze({
  lr: 1e-3,
  betas: [0.9, 0.999] as const,
  eps: 1e-8,
  weightDecay: 1e-2,
});

/** Floats per tensor in ScaledAdam's tensor_state region (see assembly/optim/scaled_adam.ts). */
export function scaledAdamSlotFloats(sizeUpdatePeriod: number): number {
  return 4 + sizeUpdatePeriod;
}

/** `defaults` overridden by the options that are not undefined. */
function withDefaults<T extends object>(defaults: T, opts: Partial<T>): T {
  const o = { ...defaults };
  for (const [k, v] of Object.entries(opts)) if (v !== undefined) (o as Record<string, unknown>)[k] = v;
  return o;
}

function check(ok: boolean, what: string): void {
  if (!ok) throw new EngineError(`optimizer: ${what}`);
}

function checkBetas(betas: readonly number[]): void {
  check(betas.length === 2 && betas.every((b) => b >= 0 && b < 1), `betas must be two numbers in [0, 1), got ${betas}`);
}

export function resolveScaledAdamOptions(opts: ScaledAdamOptions = {}): ResolvedScaledAdamOptions {
  const o = withDefaults(SCALED_ADAM_DEFAULTS as ResolvedScaledAdamOptions, opts);
  check(o.lr >= 0, `lr must be >= 0, got ${o.lr}`);
  checkBetas(o.betas);
  check(o.clippingScale === null || o.clippingScale > 0, `clippingScale must be > 0 or null, got ${o.clippingScale}`);
  check(Number.isInteger(o.sizeUpdatePeriod) && o.sizeUpdatePeriod >= 1, `sizeUpdatePeriod must be an integer >= 1`);
  check(Number.isInteger(o.clippingUpdatePeriod) && o.clippingUpdatePeriod >= 1, `clippingUpdatePeriod must be an integer >= 1`);
  check(o.eps >= 0 && o.paramMinRms >= 0 && o.paramMaxRms > 0 && o.scalarMax > 0, "eps, paramMinRms, paramMaxRms, scalarMax out of range");
  return o;
}

export function resolveAdamWOptions(opts: AdamWOptions = {}): Required<AdamWOptions> {
  const o = withDefaults(ADAMW_DEFAULTS as Required<AdamWOptions>, opts);
  check(o.lr >= 0 && o.eps >= 0 && o.weightDecay >= 0, "lr, eps and weightDecay must be >= 0");
  checkBetas(o.betas);
  return o;
}

/** Tensors of these shapes packed one after another ([] is a scalar). */
export function packTensors(shapes: readonly (readonly number[])[]): { tensors: TensorSlot[]; total: number } {
  let total = 0;
  const tensors = shapes.map((shape) => {
    check(shape.every((d) => Number.isInteger(d) && d > 0), `bad shape [${shape}]: dimensions must be integers > 0`);
    const numel = shape.reduce((a, b) => a * b, 1);
    const t = { offset: total, numel, shape: [...shape] };
    total += numel;
    return t;
  });
  return { tensors, total };
}

/** The table the kernels read: i32 [n, 2] = {offset, numel}. */
export function tensorTable(tensors: readonly TensorSlot[]): Int32Array {
  const table = new Int32Array(tensors.length * 2);
  tensors.forEach((t, i) => {
    check(Number.isInteger(t.offset) && t.offset >= 0 && Number.isInteger(t.numel) && t.numel > 0, `bad tensor slot ${i}`);
    table[2 * i] = t.offset;
    table[2 * i + 1] = t.numel;
  });
  return table;
}

/**
 * The host half of ScaledAdam's clipping (icefall ScaledAdam._get_clipping_scale): records the
 * RMS-scaled gradient norm of every step but the first in a ring of clippingUpdatePeriod entries,
 * sets threshold = clippingScale * median on steps that are multiples of the period, and on steps
 * 10, 20, 40 (those below the period) takes the median of the last `step` entries and doubles it.
 * The factor is min(1, threshold / norm), 1 until a threshold exists; 0 for an infinite norm, but 1
 * for a NaN norm (Python's min(1.0, nan) is 1.0; icefall's later NaN check never fires).
 */
export class ClippingHistory {
  readonly norms: Float32Array; // torch keeps them as f32
  threshold: number | null = null;

  constructor(readonly clippingScale: number, readonly period: number) {
    this.norms = new Float32Array(period);
  }

  factor(step: number, norm: number): number {
    this.norms[step % this.period] = norm;
    const early = [10, 20, 40].includes(step) && step < this.period;
    if (step % this.period === 0 || early) {
      let sorted = this.norms.slice().sort(); // typed-array sort: numeric, NaN last, as torch's sort
      if (early) sorted = sorted.slice(-step);
      const median = sorted[Math.min(sorted.length - 1, Math.floor(sorted.length / 4) * 2)];
      if (!Number.isFinite(median)) throw new EngineError("ScaledAdam: too many gradients were not finite (median grad norm is not finite)");
      this.threshold = this.clippingScale * median * (early ? 2 : 1);
    }
    if (this.threshold === null) return 1;
    // icefall: min(1.0, threshold / (norm + 1e-20)) in Python, where min(1.0, nan) is 1.0: a NaN norm
    // is NOT clipped (the NaN reaches the weights, as in icefall); an infinite norm gives 0.
    const ratio = Math.fround(Math.fround(this.threshold) / Math.fround(norm + 1e-20));
    return ratio < 1 ? ratio : 1;
  }
}

/** Pointers of one ScaledAdam problem in the engine's memory (bytes). */
interface ScaledAdamPointers {
  params: number;
  grads: number;
  expAvg: number;
  expAvgSq: number;
  tensorState: number;
  table: number;
}

/**
 * One ScaledAdam step on regions in the engine's memory: phase 1 (the gradient norm, when clipping),
 * the clipping factor on the host, phase 2 (the update). Returns the factor and the norm (NaN when
 * clipping is off or on step 0, whose norm icefall does not compute).
 */
function scaledAdamStep(
  engine: Engine, ptr: ScaledAdamPointers, tensors: readonly TensorSlot[], o: ResolvedScaledAdamOptions,
  lr: number, step: number, clipping: ClippingHistory | null,
): { factor: number; norm: number } {
  const w = engine.wasm;
  const n = tensors.length;
  let factor = 1, norm = NaN;
  if (clipping && step > 0) {
    norm = Math.fround(w.scaled_adam_grad_norm(ptr.tensorState, ptr.grads, ptr.table, o.scalarLrScale, o.sizeUpdatePeriod, n));
    factor = clipping.factor(step, norm);
    // icefall zeroes the gradients when the factor is 0 (an infinite norm): so do we, in place.
    if (factor === 0) for (const t of tensors) w.mem_zero_f32(ptr.grads + 4 * t.offset, t.numel);
  }
  w.scaled_adam_update(
    ptr.params, ptr.expAvg, ptr.expAvgSq, ptr.tensorState, ptr.grads, ptr.table,
    lr, o.betas[0], o.betas[1], o.eps, o.scalarLrScale, o.paramMinRms, o.paramMaxRms, o.scalarMax,
    factor, step, o.sizeUpdatePeriod, n,
  );
  return { factor, norm };
}

/** A snapshot of a ScaledAdam's state, for checkpoints (fresh arrays). */
export interface ScaledAdamState {
  step: number;
  lr: number;
  expAvg: Float32Array;
  expAvgSq: Float32Array;
  tensorState: Float32Array;
  clippingNorms: Float32Array | null;
  clippingThreshold: number | null;
}

/**
 * ScaledAdam for the training loop: updates a parameter region that already lives in the engine's
 * memory, in place, without copying.
 *
 *   const opt = new ScaledAdamRegion(engine, { params, grads, tensors }, { clippingScale: 2.0 });
 *   const mark = engine.mark();          // take the per-step mark AFTER creating the optimizer
 *   ...backward writes grads...; opt.setLr(eden(...)); opt.step(); engine.reset(mark);
 *
 * `params` and `grads` are byte pointers of two f32 regions with one layout; `tensors` lists each
 * tensor's {offset (floats), numel} in them (gaps are allowed and left alone; numel 1 is a scalar),
 * so a parameter table with padded offsets can be passed as it is.
 * The constructor allocates exp_avg and exp_avg_sq (each as large as the highest offset + numel),
 * the per-tensor state and the table in the arena, permanently, so create it before taking the mark
 * that is reset after each step. `step()` reads grads (zeroing them only when clipping gives a
 * factor of 0, as icefall does) and updates params and the state.
 */
export class ScaledAdamRegion {
  readonly options: ResolvedScaledAdamOptions;
  readonly tensors: readonly TensorSlot[];
  readonly expAvg: number;
  readonly expAvgSq: number;
  readonly tensorState: number;
  readonly table: number;
  readonly regionFloats: number;
  lr: number;
  /** Steps taken so far (icefall's state["step"]). */
  stepCount = 0;
  lastClippingFactor = 1;
  /** The RMS-scaled gradient norm of the last step (NaN when clipping is off or on the first step). */
  lastGradNorm = NaN;
  private readonly clipping: ClippingHistory | null;

  constructor(
    readonly engine: Engine,
    readonly region: { params: number; grads: number; tensors: readonly TensorSlot[] },
    opts: ScaledAdamOptions = {},
  ) {
    this.options = resolveScaledAdamOptions(opts);
    this.tensors = region.tensors.map((t) => ({ ...t }));
    this.lr = this.options.lr;
    const table = tensorTable(this.tensors);
    this.regionFloats = Math.max(0, ...this.tensors.map((t) => t.offset + t.numel));
    const stateFloats = this.tensors.length * scaledAdamSlotFloats(this.options.sizeUpdatePeriod);
    this.expAvg = engine.alloc(this.regionFloats, "ScaledAdam exp_avg");
    this.expAvgSq = engine.alloc(this.regionFloats, "ScaledAdam exp_avg_sq");
    this.tensorState = engine.alloc(stateFloats, "ScaledAdam tensor state");
    this.table = engine.upload(table, "i32");
    engine.wasm.mem_zero_f32(this.expAvg, this.regionFloats);
    engine.wasm.mem_zero_f32(this.expAvgSq, this.regionFloats);
    engine.wasm.mem_zero_f32(this.tensorState, stateFloats);
    const c = this.options.clippingScale;
    this.clipping = c === null ? null : new ClippingHistory(c, this.options.clippingUpdatePeriod);
  }

  setLr(lr: number): void {
    check(lr >= 0, `lr must be >= 0, got ${lr}`);
    this.lr = lr;
  }

  step(): void {
    const ptr = { ...this.region, expAvg: this.expAvg, expAvgSq: this.expAvgSq, tensorState: this.tensorState, table: this.table };
    const r = scaledAdamStep(this.engine, ptr, this.tensors, this.options, this.lr, this.stepCount, this.clipping);
    this.lastClippingFactor = r.factor;
    this.lastGradNorm = r.norm;
    this.stepCount++;
  }

  saveState(): ScaledAdamState {
    const e = this.engine;
    return {
      step: this.stepCount,
      lr: this.lr,
      expAvg: e.read(this.expAvg, this.regionFloats),
      expAvgSq: e.read(this.expAvgSq, this.regionFloats),
      tensorState: e.read(this.tensorState, this.tensors.length * scaledAdamSlotFloats(this.options.sizeUpdatePeriod)),
      clippingNorms: this.clipping ? this.clipping.norms.slice() : null,
      clippingThreshold: this.clipping ? this.clipping.threshold : null,
    };
  }

  loadState(s: ScaledAdamState): void {
    const slots = this.tensors.length * scaledAdamSlotFloats(this.options.sizeUpdatePeriod);
    check(s.expAvg.length === this.regionFloats && s.expAvgSq.length === this.regionFloats && s.tensorState.length === slots,
      "loadState: the state does not match this optimizer's layout");
    this.engine.write(this.expAvg, s.expAvg);
    this.engine.write(this.expAvgSq, s.expAvgSq);
    this.engine.write(this.tensorState, s.tensorState);
    this.stepCount = s.step;
    this.lr = s.lr;
    if (this.clipping && s.clippingNorms) {
      this.clipping.norms.set(s.clippingNorms);
      this.clipping.threshold = s.clippingThreshold;
    }
  }
}

/**
 * AdamW for the training loop, on a flat region of `n` floats in the engine's memory (one set of
 * hyperparameters for all of it; exclude tensors from decay by giving them their own AdamWRegion).
 * Allocates exp_avg and exp_avg_sq permanently: create it before taking the per-step mark.
 */
export class AdamWRegion {
  readonly options: Required<AdamWOptions>;
  readonly expAvg: number;
  readonly expAvgSq: number;
  lr: number;
  stepCount = 0;

  constructor(readonly engine: Engine, readonly region: { params: number; grads: number; n: number }, opts: AdamWOptions = {}) {
    this.options = resolveAdamWOptions(opts);
    this.lr = this.options.lr;
    this.expAvg = engine.alloc(region.n, "AdamW exp_avg");
    this.expAvgSq = engine.alloc(region.n, "AdamW exp_avg_sq");
    engine.wasm.mem_zero_f32(this.expAvg, region.n);
    engine.wasm.mem_zero_f32(this.expAvgSq, region.n);
  }

  setLr(lr: number): void {
    check(lr >= 0, `lr must be >= 0, got ${lr}`);
    this.lr = lr;
  }

  step(): void {
    const o = this.options, r = this.region;
    this.engine.wasm.adamw_update(r.params, this.expAvg, this.expAvgSq, r.grads, this.lr, o.betas[0], o.betas[1], o.eps, o.weightDecay, this.stepCount, r.n);
    this.stepCount++;
  }
}

/** What TensorScaledAdam / TensorAdamW are. */
export interface TensorOptimizer {
  /** Updates every params[i] in place from grads[i] (shapes as given at creation; grads are not modified). */
  step(params: readonly Float32Array[], grads: readonly Float32Array[]): void;
  setLr(lr: number): void;
  readonly stepCount: number;
}

export interface ScaledAdamOptimizer extends TensorOptimizer {
  readonly options: ResolvedScaledAdamOptions;
  /** The clipping factor applied on the last step (1 when none). */
  readonly lastClippingFactor: number;
}

function checkArrays(what: string, arrays: readonly Float32Array[], tensors: readonly TensorSlot[]): void {
  check(arrays.length === tensors.length, `${what}: expected ${tensors.length} tensors, got ${arrays.length}`);
  arrays.forEach((a, i) => check(a.length === tensors[i].numel, `${what}[${i}]: expected ${tensors[i].numel} floats, got ${a.length}`));
}

function uploadPacked(engine: Engine, arrays: readonly Float32Array[], tensors: readonly TensorSlot[], total: number): number {
  const ptr = engine.alloc(total);
  arrays.forEach((a, i) => engine.write(ptr + 4 * tensors[i].offset, a));
  return ptr;
}

export class TensorScaledAdam implements ScaledAdamOptimizer {
  readonly options: ResolvedScaledAdamOptions;
  stepCount = 0;
  lastClippingFactor = 1;
  private lr: number;
  private readonly tensors: TensorSlot[];
  private readonly total: number;
  private readonly table: Int32Array;
  private readonly expAvg: Float32Array;
  private readonly expAvgSq: Float32Array;
  private readonly tensorState: Float32Array;
  private readonly clipping: ClippingHistory | null;

  constructor(private readonly engine: Engine, shapes: readonly (readonly number[])[], opts: ScaledAdamOptions) {
    this.options = resolveScaledAdamOptions(opts);
    this.lr = this.options.lr;
    ({ tensors: this.tensors, total: this.total } = packTensors(shapes));
    this.table = tensorTable(this.tensors);
    this.expAvg = new Float32Array(this.total);
    this.expAvgSq = new Float32Array(this.total);
    this.tensorState = new Float32Array(this.tensors.length * scaledAdamSlotFloats(this.options.sizeUpdatePeriod));
    const c = this.options.clippingScale;
    this.clipping = c === null ? null : new ClippingHistory(c, this.options.clippingUpdatePeriod);
  }

  setLr(lr: number): void {
    check(lr >= 0, `lr must be >= 0, got ${lr}`);
    this.lr = lr;
  }

  step(params: readonly Float32Array[], grads: readonly Float32Array[]): void {
    checkArrays("params", params, this.tensors);
    checkArrays("grads", grads, this.tensors);
    const e = this.engine;
    e.scoped(() => {
      const ptr: ScaledAdamPointers = {
        params: uploadPacked(e, params, this.tensors, this.total),
        grads: uploadPacked(e, grads, this.tensors, this.total),
        expAvg: e.upload(this.expAvg),
        expAvgSq: e.upload(this.expAvgSq),
        tensorState: e.upload(this.tensorState),
        table: e.upload(this.table, "i32"),
      };
      const r = scaledAdamStep(e, ptr, this.tensors, this.options, this.lr, this.stepCount, this.clipping);
      this.lastClippingFactor = r.factor;
      params.forEach((p, i) => p.set(e.read(ptr.params + 4 * this.tensors[i].offset, p.length)));
      this.expAvg.set(e.read(ptr.expAvg, this.total));
      this.expAvgSq.set(e.read(ptr.expAvgSq, this.total));
      this.tensorState.set(e.read(ptr.tensorState, this.tensorState.length));
    });
    this.stepCount++;
  }
}

export class TensorAdamW implements TensorOptimizer {
  readonly options: Required<AdamWOptions>;
  stepCount = 0;
  private lr: number;
  private readonly tensors: TensorSlot[];
  private readonly total: number;
  private readonly expAvg: Float32Array;
  private readonly expAvgSq: Float32Array;

  constructor(private readonly engine: Engine, shapes: readonly (readonly number[])[], opts: AdamWOptions) {
    this.options = resolveAdamWOptions(opts);
    this.lr = this.options.lr;
    ({ tensors: this.tensors, total: this.total } = packTensors(shapes));
    this.expAvg = new Float32Array(this.total);
    this.expAvgSq = new Float32Array(this.total);
  }

  setLr(lr: number): void {
    check(lr >= 0, `lr must be >= 0, got ${lr}`);
    this.lr = lr;
  }

  step(params: readonly Float32Array[], grads: readonly Float32Array[]): void {
    checkArrays("params", params, this.tensors);
    checkArrays("grads", grads, this.tensors);
    const e = this.engine, o = this.options;
    e.scoped(() => {
      const p = uploadPacked(e, params, this.tensors, this.total);
      const g = uploadPacked(e, grads, this.tensors, this.total);
      const m = e.upload(this.expAvg), v = e.upload(this.expAvgSq);
      e.wasm.adamw_update(p, m, v, g, this.lr, o.betas[0], o.betas[1], o.eps, o.weightDecay, this.stepCount, this.total);
      params.forEach((x, i) => x.set(e.read(p + 4 * this.tensors[i].offset, x.length)));
      this.expAvg.set(e.read(m, this.total));
      this.expAvgSq.set(e.read(v, this.total));
    });
    this.stepCount++;
  }
}

export interface EdenOptions {
  baseLr: number;
  lrBatches: number;
  lrEpochs: number;
  warmupBatches?: number;
  warmupStart?: number;
}

/**
 * icefall's Eden schedule, as a pure function:
 *   lr = baseLr * ((batch^2 + lrBatches^2) / lrBatches^2)^-0.25
 *               * ((epoch^2 + lrEpochs^2) / lrEpochs^2)^-0.25 * warmup
 *   warmup = batch >= warmupBatches ? 1 : warmupStart + (1 - warmupStart) * batch / warmupBatches
 * Defaults warmupBatches = 500, warmupStart = 0.5. `batch` counts batches from the start of
 * training; `epoch` counts from 0 (icefall's train.py calls step_epoch(epoch - 1) with epochs from 1).
 */
export function eden(batch: number, epoch: number, opts: EdenOptions): number {
  const { baseLr, lrBatches, lrEpochs, warmupBatches = 500, warmupStart = 0.5 } = opts;
  check(warmupStart >= 0 && warmupStart <= 1, `warmupStart must be in [0, 1], got ${warmupStart}`);
  const factor = ((batch ** 2 + lrBatches ** 2) / lrBatches ** 2) ** -0.25 * ((epoch ** 2 + lrEpochs ** 2) / lrEpochs ** 2) ** -0.25;
  const warmup = batch >= warmupBatches ? 1 : warmupStart + (1 - warmupStart) * (batch / warmupBatches);
  return baseLr * factor * warmup;
}
