// GEMM throughput on speech-model shapes (M x K x N: frames x channels in x channels out), one
// thread, GFLOP/s, both builds, with two peers measured in the same run:
// - "tfjs-wasm": tf.matMul on @tensorflow/tfjs-backend-wasm 4.22 (XNNPACK, SIMD, one thread under
//   Node). That backend computes inside the matMul call (timing it shows the full compute rate), so
//   the timed function is matMul + dispose, and dataSync() runs once after timing to confirm a
//   result; timing dataSync() on every run would add a copy of C out of its heap (15% slower at
//   400x256x1024), which todm does not pay either;
// - "torch": torch.mm, PyTorch 1.13 + OpenBLAS, one thread (bench/peers/gemm.py).
// todm runs gemm(0, 0, ...) on arena buffers. Every figure is the median of 15 timed runs after 3
// warm-ups. Within one shape the todm builds and tfjs-wasm take turns run by run, so that a busy
// machine hurts them alike; torch runs in its own process (same shapes, same statistic).
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-wasm";
import { median, type BenchContext, type BenchRecord } from "./lib.js";

const SHAPES: [number, number, number][] = [[400, 256, 1024], [400, 1024, 256], [256, 256, 256]];
const REPS = 15, WARMUP = 3;

const gflops = (M: number, K: number, N: number, ms: number) => (2 * M * N * K) / (ms * 1e6);

/** Median ms of each function, timing them in turn (f0, f1, ..., f0, f1, ...). */
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
  let tfjsReady = false;
  try {
    tfjsReady = await tf.setBackend("wasm");
    await tf.ready();
  } catch (e) {
    ctx.log(`  peer tfjs-wasm unavailable: ${(e as Error).message}`);
  }
  const names = SHAPES.map(([M, K, N]) => `${M}x${K}x${N}`);
  const torch = ctx.python("bench/peers/gemm.py", names) as Record<string, number> | null;
  const out: BenchRecord[] = [];
  for (const [i, [M, K, N]] of SHAPES.entries()) {
    const r = Math.random;
    const ta = tfjsReady ? tf.randomNormal([M, K]) : null, tb = tfjsReady ? tf.randomNormal([K, N]) : null;
    const marks = ctx.engines.map((e) => e.mark());
    const fns = ctx.engines.map((e) => {
      const a = e.upload(Float32Array.from({ length: M * K }, () => r() - 0.5));
      const b = e.upload(Float32Array.from({ length: K * N }, () => r() - 0.5));
      const c = e.alloc(M * N);
      return () => e.wasm.gemm(0, 0, M, N, K, 1, a, K, b, N, 0, c, N);
    });
    if (ta && tb) {
      fns.push(() => tf.matMul(ta, tb).dispose());
    }
    const ms = interleaved(fns);
    if (ta && tb) {
      const check = tf.matMul(ta, tb);
      if (check.dataSync().length !== M * N) throw new Error("tfjs-wasm matMul returned a wrong shape");
      check.dispose();
    }
    ctx.engines.forEach((e, j) => e.reset(marks[j]));
    ta?.dispose();
    tb?.dispose();
    const tfjs = ta ? gflops(M, K, N, ms[ctx.engines.length]) : null;
    ctx.engines.forEach((e, j) => {
      const todm = gflops(M, K, N, ms[j]);
      const peers = { "tfjs-wasm": tfjs, torch: torch?.[names[i]] ?? null };
      ctx.log(`  ${names[i]} ${e.build}: todm ${todm.toFixed(1)}, tfjs-wasm ${tfjs?.toFixed(1) ?? "n/a"}, torch ${peers.torch?.toFixed(1) ?? "n/a"} GFLOP/s`);
      out.push({
        bench: "gemm", case: names[i], metric: "GFLOP/s", higherIsBetter: true, todm, build: e.build, peers,
        machine: ctx.machine, commit: ctx.commit,
        note: "one thread; median of 15 runs; tfjs-wasm = tf.matMul (computes synchronously; no dataSync copy timed); torch = torch.mm with OpenBLAS",
      });
    });
  }
  return out;
}
