// linear_forward/backward and bias_add_forward/backward (assembly/ops/linear.ts), in both builds:
// - against PyTorch (test/fixtures/linear.json from test/ref/linear.py: nn.Linear on a leading slice
//   of a bigger layer, with output gradients);
// - backward against float64 central finite differences of a float64 forward written here;
// - against the scalar twins on awkward shapes drawn by fast-check.
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { bothBuilds, finiteDiff, randn, rng } from "./helpers.js";
import { checkOp, readFixture } from "./harness.js";
import type { Engine } from "../src/index.js";

const U = 2 ** -24; // f32 unit roundoff

interface LinearCase {
  name: string; BT: number; C: number; OC: number; C_max: number; OC_max: number;
  weight_full: number[]; bias_full: number[] | null; inp: number[]; dout: number[];
  out: number[]; dinp: number[]; dweight: number[]; dbias: number[] | null;
}
const fixture = readFixture("linear.json", "test/ref/linear.py");

/** Rows 0:rows, columns 0:cols of a row-major matrix with row stride ld. */
function slice(x: ArrayLike<number>, rows: number, cols: number, ld: number): number[] {
  const out: number[] = [];
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out.push(x[r * ld + c]);
  return out;
}

describe("linear vs PyTorch (nn.Linear on a leading weight slice)", () => {
  it("fixture is ours", () => {
    expect(fixture.magic).toBe("todm-fixture");
    expect(fixture.version).toBe(1);
    expect(fixture.cases.length).toBeGreaterThan(0);
  });

  it("forward and backward match the fixture, gradients accumulate, padding untouched", async () => {
    for (const e of await bothBuilds()) {
      for (const f of fixture.cases as LinearCase[]) {
        const { BT, C, OC, C_max: ldw, OC_max } = f;
        // Inputs are multiples of 1/256 and the reference is exact (float64 on exact values); an f32
        // dot product of n such terms of magnitude <= 1 errs by at most n*u*n: (n+2)*n*u with the
        // bias add and the accumulation into a gradient.
        const tol = (n: number) => (n + 2) * n * U;
        e.scoped(() => {
          const inp = e.upload(f.inp), w = e.upload(f.weight_full), dout = e.upload(f.dout);
          const b = f.bias_full ? e.upload(f.bias_full) : 0;
          const out = e.alloc(BT * OC);
          e.wasm.linear_forward(out, inp, w, b, BT, C, OC, ldw);
          checkOp(`${e.build} ${f.name} out`, e.read(out, BT * OC), f.out, tol(C));

          // Gradients start at 1 (not 0) to check that backward accumulates.
          const dinp = e.upload(new Float32Array(BT * C).fill(1));
          const dw = e.upload(new Float32Array(OC_max * ldw).fill(1));
          const db = f.bias_full ? e.upload(new Float32Array(OC_max).fill(1)) : 0;
          e.wasm.linear_backward(dinp, dw, db, dout, inp, w, BT, C, OC, ldw);
          const plus1 = (x: number[]) => x.map((v) => v + 1);
          checkOp(`${e.build} ${f.name} dinp`, e.read(dinp, BT * C), plus1(f.dinp), tol(OC));
          const dwAll = e.read(dw, OC_max * ldw);
          checkOp(`${e.build} ${f.name} dweight`, slice(dwAll, OC, C, ldw), plus1(f.dweight), tol(BT));
          // Outside the OC x C slice the gradient buffer is not touched (exactly 1).
          const outside = Array.from(dwAll).filter((_, i) => Math.floor(i / ldw) >= OC || i % ldw >= C);
          expect(outside.every((v) => v === 1)).toBe(true);
          if (f.dbias) {
            const dbAll = e.read(db, OC_max);
            checkOp(`${e.build} ${f.name} dbias`, dbAll.slice(0, OC), plus1(f.dbias), tol(BT));
            expect(Array.from(dbAll.slice(OC)).every((v) => v === 1)).toBe(true);
          }
        });
      }
    }
  });
});

describe("linear backward vs float64 finite differences", () => {
  it("dinp, dweight, dbias of L = sum(out * G) on strided weights", async () => {
    for (const e of await bothBuilds()) {
      for (const [BT, C, OC, padW] of [[3, 5, 7, 2], [13, 9, 1, 0], [6, 17, 11, 3]]) {
        const ldw = C + padW, r = rng(BT * 100 + C * 10 + OC);
        const x = randn(BT * C, r), w = randn(OC * ldw, r), bias = randn(OC, r), G = randn(BT * OC, r);
        // The float64 forward: L = sum_{t,o} G[t,o] * (bias[o] + sum_c x[t,c] w[o,c]).
        const loss = (xs: Float64Array, ws: Float64Array, bs: Float64Array) => {
          let L = 0;
          for (let t = 0; t < BT; t++) {
            for (let o = 0; o < OC; o++) {
              let y = bs[o];
              for (let c = 0; c < C; c++) y += xs[t * C + c] * ws[o * ldw + c];
              L += G[t * OC + o] * y;
            }
          }
          return L;
        };
        const x64 = Float64Array.from(x), w64 = Float64Array.from(w), b64 = Float64Array.from(bias);
        const all = (n: number) => Array.from({ length: n }, (_, i) => i);
        const wIdx = all(OC * ldw).filter((i) => i % ldw < C);
        const gx = finiteDiff((v) => loss(v, w64, b64), x64, all(BT * C), 1e-3);
        const gw = finiteDiff((v) => loss(x64, v, b64), w64, wIdx, 1e-3);
        const gb = finiteDiff((v) => loss(x64, w64, v), b64, all(OC), 1e-3);
        e.scoped(() => {
          const dinp = e.upload(new Float32Array(BT * C)), dw = e.upload(new Float32Array(OC * ldw));
          const db = e.upload(new Float32Array(OC));
          e.wasm.linear_backward(dinp, dw, db, e.upload(G), e.upload(x), e.upload(w), BT, C, OC, ldw);
          // L is linear in each argument, so central differences are exact up to float64 rounding
          // (~1e-13); the kernel sums <= 13 f32 products of magnitude <= 1: 13*13*u < 2e-5.
          const tag = `${e.build} BT=${BT} C=${C} OC=${OC}`;
          checkOp(`${tag} dinp`, e.read(dinp, BT * C), gx, 2e-5);
          const dwAll = e.read(dw, OC * ldw);
          checkOp(`${tag} dweight`, wIdx.map((i) => dwAll[i]), gw, 2e-5);
          checkOp(`${tag} dbias`, e.read(db, OC), gb, 2e-5);
          // dinp == 0 and dbias == 0 mean "not needed": dweight alone is accumulated again.
          e.wasm.linear_backward(0, dw, 0, e.upload(G), e.upload(x), e.upload(w), BT, C, OC, ldw);
          const dwTwice = e.read(dw, OC * ldw);
          checkOp(`${tag} dweight twice`, wIdx.map((i) => dwTwice[i]), Array.from(gw, (v) => 2 * v), 4e-5);
        });
      }
    }
  });

  it("bias_add_backward: dinp += dout, dbias += column sums of dout", async () => {
    for (const e of await bothBuilds()) {
      const R = 7, C = 21, r = rng(5);
      const x = randn(R * C, r), bias = randn(C, r), G = randn(R * C, r);
      const loss = (xs: Float64Array, bs: Float64Array) => {
        let L = 0;
        for (let i = 0; i < R * C; i++) L += G[i] * (xs[i] + bs[i % C]);
        return L;
      };
      const x64 = Float64Array.from(x), b64 = Float64Array.from(bias);
      const gx = finiteDiff((v) => loss(v, b64), x64, Array.from({ length: R * C }, (_, i) => i), 1e-3);
      const gb = finiteDiff((v) => loss(x64, v), b64, Array.from({ length: C }, (_, i) => i), 1e-3);
      e.scoped(() => {
        const dinp = e.upload(new Float32Array(R * C).fill(0.5)), db = e.upload(new Float32Array(C).fill(0.5));
        e.wasm.bias_add_backward(dinp, db, e.upload(G), R, C);
        // Exact FD (L is linear); f32: one add per dinp element, 7 per dbias element: 1e-6.
        checkOp(`${e.build} dinp`, e.read(dinp, R * C), Array.from(gx, (v) => v + 0.5), 1e-6);
        checkOp(`${e.build} dbias`, e.read(db, C), Array.from(gb, (v) => v + 0.5), 1e-6);
      });
    }
  });
});

describe("linear and bias_add vs their scalar twins", () => {
  it("bias_add_forward/backward are bit-identical to the naive twins on awkward shapes", async () => {
    const engines = await bothBuilds();
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: 70 }), fc.integer(), fc.boolean(), (R, C, seed, inPlace) => {
        const r = rng(seed);
        const x = randn(R * C, r), bias = randn(C, r), g = randn(R * C, r), d0 = randn(R * C, r), db0 = randn(C, r);
        for (const e of engines) {
          e.scoped(() => {
            const X1 = e.upload(x), X2 = e.upload(x), B = e.upload(bias);
            const O1 = inPlace ? X1 : e.alloc(R * C), O2 = inPlace ? X2 : e.alloc(R * C);
            e.wasm.bias_add_forward(O1, X1, B, R, C);
            e.wasm.bias_add_forward_naive(O2, X2, B, R, C);
            // Same single f32 add per element: exact.
            checkOp("bias_add_forward", e.read(O1, R * C), e.read(O2, R * C), 0);
            const G = e.upload(g), D1 = e.upload(d0), D2 = e.upload(d0), DB1 = e.upload(db0), DB2 = e.upload(db0);
            e.wasm.bias_add_backward(D1, DB1, G, R, C);
            e.wasm.bias_add_backward_naive(D2, DB2, G, R, C);
            // Same adds in the same order (rows 0..R-1 per column): exact.
            checkOp("bias_add_backward dinp", e.read(D1, R * C), e.read(D2, R * C), 0);
            checkOp("bias_add_backward dbias", e.read(DB1, C), e.read(DB2, C), 0);
          });
        }
      }),
      { numRuns: 100 },
    );
  });

  it("linear_forward/backward match the naive twins on awkward shapes and strides", async () => {
    const engines = await bothBuilds();
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: 70 }), fc.integer({ min: 1, max: 70 }),
        fc.integer({ min: 0, max: 4 }), fc.boolean(), fc.integer(),
        (BT, C, OC, padW, hasBias, seed) => {
          const r = rng(seed), ldw = C + padW;
          const x = randn(BT * C, r), w = randn(OC * ldw, r), bias = randn(OC, r), g = randn(BT * OC, r);
          for (const e of engines) {
            e.scoped(() => {
              const X = e.upload(x), W = e.upload(w), G = e.upload(g), B = hasBias ? e.upload(bias) : 0;
              const O1 = e.alloc(BT * OC), O2 = e.alloc(BT * OC);
              e.wasm.linear_forward(O1, X, W, B, BT, C, OC, ldw);
              e.wasm.linear_forward_naive(O2, X, W, B, BT, C, OC, ldw);
              // Sums of n products of magnitude <= 1 in different orders (FMA or not), plus the bias:
              // each within (n+2)*n*u of exact, so within twice that of each other.
              const tol = (n: number) => 2 * (n + 2) * n * U;
              checkOp(`${e.build} linear_forward`, e.read(O1, BT * OC), e.read(O2, BT * OC), tol(C));
              const dx1 = e.upload(new Float32Array(BT * C)), dx2 = e.upload(new Float32Array(BT * C));
              const dw1 = e.upload(new Float32Array(OC * ldw)), dw2 = e.upload(new Float32Array(OC * ldw));
              const db1 = hasBias ? e.upload(new Float32Array(OC)) : 0, db2 = hasBias ? e.upload(new Float32Array(OC)) : 0;
              e.wasm.linear_backward(dx1, dw1, db1, G, X, W, BT, C, OC, ldw);
              e.wasm.linear_backward_naive(dx2, dw2, db2, G, X, W, BT, C, OC, ldw);
              checkOp(`${e.build} dinp`, e.read(dx1, BT * C), e.read(dx2, BT * C), tol(OC));
              checkOp(`${e.build} dweight`, e.read(dw1, OC * ldw), e.read(dw2, OC * ldw), tol(BT));
              if (hasBias) checkOp(`${e.build} dbias`, e.read(db1, OC), e.read(db2, OC), 0); // same order: exact
            });
          }
        },
      ),
      { numRuns: 100 },
    );
  });
});
