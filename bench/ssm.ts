// The MH-SSM layer (scan + gating, no projection) forward and forward+backward, B=8, T=100, C=256,
// H=4, N=16, causal and bidirectional; peer: the same layer in PyTorch as S4D computes it (FFT
// convolution), one thread (bench/peers/ssm.py). todm runs the raw API on arena tensors (what the
// training step calls): discretisation, scans, gating, their backwards and the gradient zeroing.
import { fileURLToPath } from "node:url";
import { mhssmBackwardRaw, mhssmForwardRaw, mhssmInit, mhssmShapes, type Engine, type MhssmConfig, type MhssmPtrs } from "../dist/index.js";
import { median, timeMs, type BenchContext, type BenchRecord } from "./lib.js";

const B = 8, T = 100, C = 256, H = 4, N = 16, REPS = 7;

/** Median CPU time (ms) of this process over `reps` calls after 2 warm-ups: robust on a shared machine. */
function cpuMs(fn: () => void, reps: number): number {
  fn();
  fn();
  const t: number[] = [];
  for (let i = 0; i < reps; i++) {
    const c0 = process.cpuUsage();
    fn();
    const c = process.cpuUsage(c0);
    t.push((c.user + c.system) / 1000);
  }
  return median(t);
}

/** [forward, forward+backward] in wall ms, then the same in CPU ms, for one layer configuration. */
function timeLayer(e: Engine, bidirectional: boolean): number[] {
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
    const both = () => { forward(); backward(); };
    return [timeMs(forward, REPS), timeMs(both, REPS), cpuMs(forward, REPS), cpuMs(both, REPS)];
  });
}

/** The causal scan alone (no discretisation, no gating): [forward, backward] in CPU ms. */
function timeScan(e: Engine): number[] {
  const w = e.wasm, N2 = N / 2;
  const init = mhssmInit({ heads: H, headDim: C / H, stateSize: N, bidirectional: false }, 1);
  return e.scoped(() => {
    const k = ["a_re", "a_im", "log_dt_min", "log_dt_max"].map((n) => e.upload(init[n]));
    const da = [0, 1, 2, 3].map(() => e.alloc(N2 * C)), g = [0, 1, 2, 3].map(() => e.alloc(N2 * C));
    w.ssm_discretize_forward(da[0], da[1], da[2], da[3], e.upload(init["fwd.s"]), e.upload(init["fwd.c_re"]),
      e.upload(init["fwd.c_im"]), k[0], k[1], k[2], k[3], C, N2);
    const d = e.upload(init["fwd.d"]), dd = e.alloc(C);
    const u = e.upload(Float32Array.from({ length: B * T * C }, (_, i) => Math.sin(i * 0.37)));
    const dy = e.upload(Float32Array.from({ length: B * T * C }, (_, i) => Math.cos(i * 0.11)));
    const y = e.alloc(B * T * C), du = e.alloc(B * T * C), scratch = e.alloc(w.ssm_scan_backward_scratch(T));
    const fwd = () => w.ssm_scan_forward(y, u, da[0], da[1], da[2], da[3], d, 0, scratch, B, T, C, N2, C, C, 0, 0);
    const bwd = () => w.ssm_scan_backward(du, dd, g[0], g[1], g[2], g[3], dy, u, da[0], da[1], da[2], da[3], d, 0, scratch,
      B, T, C, N2, C, C, C, 0);
    return [cpuMs(fwd, REPS), cpuMs(bwd, REPS)];
  });
}

export async function run(ctx: BenchContext): Promise<BenchRecord[]> {
  const script = fileURLToPath(new URL("../bench/peers/ssm.py", import.meta.url));
  const peer = ctx.python(script, [B, T, C, H, N, REPS].map(String)) as Record<string, number> | null;
  const out: BenchRecord[] = [];
  for (const e of ctx.engines) {
    const [sf, sb] = timeScan(e);
    for (const [what, ms] of [["forward", sf], ["backward", sb]] as const) {
      out.push({
        bench: "ssm", case: `scan only, one direction, B${B} T${T} C${C} N${N} ${what}`, metric: "cpu ms", higherIsBetter: false,
        todm: ms, build: e.build, peers: {}, machine: ctx.machine, commit: ctx.commit,
      });
    }
    for (const mode of ["causal", "bidirectional"]) {
      const [f, fb, fc, fbc] = timeLayer(e, mode === "bidirectional");
      const shape = `${mode} B${B} T${T} C${C} H${H} N${N}`;
      for (const [what, metric, ms, key] of [
        ["forward", "ms", f, "fwd_ms"], ["forward+backward", "ms", fb, "fwd_bwd_ms"],
        ["forward", "cpu ms", fc, "fwd_cpu_ms"], ["forward+backward", "cpu ms", fbc, "fwd_bwd_cpu_ms"],
      ] as const) {
        out.push({
          bench: "ssm", case: `${shape} ${what}`, metric, higherIsBetter: false, todm: ms, build: e.build,
          peers: { "torch (S4D FFT conv)": peer?.[`${mode}_${key}`] ?? null }, machine: ctx.machine, commit: ctx.commit,
          note: "MH-SSM layer = scan(s) + pairwise gating, no output projection; torch computes it as S4D does (FFT convolution), float32, one thread. " +
            "`cpu ms` is the process's CPU time (process.cpuUsage / time.process_time), steadier than wall time on a shared machine.",
        });
      }
    }
  }
  return out;
}
