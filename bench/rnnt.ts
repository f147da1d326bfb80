// RNN-T loss forward+backward beside torchaudio's CPU rnnt_loss, and the joiner's forward+backward
// beside PyTorch, on the same machine in the same run (peer script: bench/peers/rnnt.py).
import { timeMs, type BenchContext, type BenchRecord } from "./lib.js";

const [B, T, U, V] = [8, 100, 30, 256];
const REPS = 7;

/** Seeded uniform values in [-1, 1) (bench data only; mulberry32 as in test/helpers.ts). */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), s | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const randn = (n: number, r: () => number) => Float32Array.from({ length: n }, () => r() * 2 - 1);

function lossRecords(ctx: BenchContext): BenchRecord[] {
  const peer = ctx.python("bench/peers/rnnt.py", ["loss", `${B}`, `${T}`, `${U}`, `${V}`, `${REPS}`]) as { ms: number } | null;
  const out: BenchRecord[] = [];
  const n = B * T * (U + 1) * V;
  const r = rng(1);
  const logits = randn(n, r);
  const targets = Int32Array.from({ length: B * U }, () => 1 + Math.floor(r() * (V - 1)));
  const tl = new Int32Array(B).fill(T), ul = new Int32Array(B).fill(U);
  for (const e of ctx.engines) {
    // The training path: logits already in the arena, forward, then the gradient written over them.
    // Each repetition first restores the logits (one 25 MB copy, included in the time).
    const kernels = e.scoped(() => {
      const src = e.upload(logits), z = e.alloc(n), tg = e.upload(targets, "i32");
      const t = e.upload(tl, "i32"), u = e.upload(ul, "i32"), losses = e.alloc(B), ones = e.upload(new Float32Array(B).fill(1));
      const lat = [0, 1, 2, 3, 4].map(() => e.alloc(B * T * (U + 1)));
      return timeMs(() => {
        e.wasm.mem_copy_f32(z, src, n);
        e.wasm.rnnt_loss_forward(losses, lat[0], lat[1], lat[2], lat[3], lat[4], z, tg, t, u, B, T, U + 1, V, 0);
        e.wasm.rnnt_loss_backward_inplace(z, losses, lat[0], lat[1], lat[2], lat[3], lat[4], ones, tg, t, u, B, T, U + 1, V, 0);
      }, REPS);
    });
    // The public API: copies in, fresh arrays out.
    const api = timeMs(() => void e.rnntLoss(logits, [B, T, U + 1, V], targets, tl, ul), REPS);
    const peers = { torchaudio: peer?.ms ?? null };
    const base = { bench: "rnnt", metric: "ms", higherIsBetter: false, build: e.build, machine: ctx.machine, commit: ctx.commit };
    out.push({ ...base, case: `loss fwd+bwd in place B=${B} T=${T} U=${U} V=${V}`, todm: kernels, peers, note: "loss: torchaudio.functional.rnnt_loss(reduction='sum', clamp=-1) forward+backward, 1 thread" });
    out.push({ ...base, case: `loss engine.rnntLoss (copies) B=${B} T=${T} U=${U} V=${V}`, todm: api, peers });
    ctx.log(`  ${e.build}: loss in place ${kernels.toFixed(1)} ms, api ${api.toFixed(1)} ms, torchaudio ${peer?.ms.toFixed(1) ?? "n/a"} ms`);
  }
  return out;
}

export async function run(ctx: BenchContext): Promise<BenchRecord[]> {
  return lossRecords(ctx);
}
