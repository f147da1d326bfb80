// AlphaNet's adaptive alpha-divergence KD (assembly/transducer/kd.ts, src/engine/kd.ts) against a PyTorch fixture of
// AlphaNet's surrogate (test/ref/alpha_div.py), float64 finite differences of the divergence itself
// (where the surrogate's gradient must equal the true one, and where it must not), a direct float64
// KL, and the scalar twin in both builds.
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import type { Engine, KdDims } from "../src/index.js";
import { bothBuilds, engine, finiteDiff, randn, rng } from "./helpers.js";
import { checkOp, readFixture } from "./harness.js";
import { kdAlpha } from "./kernels.js";

interface Problem {
  dims: KdDims;
  student: ArrayLike<number>;
  teacher: ArrayLike<number>; // log-probs
  tlens: number[];
  ulens: number[];
  scales: number[];
  alphaNeg: number;
  alphaPos: number;
  clip: number;
}

const fixture = readFixture("alpha_div.json", "test/ref/alpha_div.py");

// ---------------------------------------------------------------- float64 reference of the divergence

/**
 * D_α(p‖q) of one node in float64; how far the clip is (log clip - the clipped log; +inf for KL); and
 * Σ_i |r_i| = Σ_i |q_i ρ_i|, the size of the terms the gradient q_j S - r_j cancels.
 */
function nodeDiv64(z: ArrayLike<number>, lp: ArrayLike<number>, o: number, V: number, alpha: number, clip: number) {
  let m = -Infinity;
  for (let i = 0; i < V; i++) m = Math.max(m, z[o + i]);
  let s = 0;
  for (let i = 0; i < V; i++) s += Math.exp(z[o + i] - m);
  const c = m + Math.log(s), lclip = Math.log(clip);
  let d = 0, margin = Infinity, rAbs = 0;
  for (let i = 0; i < V; i++) {
    const lq = z[o + i] - c, q = Math.exp(lq), lw = lp[o + i] - lq;
    if (Math.abs(alpha - 1) < 1e-3) {
      d += Math.exp(lp[o + i]) * lw; // KL(p‖q), unclipped
      rAbs += Math.exp(lp[o + i]);
    } else if (Math.abs(alpha) < 1e-3) {
      d -= q * Math.min(lw, lclip);
      margin = Math.min(margin, lclip - lw);
      rAbs += q * Math.abs(Math.min(lw, lclip));
    } else {
      const cw = Math.exp(Math.min(alpha * lw, lclip));
      d += (q * (cw - 1)) / (alpha * (alpha - 1));
      margin = Math.min(margin, lclip - alpha * lw);
      rAbs += (q * cw) / Math.abs(alpha);
    }
  }
  return { d, margin, rAbs };
}

interface Utt64 {
  dneg: number;
  dpos: number;
  kd: number;
  useNeg: boolean;
  count: number;
  clipMargin: number; // of the chosen α, over the utterance's nodes
  rAbs: number; // the largest Σ_i |r_i| of the chosen α over the utterance's nodes
}

function utterances64(p: Problem, z: ArrayLike<number> = p.student): Utt64[] {
  const { B, T, U1, V } = p.dims;
  const out: Utt64[] = [];
  for (let b = 0; b < B; b++) {
    let dn = 0, dp = 0, mn = Infinity, mp = Infinity, rn = 0, rp = 0, count = 0;
    for (let t = 0; t < p.tlens[b]; t++) {
      for (let u = 0; u <= p.ulens[b]; u++) {
        const o = ((b * T + t) * U1 + u) * V;
        const a = nodeDiv64(z, p.teacher, o, V, p.alphaNeg, p.clip), c = nodeDiv64(z, p.teacher, o, V, p.alphaPos, p.clip);
        dn += a.d;
        dp += c.d;
        mn = Math.min(mn, a.margin);
        mp = Math.min(mp, c.margin);
        rn = Math.max(rn, a.rAbs);
        rp = Math.max(rp, c.rAbs);
        count++;
      }
    }
    if (count) {
      dn /= count;
      dp /= count;
    }
    const useNeg = dn > dp;
    out.push({ dneg: dn, dpos: dp, kd: useNeg ? dn : dp, useNeg, count, clipMargin: useNeg ? mn : mp, rAbs: useNeg ? rn : rp });
  }
  return out;
}

/** Σ_b scale_b·KD_b in float64: the function whose gradient the kernel must give where no clip is on. */
const objective64 = (p: Problem) => (z: Float64Array) => utterances64(p, z).reduce((s, u, b) => s + p.scales[b] * u.kd, 0);

// ---------------------------------------------------------------- running the kernel

/** The raw kernel (SIMD or naive), accumulating into a copy of dInit. */
function runKernel(e: Engine, p: Problem, naive: boolean, dInit?: ArrayLike<number>) {
  const { B, T, U1, V } = p.dims;
  const n = B * T * U1 * V;
  return e.scoped(() => {
    const z = e.upload(p.student), lp = e.upload(p.teacher);
    const tl = e.upload(p.tlens, "i32"), ul = e.upload(p.ulens, "i32"), sc = e.upload(p.scales);
    const losses = e.alloc(B), d = dInit ? e.upload(dInit) : e.alloc(n);
    if (!dInit) e.wasm.mem_zero_f32(d, n);
    const scratch = e.alloc(e.wasm.kd_alpha_scratch(V));
    const fn = naive ? e.wasm.kd_alpha_forward_backward_naive : e.wasm.kd_alpha_forward_backward;
    fn(losses, d, z, lp, tl, ul, sc, scratch, B, T, U1, V, p.alphaNeg, p.alphaPos, p.clip);
    return { losses: e.read(losses, B), grad: e.read(d, n) };
  });
}

/** log_softmax of each row of x [R, V], in float64, rounded to f32 (the teacher's log-probs). */
function logSoftmaxRows(x: ArrayLike<number>, V: number): Float32Array {
  const out = new Float32Array(x.length);
  for (let o = 0; o < x.length; o += V) {
    let m = -Infinity;
    for (let i = 0; i < V; i++) m = Math.max(m, x[o + i]);
    let s = 0;
    for (let i = 0; i < V; i++) s += Math.exp(x[o + i] - m);
    for (let i = 0; i < V; i++) out[o + i] = x[o + i] - m - Math.log(s);
  }
  return out;
}

/** A random problem: lengths in range (some 0), logits uniform in ±sScale (student) and ±tScale (teacher). */
function randomProblem(seed: number, dims: KdDims, sScale: number, tScale: number, alphas: [number, number], clip: number): Problem {
  const r = rng(seed);
  const { B, T, U1, V } = dims;
  const n = B * T * U1 * V;
  const tlens = Array.from({ length: B }, (_, b) => (b === 0 ? T : Math.floor(r() * (T + 1))));
  const ulens = Array.from({ length: B }, (_, b) => (b === 0 ? U1 - 1 : Math.floor(r() * U1)));
  return {
    dims, student: randn(n, r, sScale), teacher: logSoftmaxRows(randn(n, r, tScale), V), tlens, ulens,
    scales: Array.from({ length: B }, () => 0.25 + r() * 2), alphaNeg: alphas[0], alphaPos: alphas[1], clip,
  };
}

/** Indices of the lattice nodes' entries of utterance b (t < T_b, u <= U_b). */
function latticeIndices(p: Problem, b: number): number[] {
  const { T, U1, V } = p.dims;
  const idx: number[] = [];
  for (let t = 0; t < p.tlens[b]; t++) for (let u = 0; u <= p.ulens[b]; u++) for (let k = 0; k < V; k++) idx.push(((b * T + t) * U1 + u) * V + k);
  return idx;
}

const ALPHAS: [number, number][] = [[-1, 1], [0, 1], [-2, 0.5], [1, 1], [0.5, 2], [-1, 0]];

// ---------------------------------------------------------------- tests

describe("kd_alpha: the PyTorch fixture of AlphaNet's surrogate", () => {
  it("the fixture exercises both branches, clipping, and the KL ablation", () => {
    const us = fixture.cases.flatMap((c: { utterances: { chosen: string; clip_active: number }[] }) => c.utterances);
    expect(us.some((u: { chosen: string }) => u.chosen === "neg")).toBe(true);
    expect(us.some((u: { chosen: string }) => u.chosen === "pos")).toBe(true);
    expect(us.some((u: { clip_active: number }) => u.clip_active > 0)).toBe(true);
    expect(fixture.cases.some((c: { alpha_neg: number; alpha_pos: number }) => c.alpha_neg === 1 && c.alpha_pos === 1)).toBe(true);
  });

  for (const c of fixture.cases) {
    it(`${c.name}: losses and gradient (both builds, SIMD and naive)`, async () => {
      const p: Problem = {
        dims: c.dims, student: c.student, teacher: c.teacher, tlens: c.tlens, ulens: c.ulens, scales: c.scales,
        alphaNeg: c.alpha_neg, alphaPos: c.alpha_pos, clip: c.clip,
      };
      for (const e of await bothBuilds()) {
        for (const naive of [false, true]) {
          const got = runKernel(e, p, naive);
          // The reference is float64 from the same f32 inputs. f32 log q = z - logsumexp(z) with |z| <= ~16
          // carries ~1e-6 absolute error, exp adds 1 ulp: divergences of size ~1-7 agree to ~1e-5 relative.
          checkOp(`${c.name} losses (${e.build}${naive ? ", naive" : ""})`, got.losses, c.losses, 1e-6, 2e-5);
          // Gradient entries are scale/|N|·(q_j S - r_j) <= ~2; the same f32 error in q and w^α, plus
          // the cancellation q_j S - r_j: 1e-6 absolute.
          checkOp(`${c.name} grad (${e.build}${naive ? ", naive" : ""})`, got.grad, c.grad, 1e-6, 2e-5);
        }
        // The public API gives the same (it zeroes the gradient and calls the SIMD kernel).
        const api = kdAlpha(e, Float32Array.from(c.student), Float32Array.from(c.teacher), c.tlens, c.ulens, c.scales, c.dims,
          { alphaNeg: c.alpha_neg, alphaPos: c.alpha_pos, clip: c.clip });
        const raw = runKernel(e, p, false);
        expect(Array.from(api.losses)).toEqual(Array.from(raw.losses));
        expect(Array.from(api.grad)).toEqual(Array.from(raw.grad));
      }
    });
  }
});

describe("kd_alpha: SIMD against the naive twin (both builds)", () => {
  it("random shapes, alphas, clips, logits up to ±30, accumulating into random gradients", async () => {
    for (const e of await bothBuilds()) {
      fc.assert(
        fc.property(
          fc.record({
            B: fc.integer({ min: 1, max: 3 }), T: fc.integer({ min: 1, max: 4 }), U1: fc.integer({ min: 1, max: 4 }),
            V: fc.oneof(fc.integer({ min: 2, max: 40 }), fc.constantFrom(64, 255, 256)),
          }),
          fc.constantFrom(...ALPHAS), fc.constantFrom(5, 2, 1e3), fc.constantFrom(0.5, 2, 8, 30), fc.integer(),
          (dims, alphas, clip, scale, seed) => {
            const p = randomProblem(seed, dims, scale, scale, alphas, clip);
            const d0 = randn(dims.B * dims.T * dims.U1 * dims.V, rng(seed ^ 7));
            const a = runKernel(e, p, false, d0), n = runKernel(e, p, true, d0);
            const ref = utterances64(p);
            // Same formulas, different exp (vector polynomial vs musl) and summation order: divergences
            // up to ~60 (logits ±30) agree to a few f32 ulp of the node terms summed, ~1e-5 relative.
            checkOp("losses", a.losses, n.losses, 1e-5, 1e-5);
            // Per utterance; the branch may only differ where the two divergences are within f32 noise.
            const per = dims.T * dims.U1 * dims.V;
            ref.forEach((u, b) => {
              if (!(Math.abs(u.dneg - u.dpos) > 1e-4 * Math.max(1, Math.abs(u.kd)))) return;
              const g = p.scales[b] / Math.max(1, u.count);
              // d0 (|d0| < 1) plus g·(q_j S - r_j): a difference of terms up to g·Σ|r| (Σ|r| reaches
              // ~1e3 with clip 1e3 and logits ±30, where the log-ratio itself carries ~4e-6 error):
              // 2e-5 plus 1e-6 (~8 ulp) of g·Σ|r|, and 1e-4 relative.
              const lo = b * per, hi = lo + per;
              checkOp(`grad utterance ${b}`, a.grad.subarray(lo, hi), n.grad.subarray(lo, hi), 2e-5 + 1e-6 * g * u.rAbs, 1e-4);
            });
          },
        ),
        { numRuns: 60 },
      );
    }
  });
});

describe("kd_alpha: gradient against float64 finite differences of the divergence", () => {
  it("equals the true gradient wherever no clip is active and the max branch is clear", async () => {
    const e = await engine();
    let compared = 0;
    fc.assert(
      fc.property(
        fc.record({ B: fc.integer({ min: 1, max: 3 }), T: fc.integer({ min: 1, max: 3 }), U1: fc.integer({ min: 1, max: 3 }), V: fc.integer({ min: 2, max: 37 }) }),
        fc.constantFrom(...ALPHAS), fc.constantFrom(0.3, 0.7, 1.5), fc.integer(),
        (dims, alphas, scale, seed) => {
          const p = randomProblem(seed, dims, scale, scale * 1.3, alphas, 5);
          const got = runKernel(e, p, false);
          const us = utterances64(p);
          const f = objective64(p);
          const z64 = Float64Array.from(p.student);
          for (let b = 0; b < dims.B; b++) {
            const u = us[b];
            if (u.count === 0) continue;
            // Valid: the clip is at least 1e-3 (in log) away for the chosen α, and the branches are 1e-4
            // apart (the step h = 1e-5 moves a divergence by ~1e-5 at most).
            const clear = p.alphaNeg === p.alphaPos || Math.abs(u.dneg - u.dpos) > 1e-4;
            if (!clear || !(u.clipMargin > 1e-3)) continue;
            const idx = latticeIndices(p, b);
            const fd = finiteDiff(f, z64, idx, 1e-5);
            // FD in float64 with h = 1e-5 is exact to ~1e-9; the kernel is f32 (log q to ~1e-7, exp 1 ulp,
            // terms of size scale/|N| <= 2.25): 2e-6 absolute, 1e-4 relative.
            checkOp(`utterance ${b} of ${JSON.stringify(dims)} α=${alphas}`, idx.map((i) => got.grad[i]), fd, 2e-6, 1e-4);
            compared++;
          }
        },
      ),
      { numRuns: 80 },
    );
    // The check must not pass by skipping everything.
    expect(compared).toBeGreaterThan(40);
  });

  it("differs from the true gradient where the clip is active (it is a surrogate there)", async () => {
    const e = await engine();
    let differing = 0, clipped = 0;
    for (let seed = 1; seed <= 20; seed++) {
      // α- = -1 with a flat student against a sharp teacher: q/p far above the clip where p is small,
      // and D_-1 > KL (measured: such draws pick α- almost always).
      const p = randomProblem(seed, { B: 1, T: 2, U1: 2, V: 7 }, 0.5, 3, [-1, 1], 5);
      const [u] = utterances64(p);
      if (!u.useNeg || !(u.clipMargin < -0.5) || Math.abs(u.dneg - u.dpos) < 1e-3) continue;
      clipped++;
      const idx = latticeIndices(p, 0);
      const fd = finiteDiff(objective64(p), Float64Array.from(p.student), idx, 1e-5);
      const got = runKernel(e, p, false).grad;
      const worst = Math.max(...idx.map((i, j) => Math.abs(got[i] - fd[j])));
      if (worst > 1e-2) differing++;
    }
    expect(clipped).toBeGreaterThan(3);
    expect(differing).toBe(clipped);
  });
});

describe("kd_alpha: α- = α+ = 1 is plain KL(p‖q)", () => {
  it("losses and gradient equal a direct float64 KL, whatever the clip", async () => {
    const e = await engine();
    fc.assert(
      fc.property(
        fc.record({ B: fc.integer({ min: 1, max: 3 }), T: fc.integer({ min: 1, max: 4 }), U1: fc.integer({ min: 1, max: 4 }), V: fc.oneof(fc.integer({ min: 2, max: 33 }), fc.constant(256)) }),
        fc.constantFrom(1.0001, 5, 1e3), fc.constantFrom(0.5, 3, 10), fc.integer(),
        (dims, clip, scale, seed) => {
          const p = randomProblem(seed, dims, scale, scale, [1, 1], clip);
          const { B, T, U1, V } = dims;
          const got = runKernel(e, p, false);
          const kl = new Float64Array(B), grad = new Float64Array(B * T * U1 * V);
          for (let b = 0; b < B; b++) {
            const count = p.tlens[b] * (p.ulens[b] + 1);
            for (let t = 0; t < p.tlens[b]; t++) {
              for (let u = 0; u <= p.ulens[b]; u++) {
                const o = ((b * T + t) * U1 + u) * V;
                let m = -Infinity, s = 0;
                for (let k = 0; k < V; k++) m = Math.max(m, p.student[o + k]);
                for (let k = 0; k < V; k++) s += Math.exp(p.student[o + k] - m);
                for (let k = 0; k < V; k++) {
                  const lq = p.student[o + k] - m - Math.log(s), pk = Math.exp(p.teacher[o + k]);
                  kl[b] += (pk * (p.teacher[o + k] - lq)) / count; // Σ p log(p/q), averaged over nodes
                  grad[o + k] = (p.scales[b] * (Math.exp(lq) - pk)) / count; // d KL/dz = q - p
                }
              }
            }
          }
          // KL up to ~20 (logits ±10) from f32 log-probs: 1e-5 relative; gradient terms <= 2.25.
          checkOp("KL", got.losses, kl, 1e-6, 1e-5);
          checkOp("KL grad", got.grad, grad, 1e-6, 1e-5);
        },
      ),
      { numRuns: 60 },
    );
  });
});

describe("kd_alpha: lattice, accumulation, scales", () => {
  it("leaves entries outside each utterance's lattice untouched, even with NaN there", async () => {
    for (const e of await bothBuilds()) {
      for (const naive of [false, true]) {
        const dims = { B: 3, T: 5, U1: 4, V: 13 };
        const p = randomProblem(11, dims, 2, 2, [-1, 1], 5);
        p.tlens = [5, 2, 0];
        p.ulens = [3, 1, 2];
        const inside = new Set([0, 1, 2].flatMap((b) => latticeIndices(p, b)));
        const s = Float32Array.from(p.student), t = Float32Array.from(p.teacher);
        for (let i = 0; i < s.length; i++) if (!inside.has(i)) s[i] = t[i] = NaN;
        const d0 = randn(s.length, rng(5));
        const got = runKernel(e, { ...p, student: s, teacher: t }, naive, d0);
        for (let i = 0; i < s.length; i++) if (!inside.has(i)) expect(Object.is(got.grad[i], d0[i])).toBe(true);
        expect(Array.from(got.losses).every(Number.isFinite)).toBe(true);
        expect(got.losses[2]).toBe(0); // no frames: no nodes, KD 0
        // the lattice entries did change, and the losses match the float64 reference
        expect([...inside].some((i) => got.grad[i] !== d0[i])).toBe(true);
        checkOp("losses", got.losses, utterances64(p).map((u) => u.kd), 1e-6, 1e-5); // as in the fixture test
      }
    }
  });

  it("accumulates (+=) into dstudent; scale 0 skips an utterance's backward but not its loss", async () => {
    const e = await engine();
    const p = randomProblem(3, { B: 2, T: 3, U1: 3, V: 29 }, 1, 1, [-1, 1], 5);
    const n = 2 * 3 * 3 * 29;
    const d0 = randn(n, rng(9));
    const fresh = runKernel(e, p, false).grad, acc = runKernel(e, p, false, d0).grad;
    // One f32 addition per entry: d0 + g rounds once, |d0 + g| < 3.
    checkOp("accumulated", acc, Array.from(fresh, (g, i) => g + d0[i]), 4e-7);
    const half = runKernel(e, { ...p, scales: [p.scales[0], 0] }, false, d0);
    const per = 3 * 3 * 29;
    for (let i = per; i < n; i++) expect(half.grad[i]).toBe(d0[i]);
    checkOp("utterance 0 unchanged by the other's scale", half.grad.subarray(0, per), acc.subarray(0, per), 0);
    checkOp("losses do not depend on scales", half.losses, runKernel(e, p, false).losses, 0);
  });

  it("scales the gradient linearly and reproduces AlphaNet's tie rule (equal divergences pick α+)", async () => {
    const e = await engine();
    const p = randomProblem(21, { B: 1, T: 2, U1: 2, V: 9 }, 1, 1, [-1, 1], 5);
    const g1 = runKernel(e, { ...p, scales: [1] }, false).grad, g3 = runKernel(e, { ...p, scales: [3] }, false).grad;
    checkOp("3x scale", g3, Array.from(g1, (x) => 3 * x), 1e-7, 1e-6); // g = scale/|N| rounded once
    // Teacher = student exactly: both divergences are 0 (up to f32), AlphaNet then takes α+ = KL, whose
    // gradient q - p is 0 up to rounding; the α- surrogate's would be too. Losses must be ~0.
    const same = { ...p, teacher: logSoftmaxRows(p.student, 9) };
    const r = runKernel(e, same, false);
    checkOp("self-distillation loss", r.losses, [0], 1e-6);
    checkOp("self-distillation grad", r.grad, new Float32Array(r.grad.length), 1e-7);
  });

  it("the training path: teacher logits turned into log-probs in place by log_softmax_forward", async () => {
    for (const e of await bothBuilds()) {
      const dims = { B: 2, T: 3, U1: 3, V: 29 };
      const n = 2 * 3 * 3 * 29;
      const tLogits = randn(n, rng(4), 3);
      const p = { ...randomProblem(8, dims, 1, 1, [-1, 1], 5), teacher: logSoftmaxRows(tLogits, 29) };
      const ref = runKernel(e, p, false);
      const got = e.scoped(() => {
        const t = e.upload(tLogits);
        e.wasm.log_softmax_forward(t, t, n / 29, 29); // out aliases inp
        const lp = e.read(t, n);
        return runKernel(e, { ...p, teacher: lp }, false);
      });
      // Teacher log-probs from the f32 kernel vs float64 rounded: ~2 ulp of |log p| <= 12, then as the
      // fixture test (1e-5 relative).
      checkOp("losses", got.losses, ref.losses, 1e-6, 2e-5);
      checkOp("grad", got.grad, ref.grad, 1e-6, 2e-5);
    }
  });

  it("kdAlpha rejects teacher logits that are not log-probs, and bad lengths", async () => {
    const e = await engine();
    const dims = { B: 1, T: 2, U1: 2, V: 5 };
    const z = randn(20, rng(1)), logits = randn(20, rng(2), 3);
    expect(() => kdAlpha(e, z, logits, [2], [1], [1], dims)).toThrow(/log-probs/);
    expect(() => kdAlpha(e, z, logSoftmaxRows(logits, 5), [3], [1], [1], dims)).toThrow(/tlens/);
    expect(() => kdAlpha(e, z, logSoftmaxRows(logits, 5), [2], [2], [1], dims)).toThrow(/ulens/);
    expect(() => kdAlpha(e, z, logSoftmaxRows(logits, 5), [2], [1], [1], dims, { clip: 0 })).toThrow(/clip/);
  });
});

// ---------------------------------------------------------------- the pruned band (kd_alpha_band_forward_backward)

/**
 * A band problem cut from a full-lattice one: random non-decreasing starts s[b,t] in 0..U1-1 and width R;
 * band node (t, r) is lattice node (t, s + r), a node while s + r <= U_b. The band tensors copy those rows
 * and hold NaN elsewhere (the kernel must neither read nor write them).
 */
function bandProblem(p: Problem, R: number, seed: number) {
  const { B, T, U1, V } = p.dims;
  const r = rng(seed);
  const ranges = new Int32Array(B * T);
  for (let b = 0; b < B; b++) {
    let s = 0;
    for (let t = 0; t < T; t++) {
      s = Math.min(U1 - 1, s + (r() < 0.4 ? Math.floor(r() * 3) : 0));
      ranges[b * T + t] = s;
    }
  }
  const n = B * T * R * V;
  const student = new Float32Array(n).fill(NaN), teacher = new Float32Array(n).fill(NaN);
  const nodes: { b: number; band: number; full: number }[] = []; // offsets of each node's row
  const S = Float32Array.from(p.student), L = Float32Array.from(p.teacher);
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < p.tlens[b]; t++) {
      for (let k = 0; k < R; k++) {
        const u = ranges[b * T + t] + k;
        if (u > p.ulens[b]) continue;
        const band = ((b * T + t) * R + k) * V, full = ((b * T + t) * U1 + u) * V;
        student.set(S.subarray(full, full + V), band);
        teacher.set(L.subarray(full, full + V), band);
        nodes.push({ b, band, full });
      }
    }
  }
  return { ranges, student, teacher, nodes, R };
}

function runBand(e: Engine, p: Problem, bp: ReturnType<typeof bandProblem>, naive: boolean, dInit: Float32Array) {
  const { B, T, V } = p.dims;
  return e.scoped(() => {
    const z = e.upload(bp.student), lp = e.upload(bp.teacher), rg = e.upload(bp.ranges, "i32");
    const tl = e.upload(p.tlens, "i32"), ul = e.upload(p.ulens, "i32"), sc = e.upload(p.scales);
    const losses = e.alloc(B), d = e.upload(dInit);
    const scratch = e.alloc(e.wasm.kd_alpha_scratch(V));
    const fn = naive ? e.wasm.kd_alpha_band_forward_backward_naive : e.wasm.kd_alpha_band_forward_backward;
    fn(losses, d, z, lp, tl, ul, sc, rg, scratch, B, T, bp.R, V, p.alphaNeg, p.alphaPos, p.clip);
    return { losses: e.read(losses, B), grad: e.read(d, dInit.length) };
  });
}

describe("kd_alpha on the pruned band", () => {
  it("losses are the float64 divergences averaged over the band's lattice nodes; KL gradients are (q - p)/|N_b|; nothing else is touched", async () => {
    for (const e of await bothBuilds()) {
      fc.assert(
        fc.property(
          fc.record({ B: fc.integer({ min: 1, max: 3 }), T: fc.integer({ min: 1, max: 5 }), U1: fc.integer({ min: 1, max: 6 }), V: fc.oneof(fc.integer({ min: 2, max: 33 }), fc.constant(256)) }),
          fc.integer({ min: 1, max: 4 }), fc.constantFrom(...ALPHAS), fc.integer(),
          (dims, R, alphas, seed) => {
            const p = randomProblem(seed, dims, 3, 3, alphas, 5);
            const bp = bandProblem(p, R, seed ^ 0x51);
            const d0 = Float32Array.from(randn(dims.B * dims.T * R * dims.V, rng(seed ^ 9)));
            const got = runBand(e, p, bp, false, d0), twin = runBand(e, p, bp, true, d0);
            // reference: nodeDiv64 over the band's nodes, read from the FULL lattice's rows
            const want = Array.from({ length: dims.B }, (_, b) => {
              const mine = bp.nodes.filter((x) => x.b === b);
              if (!mine.length) return 0;
              const dn = mine.reduce((s, x) => s + nodeDiv64(p.student, p.teacher, x.full, dims.V, p.alphaNeg, p.clip).d, 0) / mine.length;
              const dp = mine.reduce((s, x) => s + nodeDiv64(p.student, p.teacher, x.full, dims.V, p.alphaPos, p.clip).d, 0) / mine.length;
              return Math.max(dn, dp);
            });
            // as the lattice test above: divergences from f32 log-probs, logits ±3: 1e-5 relative
            checkOp("band losses", got.losses, want, 1e-6, 1e-5);
            checkOp("band losses, naive twin", twin.losses, got.losses, 1e-6, 1e-5);
            const inside = new Set(bp.nodes.flatMap((x) => Array.from({ length: dims.V }, (_, k) => x.band + k)));
            for (let i = 0; i < d0.length; i++) if (!inside.has(i)) expect(Object.is(got.grad[i], d0[i])).toBe(true);
            if (alphas[0] === 1 && alphas[1] === 1) {
              const grad = Float64Array.from(d0);
              for (let b = 0; b < dims.B; b++) {
                const mine = bp.nodes.filter((x) => x.b === b);
                for (const x of mine) {
                  let m = -Infinity, s = 0;
                  for (let k = 0; k < dims.V; k++) m = Math.max(m, p.student[x.full + k]);
                  for (let k = 0; k < dims.V; k++) s += Math.exp(p.student[x.full + k] - m);
                  for (let k = 0; k < dims.V; k++) {
                    const q = Math.exp(p.student[x.full + k] - m) / s;
                    grad[x.band + k] += (p.scales[b] * (q - Math.exp(p.teacher[x.full + k]))) / mine.length;
                  }
                }
              }
              // d0 (|d0| ~ 1) plus terms <= 2.25: 1e-6 absolute, 1e-5 relative (as the KL test above)
              checkOp("band KL grad", got.grad, grad, 1e-6, 1e-5);
            }
          },
        ),
        { numRuns: 30 },
      );
    }
  });
});
