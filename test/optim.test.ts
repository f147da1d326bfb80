// ScaledAdam, AdamW and Eden against icefall's and torch's own code (fixtures from test/ref/optim.py),
// and the SIMD kernels against their scalar twins.
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { bothBuilds, diff, engine, randn, rng } from "./helpers.js";
import { checkOp, readFixture } from "./harness.js";
import { eden, packTensors, ScaledAdamRegion, AdamWRegion, scaledAdamSlotFloats, type Engine, type ScaledAdamOptions } from "../src/index.js";
import { adamW, scaledAdam } from "./kernels.js";

interface Fixture {
  magic: string;
  version: number;
  generator: string;
}
type GenRow = [initScale: number, initBias: number, gradScale: number, gradBias: number];
interface Run {
  name: string;
  opts: Record<string, unknown>;
  eden?: { lr_batches: number; lr_epochs: number; warmup_batches: number } | null;
  bad_grads?: [number, number, string][];
  param_seed: number;
  grad_seed: number;
  grad_checksum: number;
  initial: number[][];
  lrs?: number[];
  clipping_factors?: number[];
  checkpoints: Record<string, number[][]>;
}
interface OptimFixture extends Fixture {
  tensors: { name: string; shape: number[] }[];
  steps: number;
  spike_steps: number[];
  spike_factor: number;
  gen: GenRow[];
  runs: Run[];
}

function load<T extends Fixture>(name: string): T {
  const f = readFixture<T>(name, "test/ref/optim.py");
  expect([f.magic, f.version, f.generator]).toEqual(["todm-fixture", 1, "test/ref/optim.py"]);
  return f;
}

const scaledFix = load<OptimFixture>("scaled_adam.json");
const adamwFix = load<OptimFixture>("adamw.json");
const edenFix = load<Fixture & { cases: Record<string, number>[] }>("eden.json");

/** The gradients of test/ref/optim.py (mulberry32, same formula, same order), with the bad values of a run. */
function gradientSource(fix: OptimFixture, run: Run) {
  const r = rng(run.grad_seed);
  let checksum = 0;
  return (step: number): Float32Array[] => {
    const spike = fix.spike_steps.includes(step) ? fix.spike_factor : 1;
    const out = fix.tensors.map((t, i) => {
      const [, , gscale, gbias] = fix.gen[i];
      const n = t.shape.reduce((a, b) => a * b, 1);
      const g = Float32Array.from({ length: n }, () => (r() * 2 - 1) * gscale * spike + gbias);
      for (const x of g) checksum += x;
      return g;
    });
    const python: Record<string, number> = { inf: Infinity, "-inf": -Infinity, nan: NaN };
    for (const [s, t, v] of run.bad_grads ?? []) if (s === step) out[t][0] = python[v];
    if (step === fix.steps - 1) expect(checksum).toBeCloseTo(run.grad_checksum, 6); // the generator is the fixture's
    return out;
  };
}

function camelOpts(o: Record<string, unknown>): ScaledAdamOptions {
  const camel = (k: string) => k.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
  return Object.fromEntries(Object.entries(o).map(([k, v]) => [camel(k), v])) as ScaledAdamOptions;
}

/**
 * Relative to the tensor's largest reference value: the parameters pass through ~0 on their way,
 * where an element-wise relative bound means nothing. A null in the fixture is a NaN there, and must
 * be a NaN here too (icefall lets a NaN gradient through to the weights).
 */
function checkTensor(name: string, got: ArrayLike<number>, ref: (number | null)[], rtol: number): void {
  const r = ref.map((x) => (x === null ? NaN : x));
  const scale = Math.max(...r.filter(Number.isFinite).map(Math.abs), 1e-30);
  const g = Array.from(got);
  for (let i = 0; i < r.length; i++) {
    if (Number.isNaN(r[i])) {
      expect(Number.isNaN(g[i]), `${name}[${i}] should be NaN as in the reference`).toBe(true);
      g[i] = r[i] = 0;
    }
  }
  checkOp(name, g, r, rtol * scale, rtol);
}

describe("ScaledAdam matches icefall (test/fixtures/scaled_adam.json)", () => {
  // Per-run 24 steps over 8 tensors, f32 throughout. 1e-5 relative to each tensor's largest value
  // (see checkTensor): the sums (sum(p*g), sum(p^2), the clipping norm) run in another order than
  // torch's, and the relaxed build fuses multiply-adds; both are ~1e-7 per step.
  const RTOL = 1e-5;
  for (const run of scaledFix.runs) {
    it(`${run.name}: params after 1, 4, 12, 24 steps, clipping factors, public API on both builds`, async () => {
      const shapes = scaledFix.tensors.map((t) => t.shape);
      for (const e of await bothBuilds()) {
        const opt = scaledAdam(e, shapes, camelOpts(run.opts));
        const params = run.initial.map((p) => Float32Array.from(p));
        const grads = gradientSource(scaledFix, run);
        for (let s = 0; s < scaledFix.steps; s++) {
          if (run.eden) {
            const lr = eden(s, Math.floor(s / 8), { baseLr: run.opts.lr as number, lrBatches: run.eden.lr_batches, lrEpochs: run.eden.lr_epochs, warmupBatches: run.eden.warmup_batches });
            // f64 formula on both sides; only pow's last ulp may differ.
            expect(Math.abs(lr - run.lrs![s])).toBeLessThanOrEqual(1e-15 * run.lrs![s]);
            opt.setLr(lr);
          }
          opt.step(params, grads(s));
          // The factor comes from a ratio of f32 norms summed in another order: 1e-5 relative.
          expect(Math.abs(opt.lastClippingFactor - run.clipping_factors![s]), `${e.build} step ${s} clipping factor`).toBeLessThanOrEqual(1e-5 * run.clipping_factors![s]);
          const cp = run.checkpoints[String(s + 1)];
          if (cp) cp.forEach((ref, i) => checkTensor(`${e.build} ${run.name} step ${s + 1} ${scaledFix.tensors[i].name}`, params[i], ref, RTOL));
        }
        expect(opt.stepCount).toBe(scaledFix.steps);
      }
    });
  }

  it("clipping triggers in the fixture (a factor < 1 on some steps, 0 on one) and scalars hit scalar_max", () => {
    const all = scaledFix.runs.flatMap((r) => r.clipping_factors!);
    expect(all.some((f) => f > 0 && f < 0.5)).toBe(true);
    expect(all.includes(0)).toBe(true);
    const gain = scaledFix.tensors.findIndex((t) => t.name === "gain");
    expect(scaledFix.runs[0].checkpoints["24"][gain][0]).toBe(10);
  });

  it("ScaledAdamRegion (the training loop's path) on a region with gaps gives the fixture's numbers", async () => {
    const e = await engine();
    const run = scaledFix.runs[2]; // period 3, clipping period 6, an infinite gradient
    const shapes = scaledFix.tensors.map((t) => t.shape);
    e.scoped(() => {
      // Each tensor starts 3 floats after the previous one ends: unaligned offsets, untouched gaps.
      let off = 1;
      const tensors = shapes.map((s) => {
        const numel = s.reduce((a, b) => a * b, 1);
        const t = { offset: off, numel };
        off += numel + 3;
        return t;
      });
      const params = e.alloc(off), gradsPtr = e.alloc(off);
      e.write(params, new Float32Array(off).fill(7));
      tensors.forEach((t, i) => e.write(params + 4 * t.offset, run.initial[i]));
      const opt = new ScaledAdamRegion(e, { params, grads: gradsPtr, tensors }, camelOpts(run.opts));
      const grads = gradientSource(scaledFix, run);
      for (let s = 0; s < scaledFix.steps; s++) {
        grads(s).forEach((g, i) => e.write(gradsPtr + 4 * tensors[i].offset, g));
        opt.step();
        expect(Math.abs(opt.lastClippingFactor - run.clipping_factors![s])).toBeLessThanOrEqual(1e-5 * run.clipping_factors![s]);
      }
      const all = e.read(params, off);
      tensors.forEach((t, i) => {
        checkTensor(`region ${scaledFix.tensors[i].name}`, all.subarray(t.offset, t.offset + t.numel), run.checkpoints["24"][i], RTOL);
        expect(Array.from(all.subarray(t.offset + t.numel, t.offset + t.numel + 3))).toEqual([7, 7, 7]);
      });
      expect(all[0]).toBe(7);
    });
  });

  it("saveState/loadState resumes a ScaledAdamRegion exactly", async () => {
    const e = await engine();
    const run = scaledFix.runs[0];
    const shapes = scaledFix.tensors.map((t) => t.shape);
    const { tensors, total } = packTensors(shapes);
    e.scoped(() => {
      const p1 = e.alloc(total), p2 = e.alloc(total), g = e.alloc(total);
      tensors.forEach((t, i) => { e.write(p1 + 4 * t.offset, run.initial[i]); e.write(p2 + 4 * t.offset, run.initial[i]); });
      const a = new ScaledAdamRegion(e, { params: p1, grads: g, tensors }, camelOpts(run.opts));
      const grads = gradientSource(scaledFix, { ...run, bad_grads: [] });
      const gs = Array.from({ length: 24 }, (_, s) => grads(s));
      const feed = (s: number) => gs[s].forEach((x, i) => e.write(g + 4 * tensors[i].offset, x));
      for (let s = 0; s < 15; s++) { feed(s); a.step(); }
      e.write(p2, e.read(p1, total));
      const b = new ScaledAdamRegion(e, { params: p2, grads: g, tensors }, camelOpts(run.opts));
      b.loadState(a.saveState());
      for (let s = 15; s < 24; s++) { feed(s); a.step(); feed(s); b.step(); }
      // Same kernels on the same numbers: bit-identical.
      expect(Array.from(e.read(p2, total))).toEqual(Array.from(e.read(p1, total)));
    });
  });
});

describe("ScaledAdam kernels against their scalar twins", () => {
  it("scaled_adam_update / scaled_adam_grad_norm == *_naive over 9 steps, awkward sizes, both builds", async () => {
    const engines = await bothBuilds();
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 70 }), { minLength: 1, maxLength: 5 }), fc.integer({ min: 1, max: 4 }), fc.integer(),
        (sizes, P, seed) => {
          for (const e of engines) checkTwins(e, sizes, P, seed);
        },
      ),
      { numRuns: 60 },
    );
  });
});

/**
 * Nine steps of the SIMD kernels (A) against their scalar twins (B). Before each step B takes A's
 * state, so each comparison is of one step from identical inputs (errors do not compound).
 */
function checkTwins(e: Engine, sizes: number[], P: number, seed: number): void {
  e.scoped(() => {
    const r = rng(seed);
    const { tensors, total } = packTensors(sizes.map((n) => [n]));
    const table = e.upload(Int32Array.from(tensors.flatMap((t) => [t.offset, t.numel])), "i32");
    const stride = scaledAdamSlotFloats(P), slots = tensors.length * stride;
    const make = () => ({ p: e.upload(randn(total, rng(seed ^ 1), 0.5)), m: e.alloc(total), v: e.alloc(total), s: e.alloc(slots) });
    const A = make(), B = make();
    for (const x of [A, B]) { e.wasm.mem_zero_f32(x.m, total); e.wasm.mem_zero_f32(x.v, total); e.wasm.mem_zero_f32(x.s, slots); }
    const g = e.alloc(total);
    for (let step = 0; step < 9; step++) {
      for (const k of ["p", "m", "v"] as const) e.wasm.mem_copy_f32(B[k], A[k], total);
      e.wasm.mem_copy_f32(B.s, A.s, slots);
      const grads = randn(total, r, step === 4 ? 20 : 1);
      e.write(g, grads);
      const clip = step === 6 ? 0.25 : 1;
      // Per tensor, sum |p * g * clip|: the scale of the one sum with cancellation, sum(p * g).
      const p0 = e.read(A.p, total);
      const absDot = tensors.map((t) => {
        let s = 0;
        for (let i = t.offset; i < t.offset + t.numel; i++) s += Math.abs(p0[i] * grads[i] * clip);
        return s;
      });
      const na = e.wasm.scaled_adam_grad_norm(A.s, g, table, 0.1, P, tensors.length);
      const nb = e.wasm.scaled_adam_grad_norm_naive(B.s, g, table, 0.1, P, tensors.length);
      // Sums of positive terms, f32 blocks vs f64, at most 70 terms: n * 6e-8 < 5e-6 relative.
      expect(Math.abs(na - nb)).toBeLessThanOrEqual(5e-6 * nb + 1e-12);
      const hp = [0.03, 0.9, 0.98, 1e-8, 0.1, 1e-5, 3.0, 10.0, clip, step, P, tensors.length] as const;
      e.wasm.scaled_adam_update(A.p, A.m, A.v, A.s, g, table, ...hp);
      e.wasm.scaled_adam_update_naive(B.p, B.m, B.v, B.s, g, table, ...hp);
      // The same f32 element-wise operations but FMA (relaxed build); the scale step comes from the
      // ring (below): 1e-6 of the region's largest value.
      for (const name of ["p", "m", "v"] as const) {
        const got = e.read(A[name], total), ref = e.read(B[name], total);
        const scale = ref.reduce((a, x) => Math.max(a, Math.abs(x)), 0);
        const d = diff(got, ref);
        if (!(d.maxAbs <= 1e-6 * scale)) throw new Error(`${e.build} ${name} sizes ${sizes} P ${P} step ${step}: ${d.maxAbs} of ${scale}`);
      }
      // Tensor state: sums of at most 70 terms in f32 (SIMD) vs f64 (twin), error <= n * 6e-8 of the
      // sum of |terms|: 5e-6 of max(|value|, sum |p * g|) covers sum(p * g), where terms cancel, and
      // what the scale step derives from it.
      const sa = e.read(A.s, slots), sb = e.read(B.s, slots);
      tensors.forEach((_, t) => {
        for (let j = t * stride; j < (t + 1) * stride; j++) {
          const tol = 5e-6 * Math.max(Math.abs(sb[j]), absDot[t]) + 1e-12;
          if (!(Math.abs(sa[j] - sb[j]) <= tol)) throw new Error(`${e.build} state[${j}] sizes ${sizes} P ${P} step ${step}: ${sa[j]} vs ${sb[j]}`);
        }
      });
    }
  });
}

describe("AdamW matches torch.optim.AdamW (test/fixtures/adamw.json)", () => {
  for (const run of adamwFix.runs) {
    it(`${run.name}: params after 1, 4, 12, 24 steps, both builds`, async () => {
      const shapes = adamwFix.tensors.map((t) => t.shape);
      const o = run.opts as { lr?: number; betas?: [number, number]; eps?: number; weight_decay?: number };
      for (const e of await bothBuilds()) {
        const opt = adamW(e, shapes, { lr: o.lr, betas: o.betas, eps: o.eps, weightDecay: o.weight_decay });
        const params = run.initial.map((p) => Float32Array.from(p));
        const grads = gradientSource(adamwFix, run);
        for (let s = 0; s < adamwFix.steps; s++) {
          opt.step(params, grads(s));
          const cp = run.checkpoints[String(s + 1)];
          // Element-wise f32, the same operations as torch's single-tensor path; FMA and torch's
          // reciprocal-multiply for the division by sqrt(bc2) differ by ulps: 1e-5 of the tensor's scale.
          if (cp) cp.forEach((ref, i) => checkTensor(`${e.build} ${run.name} step ${s + 1} ${adamwFix.tensors[i].name}`, params[i], ref, 1e-5));
        }
      }
    });
  }

  it("adamw_update == adamw_update_naive on awkward lengths; AdamWRegion == the public API", async () => {
    const e = await engine();
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 67 }), fc.integer({ min: 0, max: 30 }), fc.integer(), (n, step, seed) => {
        e.scoped(() => {
          const r = rng(seed);
          const p = randn(n, r), g = randn(n, r), m = randn(n, r, 0.1), v = Float32Array.from(randn(n, r, 0.1), Math.abs);
          const ptrs = [0, 1].map(() => [e.upload(p), e.upload(m), e.upload(v), e.upload(g)]);
          e.wasm.adamw_update(ptrs[0][0], ptrs[0][1], ptrs[0][2], ptrs[0][3], 1e-3, 0.9, 0.999, 1e-8, 0.01, step, n);
          e.wasm.adamw_update_naive(ptrs[1][0], ptrs[1][1], ptrs[1][2], ptrs[1][3], 1e-3, 0.9, 0.999, 1e-8, 0.01, step, n);
          // One step, the same f32 operations but FMA: within a few ulp of values of magnitude <= 1.
          for (let k = 0; k < 3; k++) checkOp("adamw", e.read(ptrs[0][k], n), e.read(ptrs[1][k], n), 1e-6, 1e-6);
        });
      }),
      { numRuns: 100 },
    );
    e.scoped(() => {
      const run = adamwFix.runs[0], shapes = adamwFix.tensors.map((t) => t.shape);
      const { tensors, total } = packTensors(shapes);
      const p = e.alloc(total), g = e.alloc(total);
      tensors.forEach((t, i) => e.write(p + 4 * t.offset, run.initial[i]));
      const region = new AdamWRegion(e, { params: p, grads: g, n: total }, { lr: 1e-2, betas: [0.9, 0.99], weightDecay: 0.1 });
      const grads = gradientSource(adamwFix, run);
      for (let s = 0; s < 24; s++) {
        grads(s).forEach((x, i) => e.write(g + 4 * tensors[i].offset, x));
        region.step();
      }
      tensors.forEach((t, i) => checkTensor(`AdamWRegion ${i}`, e.read(p + 4 * t.offset, t.numel), run.checkpoints["24"][i], 1e-5));
    });
  });
});

describe("Eden matches icefall's Eden (test/fixtures/eden.json)", () => {
  it("every (batch, epoch, settings) case", () => {
    expect(edenFix.cases.length).toBeGreaterThan(100);
    for (const c of edenFix.cases) {
      const lr = eden(c.batch, c.epoch, { baseLr: c.base_lr, lrBatches: c.lr_batches, lrEpochs: c.lr_epochs, warmupBatches: c.warmup_batches, warmupStart: c.warmup_start });
      // The same f64 formula; JS and C pow may differ in the last ulp.
      expect(Math.abs(lr - c.lr), JSON.stringify(c)).toBeLessThanOrEqual(1e-15 * c.lr);
    }
  });
});

describe("public API checks its arguments", () => {
  it("rejects wrong tensor counts and sizes, and bad options", async () => {
    const e = await engine();
    const opt = scaledAdam(e, [[2, 3], []]);
    expect(() => opt.step([new Float32Array(6)], [new Float32Array(6)])).toThrow(/expected 2 tensors/);
    expect(() => opt.step([new Float32Array(6), new Float32Array(2)], [new Float32Array(6), new Float32Array(1)])).toThrow(/params\[1\]/);
    expect(() => scaledAdam(e, [[2]], { sizeUpdatePeriod: 0 })).toThrow(/sizeUpdatePeriod/);
    expect(() => adamW(e, [[2]], { betas: [0.9, 1] })).toThrow(/betas/);
    expect(() => scaledAdam(e, [[0, 2]])).toThrow(/bad shape/);
  });
});
