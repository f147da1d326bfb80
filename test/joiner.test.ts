// Joiner (assembly/transducer/joiner.ts) against a float64 reference, float64 finite differences and its naive twin.
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { joinerBackward, joinerForward, joinerParams, namedShapeOffsets, type Engine, type JoinerConfig } from "../src/index.js";
import { engine, finiteDiff, randn, rng } from "./helpers.js";
import { checkOp, readFixture } from "./harness.js";

interface Dims { B: number; T: number; U: number; Denc: number; Dpred: number; J: number; V: number; pad: number }

/** Random inputs; weights stored with `pad` extra columns (a subnet's leading slice of a wider matrix). */
function inputs(d: Dims, seed: number) {
  const r = rng(seed);
  const { B, T, U, Denc, Dpred, J, V, pad } = d;
  return {
    enc: randn(B * T * Denc, r), pred: randn(B * U * Dpred, r),
    w_enc: randn(J * (Denc + pad), r, 0.7), b_enc: randn(J, r, 0.3), w_pred: randn(J * (Dpred + pad), r, 0.7), b_pred: randn(J, r, 0.3),
    w_out: randn(V * (J + pad), r, 0.7), b_out: randn(V, r, 0.3), G: randn(B * T * U * V, r),
  };
}
type Inputs = ReturnType<typeof inputs>;

/** float64 joiner; returns sum(logits * G) and the logits. */
function joinerRef(d: Dims, v: Record<keyof Inputs, ArrayLike<number>>): { loss: number; logits: Float64Array } {
  const { B, T, U, Denc, Dpred, J, V, pad } = d;
  const lin = (x: ArrayLike<number>, xo: number, w: ArrayLike<number>, ldw: number, bias: ArrayLike<number>, nOut: number, nIn: number) =>
    Array.from({ length: nOut }, (_, j) => { let s = bias[j]; for (let k = 0; k < nIn; k++) s += w[j * ldw + k] * x[xo + k]; return s; });
  const logits = new Float64Array(B * T * U * V);
  let loss = 0;
  for (let b = 0; b < B; b++) for (let t = 0; t < T; t++) {
    const e = lin(v.enc, (b * T + t) * Denc, v.w_enc, Denc + pad, v.b_enc, J, Denc);
    for (let u = 0; u < U; u++) {
      const p = lin(v.pred, (b * U + u) * Dpred, v.w_pred, Dpred + pad, v.b_pred, J, Dpred);
      const h = e.map((ej, j) => Math.tanh(ej + p[j]));
      const z = lin(h, 0, v.w_out, J + pad, v.b_out, V, J);
      z.forEach((zk, k) => { const i = ((b * T + t) * U + u) * V + k; logits[i] = zk; loss += zk * v.G[i]; });
    }
  }
  return { loss, logits };
}

function runJoiner(e: Engine, d: Dims, v: Inputs, naive = false) {
  const { B, T, U, Denc, Dpred, J, V, pad } = d;
  return e.scoped(() => {
    const p = Object.fromEntries(Object.entries(v).map(([k, a]) => [k, e.upload(a)])) as Record<keyof Inputs, number>;
    const logits = e.alloc(B * T * U * V), h = e.alloc(B * T * U * J);
    const fs = e.alloc(e.wasm.joiner_forward_scratch(B, T, U, J)), bs = e.alloc(e.wasm.joiner_backward_scratch(B, T, U, J));
    (naive ? e.wasm.joiner_forward_naive : e.wasm.joiner_forward)(logits, h, p.enc, p.pred, p.w_enc, p.b_enc, p.w_pred, p.b_pred, p.w_out, p.b_out, fs, B, T, U, Denc, Dpred, J, V, Denc + pad, Dpred + pad, J + pad);
    const sizes = { enc: B * T * Denc, pred: B * U * Dpred, w_enc: J * (Denc + pad), b_enc: J, w_pred: J * (Dpred + pad), b_pred: J, w_out: V * (J + pad), b_out: V };
    const g = Object.fromEntries(Object.entries(sizes).map(([k, n]) => [k, e.upload(new Float32Array(n))])) as Record<keyof typeof sizes, number>;
    (naive ? e.wasm.joiner_backward_naive : e.wasm.joiner_backward)(g.enc, g.pred, g.w_enc, g.b_enc, g.w_pred, g.b_pred, g.w_out, g.b_out, h, p.G, p.enc, p.pred, p.w_enc, p.w_pred, p.w_out, bs, B, T, U, Denc, Dpred, J, V, Denc + pad, Dpred + pad, J + pad);
    const grads = Object.fromEntries(Object.entries(sizes).map(([k, n]) => [k, e.read(g[k as keyof typeof sizes], n)]));
    return { logits: e.read(logits, B * T * U * V), grads };
  });
}

const dimsArb = (max: number) => fc.record({
  B: fc.integer({ min: 1, max: 2 }), T: fc.integer({ min: 1, max: 3 }), U: fc.integer({ min: 1, max: 3 }), Denc: fc.integer({ min: 1, max }),
  Dpred: fc.integer({ min: 1, max }), J: fc.integer({ min: 1, max }), V: fc.integer({ min: 1, max }), pad: fc.integer({ min: 0, max: 2 }),
});

const fixture = readFixture("joiner.json", "test/ref/joiner.py");

describe("joiner", () => {
  it("matches a torch joiner (Linear, Linear, add, tanh, Linear): logits and all gradients", async () => {
    expect([fixture.magic, fixture.version, fixture.generator]).toEqual(["todm-fixture", 1, "test/ref/joiner.py"]);
    const e = await engine();
    for (const c of fixture.cases) {
      const cfg: JoinerConfig = { encDim: c.Denc, predDim: c.Dpred, joinDim: c.J, vocab: c.V };
      const specs = joinerParams(cfg);
      expect(specs.map((s) => s.name)).toEqual(Object.keys(c.params));
      const { total } = namedShapeOffsets(specs);
      const got = e.scoped(() => {
        const params = e.upload(specs.flatMap((s) => c.params[s.name] as number[])), dparams = e.upload(new Float32Array(total));
        const enc = e.upload(c.enc), pred = e.upload(c.pred);
        const denc = e.upload(new Float32Array(c.enc.length)), dpred = e.upload(new Float32Array(c.pred.length));
        const saved = joinerForward(e, cfg, params, enc, pred, c.B, c.T, c.U1);
        joinerBackward(e, cfg, params, dparams, saved, e.upload(c.G), denc, dpred);
        return { logits: e.read(saved.logits, c.logits.length), grad: e.read(dparams, total), denc: e.read(denc, c.enc.length), dpred: e.read(dpred, c.pred.length) };
      });
      // f32 on both sides, sums of <= 16 products of O(1) values; gradients sum over <= 30 lattice nodes: 2e-5.
      checkOp("joiner logits", got.logits, c.logits, 2e-5, 1e-5);
      checkOp("joiner param grads", got.grad, specs.flatMap((s) => c.grads[s.name] as number[]), 2e-5, 1e-5);
      checkOp("joiner denc", got.denc, c.denc, 2e-5, 1e-5);
      checkOp("joiner dpred", got.dpred, c.dpred, 2e-5, 1e-5);
    }
  });

  it("forward and backward equal a float64 joiner and its finite differences (strided weights)", async () => {
    const e = await engine();
    fc.assert(
      fc.property(dimsArb(6), fc.integer(), (d, seed) => {
        const v = inputs(d, seed);
        const got = runJoiner(e, d, v);
        // f32 sums of <= 6 products of O(1) values, tanh4 absolute error ~2e-7: 1e-5.
        checkOp("logits", got.logits, joinerRef(d, v).logits, 1e-5, 1e-5);
        for (const name of ["enc", "pred", "w_enc", "b_enc", "w_pred", "b_pred", "w_out", "b_out"] as const) {
          const x = Float64Array.from(v[name]);
          const fd = finiteDiff((xx) => joinerRef(d, { ...v, [name]: xx }).loss, x, Array.from({ length: x.length }, (_, i) => i));
          // Padding columns of the strided weights get exactly zero on both sides. Gradients sum
          // over <= 18 lattice nodes of O(1) terms in f32; the differences are exact to ~1e-9: 5e-5.
          checkOp(`d${name} vs finite differences`, got.grads[name], fd, 5e-5, 1e-5);
        }
      }),
      { numRuns: 30 },
    );
  });

  it("SIMD kernels match their naive twins (awkward widths, > 256 lattice rows for the chunked backward)", async () => {
    const e = await engine();
    for (const d of [
      { B: 2, T: 20, U: 9, Denc: 13, Dpred: 7, J: 37, V: 11, pad: 3 },
      { B: 1, T: 3, U: 5, Denc: 8, Dpred: 8, J: 16, V: 32, pad: 0 },
      { B: 3, T: 7, U: 1, Denc: 5, Dpred: 3, J: 3, V: 5, pad: 1 },
    ]) {
      const v = inputs(d, d.J);
      const a = runJoiner(e, d, v), b = runJoiner(e, d, v, true);
      // tanh4 vs Mathf.tanh (~2e-7 abs) through sums of <= 37 terms: 1e-5 abs; gradients sum over
      // up to 360 rows of O(1) terms: 2e-4 abs (f32 rounding of sums ~ 360 * 6e-8 * |terms|).
      checkOp("logits", a.logits, b.logits, 1e-5, 1e-5);
      for (const k of Object.keys(a.grads)) checkOp(k, a.grads[k], b.grads[k], 2e-4, 1e-5);
    }
  });

  it("joiner_pairs_forward (decoding) equals joiner_forward at the chosen (t, u) pairs", async () => {
    const e = await engine();
    const d = { B: 2, T: 3, U: 4, Denc: 5, Dpred: 6, J: 9, V: 7, pad: 0 };
    const v = inputs(d, 11);
    const full = runJoiner(e, d, v).logits;
    const pairs = [[0, 0, 0], [1, 2, 3], [0, 1, 2], [1, 0, 1], [1, 2, 0]]; // (b, t, u)
    const got = e.scoped(() => {
      const { B, T, U, J, V } = d;
      const ep = e.upload(new Float32Array(B * T * J)), pp = e.upload(new Float32Array(B * U * J));
      for (let r = 0; r < B * T; r++) e.write(ep + 4 * r * J, v.b_enc);
      for (let r = 0; r < B * U; r++) e.write(pp + 4 * r * J, v.b_pred);
      e.wasm.gemm(0, 1, B * T, J, d.Denc, 1, e.upload(v.enc), d.Denc, e.upload(v.w_enc), d.Denc, 1, ep, J);
      e.wasm.gemm(0, 1, B * U, J, d.Dpred, 1, e.upload(v.pred), d.Dpred, e.upload(v.w_pred), d.Dpred, 1, pp, J);
      const pSel = e.upload(pairs.flatMap(([b, , u]) => Array.from(e.read(pp + 4 * (b * U + u) * J, J))));
      const rows = e.upload(pairs.map(([b, t]) => b * T + t), "i32");
      const out = e.alloc(pairs.length * V);
      e.wasm.joiner_pairs_forward(out, ep, pSel, rows, e.upload(v.w_out), e.upload(v.b_out), e.alloc(pairs.length * J), pairs.length, J, V, J);
      return e.read(out, pairs.length * V);
    });
    const ref = pairs.flatMap(([b, t, u]) => Array.from(full.subarray(((b * d.T + t) * d.U + u) * d.V, ((b * d.T + t) * d.U + u + 1) * d.V)));
    // The same arithmetic in the same order: equal to 1e-6.
    checkOp("pairs", got, ref, 1e-6, 1e-6);
  });
});
