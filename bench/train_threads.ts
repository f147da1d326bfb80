// Data-parallel scaling: one full training step (forward, backward, all-reduce, ScaledAdam) of the
// default model on 1 thread and on 2 threads (src/train/parallel.ts: replica 0 on this thread, one
// worker), on the same synthetic batch with features precomputed (no loader competing for the cores).
// The peer: the PyTorch mirror (bench/peers/train.py) with torch.set_num_threads(1) and then 2
// (intra-op threads, OPENBLAS_NUM_THREADS=1, the fastest setting on this machine per NOTES.md).
//
// Model: DEFAULT_MODEL (vocab 256). Batch: 8 synthetic utterances of 5 s (500 frames of 80 bins),
// 20..25 tokens, as bench/train.ts. todm's 1-thread and 2-thread steps alternate, REPS times after
// WARMUP rounds, so that both see the same load; each figure is a median. Records: "ms" per step for
// each thread count and "x speedup" (1-thread ms over 2-thread ms); the goal is 1.6x on 2 cores.
// The log also gives replica 0's phase times of the 2-thread step (compute, publish, wait, reduce,
// optimizer): what the all-reduce costs and how unequal the shards are; and, before and after, what two
// threads of plain JS get from the machine at that moment (another process on a core caps any speedup).

import { spawnSync } from "node:child_process";
import { Worker } from "node:worker_threads";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { createEngine, type Engine } from "../dist/index.js";
import { DEFAULT_MODEL } from "../dist/model/config.js";
import { encodeModel } from "../dist/model/io.js";
import { Model } from "../dist/model/model.js";
import { CharTokenizer } from "../dist/data/tokenizer.js";
import { DEFAULT_TRAIN } from "../dist/train/config.js";
import { OptimizerBox } from "../dist/train/optimizer.js";
import { ParallelTrainer, type StepTimings } from "../dist/train/parallel.js";
import { encodeSafetensors } from "../dist/io/safetensors.js";
import type { Batch } from "../dist/data/batching.js";
import { median, syntheticTrainBatch, type BenchContext, type BenchRecord } from "./lib.js";

const B = 8, FRAMES = 500, REPS = 7, WARMUP = 2, LR = 0.045;
const ICEFALL = process.env.ICEFALL_OPTIM ?? "/work/ref-src/icefall_optim.py";


/** The PyTorch mirror's median step time (ms) on `threads` intra-op threads; null when unavailable. */
function torchStepMs(modelFile: string, batchFile: string, threads: number, log: (s: string) => void): number | null {
  const env = { ...process.env, OMP_NUM_THREADS: String(threads), OPENBLAS_NUM_THREADS: "1", MKL_NUM_THREADS: "1", TODM_PEER_THREADS: String(threads) };
  const r = spawnSync("/usr/bin/python3", ["bench/peers/train.py", modelFile, batchFile, String(REPS), ICEFALL], { encoding: "utf8", env, maxBuffer: 64 << 20 });
  if (r.error || r.status !== 0) {
    log(`  peer bench/peers/train.py (${threads} threads) unavailable: ${(r.error?.message ?? r.stderr ?? "").trim().split("\n").pop()}`);
    return null;
  }
  const lines = r.stdout.trim().split("\n");
  return (JSON.parse(lines[lines.length - 1]) as { ms: number }).ms;
}

/**
 * Microseconds per round trip between this thread and a worker: postMessage both ways (each side
 * answering from its event loop), against Atomics.notify/wait on a SharedArrayBuffer (the worker
 * blocked in Atomics.wait). Median of 5 runs of 2,000 round trips each.
 */
export async function pingPong(): Promise<{ message: number; atomics: number }> {
  const src = `const { parentPort, workerData } = require("node:worker_threads");
    const flag = new Int32Array(workerData);
    parentPort.on("message", (m) => {
      if (m === "atomics") {
        for (let i = 1; i <= ${2000}; i++) {
          while (Atomics.load(flag, 0) !== 2 * i - 1) Atomics.wait(flag, 0, 2 * i - 2);
          Atomics.store(flag, 0, 2 * i);
          Atomics.notify(flag, 0);
        }
      } else parentPort.postMessage(m);
    });`;
  const sab = new SharedArrayBuffer(4);
  const w = new Worker(src, { eval: true, workerData: sab });
  const flag = new Int32Array(sab);
  const n = 2000, msg: number[] = [], atom: number[] = [];
  try {
    for (let rep = 0; rep < 5; rep++) {
      let t0 = process.hrtime.bigint();
      for (let i = 0; i < n; i++) await new Promise((resolve) => { w.once("message", resolve); w.postMessage(i); });
      msg.push(Number(process.hrtime.bigint() - t0) / 1e3 / n);
      Atomics.store(flag, 0, 0);
      w.postMessage("atomics");
      t0 = process.hrtime.bigint();
      for (let i = 1; i <= n; i++) {
        Atomics.store(flag, 0, 2 * i - 1);
        Atomics.notify(flag, 0);
        while (Atomics.load(flag, 0) !== 2 * i) Atomics.wait(flag, 0, 2 * i - 1);
      }
      atom.push(Number(process.hrtime.bigint() - t0) / 1e3 / n);
    }
  } finally {
    await w.terminate();
  }
  return { message: median(msg), atomics: median(atom) };
}

/**
 * What two threads can get from the machine right now: the same plain-JS busy loop on this thread
 * alone, then on this thread and a worker at once; solo time over the slower concurrent time, times 2
 * (2.0 on two idle cores, about 1.0 when another process holds a core). Median of 3.
 */
export async function twoThreadCeiling(): Promise<number> {
  const loop = `let x = 0; const t0 = performance.now(); for (let i = 0; i < 1e8; i++) x += Math.sqrt(i); const ms = performance.now() - t0;`;
  const busy = new Function(`${loop} return ms + (x < 0 ? 1 : 0);`) as () => number;
  const src = `const { parentPort } = require("node:worker_threads"); parentPort.on("message", () => { ${loop} parentPort.postMessage(ms + (x < 0 ? 1 : 0)); });`;
  const w = new Worker(src, { eval: true });
  const ratios: number[] = [];
  try {
    busy();
    for (let rep = 0; rep < 3; rep++) {
      const solo = busy();
      const other = new Promise<number>((resolve) => w.once("message", resolve));
      w.postMessage("go");
      const mine = busy();
      ratios.push((2 * solo) / Math.max(mine, await other));
    }
  } finally {
    await w.terminate();
  }
  return median(ratios);
}

export async function run(ctx: BenchContext): Promise<BenchRecord[]> {
  const ceiling = await twoThreadCeiling();
  ctx.log(`  two threads of plain JS get ${ceiling.toFixed(2)}x one thread on this machine right now (2.0 = two idle cores); load average ${loadavg()[0].toFixed(2)}`);
  const pp = await pingPong();
  ctx.log(`  round trip main <-> worker: postMessage ${pp.message.toFixed(1)} us, Atomics.wait/notify ${pp.atomics.toFixed(1)} us (median of 5 x 2000)`);
  const cfg = DEFAULT_MODEL;
  const batch = syntheticTrainBatch(B, FRAMES, cfg.featDim, cfg.vocabSize);
  const audioSec = batch.featLens.reduce((a, b) => a + b, 0) / 100;
  const dir = mkdtempSync(join(tmpdir(), "todm-bench-threads-"));
  const rows: { build: string; ms1: number; ms2: number; speedup: number }[] = [];
  try {
    const modelFile = join(dir, "model.safetensors"), batchFile = join(dir, "batch.safetensors");
    for (const build of ctx.engines.map((e) => e.build)) {
      // fresh engines: each side owns its arena (two default models and their activations)
      const side = async (e: Engine) => {
        const m = new Model(e, cfg);
        m.params.init(1);
        return { e, m, opt: new OptimizerBox(e, m, { ...DEFAULT_TRAIN.optim, clippingScale: 2 }) };
      };
      const one = await side(await createEngine({ build }));
      const two = await side(await createEngine({ build }));
      if (rows.length === 0) {
        writeFileSync(modelFile, encodeModel(one.m, new CharTokenizer(["<blank>", ...Array.from({ length: cfg.vocabSize - 1 }, (_, i) => String.fromCodePoint(0x100 + i))])));
        writeFileSync(batchFile, encodeSafetensors([
          { name: "feats", dtype: "F32", shape: [B, FRAMES, cfg.featDim], data: batch.feats },
          { name: "feat_lens", dtype: "I32", shape: [B], data: batch.featLens },
          { name: "tokens", dtype: "I32", shape: [B, batch.U], data: batch.tokens },
          { name: "token_lens", dtype: "I32", shape: [B], data: batch.tokenLens },
        ]));
      }
      const par = await ParallelTrainer.create(two.m, two.opt, { threads: 2, optim: DEFAULT_TRAIN.optim, checkEvery: 0 });
      const t1: number[] = [], t2: number[] = [], phases: StepTimings[] = [], workerCompute: number[] = [];
      const l1: number[] = [], l2: number[] = [];
      try {
        for (let rep = -WARMUP; rep < REPS; rep++) {
          let t0 = process.hrtime.bigint();
          one.m.params.zeroGrad();
          l1.push(one.m.trainStep(batch, undefined, { seed: rep }).lossSum / B);
          one.opt.step(LR);
          if (rep >= 0) t1.push(Number(process.hrtime.bigint() - t0) / 1e6);
          t0 = process.hrtime.bigint();
          const r = await par.step(batch, { layers: cfg.layers, ffDim: cfg.ffDim, heads: cfg.heads }, { seed: rep, lr: LR });
          l2.push(r.lossSum / B);
          if (rep >= 0) {
            t2.push(Number(process.hrtime.bigint() - t0) / 1e6);
            const tm = par.timings;
            phases.push(tm);
            workerCompute.push(tm.computeByReplica[1]);
          }
        }
      } finally {
        await par.close();
      }
      const ms1 = median(t1), ms2 = median(t2), speedup = ms1 / ms2;
      const worst = Math.max(...l1.map((l, i) => Math.abs(l - l2[i]) / Math.abs(l)));
      const ph = (["compute", "publish", "wait", "reduce", "optimizer"] as const).map((k) => `${k} ${median(phases.map((p) => p[k])).toFixed(1)}`).join(", ") +
        `; the worker's compute ${median(workerCompute).toFixed(1)}`;
      const after = await twoThreadCeiling();
      ctx.log(`  ${build}: 1 thread ${ms1.toFixed(0)} ms, 2 threads ${ms2.toFixed(0)} ms per step: ${speedup.toFixed(2)}x (goal 1.6x; plain JS ceiling now ${after.toFixed(2)}x); ` +
        `largest loss difference ${worst.toExponential(1)} relative over ${l1.length} steps; load average ${loadavg()[0].toFixed(2)}`);
      ctx.log(`  ${build} 2-thread step on replica 0 (ms, medians): ${ph}`);
      rows.push({ build, ms1, ms2, speedup });
    }
    const torch1 = torchStepMs(modelFile, batchFile, 1, ctx.log), torch2 = torchStepMs(modelFile, batchFile, 2, ctx.log);
    if (torch1 && torch2) ctx.log(`  torch: 1 thread ${torch1.toFixed(0)} ms, 2 threads ${torch2.toFixed(0)} ms per step: ${(torch1 / torch2).toFixed(2)}x`);
    const caseName = `DEFAULT_MODEL B=${B} x ${FRAMES} frames, U<=${batch.U}, V=${cfg.vocabSize}`;
    const note = `train-threads: full training step on ${audioSec} s of audio, features precomputed; todm 2 threads = replica 0 on the main thread + ` +
      `1 worker, SharedArrayBuffer all-reduce; peer: the PyTorch mirror (bench/peers/train.py) with torch.set_num_threads(1 or 2), OPENBLAS_NUM_THREADS=1. ` +
      `Goal: 2 threads >= 1.6x one thread. Plain-JS two-thread ceiling at the start of this run: ${ceiling.toFixed(2)}x (2.0 = two idle cores)`;
    return rows.flatMap((r): BenchRecord[] => {
      const base = { bench: "train-threads", case: caseName, build: r.build, machine: ctx.machine, commit: ctx.commit, note };
      return [
        { ...base, case: `${caseName}, 1 thread`, metric: "ms", higherIsBetter: false, todm: r.ms1, peers: { "torch 1 thread": torch1 } },
        { ...base, case: `${caseName}, 2 threads`, metric: "ms", higherIsBetter: false, todm: r.ms2, peers: { "torch 2 threads": torch2 } },
        { ...base, case: `${caseName}, 2 threads over 1`, metric: "x speedup", higherIsBetter: true, todm: r.speedup, peers: { torch: torch1 && torch2 ? torch1 / torch2 : null } },
      ];
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
