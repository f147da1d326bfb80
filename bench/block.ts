// One Stateformer encoder block, forward + backward (B=8, T=100 frames after subsampling, d_model 256,
// 4 heads, state 16, FFN 1024, causal, no convolution module), through the tape exactly as training
// runs it; peer: the same block in PyTorch (bench/peers/block.py: FFT-convolution S4D heads, autograd),
// one thread, same shapes, same run.
// Runs alternate (each build's run, then torch's, kept running in serve mode), ROUNDS times after
// WARMUP rounds, so that drifting load on a shared machine hits both sides alike (torch's own median
// moved 80-88 ms between separate runs); in each round a side runs twice and its second run is
// timed. Each figure is the median of its ROUNDS timed runs; the median of the per-round ratios is
// logged beside it.
import { fileURLToPath } from "node:url";
import { blockForward, DEFAULT_MODEL, DropoutSeeds, ModelParams, NO_DROPOUT, ParamHandles, Tape, type Engine, type ModelConfig } from "../dist/index.js";
import { median, PythonPeer, type BenchContext, type BenchRecord } from "./lib.js";

const B = 8, T = 100, ROUNDS = 21, WARMUP = 3;
const CFG: ModelConfig = { ...DEFAULT_MODEL, dModel: 256, ffDim: 1024, heads: 4, stateSize: 16, layers: 1, causal: true, convKernel: 0 };

export async function run(ctx: BenchContext): Promise<BenchRecord[]> {
  const started = await PythonPeer.start(fileURLToPath(new URL("../bench/peers/block.py", import.meta.url)),
    [String(B), String(T), String(CFG.dModel), String(CFG.ffDim), String(CFG.heads), String(CFG.stateSize), "serve"], ctx.log);
  const peer = started?.peer ?? null;
  const out: BenchRecord[] = [];
  const marks = ctx.engines.map((e) => e.mark());
  try {
    const sides = ctx.engines.map((e) => ({ e, step: blockStep(e), fwd: [] as number[], fb: [] as number[] }));
    const peerFwd: number[] = [], peerFb: number[] = [];
    for (const [kind, pick, peerTimes] of [["fwd", (s: typeof sides[0]) => s.fwd, peerFwd], ["fwd_bwd", (s: typeof sides[0]) => s.fb, peerFb]] as const) {
      for (let round = -WARMUP; round < ROUNDS; round++) {
        // Each side runs twice in a row and the second run is timed: its caches hold its own data
        // again, as in a training loop, not the other side's (torch measured ~3% slower right after
        // a todm run).
        for (const s of sides) {
          s.step(kind === "fwd_bwd");
          const t0 = process.hrtime.bigint();
          s.step(kind === "fwd_bwd");
          if (round >= 0) pick(s).push(Number(process.hrtime.bigint() - t0) / 1e6);
        }
        if (peer) {
          await peer.request<{ ms: number }>(kind);
          const r = await peer.request<{ ms: number }>(kind);
          if (round >= 0) peerTimes.push(r.ms);
        }
      }
    }
    const pf = peer ? median(peerFwd) : null, pfb = peer ? median(peerFb) : null;
    for (const s of sides) {
      const fwd = median(s.fwd), fb = median(s.fb);
      const roundRatio = peer ? median(s.fb.map((t, i) => peerFb[i] / t)) : null;
      ctx.log(`  ${s.e.build}: forward ${fwd.toFixed(1)} ms, forward+backward ${fb.toFixed(1)} ms; torch ${pf?.toFixed(1)} / ${pfb?.toFixed(1)} ms` +
        (roundRatio === null ? "" : `; forward+backward torch/todm ${(pfb! / fb).toFixed(3)} (median of per-round ratios ${roundRatio.toFixed(3)})`));
      const rec = (c: string, v: number, p: number | null): BenchRecord => ({
        bench: "block", case: c, metric: "ms", higherIsBetter: false, todm: v, build: s.e.build, peers: { "torch (1 thread)": p },
        machine: ctx.machine, commit: ctx.commit,
        note: `one thread each; ${ROUNDS} rounds after ${WARMUP} warm-up rounds, todm and torch (serve mode) alternating; in each round a side runs twice and its second run is timed; median per side` +
          (roundRatio === null ? "" : `; ${s.e.build}: median of the per-round torch/todm ratios ${roundRatio.toFixed(2)}`),
      });
      out.push(rec(`forward, B=${B} T=${T} d=256 H=4 N=16 ff=1024 causal`, fwd, pf));
      out.push(rec(`forward+backward, B=${B} T=${T} d=256 H=4 N=16 ff=1024 causal`, fb, pfb));
    }
  } finally {
    peer?.close();
    ctx.engines.forEach((e, i) => e.reset(marks[i]));
  }
  return out;
}

/** One engine's block step on the bench's seeded input: forward, or forward + backward of sum(y * dy). */
function blockStep(e: Engine): (backward: boolean) => void {
  const params = new ModelParams(e, CFG);
  params.init(1);
  const H = new ParamHandles(e, params);
  const tape = new Tape(e, 4096);
  const n = B * T * CFG.dModel;
  const x0 = Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37));
  const dy = Float32Array.from({ length: n }, (_, i) => Math.cos(i * 0.11));
  const lens = new Int32Array(B).fill(T);
  // The block's trained tensors are one stretch of the gradient region: zero that stretch, as the
  // peer zeroes its block's gradients (the rest of the model's, 1.1 M floats, is no part of it).
  const own = params.entries.filter((p) => p.name.startsWith("encoder.blocks.0.") && p.trainable !== false);
  const g0 = Math.min(...own.map((p) => p.offset)), g1 = Math.max(...own.map((p) => p.offset + p.numel));
  const zeroBlockGrad = () => e.wasm.mem_zero_f32(params.gradPtr + 4 * g0, g1 - g0);
  return (backward: boolean) => {
    tape.begin();
    try {
      const x = tape.input(x0, true);
      const y = blockForward(tape, H, CFG, { layers: 1, ffDim: CFG.ffDim, heads: CFG.heads }, 0, x, B, T, tape.ints(lens), NO_DROPOUT, new DropoutSeeds(1));
      if (backward) {
        zeroBlockGrad();
        tape.backward(tape.sum(tape.mul(y, tape.input(dy), n), n));
      }
    } finally {
      tape.end();
    }
  };
}
