// CTC loss forward+backward (assembly/transducer/ctc.ts, log-softmax fused) beside PyTorch's CPU ctc_loss with its
// log_softmax, one thread, same machine, same run (peer script: bench/peers/ctc.py). The shape is one
// training batch of the auxiliary CTC head: 8 utterances of 150 encoder frames, 40 labels, V = 256 (BPE)
// and V = 64.
import { mulberry32 as rng } from "../dist/util/random.js";
import { timeMs, type BenchContext, type BenchRecord } from "./lib.js";

const REPS = 9;

export async function run(ctx: BenchContext): Promise<BenchRecord[]> {
  const out: BenchRecord[] = [];
  for (const [B, T, U, V] of [[8, 150, 40, 256], [8, 150, 40, 64]]) {
    const peer = ctx.python("bench/peers/ctc.py", [`${B}`, `${T}`, `${U}`, `${V}`, `${REPS}`]) as { ms: number } | null;
    const r = rng(V);
    const logits = Float32Array.from({ length: B * T * V }, () => r() * 2 - 1);
    const targets = Int32Array.from({ length: B * U }, () => 1 + Math.floor(r() * (V - 1)));
    const il = new Int32Array(B).fill(T), tl = new Int32Array(B).fill(U);
    for (const e of ctx.engines) {
      const [simd, naive] = [false, true].map((useNaive) => e.scoped(() => {
        const z = e.upload(logits), dz = e.alloc(B * T * V), tg = e.upload(targets, "i32"), ip = e.upload(il, "i32"), tp = e.upload(tl, "i32");
        const losses = e.alloc(B), scratch = e.alloc(e.wasm.ctc_scratch(B, T, U, V)), ones = e.upload(new Float32Array(B).fill(1));
        const fwd = useNaive ? e.wasm.ctc_loss_forward_naive : e.wasm.ctc_loss_forward;
        const bwd = useNaive ? e.wasm.ctc_loss_backward_naive : e.wasm.ctc_loss_backward;
        return timeMs(() => {
          e.wasm.mem_zero_f32(dz, B * T * V);
          fwd(losses, scratch, z, tg, ip, tp, B, T, U, V, V);
          bwd(dz, scratch, ones, tg, ip, tp, B, T, U, V, V);
        }, REPS);
      }));
      const base = { bench: "ctc", metric: "ms", higherIsBetter: false, build: e.build, machine: ctx.machine, commit: ctx.commit };
      const note = "torch: F.ctc_loss(F.log_softmax(z), blank=0, reduction='sum', zero_infinity=True) forward+backward, 1 thread";
      out.push({ ...base, case: `loss fwd+bwd B=${B} T=${T} U=${U} V=${V}`, todm: simd, peers: { torch: peer?.ms ?? null }, note });
      out.push({ ...base, case: `loss fwd+bwd, scalar twin, B=${B} T=${T} U=${U} V=${V}`, todm: naive, peers: { torch: peer?.ms ?? null } });
      ctx.log(`  ${e.build} V=${V}: ${simd.toFixed(2)} ms (scalar twin ${naive.toFixed(2)} ms), torch ${peer?.ms.toFixed(2) ?? "n/a"} ms`);
    }
  }
  return out;
}
