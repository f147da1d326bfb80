// Data-parallel training (src/train/parallel.ts): shards partition a batch exactly; one model's
// gradient over a batch equals the sum of its gradients over the shards (dropout masks drawn per
// utterance of the whole batch); and 2 threads against 1 thread on the same batches of a tiny model:
// per-step losses, parameters after the steps, replicas identical bit for bit, and a resync of
// replica 0's optimizer state into a fresh group; and 1 thread (one replica) against the plain step, bit for bit.
// Worker threads run plain Node and load dist/: everything here comes from dist/ (compiled by test/setup/build-dist.ts).
import { join } from "node:path";
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import type { Batch } from "../src/data/batching.js";
import type { Engine } from "../src/engine/engine.js";
import type { ModelConfig } from "../src/model/config.js";
import type { Model as ModelT } from "../src/model/model.js";
import type { OptimizerBox as OptimizerBoxT } from "../src/train/optimizer.js";
import type * as ParallelModule from "../src/train/parallel.js";
import { rng } from "./helpers.js";
import { checkOp } from "./harness.js";

let dist: {
  createEngine: (o?: { build?: "simd" | "relaxed-simd" }) => Promise<Engine>;
  Model: typeof ModelT;
  OptimizerBox: typeof OptimizerBoxT;
  par: typeof ParallelModule;
  DEFAULT_MODEL: ModelConfig;
  optim: import("../src/train/config.js").TrainConfig["optim"];
};

beforeAll(async () => {
  const at = (p: string) => import(join(process.cwd(), "dist", p));
  const [index, model, optimizer, par, config, tconfig] = await Promise.all(
    ["index.js", "model/model.js", "train/optimizer.js", "train/parallel.js", "model/config.js", "train/config.js"].map(at));
  dist = { createEngine: index.createEngine, Model: model.Model, OptimizerBox: optimizer.OptimizerBox, par, DEFAULT_MODEL: config.DEFAULT_MODEL, optim: tconfig.DEFAULT_TRAIN.optim };
}, 120_000);

const tiny = (): ModelConfig => ({
  ...dist.DEFAULT_MODEL, featDim: 16, subsampleChannels: 2, dModel: 8, layers: 2, ffDim: 12, heads: 2, stateSize: 4,
  predictorDim: 16, joinerDim: 16, vocabSize: 5, causal: false, convKernel: 3,
});
const DROP = { ffHidden: 0.1, ffOut: 0.1, ssmOut: 0.1, convOut: 0.1 };

/** A padded batch of utterances of the given frame and token counts (padding is zeros). */
function makeBatch(seed: number, featLens: number[], tokenLens: number[], F = 16, V = 5): Batch {
  const r = rng(seed);
  const B = featLens.length, T = Math.max(...featLens), U = Math.max(...tokenLens);
  const feats = new Float32Array(B * T * F), tokens = new Int32Array(B * U);
  for (let b = 0; b < B; b++) {
    for (let i = 0; i < featLens[b] * F; i++) feats[b * T * F + i] = r() * 4 - 2;
    for (let u = 0; u < tokenLens[b]; u++) tokens[b * U + u] = 1 + Math.floor(r() * (V - 1));
  }
  return { ids: featLens.map((_, i) => 100 + i), B, T, F, U, feats, featLens: Int32Array.from(featLens), tokens, tokenLens: Int32Array.from(tokenLens) };
}

const BATCHES = () => [
  makeBatch(1, [23, 17, 30, 9, 26], [3, 2, 4, 1, 3]),
  makeBatch(2, [31, 13, 19], [4, 2, 3]),
  makeBatch(3, [11, 29, 21, 15, 25, 7, 18], [1, 4, 2, 2, 3, 1, 2]),
  makeBatch(4, [27, 22], [3, 3]),
  makeBatch(5, [14, 33, 20, 16], [2, 4, 3, 2]),
];

describe("shardBatch", () => {
  it("partitions the utterances, copies each row exactly, and balances frames", () => {
    fc.assert(fc.property(fc.array(fc.tuple(fc.integer({ min: 1, max: 40 }), fc.integer({ min: 0, max: 6 })), { minLength: 1, maxLength: 13 }),
      fc.integer({ min: 1, max: 5 }), fc.integer(), (utts, n, seed) => {
        const b = makeBatch(seed, utts.map((u) => u[0]), utts.map((u) => u[1]), 3);
        const shards = dist.par.shardBatch(b, n);
        expect(shards.length).toBe(n);
        expect(shards.flatMap((s) => Array.from(s.index)).sort((x, y) => x - y)).toEqual(utts.map((_, i) => i));
        const loads = shards.map((s) => s.batch ? s.batch.featLens.reduce((x, y) => x + y, 0) : 0);
        // greedy longest-first: the spread of the loads never exceeds the longest utterance
        expect(Math.max(...loads) - Math.min(...loads)).toBeLessThanOrEqual(Math.max(...utts.map((u) => u[0])));
        for (const s of shards) {
          if (!s.batch) { expect(s.index.length).toBe(0); continue; }
          const sb = s.batch;
          s.index.forEach((i, r) => {
            expect(sb.ids[r]).toBe(b.ids[i]);
            expect(sb.featLens[r]).toBe(b.featLens[i]);
            expect(sb.tokenLens[r]).toBe(b.tokenLens[i]);
            expect(Array.from(sb.feats.subarray(r * sb.T * 3, r * sb.T * 3 + b.featLens[i] * 3))).toEqual(Array.from(b.feats.subarray(i * b.T * 3, i * b.T * 3 + b.featLens[i] * 3)));
            expect(Array.from(sb.tokens.subarray(r * sb.U, r * sb.U + b.tokenLens[i]))).toEqual(Array.from(b.tokens.subarray(i * b.U, i * b.U + b.tokenLens[i])));
          });
          expect(sb.T).toBe(Math.max(Math.min(b.T, 7), ...sb.featLens));
        }
      }), { numRuns: 200 });
  });
});

describe("data-parallel training", () => {
  it("one model: the gradient of a batch equals the sum over its shards, dropout included", async () => {
    const e = await dist.createEngine();
    const base = e.mark();
    try {
      const m = new dist.Model(e, tiny());
      m.params.init(7);
      const b = BATCHES()[2], sub = { layers: 2, ffDim: 12, heads: 2 };
      const n = m.params.trainableFloats;
      m.params.zeroGrad();
      const whole = m.trainStep(b, sub, { dropout: DROP, seed: 99 });
      const gWhole = e.read(m.params.gradPtr, n);
      m.params.zeroGrad(); // the shards accumulate into one region
      const losses = new Float32Array(b.B);
      for (const s of dist.par.shardBatch(b, 3)) {
        const r = m.trainStep(s.batch!, sub, { dropout: DROP, seed: 99, lossScale: 1 / b.B, utterances: s.index });
        s.index.forEach((i, k) => (losses[i] = r.losses[k]));
      }
      // the same utterances, masks and weights; only rounding differs (other GEMM row counts and
      // padded lengths, gradient summed per shard): f32 over sums of a few hundred terms
      checkOp("per-utterance losses", losses, whole.losses, 1e-5, 1e-5);
      checkOp("gradient", e.read(m.params.gradPtr, n), gWhole, 1e-6, 1e-4);
      // and the masks matter: another seed moves the losses (so the check above could fail)
      m.params.zeroGrad();
      const other = m.trainStep(b, sub, { dropout: DROP, seed: 100 });
      expect(Math.abs(other.lossSum - whole.lossSum)).toBeGreaterThan(1e-3);
    } finally {
      e.reset(base);
    }
  });

  it("2 threads equal 1 thread over 5 steps; the replicas stay identical bit for bit; a resync carries the optimizer", async () => {
    const sub = { layers: 2, ffDim: 12, heads: 2 };
    const lr = (s: number) => 0.03 * (1 + s / 10);
    const make = async () => {
      const e = await dist.createEngine();
      const m = new dist.Model(e, tiny());
      m.params.init(5);
      return { e, m, opt: new dist.OptimizerBox(e, m, dist.optim) };
    };
    const batches = [...BATCHES(), makeBatch(6, [19, 24, 12], [2, 3, 1]), makeBatch(7, [28], [3])];
    // one thread: the trainer's own step
    const one = await make();
    const oneLosses: number[] = [];
    for (let s = 0; s < batches.length; s++) {
      one.m.params.zeroGrad();
      oneLosses.push(one.m.trainStep(batches[s], sub, { dropout: DROP, seed: 1000 + s }).lossSum);
      one.opt.step(lr(s));
    }
    const oneParams = one.e.read(one.m.params.paramPtr, one.m.params.total);
    // two threads: 5 steps, then a fresh group synced from replica 0 (parameters and optimizer state)
    const two = await make();
    const twoLosses: number[] = [];
    let par = await dist.par.ParallelTrainer.create(two.m, two.opt, { threads: 2, optim: dist.optim, checkEvery: 1 });
    try {
      for (let s = 0; s < batches.length; s++) {
        if (s === 5) {
          await par.close();
          par = await dist.par.ParallelTrainer.create(two.m, two.opt, { threads: 2, optim: dist.optim, checkEvery: 1 });
        }
        const r = await par.step(batches[s], sub, { dropout: DROP, seed: 1000 + s, lr: lr(s) });
        expect(r.applied).toBe(true);
        expect(r.losses.length).toBe(batches[s].B);
        twoLosses.push(r.lossSum);
        // replicas bit for bit: the same summed gradient and the same optimizer step on each
        const [p0, p1] = [await par.replicaParams(0), await par.replicaParams(1)];
        expect(Buffer.compare(Buffer.from(p0.buffer), Buffer.from(p1.buffer)), `replicas after step ${s}`).toBe(0);
      }
    } finally {
      await par.close();
    }
    // loss ~10 nats per utterance, f32; the gradient sums in another order, which ScaledAdam's
    // normalised updates carry into the weights at ~1e-7 relative per step: 1e-5 relative is ample
    checkOp("per-step losses", twoLosses, oneLosses, 0, 1e-5);
    // parameters of size ~0.1..1 after 7 updates of ~lr·rms each: 1e-5 absolute
    checkOp("parameters after the steps", two.e.read(two.m.params.paramPtr, two.m.params.total), oneParams, 1e-5, 1e-5);
    // the steps did move the weights (so the comparison above could fail)
    const init = await make();
    const moved = init.e.read(init.m.params.paramPtr, init.m.params.total).reduce((acc, v, i) => Math.max(acc, Math.abs(v - oneParams[i])), 0);
    expect(moved).toBeGreaterThan(1e-2);
  });

  it("with the auxiliary CTC head (model.ctcWeight > 0): 2 threads equal 1 thread, CTC sums included", async () => {
    const sub = { layers: 2, ffDim: 12, heads: 2 };
    const make = async () => {
      const e = await dist.createEngine();
      const m = new dist.Model(e, { ...tiny(), ctcWeight: 0.4 });
      m.params.init(9);
      return { e, m, opt: new dist.OptimizerBox(e, m, dist.optim) };
    };
    const batches = BATCHES().slice(0, 3);
    const one = await make(), two = await make();
    const oneLosses: number[] = [], oneCtc: number[] = [];
    for (let s = 0; s < batches.length; s++) {
      one.m.params.zeroGrad();
      const r = one.m.sandwichStep(batches[s], dist.par.asPlan(sub, DROP), { seed: 300 + s });
      oneLosses.push(r.lossSum);
      oneCtc.push(r.members[0].ctcSum);
      one.opt.step(0.03);
    }
    const par = await dist.par.ParallelTrainer.create(two.m, two.opt, { threads: 2, optim: dist.optim, checkEvery: 1 });
    const twoLosses: number[] = [], twoCtc: number[] = [];
    try {
      for (let s = 0; s < batches.length; s++) {
        const r = await par.step(batches[s], sub, { dropout: DROP, seed: 300 + s, lr: 0.03 });
        twoLosses.push(r.lossSum);
        twoCtc.push(r.members[0].ctcSum);
      }
    } finally {
      await par.close();
    }
    // as above: f32 losses ~10-40 nats, gradients summed in another order carried by ScaledAdam at ~1e-7 per step
    checkOp("RNN-T losses", twoLosses, oneLosses, 0, 1e-5);
    checkOp("CTC losses", twoCtc, oneCtc, 0, 1e-5);
    expect(Math.min(...oneCtc)).toBeGreaterThan(0);
    const ctcW = two.m.params.get("ctc.weight");
    // the head was trained on both sides alike: its values after 3 steps of ~lr·rms each, 1e-5 absolute
    checkOp("ctc.weight after the steps", two.e.read(ctcW.ptr, ctcW.numel), one.e.read(one.m.params.get("ctc.weight").ptr, ctcW.numel), 1e-5, 1e-5);
  });

  it("with the pruned loss (model.loss \"pruned\"), a distilled sandwich: 2 threads equal 1 thread, simple sums included", async () => {
    const none = { ffHidden: 0, ffOut: 0, ssmOut: 0, convOut: 0 };
    // two members, the smaller distilled on the full lattice; the loss weights of a step inside the warm-up
    const plan = {
      members: [{ spec: { layers: 2, ffDim: 12, heads: 2 }, dropout: DROP }, { spec: { layers: 1, ffDim: 6, heads: 2 }, dropout: none }],
      kd: { lambda: 0.5, alphaNeg: 1, alphaPos: 1, clip: 5 }, lossScales: { simple: 0.8, pruned: 0.4 },
    };
    const make = async () => {
      const e = await dist.createEngine();
      const m = new dist.Model(e, { ...tiny(), loss: "pruned", pruneRange: 2 });
      m.params.init(10);
      return { e, m, opt: new dist.OptimizerBox(e, m, dist.optim) };
    };
    const batches = BATCHES().slice(0, 3);
    const one = await make(), two = await make();
    const sums = (r: { members: { lossSum: number; simpleSum: number; kdSum: number }[] }) => r.members.flatMap((m) => [m.lossSum, m.simpleSum, m.kdSum]);
    const oneSums: number[] = [];
    for (let s = 0; s < batches.length; s++) {
      one.m.params.zeroGrad();
      oneSums.push(...sums(one.m.sandwichStep(batches[s], plan, { seed: 400 + s })));
      one.opt.step(0.03);
    }
    const par = await dist.par.ParallelTrainer.create(two.m, two.opt, { threads: 2, optim: dist.optim, checkEvery: 1 });
    const twoSums: number[] = [];
    try {
      for (let s = 0; s < batches.length; s++) twoSums.push(...sums(await par.step(batches[s], plan, { seed: 400 + s, lr: 0.03 })));
    } finally {
      await par.close();
    }
    // as above: f32 losses ~1-40 nats, gradients summed in another order carried by ScaledAdam at ~1e-7 per step
    // (KD sums are ~1e-2..1: 1e-6 absolute on top)
    checkOp("pruned, simple and KD sums of both members", twoSums, oneSums, 1e-6, 1e-5);
    // per step [teacher loss, simple, KD (0: the teacher), student loss, simple, KD]: all finite, all but the teacher's KD > 0
    expect(oneSums.every((v, i) => Number.isFinite(v) && (i % 6 === 2 ? v === 0 : v > 0)), `sums ${oneSums}`).toBe(true);
    for (const name of ["simple.am.weight", "simple.lm.bias", "joiner.out.weight"]) {
      const p = two.m.params.get(name);
      // trained on both sides alike: values after 3 steps of ~lr·rms each, 1e-5 absolute
      checkOp(`${name} after the steps`, two.e.read(p.ptr, p.numel), one.e.read(one.m.params.get(name).ptr, p.numel), 1e-5, 1e-5);
    }
  });

  it("3 threads (the ordered sum of 3 slots, an empty shard for a batch of 2) equal 1 thread; replicas identical", async () => {
    const sub = { layers: 2, ffDim: 12, heads: 2 };
    const make = async () => {
      const e = await dist.createEngine();
      const m = new dist.Model(e, tiny());
      m.params.init(8);
      return { e, m, opt: new dist.OptimizerBox(e, m, dist.optim) };
    };
    const batches = [BATCHES()[0], BATCHES()[3], BATCHES()[2]]; // 5, 2 (one shard empty), 7 utterances
    const one = await make(), three = await make();
    const par = await dist.par.ParallelTrainer.create(three.m, three.opt, { threads: 3, optim: dist.optim, checkEvery: 1 });
    try {
      for (let s = 0; s < batches.length; s++) {
        one.m.params.zeroGrad();
        const ref = one.m.trainStep(batches[s], sub, { dropout: DROP, seed: 7 + s });
        one.opt.step(0.04);
        const r = await par.step(batches[s], sub, { dropout: DROP, seed: 7 + s, lr: 0.04 });
        // per-utterance losses in the batch's order; f32 loss of a few nats, other summation order
        checkOp(`losses at step ${s}`, r.losses, ref.losses, 0, 1e-5);
        const ps = await Promise.all([0, 1, 2].map((i) => par.replicaParams(i)));
        for (const p of ps.slice(1)) expect(Buffer.compare(Buffer.from(p.buffer), Buffer.from(ps[0].buffer)), `replicas after step ${s}`).toBe(0);
      }
      // three updates of ~lr·rms each, summed in another order: 1e-5 absolute
      checkOp("parameters", await par.replicaParams(0), one.e.read(one.m.params.paramPtr, one.m.params.total), 1e-5, 1e-5);
    } finally {
      await par.close();
    }
  });

  it("1 thread (one replica, the trainer's one-thread step) equals zeroGrad, sandwichStep and the optimizer bit for bit", async () => {
    const sub = { layers: 2, ffDim: 12, heads: 2 };
    const make = async () => {
      const e = await dist.createEngine();
      const m = new dist.Model(e, tiny());
      m.params.init(9);
      return { e, m, opt: new dist.OptimizerBox(e, m, dist.optim) };
    };
    const batches = BATCHES().slice(0, 3);
    const ref = await make(), alone = await make();
    const par = await dist.par.ParallelTrainer.create(alone.m, alone.opt, { threads: 1, optim: dist.optim, checkEvery: 1 });
    try {
      for (let s = 0; s < batches.length; s++) {
        ref.m.params.zeroGrad();
        const want = ref.m.sandwichStep(batches[s], dist.par.asPlan(sub, DROP), { seed: 40 + s });
        ref.opt.step(0.03);
        const got = await par.step(batches[s], sub, { dropout: DROP, seed: 40 + s, lr: 0.03 });
        // the same calls on the same model: identical bits, no tolerance
        expect([got.lossSum, got.frames, got.applied, got.members[0].ctcSum], `step ${s}`).toEqual([want.lossSum, want.frames, true, want.members[0].ctcSum]);
        expect(Array.from(got.losses), `losses at step ${s}`).toEqual(Array.from(want.losses));
      }
      const a = alone.e.read(alone.m.params.paramPtr, alone.m.params.total), b = ref.e.read(ref.m.params.paramPtr, ref.m.params.total);
      expect(Buffer.compare(Buffer.from(a.buffer), Buffer.from(b.buffer)), "parameters after the steps").toBe(0);
    } finally {
      await par.close();
    }
  });

  it("a worker's failure reaches the caller as an error, also a worker gone without a word", async () => {
    const e = await dist.createEngine();
    const m = new dist.Model(e, tiny());
    m.params.init(5);
    const par = await dist.par.ParallelTrainer.create(m, new dist.OptimizerBox(e, m, dist.optim), { threads: 2, optim: dist.optim });
    try {
      // 16 feature bins in the model, 12 in the batch: every replica's trainStep throws; the worker's
      // shard fails too, and the caller must not wait forever at the barrier
      await expect(par.step(makeBatch(1, [20, 20], [2, 2], 12), { layers: 2, ffDim: 12, heads: 2 }, { seed: 1, lr: 0.01 })).rejects.toThrow(/feature bins/);
    } finally {
      await par.close();
    }
    const par2 = await dist.par.ParallelTrainer.create(m, new dist.OptimizerBox(e, m, dist.optim), { threads: 2, optim: dist.optim });
    try {
      await (par2 as unknown as { peers: { worker: { terminate(): Promise<number> } }[] }).peers[0].worker.terminate();
      await expect(par2.step(makeBatch(1, [20, 20], [2, 2]), { layers: 2, ffDim: 12, heads: 2 }, { seed: 1, lr: 0.01 })).rejects.toThrow(/worker thread exited/);
    } finally {
      await par2.close();
    }
  });
});
