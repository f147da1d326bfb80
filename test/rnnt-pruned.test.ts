// Pruned RNN-T's band joiner and band loss (assembly/transducer/rnnt_pruned_joiner.ts, rnnt_pruned_loss.ts;
// host src/model/rnnt_pruned.ts): equal to the full joiner + engine.rnntLoss when the band covers U+1,
// float64 brute force over the alignments inside the band, float64 finite differences, and the naive twins.
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { joinerBackward, joinerForward, joinerParams, namedShapeOffsets, prunedJoinerLoss, prunedLossScales, type Engine, type JoinerConfig } from "../src/index.js";
import { bothBuilds, engine, finiteDiff, randn, rng } from "./helpers.js";
import { checkOp } from "./harness.js";
import { bruteRnnt } from "./rnnt-brute.js";
import { rnntLoss } from "./kernels.js";

interface Case {
  B: number; T: number; U1: number; R: number; V: number; blank: number; cfg: JoinerConfig;
  targets: Int32Array; tl: Int32Array; ul: Int32Array; ranges: Int32Array;
  enc: Float32Array; pred: Float32Array; params: Float32Array;
}

/** Valid band starts for one utterance (0 at t = 0, non-decreasing, steps <= R-1, <= max(0, Ub+1-R)), random. */
function randomStarts(r: () => number, T: number, Tb: number, Ub: number, R: number): number[] {
  const hi = Math.max(0, Ub + 1 - R), s = [0];
  // From the last frame on, the largest step allowed (so that most bands reach Ub; some still do not).
  for (let t = 1; t < T; t++) s.push(Math.min(hi, s[t - 1] + (t >= Tb - 1 ? R - 1 : Math.floor(r() * R))));
  return s;
}

const caseArb = (maxT: number, maxU: number, maxV: number, maxD: number) =>
  fc.record({
    B: fc.integer({ min: 1, max: 2 }), T: fc.integer({ min: 1, max: maxT }), U: fc.integer({ min: 0, max: maxU }), R: fc.integer({ min: 2, max: 4 }),
    V: fc.integer({ min: 2, max: maxV }), D: fc.integer({ min: 1, max: maxD }), J: fc.integer({ min: 1, max: maxD }), blankPick: fc.nat(), seed: fc.integer(),
  }).map(({ B, T, U, R, V, D, J, blankPick, seed }): Case => {
    const r = rng(seed), U1 = U + 1;
    const cfg: JoinerConfig = { encDim: D, predDim: D + 1, joinDim: J, vocab: V };
    const tl = Int32Array.from({ length: B }, () => 1 + Math.floor(r() * T)), ul = Int32Array.from({ length: B }, () => Math.floor(r() * U1));
    const ranges = Int32Array.from(Array.from({ length: B }, (_, b) => randomStarts(r, T, tl[b], ul[b], R)).flat());
    const { total } = namedShapeOffsets(joinerParams(cfg));
    return {
      B, T, U1, R, V, blank: blankPick % V, cfg, tl, ul, ranges, targets: Int32Array.from({ length: B * U }, () => Math.floor(r() * V)),
      enc: randn(B * T * D, r), pred: randn(B * U1 * (D + 1), r), params: randn(total, r, 0.8),
    };
  });

/** float64 pruned loss per utterance: the joiner at in-band nodes, log-softmax, alignments confined to the band. */
function brutePruned(c: Case, enc: ArrayLike<number>, pred: ArrayLike<number>, params: ArrayLike<number>): number[] {
  const { encDim: De, predDim: Dp, joinDim: J, vocab: V } = c.cfg;
  const { offsets } = namedShapeOffsets(joinerParams(c.cfg));
  const o = offsets as Record<string, number>;
  const lin = (x: ArrayLike<number>, xo: number, w: number, bias: number, nOut: number, nIn: number) =>
    Array.from({ length: nOut }, (_, j) => { let s = params[bias + j]; for (let k = 0; k < nIn; k++) s += params[w + j * nIn + k] * x[xo + k]; return s; });
  return Array.from({ length: c.B }, (_, b) => {
    const s = (t: number) => c.ranges[b * c.T + t];
    const lp = (t: number, u: number, k: number) => {
      const e = lin(enc, (b * c.T + t) * De, o["enc.weight"], o["enc.bias"], J, De), p = lin(pred, (b * c.U1 + u) * Dp, o["pred.weight"], o["pred.bias"], J, Dp);
      const z = lin(e.map((x, j) => Math.tanh(x + p[j])), 0, o["out.weight"], o["out.bias"], V, J);
      const m = Math.max(...z);
      return z[k] - m - Math.log(z.reduce((a, x) => a + Math.exp(x - m), 0));
    };
    return bruteRnnt(lp, c.tl[b], c.ul[b], (u) => c.targets[b * (c.U1 - 1) + u], c.blank, (t, u) => u >= s(t) && u < s(t) + c.R);
  });
}

/** Raw kernels: band joiner forward, loss forward, (accumulating or in-place) loss backward, joiner backward. */
function runPruned(e: Engine, c: Case, naive: boolean, dlosses: Float32Array, d0?: { enc: Float32Array; pred: Float32Array; params: Float32Array }) {
  const { B, T, U1, R, V } = c, { encDim: De, predDim: Dp, joinDim: J } = c.cfg;
  const { offsets } = namedShapeOffsets(joinerParams(c.cfg));
  const o = offsets as Record<string, number>;
  return e.scoped(() => {
    const P = e.upload(c.params), dP = e.upload(d0?.params ?? new Float32Array(c.params.length));
    const w = (k: string) => P + 4 * o[k], dw = (k: string) => dP + 4 * o[k];
    const enc = e.upload(c.enc), pred = e.upload(c.pred), denc = e.upload(d0?.enc ?? new Float32Array(c.enc.length)), dpred = e.upload(d0?.pred ?? new Float32Array(c.pred.length));
    const ranges = e.upload(c.ranges, "i32"), tg = e.upload(c.targets.length ? c.targets : [0], "i32"), tl = e.upload(c.tl, "i32"), ul = e.upload(c.ul, "i32"), dl = e.upload(dlosses);
    const rows = B * T * R, logits = e.alloc(rows * V), h = e.alloc(rows * J), dlogits = e.upload(new Float32Array(rows * V));
    const fs = e.alloc(e.wasm.rnnt_pruned_joiner_forward_scratch(B, T, U1, J)), bs = e.alloc(e.wasm.rnnt_pruned_joiner_backward_scratch(B, T, U1, J));
    (naive ? e.wasm.rnnt_pruned_joiner_forward_naive : e.wasm.rnnt_pruned_joiner_forward)(logits, h, enc, pred, ranges, w("enc.weight"), w("enc.bias"), w("pred.weight"), w("pred.bias"), w("out.weight"), w("out.bias"), fs, B, T, U1, R, De, Dp, J, V, De, Dp, J);
    const losses = e.alloc(B), lat = [0, 1, 2, 3, 4].map(() => e.alloc(rows));
    (naive ? e.wasm.rnnt_pruned_loss_forward_naive : e.wasm.rnnt_pruned_loss_forward)(losses, lat[0], lat[1], lat[2], lat[3], lat[4], logits, ranges, tg, tl, ul, B, T, U1, R, V, c.blank);
    (naive ? e.wasm.rnnt_pruned_loss_backward_naive : e.wasm.rnnt_pruned_loss_backward)(dlogits, losses, lat[0], lat[1], lat[2], lat[3], lat[4], dl, logits, ranges, tg, tl, ul, B, T, U1, R, V, c.blank);
    const logitsCopy = e.read(logits, rows * V), dlogitsCopy = e.read(dlogits, rows * V);
    e.wasm.rnnt_pruned_loss_backward_inplace(logits, losses, lat[0], lat[1], lat[2], lat[3], lat[4], dl, ranges, tg, tl, ul, B, T, U1, R, V, c.blank);
    const inplace = e.read(logits, rows * V);
    (naive ? e.wasm.rnnt_pruned_joiner_backward_naive : e.wasm.rnnt_pruned_joiner_backward)(denc, dpred, dw("enc.weight"), dw("enc.bias"), dw("pred.weight"), dw("pred.bias"), dw("out.weight"), dw("out.bias"), h, dlogits, enc, pred, ranges, w("enc.weight"), w("pred.weight"), w("out.weight"), bs, B, T, U1, R, De, Dp, J, V, De, Dp, J);
    return {
      losses: e.read(losses, B), logits: logitsCopy, dlogits: dlogitsCopy, inplace,
      denc: e.read(denc, c.enc.length), dpred: e.read(dpred, c.pred.length), dparams: e.read(dP, c.params.length),
    };
  });
}

describe("pruned RNN-T: band joiner and band loss", () => {
  it("equals the full joiner + engine.rnntLoss (losses and every gradient) when the band covers all of U+1", async () => {
    for (const e of await bothBuilds()) {
      fc.assert(fc.property(caseArb(5, 4, 9, 6), fc.integer({ min: 0, max: 2 }), (c0, extra) => {
        // R = U1 (+ extra: symbols past U1-1 gather the last predictor row and are off the lattice), all starts 0.
        const c: Case = { ...c0, R: c0.U1 + extra, ranges: new Int32Array(c0.B * c0.T) };
        const ones = new Float32Array(c.B).fill(1);
        const got = runPruned(e, c, false, ones);
        const { B, T, U1 } = c, V = c.cfg.vocab;
        const ref = e.scoped(() => {
          const params = e.upload(c.params), dparams = e.upload(new Float32Array(c.params.length));
          const enc = e.upload(c.enc), pred = e.upload(c.pred), denc = e.upload(new Float32Array(c.enc.length)), dpred = e.upload(new Float32Array(c.pred.length));
          const saved = joinerForward(e, c.cfg, params, enc, pred, B, T, U1);
          const logits = e.read(saved.logits, B * T * U1 * V);
          const { losses, grad } = rnntLoss(e, logits, [B, T, U1, V], c.targets, c.tl, c.ul, { blank: c.blank });
          joinerBackward(e, c.cfg, params, dparams, saved, e.upload(grad), denc, dpred);
          return { losses, denc: e.read(denc, c.enc.length), dpred: e.read(dpred, c.pred.length), dparams: e.read(dparams, c.params.length) };
        });
        // Same f32 math in a different layout (band rows vs lattice rows change GEMM blocking): 1e-5 relative
        // on losses; gradients sum <= T*U1 node contributions of size <= ~3: 5e-5 absolute + 1e-5 relative.
        checkOp("losses", got.losses, ref.losses, 1e-5, 1e-5);
        checkOp("denc", got.denc, ref.denc, 5e-5, 1e-5);
        checkOp("dpred", got.dpred, ref.dpred, 5e-5, 1e-5);
        checkOp("dparams", got.dparams, ref.dparams, 5e-5, 1e-5);
      }), { numRuns: 40 });
    }
  });

  it("equals a float64 brute force over the alignments inside the band (fast-check, random valid bands)", async () => {
    const e = await engine();
    let finite = 0, infinite = 0;
    fc.assert(fc.property(caseArb(5, 5, 6, 4), (c) => {
      const got = runPruned(e, c, false, new Float32Array(c.B).fill(1));
      const ref = brutePruned(c, c.enc, c.pred, c.params);
      ref.forEach((l) => (Number.isFinite(l) ? finite++ : infinite++));
      // f32 joiner (<= 6-term dots) and lattice vs float64: 2e-5 relative + 2e-5 absolute.
      ref.forEach((l, b) => (Number.isFinite(l) ? expect(Math.abs(got.losses[b] - l)).toBeLessThanOrEqual(2e-5 + 2e-5 * Math.abs(l)) : expect(got.losses[b]).toBe(Infinity)));
    }), { numRuns: 120 });
    expect(finite).toBeGreaterThan(100); // both kinds of band were exercised
    expect(infinite).toBeGreaterThan(0);
  });

  it("gradients w.r.t. enc, pred and every joiner weight equal float64 finite differences of the brute force", async () => {
    const e = await engine();
    let checked = 0;
    fc.assert(fc.property(caseArb(3, 3, 4, 3), (c) => {
      const got = runPruned(e, c, false, new Float32Array(c.B).fill(1));
      if (!got.losses.every(Number.isFinite)) return; // an infeasible band: covered by its own test
      checked++;
      const nE = c.enc.length, nP = c.pred.length;
      const x = Float64Array.from([...c.enc, ...c.pred, ...c.params]);
      const f = (v: Float64Array) => brutePruned(c, v.subarray(0, nE), v.subarray(nE, nE + nP), v.subarray(nE + nP)).reduce((s, l) => s + l, 0);
      const fd = finiteDiff(f, x, Array.from({ length: x.length }, (_, i) => i), 1e-5);
      // Chain of f32 GEMMs, tanh and exps; gradients are O(1) sums over <= 12 band nodes: 2e-4 absolute.
      checkOp("denc", got.denc, fd.subarray(0, nE), 2e-4);
      checkOp("dpred", got.dpred, fd.subarray(nE, nE + nP), 2e-4);
      checkOp("dparams", got.dparams, fd.subarray(nE + nP), 2e-4);
    }), { numRuns: 40 });
    expect(checked).toBeGreaterThan(25);
  });

  it("SIMD kernels match their scalar twins; backwards accumulate, scaled by dlosses; in-place equals accumulate-into-zero", async () => {
    for (const e of await bothBuilds()) {
      fc.assert(fc.property(caseArb(7, 6, 37, 13), fc.integer(), (c, seed) => {
        const r = rng(seed);
        const dl = randn(c.B, r, 2), d0 = { enc: randn(c.enc.length, r), pred: randn(c.pred.length, r), params: randn(c.params.length, r) };
        const fast = runPruned(e, c, false, dl, d0), slow = runPruned(e, c, true, dl, d0);
        // Polynomial tanh/exp vs Mathf (~2e-7 relative) and GEMM summation order; dots of <= 37 terms.
        checkOp("logits", fast.logits, slow.logits, 2e-5, 1e-5);
        const fin = (x: Float32Array) => x.map((v) => (v === Infinity ? 0 : v)); // +inf: an infeasible band
        expect(fast.losses.map((v) => +(v === Infinity))).toEqual(slow.losses.map((v) => +(v === Infinity)));
        checkOp("losses", fin(fast.losses), fin(slow.losses), 1e-5, 1e-5);
        checkOp("dlogits", fast.dlogits, slow.dlogits, 2e-5, 1e-5);
        checkOp("denc", fast.denc, slow.denc, 1e-4, 1e-4);
        checkOp("dpred", fast.dpred, slow.dpred, 1e-4, 1e-4);
        checkOp("dparams", fast.dparams, slow.dparams, 1e-4, 1e-4);
        expect(fast.inplace).toEqual(fast.dlogits); // the same arithmetic, written over the logits
        // Accumulation: with zero initial gradients the result is d0 less.
        const zero = runPruned(e, c, false, dl);
        checkOp("denc accumulates", fast.denc, zero.denc.map((v, i) => v + d0.enc[i]), 1e-5, 1e-6);
      }), { numRuns: 30 });
    }
  });

  it("a band that admits no path (Ub > (R-1)·Tb, or a start past 0 at t = 0) gives +inf and zero gradient", async () => {
    const e = await engine();
    const r = rng(4);
    const cfg: JoinerConfig = { encDim: 3, predDim: 3, joinDim: 4, vocab: 5 };
    const { total } = namedShapeOffsets(joinerParams(cfg));
    // Utterance 0: T = 2, Ub = 5, R = 2: at most ·T = 2 labels fit. Utterance 1: start 1 at t = 0.
    const c: Case = {
      B: 2, T: 2, U1: 6, R: 2, V: 5, blank: 0, cfg, targets: Int32Array.of(1, 2, 3, 4, 1, 2, 3, 0, 0, 0), tl: Int32Array.of(2, 2), ul: Int32Array.of(5, 3),
      ranges: Int32Array.of(0, 1, 1, 2), enc: randn(12, r), pred: randn(36, r), params: randn(total, r),
    };
    const got = runPruned(e, c, false, Float32Array.of(1, 1));
    expect(Array.from(got.losses)).toEqual([Infinity, Infinity]);
    expect(brutePruned(c, c.enc, c.pred, c.params)).toEqual([Infinity, Infinity]); // the brute force agrees
    expect(got.dlogits.every((v) => v === 0) && got.denc.every((v) => v === 0) && got.dparams.every((v) => v === 0)).toBe(true);
  });

  it("prunedJoinerLoss (host) equals the raw kernels", async () => {
    const e = await engine();
    const c = fc.sample(caseArb(6, 5, 11, 7), { numRuns: 1, seed: 21 })[0];
    const dl = new Float32Array(c.B).fill(0.25);
    const raw = runPruned(e, c, false, dl);
    e.scoped(() => {
      const params = e.upload(c.params), dparams = e.upload(new Float32Array(c.params.length));
      const io = { enc: e.upload(c.enc), pred: e.upload(c.pred), denc: e.upload(new Float32Array(c.enc.length)), dpred: e.upload(new Float32Array(c.pred.length)) };
      const tg = { targets: e.upload(c.targets.length ? c.targets : [0], "i32"), logitLengths: e.upload(c.tl, "i32"), targetLengths: e.upload(c.ul, "i32"), dlosses: e.upload(dl) };
      const losses = prunedJoinerLoss(e, c.cfg, params, dparams, io, e.upload(c.ranges, "i32"), tg, { B: c.B, T: c.T, U1: c.U1 }, { sRange: c.R, blank: c.blank });
      expect(e.read(losses, c.B)).toEqual(raw.losses);
      expect(e.read(io.denc, c.enc.length)).toEqual(raw.denc);
      expect(e.read(dparams, c.params.length)).toEqual(raw.dparams);
    });
  });
});

describe("pruned RNN-T: loss-scale warm-up", () => {
  it("follows icefall's schedule: simple 1.0 -> 0.5 and pruned 0.1 -> 1.0, linear over the warm-up, constant after", () => {
    // icefall train.py, written out independently: s = 1 - (step/warm)(1 - 0.5) and p = 0.1 + 0.9 step/warm below warm.
    for (const [step, warm, s, p] of [[0, 2000, 1, 0.1], [500, 2000, 0.875, 0.325], [1000, 2000, 0.75, 0.55], [2000, 2000, 0.5, 1], [9000, 2000, 0.5, 1], [30, 60, 0.75, 0.55], [5, 0, 0.5, 1]]) {
      const got = prunedLossScales(step, warm);
      expect(got.simple).toBeCloseTo(s, 12);
      expect(got.pruned).toBeCloseTo(p, 12);
    }
    expect(prunedLossScales(100, 200, 0.3).simple).toBeCloseTo(0.65, 12);
  });
});
