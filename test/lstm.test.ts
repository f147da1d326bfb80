// LSTM layer (assembly/transducer/lstm.ts) and the predictor (src/model/predictor.ts) against torch.nn.LSTM fixtures,
// float64 finite differences of an independent float64 reference, and the naive twins.
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import type { Engine } from "../src/index.js";
import { namedShapeOffsets, predictorBackward, predictorForward, predictorParams, predictorStep, predictorZeroState, type PredictorConfig } from "../src/index.js";
import { engine, finiteDiff, randn, rng } from "./helpers.js";
import { checkOp, readFixture } from "./harness.js";

const fixture = readFixture("lstm.json", "test/ref/lstm.py");

/** Runs lstm_forward + lstm_backward (loss = sum(out * G)) on the engine; returns everything as arrays. */
function runLstm(e: Engine, B: number, T: number, In: number, H: number, v: Record<string, ArrayLike<number>>, naive = false) {
  return e.scoped(() => {
    const up = (k: string) => e.upload(v[k]);
    const x = up("x"), wih = up("w_ih"), whh = up("w_hh"), bih = up("b_ih"), bhh = up("b_hh"), h0 = up("h0"), c0 = up("c0"), G = up("G");
    const h = e.alloc(B * T * H), c = e.alloc(B * T * H), gates = e.alloc(B * T * 4 * H);
    (naive ? e.wasm.lstm_forward_naive : e.wasm.lstm_forward)(h, c, gates, x, wih, whh, bih, bhh, h0, c0, B, T, In, H, In);
    const zero = (n: number) => e.upload(new Float32Array(n));
    const g = { dx: zero(B * T * In), dw_ih: zero(4 * H * In), dw_hh: zero(4 * H * H), db_ih: zero(4 * H), db_hh: zero(4 * H), dh0: zero(B * H), dc0: zero(B * H) };
    const scratch = e.alloc(B * T * 4 * H + 2 * B * H);
    (naive ? e.wasm.lstm_backward_naive : e.wasm.lstm_backward)(g.dx, g.dw_ih, g.dw_hh, g.db_ih, g.db_hh, g.dh0, g.dc0, h, c, gates, G, x, wih, whh, h0, c0, scratch, B, T, In, H, In);
    const sizes = { dx: B * T * In, dw_ih: 4 * H * In, dw_hh: 4 * H * H, db_ih: 4 * H, db_hh: 4 * H, dh0: B * H, dc0: B * H };
    const grads = Object.fromEntries(Object.entries(g).map(([k, p]) => [k, e.read(p, sizes[k as keyof typeof sizes])]));
    return { out: e.read(h, B * T * H), c: e.read(c, B * T * H), grads };
  });
}

/** float64 reference of a torch LSTM layer (gates i, f, g, o), batch-first; returns h [B,T,H]. */
function lstmRef(x: ArrayLike<number>, wih: ArrayLike<number>, whh: ArrayLike<number>, bih: ArrayLike<number>, bhh: ArrayLike<number>, h0: ArrayLike<number>, c0: ArrayLike<number>, B: number, T: number, In: number, H: number): Float64Array {
  const out = new Float64Array(B * T * H);
  const sig = (z: number) => 1 / (1 + Math.exp(-z));
  for (let b = 0; b < B; b++) {
    let h = Array.from({ length: H }, (_, j) => h0[b * H + j]);
    let c = Array.from({ length: H }, (_, j) => c0[b * H + j]);
    for (let t = 0; t < T; t++) {
      const pre = (q: number, j: number) => {
        let s = bih[q * H + j] + bhh[q * H + j];
        for (let k = 0; k < In; k++) s += wih[(q * H + j) * In + k] * x[(b * T + t) * In + k];
        for (let k = 0; k < H; k++) s += whh[(q * H + j) * H + k] * h[k];
        return s;
      };
      const nc = c.map((cj, j) => sig(pre(1, j)) * cj + sig(pre(0, j)) * Math.tanh(pre(2, j)));
      h = nc.map((cj, j) => sig(pre(3, j)) * Math.tanh(cj));
      c = nc;
      h.forEach((v, j) => (out[(b * T + t) * H + j] = v));
    }
  }
  return out;
}

/** float64 reference of the whole predictor from a flat parameter vector (layout of predictorParams). */
function predictorRef(cfg: PredictorConfig, flat: Float64Array, ids: number[], B: number, U1: number): Float64Array {
  const { offsets } = namedShapeOffsets(predictorParams(cfg));
  const { embedDim: E, hidden: H } = cfg;
  const P = (name: string, n: number) => flat.subarray(offsets[name], offsets[name] + n);
  let x: Float64Array = new Float64Array(B * U1 * E);
  ids.forEach((id, r) => x.set(P("embedding", cfg.vocab * E).subarray(id * E, id * E + E), r * E));
  let In = E;
  const zeros = new Float64Array(B * H);
  for (let l = 0; l < cfg.layers; l++) {
    x = lstmRef(x, P(`lstm${l}.w_ih`, 4 * H * In), P(`lstm${l}.w_hh`, 4 * H * H), P(`lstm${l}.b_ih`, 4 * H), P(`lstm${l}.b_hh`, 4 * H), zeros, zeros, B, U1, In, H);
    In = H;
  }
  if (!cfg.layerNorm) return x;
  const g = P("ln.gamma", H), be = P("ln.beta", H);
  const y = new Float64Array(x.length);
  for (let r = 0; r < B * U1; r++) {
    const row = x.subarray(r * H, r * H + H);
    const m = row.reduce((s, v) => s + v, 0) / H;
    const v = row.reduce((s, a) => s + (a - m) ** 2, 0) / H;
    row.forEach((a, j) => (y[r * H + j] = ((a - m) / Math.sqrt(v + 1e-5)) * g[j] + be[j]));
  }
  return y;
}

/** Uploads the flat predictor parameters, runs forward + backward with loss sum(out * G). */
function runPredictor(e: Engine, cfg: PredictorConfig, flat: ArrayLike<number>, ids: ArrayLike<number>, B: number, U1: number, G: ArrayLike<number>) {
  return e.scoped(() => {
    const { total } = namedShapeOffsets(predictorParams(cfg));
    const params = e.upload(flat), dparams = e.upload(new Float32Array(total));
    const idp = e.upload(ids, "i32");
    const saved = predictorForward(e, cfg, params, idp, B, U1);
    const out = e.read(saved.out, B * U1 * cfg.hidden);
    predictorBackward(e, cfg, params, dparams, saved, e.upload(G));
    return { out, grad: e.read(dparams, total) };
  });
}

describe("lstm", () => {
  it("fixture is what the tests expect", () => {
    expect([fixture.magic, fixture.version, fixture.generator]).toEqual(["todm-fixture", 1, "test/ref/lstm.py"]);
  });

  it("one layer with carried (h0, c0) matches torch.nn.LSTM: outputs, final cell, all gradients", async () => {
    const e = await engine();
    for (const c of fixture.lstm) {
      const r = runLstm(e, c.B, c.T, c.In, c.H, c);
      // f32 sums of <= In + H + 2 = 21 products and saturating gates; torch is f32 too: 1e-5 abs.
      checkOp("lstm out", r.out, c.out, 1e-5, 1e-5);
      const cn = Array.from({ length: c.B * c.H }, (_, k) => r.c[(Math.floor(k / c.H) * c.T + c.T - 1) * c.H + (k % c.H)]);
      checkOp("lstm c_n", cn, c.cn, 1e-5, 1e-5);
      // Gradients sum over B*T <= 27 steps of back-propagated terms: 1e-5 abs + 1e-5 rel.
      for (const k of ["dx", "dw_ih", "dw_hh", "db_ih", "db_hh", "dh0", "dc0"]) checkOp(`lstm ${k}`, r.grads[k], c[k], 1e-5, 1e-5);
    }
  });

  it("predictor (Embedding, 1-2 LSTM layers, optional LayerNorm) matches torch", async () => {
    const e = await engine();
    for (const c of fixture.predictor) {
      const cfg: PredictorConfig = { vocab: c.V, embedDim: c.E, hidden: c.H, layers: c.layers, layerNorm: c.layer_norm };
      const specs = predictorParams(cfg);
      expect(specs.map((s) => s.name)).toEqual(Object.keys(c.params)); // same table, same order
      const flat = specs.flatMap((s) => c.params[s.name] as number[]);
      const r = runPredictor(e, cfg, flat, c.ids, c.B, c.U1, c.G);
      // Same bound as the single layer, one more layer and LayerNorm (rstd up to ~10): 2e-5 abs/rel.
      checkOp("predictor out", r.out, c.out, 2e-5, 2e-5);
      checkOp("predictor grads", r.grad, specs.flatMap((s) => c.grads[s.name] as number[]), 2e-5, 2e-5);
    }
  });

  it("backward equals float64 finite differences of an independent float64 LSTM (fast-check shapes)", async () => {
    const e = await engine();
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 5 }), fc.integer(), (B, T, In, H, seed) => {
        const r = rng(seed);
        const v: Record<string, Float32Array> = {
          x: randn(B * T * In, r), w_ih: randn(4 * H * In, r, 0.8), w_hh: randn(4 * H * H, r, 0.8), b_ih: randn(4 * H, r, 0.5),
          b_hh: randn(4 * H, r, 0.5), h0: randn(B * H, r), c0: randn(B * H, r), G: randn(B * T * H, r),
        };
        const got = runLstm(e, B, T, In, H, v);
        const names = ["x", "w_ih", "w_hh", "b_ih", "b_hh", "h0", "c0"];
        const dnames = ["dx", "dw_ih", "dw_hh", "db_ih", "db_hh", "dh0", "dc0"];
        const ref = lstmRef(v.x, v.w_ih, v.w_hh, v.b_ih, v.b_hh, v.h0, v.c0, B, T, In, H);
        checkOp("forward vs float64", got.out, ref, 1e-5, 1e-5); // f32 of O(1) values, <= 12 products
        names.forEach((name, q) => {
          const x64 = Float64Array.from(v[name]);
          const f = (xx: Float64Array) => {
            const a = names.map((n) => (n === name ? xx : v[n]));
            const h = lstmRef(a[0], a[1], a[2], a[3], a[4], a[5], a[6], B, T, In, H);
            return h.reduce((s, hv, i) => s + hv * v.G[i], 0);
          };
          const fd = finiteDiff(f, x64, Array.from({ length: x64.length }, (_, i) => i));
          // Central differences in float64 (h = 1e-5) are exact to ~1e-9; the kernel is f32 over
          // <= 4 steps of O(1) terms: 2e-5 abs + 1e-4 rel.
          checkOp(`${dnames[q]} vs finite differences`, got.grads[dnames[q]], fd, 2e-5, 1e-4);
        });
      }),
      { numRuns: 25 },
    );
  });

  it("predictor backward (2 layers + LayerNorm) equals finite differences of a float64 predictor", async () => {
    const e = await engine();
    for (const [layers, layerNorm, seed] of [[2, true, 1], [1, true, 2], [2, false, 3]] as const) {
      const cfg: PredictorConfig = { vocab: 5, embedDim: 3, hidden: 4, layers, layerNorm };
      const { total } = namedShapeOffsets(predictorParams(cfg));
      const r = rng(seed);
      const flat = randn(total, r, 0.8);
      const { offsets } = namedShapeOffsets(predictorParams(cfg));
      if (layerNorm) for (let j = 0; j < 4; j++) flat[offsets["ln.gamma"] + j] += 1;
      const B = 2, U1 = 3, ids = [0, 3, 1, 0, 4, 4];
      const G = randn(B * U1 * 4, r);
      const got = runPredictor(e, cfg, flat, ids, B, U1, G);
      checkOp("predictor forward vs float64", got.out, predictorRef(cfg, Float64Array.from(flat), ids, B, U1), 1e-5, 1e-5);
      const f = (p: Float64Array) => predictorRef(cfg, p, ids, B, U1).reduce((s, y, i) => s + y * G[i], 0);
      const fd = finiteDiff(f, Float64Array.from(flat), Array.from({ length: total }, (_, i) => i));
      // As above; LayerNorm's rstd (~1-3 here) scales the f32 error: 5e-5 abs + 1e-4 rel.
      checkOp(`predictor grads (layers ${layers}, ln ${layerNorm})`, got.grad, fd, 5e-5, 1e-4);
    }
  });

  it("lstm kernels match their naive twins (awkward shapes)", async () => {
    const e = await engine();
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 7 }), fc.integer({ min: 1, max: 13 }), fc.integer({ min: 1, max: 13 }), fc.integer(), (B, T, In, H, seed) => {
        const r = rng(seed);
        const v = {
          x: randn(B * T * In, r), w_ih: randn(4 * H * In, r, 0.5), w_hh: randn(4 * H * H, r, 0.5), b_ih: randn(4 * H, r),
          b_hh: randn(4 * H, r), h0: randn(B * H, r), c0: randn(B * H, r), G: randn(B * T * H, r),
        };
        const a = runLstm(e, B, T, In, H, v), b = runLstm(e, B, T, In, H, v, true);
        // GEMM summation order (<= 13 + 13 terms of O(1)) and exp4/tanh4 vs Mathf (~2e-7) differ: 1e-5.
        checkOp("out", a.out, b.out, 1e-5, 1e-5);
        for (const k of Object.keys(a.grads)) checkOp(k, a.grads[k], b.grads[k], 1e-5, 1e-5);
      }),
      { numRuns: 40 },
    );
  });

  it("stepping one label at a time with carried state equals the full-sequence forward", async () => {
    const e = await engine();
    const cfg: PredictorConfig = { vocab: 7, embedDim: 5, hidden: 6, layers: 2, layerNorm: true };
    const { total } = namedShapeOffsets(predictorParams(cfg));
    const flat = randn(total, rng(9), 0.7);
    const B = 3, U1 = 4, ids = Int32Array.from([0, 1, 2, 3, 0, 6, 6, 5, 0, 2, 4, 1]);
    e.scoped(() => {
      const params = e.upload(flat);
      const full = e.read(predictorForward(e, cfg, params, e.upload(ids, "i32"), B, U1).out, B * U1 * 6);
      let state = predictorZeroState(e, cfg, B);
      for (let u = 0; u < U1; u++) {
        const step = predictorStep(e, cfg, params, e.upload([0, 1, 2].map((b) => ids[b * U1 + u]), "i32"), B, state);
        const out = e.read(step.out, B * 6);
        const ref = [0, 1, 2].flatMap((b) => Array.from(full.subarray((b * U1 + u) * 6, (b * U1 + u + 1) * 6)));
        // The same kernels on the same values; only the GEMM's M (B vs B*U1) differs: 1e-6.
        checkOp(`step ${u}`, out, ref, 1e-6, 1e-6);
        state = step.state;
      }
    });
  });
});
