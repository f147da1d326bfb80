// RNN-T loss forward+backward beside torchaudio's CPU rnnt_loss, and the joiner's forward+backward
// beside PyTorch, on the same machine in the same run (peer script: bench/peers/rnnt.py).
import { checkRnntInputs, rnntLossInPlace, type Engine } from "../dist/index.js";
import { mulberry32 as rng } from "../dist/util/random.js";
import { timeMs, type BenchContext, type BenchRecord } from "./lib.js";

/** The copying call the case "engine.rnntLoss (copies)" times: check, copy in, loss in place, fresh arrays out. */
function rnntLossCopying(e: Engine, logits: Float32Array, shape: [number, number, number, number], targets: Int32Array, tl: Int32Array, ul: Int32Array) {
  checkRnntInputs(logits, shape, targets, tl, ul);
  return e.scoped(() => {
    const z = e.upload(logits), ones = e.upload(new Float32Array(shape[0]).fill(1));
    const losses = rnntLossInPlace(e, { logits: z, targets: e.upload(targets, "i32"), logitLengths: e.upload(tl, "i32"), targetLengths: e.upload(ul, "i32"), dlosses: ones }, shape);
    return { losses: e.read(losses, shape[0]), grad: e.read(z, logits.length) };
  });
}

const [B, T, U, V] = [8, 100, 30, 256];
const REPS = 7;

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
    const api = timeMs(() => void rnntLossCopying(e, logits, [B, T, U + 1, V], targets, tl, ul), REPS);
    const peers = { torchaudio: peer?.ms ?? null };
    const base = { bench: "rnnt", metric: "ms", higherIsBetter: false, build: e.build, machine: ctx.machine, commit: ctx.commit };
    out.push({ ...base, case: `loss fwd+bwd in place B=${B} T=${T} U=${U} V=${V}`, todm: kernels, peers, note: "loss: torchaudio.functional.rnnt_loss(reduction='sum', clamp=-1) forward+backward, 1 thread" });
    out.push({ ...base, case: `loss engine.rnntLoss (copies) B=${B} T=${T} U=${U} V=${V}`, todm: api, peers });
    ctx.log(`  ${e.build}: loss in place ${kernels.toFixed(1)} ms, api ${api.toFixed(1)} ms, torchaudio ${peer?.ms.toFixed(1) ?? "n/a"} ms`);
  }
  return out;
}

/** Joiner forward+backward on a (B, T, U+1) lattice, Denc = Dpred = J = V = 256 (one training step's share). */
function joinerRecords(ctx: BenchContext): BenchRecord[] {
  const [D, J] = [256, 256];
  const U1 = U + 1;
  const peer = ctx.python("bench/peers/rnnt.py", ["joiner", `${B}`, `${T}`, `${U}`, `${D}`, `${D}`, `${J}`, `${V}`, `${REPS}`]) as { ms: number } | null;
  const out: BenchRecord[] = [];
  const r = rng(2);
  for (const e of ctx.engines) {
    const ms = e.scoped(() => {
      const up = (n: number, s = 1) => e.upload(randn(n, r).map((x) => x * s));
      const enc = up(B * T * D), pred = up(B * U1 * D), wEnc = up(J * D, 0.06), bEnc = up(J), wPred = up(J * D, 0.06), bPred = up(J);
      const wOut = up(V * J, 0.06), bOut = up(V), G = up(B * T * U1 * V);
      const logits = e.alloc(B * T * U1 * V), h = e.alloc(B * T * U1 * J);
      const fs = e.alloc(e.wasm.joiner_forward_scratch(B, T, U1, J)), bs = e.alloc(e.wasm.joiner_backward_scratch(B, T, U1, J));
      const grads = [B * T * D, B * U1 * D, J * D, J, J * D, J, V * J, V].map((n) => e.alloc(n));
      const total = [B * T * D, B * U1 * D, J * D, J, J * D, J, V * J, V];
      return timeMs(() => {
        grads.forEach((g, i) => e.wasm.mem_zero_f32(g, total[i]));
        e.wasm.joiner_forward(logits, h, enc, pred, wEnc, bEnc, wPred, bPred, wOut, bOut, fs, B, T, U1, D, D, J, V, D, D, J);
        e.wasm.joiner_backward(grads[0], grads[1], grads[2], grads[3], grads[4], grads[5], grads[6], grads[7], h, G, enc, pred, wEnc, wPred, wOut, bs, B, T, U1, D, D, J, V, D, D, J);
      }, REPS);
    });
    out.push({
      bench: "rnnt", case: `joiner fwd+bwd B=${B} T=${T} U+1=${U1} Denc=Dpred=J=V=${J}`, metric: "ms", higherIsBetter: false, todm: ms,
      build: e.build, peers: { torch: peer?.ms ?? null }, machine: ctx.machine, commit: ctx.commit,
      note: "joiner: torch Linear/tanh/Linear forward + backward(G), 1 thread, OpenBLAS",
    });
    ctx.log(`  ${e.build}: joiner ${ms.toFixed(1)} ms, torch ${peer?.ms.toFixed(1) ?? "n/a"} ms`);
  }
  return out;
}

export async function run(ctx: BenchContext): Promise<BenchRecord[]> {
  return [...lossRecords(ctx), ...joinerRecords(ctx)];
}
