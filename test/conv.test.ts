// conv2d (im2col + gemm) and depthwise dwconv1d: forward and gradients against PyTorch fixtures
// (test/ref/conv.py), gradients against float64 central finite differences of an independent float64
// forward written here, and the SIMD kernels against their scalar `_naive` twins in both builds.
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { bothBuilds, engine, finiteDiff, randn, rng } from "./helpers.js";
import { checkOp, readFixture } from "./harness.js";
import { conv2dOutShape, conv2dScratchFloats, convOutLength, type Conv2dDims, type Engine } from "../src/index.js";

const fixture = readFixture("conv.json", "test/ref/conv.py");

// ---------- float64 references (direct loops, no im2col) ----------

function conv2dRef(x: ArrayLike<number>, w: ArrayLike<number>, b: ArrayLike<number> | null, d: Conv2dDims): Float64Array {
  const [To, Fo] = conv2dOutShape(d);
  const y = new Float64Array(d.B * d.Cout * To * Fo);
  for (let n = 0; n < d.B; n++)
    for (let co = 0; co < d.Cout; co++)
      for (let to = 0; to < To; to++)
        for (let fo = 0; fo < Fo; fo++) {
          let a = b ? b[co] : 0;
          for (let ci = 0; ci < d.Cin; ci++)
            for (let kt = 0; kt < d.KT; kt++) {
              const t = to * d.ST + kt - d.padTLeft;
              if (t < 0 || t >= d.T) continue;
              for (let kf = 0; kf < d.KF; kf++)
                a += w[((co * d.Cin + ci) * d.KT + kt) * d.KF + kf] * x[((n * d.Cin + ci) * d.T + t) * d.F + fo * d.SF + kf];
            }
          y[((n * d.Cout + co) * To + to) * Fo + fo] = a;
        }
  return y;
}

interface Dw { B: number; T: number; C: number; K: number; causal: boolean }

function dwconv1dRef(x: ArrayLike<number>, w: ArrayLike<number>, b: ArrayLike<number> | null, d: Dw): Float64Array {
  const P = d.causal ? d.K - 1 : (d.K - 1) >> 1;
  const y = new Float64Array(d.B * d.T * d.C);
  for (let n = 0; n < d.B; n++)
    for (let t = 0; t < d.T; t++)
      for (let c = 0; c < d.C; c++) {
        let a = b ? b[c] : 0;
        for (let k = 0; k < d.K; k++) {
          const s = t + k - P;
          if (s >= 0 && s < d.T) a += w[c * d.K + k] * x[(n * d.T + s) * d.C + c];
        }
        y[(n * d.T + t) * d.C + c] = a;
      }
  return y;
}

const dot = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
};

// ---------- kernel runners: inputs copied in, fresh outputs back ----------

interface Grads { dinp: Float32Array; dweight: Float32Array; dbias: Float32Array }

/** Dense weight rows [Cout, CKK] spread to rows of ldw floats, the padding filled with `pad`. */
function strided(w: ArrayLike<number>, rows: number, ldw: number, pad: number): Float32Array {
  const cols = w.length / rows;
  const out = new Float32Array(rows * ldw).fill(pad);
  for (let r = 0; r < rows; r++) for (let j = 0; j < cols; j++) out[r * ldw + j] = w[r * cols + j];
  return out;
}

/** Rows of ldw floats back to dense [rows, cols]; the padding columns must still hold `pad`. */
function dense(ws: Float32Array, rows: number, cols: number, ldw: number, pad: number): Float32Array {
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < ldw; j++) {
      if (j < cols) out[r * cols + j] = ws[r * ldw + j];
      else if (!Object.is(ws[r * ldw + j], pad)) throw new Error(`weight padding changed at row ${r}, column ${j}`);
    }
  }
  return out;
}

/** Forward; the weight is stored with rows of `padW` extra NaN floats (ldw = CKK + padW; 0 passes ldw = 0). */
function runConv2d(e: Engine, d: Conv2dDims, x: ArrayLike<number>, w: ArrayLike<number>, b: ArrayLike<number> | null, naive = false, padW = 0): Float32Array {
  return e.scoped(() => {
    const [To, Fo] = conv2dOutShape(d);
    const n = d.B * d.Cout * To * Fo;
    const out = e.upload(new Float32Array(n).fill(NaN)); // the forward must overwrite every element
    const ldw = padW ? w.length / d.Cout + padW : 0;
    // NaN padding: a kernel that reads past the leading CKK columns of a row poisons the output.
    const xp = e.upload(x), wp = e.upload(padW ? strided(w, d.Cout, ldw, NaN) : w), bp = b ? e.upload(b) : 0;
    const args = [d.B, d.Cin, d.T, d.F, d.Cout, d.KT, d.KF, d.ST, d.SF, d.padTLeft, d.padTRight, ldw] as const;
    if (naive) e.wasm.conv2d_forward_naive(out, xp, wp, bp, ...args);
    else e.wasm.conv2d_forward(out, xp, wp, bp, e.alloc(conv2dScratchFloats(d)), ...args);
    return e.read(out, n);
  });
}

/** Backward with gradients pre-filled with `g0` (accumulation is part of the contract). */
function runConv2dBackward(e: Engine, d: Conv2dDims, x: ArrayLike<number>, w: ArrayLike<number>, dout: ArrayLike<number>,
  g0: Grads, want: { dinp: boolean; dweight: boolean; dbias: boolean }, naive = false, padW = 0): Grads {
  return e.scoped(() => {
    const CKK = w.length / d.Cout, ldw = padW ? CKK + padW : 0;
    // Weight padding NaN (must not be read); dweight padding -7 (must not be written).
    const dinp = e.upload(g0.dinp), dweight = e.upload(padW ? strided(g0.dweight, d.Cout, ldw, -7) : g0.dweight);
    const dbias = e.upload(g0.dbias);
    const xp = e.upload(x), wp = e.upload(padW ? strided(w, d.Cout, ldw, NaN) : w), gp = e.upload(dout);
    const args = [d.B, d.Cin, d.T, d.F, d.Cout, d.KT, d.KF, d.ST, d.SF, d.padTLeft, d.padTRight, ldw] as const;
    const di = want.dinp ? dinp : 0, dw = want.dweight ? dweight : 0, db = want.dbias ? dbias : 0;
    if (naive) e.wasm.conv2d_backward_naive(di, dw, db, gp, xp, wp, ...args);
    else e.wasm.conv2d_backward(di, dw, db, gp, xp, wp, e.alloc(conv2dScratchFloats(d)), ...args);
    const dwRead = e.read(dweight, padW ? d.Cout * ldw : g0.dweight.length);
    return {
      dinp: e.read(dinp, g0.dinp.length),
      dweight: padW ? dense(dwRead, d.Cout, CKK, ldw, -7) : dwRead,
      dbias: e.read(dbias, g0.dbias.length),
    };
  });
}

function runDw(e: Engine, d: Dw, x: ArrayLike<number>, w: ArrayLike<number>, b: ArrayLike<number> | null, naive = false): Float32Array {
  return e.scoped(() => {
    const n = d.B * d.T * d.C;
    const out = e.upload(new Float32Array(n).fill(NaN));
    const f = naive ? e.wasm.dwconv1d_forward_naive : e.wasm.dwconv1d_forward;
    f(out, e.upload(x), e.upload(w), b ? e.upload(b) : 0, d.B, d.T, d.C, d.K, +d.causal);
    return e.read(out, n);
  });
}

function runDwBackward(e: Engine, d: Dw, x: ArrayLike<number>, w: ArrayLike<number>, dout: ArrayLike<number>, g0: Grads,
  want: { dinp: boolean; dweight: boolean; dbias: boolean }, naive = false): Grads {
  return e.scoped(() => {
    const dinp = e.upload(g0.dinp), dweight = e.upload(g0.dweight), dbias = e.upload(g0.dbias);
    const f = naive ? e.wasm.dwconv1d_backward_naive : e.wasm.dwconv1d_backward;
    f(want.dinp ? dinp : 0, want.dweight ? dweight : 0, want.dbias ? dbias : 0, e.upload(dout), e.upload(x), e.upload(w),
      d.B, d.T, d.C, d.K, +d.causal);
    return { dinp: e.read(dinp, g0.dinp.length), dweight: e.read(dweight, g0.dweight.length), dbias: e.read(dbias, g0.dbias.length) };
  });
}

const addF64 = (a: ArrayLike<number>, b: ArrayLike<number>) => Float64Array.from(a, (v, i) => v + b[i]);
const ALL = { dinp: true, dweight: true, dbias: true };

/** Up to `n` distinct indices of [0, len), always including the first and the last. */
function someIndices(len: number, n: number, r: () => number): number[] {
  const s = new Set<number>([0, len - 1]);
  while (s.size < Math.min(n, len)) s.add(Math.floor(r() * len));
  return [...s];
}

// ---------- conv2d ----------

describe("conv2d", () => {
  it("matches the PyTorch fixture (F.pad + F.conv2d and autograd), forward and all gradients, both builds", async () => {
    for (const e of await bothBuilds()) {
      for (const c of fixture.conv2d) {
        const d: Conv2dDims = { ...c, padTLeft: c.padT_left, padTRight: c.padT_right };
        expect(conv2dOutShape(d)).toEqual([c.To, c.Fo]);
        const tag = `${e.build} ${c.name}`;
        // Sums of Cin*KT*KF <= 27 products of N(0,1) x N(0,0.25) values in f32 vs float64: 2e-6 abs + 1e-5 rel.
        checkOp(`${tag} out`, runConv2d(e, d, c.inp, c.weight, c.bias), c.out, 2e-6, 1e-5);
        checkOp(`${tag} out (naive)`, runConv2d(e, d, c.inp, c.weight, c.bias, true), c.out, 2e-6, 1e-5);
        const r = rng(7);
        const g0 = { dinp: randn(c.inp.length, r), dweight: randn(c.weight.length, r), dbias: randn(c.Cout, r) };
        for (const naive of [false, true]) {
          const g = runConv2dBackward(e, d, c.inp, c.weight, c.dout, g0, ALL, naive);
          // dinp: <= Cout*KT*KF = 45 terms; dweight/dbias: B*T'*F' <= 60 terms, plus the pre-filled g0: 1e-5 abs + 1e-5 rel.
          checkOp(`${tag} dinp`, g.dinp, addF64(g0.dinp, c.dinp), 1e-5, 1e-5);
          checkOp(`${tag} dweight`, g.dweight, addF64(g0.dweight, c.dweight), 1e-5, 1e-5);
          if (c.bias) checkOp(`${tag} dbias`, g.dbias, addF64(g0.dbias, c.dbias), 1e-5, 1e-5);
        }
      }
    }
  });

  const dims = fc.record({
    B: fc.integer({ min: 1, max: 2 }), Cin: fc.integer({ min: 1, max: 4 }), T: fc.integer({ min: 5, max: 13 }),
    F: fc.integer({ min: 7, max: 20 }), Cout: fc.integer({ min: 1, max: 5 }), KT: fc.integer({ min: 1, max: 3 }),
    KF: fc.integer({ min: 1, max: 3 }), ST: fc.integer({ min: 1, max: 2 }), SF: fc.integer({ min: 1, max: 3 }),
    padTLeft: fc.integer({ min: 0, max: 2 }), padTRight: fc.integer({ min: 0, max: 1 }),
  });

  it("forward matches a float64 reference; every gradient matches float64 central finite differences (strided weights too)", async () => {
    const e = await engine();
    fc.assert(
      fc.property(dims, fc.boolean(), fc.integer({ min: 0, max: 3 }), fc.integer(), (d, withBias, padW, seed) => {
        const r = rng(seed);
        const [To, Fo] = conv2dOutShape(d);
        const x = randn(d.B * d.Cin * d.T * d.F, r), w = randn(d.Cout * d.Cin * d.KT * d.KF, r), b = withBias ? randn(d.Cout, r) : null;
        const dout = randn(d.B * d.Cout * To * Fo, r);
        // Sums of <= 36 products of values in [-1, 1] in f32: 1e-5 abs.
        // The kernel reads the weight as rows of ldw = CKK + padW floats (padW = 0: dense); the reference is dense.
        checkOp("conv2d forward", runConv2d(e, d, x, w, b, false, padW), conv2dRef(x, w, b, d), 1e-5, 1e-5);
        const zero = { dinp: new Float32Array(x.length), dweight: new Float32Array(w.length), dbias: new Float32Array(d.Cout) };
        const g = runConv2dBackward(e, d, x, w, dout, zero, ALL, false, padW);
        // L = <conv2d(x, w, b), dout> in float64; L is linear in each argument, so central differences are exact
        // up to float64 rounding (h = 1e-3 keeps that rounding ~1e-12).
        const x64 = Float64Array.from(x), w64 = Float64Array.from(w), b64 = Float64Array.from(b ?? new Float32Array(d.Cout));
        const L = () => dot(conv2dRef(x64, w64, b ? b64 : null, d), dout);
        const ix = someIndices(x.length, 40, r), iw = someIndices(w.length, 40, r);
        // Kernel gradients are f32 sums of <= 120 products of values in [-1, 1]: 3e-5 abs.
        const pick = (a: Float32Array, idx: number[]) => idx.map((i) => a[i]);
        checkOp("dinp vs FD", pick(g.dinp, ix), finiteDiff(() => L(), x64, ix, 1e-3), 3e-5, 1e-5);
        checkOp("dweight vs FD", pick(g.dweight, iw), finiteDiff(() => L(), w64, iw, 1e-3), 3e-5, 1e-5);
        if (b) {
          const ib = [...Array(d.Cout).keys()];
          checkOp("dbias vs FD", g.dbias, finiteDiff(() => L(), b64, ib, 1e-3), 3e-5, 1e-5);
        }
      }),
      { numRuns: 30 },
    );
  });

  it("im2col + gemm matches the direct naive twin on awkward shapes, strided weights, each gradient alone, both builds", async () => {
    for (const e of await bothBuilds()) {
      fc.assert(
        fc.property(dims, fc.integer({ min: 0, max: 7 }), fc.integer({ min: 0, max: 5 }), fc.integer(), (d, mask, padW, seed) => {
          const r = rng(seed);
          const [To, Fo] = conv2dOutShape(d);
          const x = randn(d.B * d.Cin * d.T * d.F, r), w = randn(d.Cout * d.Cin * d.KT * d.KF, r), b = randn(d.Cout, r);
          const dout = randn(d.B * d.Cout * To * Fo, r);
          // Same sums in another order (gemm's, FMA in the relaxed build): 1e-5 abs + 1e-5 rel.
          // Both sides read the weight as rows of ldw = CKK + padW floats (padW = 0: ldw passed as 0, dense).
          checkOp(`${e.build} forward`, runConv2d(e, d, x, w, b, false, padW), runConv2d(e, d, x, w, b, true, padW), 1e-5, 1e-5);
          const g0 = { dinp: randn(x.length, r), dweight: randn(w.length, r), dbias: randn(d.Cout, r) };
          const want = { dinp: !!(mask & 1), dweight: !!(mask & 2), dbias: !!(mask & 4) };
          const g = runConv2dBackward(e, d, x, w, dout, g0, want, false, padW);
          const n = runConv2dBackward(e, d, x, w, dout, g0, want, true, padW);
          checkOp(`${e.build} dinp`, g.dinp, n.dinp, 1e-5, 1e-5);
          checkOp(`${e.build} dweight`, g.dweight, n.dweight, 2e-5, 1e-5);
          checkOp(`${e.build} dbias`, g.dbias, n.dbias, 2e-5, 1e-5);
          if (!want.dinp) expect(g.dinp).toEqual(g0.dinp); // a gradient passed as 0 is left alone
          if (!want.dweight) expect(g.dweight).toEqual(g0.dweight);
        }),
        { numRuns: 60 },
      );
    }
  });

  it("sizes its scratch as the host computes it, and the front end's shapes", async () => {
    const e = await engine();
    const d: Conv2dDims = { B: 8, Cin: 1, T: 400, F: 80, Cout: 256, KT: 3, KF: 3, ST: 2, SF: 2, padTLeft: 2, padTRight: 0 };
    // Hand-computed: causal T' = (400 + 2 - 3) / 2 + 1 = 200, F' = (80 - 3) / 2 + 1 = 39; no padding T' = 199.
    expect(conv2dOutShape(d)).toEqual([200, 39]);
    expect(conv2dOutShape({ ...d, padTLeft: 0 })).toEqual([199, 39]);
    expect(e.wasm.conv2d_scratch_size(1, 400, 80, 3, 3, 2, 2, 2, 0)).toBe(9 * 200 * 39);
    expect(e.wasm.conv2d_scratch_size(256, 200, 39, 3, 3, 2, 2, 2, 0)).toBe(conv2dScratchFloats({ ...d, Cin: 256, T: 200, F: 39 }));
    expect(() => convOutLength(2, 3, 2)).toThrow(/shorter than the kernel/);
  });
});

// ---------- the front end: conv, ReLU, conv, permute ----------

describe("conv2d subsampling front end", () => {
  it("conv(1->C) + ReLU + conv(C->C) + permute_bctf_to_btcf matches PyTorch, forward and weight gradients", async () => {
    for (const e of await bothBuilds()) {
      for (const c of fixture.subsampling) {
        const tag = `${e.build} ${c.name}`;
        const d1: Conv2dDims = { B: c.B, Cin: 1, T: c.T, F: c.F, Cout: c.C, KT: 3, KF: 3, ST: 2, SF: 2, padTLeft: 2, padTRight: 0 };
        const [T1, F1] = conv2dOutShape(d1);
        const d2: Conv2dDims = { ...d1, Cin: c.C, T: T1, F: F1 };
        const [T2, F2] = conv2dOutShape(d2);
        expect([T2, F2]).toEqual([c.To, c.Fo]);
        const a = (d: Conv2dDims) => [d.B, d.Cin, d.T, d.F, d.Cout, d.KT, d.KF, d.ST, d.SF, d.padTLeft, d.padTRight, 0] as const;
        const n1 = c.B * c.C * T1 * F1, n2 = c.B * c.C * T2 * F2;
        e.scoped(() => {
          const x = e.upload(c.inp), w1 = e.upload(c.w1), b1 = e.upload(c.b1), w2 = e.upload(c.w2), b2 = e.upload(c.b2);
          const col = e.alloc(Math.max(conv2dScratchFloats(d1), conv2dScratchFloats(d2)));
          const y1 = e.alloc(n1), y2 = e.alloc(n2), y = e.alloc(n2);
          e.wasm.conv2d_forward(y1, x, w1, b1, col, ...a(d1));
          const pre1 = e.read(y1, n1);
          e.write(y1, pre1.map((v) => Math.max(v, 0))); // the ReLU is not this file's kernel: done here in JS
          e.wasm.conv2d_forward(y2, y1, w2, b2, col, ...a(d2));
          e.wasm.permute_bctf_to_btcf_forward(y, y2, c.B, c.C, T2, F2);
          // Two chained sums of <= 27 products of O(1) values in f32 vs float64: 2e-5 abs + 1e-5 rel.
          checkOp(`${tag} out`, e.read(y, n2), c.out, 2e-5, 1e-5);
          const dy = e.upload(c.dout), dy2 = e.upload(new Float32Array(n2)), dy1 = e.upload(new Float32Array(n1));
          const dw1 = e.upload(new Float32Array(c.w1.length)), db1 = e.upload(new Float32Array(c.C));
          const dw2 = e.upload(new Float32Array(c.w2.length)), db2 = e.upload(new Float32Array(c.C));
          e.wasm.permute_bctf_to_btcf_backward(dy2, dy, c.B, c.C, T2, F2);
          e.wasm.conv2d_backward(dy1, dw2, db2, dy2, y1, w2, col, ...a(d2));
          e.write(dy1, e.read(dy1, n1).map((g, i) => (pre1[i] > 0 ? g : 0))); // ReLU backward, in JS
          e.wasm.conv2d_backward(0, dw1, db1, dy1, x, w1, col, ...a(d1)); // no gradient for the log-mel
          // Weight gradients sum B*T'*F' <= 80 products through two layers: 5e-5 abs + 1e-5 rel.
          checkOp(`${tag} dw2`, e.read(dw2, c.w2.length), c.dw2, 5e-5, 1e-5);
          checkOp(`${tag} db2`, e.read(db2, c.C), c.db2, 5e-5, 1e-5);
          checkOp(`${tag} dw1`, e.read(dw1, c.w1.length), c.dw1, 5e-5, 1e-5);
          checkOp(`${tag} db1`, e.read(db1, c.C), c.db1, 5e-5, 1e-5);
        });
      }
    }
  });
});

// ---------- dwconv1d ----------

describe("dwconv1d", () => {
  it("matches the PyTorch fixture (F.conv1d, groups=C, and autograd), forward and all gradients, both builds", async () => {
    for (const e of await bothBuilds()) {
      for (const c of fixture.dwconv1d) {
        const d: Dw = { B: c.B, T: c.T, C: c.C, K: c.K, causal: !!c.causal };
        const tag = `${e.build} ${c.name}`;
        // Sums of <= K = 7 products of N(0,1) values in f32 vs float64: 2e-6 abs + 1e-5 rel.
        for (const naive of [false, true]) checkOp(`${tag} out`, runDw(e, d, c.inp, c.weight, c.bias, naive), c.out, 2e-6, 1e-5);
        const r = rng(11);
        const g0 = { dinp: randn(c.inp.length, r), dweight: randn(c.weight.length, r), dbias: randn(c.C, r) };
        for (const naive of [false, true]) {
          const g = runDwBackward(e, d, c.inp, c.weight, c.dout, g0, ALL, naive);
          // dweight/dbias: <= B*T = 18 products, dinp <= K; plus the pre-filled g0: 1e-5 abs + 1e-5 rel.
          checkOp(`${tag} dinp`, g.dinp, addF64(g0.dinp, c.dinp), 1e-5, 1e-5);
          checkOp(`${tag} dweight`, g.dweight, addF64(g0.dweight, c.dweight), 1e-5, 1e-5);
          if (c.bias) checkOp(`${tag} dbias`, g.dbias, addF64(g0.dbias, c.dbias), 1e-5, 1e-5);
        }
      }
    }
  });

  const dims = fc.record({
    B: fc.integer({ min: 1, max: 2 }), T: fc.integer({ min: 1, max: 13 }), C: fc.integer({ min: 1, max: 37 }),
    K: fc.integer({ min: 1, max: 9 }), causal: fc.boolean(),
  }).filter((d) => d.causal || d.K % 2 === 1); // symmetric padding is defined for odd K

  it("forward matches a float64 reference; every gradient matches float64 central finite differences", async () => {
    const e = await engine();
    fc.assert(
      fc.property(dims, fc.boolean(), fc.integer(), (d, withBias, seed) => {
        const r = rng(seed);
        const x = randn(d.B * d.T * d.C, r), w = randn(d.C * d.K, r), b = withBias ? randn(d.C, r) : null;
        const dout = randn(x.length, r);
        // Sums of <= 10 products of values in [-1, 1] in f32: 5e-6 abs.
        checkOp("dwconv1d forward", runDw(e, d, x, w, b), dwconv1dRef(x, w, b, d), 5e-6, 1e-5);
        const zero = { dinp: new Float32Array(x.length), dweight: new Float32Array(w.length), dbias: new Float32Array(d.C) };
        const g = runDwBackward(e, d, x, w, dout, zero, ALL);
        // L = <dwconv1d(x, w, b), dout> in float64, linear in each argument: central differences exact to ~1e-12.
        const x64 = Float64Array.from(x), w64 = Float64Array.from(w), b64 = Float64Array.from(b ?? new Float32Array(d.C));
        const L = () => dot(dwconv1dRef(x64, w64, b ? b64 : null, d), dout);
        const ix = someIndices(x.length, 40, r), iw = someIndices(w.length, 40, r), ib = someIndices(d.C, 40, r);
        const pick = (a: Float32Array, idx: number[]) => idx.map((i) => a[i]);
        // Kernel gradients: f32 sums of <= B*T = 26 products of values in [-1, 1]: 1e-5 abs.
        checkOp("dinp vs FD", pick(g.dinp, ix), finiteDiff(() => L(), x64, ix, 1e-3), 1e-5, 1e-5);
        checkOp("dweight vs FD", pick(g.dweight, iw), finiteDiff(() => L(), w64, iw, 1e-3), 1e-5, 1e-5);
        if (b) checkOp("dbias vs FD", pick(g.dbias, ib), finiteDiff(() => L(), b64, ib, 1e-3), 1e-5, 1e-5);
      }),
      { numRuns: 60 },
    );
  });

  it("SIMD kernels match the naive twins on awkward shapes (C across the 16/4/1 blocks), both builds", async () => {
    for (const e of await bothBuilds()) {
      fc.assert(
        fc.property(dims, fc.integer({ min: 0, max: 7 }), fc.integer(), (d, mask, seed) => {
          const r = rng(seed);
          const x = randn(d.B * d.T * d.C, r), w = randn(d.C * d.K, r), b = randn(d.C, r), dout = randn(x.length, r);
          // Same products summed in the same order; the relaxed build fuses multiply-adds: 2e-6 abs + 1e-6 rel.
          checkOp(`${e.build} forward`, runDw(e, d, x, w, b), runDw(e, d, x, w, b, true), 2e-6, 1e-6);
          const g0 = { dinp: randn(x.length, r), dweight: randn(w.length, r), dbias: randn(d.C, r) };
          const want = { dinp: !!(mask & 1), dweight: !!(mask & 2), dbias: !!(mask & 4) };
          const g = runDwBackward(e, d, x, w, dout, g0, want);
          const n = runDwBackward(e, d, x, w, dout, g0, want, true);
          // dweight/dbias sums of <= 26 terms in another order: 1e-5 abs + 1e-5 rel.
          checkOp(`${e.build} dinp`, g.dinp, n.dinp, 5e-6, 1e-5);
          checkOp(`${e.build} dweight`, g.dweight, n.dweight, 1e-5, 1e-5);
          checkOp(`${e.build} dbias`, g.dbias, n.dbias, 1e-5, 1e-5);
        }),
        { numRuns: 150 },
      );
    }
  });

  it("rejects K above DWCONV1D_MAX_K with an engine error", async () => {
    const e = await engine();
    const maxK = Number(e.wasm.DWCONV1D_MAX_K.valueOf());
    expect(maxK).toBe(1024);
    e.scoped(() => {
      const p = e.alloc(maxK + 1);
      expect(() => e.wasm.dwconv1d_forward(p, p, p, 0, 1, 1, 1, maxK + 1, 1)).toThrow(/K out of range/);
    });
  });
});
