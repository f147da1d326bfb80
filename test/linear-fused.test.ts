// The fused linear epilogues (assembly/ops/linear_fused.ts) against their scalar twins, and the fused tape
// ops (assembly/tape/tape_fused.ts) against float64 finite differences of a float64 forward and against
// the chains of unfused ops they replace, in both builds. Shapes are awkward (1, 3, 5, 7, 13 ...), with
// and without a dropout mask, bias, strided (subnet) weights.
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { Tape } from "../src/engine/tape.js";
import type { Engine } from "../src/index.js";
import { bothBuilds, finiteDiff, randn, rng } from "./helpers.js";
import { checkOp } from "./harness.js";

/** A dropout-like mask: 0 or 1/(1-p) with p = 0.2. */
function maskOf(n: number, r: () => number): Float32Array {
  return Float32Array.from({ length: n }, () => (r() < 0.2 ? 0 : 1.25));
}

const silu64 = (x: number) => x / (1 + Math.exp(-x));

describe("fused epilogue kernels vs their naive twins", () => {
  it("silu_mask_forward / silu_mask_backward (both builds)", async () => {
    const engines = await bothBuilds();
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 13 }), fc.integer({ min: 1, max: 37 }), fc.boolean(), fc.boolean(), fc.boolean(), fc.integer(),
        (R, C, withMask, withBias, withDbias, seed) => {
          const n = R * C, r = rng(seed);
          const lin = randn(n, r, 6), bias = randn(C, r, 2), dout = randn(n, r), mask = maskOf(n, r), db0 = randn(C, r);
          for (const e of engines) {
            e.scoped(() => {
              const L = e.upload(lin), Bi = withBias ? e.upload(bias) : 0, M = withMask ? e.upload(mask) : 0, G = e.upload(dout);
              const [o1, s1, o2, s2] = [e.alloc(n), e.alloc(n), e.alloc(n), e.alloc(n)];
              e.wasm.silu_mask_forward(o1, s1, L, Bi, M, R, C);
              e.wasm.silu_mask_forward_naive(o2, s2, L, Bi, M, R, C);
              // sigmoid4 (simd_math.ts, exp within ~1 ulp, one division) vs musl expf: a few ulps
              checkOp(`${e.build} sig R=${R} C=${C}`, e.read(s1, n), e.read(s2, n), 1e-7, 1e-6);
              checkOp(`${e.build} silu R=${R} C=${C}`, e.read(o1, n), e.read(o2, n), 1e-7, 1e-6);
              // dlin is written, not accumulated: start both from garbage (NaN) to prove it
              const [d1, d2] = [e.upload(new Float32Array(n).fill(NaN)), e.upload(new Float32Array(n).fill(NaN))];
              const [b1, b2] = withDbias ? [e.upload(db0), e.upload(db0)] : [0, 0];
              e.wasm.silu_mask_backward(d1, b1, G, L, Bi, s2, M, R, C);
              e.wasm.silu_mask_backward_naive(d2, b2, G, L, Bi, s2, M, R, C);
              // same formula, same summation order; the relaxed build fuses one multiply-add: a few
              // ulps per element, and R such terms in each bias sum
              checkOp(`${e.build} dlin R=${R} C=${C}`, e.read(d1, n), e.read(d2, n), 1e-6, 1e-6);
              if (withDbias) checkOp(`${e.build} dbias R=${R} C=${C}`, e.read(b1, C), e.read(b2, C), R * 1e-6, 1e-6);
              // and against float64: d = g·m·s·(1 + x(1-s)), x = lin + b (rounding of s, x: 1e-6 relative)
              const ref = Array.from({ length: n }, (_, i) => {
                const x = lin[i] + (withBias ? bias[i % C] : 0), s = 1 / (1 + Math.exp(-x));
                return dout[i] * (withMask ? mask[i] : 1) * s * (1 + x * (1 - s));
              });
              checkOp(`${e.build} dlin vs float64 R=${R} C=${C}`, e.read(d1, n), ref, 1e-6, 1e-5);
            });
          }
        }),
      { numRuns: 40 },
    );
  });

  it("silu_mask_forward on extreme inputs: σ to absolute accuracy in the lower tail (both builds)", async () => {
    const xs = [-1e4, -200, -90, -87.5, -87.3, -87, -50, -1e-3, 0, 1e-3, 50, 87, 88, 200, 1e4, 3, -3];
    const n = xs.length;
    for (const e of await bothBuilds()) {
      e.scoped(() => {
        const out = e.alloc(n), sig = e.alloc(n);
        e.wasm.silu_mask_forward(out, sig, e.upload(xs), 0, 0, 1, n);
        const s64 = xs.map((x) => 1 / (1 + Math.exp(-x)));
        // sigmoid4_abs: a few ulps where σ(x) >= 1.2e-38, and about 1.2e-38 below (x < -87.3)
        checkOp(`${e.build} σ`, e.read(sig, n), s64, 1.3e-38, 1e-6);
        checkOp(`${e.build} x·σ(x)`, e.read(out, n), xs.map((x, i) => x * s64[i]), 1.3e-38 * 1e4, 1e-6);
      });
    }
  });

  it("residual_bias_forward / residual_mask_forward / residual_backward (both builds)", async () => {
    const engines = await bothBuilds();
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 13 }), fc.integer({ min: 1, max: 37 }), fc.boolean(), fc.boolean(), fc.boolean(),
        fc.constantFrom(0.5, 1, -0.75), fc.integer(),
        (R, C, withMask, withBias, withDo, alpha, seed) => {
          const n = R * C, r = rng(seed);
          const x = randn(n, r), o = randn(n, r), bias = randn(C, r), mask = maskOf(n, r), g = randn(n, r);
          const dx0 = randn(n, r), do0 = randn(n, r), db0 = randn(C, r);
          for (const e of engines) {
            e.scoped(() => {
              const X = e.upload(x), O = e.upload(o), Bi = withBias ? e.upload(bias) : 0, M = withMask ? e.upload(mask) : 0;
              const [y1, y2] = [e.alloc(n), e.alloc(n)];
              e.wasm.residual_bias_forward(y1, X, Bi, alpha, R, C);
              e.wasm.residual_bias_forward_naive(y2, X, Bi, alpha, R, C);
              // one multiply-add per element, fused in the relaxed build: 1 ulp of O(1) values
              checkOp(`${e.build} x + a b`, e.read(y1, n), e.read(y2, n), 3e-7, 3e-7);
              e.wasm.residual_mask_forward(y1, X, O, M, alpha, n);
              e.wasm.residual_mask_forward_naive(y2, X, O, M, alpha, n);
              checkOp(`${e.build} x + a m o`, e.read(y1, n), e.read(y2, n), 3e-7, 3e-7);
              const G = e.upload(g);
              const [dx1, dx2] = [e.upload(dx0), e.upload(dx0)];
              const [do1, do2] = withDo ? [e.upload(do0), e.upload(do0)] : [0, 0];
              const [db1, db2] = withBias ? [e.upload(db0), e.upload(db0)] : [0, 0];
              e.wasm.residual_backward(dx1, do1, db1, G, M, alpha, R, C);
              e.wasm.residual_backward_naive(dx2, do2, db2, G, M, alpha, R, C);
              // identical operations in identical order: equal up to nothing (no FMA here)
              expect(Array.from(e.read(dx1, n))).toEqual(Array.from(e.read(dx2, n)));
              if (withDo) expect(Array.from(e.read(do1, n))).toEqual(Array.from(e.read(do2, n)));
              if (withBias) expect(Array.from(e.read(db1, C))).toEqual(Array.from(e.read(db2, C)));
            });
          }
        }),
      { numRuns: 40 },
    );
  });
});

interface OpCase { BT: number; C: number; OC: number; padW: number; extraRows: number; mask: boolean; bias: boolean; alpha: number }

const CASES: OpCase[] = [
  { BT: 1, C: 1, OC: 1, padW: 0, extraRows: 0, mask: false, bias: true, alpha: 0.5 },
  { BT: 3, C: 5, OC: 7, padW: 2, extraRows: 1, mask: true, bias: true, alpha: 0.5 },
  { BT: 7, C: 13, OC: 5, padW: 0, extraRows: 0, mask: false, bias: false, alpha: 1 },
  { BT: 13, C: 3, OC: 9, padW: 3, extraRows: 2, mask: true, bias: false, alpha: 1 },
  { BT: 5, C: 7, OC: 13, padW: 1, extraRows: 0, mask: false, bias: true, alpha: 1 },
];

/** Data of one case: inp [BT, C], w [OC + extraRows, ldw], b [OC + extraRows], x [BT, OC], mask, G. */
function caseData(c: OpCase, seed: number) {
  const r = rng(seed), ldw = c.C + c.padW, OCm = c.OC + c.extraRows;
  return {
    ldw, OCm,
    inp: randn(c.BT * c.C, r), w: randn(OCm * ldw, r), b: randn(OCm, r), x: randn(c.BT * c.OC, r),
    mask: maskOf(c.BT * c.OC, r), G: randn(c.BT * c.OC, r),
  };
}

/** Runs a fused op on the tape, L = sum(out ⊙ G), and returns out and the gradients of every input. */
function runTape(e: Engine, c: OpCase, d: ReturnType<typeof caseData>, kind: "silu" | "residual", fused: boolean) {
  const tape = new Tape(e, 64);
  tape.begin();
  try {
    const n = c.BT * c.OC;
    const inp = tape.input(d.inp, true), w = tape.input(d.w, true), b = c.bias ? tape.input(d.b, true) : 0;
    const x = tape.input(d.x, true), m = c.mask ? tape.input(d.mask) : 0;
    let out: number;
    if (fused) {
      out = kind === "silu"
        ? tape.linearSilu(inp, w, b, m, c.BT, c.C, c.OC, d.ldw)
        : tape.linearResidual(x, inp, w, b, m, c.alpha, c.BT, c.C, c.OC, d.ldw);
    } else {
      // the chain the fused op replaces (encoder.ts before fusion)
      const lin = tape.linear(inp, w, b, c.BT, c.C, c.OC, d.ldw);
      if (kind === "silu") {
        const h = tape.silu(lin, n);
        out = m ? tape.mul(h, m, n) : h;
      } else {
        const o = m ? tape.mul(lin, m, n) : lin;
        out = tape.add(x, c.alpha === 1 ? o : tape.scale(o, c.alpha, n), n);
      }
    }
    tape.backward(tape.sum(tape.mul(out, tape.input(d.G), n), n));
    return {
      out: tape.dataOf(out), dinp: tape.gradOf(inp), dw: tape.gradOf(w), db: b ? tape.gradOf(b) : null,
      dx: kind === "residual" ? tape.gradOf(x) : null,
    };
  } finally {
    tape.end();
  }
}

describe("fused tape ops", () => {
  for (const kind of ["silu", "residual"] as const) {
    it(`linear_${kind}: gradients match float64 finite differences (both builds)`, async () => {
      for (const e of await bothBuilds()) {
        CASES.forEach((c, ci) => {
          const d = caseData(c, 11 + ci);
          // The float64 forward: L = Σ G ⊙ out, with out as documented in tape_fused.ts.
          const loss = (inp: Float64Array, w: Float64Array, b: Float64Array, x: Float64Array) => {
            let L = 0;
            for (let t = 0; t < c.BT; t++) {
              for (let o = 0; o < c.OC; o++) {
                let y = c.bias ? b[o] : 0;
                for (let k = 0; k < c.C; k++) y += inp[t * c.C + k] * w[o * d.ldw + k];
                const i = t * c.OC + o, m = c.mask ? d.mask[i] : 1;
                L += d.G[i] * (kind === "silu" ? silu64(y) * m : x[i] + c.alpha * m * y);
              }
            }
            return L;
          };
          const [inp, w, b, x] = [d.inp, d.w, d.b, d.x].map((a) => Float64Array.from(a));
          const all = (n: number) => Array.from({ length: n }, (_, i) => i);
          const wIdx = all(d.OCm * d.ldw).filter((i) => i % d.ldw < c.C && Math.floor(i / d.ldw) < c.OC);
          // h = 1e-4 on O(1) inputs: truncation ~h²·|L'''| ~ 1e-8, rounding ~1e-16/h ~ 1e-12
          const h = 1e-4;
          const gInp = finiteDiff((v) => loss(v, w, b, x), inp, all(c.BT * c.C), h);
          const gW = finiteDiff((v) => loss(inp, v, b, x), w, wIdx, h);
          const gB = finiteDiff((v) => loss(inp, w, v, x), b, all(c.OC), h);
          const gX = finiteDiff((v) => loss(inp, w, b, v), x, all(c.BT * c.OC), h);
          const got = runTape(e, c, d, kind, true);
          const tag = `${e.build} ${kind} BT=${c.BT} C=${c.C} OC=${c.OC} mask=${c.mask}`;
          // f32 sums of <= 13 products of O(1) terms, times a mask <= 1.25 and SiLU' <= 1.1:
          // 13 * 13 * u * 1.25 * 1.1 < 2e-5 absolute on values of O(1..10)
          checkOp(`${tag} dinp`, got.dinp, gInp, 3e-5, 1e-5);
          checkOp(`${tag} dw`, wIdx.map((i) => got.dw[i]), gW, 3e-5, 1e-5);
          // rows and columns outside the subnet's slice get no gradient
          expect(all(d.OCm * d.ldw).filter((i) => !wIdx.includes(i)).every((i) => got.dw[i] === 0)).toBe(true);
          if (got.db) {
            checkOp(`${tag} db`, got.db.slice(0, c.OC), gB, 3e-5, 1e-5);
            expect(Array.from(got.db.slice(c.OC)).every((v) => v === 0)).toBe(true);
          }
          if (got.dx) checkOp(`${tag} dx`, got.dx, gX, 1e-6); // dx = G exactly (one f32 add onto 0)
        });
      }
    });

    it(`linear_${kind} equals the unfused chain of ops (both builds)`, async () => {
      for (const e of await bothBuilds()) {
        CASES.forEach((c, ci) => {
          const d = caseData(c, 101 + ci);
          const f = runTape(e, c, d, kind, true), u = runTape(e, c, d, kind, false);
          const tag = `${e.build} ${kind} BT=${c.BT} C=${c.C} OC=${c.OC} mask=${c.mask}`;
          // the same math in another order (x + alpha·b then the GEMM with alpha; the mask and SiLU' in
          // one expression): a few f32 roundings of O(10) values
          checkOp(`${tag} out`, f.out, u.out, 1e-5, 1e-5);
          checkOp(`${tag} dinp`, f.dinp, u.dinp, 1e-5, 1e-5);
          checkOp(`${tag} dw`, f.dw, u.dw, 1e-5, 1e-5);
          if (f.db && u.db) checkOp(`${tag} db`, f.db, u.db, 1e-5, 1e-5);
          if (f.dx && u.dx) checkOp(`${tag} dx`, f.dx, u.dx, 0);
        });
      }
    });
  }
});
