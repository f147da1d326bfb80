// GEMM throughput on speech-model shapes. PLACEHOLDER: todm only, peers to come.
import { timeMs, type BenchContext, type BenchRecord } from "./lib.js";

const SHAPES: [number, number, number][] = [[400, 256, 1024], [400, 1024, 256], [256, 256, 256]];

export async function run(ctx: BenchContext): Promise<BenchRecord[]> {
  const out: BenchRecord[] = [];
  for (const e of ctx.engines) {
    for (const [M, K, N] of SHAPES) {
      const gflops = e.scoped(() => {
        const a = e.alloc(M * K), b = e.alloc(K * N), c = e.alloc(M * N);
        const ms = timeMs(() => e.wasm.gemm(0, 0, M, N, K, 1, a, K, b, N, 0, c, N), 5, 1);
        return (2 * M * N * K) / (ms * 1e6);
      });
      out.push({ bench: "gemm", case: `${M}x${K}x${N}`, metric: "GFLOP/s", higherIsBetter: true, todm: gflops, build: e.build, peers: {}, machine: ctx.machine, commit: ctx.commit });
    }
  }
  return out;
}
