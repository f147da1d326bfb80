// The training step, on N threads of one machine (README, "Memory and threads"): N replicas of the
// model, each in its own engine instance; replica 0 is the caller's model on the calling thread, the
// others live in worker threads (parallel-worker.ts, loaded from dist/ like the batch loader's worker).
// The one-thread run is the case N = 1, so that the gradient check and the optimizer step live here
// alone (Replica.reduceAndStep); it pays for nothing it does not use: no worker, no shared buffer, no
// copy of the gradient, no shard copy of the batch, no checksum, and its losses are bit for bit those
// of Model.sandwichStep on the whole batch followed by the optimizer step.
//
//   const par = await ParallelTrainer.create(model, optimizer, { threads: 2, optim: cfg.optim });
//   const r = await par.step(batch, subnet, { seed, dropout, lr });  // forward, backward, all-reduce, optimizer
//   await par.close();
//
// A step: the batch is split into N shards by utterance, balanced by feature frames (shardBatch). Each
// replica zeroes its gradient region and runs Model.trainStep on its shard with lossScale = 1/B of the
// whole batch and each utterance's index in the whole batch (dropout masks are drawn per utterance, so
// the shards draw the masks of the whole batch). Then the all-reduce, through one SharedArrayBuffer:
// every replica copies its trainable gradients into its slot, meets the others at a barrier
// (Atomics.wait/notify), and writes the sum of all slots, in rank order, into its own gradient region.
// Every replica thus holds the same summed gradient bit for bit, takes the same decision (skip the step
// when the loss or the gradient is not finite) and the same optimizer step, and the replicas stay
// identical; a parameter checksum compared every `checkEvery` steps proves it (it throws otherwise).
// Slots alternate between two banks by step parity, so that a fast replica never overwrites a slot that
// a slow one is still reading. Messages carry the shards (buffers transferred, no copy) and the rare
// requests (sync, parameters); the all-reduce itself never waits on an event loop. (Round trips
// measured by bench/train_threads.ts: about 20 us by postMessage, 10 us by Atomics; a step is ~1 s.)
// Memory: the shared buffer holds 2·N slots of the trainable floats (52 MB for N = 2 and the default
// model), and each replica takes one more such region from its arena, for good, to add a slot.
//
// Versus one thread on the same batch: the same loss terms and dropout masks, but the gradient is
// summed in another order (per shard, then across shards) and GEMMs see other row counts, so losses
// and parameters agree to float rounding (~1e-6 relative), not bit for bit.
// The optimizer state lives in every replica; checkpoints read replica 0's, and sync() broadcasts
// replica 0's parameters and optimizer state to the others (at start and after a restore).

import { Worker } from "node:worker_threads";
import type { Engine } from "../engine/engine.js";
import type { Batch } from "../data/batching.js";
import type { MemberSums, Model, SandwichPlan, StepResult } from "../model/model.js";
import type { ModelConfig, SubnetSpec } from "../model/config.js";
import { NO_DROPOUT, type DropoutRates } from "../model/encoder.js";
import type { TrainConfig } from "./config.js";
import type { OptimizerBox } from "./optimizer.js";

/** One shard of a batch: its own padded Batch (null when empty) and each row's index in the whole batch. */
export interface Shard {
  batch: Batch | null;
  index: Int32Array;
}

/**
 * Splits a batch into n shards by utterance, balancing feature frames: longest first, each to the
 * shard with the fewest frames so far (ties to the lower rank). Rows keep their batch order inside a
 * shard; T and U shrink to the shard's longest utterance (T to no less than min(batch T, 7)). A shard
 * may be empty when B < n.
 */
export function shardBatch(batch: Batch, n: number): Shard[] {
  const order = Array.from({ length: batch.B }, (_, i) => i).sort((a, b) => batch.featLens[b] - batch.featLens[a] || a - b);
  const members: number[][] = Array.from({ length: n }, () => []);
  const load = new Float64Array(n);
  for (const i of order) {
    let r = 0;
    for (let k = 1; k < n; k++) if (load[k] < load[r]) r = k;
    members[r].push(i);
    load[r] += batch.featLens[i];
  }
  const { F } = batch;
  return members.map((m) => {
    m.sort((a, b) => a - b);
    const index = Int32Array.from(m);
    if (m.length === 0) return { batch: null, index };
    // at least 7 frames (or the batch's T), what subsampling by 4 needs: a shard of short utterances
    // runs wherever the whole batch would
    const T = Math.max(Math.min(batch.T, 7), ...m.map((i) => batch.featLens[i])), U = Math.max(0, ...m.map((i) => batch.tokenLens[i]));
    const B = m.length, feats = new Float32Array(B * T * F), tokens = new Int32Array(B * U);
    m.forEach((i, r) => {
      feats.set(batch.feats.subarray(i * batch.T * F, i * batch.T * F + Math.min(T, batch.T) * F), r * T * F);
      tokens.set(batch.tokens.subarray(i * batch.U, i * batch.U + Math.min(U, batch.U)), r * U);
    });
    const pick = (a: Int32Array) => Int32Array.from(m, (i) => a[i]);
    return { batch: { ids: m.map((i) => batch.ids[i]), B, T, F, U, feats, featLens: pick(batch.featLens), tokens, tokenLens: pick(batch.tokenLens) }, index };
  });
}

/** FNV-1a over the bits of n floats at ptr: equal parameters give equal checksums. */
export function paramChecksum(engine: Engine, ptr: number, n: number): number {
  const u = new Uint32Array(engine.f32.buffer, ptr, n);
  let h = 0x811c9dc5;
  for (let i = 0; i < n; i++) h = Math.imul(h ^ u[i], 0x01000193);
  return h >>> 0;
}

// ---- the shared buffer: control words, per-rank results, two banks of gradient slots -------------
const CTRL_INTS = 16; // [0] barrier arrivals, [1] failure flag
const ARRIVALS = 0, FAILED = 1;
export const MAX_MEMBERS = 16; // subnets per sandwich step
const STATS = 5 + 4 * MAX_MEMBERS; // per rank: lossSum, frames, utterances, checksum, compute ms, then each member's loss, KD, CTC and simple-loss sums (f64)
/** Utterances per shard whose losses travel back through the buffer. */
export const MAX_SHARD_UTTERANCES = 4096;

export interface SharedLayout {
  sab: SharedArrayBuffer | ArrayBuffer;
  threads: number;
  gradFloats: number;
}

/** The buffer of N replicas; for one, a small private one without losses or gradient slots. */
export function sharedLayout(threads: number, gradFloats: number): SharedLayout {
  if (threads === 1) return { sab: new ArrayBuffer(CTRL_INTS * 4 + STATS * 8), threads, gradFloats };
  const bytes = CTRL_INTS * 4 + threads * STATS * 8 + threads * MAX_SHARD_UTTERANCES * 4 + 2 * threads * gradFloats * 4;
  return { sab: new SharedArrayBuffer(bytes), threads, gradFloats };
}

/** Milliseconds of one step on replica 0, by phase (what the all-reduce costs, and the wait on the others). */
export interface StepTimings {
  compute: number; // forward and backward of its shard
  publish: number; // copying its gradient into its slot (and the checksum, when due)
  wait: number; // at the barrier, waiting for the slowest replica
  reduce: number; // summing the slots into its gradient region
  optimizer: number;
}

export interface ReduceOutcome {
  lossSum: number;
  frames: number;
  gradSum: number;
  /** False when the loss or the gradient was not finite: no replica stepped its optimizer. */
  applied: boolean;
  /** Each sandwich member's loss, KD, CTC and simple-loss sums over the whole batch. */
  members: MemberSums[];
}

/** A subnet and its dropout, or a whole sandwich, as the plan of one step. */
export function asPlan(sub: SubnetSpec | SandwichPlan, dropout?: DropoutRates): SandwichPlan {
  return "members" in sub ? sub : { members: [{ spec: sub, dropout: dropout ?? NO_DROPOUT }], kd: null };
}

/** One replica's side of the all-reduce (the same code on the calling thread and in the workers). */
export class Replica {
  private readonly ctrl: Int32Array;
  private readonly stats: Float64Array;
  readonly losses: Float32Array;
  private readonly slots: Float32Array[][]; // [bank][rank]
  readonly timings: StepTimings = { compute: 0, publish: 0, wait: 0, reduce: 0, optimizer: 0 };
  /** Where another replica's gradient is copied to be added (trainable floats, taken from the arena for good; 0 alone). */
  private readonly scratch: number;
  /** Alone (N = 1): the last step's per-utterance losses, straight from the model. */
  lastLosses: Float32Array = new Float32Array(0);
  readonly threads: number;

  constructor(readonly engine: Engine, readonly model: Model, readonly optimizer: OptimizerBox, readonly rank: number, layout: SharedLayout) {
    const { sab, threads: N, gradFloats: n } = layout;
    if (n !== model.params.trainableFloats) throw new Error(`replica ${rank}: ${model.params.trainableFloats} trainable floats, the shared buffer has ${n}`);
    this.threads = N;
    this.ctrl = new Int32Array(sab, 0, CTRL_INTS);
    let off = CTRL_INTS * 4;
    this.stats = new Float64Array(sab, off, N * STATS);
    off += N * STATS * 8;
    const alone = N === 1;
    this.losses = alone ? new Float32Array(0) : new Float32Array(sab, off, N * MAX_SHARD_UTTERANCES);
    off += N * MAX_SHARD_UTTERANCES * 4;
    this.slots = alone ? [] : [0, 1].map((bank) => Array.from({ length: N }, (_, r) => new Float32Array(sab, off + (bank * N + r) * n * 4, n)));
    this.scratch = alone ? 0 : engine.alloc(n, "all-reduce scratch");
  }

  /** Marks the group failed and wakes every waiter (they throw). */
  fail(): void {
    Atomics.store(this.ctrl, FAILED, 1);
    Atomics.notify(this.ctrl, ARRIVALS);
  }

  get failed(): boolean {
    return Atomics.load(this.ctrl, FAILED) !== 0;
  }

  /**
   * Waits until all N replicas have arrived for the gen-th time (gen counts from 1). Throws when the
   * group has failed, or when the others are later than max(5 min, 20 x this replica's compute): a
   * thread that died without a word (it cannot be seen from here: this thread's event loop is blocked).
   */
  private barrier(gen: number): void {
    const target = this.threads * gen;
    const limit = Math.max(300_000, 20 * this.timings.compute), t0 = performance.now();
    let v = Atomics.add(this.ctrl, ARRIVALS, 1) + 1;
    if (v >= target) Atomics.notify(this.ctrl, ARRIVALS);
    while (v < target) {
      if (this.failed) throw new Error(`replica ${this.rank}: another replica failed during step ${gen}`);
      if (performance.now() - t0 > limit) {
        this.fail();
        throw new Error(`replica ${this.rank}: the other replicas did not reach step ${gen}'s all-reduce within ${(limit / 1000).toFixed(0)} s`);
      }
      Atomics.wait(this.ctrl, ARRIVALS, v, 250);
      v = Atomics.load(this.ctrl, ARRIVALS);
    }
  }

  /** Zeroes the gradients, runs this replica's shard (if any), and writes its losses and frames. */
  compute(shard: Batch | null, index: Int32Array, plan: SandwichPlan, o: { seed: number; lossScale: number }): void {
    const t0 = performance.now();
    try {
      this.computeShard(shard, index, plan, o);
    } finally {
      this.timings.compute = performance.now() - t0;
    }
  }

  private computeShard(shard: Batch | null, index: Int32Array, plan: SandwichPlan, o: { seed: number; lossScale: number }): void {
    const { model } = this;
    model.params.zeroGrad();
    const s = this.stats, at = this.rank * STATS;
    if (plan.members.length > MAX_MEMBERS) throw new Error(`a sandwich of ${plan.members.length} subnets exceeds ${MAX_MEMBERS}`);
    s.fill(0, at + 5, at + STATS);
    if (!shard) {
      s[at] = 0; s[at + 1] = 0; s[at + 2] = 0;
      return;
    }
    const alone = this.threads === 1;
    if (!alone && shard.B > MAX_SHARD_UTTERANCES) throw new Error(`a shard of ${shard.B} utterances exceeds ${MAX_SHARD_UTTERANCES}`);
    // alone: the whole batch, its own utterance indices and the default loss scale 1/B
    const r = model.sandwichStep(shard, plan, alone ? { seed: o.seed } : { seed: o.seed, lossScale: o.lossScale, utterances: index });
    s[at] = r.lossSum; s[at + 1] = r.frames; s[at + 2] = shard.B;
    r.members.forEach((m, k) => {
      s[at + 5 + 4 * k] = m.lossSum;
      s[at + 6 + 4 * k] = m.kdSum;
      s[at + 7 + 4 * k] = m.ctcSum;
      s[at + 8 + 4 * k] = m.simpleSum;
    });
    if (alone) this.lastLosses = r.losses;
    else this.losses.set(r.losses, this.rank * MAX_SHARD_UTTERANCES);
  }

  /**
   * The all-reduce, the gradient check and the optimizer step: the one place a training step decides to
   * step (loss and summed gradient finite) or to skip. With `check`, this replica's parameter checksum
   * (before this step's update) is published, and replica 0 compares them all after the barrier.
   * Alone (N = 1) there is nothing to reduce: the check and the step only.
   */
  reduceAndStep(gen: number, lr: number, check: boolean): ReduceOutcome {
    const { engine: e, model, rank } = this;
    const N = this.threads, n = model.params.trainableFloats, tm = this.timings;
    let t = performance.now();
    const lap = () => {
      const now = performance.now(), d = now - t;
      t = now;
      return d;
    };
    if (N > 1) this.allReduce(gen, check, lap);
    let lossSum = 0, frames = 0;
    const members = Array.from({ length: MAX_MEMBERS }, () => ({ lossSum: 0, kdSum: 0, ctcSum: 0, simpleSum: 0 }));
    for (let r = 0; r < N; r++) {
      lossSum += this.stats[r * STATS];
      frames += this.stats[r * STATS + 1];
      members.forEach((m, k) => {
        m.lossSum += this.stats[r * STATS + 5 + 4 * k];
        m.kdSum += this.stats[r * STATS + 6 + 4 * k];
        m.ctcSum += this.stats[r * STATS + 7 + 4 * k];
        m.simpleSum += this.stats[r * STATS + 8 + 4 * k];
      });
    }
    const gradSum = e.scoped(() => {
      const out = e.alloc(1);
      e.wasm.sum_forward(out, model.params.gradPtr, n);
      return e.read(out, 1)[0];
    });
    const applied = Number.isFinite(lossSum) && Number.isFinite(gradSum);
    tm.reduce = lap();
    if (applied) this.optimizer.step(lr);
    tm.optimizer = lap();
    return { lossSum, frames, gradSum, applied, members };
  }

  /** Publishes this replica's gradient, meets the others, and sums every slot into its gradient region. */
  private allReduce(gen: number, check: boolean, lap: () => number): void {
    const { engine: e, model, rank } = this;
    const N = this.threads, n = model.params.trainableFloats, bank = this.slots[gen & 1];
    const g0 = model.params.gradPtr >> 2, tm = this.timings;
    bank[rank].set(e.f32.subarray(g0, g0 + n));
    if (check) this.stats[rank * STATS + 3] = paramChecksum(e, model.params.paramPtr, model.params.total);
    this.stats[rank * STATS + 4] = tm.compute;
    tm.publish = lap();
    this.barrier(gen);
    tm.wait = lap();
    if (check && rank === 0) {
      const sums = Array.from({ length: N }, (_, r) => this.stats[r * STATS + 3]);
      if (sums.some((c) => c !== sums[0])) {
        this.fail();
        throw new Error(`data-parallel replicas diverged before step ${gen}: parameter checksums ${sums.map((c) => c.toString(16)).join(", ")}`);
      }
    }
    // grad = ((slot 0 + slot 1) + slot 2) + ... in f32, the same operations on every replica. With two,
    // own + other is that sum already (IEEE addition commutes bit for bit): one copy, one SIMD add.
    const gp = model.params.gradPtr, sc = this.scratch;
    if (N === 2) {
      e.f32.set(bank[1 - rank], sc >> 2);
      e.wasm.add_forward(gp, gp, sc, n);
    } else {
      e.f32.set(bank[0], g0);
      for (let r = 1; r < N; r++) {
        e.f32.set(bank[r], sc >> 2);
        e.wasm.add_forward(gp, gp, sc, n);
      }
    }
  }
  /** Each replica's forward and backward time (ms) in the last step. */
  computeTimes(): number[] {
    return Array.from({ length: this.threads }, (_, r) => this.stats[r * STATS + 4]);
  }

  /** Utterances and losses that replica r published for the current step. */
  published(r: number): { utterances: number; losses: Float32Array } {
    const u = this.stats[r * STATS + 2];
    return { utterances: u, losses: this.losses.slice(r * MAX_SHARD_UTTERANCES, r * MAX_SHARD_UTTERANCES + u) };
  }
}

// ---- messages between replica 0 and the workers ---------------------------------------------------
export interface WorkerInit {
  cfg: ModelConfig;
  optim: TrainConfig["optim"];
  build: Engine["build"];
  rank: number;
  layout: SharedLayout;
}

export type ToWorker =
  | { type: "sync"; params: Float32Array; optimizer: ReturnType<OptimizerBox["snapshot"]> }
  | { type: "step"; gen: number; shard: Batch | null; index: Int32Array; plan: SandwichPlan; seed: number; lossScale: number; lr: number; check: boolean }
  | { type: "params" };

export type FromWorker =
  | { type: "ready" }
  | { type: "synced" }
  | { type: "params"; params: Float32Array }
  | { type: "fatal"; message: string };

export interface ParallelOptions {
  threads: number;
  optim: TrainConfig["optim"];
  /** Steps between replica checksum comparisons (0: never). Default 50. */
  checkEvery?: number;
}

export interface ParallelStepOptions {
  seed: number;
  dropout?: DropoutRates;
  lr: number;
}

/** The step's losses, and the outcome of the gradient check (members: as many as the plan's). */
export type ParallelStepResult = StepResult & Pick<ReduceOutcome, "gradSum" | "applied" | "members">;

interface Peer {
  worker: Worker;
  queue: ((m: FromWorker) => void)[];
  fatal?: string;
}

const DEAD = "the worker thread exited";

export class ParallelTrainer {
  private gen = 0;
  private closed = false;

  private constructor(readonly replica: Replica, private readonly peers: Peer[], readonly checkEvery: number) {}

  /** Starts threads - 1 workers (none for one thread), each with a replica of `model`, and syncs them to it. */
  static async create(model: Model, optimizer: OptimizerBox, opts: ParallelOptions): Promise<ParallelTrainer> {
    const N = Math.floor(opts.threads);
    if (!(N >= 1)) throw new Error(`ParallelTrainer: threads must be >= 1, got ${opts.threads}`);
    const layout = sharedLayout(N, model.params.trainableFloats);
    const replica = new Replica(model.engine, model, optimizer, 0, layout);
    const peers: Peer[] = [];
    const par = new ParallelTrainer(replica, peers, opts.checkEvery ?? 50);
    try {
      for (let rank = 1; rank < N; rank++) {
        const init: WorkerInit = { cfg: model.cfg, optim: opts.optim, build: model.engine.build, rank, layout };
        const worker = new Worker(new URL("./parallel-worker.js", import.meta.url), { workerData: init });
        const peer: Peer = { worker, queue: [] };
        worker.on("message", (m: FromWorker) => {
          if (m.type === "fatal") {
            peer.fatal = m.message;
            replica.fail();
          }
          peer.queue.shift()?.(m);
        });
        const die = (why: string) => {
          peer.fatal ??= why;
          replica.fail();
          peer.queue.splice(0).forEach((f) => f({ type: "fatal", message: peer.fatal! }));
        };
        worker.on("error", (e) => die(e.stack ?? String(e)));
        worker.on("exit", () => {
          if (!par.closed) die(DEAD);
        });
        peers.push(peer);
      }
      await Promise.all(peers.map((p) => par.reply(p)));
      if (peers.length) await par.sync();
    } catch (e) {
      await par.close();
      throw e;
    }
    return par;
  }

  get threads(): number {
    return this.peers.length + 1;
  }

  /** Replica 0's phase times of the last step (ms), and every replica's compute time. */
  get timings(): StepTimings & { computeByReplica: number[] } {
    return { ...this.replica.timings, computeByReplica: this.replica.computeTimes() };
  }

  /** The next message from a worker; a fatal one becomes an Error. */
  private reply(p: Peer): Promise<FromWorker> {
    return new Promise<FromWorker>((resolve) => p.queue.push(resolve)).then((m) => {
      if (m.type === "fatal") throw new Error(`data-parallel worker failed: ${m.message}`);
      return m;
    });
  }

  /** Copies replica 0's parameters and optimizer state into every other replica. */
  async sync(): Promise<void> {
    const { model, optimizer } = this.replica;
    const params = model.engine.read(model.params.paramPtr, model.params.total);
    const snap = optimizer.snapshot();
    await Promise.all(this.peers.map((p) => {
      const r = this.reply(p);
      p.worker.postMessage({ type: "sync", params, optimizer: snap } satisfies ToWorker);
      return r;
    }));
  }

  /** A fresh copy of replica r's parameters (all `params.total` floats). */
  async replicaParams(r: number): Promise<Float32Array> {
    const { model } = this.replica;
    if (r === 0) return model.engine.read(model.params.paramPtr, model.params.total);
    const p = this.peers[r - 1], reply = this.reply(p);
    p.worker.postMessage({ type: "params" } satisfies ToWorker);
    return ((await reply) as { params: Float32Array }).params;
  }

  /**
   * One data-parallel step on the whole batch: shards, forward and backward on every replica, the
   * all-reduce, and (when loss and gradient are finite) the optimizer step at `lr` on every replica.
   * Losses come back in the batch's order.
   */
  async step(batch: Batch, sub: SubnetSpec | SandwichPlan, o: ParallelStepOptions): Promise<ParallelStepResult> {
    const plan = asPlan(sub, o.dropout);
    if (this.closed) throw new Error("ParallelTrainer: step() after close()");
    const dead = this.peers.find((p) => p.fatal);
    if (dead || this.replica.failed) throw new Error(`data-parallel worker failed: ${dead?.fatal ?? "an earlier step failed"}`);
    const gen = ++this.gen, alone = this.threads === 1;
    const check = !alone && this.checkEvery > 0 && gen % this.checkEvery === 0;
    // alone: the batch itself, not a copy (its index is unused)
    const shards = alone ? [{ batch, index: new Int32Array(0) }] : shardBatch(batch, this.threads);
    const common = { plan, seed: o.seed, lossScale: 1 / batch.B, lr: o.lr, check };
    this.peers.forEach((p, i) => {
      const s = shards[i + 1];
      const transfer = s.batch ? [s.batch.feats.buffer, s.batch.tokens.buffer, s.batch.featLens.buffer, s.batch.tokenLens.buffer] as ArrayBuffer[] : [];
      p.worker.postMessage({ type: "step", gen, shard: s.batch, index: s.index, ...common } satisfies ToWorker, transfer);
    });
    let out: ReduceOutcome;
    try {
      this.replica.compute(shards[0].batch, shards[0].index, plan, common);
      out = this.replica.reduceAndStep(gen, o.lr, check);
    } catch (e) {
      this.replica.fail();
      if (alone) throw e;
      await new Promise((r) => setTimeout(r, 50)); // let a worker's own message arrive
      const why = this.peers.map((p) => p.fatal).find(Boolean);
      throw why ? new Error(`data-parallel worker failed: ${why}`) : e;
    }
    const losses = alone ? this.replica.lastLosses : new Float32Array(batch.B);
    if (!alone) {
      shards.forEach((s, r) => {
        const pub = this.replica.published(r);
        s.index.forEach((i, k) => (losses[i] = pub.losses[k]));
      });
    }
    return { lossSum: out.lossSum, losses, frames: out.frames, gradSum: out.gradSum, applied: out.applied, members: out.members.slice(0, plan.members.length) };
  }

  /** Stops the workers. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all(this.peers.map((p) => p.worker.terminate()));
  }
}
