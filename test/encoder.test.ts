// The Stateformer block on the tape against PyTorch (test/ref/stateformer.py): forward and every
// gradient, for the Supernet and for a subnet reading leading slices, causal and bidirectional.
import { describe, expect, it } from "vitest";
import { DEFAULT_MODEL, type ModelConfig } from "../src/model/config.js";
import { NO_DROPOUT } from "../src/model/encoder.js";
import { blockForward, DropoutSeeds, ParamHandles } from "../src/model/tape_ops.js";
import { ModelParams } from "../src/model/params.js";
import { Tape } from "../src/engine/tape.js";
import { engine } from "./helpers.js";
import { checkOp, readFixture } from "./harness.js";

const fx = readFixture("stateformer.json", "test/ref/stateformer.py");

describe("Stateformer block", () => {
  it("is a todm fixture", () => expect(fx.magic).toBe("todm-fixture"));
  for (const c of fx.cases) {
    it(`matches PyTorch: ${c.name}`, async () => {
      const e = await engine();
      const cfg: ModelConfig = { ...DEFAULT_MODEL, convKernel: 0, ...c.config, layers: 1, featDim: 16, subsampleChannels: 2, joinerDim: 4, predictorDim: 4, vocabSize: 3 };
      const base = e.mark();
      try {
        const params = new ModelParams(e, cfg);
        for (const [k, v] of Object.entries(c.params as Record<string, number[]>)) params.write(k, v);
        const H = new ParamHandles(e, params);
        const tape = new Tape(e);
        tape.begin();
        try {
          const { B, T } = c;
          const n = B * T * cfg.dModel;
          const x = tape.input(c.x, true);
          const lens = tape.ints(c.lens);
          // ones on valid frames, zeros past each length (what Model builds for the convolution module)
          const mask = tape.input(Array.from({ length: n }, (_, i) => (Math.floor(i / cfg.dModel) % T < c.lens[Math.floor(i / (T * cfg.dModel))] ? 1 : 0)));
          const y = blockForward(tape, H, cfg, c.subnet, 0, x, B, T, lens, NO_DROPOUT, new DropoutSeeds(1), mask);
          tape.backward(tape.sum(tape.mul(y, tape.input(c.dout), n), n));
          // float64 PyTorch vs our f32 through ~20 ops including the SSM scan (its own fixture test: ~5e-7
          // relative) and three LayerNorms of width 8: 1e-4 absolute on O(1) values.
          checkOp(`${c.name} y`, tape.dataOf(y), c.y, 1e-4, 1e-4);
          checkOp(`${c.name} dx`, tape.gradOf(x), c.dx, 1e-4, 1e-4);
          for (const [k, ref] of Object.entries(c.grads as Record<string, number[]>)) {
            const p = params.get(k);
            if (p.gptr === 0) continue; // constants: no gradient
            // full-size gradients: outside the subnet's slices they must stay 0, as PyTorch's are
            checkOp(`${c.name} d${k}`, e.read(p.gptr, p.numel), ref, 1e-4, 1e-4);
          }
        } finally {
          tape.end();
        }
      } finally {
        e.reset(base);
      }
    });
  }
});
