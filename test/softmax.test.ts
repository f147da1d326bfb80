// softmax / log_softmax (assembly/ops/softmax.ts): SIMD against the naive twins in both builds, the
// backward against float64 central finite differences of a float64 forward, logits up to +-80 and
// beyond, and PyTorch 1.13 (test/fixtures/elementwise.json).
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import type { Engine } from "../src/index.js";
import { bothBuilds, engine, finiteDiff, randn, rng } from "./helpers.js";
import { checkOp } from "./harness.js";
import { elementwiseCases, f32 } from "./elementwise-fixture.js";

type Kernel = (...args: number[]) => void;
const k = (e: Engine, name: string): Kernel => (e.wasm as unknown as Record<string, Kernel>)[name];
const OPS = ["softmax", "log_softmax"] as const;

/** float64 softmax / log-softmax of each row of x [R, C]. */
function ref64(op: (typeof OPS)[number], x: ArrayLike<number>, R: number, C: number): Float64Array {
  const y = new Float64Array(R * C);
  for (let r = 0; r < R; r++) {
    let m = -Infinity;
    for (let j = 0; j < C; j++) m = Math.max(m, x[r * C + j]);
    let s = 0;
    for (let j = 0; j < C; j++) s += Math.exp(x[r * C + j] - m);
    for (let j = 0; j < C; j++) {
      const z = x[r * C + j] - m;
      y[r * C + j] = op === "softmax" ? Math.exp(z) / s : z - Math.log(s);
    }
  }
  return y;
}

function run(e: Engine, fn: string, x: ArrayLike<number>, dout: ArrayLike<number>, d0: ArrayLike<number>, R: number, C: number) {
  return e.scoped(() => {
    const inp = e.upload(x), out = e.alloc(R * C), dinp = e.upload(d0);
    k(e, `${fn}_forward`)(out, inp, R, C);
    k(e, `${fn}_backward`)(dinp, e.upload(dout), out, R, C);
    return { y: e.read(out, R * C), dx: e.read(dinp, R * C) };
  });
}

const shapes = fc.tuple(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 37 }));
const magnitude = fc.constantFrom(1, 5, 30, 80, 1e4);

describe("softmax, log_softmax: SIMD against the naive twins (both builds)", () => {
  for (const op of OPS) {
    it(op, async () => {
      for (const e of await bothBuilds()) {
        fc.assert(
          fc.property(shapes, magnitude, fc.integer(), ([R, C], scale, seed) => {
            const r = rng(seed);
            const x = randn(R * C, r, scale), dout = randn(R * C, r), d0 = randn(R * C, r);
            const a = run(e, op, x, dout, d0, R, C);
            const n = e.scoped(() => {
              const inp = e.upload(x), out = e.alloc(R * C), dinp = e.upload(d0);
              k(e, `${op}_forward_naive`)(out, inp, R, C);
              k(e, `${op}_backward_naive`)(dinp, e.upload(dout), out, R, C);
              return { y: e.read(out, R * C), dx: e.read(dinp, R * C) };
            });
            // vector exp (1 ulp) vs musl's expf, sums in another order: a few ulp of probabilities <= 1;
            // log-probabilities down to -2*scale carry the f32 rounding of x - max (ulp of 2*scale).
            const atol = op === "softmax" ? 2e-7 : 4e-7;
            checkOp(`${op} forward`, a.y, n.y, atol, 2e-6);
            // d0 + dout - p * sum(dout) may cancel from terms as large as |sum(dout)| (up to ~20 for
            // C = 37): one ulp of 16 is 1.9e-6, FMA or not.
            checkOp(`${op} backward`, a.dx, n.dx, 2e-6, 4e-6);
          }),
          { numRuns: 100 },
        );
      }
    });
  }
});

describe("softmax, log_softmax: backward against float64 finite differences", () => {
  for (const op of OPS) {
    it(`${op}, logits up to +-80`, async () => {
      const e = await engine();
      fc.assert(
        fc.property(shapes, fc.constantFrom(1, 10, 80), fc.integer(), ([R, C], scale, seed) => {
          const r = rng(seed);
          const x = randn(R * C, r, scale), dout = randn(R * C, r), d0 = randn(R * C, r);
          const { y, dx } = run(e, op, x, dout, d0, R, C);
          const y64 = ref64(op, x, R, C);
          // Forward: probabilities to a few ulp absolute; log-probabilities relative (x - max rounds
          // to f32: 2^-24 relative of |x - max| <= 160).
          checkOp(`${op} forward`, y, y64, op === "softmax" ? 2e-7 : 1e-6, 1e-6);
          const loss = (v: Float64Array) => ref64(op, v, R, C).reduce((s, yi, i) => s + dout[i] * yi, 0);
          const fd = finiteDiff(loss, Float64Array.from(x), [...Array(R * C).keys()]);
          // f32 backward vs FD in f64 (truncation h^2 ~ 1e-10). log_softmax's d0 + dout - p*sum(dout)
          // cancels from terms up to |sum(dout)| ~ 20: a couple of ulp of 16 (1.9e-6 each).
          checkOp(`${op} grad`, dx, Array.from(fd, (v, i) => v + d0[i]), op === "softmax" ? 1e-6 : 4e-6, 4e-6);
        }),
        { numRuns: 60 },
      );
    });
  }

  it("does not overflow: logits of +-1e30 and -inf entries", async () => {
    const e = await engine();
    const x = [1e30, -1e30, 0, -Infinity, 1e30, 7];
    const sm = run(e, "softmax", x, [0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0], 1, 6).y;
    expect(Array.from(sm)).toEqual([0.5, 0, 0, 0, 0.5, 0]);
    const ls = run(e, "log_softmax", x, [0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0], 1, 6).y;
    expect(ls[0]).toBeCloseTo(-Math.LN2, 6);
    expect(ls[3]).toBe(-Infinity);
    expect(ls[1]).toBe(Math.fround(-2e30)); // finite: -1e30 - 1e30 - log 2
  });
});

describe("softmax, log_softmax against PyTorch 1.13 (test/fixtures/elementwise.json)", () => {
  for (const op of OPS) {
    it(op, async () => {
      for (const e of await bothBuilds()) {
        for (const c of elementwiseCases(op)) {
          const R = c.R!, C = c.C!;
          const { y, dx } = run(e, op, f32(c, "x"), f32(c, "dout"), new Float32Array(R * C), R, C);
          // Two f32 implementations; logits up to +-80 make log-probabilities up to -160, whose f32
          // rounding of x - max differs by an ulp of 128 (1.5e-5) between orders of operations.
          checkOp(`${op} forward (${e.build}, ${R}x${C})`, y, f32(c, "y"), 3e-7, 2e-6);
          checkOp(`${op} backward (${e.build}, ${R}x${C})`, dx, f32(c, "dx"), 1e-6, 4e-6);
        }
      }
    });
  }
});
