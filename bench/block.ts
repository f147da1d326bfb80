// One Stateformer encoder block, forward + backward (B=8, T=100 frames after subsampling, d_model 256,
// 4 heads, state 16, FFN 1024, causal, no convolution module), through the tape exactly as training
// runs it; peer: the same block in PyTorch (bench/peers/block.py: FFT-convolution S4D heads, autograd),
// one thread, same shapes, same run.
import { fileURLToPath } from "node:url";
import { blockForward, DEFAULT_MODEL, DropoutSeeds, ModelParams, NO_DROPOUT, ParamHandles, Tape, type ModelConfig } from "../dist/index.js";
import { timeMs, type BenchContext, type BenchRecord } from "./lib.js";

const B = 8, T = 100;
const CFG: ModelConfig = { ...DEFAULT_MODEL, dModel: 256, ffDim: 1024, heads: 4, stateSize: 16, layers: 1, causal: true, convKernel: 0 };

export async function run(ctx: BenchContext): Promise<BenchRecord[]> {
  const peer = ctx.python(fileURLToPath(new URL("../bench/peers/block.py", import.meta.url)), [String(B), String(T), String(CFG.dModel), String(CFG.ffDim), String(CFG.heads), String(CFG.stateSize)]) as { fwd_bwd_ms: number; fwd_ms: number } | null;
  const out: BenchRecord[] = [];
  for (const e of ctx.engines) {
    const base = e.mark();
    try {
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
      const step = (backward: boolean) => {
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
      const fwd = timeMs(() => step(false), 7, 2);
      const fb = timeMs(() => step(true), 7, 2);
      ctx.log(`  ${e.build}: forward ${fwd.toFixed(1)} ms, forward+backward ${fb.toFixed(1)} ms; torch ${peer?.fwd_ms?.toFixed(1)} / ${peer?.fwd_bwd_ms?.toFixed(1)} ms`);
      const rec = (c: string, v: number, p: number | undefined): BenchRecord => ({
        bench: "block", case: c, metric: "ms", higherIsBetter: false, todm: v, build: e.build, peers: { "torch (1 thread)": p ?? null },
        machine: ctx.machine, commit: ctx.commit,
      });
      out.push(rec(`forward, B=${B} T=${T} d=256 H=4 N=16 ff=1024 causal`, fwd, peer?.fwd_ms));
      out.push(rec(`forward+backward, B=${B} T=${T} d=256 H=4 N=16 ff=1024 causal`, fb, peer?.fwd_bwd_ms));
    } finally {
      e.reset(base);
    }
  }
  return out;
}
