// One full training step (forward, backward, optimizer) of the default model, beside the same step
// of its PyTorch mirror (test/ref/todm_model.py) on the same weights and the same batch, one thread.
//
// Model: DEFAULT_MODEL (src/model/config.ts; vocab 256). Batch: 8 synthetic utterances of 5 s (500
// feature frames of 80 bins each) with 20..25 tokens. A step: zeroGrad, Model.trainStep (Supernet,
// no dropout), ScaledAdamRegion.step() (lr 0.045, clipping 2.0). The peer (bench/peers/train.py,
// kept running in serve mode) loads the weights and the batch that this file writes to a temporary
// directory and runs zero_grad, forward, mean loss, backward and icefall's ScaledAdam step
// (torch.optim.Adam if icefall's optim.py is missing; ICEFALL_OPTIM overrides its path).
// Steps alternate: each build's step, then torch's, REPS times after WARMUP rounds, so that on a
// shared machine all sides see the same load; each figure is the median of its REPS steps. Both
// sides start from the same weights: their first losses are logged, and a mismatch is flagged.
// Records: "ms" per step (lower is better) and "x realtime" (seconds of audio per second of step).
// Both sides also log a per-stage profile (not recorded): todm's time inside WASM exports grouped by
// stage (median of 3 extra steps), the peer's per-stage forward, whole backward and optimizer times.

import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Engine } from "../dist/index.js";
import { DEFAULT_MODEL } from "../dist/model/config.js";
import { encodeModel } from "../dist/model/io.js";
import { Model } from "../dist/model/model.js";
import { CharTokenizer } from "../dist/data/tokenizer.js";
import { ScaledAdamRegion } from "../dist/engine/optim.js";
import { encodeSafetensors } from "../dist/io/safetensors.js";
import type { Batch } from "../dist/data/batching.js";
import { median, PythonPeer, syntheticTrainBatch, type BenchContext, type BenchRecord } from "./lib.js";

const B = 8, FRAMES = 500, REPS = 7, WARMUP = 2;
const ICEFALL = process.env.ICEFALL_OPTIM ?? "/work/ref-src/icefall_optim.py";


/** The stage an engine export belongs to, for the per-stage profile. */
function stageOf(name: string): string {
  if (name === "t_conv2d") return "subsampling convs fwd";
  if (name === "tape_backward") return "encoder bwd (whole tape)";
  if (/^(t_|tape_|tensor_)/.test(name)) return "encoder fwd (blocks, linear, ...)";
  if (/^(embedding_|lstm_)/.test(name)) return "predictor fwd+bwd";
  if (name.startsWith("joiner_")) return "joiner fwd+bwd";
  if (name.startsWith("rnnt_")) return "loss fwd+bwd";
  if (name.startsWith("scaled_adam_")) return "optimizer";
  return "other exports (mem_*, ...)";
}

/**
 * One step with every engine export wrapped in a timer: milliseconds per stage (time inside WASM
 * calls, grouped by export name; "host JS" is the rest of the step). Profiling only: the exports
 * object is swapped for the duration of the call and restored.
 */
function profileStep(e: Engine, step: () => void): Record<string, number> {
  const real = e.wasm as unknown as Record<string, unknown>;
  const stages: Record<string, number> = {};
  const wrapped: Record<string, unknown> = {};
  for (const [name, v] of Object.entries(real)) {
    if (typeof v !== "function") {
      wrapped[name] = v;
      continue;
    }
    const fn = v as (...a: number[]) => number, stage = stageOf(name);
    wrapped[name] = (...a: number[]) => {
      const t0 = process.hrtime.bigint();
      try {
        return fn(...a);
      } finally {
        stages[stage] = (stages[stage] ?? 0) + Number(process.hrtime.bigint() - t0) / 1e6;
      }
    };
  }
  const holder = e as unknown as { wasm: unknown };
  holder.wasm = wrapped;
  const t0 = process.hrtime.bigint();
  try {
    step();
  } finally {
    holder.wasm = real;
  }
  const total = Number(process.hrtime.bigint() - t0) / 1e6;
  stages["host JS"] = total - Object.values(stages).reduce((a, b) => a + b, 0);
  return stages;
}

function charTokenizer(V: number): CharTokenizer {
  return new CharTokenizer(["<blank>", ...Array.from({ length: V - 1 }, (_, i) => String.fromCodePoint(0x100 + i))]);
}

export async function run(ctx: BenchContext): Promise<BenchRecord[]> {
  const cfg = DEFAULT_MODEL;
  const batch = syntheticTrainBatch(B, FRAMES, cfg.featDim, cfg.vocabSize);
  const audioSec = batch.featLens.reduce((a, b) => a + b, 0) / 100; // 10 ms frame shift
  const dir = mkdtempSync(join(tmpdir(), "todm-bench-train-"));
  const modelFile = join(dir, "model.safetensors"), batchFile = join(dir, "batch.safetensors");
  const marks = ctx.engines.map((e) => e.mark());
  let peer: PythonPeer | null = null;
  try {
    // one model per build, the same seeded initial weights; the first is also written for the peer
    const sides = ctx.engines.map((e, i) => {
      const m = new Model(e, cfg);
      m.params.init(1);
      if (i === 0) {
        writeFileSync(modelFile, encodeModel(m, charTokenizer(cfg.vocabSize)));
        writeFileSync(batchFile, encodeSafetensors([
          { name: "feats", dtype: "F32", shape: [B, FRAMES, cfg.featDim], data: batch.feats },
          { name: "feat_lens", dtype: "I32", shape: [B], data: batch.featLens },
          { name: "tokens", dtype: "I32", shape: [B, batch.U], data: batch.tokens },
          { name: "token_lens", dtype: "I32", shape: [B], data: batch.tokenLens },
        ]));
      }
      const opt = new ScaledAdamRegion(e, { params: m.params.paramPtr, grads: m.params.gradPtr, tensors: m.params.trainable() }, { lr: 0.045, clippingScale: 2 });
      const losses: number[] = [];
      const step = () => {
        m.params.zeroGrad();
        losses.push(m.trainStep(batch).lossSum / B);
        opt.step();
      };
      return { e, step, losses, times: [] as number[] };
    });
    const started = await PythonPeer.start("bench/peers/train.py", [modelFile, batchFile, "serve", ICEFALL], ctx.log);
    peer = started?.peer ?? null;
    const peerTimes: number[] = [];
    const peerLosses: number[] = [];
    // Warm-up, then repetitions that alternate the builds and torch, so that all see the same load.
    for (let rep = -WARMUP; rep < REPS; rep++) {
      for (const s of sides) {
        const t0 = process.hrtime.bigint();
        s.step();
        if (rep >= 0) s.times.push(Number(process.hrtime.bigint() - t0) / 1e6);
      }
      if (peer) {
        const r = await peer.request<{ ms: number; loss: number }>("step");
        peerLosses.push(r.loss);
        if (rep >= 0) peerTimes.push(r.ms);
      }
    }
    const peerMs = peer ? median(peerTimes) : null;
    const out: BenchRecord[] = [];
    const caseName = `DEFAULT_MODEL B=${B} x ${FRAMES} frames, U<=${batch.U}, V=${cfg.vocabSize}`;
    const optName = (started?.info.optimizer as string | undefined) ?? "icefall ScaledAdam";
    // the same weights and batch give the same first loss (f32 both sides: ~1e-6 relative seen)
    const mismatch = peer && sides.some((s) => Math.abs(s.losses[0] - peerLosses[0]) > 1e-4 * Math.abs(peerLosses[0]));
    if (mismatch) ctx.log(`  WARNING: first losses differ (todm ${sides.map((s) => s.losses[0]).join(", ")}, torch ${peerLosses[0]}): not the same model`);
    const note = (mismatch ? "WARNING: todm and torch first losses differ; " : "") + `train: full step (forward, backward, ScaledAdam) of DEFAULT_MODEL on ${audioSec} s of audio, ` +
      `alternating with the peer step by step; peer: the PyTorch mirror (test/ref/todm_model.py, float32, torchaudio rnnt_loss, ${optName}), 1 thread, OpenBLAS`;
    for (const s of sides) {
      const ms = median(s.times);
      ctx.log(`  ${s.e.build}: ${ms.toFixed(0)} ms per step (${(audioSec / (ms / 1000)).toFixed(1)} x realtime), first loss ${s.losses[0].toFixed(4)}` +
        (peerMs ? `; todm/torch speed ${(peerMs / ms).toFixed(2)}x` : ""));
      const profs = [0, 1, 2].map(() => profileStep(s.e, s.step));
      ctx.log(`  ${s.e.build} stages (ms, median of 3 profiled steps): ${Object.keys(profs[0]).map((k) => `${k} ${median(profs.map((p) => p[k] ?? 0)).toFixed(1)}`).join(", ")}`);
      const base = { bench: "train", case: caseName, build: s.e.build, machine: ctx.machine, commit: ctx.commit, note };
      out.push({ ...base, metric: "ms", higherIsBetter: false, todm: ms, peers: { torch: peerMs } });
      out.push({ ...base, metric: "x realtime", higherIsBetter: true, todm: audioSec / (ms / 1000), peers: { torch: peerMs ? audioSec / (peerMs / 1000) : null } });
    }
    if (peer && peerMs) {
      ctx.log(`  torch: ${peerMs.toFixed(0)} ms per step (${(audioSec / (peerMs / 1000)).toFixed(1)} x realtime), first loss ${peerLosses[0].toFixed(4)} (${optName})`);
      const runs: Record<string, number>[] = [];
      for (let i = 0; i < 3; i++) runs.push((await peer.request<{ stages: Record<string, number> }>("stages")).stages);
      ctx.log(`  torch stages (ms, median of 3 staged steps): ${Object.keys(runs[0]).map((k) => `${k} ${median(runs.map((r) => r[k])).toFixed(1)}`).join(", ")}`);
    }
    return out;
  } finally {
    peer?.close();
    ctx.engines.forEach((e, i) => e.reset(marks[i]));
    rmSync(dir, { recursive: true, force: true });
  }
}
