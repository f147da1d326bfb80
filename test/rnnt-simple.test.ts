// Pruned RNN-T's simple loss, arc occupations and prune ranges (assembly/transducer/rnnt_simple.ts,
// rnnt_prune_ranges.ts; host src/model/rnnt_pruned.ts) against a float64 torch fixture
// (test/ref/rnnt_simple.py), float64 brute-force enumeration, float64 finite differences and the naive twins.
import { describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import fc from "fast-check";
import { simpleLoss, simpleLossBackward, pruneRanges, type Engine } from "../src/index.js";
import { bothBuilds, engine, finiteDiff, randn, rng } from "./helpers.js";
import { checkOp } from "./harness.js";
import { bruteRnnt, lse } from "./rnnt-brute.js";

interface SimpleCase {
  B: number; T: number; U1: number; V: number; blank: number; lmScale: number; amScale: number;
  targets: Int32Array; tl: Int32Array; ul: Int32Array; am: Float32Array; lm: Float32Array;
}

const fixture = JSON.parse(readFileSync(new URL("./fixtures/rnnt_simple.json", import.meta.url), "utf8"));

/** The smoothed simple loss per utterance in float64, straight from the formulas (T x U x V materialised). */
function bruteSimple(c: SimpleCase, am: ArrayLike<number>, lm: ArrayLike<number>): number[] {
  const { B, T, U1, V, blank, lmScale: l, amScale: a } = c;
  const row = (x: ArrayLike<number>, o: number) => Array.from({ length: V }, (_, k) => x[o + k]);
  // k2's unigram LM of the am-only term: the mean of softmax(lm row) over the valid rows, plus 1e-20.
  const q = new Array<number>(V).fill(0);
  let rows = 0;
  for (let b = 0; b < B; b++) for (let u = 0; u <= c.ul[b]; u++, rows++) {
    const lr = row(lm, (b * U1 + u) * V), z = lse(lr);
    lr.forEach((x, k) => (q[k] += Math.exp(x - z)));
  }
  const logq = q.map((x) => Math.log(x / rows + 1e-20));
  return Array.from({ length: B }, (_, b) => {
    const lp = (t: number, u: number, k: number) => {
      const ar = row(am, (b * T + t) * V), lr = row(lm, (b * U1 + u) * V);
      const joint = ar[k] + lr[k] - lse(ar.map((x, v) => x + lr[v]));
      return (1 - l - a) * joint + l * (lr[k] - lse(lr)) + a * (ar[k] + logq[k] - lse(ar.map((x, v) => x + logq[v])));
    };
    return bruteRnnt(lp, c.tl[b], c.ul[b], (u) => c.targets[b * (U1 - 1) + u], blank);
  });
}

/** Runs the raw simple-loss kernels (forward, occupation, backward accumulating into d0am/d0lm). */
function runSimple(e: Engine, c: SimpleCase, naive: boolean, dlosses: Float32Array, d0am?: Float32Array, d0lm?: Float32Array) {
  const { B, T, U1, V } = c;
  return e.scoped(() => {
    const am = e.upload(c.am), lm = e.upload(c.lm), tg = e.upload(c.targets.length ? c.targets : [0], "i32");
    const tl = e.upload(c.tl, "i32"), ul = e.upload(c.ul, "i32"), dl = e.upload(dlosses);
    const losses = e.alloc(B), side = e.alloc(B * (T + U1) + V), scratch = e.alloc(e.wasm.rnnt_simple_scratch(T, U1, V));
    const lat = [0, 1, 2, 3, 4, 5, 6, 7].map(() => e.upload(new Float32Array(B * T * U1)));
    const dam = e.upload(d0am ?? new Float32Array(B * T * V)), dlm = e.upload(d0lm ?? new Float32Array(B * U1 * V));
    (naive ? e.wasm.rnnt_simple_forward_naive : e.wasm.rnnt_simple_forward)(losses, lat[0], side, lat[1], lat[2], lat[3], lat[4], am, lm, tg, tl, ul, scratch, B, T, U1, V, c.blank, c.lmScale, c.amScale);
    e.wasm.rnnt_simple_occupation(lat[5], lat[6], losses, lat[1], lat[2], lat[3], lat[4], tl, ul, B, T, U1);
    (naive ? e.wasm.rnnt_simple_backward_naive : e.wasm.rnnt_simple_backward)(dam, dlm, lat[0], side, lat[5], lat[6], dl, am, lm, tg, tl, ul, scratch, B, T, U1, V, c.blank, c.lmScale, c.amScale);
    return {
      losses: e.read(losses, B), dam: e.read(dam, B * T * V), dlm: e.read(dlm, B * U1 * V),
      px: e.read(lat[5], B * T * U1), py: e.read(lat[6], B * T * U1), am: e.read(am, B * T * V), lm: e.read(lm, B * U1 * V),
    };
  });
}

const simpleArb = (maxT: number, maxU: number, maxV: number) =>
  fc.record({
    B: fc.integer({ min: 1, max: 2 }), T: fc.integer({ min: 1, max: maxT }), U: fc.integer({ min: 0, max: maxU }), V: fc.integer({ min: 2, max: maxV }),
    scale: fc.constantFrom(0.5, 2, 8), scales: fc.constantFrom([0, 0], [0.25, 0], [0.25, 0.1], [0.5, 0.5], [0, 0.3]), blankPick: fc.nat(), seed: fc.integer(),
  }).map(({ B, T, U, V, scale, scales, blankPick, seed }): SimpleCase => {
    const r = rng(seed);
    return {
      B, T, U1: U + 1, V, blank: blankPick % V, lmScale: scales[0], amScale: scales[1],
      tl: Int32Array.from({ length: B }, () => 1 + Math.floor(r() * T)), ul: Int32Array.from({ length: B }, () => Math.floor(r() * (U + 1))),
      targets: Int32Array.from({ length: B * U }, () => Math.floor(r() * V)), am: randn(B * T * V, r, scale), lm: randn(B * (U + 1) * V, r, scale),
    };
  });

describe("pruned RNN-T: simple loss", () => {
  it("matches the float64 torch fixture (losses, gradients w.r.t. am and lm, occupations), both builds", async () => {
    expect([fixture.magic, fixture.version, fixture.generator]).toEqual(["todm-fixture", 1, "test/ref/rnnt_simple.py"]);
    expect(fixture.cases.some((c: { am_scale: number }) => c.am_scale > 0)).toBe(true);
    for (const e of await bothBuilds()) {
      for (const [i, f] of fixture.cases.entries()) {
        const c: SimpleCase = {
          B: f.B, T: f.T, U1: f.U1, V: f.V, blank: f.blank, lmScale: f.lm_scale, amScale: f.am_scale,
          targets: Int32Array.from(f.targets), tl: Int32Array.from(f.logit_lengths), ul: Int32Array.from(f.target_lengths), am: Float32Array.from(f.am), lm: Float32Array.from(f.lm),
        };
        const got = runSimple(e, c, false, new Float32Array(c.B).fill(1));
        // f32 kernel vs float64 torch on the same f32 inputs: normaliser through a GEMM of exps (~1e-6 relative),
        // lattice of <= 14 arcs with |log p| <= ~100 (case "peaked" has |z| ~ 65): 2e-5 relative + 2e-5 absolute.
        checkOp(`${e.build} case ${i} losses`, got.losses, f.losses, 2e-5, 2e-5);
        // Gradients are differences of probabilities times occupations, |g| <= ~T: 5e-5 absolute.
        checkOp(`${e.build} case ${i} dam`, got.dam, f.dam, 5e-5);
        checkOp(`${e.build} case ${i} dlm`, got.dlm, f.dlm, 5e-5);
        checkOp(`${e.build} case ${i} px_grad`, got.px, f.px_grad, 2e-5);
        checkOp(`${e.build} case ${i} py_grad`, got.py, f.py_grad, 2e-5);
      }
    }
  });

  it("equals a float64 brute-force sum over all alignments (fast-check, padded shapes, any blank and scales)", async () => {
    const e = await engine();
    fc.assert(fc.property(simpleArb(4, 3, 6), (c) => {
      const got = runSimple(e, c, false, new Float32Array(c.B).fill(1));
      // f32 normaliser and lattice vs float64: losses <= ~60 here; 1e-5 relative + 1e-5 absolute.
      checkOp("simple losses vs brute force", got.losses, bruteSimple(c, c.am, c.lm), 1e-5, 1e-5);
    }), { numRuns: 120 });
  });

  it("gradients w.r.t. am and lm equal float64 central finite differences of the brute force (fast-check)", async () => {
    const e = await engine();
    fc.assert(fc.property(simpleArb(3, 2, 4), (c) => {
      const got = runSimple(e, c, false, new Float32Array(c.B).fill(1));
      const nA = c.am.length;
      const x = Float64Array.from([...c.am, ...c.lm]);
      const sum = (v: Float64Array) => bruteSimple(c, v.subarray(0, nA), v.subarray(nA)).reduce((s, l) => s + l, 0);
      const fd = finiteDiff(sum, x, Array.from({ length: x.length }, (_, i) => i), 1e-5);
      // Gradient entries are bounded by occupations (<= T); f32 exps of terms up to ~30: 1e-4 absolute.
      // Rows past the lengths have zero gradient on both sides.
      checkOp("dam vs finite differences", got.dam, fd.subarray(0, nA), 1e-4);
      checkOp("dlm vs finite differences", got.dlm, fd.subarray(nA), 1e-4);
    }), { numRuns: 50 });
  });

  it("occupations: one blank per frame and each label once (Σ_u py = 1 per frame, Σ_t px = 1 per label)", async () => {
    const e = await engine();
    fc.assert(fc.property(simpleArb(6, 5, 9), (c) => {
      const got = runSimple(e, c, false, new Float32Array(c.B).fill(1));
      const at = (x: Float32Array, b: number, t: number, u: number) => x[(b * c.T + t) * c.U1 + u];
      for (let b = 0; b < c.B; b++) {
        // f32 exps of lattice sums: 1e-4 absolute on sums of <= 12 terms; padding carries exactly 0.
        for (let t = 0; t < c.T; t++) {
          let s = 0;
          for (let u = 0; u < c.U1; u++) s += at(got.py, b, t, u);
          expect(Math.abs(s - (t < c.tl[b] ? 1 : 0))).toBeLessThan(1e-4);
        }
        for (let u = 0; u < c.U1; u++) {
          let s = 0;
          for (let t = 0; t < c.T; t++) s += at(got.px, b, t, u);
          expect(Math.abs(s - (u < c.ul[b] ? 1 : 0))).toBeLessThan(1e-4);
        }
      }
    }), { numRuns: 60 });
  });

  it("SIMD kernels match their scalar twins; the backward accumulates, scaled by dlosses", async () => {
    for (const e of await bothBuilds()) {
      fc.assert(fc.property(simpleArb(9, 7, 37), fc.integer(), (c, seed) => {
        const r = rng(seed);
        const dl = randn(c.B, r, 2), d0am = randn(c.am.length, r), d0lm = randn(c.lm.length, r);
        const fast = runSimple(e, c, false, dl, d0am, d0lm), slow = runSimple(e, c, true, dl, d0am, d0lm);
        // Polynomial vs Mathf exp (~2e-7 relative) and GEMM summation order: losses 1e-5, gradients 2e-5.
        checkOp("losses", fast.losses, slow.losses, 1e-5, 1e-5);
        checkOp("dam", fast.dam, slow.dam, 2e-5, 1e-5);
        checkOp("dlm", fast.dlm, slow.dlm, 2e-5, 1e-5);
        // Accumulation: dam = d0am + dlosses[b] * (gradient with unit dlosses).
        const unit = runSimple(e, c, false, new Float32Array(c.B).fill(1));
        const perA = c.T * c.V;
        checkOp("dam accumulates", fast.dam, d0am.map((v, i) => v + dl[Math.floor(i / perA)] * unit.dam[i]), 1e-5, 1e-5);
        expect(fast.am).toEqual(c.am);
      }), { numRuns: 40 });
    }
  });

  it("stays finite where am and lm peak on different symbols (the GEMM normaliser underflows in f32)", async () => {
    const e = await engine();
    const r = rng(5);
    const c: SimpleCase = { B: 1, T: 5, U1: 4, V: 8, blank: 0, lmScale: 0.25, amScale: 0, targets: Int32Array.of(2, 3, 1), tl: Int32Array.of(5), ul: Int32Array.of(3), am: randn(40, r), lm: randn(32, r) };
    for (let t = 0; t < 5; t++) { c.am[t * 8 + 0] += 80; c.am[t * 8 + 1] -= 80; }
    for (let u = 0; u < 4; u++) { c.lm[u * 8 + 1] += 80; c.lm[u * 8 + 0] -= 80; }
    const got = runSimple(e, c, false, Float32Array.of(1));
    // exp(-80) underflows the product of exps; the direct fallback keeps the float64 value: 1e-4 relative.
    checkOp("peaked loss", got.losses, bruteSimple(c, c.am, c.lm), 0, 1e-4);
    expect(got.dam.every(Number.isFinite) && got.dlm.every(Number.isFinite)).toBe(true);
  });

  it("host functions: simpleLoss + simpleLossBackward equal the raw kernels; bad scales are rejected", async () => {
    const e = await engine();
    const c = fc.sample(simpleArb(5, 4, 11), { numRuns: 1, seed: 3 })[0];
    const raw = runSimple(e, c, false, new Float32Array(c.B).fill(0.5));
    e.scoped(() => {
      const tg = { targets: e.upload(c.targets.length ? c.targets : [0], "i32"), logitLengths: e.upload(c.tl, "i32"), targetLengths: e.upload(c.ul, "i32"), dlosses: e.upload(new Float32Array(c.B).fill(0.5)) };
      const am = e.upload(c.am), lm = e.upload(c.lm), dam = e.upload(new Float32Array(c.am.length)), dlm = e.upload(new Float32Array(c.lm.length));
      const s = simpleLoss(e, am, lm, tg, { B: c.B, T: c.T, U1: c.U1, V: c.V }, { lmScale: c.lmScale, amScale: c.amScale, blank: c.blank });
      simpleLossBackward(e, s, dam, dlm);
      expect(e.read(s.losses, c.B)).toEqual(raw.losses);
      expect(e.read(dam, c.am.length)).toEqual(raw.dam);
      expect(e.read(dlm, c.lm.length)).toEqual(raw.dlm);
      expect(() => simpleLoss(e, am, lm, tg, { B: c.B, T: c.T, U1: c.U1, V: c.V }, { lmScale: 0.8, amScale: 0.3 })).toThrow(/rnnt_pruned.ts: lmScale 0.8 and amScale 0.3/);
      expect(() => pruneRanges(e, s, 1)).toThrow(/sRange must be an integer >= 2/);
    });
  });
});

/** Runs rnnt_prune_ranges (or its twin) on given occupations. */
function runRanges(e: Engine, px: Float32Array, py: Float32Array, tl: Int32Array, ul: Int32Array, B: number, T: number, U1: number, R: number, naive: boolean): Int32Array {
  return e.scoped(() => {
    const out = e.alloc(B * T), p = e.upload(px), q = e.upload(py), t = e.upload(tl, "i32"), u = e.upload(ul, "i32");
    (naive ? e.wasm.rnnt_prune_ranges_naive : e.wasm.rnnt_prune_ranges)(out, p, q, t, u, B, T, U1, R);
    return e.readI32(out, B * T);
  });
}

/** Whether a complete alignment (0,0) -> final blank at (Tb-1, Ub) stays in the band (float-free reachability). */
function bandAdmitsPath(s: ArrayLike<number>, Tb: number, Ub: number, R: number): boolean {
  const inBand = (t: number, u: number) => u >= s[t] && u < s[t] + R && u <= Ub;
  let reach = new Set<number>();
  if (inBand(0, 0)) reach.add(0);
  for (let t = 0; t < Tb; t++) {
    for (let u = 0; u <= Ub; u++) if (reach.has(u - 1) && inBand(t, u)) reach.add(u); // labels within the frame
    if (t === Tb - 1) return reach.has(Ub);
    reach = new Set([...reach].filter((u) => inBand(t + 1, u))); // blanks to the next frame
  }
  return false;
}

/** Asserts the documented constraints of one utterance's starts. */
function checkConstraints(s: ArrayLike<number>, T: number, Tb: number, Ub: number, R: number): void {
  const hi = Math.max(0, Ub + 1 - R);
  expect(s[0]).toBe(0);
  for (let t = 0; t < T; t++) {
    expect(s[t]).toBeGreaterThanOrEqual(0);
    expect(s[t]).toBeLessThanOrEqual(hi);
    if (t > 0) { expect(s[t]).toBeGreaterThanOrEqual(s[t - 1]); expect(s[t] - s[t - 1]).toBeLessThanOrEqual(R - 1); }
  }
  expect(s[Tb - 1]).toBe(Math.min(hi, (R - 1) * (Tb - 1))); // the last frame's band ends at Ub when it can
  expect(bandAdmitsPath(s, Tb, Ub, R)).toBe(Ub <= (R - 1) * Tb);
}

describe("pruned RNN-T: prune ranges", () => {
  it("adversarial occupation mass (starts that decrease and jump by more than s_range) is constrained into a connected band", async () => {
    const e = await engine();
    // One utterance, T = 8, Ub = 12, R = 3: mass at u = 10 on frame 0 (start not 0), then 2 (decrease),
    // then 11 (a jump of 9 > R), then 0 (decrease again), 6, 6, 12, and the last frame pinned.
    const T = 8, U1 = 13, R = 3, peaks = [10, 2, 11, 0, 6, 6, 12, 12];
    const px = new Float32Array(T * U1), py = new Float32Array(T * U1);
    peaks.forEach((u, t) => { py[t * U1 + u] = 0.9; px[t * U1 + Math.max(0, u - 1)] += 0.1; });
    const tl = Int32Array.of(T), ul = Int32Array.of(12);
    // Without the constraints: each frame's heaviest window, as the kernel scores it.
    const raw = peaks.map((_, t) => {
      let best = 0, mass = -1;
      for (let s = 0; s <= 12 + 1 - R; s++) { let m = 0; for (let u = s; u < s + R; u++) m += px[t * U1 + u] + py[t * U1 + u]; if (m > mass) { mass = m; best = s; } }
      return best;
    });
    expect(raw[0]).not.toBe(0);
    expect(raw.some((s, t) => t > 0 && s < raw[t - 1])).toBe(true); // decreasing
    expect(raw.some((s, t) => t > 0 && s - raw[t - 1] >= R)).toBe(true); // a jump that would skip symbols
    for (const naive of [false, true]) {
      const s = runRanges(e, px, py, tl, ul, 1, T, U1, R, naive);
      checkConstraints(s, T, T, 12, R);
    }
  });

  it("random occupations: constraints hold, every band admits a path when Ub <= (R-1)Tb, fast equals the closed-form twin", async () => {
    const e = await engine();
    fc.assert(fc.property(
      fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 12 }), fc.integer({ min: 0, max: 15 }), fc.integer({ min: 2, max: 7 }), fc.integer(),
      (B, T, U, R, seed) => {
        const r = rng(seed), U1 = U + 1;
        const tl = Int32Array.from({ length: B }, () => 1 + Math.floor(r() * T)), ul = Int32Array.from({ length: B }, () => Math.floor(r() * U1));
        const spiky = () => (r() < 0.2 ? r() * 10 : r() * 0.01); // a few heavy nodes anywhere
        const px = Float32Array.from({ length: B * T * U1 }, spiky), py = Float32Array.from({ length: B * T * U1 }, spiky);
        const fast = runRanges(e, px, py, tl, ul, B, T, U1, R, false), slow = runRanges(e, px, py, tl, ul, B, T, U1, R, true);
        expect(fast).toEqual(slow);
        for (let b = 0; b < B; b++) checkConstraints(fast.subarray(b * T, (b + 1) * T), T, tl[b], ul[b], R);
      }), { numRuns: 300 });
  });

  it("ranges from a real simple loss satisfy the constraints, and cover the whole lattice (all starts 0) when R >= U+1", async () => {
    const e = await engine();
    fc.assert(fc.property(simpleArb(12, 8, 11), fc.integer({ min: 2, max: 6 }), (c, R) => {
      const got = runSimple(e, c, false, new Float32Array(c.B).fill(1));
      for (const r of [R, c.U1, c.U1 + 1]) {
        const s = runRanges(e, got.px, got.py, c.tl, c.ul, c.B, c.T, c.U1, r, false);
        for (let b = 0; b < c.B; b++) checkConstraints(s.subarray(b * c.T, (b + 1) * c.T), c.T, c.tl[b], c.ul[b], r);
        if (r >= c.U1) expect(s.every((v) => v === 0)).toBe(true);
      }
    }), { numRuns: 60 });
  });
});
