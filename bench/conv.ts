// The convolutional subsampling front end and the depthwise conv, forward and backward, on a training
// batch shape (B=8, T=400 frames, F=80 mel bins, C=256, K=31), against PyTorch on one thread
// (bench/peers/conv.py) in the same run. The ReLU between the two convs is left out on both sides.
import { timeMs, type BenchContext, type BenchRecord } from "./lib.js";
import { conv2dOutShape, conv2dScratchFloats, type Conv2dDims, type Engine } from "../dist/index.js";

const B = 8, T = 400, F = 80, C = 256, K = 31;

function times(e: Engine): Record<string, number> {
  return e.scoped(() => {
    const c1: Conv2dDims = { B, Cin: 1, T, F, Cout: C, KT: 3, KF: 3, ST: 2, SF: 2, padTLeft: 2, padTRight: 0 };
    const [T1, F1] = conv2dOutShape(c1);
    const c2: Conv2dDims = { ...c1, Cin: C, T: T1, F: F1 };
    const [T2, F2] = conv2dOutShape(c2);
    const fill = (n: number, s: number) => e.upload(Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37) * s));
    const x = fill(B * T * F, 1), w1 = fill(C * 9, 0.3), b1 = fill(C, 0.1), w2 = fill(C * C * 9, 0.02), b2 = fill(C, 0.1);
    const y1 = e.alloc(B * C * T1 * F1), y2 = e.alloc(B * C * T2 * F2);
    const dy2 = fill(B * C * T2 * F2, 1), dy1 = e.alloc(B * C * T1 * F1);
    const dw1 = e.alloc(C * 9), db1 = e.alloc(C), dw2 = e.alloc(C * C * 9), db2 = e.alloc(C);
    const col = e.alloc(Math.max(conv2dScratchFloats(c1), conv2dScratchFloats(c2)));
    const a = (d: Conv2dDims) => [d.B, d.Cin, d.T, d.F, d.Cout, d.KT, d.KF, d.ST, d.SF, d.padTLeft, d.padTRight, 0] as const; // ldw 0: dense weights
    const conv1F = () => e.wasm.conv2d_forward(y1, x, w1, b1, col, ...a(c1));
    const conv2F = () => e.wasm.conv2d_forward(y2, y1, w2, b2, col, ...a(c2));
    const conv2B = () => e.wasm.conv2d_backward(dy1, dw2, db2, dy2, y1, w2, col, ...a(c2));
    const conv1B = () => e.wasm.conv2d_backward(0, dw1, db1, dy1, x, w1, col, ...a(c1)); // no dinp for the log-mel
    const r: Record<string, number> = {
      "conv1 fwd": timeMs(conv1F, 5, 1),
      "conv2 fwd": timeMs(conv2F, 5, 1),
      "conv2 bwd": timeMs(conv2B, 5, 1),
      "conv1 bwd": timeMs(conv1B, 5, 1),
    };
    r["subsampling fwd"] = timeMs(() => { conv1F(); conv2F(); }, 5, 0);
    r["subsampling fwd+bwd"] = timeMs(() => { conv1F(); conv2F(); conv2B(); conv1B(); }, 5, 0);
    const xd = fill(B * T2 * C, 1), wd = fill(C * K, 0.2), bd = fill(C, 0.1), yd = e.alloc(B * T2 * C);
    const dyd = fill(B * T2 * C, 1), dxd = e.alloc(B * T2 * C), dwd = e.alloc(C * K), dbd = e.alloc(C);
    r["dwconv1d fwd+bwd"] = timeMs(() => {
      e.wasm.dwconv1d_forward(yd, xd, wd, bd, B, T2, C, K, 1);
      e.wasm.dwconv1d_backward(dxd, dwd, dbd, dyd, xd, wd, B, T2, C, K, 1);
    }, 7, 2);
    return r;
  });
}

export async function run(ctx: BenchContext): Promise<BenchRecord[]> {
  const peer = ctx.python("bench/peers/conv.py", [B, T, F, C, K].map(String)) as Record<string, number> | null;
  const out: BenchRecord[] = [];
  for (const e of ctx.engines) {
    const r = times(e);
    for (const [name, ms] of Object.entries(r)) {
      ctx.log(`  conv ${e.build} ${name}: ${ms.toFixed(1)} ms${peer?.[name] ? `, torch ${peer[name].toFixed(1)} ms` : ""}`);
      out.push({
        bench: "conv", case: `${name} B=${B} T=${T} F=${F} C=${C}${name.startsWith("dw") ? ` K=${K} (T=${T / 4 | 0})` : ""}`,
        metric: "ms", higherIsBetter: false, todm: ms, build: e.build,
        peers: { "torch 1 thread": peer?.[name] ?? null }, machine: ctx.machine, commit: ctx.commit,
        note: "subsampling = conv(1->256, 3x3, s2, causal) + conv(256->256, 3x3, s2, causal), no ReLU; fwd+bwd omits the log-mel gradient",
      });
    }
  }
  return out;
}
