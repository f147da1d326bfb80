// Elementwise, activation, norm, softmax and dropout kernels against PyTorch 1.13 on one thread
// (bench/peers/elementwise.py), in milliseconds per call (lower is better), both builds.
// Shapes: 4000 x 256 values (frames x channels) for the pointwise ops and layernorm, 2000 x 512 for
// the softmaxes. todm runs on arena buffers it allocated once; the backwards accumulate into a
// gradient buffer (torch returns a fresh tensor). Every figure is the median of 15 timed runs after
// 3 warm-ups.
import { timeMs, type BenchContext, type BenchRecord } from "./lib.js";
import type { Engine } from "../dist/index.js";

const R = 4000, C = 256, N = R * C;
const RS = 2000, CS = 512;
const REPS = 15, WARMUP = 3;

type Kernel = (...args: number[]) => void;

/** Each case: a call of the kernel on buffers prepared by `setup` (pointers into the arena). */
const CASES: Record<string, (w: Record<string, Kernel>, p: Record<string, number>) => void> = {
  gelu_forward: (w, p) => w.gelu_forward(p.y, p.x, N, 0),
  gelu_backward: (w, p) => w.gelu_backward(p.dx, p.g, p.x, N, 0),
  gelu_tanh_forward: (w, p) => w.gelu_forward(p.y, p.x, N, 1),
  silu_forward: (w, p) => w.silu_forward(p.y, p.x, N),
  silu_backward: (w, p) => w.silu_backward(p.dx, p.g, p.x, N),
  sigmoid_forward: (w, p) => w.sigmoid_forward(p.y, p.x, N),
  tanh_forward: (w, p) => w.tanh_forward(p.y, p.x, N),
  layernorm_forward: (w, p) => w.layernorm_forward(p.y, p.mean, p.rstd, p.x, p.w, p.b, R, C, 1e-5),
  layernorm_backward: (w, p) => w.layernorm_backward(p.dx, p.dw, p.db, p.g, p.x, p.w, p.mean, p.rstd, R, C),
  softmax_forward: (w, p) => w.softmax_forward(p.sm, p.xs, RS, CS),
  softmax_backward: (w, p) => w.softmax_backward(p.dxs, p.gs, p.sm, RS, CS),
  log_softmax_forward: (w, p) => w.log_softmax_forward(p.lsm, p.xs, RS, CS),
  log_softmax_backward: (w, p) => w.log_softmax_backward(p.dxs, p.gs, p.lsm, RS, CS),
  dropout_forward: (w, p) => w.dropout_forward(p.y, p.mask, p.x, N, 0.1, 1234),
};

function setup(e: Engine): Record<string, number> {
  const randn = (n: number, s: number) => Float32Array.from({ length: n }, () => (Math.random() * 2 - 1) * s);
  const p: Record<string, number> = {
    x: e.upload(randn(N, 3)), g: e.upload(randn(N, 1)), y: e.alloc(N), dx: e.alloc(N), mask: e.alloc(N),
    w: e.upload(randn(C, 1)), b: e.upload(randn(C, 1)), dw: e.alloc(C), db: e.alloc(C),
    mean: e.alloc(R), rstd: e.alloc(R),
    xs: e.upload(randn(RS * CS, 8)), gs: e.upload(randn(RS * CS, 1)), sm: e.alloc(RS * CS), lsm: e.alloc(RS * CS),
    dxs: e.alloc(RS * CS),
  };
  for (const z of ["dx", "dw", "db", "dxs"]) e.wasm.mem_zero_f32(p[z], z === "dxs" ? RS * CS : z === "dx" ? N : C);
  const w = e.wasm as unknown as Record<string, Kernel>;
  // The backwards read what their forwards saved.
  CASES.layernorm_forward(w, p);
  CASES.softmax_forward(w, p);
  CASES.log_softmax_forward(w, p);
  return p;
}

export async function run(ctx: BenchContext): Promise<BenchRecord[]> {
  const names = Object.keys(CASES);
  const torch = ctx.python("bench/peers/elementwise.py", names) as Record<string, number | null> | null;
  const out: BenchRecord[] = [];
  for (const e of ctx.engines) {
    const m = e.mark();
    try {
      const p = setup(e);
      const w = e.wasm as unknown as Record<string, Kernel>;
      for (const name of names) {
        const todm = timeMs(() => CASES[name](w, p), REPS, WARMUP);
        const peer = torch?.[name] ?? null;
        ctx.log(`  ${name} ${e.build}: todm ${todm.toFixed(3)} ms, torch ${peer?.toFixed(3) ?? "n/a"} ms`);
        out.push({
          bench: "elementwise", case: name.includes("softmax") ? `${name} ${RS}x${CS}` : `${name} ${R}x${C}`,
          metric: "ms", higherIsBetter: false, todm, build: e.build, peers: { torch: peer },
          machine: ctx.machine, commit: ctx.commit,
          note: "one thread; median of 15 runs; torch forwards allocate their output, backwards call aten kernels directly",
        });
      }
    } finally {
      e.reset(m);
    }
  }
  return out;
}
