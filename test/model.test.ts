// The whole transducer (subsampling, blocks, predictor, joiner, RNN-T loss) for a tiny model:
// gradients of randomly chosen parameters of every kind against central finite differences of the
// model's own loss, for the Supernet and a subnet; and a few optimizer steps that overfit one batch.
import { describe, expect, it } from "vitest";
import { DEFAULT_MODEL, type ModelConfig } from "../src/model/config.js";
import { Model } from "../src/model/model.js";
import { ScaledAdamRegion } from "../src/engine/optim.js";
import { centralDiffAt, engine, rng, tinyBatch } from "./helpers.js";

const TINY: ModelConfig = {
  ...DEFAULT_MODEL, featDim: 16, subsampleChannels: 2, dModel: 8, layers: 2, ffDim: 12, heads: 2, stateSize: 4,
  predictorDim: 16, joinerDim: 16, vocabSize: 5, causal: true,
};

describe("model", () => {
  for (const causal of [true, false]) {
    it(`gradients match finite differences of the loss (${causal ? "causal" : "bidirectional"}, Supernet and subnet)`, async () => {
      const e = await engine();
      const base = e.mark();
      try {
        const m = new Model(e, { ...TINY, causal, convKernel: causal ? 0 : 3 }); // the bidirectional case also runs the convolution module
        m.params.init(3);
        const b = tinyBatch(5, TINY.featDim);
        for (const sub of [{ layers: 2, ffDim: 12, heads: 2 }, { layers: 1, ffDim: 5, heads: 2 }]) {
          m.params.zeroGrad();
          m.trainStep(b, sub, { lossScale: 1 });
          const grads = e.read(m.params.gradPtr, m.params.total); // a snapshot: every later step adds to the region
          const loss = () => m.trainStep(b, sub, { lossScale: 1 }).lossSum;
          const r = rng(11);
          const names = m.params.entries.filter((p) => p.trainable !== false && (p.block === undefined || p.block < sub.layers)).map((p) => p.name);
          let kinks = 0;
          for (let k = 0; k < 40; k++) {
            const p = m.params.get(names[Math.floor(r() * names.length)]);
            const i = Math.floor(r() * p.numel);
            const g = grads[p.offset + i];
            const { fd, fdHalf } = centralDiffAt(e, p.ptr + 4 * i, loss);
            // f32 forward, loss ~10: rounding ~1e-7·10/h ~ 1e-4, truncation ~h²·|f'''| ~ 1e-4; both well under
            // 2e-3 absolute + 2e-2 relative.
            const tol = 2e-3 + 2e-2 * Math.abs(fd);
            // A ReLU kink inside [v-h, v+h] (the subsampling convolutions) breaks central differences: there the
            // two step sizes disagree. Such draws are skipped and counted, as ggml's test-backend-ops does.
            if (Math.abs(fd - fdHalf) > tol) {
              kinks++;
              continue;
            }
            expect(Math.abs(fd - g), `${p.name}[${i}]: finite difference ${fd} vs gradient ${g}`).toBeLessThan(tol);
          }
          expect(kinks, "too many draws near a kink").toBeLessThan(8);
          // the gradient region outside the subnet's slices is untouched (zero)
          if (sub.layers === 1) {
            const g = m.params.get("encoder.blocks.1.ff1.w1.weight");
            expect(Math.max(...grads.subarray(g.offset, g.offset + g.numel).map(Math.abs))).toBe(0);
          }
        }
      } finally {
        e.reset(base);
      }
    });
  }

  it("overfits one batch with ScaledAdam (loss falls by more than half in 40 steps)", async () => {
    const e = await engine();
    const base = e.mark();
    try {
      const m = new Model(e, TINY);
      m.params.init(1);
      const opt = new ScaledAdamRegion(e, { params: m.params.paramPtr, grads: m.params.gradPtr, tensors: m.params.trainable() }, { lr: 0.05, clippingScale: 2 });
      const b = tinyBatch(7, TINY.featDim);
      const losses: number[] = [];
      for (let s = 0; s < 40; s++) {
        m.params.zeroGrad();
        losses.push(m.trainStep(b).lossSum);
        opt.step();
      }
      expect(losses[39]).toBeLessThan(0.5 * losses[0]);
      const hyps = m.decode(b);
      expect(hyps.length).toBe(2);
    } finally {
      e.reset(base);
    }
  });
});
