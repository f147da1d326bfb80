// One full training step (forward, backward, optimizer) of the default model, beside the same step
// of its PyTorch mirror (test/ref/todm_model.py) on the same weights and the same batch, one thread.
//
// Model: DEFAULT_MODEL (src/model/config.ts; vocab 256). Batch: 8 synthetic utterances of 5 s (500
// feature frames of 80 bins each) with 20..25 tokens. A step: zeroGrad, Model.trainStep (Supernet,
// no dropout), ScaledAdamRegion.step() (lr 0.045, clipping 2.0). The peer (bench/peers/train.py)
// loads the weights and the batch that this file writes to a temporary directory and runs
// zero_grad, forward, mean loss, backward and icefall's ScaledAdam step (torch.optim.Adam if
// icefall's optim.py is missing; ICEFALL_OPTIM overrides its path).
// Records: "ms" per step (lower is better) and "x realtime" (seconds of audio per second of step).
// Both sides also log a per-stage profile (not recorded): todm's time inside WASM exports grouped by
// stage over one extra step, the peer's per-stage forward, whole backward and optimizer times.

import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Engine } from "../dist/index.js";
import { DEFAULT_MODEL } from "../dist/model/config.js";
import { encodeModel } from "../dist/model/io.js";
import { Model } from "../dist/model/model.js";
import { CharTokenizer } from "../dist/data/tokenizer.js";
import { ScaledAdamRegion } from "../dist/optim.js";
import { encodeSafetensors } from "../dist/safetensors.js";
import type { Batch } from "../dist/data/batching.js";
import { timeMs, type BenchContext, type BenchRecord } from "./lib.js";

const B = 8, FRAMES = 500, REPS = 5;
const ICEFALL = process.env.ICEFALL_OPTIM ?? "/work/ref-src/icefall_optim.py";

/** Seeded uniform values in [0, 1) (bench data only; mulberry32 as in test/helpers.ts). */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), s | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function syntheticBatch(F: number, V: number): Batch {
  const r = rng(3);
  const tokenLens = Int32Array.from({ length: B }, (_, b) => 20 + (b % 6));
  const U = Math.max(...tokenLens);
  const tokens = new Int32Array(B * U);
  for (let b = 0; b < B; b++) for (let u = 0; u < tokenLens[b]; u++) tokens[b * U + u] = 1 + Math.floor(r() * (V - 1));
  const feats = Float32Array.from({ length: B * FRAMES * F }, () => r() * 4 - 2);
  return { ids: Array.from({ length: B }, (_, i) => i), B, T: FRAMES, F, U, feats, featLens: new Int32Array(B).fill(FRAMES), tokens, tokenLens };
}

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
  const batch = syntheticBatch(cfg.featDim, cfg.vocabSize);
  const audioSec = batch.featLens.reduce((a, b) => a + b, 0) / 100; // 10 ms frame shift
  const dir = mkdtempSync(join(tmpdir(), "todm-bench-train-"));
  const out: BenchRecord[] = [];
  try {
    const modelFile = join(dir, "model.safetensors"), batchFile = join(dir, "batch.safetensors");
    let peerWritten = false;
    const todm: { e: Engine; ms: number; first: number }[] = [];
    for (const e of ctx.engines) {
      const base = e.mark();
      try {
        const m = new Model(e, cfg);
        m.params.init(1);
        if (!peerWritten) {
          writeFileSync(modelFile, encodeModel(m, charTokenizer(cfg.vocabSize)));
          writeFileSync(batchFile, encodeSafetensors([
            { name: "feats", dtype: "F32", shape: [B, FRAMES, cfg.featDim], data: batch.feats },
            { name: "feat_lens", dtype: "I32", shape: [B], data: batch.featLens },
            { name: "tokens", dtype: "I32", shape: [B, batch.U], data: batch.tokens },
            { name: "token_lens", dtype: "I32", shape: [B], data: batch.tokenLens },
          ]));
          peerWritten = true;
        }
        const opt = new ScaledAdamRegion(e, { params: m.params.paramPtr, grads: m.params.gradPtr, tensors: m.params.trainable() }, { lr: 0.045, clippingScale: 2 });
        let first = NaN;
        const step = () => {
          m.params.zeroGrad();
          const r = m.trainStep(batch);
          if (Number.isNaN(first)) first = r.lossSum / B;
          opt.step();
        };
        const ms = timeMs(step, REPS, 2);
        todm.push({ e, ms, first });
        ctx.log(`  ${e.build}: ${ms.toFixed(0)} ms per step (${(audioSec / (ms / 1000)).toFixed(1)} x realtime), first loss ${first.toFixed(4)}`);
        const prof = profileStep(e, step);
        ctx.log(`  ${e.build} stages (ms, one profiled step): ${Object.entries(prof).map(([k, v]) => `${k} ${v.toFixed(1)}`).join(", ")}`);
      } finally {
        e.reset(base);
      }
    }
    const peer = ctx.python("bench/peers/train.py", [modelFile, batchFile, `${REPS}`, ICEFALL]) as
      { ms: number; stages: Record<string, number>; losses: number[]; optimizer: string } | null;
    if (peer) {
      ctx.log(`  torch: ${peer.ms.toFixed(0)} ms per step, first loss ${peer.losses[0].toFixed(4)} (${peer.optimizer})`);
      ctx.log(`  torch stages (ms): ${Object.entries(peer.stages).map(([k, v]) => `${k} ${v.toFixed(1)}`).join(", ")}`);
    }
    const caseName = `DEFAULT_MODEL B=${B} x ${FRAMES} frames, U<=${batch.U}, V=${cfg.vocabSize}`;
    const note = `train: full step (forward, backward, ScaledAdam) of DEFAULT_MODEL on ${audioSec} s of audio; peer: the PyTorch mirror ` +
      `(test/ref/todm_model.py, float32, torchaudio rnnt_loss, ${peer?.optimizer ?? "icefall ScaledAdam"}), 1 thread, OpenBLAS`;
    for (const { e, ms } of todm) {
      const base = { bench: "train", case: caseName, build: e.build, machine: ctx.machine, commit: ctx.commit, note };
      out.push({ ...base, metric: "ms", higherIsBetter: false, todm: ms, peers: { torch: peer?.ms ?? null } });
      out.push({ ...base, metric: "x realtime", higherIsBetter: true, todm: audioSec / (ms / 1000), peers: { torch: peer ? audioSec / (peer.ms / 1000) : null } });
      if (peer) ctx.log(`  ${e.build}: todm/torch speed ${(peer.ms / ms).toFixed(2)}x`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return out;
}
