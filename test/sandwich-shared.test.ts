// The Supernet step with its frontend (normalisation + convolutional subsampling) run once and shared
// by every member (Model.sandwichStep, default) against the same step run member by member with
// Model.trainStep (shareFrontend: false): the independent reference is that unshared sequence.

import { describe, expect, it } from "vitest";
import type { Batch } from "../src/data/batching.js";
import { DEFAULT_MODEL, type ModelConfig } from "../src/model/config.js";
import { Model, type KdOptions, type SandwichPlan } from "../src/model/model.js";
import { NO_DROPOUT } from "../src/model/encoder.js";
import { bothBuilds, rng } from "./helpers.js";

// causal, with the conv module (frame mask) and odd sizes everywhere
const CAUSAL: ModelConfig = {
  ...DEFAULT_MODEL, featDim: 13, subsampleChannels: 3, dModel: 8, layers: 3, ffDim: 12, heads: 4, stateSize: 4,
  predictorDim: 16, joinerDim: 16, vocabSize: 7, causal: true, convKernel: 3,
};
// bidirectional, no conv module
const FULL: ModelConfig = { ...CAUSAL, featDim: 16, subsampleChannels: 5, causal: false, convKernel: 0 };

function batch(seed: number, F: number, lens: number[], U: number): Batch {
  const r = rng(seed);
  const B = lens.length, T = Math.max(...lens);
  const feats = new Float32Array(B * T * F);
  for (let b = 0; b < B; b++) for (let i = 0; i < lens[b] * F; i++) feats[b * T * F + i] = r() * 4 - 2;
  const tokens = Int32Array.from({ length: B * U }, () => 1 + Math.floor(r() * 6));
  const tokenLens = Int32Array.from(lens, (_, b) => Math.max(1, U - b));
  return { ids: lens.map((_, b) => b), B, T, F, U, feats, featLens: Int32Array.from(lens), tokens, tokenLens };
}

const KD: KdOptions = { lambda: 0.4, alphaNeg: -1, alphaPos: 1, clip: 5 };
const DROP = { ffHidden: 0.2, ffOut: 0.1, ssmOut: 0.15, convOut: 0.1 };

describe("sandwich step with a shared frontend", () => {
  const cases: [string, ModelConfig, number[], number, KdOptions | null][] = [
    ["causal, conv module, KD", CAUSAL, [23, 17, 9], 3, KD],
    ["bidirectional, no KD", FULL, [29, 29], 4, null],
    ["one utterance of 7 frames", CAUSAL, [7], 1, KD],
  ];
  for (const [name, cfg, lens, U, kd] of cases) {
    it(`${name}: losses bit for bit, block gradients bit for bit, frontend gradients to f32 rounding`, async () => {
      for (const e of await bothBuilds()) {
        const base = e.mark();
        try {
          const m = new Model(e, cfg);
          m.params.init(3);
          const b = batch(11, cfg.featDim, lens, U);
          const plan: SandwichPlan = {
            members: [
              { spec: { layers: 3, ffDim: 12, heads: 4 }, dropout: DROP },
              { spec: { layers: 1, ffDim: 4, heads: 2 }, dropout: { ...DROP, ffHidden: 0.05 } },
              { spec: { layers: 2, ffDim: 8, heads: 2 }, dropout: NO_DROPOUT },
            ],
            kd,
          };
          const run = (shareFrontend: boolean) => {
            m.params.zeroGrad();
            const r = m.sandwichStep(b, plan, { seed: 77, shareFrontend });
            return { r, g: e.read(m.params.gradPtr, m.params.total) };
          };
          const ref = run(false), got = run(true);
          // the plan's switch (train.shareFrontend) does the same as the option
          m.params.zeroGrad();
          const viaPlan = m.sandwichStep(b, { ...plan, shareFrontend: false }, { seed: 77 });
          expect(viaPlan.members).toEqual(ref.r.members);
          expect(e.read(m.params.gradPtr, m.params.total)).toEqual(ref.g);
          // the forward is the same computation on the same values: identical
          expect(got.r.members).toEqual(ref.r.members);
          expect(got.r.losses).toEqual(ref.r.losses);
          expect(got.r.lossSum).toBe(ref.r.lossSum);
          expect(got.r.frames).toBe(ref.r.frames);
          expect(ref.r.members.every((x) => Number.isFinite(x.lossSum) && x.lossSum > 0)).toBe(true);
          let frontendChecked = 0;
          for (const p of m.params.entries) {
            const gg = got.g.subarray(p.offset, p.offset + p.numel), gr = ref.g.subarray(p.offset, p.offset + p.numel);
            if (!p.name.startsWith("encoder.subsample.")) {
              // blocks, predictor, joiner: each member adds its own terms into the region in the same order
              expect(gg, p.name).toEqual(gr);
              continue;
            }
            // the subsampling's gradient: one backward of the members' summed output gradient instead of
            // the sum of three backwards, a different f32 summation order. Each value sums ~B·T'·F'·3
            // terms (a few hundred) of both signs, so the error is measured relative to the tensor's
            // largest gradient, not to each (possibly cancelling) entry: measured <= 2.2e-7 on these
            // cases (both builds), bound 2e-6
            let scale = 0;
            for (const v of gr) scale = Math.max(scale, Math.abs(v));
            expect(scale, p.name).toBeGreaterThan(0);
            let worst = 0;
            for (let i = 0; i < p.numel; i++) worst = Math.max(worst, Math.abs(gg[i] - gr[i]) / scale);
            expect(worst, p.name).toBeLessThan(2e-6);
            frontendChecked++;
          }
          expect(frontendChecked).toBe(6); // conv1, conv2, out: weight and bias each
        } finally {
          e.reset(base);
        }
      }
    });
  }

  it("a student's own KD weight (kdLambda, supernet.kd.sizeGamma) is the plan's kd.lambda for that student, bit for bit", async () => {
    for (const e of await bothBuilds()) {
      const base = e.mark();
      try {
        const m = new Model(e, CAUSAL);
        m.params.init(7);
        const b = batch(5, CAUSAL.featDim, [21, 14], 3);
        const big = { spec: { layers: 3, ffDim: 12, heads: 4 }, dropout: NO_DROPOUT }, small = { spec: { layers: 1, ffDim: 4, heads: 2 }, dropout: NO_DROPOUT };
        const grads = (plan: SandwichPlan) => {
          m.params.zeroGrad();
          const r = m.sandwichStep(b, plan, { seed: 3 });
          return { r, g: e.read(m.params.gradPtr, m.params.total) };
        };
        const own = grads({ members: [{ ...big, kdLambda: 0.1 }, { ...small, kdLambda: 0.8 }], kd: KD }); // the teacher's is ignored
        const planWide = grads({ members: [big, small], kd: { ...KD, lambda: 0.8 } });
        const plain = grads({ members: [big, small], kd: KD });
        expect(own.r.members).toEqual(planWide.r.members);
        expect(own.g).toEqual(planWide.g);
        expect(own.g).not.toEqual(plain.g); // and it is not a no-op: 0.8 against the plan's 0.4
      } finally {
        e.reset(base);
      }
    }
  });

  it("with one member it is that member's trainStep, bit for bit", async () => {
    for (const e of await bothBuilds()) {
      const base = e.mark();
      try {
        const m = new Model(e, CAUSAL);
        m.params.init(5);
        const b = batch(4, CAUSAL.featDim, [19, 13], 2);
        const spec = { layers: 2, ffDim: 8, heads: 2 };
        m.params.zeroGrad();
        const ref = m.trainStep(b, spec, { dropout: DROP, seed: 9 });
        const gRef = e.read(m.params.gradPtr, m.params.total);
        m.params.zeroGrad();
        const got = m.sandwichStep(b, { members: [{ spec, dropout: DROP }], kd: KD }, { seed: 9 });
        expect(got.losses).toEqual(ref.losses);
        expect(e.read(m.params.gradPtr, m.params.total)).toEqual(gRef);
      } finally {
        e.reset(base);
      }
    }
  });

  it("frees everything it allocated, and a failing member leaves the tape and arena usable", async () => {
    for (const e of await bothBuilds()) {
      const base = e.mark();
      try {
        const m = new Model(e, CAUSAL);
        m.params.init(6);
        const b = batch(8, CAUSAL.featDim, [15, 11], 2);
        const members = [{ spec: { layers: 3, ffDim: 12, heads: 4 }, dropout: NO_DROPOUT }, { spec: { layers: 1, ffDim: 4, heads: 2 }, dropout: NO_DROPOUT }];
        const before = e.mark();
        m.params.zeroGrad();
        const first = m.sandwichStep(b, { members, kd: null });
        expect(e.mark()).toBe(before);
        // a member larger than the Supernet throws after the frontend ran: nothing is left behind
        expect(() => m.sandwichStep(b, { members: [...members, { spec: { layers: 4, ffDim: 12, heads: 4 }, dropout: NO_DROPOUT }], kd: null })).toThrow(/exceeds/);
        expect(e.mark()).toBe(before);
        m.params.zeroGrad();
        expect(m.sandwichStep(b, { members, kd: null }).members).toEqual(first.members);
      } finally {
        e.reset(base);
      }
    }
  });
});
