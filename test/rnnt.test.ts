// RNN-T loss (assembly/transducer/rnnt.ts, src/engine/rnnt.ts) against torchaudio, brute force, finite differences
// and its scalar twin.
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { rnntLossInPlace, type Engine } from "../src/index.js";
import { bothBuilds, engine, finiteDiff, randn, rng } from "./helpers.js";
import { checkOp, readFixture } from "./harness.js";
import { rnntLoss } from "./kernels.js";

type Shape = [number, number, number, number];

interface Case {
  shape: Shape;
  blank: number;
  scale: number;
  targets: number[];
  logit_lengths: number[];
  target_lengths: number[];
  logits: number[];
  losses: number[];
  grad: number[];
}

const fixture = readFixture("rnnt.json", "test/ref/rnnt.py");

/** Per-utterance -log P by enumerating every alignment, in float64 (independent of the lattice recursion). */
function bruteLosses(z: ArrayLike<number>, shape: Shape, targets: ArrayLike<number>, tl: ArrayLike<number>, ul: ArrayLike<number>, blank: number): number[] {
  const [B, T, U1, V] = shape;
  const out: number[] = [];
  for (let b = 0; b < B; b++) {
    const lp = (t: number, u: number, k: number) => {
      const o = ((b * T + t) * U1 + u) * V;
      let m = -Infinity;
      for (let j = 0; j < V; j++) m = Math.max(m, z[o + j]);
      let s = 0;
      for (let j = 0; j < V; j++) s += Math.exp(z[o + j] - m);
      return z[o + k] - m - Math.log(s);
    };
    const Tb = tl[b], Ub = ul[b];
    const scores: number[] = [];
    const walk = (t: number, u: number, acc: number): void => {
      if (t === Tb - 1 && u === Ub) { scores.push(acc + lp(t, u, blank)); return; } // final blank
      if (t < Tb - 1) walk(t + 1, u, acc + lp(t, u, blank));
      if (u < Ub) walk(t, u + 1, acc + lp(t, u, targets[b * (U1 - 1) + u]));
    };
    walk(0, 0, 0);
    const m = Math.max(...scores);
    out.push(-(m + Math.log(scores.reduce((s, x) => s + Math.exp(x - m), 0))));
  }
  return out;
}

/** Runs the raw kernels (accumulating backward into `dInit`, scaled by `dlosses`), SIMD or naive. */
function runKernels(e: Engine, logits: Float32Array, shape: Shape, targets: Int32Array, tl: Int32Array, ul: Int32Array, blank: number, naive: boolean, dInit: Float32Array, dlosses: Float32Array) {
  const [B, T, U1, V] = shape;
  return e.scoped(() => {
    const z = e.upload(logits), d = e.upload(dInit);
    const tg = e.upload(targets.length ? targets : [0], "i32"), t = e.upload(tl, "i32"), u = e.upload(ul, "i32");
    const losses = e.alloc(B), dl = e.upload(dlosses);
    const lat = [0, 1, 2, 3, 4].map(() => e.alloc(B * T * U1));
    const fwd = naive ? e.wasm.rnnt_loss_forward_naive : e.wasm.rnnt_loss_forward;
    const bwd = naive ? e.wasm.rnnt_loss_backward_naive : e.wasm.rnnt_loss_backward;
    fwd(losses, lat[0], lat[1], lat[2], lat[3], lat[4], z, tg, t, u, B, T, U1, V, blank);
    bwd(d, losses, lat[0], lat[1], lat[2], lat[3], lat[4], dl, z, tg, t, u, B, T, U1, V, blank);
    return { losses: e.read(losses, B), grad: e.read(d, logits.length), logits: e.read(z, logits.length) };
  });
}

/** fast-check arbitrary: a small batch, padded shape possibly beyond the longest utterance. */
const tinyBatch = (maxT: number, maxU: number, maxV: number) =>
  fc.record({
    B: fc.integer({ min: 1, max: 2 }), T: fc.integer({ min: 1, max: maxT }), U: fc.integer({ min: 0, max: maxU }),
    V: fc.integer({ min: 2, max: maxV }), scale: fc.constantFrom(0.5, 2, 8, 30), blankPick: fc.nat(), seed: fc.integer(),
  }).map(({ B, T, U, V, scale, blankPick, seed }) => {
    const r = rng(seed);
    const blank = blankPick % V;
    const tl = Int32Array.from({ length: B }, () => 1 + Math.floor(r() * T));
    const ul = Int32Array.from({ length: B }, () => Math.floor(r() * (U + 1)));
    const targets = Int32Array.from({ length: B * U }, () => Math.floor(r() * V)); // blank as a label is legal
    const shape: Shape = [B, T, U + 1, V];
    return { shape, blank, tl, ul, targets, logits: randn(B * T * (U + 1) * V, r, scale), scale };
  });

describe("rnnt loss", () => {
  it("fixture is what the tests expect", () => {
    expect(fixture.magic).toBe("todm-fixture");
    expect(fixture.version).toBe(1);
    expect(fixture.generator).toBe("test/ref/rnnt.py");
    const cases = fixture.cases as Case[];
    expect(cases.length).toBeGreaterThanOrEqual(50);
    expect(cases.some((c) => c.shape[2] === 1)).toBe(true); // U = 0
    expect(cases.some((c) => c.shape[1] === 1)).toBe(true); // T = 1
    expect(cases.some((c) => c.scale === 30)).toBe(true);
    expect(cases.some((c) => c.logit_lengths.some((t) => t < c.shape[1]) && c.target_lengths.some((u) => u < c.shape[2] - 1))).toBe(true);
  });

  it("matches torchaudio rnnt_loss (reduction='none', clamp=-1) on every fixture case, both builds", async () => {
    for (const e of await bothBuilds()) {
      for (const [i, c] of (fixture.cases as Case[]).entries()) {
        const logits = Float32Array.from(c.logits);
        const { losses, grad } = rnntLoss(e, logits, c.shape, Int32Array.from(c.targets), Int32Array.from(c.logit_lengths), Int32Array.from(c.target_lengths), { blank: c.blank });
        // The bar: 1e-4 relative on losses, 1e-4 absolute on gradients (both sides are f32 over
        // lattices of <= 30 nodes with |z| <= 30; the exp/log implementations differ).
        checkOp(`${e.build} case ${i} losses`, losses, c.losses, 0, 1e-4);
        checkOp(`${e.build} case ${i} grad`, grad, c.grad, 1e-4);
        expect(logits).toEqual(Float32Array.from(c.logits)); // the caller's logits are untouched
      }
    }
  });

  it("equals a brute-force sum over all alignments (fast-check, padded shapes, any blank)", async () => {
    const e = await engine();
    fc.assert(
      fc.property(tinyBatch(4, 3, 5), ({ shape, blank, tl, ul, targets, logits }) => {
        const { losses } = rnntLoss(e, logits, shape, targets, tl, ul, { blank });
        const ref = bruteLosses(logits, shape, targets, tl, ul, blank);
        // f32 log-softmax and lattice vs float64 enumeration: losses up to ~250 (|z| <= 30, <= 7 arcs),
        // f32 rounding of each arc ~1e-5 relative: 1e-5 relative plus 1e-5 absolute for losses near 0.
        checkOp("losses vs brute force", losses, ref, 1e-5, 1e-5);
      }),
      { numRuns: 150 },
    );
  });

  it("gradient equals float64 central finite differences of the brute-force loss (fast-check)", async () => {
    const e = await engine();
    fc.assert(
      fc.property(tinyBatch(3, 2, 4), ({ shape, blank, tl, ul, targets, logits }) => {
        const { grad } = rnntLoss(e, logits, shape, targets, tl, ul, { blank });
        const x = Float64Array.from(logits);
        const idx = Array.from({ length: x.length }, (_, i) => i);
        const sum = (v: Float64Array) => bruteLosses(v, shape, targets, tl, ul, blank).reduce((s, l) => s + l, 0);
        const fd = finiteDiff(sum, x, idx, 1e-5);
        // Gradient entries are probabilities' differences in [-1, 1]; the kernel's are f32 exps of
        // sums of terms up to ~250 in magnitude (1 ulp ~ 1.5e-5 relative). Central differences with
        // h = 1e-5 in float64 are exact to ~1e-9. Padding nodes must be exactly 0 (both sides).
        checkOp("grad vs finite differences", grad, fd, 1e-4);
      }),
      { numRuns: 60 },
    );
  });

  it("SIMD kernels match their scalar twins; backward accumulates, scaled by dlosses", async () => {
    for (const e of await bothBuilds()) {
      fc.assert(
        fc.property(tinyBatch(7, 6, 37), fc.integer(), ({ shape, blank, tl, ul, targets, logits }, seed) => {
          const r = rng(seed);
          const d0 = randn(logits.length, r), dl = randn(shape[0], r, 2);
          const fast = runKernels(e, logits, shape, targets, tl, ul, blank, false, d0, dl);
          const slow = runKernels(e, logits, shape, targets, tl, ul, blank, true, d0, dl);
          // Polynomial exp vs Mathf.exp (~2e-7 relative each), sums over V <= 37 in another order.
          checkOp("losses simd vs naive", fast.losses, slow.losses, 1e-5, 1e-5);
          checkOp("grad simd vs naive", fast.grad, slow.grad, 2e-5, 1e-5);
          expect(fast.logits).toEqual(logits); // the accumulating backward leaves the logits alone
          // The accumulating backward adds dlosses[b] * grad to what was there (grad from the public API).
          const api = rnntLoss(e, logits, shape, targets, tl, ul, { blank }).grad;
          const [B, , , ] = shape, per = logits.length / B;
          const expected = d0.map((v, i) => v + dl[Math.floor(i / per)] * api[i]);
          // One f32 multiply-add on values of magnitude <= ~3: 1e-6 absolute.
          checkOp("accumulated grad", fast.grad, expected, 1e-6, 1e-6);
        }),
        { numRuns: 40 },
      );
    }
  });

  it("-inf logits (masked classes and arcs): losses match brute force, gradients finite and zero where masked", async () => {
    const e = await engine();
    let finite = 0;
    fc.assert(
      fc.property(tinyBatch(4, 3, 5), fc.integer(), ({ shape, blank, tl, ul, targets, logits }, seed) => {
        const r = rng(seed);
        const z = logits.map((v, i) => (i % shape[3] !== blank && r() < 0.3 ? -Infinity : v)); // the blank stays finite
        const { losses, grad } = rnntLoss(e, z, shape, targets, tl, ul, { blank });
        const ref = bruteLosses(z, shape, targets, tl, ul, blank);
        ref.forEach((l, b) => {
          if (!Number.isFinite(l)) { expect(losses[b]).toBe(Infinity); return; } // no alignment survives
          finite++;
          // As the unmasked brute-force check: 1e-5 relative plus 1e-5 absolute.
          expect(Math.abs(losses[b] - l)).toBeLessThanOrEqual(1e-5 + 1e-5 * Math.abs(l));
          const per = z.length / shape[0];
          for (let i = b * per; i < (b + 1) * per; i++) {
            expect(Number.isFinite(grad[i])).toBe(true);
            if (z[i] === -Infinity) expect(grad[i]).toBe(0); // softmax weight 0 and never a used arc
          }
        });
      }),
      { numRuns: 150 },
    );
    expect(finite).toBeGreaterThan(50); // the property did exercise finite cases
  });

  it("long T (300 frames, 40 labels): losses match a float64 lattice, SIMD matches naive", async () => {
    const e = await engine();
    const r = rng(11);
    const shape: Shape = [2, 300, 41, 9];
    const tl = Int32Array.of(300, 257), ul = Int32Array.of(40, 33);
    const targets = Int32Array.from({ length: 80 }, () => 1 + Math.floor(r() * 8));
    const logits = randn(2 * 300 * 41 * 9, r, 5);
    const { losses } = rnntLoss(e, logits, shape, targets, tl, ul);
    // float64 α recursion (the brute-force sum has C(339, 40) terms): the reference for long lattices.
    const ref = [0, 1].map((b) => {
      const lp = (t: number, u: number, k: number) => {
        const o = ((b * 300 + t) * 41 + u) * 9;
        const m = Math.max(...logits.subarray(o, o + 9));
        return logits[o + k] - m - Math.log(logits.subarray(o, o + 9).reduce((s, v) => s + Math.exp(v - m), 0));
      };
      const lae = (a: number, c: number) => (a === -Infinity ? c : c === -Infinity ? a : Math.max(a, c) + Math.log1p(Math.exp(-Math.abs(a - c))));
      const alpha: number[][] = [];
      for (let t = 0; t < tl[b]; t++) {
        alpha.push([]);
        for (let u = 0; u <= ul[b]; u++) {
          if (t === 0 && u === 0) { alpha[t].push(0); continue; }
          const stay = t > 0 ? alpha[t - 1][u] + lp(t - 1, u, 0) : -Infinity;
          const emit = u > 0 ? alpha[t][u - 1] + lp(t, u - 1, targets[b * 40 + u - 1]) : -Infinity;
          alpha[t].push(lae(stay, emit));
        }
      }
      return -(alpha[tl[b] - 1][ul[b]] + lp(tl[b] - 1, ul[b], 0));
    });
    // Losses ~1000 accumulated over ~340 f32 log-add steps (each ~1 ulp of the running value): 1e-5 relative.
    checkOp("long-T losses", losses, ref, 0, 1e-5);
    const ones = new Float32Array(2).fill(1), zero = new Float32Array(logits.length);
    const fast = runKernels(e, logits, shape, targets, tl, ul, 0, false, zero, ones);
    const slow = runKernels(e, logits, shape, targets, tl, ul, 0, true, zero, ones);
    checkOp("long-T losses simd vs naive", fast.losses, slow.losses, 0, 1e-6); // exp4 vs Mathf.exp in lnorm
    // Not 1e-5: α, β and log P reach ~1000 here, where one f32 ulp is 6e-5, so the occupancy
    // exp(α + β - log P) of either build carries a relative error up to ~1e-4 (f32 lattices, as torchaudio's).
    checkOp("long-T grad simd vs naive", fast.grad, slow.grad, 2e-4);
  });

  it("gradient sums to zero over V at every node and is exactly zero at padding", async () => {
    const e = await engine();
    const r = rng(7);
    const shape: Shape = [3, 9, 6, 29];
    const tl = Int32Array.of(9, 4, 1), ul = Int32Array.of(2, 5, 0);
    const targets = Int32Array.from({ length: 15 }, () => 1 + Math.floor(r() * 28));
    const { grad } = rnntLoss(e, randn(3 * 9 * 6 * 29, r, 30), shape, targets, tl, ul, { blank: 0 });
    for (let n = 0; n < 3 * 9 * 6; n++) {
      const b = Math.floor(n / 54), t = Math.floor(n / 6) % 9, u = n % 6;
      const row = grad.subarray(n * 29, n * 29 + 29);
      if (t >= tl[b] || u > ul[b]) expect(row.every((g) => g === 0)).toBe(true);
      // Zero in exact arithmetic (occupancy times a softmax row minus the two arcs leaving the node).
      // In f32 the occupancy exp(α + β - log P) carries the rounding of α, β, log P, which reach ~250
      // here (|z| = 30; 1 ulp of 256 is 3e-5): 1e-4, the gradient tolerance.
      else expect(Math.abs(row.reduce((s, g) => s + g, 0))).toBeLessThan(1e-4);
    }
  });

  it("rnntLossInPlace (training path) writes dlosses[b] * grad over the logits", async () => {
    const e = await engine();
    const r = rng(21);
    const shape: Shape = [3, 5, 4, 7];
    const logits = randn(3 * 5 * 4 * 7, r, 3), targets = Int32Array.from({ length: 9 }, () => 1 + Math.floor(r() * 6));
    const tl = Int32Array.of(5, 2, 4), ul = Int32Array.of(3, 1, 0), dl = Float32Array.of(0.5, -2, 1 / 3);
    const api = rnntLoss(e, logits, shape, targets, tl, ul);
    const got = e.scoped(() => {
      const z = e.upload(logits);
      const losses = rnntLossInPlace(e, { logits: z, targets: e.upload(targets, "i32"), logitLengths: e.upload(tl, "i32"), targetLengths: e.upload(ul, "i32"), dlosses: e.upload(dl) }, shape);
      return { losses: e.read(losses, 3), grad: e.read(z, logits.length) };
    });
    expect(got.losses).toEqual(api.losses); // the same kernels on the same values
    const per = logits.length / 3;
    // One f32 multiply of the same gradient: 1e-7 absolute (|grad| <= 2 after scaling).
    checkOp("scaled in-place grad", got.grad, api.grad.map((g, i) => g * dl[Math.floor(i / per)]), 1e-7, 1e-6);
  });

  it("blank = -1 means the last class", async () => {
    const e = await engine();
    const r = rng(3);
    const shape: Shape = [1, 3, 2, 5];
    const logits = randn(30, r, 2), args = [Int32Array.of(2), Int32Array.of(3), Int32Array.of(1)] as const;
    const a = rnntLoss(e, logits, shape, ...args, { blank: -1 });
    const b = rnntLoss(e, logits, shape, ...args, { blank: 4 });
    expect(a.losses).toEqual(b.losses);
    expect(a.grad).toEqual(b.grad);
  });

  it("rejects inconsistent inputs with a message", async () => {
    const e = await engine();
    const z = new Float32Array(2 * 3 * 2 * 4);
    const ok = [Int32Array.of(1, 2), Int32Array.of(3, 3), Int32Array.of(1, 1)] as const;
    expect(() => rnntLoss(e, z, [2, 3, 2, 4], ...ok)).not.toThrow();
    expect(() => rnntLoss(e, z, [2, 3, 2, 5], ...ok)).toThrow(/logits has 48 values/);
    expect(() => rnntLoss(e, z, [2, 3, 2, 4], ok[0], Int32Array.of(4, 3), ok[2])).toThrow(/logitLengths\[0\] = 4/);
    expect(() => rnntLoss(e, z, [2, 3, 2, 4], ok[0], Int32Array.of(0, 3), ok[2])).toThrow(/logitLengths\[0\] = 0/);
    expect(() => rnntLoss(e, z, [2, 3, 2, 4], ok[0], ok[1], Int32Array.of(2, 1))).toThrow(/targetLengths\[0\] = 2/);
    expect(() => rnntLoss(e, z, [2, 3, 2, 4], Int32Array.of(4, 1), ok[1], ok[2])).toThrow(/targets\[0, 0\] = 4/);
    expect(() => rnntLoss(e, z, [2, 3, 2, 4], ...ok, { blank: 4 })).toThrow(/blank 4/);
  });

  it("vectorised exp matches Math.exp, flushes below 2^-126 and -inf to 0", async () => {
    for (const e of await bothBuilds()) {
      const xs = Float32Array.from([-Infinity, -1000, -88, -87.4, -87.3, -50, -10, -1, -0.5, 0, 1e-8, 0.3, 0.5, 1, 10, 50, 87, 88]);
      const dense = Float32Array.from({ length: 4001 }, (_, i) => -87 + (i * 87) / 4000);
      const x = Float32Array.from([...xs, ...dense]);
      const got = e.scoped(() => {
        const p = e.upload(x), o = e.alloc(x.length);
        e.wasm.rnnt_exp_array(o, p, x.length);
        return e.read(o, x.length);
      });
      const ref = Array.from(x, (v) => (v < -87.33654 ? 0 : Math.exp(v)));
      // Cephes expf is accurate to ~2 ulp; 5e-7 relative leaves room for the FMA-less build.
      checkOp(`${e.build} exp`, got, ref, 0, 5e-7);
    }
  });
});
