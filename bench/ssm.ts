// The MH-SSM layer (scan + gating, no projection) forward and forward+backward, B=8, T=100, C=256,
// H=4, N=16, causal and bidirectional; peer: the same layer in PyTorch as S4D computes it (FFT
// convolution), one thread (bench/peers/ssm.py). todm times the kernels on arena buffers: the
// discretisation, the scans, the gating, their backwards and the gradient zeroing, no JS copies.
import { fileURLToPath } from "node:url";
import { mhssmInit, type Engine, type MhssmConfig } from "../dist/index.js";
import { timeMs, type BenchContext, type BenchRecord } from "./lib.js";

const B = 8, T = 100, C = 256, H = 4, N = 16, REPS = 7;

/** Returns [forward ms, forward+backward ms] for one layer configuration. */
function timeLayer(e: Engine, bidirectional: boolean): [number, number] {
  const cfg: MhssmConfig = { heads: H, headDim: C / H, stateSize: N, bidirectional };
  const p = mhssmInit(cfg, 1), N2 = N / 2, w = e.wasm;
  return e.scoped(() => {
    const k = ["a_re", "a_im", "log_dt_min", "log_dt_max"].map((n) => e.upload(p[n]));
    const dirs = (bidirectional ? ["fwd", "bwd"] : ["fwd"]).map((d) => ({
      s: e.upload(p[`${d}.s`]), cr: e.upload(p[`${d}.c_re`]), ci: e.upload(p[`${d}.c_im`]), d: e.upload(p[`${d}.d`]),
      disc: [0, 1, 2, 3].map(() => e.alloc(N2 * C)), g: e.alloc(4 * N2 * C), pg: e.alloc(2 * C + 2 * C * N2),
    }));
    const u = e.upload(Float32Array.from({ length: B * T * C }, (_, i) => Math.sin(i * 0.37)));
    const dout = e.upload(Float32Array.from({ length: B * T * C }, (_, i) => Math.cos(i * 0.11)));
    const y = e.alloc(B * T * C), out = e.alloc(B * T * C), dy = e.alloc(B * T * C), du = e.alloc(B * T * C);
    const scratch = e.alloc(w.ssm_scan_backward_scratch(T));
    const forward = () => {
      dirs.forEach((q, i) => {
        w.ssm_discretize_forward(q.disc[0], q.disc[1], q.disc[2], q.disc[3], q.s, q.cr, q.ci, k[0], k[1], k[2], k[3], C, N2);
        w.ssm_scan_forward(y, u, q.disc[0], q.disc[1], q.disc[2], q.disc[3], q.d, 0, scratch, B, T, C, N2, C, C, i, i);
      });
      w.ssm_gate_forward(out, y, B * T, C, C / H, C, C);
    };
    const backward = () => {
      w.mem_zero_f32(dy, B * T * C);
      w.mem_zero_f32(du, B * T * C);
      w.ssm_gate_backward(dy, dout, y, B * T, C, C / H, C, C, C);
      for (const [i, q] of dirs.entries()) {
        w.mem_zero_f32(q.g, 4 * N2 * C);
        w.mem_zero_f32(q.pg, 2 * C + 2 * C * N2);
        const g = [0, 1, 2, 3].map((j) => q.g + 4 * j * N2 * C);
        w.ssm_scan_backward(du, q.pg + 4 * C, g[0], g[1], g[2], g[3], dy, u, q.disc[0], q.disc[1], q.disc[2], q.disc[3], q.d,
          0, scratch, B, T, C, N2, C, C, C, i);
        w.ssm_discretize_backward(q.pg, q.pg + 8 * C, q.pg + 8 * C + 4 * C * N2, g[0], g[1], g[2], g[3],
          q.s, q.cr, q.ci, k[0], k[1], k[2], k[3], C, N2);
      }
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
