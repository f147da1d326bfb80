// The Supernet's search space and the sandwich step: subnet parameter counts against the parameter table
// of a standalone model of the subnet's size (an independent path from the slicing rule), the sandwich
// sampler's rule and coverage, the dropout rules, and the sandwich step's gradient against the sum of its
// members' separate steps.
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { DEFAULT_MODEL, countParams, paramTable, subnetShape, supernetSpec, type ModelConfig } from "../src/model/config.js";
import { Model, subsampledLength } from "../src/model/model.js";
import { NO_DROPOUT } from "../src/model/encoder.js";
import { DEFAULT_SPACE, kdOptions, listSubnets, resolveChoices, sampleSandwich, studentLambda, subnetDropout, validateSpace, validationSubnets } from "../src/model/supernet.js";
import { DEFAULT_TRAIN } from "../src/train/config.js";
import { planAt } from "../src/train/loop.js";
import type { Run } from "../src/train/open.js";
import { mulberry32 } from "../src/util/random.js";
import { centralDiffAt, engine, rng, tinyBatch } from "./helpers.js";

const TINY: ModelConfig = {
  ...DEFAULT_MODEL, featDim: 16, subsampleChannels: 2, dModel: 8, layers: 3, ffDim: 12, heads: 4, stateSize: 4,
  predictorDim: 16, joinerDim: 16, vocabSize: 5, causal: true,
};

describe("search space", () => {
  it("counts each subnet's parameters as a standalone model of its size would have them", () => {
    const space = { ...DEFAULT_SPACE, enabled: true };
    const subs = listSubnets(DEFAULT_MODEL, space);
    // the automatic choices of the default model ([] in the config)
    expect(resolveChoices(DEFAULT_MODEL, space)).toEqual({ layers: [2, 4, 6], ffDims: [144, 288, 576], heads: [2, 4] });
    expect(subs.length).toBe(3 * 3 * 2);
    for (const s of subs) {
      // the standalone model: its own (smaller) config, heads keeping the Supernet's head width
      const own: ModelConfig = { ...DEFAULT_MODEL, layers: s.spec.layers, ffDim: s.spec.ffDim, heads: s.spec.heads, headDim: DEFAULT_MODEL.dModel / DEFAULT_MODEL.heads };
      const n = paramTable(own).filter((p) => p.trainable !== false).reduce((a, p) => a + p.shape.reduce((x, y) => x * y, 1), 0);
      expect(s.params).toBe(n);
      // and every sliced tensor has the standalone model's shape
      const shapes = new Map(paramTable(own).map((p) => [p.name, p.shape.join("x")]));
      for (const p of paramTable(DEFAULT_MODEL)) {
        const sh = subnetShape(p, DEFAULT_MODEL, s.spec);
        expect(sh === null ? undefined : sh.join("x")).toBe(shapes.get(p.name));
      }
    }
    // largest first by parameters; the first is the Supernet
    for (let i = 1; i < subs.length; i++) expect(subs[i - 1].params).toBeGreaterThanOrEqual(subs[i].params);
    expect(subs[0].params).toBe(countParams(DEFAULT_MODEL));
  });

  it("refuses a space the model cannot slice", () => {
    const on = { ...DEFAULT_SPACE, enabled: true };
    expect(() => validateSpace(DEFAULT_MODEL, { ...on, heads: [3, 4] })).toThrow(/even/);
    expect(() => validateSpace(DEFAULT_MODEL, { ...on, layers: [2, 4] })).toThrow(/must include the model's own value 6/);
    expect(() => validateSpace(DEFAULT_MODEL, { ...on, ffDims: [576, 1024] })).toThrow(/1\.\.576/);
    expect(() => validateSpace(DEFAULT_MODEL, { ...on, validate: ["L9-ff1-h2"] })).toThrow(/not a subnet/);
    expect(() => validateSpace(DEFAULT_MODEL, on)).not.toThrow();
  });

  it("samples the largest, the smallest and distinct random others, covering the space evenly", () => {
    const subs = listSubnets(DEFAULT_MODEL, { ...DEFAULT_SPACE, enabled: true });
    fc.assert(fc.property(fc.integer({ min: 0, max: 2 ** 31 - 1 }), fc.integer({ min: 0, max: 20 }), (seed, k) => {
      const p = sampleSandwich(subs, k, mulberry32(seed));
      expect(p[0]).toBe(subs[0]);
      expect(p[1]).toBe(subs[subs.length - 1]);
      expect(p.length).toBe(2 + Math.min(k, subs.length - 2));
      expect(new Set(p.map((s) => s.name)).size).toBe(p.length);
    }));
    // 16 middle subnets, 2 drawn per step: each expected 2000·2/16 = 250 times; a fair draw stays within
    // ±25% of that (binomial sd ≈ 15, so ±62 is 4 sd)
    const counts = new Map<string, number>();
    const u = mulberry32(7);
    for (let i = 0; i < 2000; i++) for (const s of sampleSandwich(subs, 2, u).slice(2)) counts.set(s.name, (counts.get(s.name) ?? 0) + 1);
    expect(counts.size).toBe(subs.length - 2);
    for (const c of counts.values()) expect(Math.abs(c - 250)).toBeLessThan(62);
  });

  it("samples with weights (params_max/params)^bias: each ordered pair as often as the closed form says; bias 0 is the earlier uniform draw", () => {
    const info = (name: string, params: number) => ({ name, params, spec: { layers: 1, ffDim: 1, heads: 2 }, macs: 0 });
    const subs = [info("max", 1000), info("a", 800), info("b", 500), info("c", 250), info("d", 100), info("min", 50)];
    const bias = 1.5, N = 400;
    const w = subs.slice(1, -1).map((s) => (1000 / s.params) ** bias), W = w.reduce((a, b) => a + b, 0);
    // every (u1, u2) of an N x N grid of midpoints: a pair's share of the grid is its probability up to 1/N per draw
    const counts = new Map<string, number>();
    for (let a = 0; a < N; a++) for (let b = 0; b < N; b++) {
      const us = [(a + 0.5) / N, (b + 0.5) / N];
      const p = sampleSandwich(subs, 2, () => us.shift()!, bias);
      expect([p[0].name, p[1].name]).toEqual(["max", "min"]);
      const key = `${p[2].name}${p[3].name}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    const names = ["a", "b", "c", "d"];
    for (const [i, x] of names.entries()) for (const [j, y] of names.entries()) {
      const exact = i === j ? 0 : (w[i] / W) * (w[j] / (W - w[i]));
      expect(Math.abs((counts.get(x + y) ?? 0) / N ** 2 - exact)).toBeLessThan(2.5 / N);
    }
    // bias 0: the draw of runs before sampleBias (floor(u·n) of those left), for any stream
    fc.assert(fc.property(fc.integer({ min: 0, max: 2 ** 31 - 1 }), fc.integer({ min: 0, max: 6 }), (seed, k) => {
      const u = mulberry32(seed), mid = subs.slice(1, -1), old = [subs[0], subs[5]];
      for (let r = 0; r < k && mid.length; r++) old.push(mid.splice(Math.floor(u() * mid.length), 1)[0]);
      expect(sampleSandwich(subs, k, mulberry32(seed), 0)).toEqual(old);
    }));
    expect(() => validateSpace(DEFAULT_MODEL, { ...DEFAULT_SPACE, sampleBias: -1 })).toThrow(/sampleBias must be a number >= 0/);
  });

  it("gives each student its KD weight min(1, lambda·(params_max/params)^sizeGamma) in the step's plan; 0 keeps lambda", () => {
    expect(studentLambda(0.2, 1, 500, 1000)).toBeCloseTo(0.4, 12);
    expect(studentLambda(0.5, 0.5, 250, 1000)).toBeCloseTo(1, 12);
    expect(studentLambda(0.5, 1, 250, 1000)).toBe(1); // 2, capped
    expect(studentLambda(0.5, -1, 250, 1000)).toBeCloseTo(0.125, 12);
    expect(studentLambda(0.5, 0, 250, 1000)).toBe(0.5);
    for (const sizeGamma of [0, 0.5]) {
      const space = { ...DEFAULT_SPACE, enabled: true, kd: { ...DEFAULT_SPACE.kd, sizeGamma } };
      const subnets = listSubnets(DEFAULT_MODEL, space);
      const run = { cfg: DEFAULT_TRAIN, space, subnets, model: { cfg: DEFAULT_MODEL }, kd: kdOptions(space) } as unknown as Run;
      for (const step of [0, 1, 17]) {
        const plan = planAt(run, step);
        expect(plan.members[0].kdLambda).toBeUndefined(); // the teacher
        for (const m of plan.members.slice(1)) {
          const p = subnets.find((s) => s.spec.layers === m.spec.layers && s.spec.ffDim === m.spec.ffDim && s.spec.heads === m.spec.heads)!.params;
          if (sizeGamma === 0) expect(m.kdLambda).toBeUndefined();
          else expect(m.kdLambda).toBeCloseTo(Math.min(1, 0.5 * Math.sqrt(subnets[0].params / p)), 12);
        }
      }
    }
  });

  it("scales dropout with size (adaptive), keeps it fixed, or gives it to the largest only", () => {
    const max = 3e6;
    expect(subnetDropout({ rule: "adaptive", gamma: 1 }, 0.1, max, max)).toBeCloseTo(0.1, 12);
    expect(subnetDropout({ rule: "adaptive", gamma: 1 }, 0.1, max / 4, max)).toBeCloseTo(0.025, 12);
    expect(subnetDropout({ rule: "adaptive", gamma: 0.5 }, 0.1, max / 4, max)).toBeCloseTo(0.05, 12);
    expect(subnetDropout({ rule: "fixed", gamma: 1 }, 0.1, max / 4, max)).toBe(0.1);
    expect(subnetDropout({ rule: "largest", gamma: 1 }, 0.1, max / 4, max)).toBe(0);
    expect(subnetDropout({ rule: "largest", gamma: 1 }, 0.1, max, max)).toBe(0.1);
  });

  it("validates the largest, the smallest and two between by default", () => {
    const subs = listSubnets(DEFAULT_MODEL, { ...DEFAULT_SPACE, enabled: true });
    const v = validationSubnets(subs, []);
    expect(v.length).toBe(4);
    expect(v[0]).toBe(subs[0]);
    expect(v[3]).toBe(subs[subs.length - 1]);
    expect(validationSubnets(subs, ["L2-ff144-h2"]).map((s) => s.name)).toEqual(["L2-ff144-h2"]);
  });
});

describe("sandwich step", () => {
  it("accumulates exactly its members' separate gradients, and a subnet touches only its slices", async () => {
    const e = await engine();
    const base = e.mark();
    try {
      const m = new Model(e, TINY);
      m.params.init(4);
      const b = tinyBatch(9, TINY.featDim);
      const members = [{ layers: 3, ffDim: 12, heads: 4 }, { layers: 1, ffDim: 4, heads: 2 }, { layers: 2, ffDim: 8, heads: 2 }];
      const n = m.params.total;
      const sum = new Float64Array(n);
      const losses: number[] = [];
      for (const spec of members) {
        m.params.zeroGrad();
        losses.push(m.trainStep(b, spec).lossSum);
        const g = e.read(m.params.gradPtr, n);
        for (let i = 0; i < n; i++) sum[i] += g[i];
        if (spec.layers === 1) {
          // the smallest touches only its slices: block 1-2 tensors, FFN units >= 4 and heads >= 2 get no gradient
          for (const p of m.params.entries) {
            const sh = subnetShape(p, TINY, spec);
            const gp = g.subarray(p.offset, p.offset + p.numel);
            if (sh === null) expect(gp.every((x) => x === 0), p.name).toBe(true);
            else if (p.name.endsWith("ff1.w1.weight")) expect(gp.subarray(4 * TINY.dModel).every((x) => x === 0), p.name).toBe(true);
            else if (p.name.endsWith("ssm.out.weight")) {
              for (let r = 0; r < TINY.dModel; r++) expect(gp.subarray(r * 8 + 4, r * 8 + 8).every((x) => x === 0), p.name).toBe(true);
            }
          }
        }
      }
      m.params.zeroGrad();
      const r = m.sandwichStep(b, { members: members.map((spec) => ({ spec, dropout: NO_DROPOUT })), kd: null });
      const g = e.read(m.params.gradPtr, n);
      // blocks, predictor, joiner: the same f32 additions in the same order (each member adds into the region);
      // the shared subsampling's gradient comes from one backward of the members' summed output gradient (a
      // different f32 order, bounded in test/sandwich-shared.test.ts): both within rounding of the float64
      // reference sum of three f32 terms, 1e-6 relative (measured worst below 1e-5 with the 1e-6 floor)
      let worst = 0;
      for (let i = 0; i < n; i++) worst = Math.max(worst, Math.abs(g[i] - sum[i]) / (1e-6 + Math.abs(sum[i])));
      expect(worst).toBeLessThan(1e-5);
      expect(r.members.map((x) => x.lossSum)).toEqual(losses);
      expect(r.lossSum).toBe(losses[0]);
    } finally {
      e.reset(base);
    }
  });

  it("a student's (1-λ)·RNN-T + λ·KL gradient matches finite differences with the teacher's distributions held fixed", async () => {
    const e = await engine();
    const base = e.mark();
    try {
      const m = new Model(e, TINY);
      m.params.init(6);
      const b = tinyBatch(12, TINY.featDim);
      const T2 = subsampledLength(b.T, TINY.causal), U1 = b.U + 1;
      const teacher = e.alloc(b.B * T2 * U1 * TINY.vocabSize);
      m.trainStep(b, supernetSpec(TINY), { lossScale: 1 }, { teacherOut: teacher });
      const student = { layers: 2, ffDim: 6, heads: 2 };
      // alpha- = alpha+ = 1: plain KL, unclipped and without a max branch, so AlphaNet's surrogate gradient
      // is the true gradient of the divergence (assembly/transducer/kd.ts)
      const kd = { lambda: 0.3, alphaNeg: 1, alphaPos: 1, clip: 5 };
      const objective = () => {
        const r = m.trainStep(b, student, { lossScale: 1 }, { teacher, opts: kd });
        return (1 - kd.lambda) * r.lossSum + kd.lambda * r.kdSum!;
      };
      m.params.zeroGrad();
      const r0 = m.trainStep(b, student, { lossScale: 1 }, { teacher, opts: kd });
      expect(r0.kdSum!).toBeGreaterThan(0); // a smaller subnet differs from the teacher
      const grads = e.read(m.params.gradPtr, m.params.total);
      const names = m.params.entries.filter((p) => p.trainable !== false && (p.block === undefined || p.block < student.layers)).map((p) => p.name);
      const r = rng(5);
      let checked = 0;
      for (let k = 0; k < 30; k++) {
        const p = m.params.get(names[Math.floor(r() * names.length)]);
        const i = Math.floor(r() * p.numel);
        const g = grads[p.offset + i];
        const { fd, fdHalf } = centralDiffAt(e, p.ptr + 4 * i, objective);
        if (Math.abs(fd - fdHalf) > 2e-3 + 2e-2 * Math.abs(fd)) continue; // a ReLU kink in the subsampling: skipped, as in model.test.ts
        // f32 forward, objective ~10: rounding ~1e-4 at h = 1e-2, truncation ~1e-4
        expect(Math.abs(g - fd), `${p.name}[${i}]: ${g} vs ${fd}`).toBeLessThan(2e-3 + 2e-2 * Math.abs(fd));
        checked++;
      }
      expect(checked).toBeGreaterThan(20);
    } finally {
      e.reset(base);
    }
  });

  it("with λ = 0 the student's gradient is its plain RNN-T gradient; with λ > 0 the KD term changes it", async () => {
    const e = await engine();
    const base = e.mark();
    try {
      const m = new Model(e, TINY);
      m.params.init(8);
      const b = tinyBatch(13, TINY.featDim);
      const members = [{ spec: supernetSpec(TINY), dropout: NO_DROPOUT }, { spec: { layers: 1, ffDim: 4, heads: 2 }, dropout: NO_DROPOUT }];
      const run = (kd: { lambda: number; alphaNeg: number; alphaPos: number; clip: number } | null) => {
        m.params.zeroGrad();
        const r = m.sandwichStep(b, { members, kd });
        return { r, g: e.read(m.params.gradPtr, m.params.total) };
      };
      const plain = run(null), zero = run({ lambda: 0, alphaNeg: -1, alphaPos: 1, clip: 5 }), kd = run({ lambda: 0.5, alphaNeg: -1, alphaPos: 1, clip: 5 });
      expect(zero.g).toEqual(plain.g);
      expect(kd.r.members[1].kdSum).toBeGreaterThan(0);
      expect(kd.r.members[0].kdSum).toBe(0); // the teacher learns from the labels only
      expect(kd.r.members[0].lossSum).toBe(plain.r.members[0].lossSum);
      let diff = 0;
      for (let i = 0; i < plain.g.length; i++) diff = Math.max(diff, Math.abs(kd.g[i] - plain.g[i]));
      expect(diff).toBeGreaterThan(1e-4);
    } finally {
      e.reset(base);
    }
  });
});
