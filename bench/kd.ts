// AlphaNet's adaptive alpha-divergence KD, forward+backward, beside the same computation in PyTorch
// on one thread, in the same run (peer script: bench/peers/kd.py).
//
// todm: the training path on arena tensors: the teacher's logits to log-probs (log_softmax_forward),
// zeroing the gradient, then kd_alpha_forward_backward (α- = -1, α+ = 1, clip 5) over every node of
// B=8 utterances of T=100 frames and U+1=31 label positions; V=256 (BPE) and V=29 (characters, the
// training default). The kernel alone and its scalar twin are reported too (does SIMD pay?).
import { mulberry32 } from "../dist/util/random.js";
import { timeMs, type BenchContext, type BenchRecord } from "./lib.js";

const [B, T, U1] = [8, 100, 31];
const REPS = 7;

/** Seeded uniform values in [-scale, scale) (bench data only; the host's mulberry32). */
function randn(n: number, seed: number, scale: number): Float32Array {
  const r = mulberry32(seed);
  return Float32Array.from({ length: n }, () => (r() * 2 - 1) * scale);
}

function records(ctx: BenchContext, V: number, withNaive: boolean): BenchRecord[] {
  const peer = ctx.python("bench/peers/kd.py", [`${B}`, `${T}`, `${U1}`, `${V}`, `${REPS}`]) as { ms: number } | null;
  const n = B * T * U1 * V;
  // Standard-normal-sized logits (uniform ±1.7 has variance ~1), the teacher a little sharper, as the peer.
  const student = randn(n, 1, 1.7), teacher = randn(n, 2, 2.6);
  const out: BenchRecord[] = [];
  const shape = `B=${B} T=${T} U+1=${U1} V=${V}`;
  for (const e of ctx.engines) {
    const t = e.scoped(() => {
      const z = e.upload(student), tl = e.upload(teacher), lp = e.alloc(n), d = e.alloc(n);
      const tlens = e.upload(new Int32Array(B).fill(T), "i32"), ulens = e.upload(new Int32Array(B).fill(U1 - 1), "i32");
      const scales = e.upload(new Float32Array(B).fill(1)), losses = e.alloc(B), scratch = e.alloc(e.wasm.kd_alpha_scratch(V));
      const kd = () => e.wasm.kd_alpha_forward_backward(losses, d, z, lp, tlens, ulens, scales, scratch, B, T, U1, V, -1, 1, 5);
      const full = timeMs(() => {
        e.wasm.log_softmax_forward(lp, tl, B * T * U1, V);
        e.wasm.mem_zero_f32(d, n);
        kd();
      }, REPS);
      const kernel = timeMs(kd, REPS);
      const naive = withNaive
        ? timeMs(() => e.wasm.kd_alpha_forward_backward_naive(losses, d, z, lp, tlens, ulens, scales, scratch, B, T, U1, V, -1, 1, 5), 5, 1)
        : null;
      return { full, kernel, naive };
    });
    const base = { bench: "kd", metric: "ms", higherIsBetter: false, build: e.build, machine: ctx.machine, commit: ctx.commit };
    const note = "torch: AlphaNet f_divergence (α -1 and 1, clip 5) from teacher logits, per-utterance max, surrogate backward, 1 thread";
    out.push({ ...base, case: `teacher log-softmax + KD fwd+bwd ${shape}`, todm: t.full, peers: { torch: peer?.ms ?? null }, note });
    out.push({ ...base, case: `kd_alpha_forward_backward alone ${shape}`, todm: t.kernel, peers: {} });
    if (t.naive !== null) out.push({ ...base, case: `kd_alpha_forward_backward_naive (scalar twin) ${shape}`, todm: t.naive, peers: {} });
    ctx.log(`  ${e.build} V=${V}: log-softmax + KD ${t.full.toFixed(1)} ms, kernel ${t.kernel.toFixed(1)} ms` +
      `${t.naive !== null ? `, naive twin ${t.naive.toFixed(1)} ms` : ""}, torch ${peer?.ms.toFixed(1) ?? "n/a"} ms`);
  }
  return out;
}

export async function run(ctx: BenchContext): Promise<BenchRecord[]> {
  return [...records(ctx, 256, true), ...records(ctx, 29, false)];
}
