// The int8 linear layer y[M,N] = x[M,K] · W[N,K]^T + b (int8 models) against f32 on the same shapes, one
// thread, GOP/s (2·M·N·K per call), both builds:
// - "int8": gemm_i8_forward (x quantised per row on the fly, int32 dot products of int8 widened to i16);
// - "dequant": gemm_i8_dequant_forward (W dequantised to f32 scratch on every call, then f32 gemm);
// - "f32": gemm(0, 1, ...) with the f32 weights (what a float model runs; no bias add).
// Shapes are the default model's: an FFN's first layer over 16 s (400 frames) and over 1 s (25), and the
// LSTM predictor's input projection for one symbol (M = 1, decoding). Peers (bench/peers/gemm_i8.py):
// torch F.linear (OpenBLAS) for f32 and torch.ao dynamic quantised Linear (onednn) for int8, one thread.
// Methods take turns run by run (median of 15 after 3 warm-ups), so a busy machine hurts them alike.
import { median, type BenchContext, type BenchRecord } from "./lib.js";
import { mulberry32 } from "../dist/util/random.js";

const SHAPES: [number, number, number][] = [[400, 144, 576], [25, 144, 576], [1, 256, 1024]];
const REPS = 15, WARMUP = 3;

function interleaved(fns: (() => void)[]): number[] {
  const times: number[][] = fns.map(() => []);
  for (let rep = 0; rep < WARMUP + REPS; rep++) {
    fns.forEach((fn, i) => {
      const t0 = process.hrtime.bigint();
      fn();
      if (rep >= WARMUP) times[i].push(Number(process.hrtime.bigint() - t0) / 1e6);
    });
  }
  return times.map(median);
}

export async function run(ctx: BenchContext): Promise<BenchRecord[]> {
  const names = SHAPES.map(([M, K, N]) => `${M}x${K}x${N}`);
  const torch = ctx.python("bench/peers/gemm_i8.py", names) as Record<string, { f32: number; int8: number }> | null;
  const out: BenchRecord[] = [];
  const methods = ["int8", "dequant", "f32"] as const;
  for (const [i, [M, K, N]] of SHAPES.entries()) {
    const r = mulberry32(i + 1);
    const x = Float32Array.from({ length: M * K }, () => r() * 2 - 1);
    const q = Int8Array.from({ length: N * K }, () => Math.round(r() * 254 - 127));
    const scale = Float32Array.from({ length: N }, () => 0.01 + 0.01 * r());
    const wf = Float32Array.from(q, (v, k) => v * scale[Math.floor(k / K)]);
    const bias = Float32Array.from({ length: N }, () => r() - 0.5);
    const marks = ctx.engines.map((e) => e.mark());
    const fns = ctx.engines.flatMap((e) => {
      const px = e.upload(x), pq = e.uploadI8(q), ps = e.upload(scale), pb = e.upload(bias), pw = e.upload(wf), py = e.alloc(M * N);
      const xq = e.alloc(Math.ceil((M * K) / 4)), xs = e.alloc(M), scratch = e.alloc(N * K);
      return [
        () => e.wasm.gemm_i8_forward(py, xq, xs, px, pq, ps, pb, M, N, K, K, K, N),
        () => e.wasm.gemm_i8_dequant_forward(py, scratch, px, pq, ps, pb, M, N, K, K, K, N),
        () => e.wasm.gemm(0, 1, M, N, K, 1, px, K, pw, K, 0, py, N),
      ];
    });
    const ms = interleaved(fns);
    ctx.engines.forEach((e, j) => e.reset(marks[j]));
    const gops = (t: number) => (2 * M * N * K) / (t * 1e6);
    ctx.engines.forEach((e, j) => {
      const g = methods.map((_, k) => gops(ms[j * methods.length + k]));
      ctx.log(`  ${names[i]} ${e.build}: int8 ${g[0].toFixed(1)}, dequant ${g[1].toFixed(1)}, f32 ${g[2].toFixed(1)} GOP/s (int8/f32 ${(g[0] / g[2]).toFixed(2)}x); ` +
        `torch f32 ${torch?.[names[i]]?.f32.toFixed(1) ?? "n/a"}, torch int8 ${torch?.[names[i]]?.int8.toFixed(1) ?? "n/a"}`);
      methods.forEach((m, k) => out.push({
        bench: "gemm-i8", case: `${names[i]} ${m}`, metric: "GOP/s", higherIsBetter: true, todm: g[k], build: e.build,
        peers: m === "dequant" ? {} : { [m === "int8" ? "torch-int8-dynamic" : "torch-f32"]: torch?.[names[i]]?.[m] ?? null },
        machine: ctx.machine, commit: ctx.commit,
        note: "one thread; M x K x N, y = x W^T + b; median of 15 interleaved runs; int8 = per-row activation quantisation + i32x4.dot_i16x8_s, dequant = W to f32 then gemm, f32 = gemm without bias",
      }));
    });
  }
  return out;
}
