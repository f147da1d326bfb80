// Pruned RNN-T (simple loss + prune ranges + band joiner + band loss) against the full joiner + full RNN-T loss,
// forward+backward, on the same lattice, at V = 29, 256 and 500 (characters, BPE 256, BPE 500).
// Both sides are todm kernels in the same process; the "full" figure is the peer column, so todm/full > 1 is
// the pruned path's speedup. The pruned side includes the simple loss's two projections to V (am, lm: one
// Linear each, forward and backward), which the full path does not need. B, T, U as bench/rnnt.ts.
import type { Engine } from "../dist/index.js";
import { mulberry32 as rng } from "../dist/util/random.js";
import { timeMs, type BenchContext, type BenchRecord } from "./lib.js";

const [B, T, U, D, J, R] = [8, 100, 30, 256, 256, 5];
const REPS = 5, ROUNDS = 3; // rounds alternate full and pruned; each figure is the median of the rounds' medians

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** Both paths' step closures over one arena setup for vocabulary V. */
function setup(e: Engine, V: number) {
  const r = rng(V);
  const up = (n: number, s = 1) => e.upload(Float32Array.from({ length: n }, () => (r() * 2 - 1) * s));
  const U1 = U + 1;
  const enc = up(B * T * D), pred = up(B * U1 * D);
  const wEnc = up(J * D, 0.06), bEnc = up(J), wPred = up(J * D, 0.06), bPred = up(J), wOut = up(V * J, 0.06), bOut = up(V);
  const wAm = up(V * D, 0.06), wLm = up(V * D, 0.06); // the simple loss's projections (no bias in this bench)
  const tg = e.upload(Int32Array.from({ length: B * U }, () => 1 + Math.floor(r() * (V - 1))), "i32");
  const tl = e.upload(new Int32Array(B).fill(T), "i32"), ul = e.upload(new Int32Array(B).fill(U), "i32"), ones = e.upload(new Float32Array(B).fill(1));
  const gsizes = [B * T * D, B * U1 * D, J * D, J, J * D, J, V * J, V, V * D, V * D];
  const g = gsizes.map((n) => e.alloc(n));
  const zero = () => g.forEach((p, i) => e.wasm.mem_zero_f32(p, gsizes[i]));
  // Full: joiner on [B,T,U1], loss, in-place gradient, joiner backward.
  const nFull = B * T * U1;
  const logits = e.alloc(nFull * V), h = e.alloc(nFull * J);
  const fs = e.alloc(e.wasm.joiner_forward_scratch(B, T, U1, J)), bs = e.alloc(e.wasm.joiner_backward_scratch(B, T, U1, J));
  const losses = e.alloc(B), lat = [0, 1, 2, 3, 4].map(() => e.alloc(nFull));
  const full = () => {
    zero();
    e.wasm.joiner_forward(logits, h, enc, pred, wEnc, bEnc, wPred, bPred, wOut, bOut, fs, B, T, U1, D, D, J, V, D, D, J);
    e.wasm.rnnt_loss_forward(losses, lat[0], lat[1], lat[2], lat[3], lat[4], logits, tg, tl, ul, B, T, U1, V, 0);
    e.wasm.rnnt_loss_backward_inplace(logits, losses, lat[0], lat[1], lat[2], lat[3], lat[4], ones, tg, tl, ul, B, T, U1, V, 0);
    e.wasm.joiner_backward(g[0], g[1], g[2], g[3], g[4], g[5], g[6], g[7], h, logits, enc, pred, wEnc, wPred, wOut, bs, B, T, U1, D, D, J, V, D, D, J);
  };
  // Pruned: am = enc W_am^T, lm = pred W_lm^T; simple loss, occupations, ranges; band joiner and loss; backwards.
  const am = e.alloc(B * T * V), lm = e.alloc(B * U1 * V), dam = e.alloc(B * T * V), dlm = e.alloc(B * U1 * V);
  const ss = e.alloc(e.wasm.rnnt_simple_scratch(T, U1, V)), side = e.alloc(B * (T + U1)), slat = [0, 1, 2, 3, 4, 5, 6, 7].map(() => e.alloc(nFull));
  const ranges = e.alloc(B * T), nBand = B * T * R;
  const plogits = e.alloc(nBand * V), ph = e.alloc(nBand * J), plat = [0, 1, 2, 3, 4].map(() => e.alloc(nBand));
  const pfs = e.alloc(e.wasm.rnnt_pruned_joiner_forward_scratch(B, T, U1, J)), pbs = e.alloc(e.wasm.rnnt_pruned_joiner_backward_scratch(B, T, U1, J));
  const sLosses = e.alloc(B), pLosses = e.alloc(B);
  const pruned = () => {
    zero();
    e.wasm.gemm(0, 1, B * T, V, D, 1, enc, D, wAm, D, 0, am, V);
    e.wasm.gemm(0, 1, B * U1, V, D, 1, pred, D, wLm, D, 0, lm, V);
    e.wasm.rnnt_simple_forward(sLosses, slat[0], side, slat[1], slat[2], slat[3], slat[4], am, lm, tg, tl, ul, ss, B, T, U1, V, 0, 0.25, 0);
    e.wasm.rnnt_simple_occupation(slat[5], slat[6], sLosses, slat[1], slat[2], slat[3], slat[4], tl, ul, B, T, U1);
    e.wasm.rnnt_prune_ranges(ranges, slat[5], slat[6], tl, ul, B, T, U1, R);
    e.wasm.rnnt_pruned_joiner_forward(plogits, ph, enc, pred, ranges, wEnc, bEnc, wPred, bPred, wOut, bOut, pfs, B, T, U1, R, D, D, J, V, D, D, J);
    e.wasm.rnnt_pruned_loss_forward(pLosses, plat[0], plat[1], plat[2], plat[3], plat[4], plogits, ranges, tg, tl, ul, B, T, U1, R, V, 0);
    e.wasm.rnnt_pruned_loss_backward_inplace(plogits, pLosses, plat[0], plat[1], plat[2], plat[3], plat[4], ones, ranges, tg, tl, ul, B, T, U1, R, V, 0);
    e.wasm.rnnt_pruned_joiner_backward(g[0], g[1], g[2], g[3], g[4], g[5], g[6], g[7], ph, plogits, enc, pred, ranges, wEnc, wPred, wOut, pbs, B, T, U1, R, D, D, J, V, D, D, J);
    e.wasm.mem_zero_f32(dam, B * T * V);
    e.wasm.mem_zero_f32(dlm, B * U1 * V);
    e.wasm.rnnt_simple_backward(dam, dlm, slat[0], side, slat[5], slat[6], ones, am, lm, tg, tl, ul, ss, B, T, U1, V, 0, 0.25, 0);
    e.wasm.gemm(1, 0, V, D, B * T, 1, dam, V, enc, D, 1, g[8], D); // dW_am += dam^T enc
    e.wasm.gemm(0, 0, B * T, D, V, 1, dam, V, wAm, D, 1, g[0], D); // denc += dam W_am
    e.wasm.gemm(1, 0, V, D, B * U1, 1, dlm, V, pred, D, 1, g[9], D);
    e.wasm.gemm(0, 0, B * U1, D, V, 1, dlm, V, wLm, D, 1, g[1], D);
  };
  return { full, pruned };
}

export async function run(ctx: BenchContext): Promise<BenchRecord[]> {
  const out: BenchRecord[] = [];
  for (const e of ctx.engines) {
    for (const V of [29, 256, 500]) {
      const [fullMs, prunedMs] = e.scoped(() => {
        const { full, pruned } = setup(e, V);
        const f: number[] = [], p: number[] = [];
        for (let i = 0; i < ROUNDS; i++) { f.push(timeMs(full, REPS)); p.push(timeMs(pruned, REPS)); }
        return [median(f), median(p)];
      });
      out.push({
        bench: "pruned", case: `simple+pruned (R=${R}) vs full, fwd+bwd B=${B} T=${T} U=${U} D=J=${J} V=${V}`, metric: "ms", higherIsBetter: false,
        todm: prunedMs, peers: { "todm full": fullMs }, build: e.build, machine: ctx.machine, commit: ctx.commit,
        note: `pruned: am/lm projections + simple loss (lm_scale 0.25) + occupations + prune ranges + band joiner + band loss, forward and backward; full: joiner + rnnt loss (in place) forward and backward; median of ${ROUNDS} alternating rounds of median-of-${REPS}, on a shared 2-core machine`,
      });
      ctx.log(`  ${e.build} V=${V}: pruned ${prunedMs.toFixed(1)} ms, full ${fullMs.toFixed(1)} ms, speedup ${(fullMs / prunedMs).toFixed(2)}x`);
    }
  }
  return out;
}
