// GEMM throughput on speech-model shapes (M x K x N: frames x channels in x channels out), one
// thread, GFLOP/s, both builds, with two peers measured in the same run:
// - "tfjs-wasm": tf.matMul on @tensorflow/tfjs-backend-wasm 4.22 (XNNPACK, SIMD, one thread under
//   Node), forced to completion with dataSync() (one copy of C, which is part of its cost);
// - "torch": torch.mm, PyTorch 1.13 + OpenBLAS, one thread (bench/peers/gemm.py).
// todm runs gemm(0, 0, ...) on arena buffers. Every figure is the median of 15 timed runs after 3
// warm-ups; the todm builds and the peers alternate per shape so that a busy machine hurts all alike.
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-wasm";
import { timeMs, type BenchContext, type BenchRecord } from "./lib.js";

const SHAPES: [number, number, number][] = [[400, 256, 1024], [400, 1024, 256], [256, 256, 256]];
const REPS = 15, WARMUP = 3;

const gflops = (M: number, K: number, N: number, ms: number) => (2 * M * N * K) / (ms * 1e6);

async function tfjsGflops(M: number, K: number, N: number): Promise<number> {
  const a = tf.randomNormal([M, K]), b = tf.randomNormal([K, N]);
  try {
    const ms = timeMs(() => {
      const c = tf.matMul(a, b);
      c.dataSync();
      c.dispose();
    }, REPS, WARMUP);
    return gflops(M, K, N, ms);
  } finally {
    a.dispose();
    b.dispose();
  }
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
    const tfjs = tfjsReady ? await tfjsGflops(M, K, N) : null;
    for (const e of ctx.engines) {
      const todm = e.scoped(() => {
        const a = e.upload(Float32Array.from({ length: M * K }, () => Math.random() - 0.5));
        const b = e.upload(Float32Array.from({ length: K * N }, () => Math.random() - 0.5));
        const c = e.alloc(M * N);
        return gflops(M, K, N, timeMs(() => e.wasm.gemm(0, 0, M, N, K, 1, a, K, b, N, 0, c, N), REPS, WARMUP));
      });
      const peers = { "tfjs-wasm": tfjs, torch: torch?.[names[i]] ?? null };
      ctx.log(`  ${names[i]} ${e.build}: todm ${todm.toFixed(1)}, tfjs-wasm ${tfjs?.toFixed(1) ?? "n/a"}, torch ${peers.torch?.toFixed(1) ?? "n/a"} GFLOP/s`);
      out.push({
        bench: "gemm", case: names[i], metric: "GFLOP/s", higherIsBetter: true, todm, build: e.build, peers,
        machine: ctx.machine, commit: ctx.commit,
        note: "one thread; median of 15 runs; tfjs-wasm includes dataSync() of C; torch = torch.mm with OpenBLAS",
      });
    }
  }
  return out;
}
