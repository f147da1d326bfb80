// Optimizer steps over 10 M parameters, in GB/s, beside a plain memory copy measured in the same run.
//
// Bytes counted: a step reads params, grads, exp_avg and exp_avg_sq and writes params, exp_avg and
// exp_avg_sq, 28 bytes per parameter (the gradient-norm pass and ScaledAdam's pre-pass every
// size_update_period steps are real traffic but are NOT counted: they are the kernel's overhead).
// The copy (mem_copy_f32, WASM memory.copy) counts 8 bytes per float, read plus write.
// The layout is a model's: 38 matrices 256 x 1024, 38 biases of 1024 and 4 scalars (10,000,388).
// ScaledAdam runs with clipping_scale 2.0 and is timed over 4 consecutive steps (one
// size_update_period, so the pre-pass is included once), reported per step.
// Peers (bench/peers/optim.py, one thread): icefall's ScaledAdam in torch (when /work/ref-src or
// $ICEFALL_OPTIM holds its optim.py), torch.optim.AdamW, Tensor.copy_.

import { existsSync } from "node:fs";
import { ScaledAdamRegion, AdamWRegion, packTensors, type Engine } from "../dist/index.js";
import { median, timeMs, type BenchContext, type BenchRecord } from "./lib.js";

const MATRICES = 38, ROWS = 256, COLS = 1024, SCALARS = 4;
const ICEFALL = process.env.ICEFALL_OPTIM ?? "/work/ref-src/icefall_optim.py";

function shapes(): number[][] {
  return [
    ...Array.from({ length: MATRICES }, () => [ROWS, COLS]),
    ...Array.from({ length: MATRICES }, () => [COLS]),
    ...Array.from({ length: SCALARS }, () => []),
  ];
}

/** Fills n floats at ptr with values of magnitude `scale` (a cheap LCG: the values do not matter). */
function fill(e: Engine, ptr: number, n: number, scale: number, seed: number): void {
  const chunk = new Float32Array(1 << 16);
  let s = seed >>> 0;
  for (let i = 0; i < n; i += chunk.length) {
    const m = Math.min(chunk.length, n - i);
    for (let j = 0; j < m; j++) {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      chunk[j] = (s / 2 ** 32 - 0.5) * scale;
    }
    e.write(ptr + 4 * i, chunk.subarray(0, m));
  }
}

/** Median GB/s of ScaledAdam (per step, over 4-step runs), AdamW and the copy, interleaved rep by rep. */
function measure(e: Engine, reps = 7): { scaledAdam: number; adamw: number; copy: number; n: number } {
  return e.scoped(() => {
    const { tensors, total: n } = packTensors(shapes());
    const params = e.alloc(n, "bench params"), grads = e.alloc(n, "bench grads"), dst = e.alloc(n, "bench copy");
    fill(e, params, n, 0.2, 1);
    fill(e, grads, n, 0.02, 2);
    const sa = new ScaledAdamRegion(e, { params, grads, tensors }, { lr: 0.03, clippingScale: 2.0 });
    const aw = new AdamWRegion(e, { params, grads, n }, { lr: 1e-3, weightDecay: 0.01 });
    const ms = { scaledAdam: [] as number[], adamw: [] as number[], copy: [] as number[] };
    // Interleaved, so that a change of load on a shared machine hits all three alike; the first
    // round (rep -1) is a warm-up.
    for (let rep = -1; rep < reps; rep++) {
      const c = timeMs(() => e.wasm.mem_copy_f32(dst, grads, n), 1, 0);
      const s = timeMs(() => { for (let k = 0; k < 4; k++) sa.step(); }, 1, 0) / 4;
      const a = timeMs(() => aw.step(), 1, 0);
      if (rep < 0) continue;
      ms.copy.push(c);
      ms.scaledAdam.push(s);
      ms.adamw.push(a);
    }
    const gbs = (bytes: number, t: number[]) => bytes / (median(t) * 1e6);
    return { scaledAdam: gbs(28 * n, ms.scaledAdam), adamw: gbs(28 * n, ms.adamw), copy: gbs(8 * n, ms.copy), n };
  });
}

export async function run(ctx: BenchContext): Promise<BenchRecord[]> {
  const args = [MATRICES, ROWS, COLS, SCALARS].map(String);
  if (existsSync(ICEFALL)) args.push(ICEFALL);
  else ctx.log(`  icefall optim.py not found at ${ICEFALL} (set ICEFALL_OPTIM): no ScaledAdam peer`);
  const peer = ctx.python("bench/peers/optim.py", args) as { scaled_adam: number | null; adamw: number; copy: number } | null;
  const out: BenchRecord[] = [];
  for (const e of ctx.engines) {
    const m = measure(e);
    const record = (what: string, metric: string, todm: number, peers: Record<string, number | null>, note?: string): BenchRecord =>
      ({ bench: "optim", case: what, metric, higherIsBetter: true, todm, build: e.build, peers, machine: ctx.machine, commit: ctx.commit, note });
    const millions = (m.n / 1e6).toFixed(2);
    out.push(
      record(`ScaledAdam step, ${millions} M params, clipping 2.0`, "GB/s", m.scaledAdam, { "torch icefall ScaledAdam": peer?.scaled_adam ?? null },
        "GB/s counts 28 bytes per parameter per step (params, grads, both moments read; params, both moments written)."),
      record(`AdamW step, ${millions} M params`, "GB/s", m.adamw, { "torch AdamW": peer?.adamw ?? null }),
      record(`memory copy, ${millions} M floats (mem_copy_f32)`, "GB/s", m.copy, { "torch copy_": peer?.copy ?? null },
        "The copy counts 8 bytes per float (read + write)."),
      record("ScaledAdam step / memory copy", "ratio of GB/s", m.scaledAdam / m.copy, {}, "Target: ScaledAdam at >= 50% of memory-copy bandwidth, same run."),
      record("AdamW step / memory copy", "ratio of GB/s", m.adamw / m.copy, {}),
    );
    ctx.log(`  ${e.build}: ScaledAdam ${m.scaledAdam.toFixed(2)} GB/s, AdamW ${m.adamw.toFixed(2)} GB/s, copy ${m.copy.toFixed(2)} GB/s, ` +
      `ScaledAdam/copy ${(m.scaledAdam / m.copy).toFixed(2)}, AdamW/copy ${(m.adamw / m.copy).toFixed(2)}`);
  }
  return out;
}
