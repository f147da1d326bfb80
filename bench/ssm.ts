// The MH-SSM layer (scan + gating, no projection) forward and forward+backward, B=8, T=100, C=256,
// H=4, N=16, causal and bidirectional; peer: the same layer in PyTorch as S4D computes it (FFT
// convolution), one thread (bench/peers/ssm.py). todm runs the raw API on arena tensors (what the
// training step calls): discretisation, scans, gating, their backwards and the gradient zeroing.
import { fileURLToPath } from "node:url";
import { mhssmBackwardRaw, mhssmForwardRaw, mhssmInit, mhssmShapes, type Engine, type MhssmConfig, type MhssmPtrs } from "../dist/index.js";
import { timeMs, type BenchContext, type BenchRecord } from "./lib.js";

const B = 8, T = 100, C = 256, H = 4, N = 16, REPS = 7;

/** Returns [forward ms, forward+backward ms] for one layer configuration. */
function timeLayer(e: Engine, bidirectional: boolean): [number, number] {
  const cfg: MhssmConfig = { heads: H, headDim: C / H, stateSize: N, bidirectional };
  const init = mhssmInit(cfg, 1);
  return e.scoped(() => {
    const p: MhssmPtrs = {}, g: MhssmPtrs = {};
    let gradFloats = 0;
    for (const { name, trainable } of mhssmShapes(cfg)) {
      p[name] = e.upload(init[name]);
      if (trainable) gradFloats += init[name].length;
    }
    const gradRegion = e.alloc(gradFloats); // one flat gradient region, zeroed by one call
    let off = 0;
    for (const { name, trainable } of mhssmShapes(cfg)) {
      if (!trainable) continue;
      g[name] = gradRegion + 4 * off;
      off += init[name].length;
    }
    const u = e.upload(Float32Array.from({ length: B * T * C }, (_, i) => Math.sin(i * 0.37)));
    const dout = e.upload(Float32Array.from({ length: B * T * C }, (_, i) => Math.cos(i * 0.11)));
    const y = e.alloc(B * T * C), out = e.alloc(B * T * C), du = e.alloc(B * T * C);
    const forward = () => mhssmForwardRaw(e, cfg, p, out, y, u, { B, T });
    const backward = () => {
      e.wasm.mem_zero_f32(gradRegion, gradFloats);
      e.wasm.mem_zero_f32(du, B * T * C);
      mhssmBackwardRaw(e, cfg, p, g, du, dout, y, u, { B, T });
    };
    return [timeMs(forward, REPS), timeMs(() => { forward(); backward(); }, REPS)];
  });
}

export async function run(ctx: BenchContext): Promise<BenchRecord[]> {
  const script = fileURLToPath(new URL("../bench/peers/ssm.py", import.meta.url));
  const peer = ctx.python(script, [B, T, C, H, N, REPS].map(String)) as Record<string, number> | null;
  const out: BenchRecord[] = [];
  for (const e of ctx.engines) {
    for (const mode of ["causal", "bidirectional"]) {
      const [f, fb] = timeLayer(e, mode === "bidirectional");
      const shape = `${mode} B${B} T${T} C${C} H${H} N${N}`;
      for (const [what, ms, key] of [["forward", f, "fwd_ms"], ["forward+backward", fb, "fwd_bwd_ms"]] as const) {
        out.push({
          bench: "ssm", case: `${shape} ${what}`, metric: "ms", higherIsBetter: false, todm: ms, build: e.build,
          peers: { "torch (S4D FFT conv)": peer?.[`${mode}_${key}`] ?? null }, machine: ctx.machine, commit: ctx.commit,
          note: "MH-SSM layer = scan(s) + pairwise gating, no output projection; torch computes it as S4D does (FFT convolution), float32, one thread.",
        });
      }
    }
  }
  return out;
}
