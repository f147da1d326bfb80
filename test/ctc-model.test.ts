// The auxiliary CTC head (model.ctcWeight): off by default and then nothing changes (parameter table,
// losses and gradients bit for bit against a config without the key); on, its gradients against central
// finite differences of the total loss RNN-T + w·CTC, its CTC sum against engine.ctcLoss on the
// encoder output, the shared-frontend sandwich, and export / inference dropping the ctc.* tensors.
import { describe, expect, it } from "vitest";
import { trainChar } from "../src/data/tokenizer.js";
import { countParams, DEFAULT_MODEL, inferenceConfig, paramTable, validateConfig, type ModelConfig } from "../src/model/config.js";
import { encodeSubnetModel } from "../src/model/export.js";
import { encodeModel } from "../src/model/io.js";
import { Model } from "../src/model/model.js";
import { decodeSafetensors } from "../src/io/safetensors.js";
import { loadRecognizer } from "../src/infer/node.js";
import { engine, expectFdGradients, rng, tinyBatch } from "./helpers.js";
import { ctcLoss } from "./kernels.js";

const TINY: ModelConfig = {
  ...DEFAULT_MODEL, featDim: 16, subsampleChannels: 2, dModel: 8, layers: 2, ffDim: 12, heads: 2, stateSize: 4,
  predictorDim: 16, joinerDim: 16, vocabSize: 5, causal: true,
};

describe("auxiliary CTC head", () => {
  it("config: ctcWeight must be finite and >= 0; only > 0 adds ctc.weight and ctc.bias, not counted as model parameters", () => {
    for (const w of [-0.1, NaN, Infinity]) expect(() => validateConfig({ ...TINY, ctcWeight: w })).toThrow(/ctcWeight/);
    expect(() => validateConfig({ ...TINY, ctcWeight: 0.3 })).not.toThrow();
    const absent = inferenceConfig(TINY);
    expect("ctcWeight" in absent).toBe(false);
    expect(paramTable({ ...TINY, ctcWeight: 0 })).toEqual(paramTable(absent));
    const withCtc = paramTable({ ...TINY, ctcWeight: 0.3 }).filter((p) => p.name.startsWith("ctc."));
    expect(withCtc.map((p) => [p.name, p.shape])).toEqual([["ctc.weight", [5, 8]], ["ctc.bias", [5]]]);
    expect(countParams({ ...TINY, ctcWeight: 0.3 })).toBe(countParams(absent));
  });

  it("ctcWeight 0 is the code path without the key: same losses and gradients bit for bit; > 0 leaves the RNN-T loss unchanged", async () => {
    const e = await engine();
    const base = e.mark();
    try {
      const b = tinyBatch(5, TINY.featDim);
      const run = (cfg: ModelConfig) => {
        const m = new Model(e, cfg);
        m.params.init(3);
        m.params.zeroGrad();
        const r = m.trainStep(b, undefined, { lossScale: 1 });
        const grads = new Map(m.params.entries.map((p) => [p.name, e.read(m.params.get(p.name).gptr || m.params.get(p.name).ptr, p.numel)]));
        return { m, r, grads };
      };
      const none = run(inferenceConfig(TINY)), zero = run({ ...TINY, ctcWeight: 0 }), on = run({ ...TINY, ctcWeight: 0.3 });
      expect(zero.m.params.entries).toEqual(none.m.params.entries);
      expect(Array.from(zero.r.losses)).toEqual(Array.from(none.r.losses));
      expect(zero.r.ctcSum).toBeUndefined();
      for (const [name, g] of none.grads) expect(Array.from(zero.grads.get(name)!), name).toEqual(Array.from(g));
      // with the head: the same initial values for every shared tensor (the head is drawn after the joiner),
      // so the same RNN-T losses bit for bit, and the predictor's gradient (which CTC does not reach) too
      for (const p of none.m.params.entries) expect(Array.from(on.m.params.read(p.name)), p.name).toEqual(Array.from(none.m.params.read(p.name)));
      expect(Array.from(on.r.losses)).toEqual(Array.from(none.r.losses));
      expect(Array.from(on.grads.get("predictor.lstm.0.w_hh")!)).toEqual(Array.from(none.grads.get("predictor.lstm.0.w_hh")!));
      expect(on.r.ctcSum).toBeGreaterThan(0);
      expect(Array.from(on.grads.get("encoder.blocks.0.ff1.w1.weight")!)).not.toEqual(Array.from(none.grads.get("encoder.blocks.0.ff1.w1.weight")!));
    } finally {
      e.reset(base);
    }
  });

  it("ctcSum equals engine.ctcLoss of the encoder output through the head computed here in float64", async () => {
    const e = await engine();
    const base = e.mark();
    try {
      const m = new Model(e, { ...TINY, ctcWeight: 0.5 });
      m.params.init(4);
      const b = tinyBatch(6, TINY.featDim);
      const r = m.trainStep(b, undefined, { lossScale: 1 });
      const { enc, T2, lens2 } = m.encodeOutput(b);
      const W = m.params.read("ctc.weight"), bias = m.params.read("ctc.bias");
      const d = TINY.dModel, V = TINY.vocabSize;
      const logits = new Float32Array(b.B * T2 * V);
      for (let row = 0; row < b.B * T2; row++) {
        for (let k = 0; k < V; k++) {
          let s = bias[k];
          for (let c = 0; c < d; c++) s += enc[row * d + c] * W[k * d + c];
          logits[row * V + k] = s;
        }
      }
      const ref = ctcLoss(e, logits, [b.B, T2, V], b.tokens, b.U, lens2, b.tokenLens);
      const sum = ref.losses.reduce((a, x) => a + x, 0);
      // the model's head runs the f32 GEMM (K = 8 terms) where this runs float64: ~1e-6 on logits ~1, losses ~30
      expect(Math.abs(r.ctcSum! - sum)).toBeLessThan(1e-4 * Math.max(1, sum));
      expect(r.ctcInfeasible).toBe(ref.infeasible);
    } finally {
      e.reset(base);
    }
  });

  it("gradients match finite differences of RNN-T + w·CTC (head, encoder, subsampling; Supernet and subnet)", async () => {
    const e = await engine();
    const base = e.mark();
    try {
      const w = 0.7;
      const m = new Model(e, { ...TINY, ctcWeight: w });
      m.params.init(3);
      const b = tinyBatch(5, TINY.featDim);
      for (const sub of [{ layers: 2, ffDim: 12, heads: 2 }, { layers: 1, ffDim: 5, heads: 2 }]) {
        m.params.zeroGrad();
        m.trainStep(b, sub, { lossScale: 1 });
        const grads = e.read(m.params.gradPtr, m.params.total);
        const loss = () => {
          const r = m.trainStep(b, sub, { lossScale: 1 });
          return r.lossSum + w * r.ctcSum!;
        };
        const picks: [string, number][] = [];
        const r = rng(13);
        for (const name of ["ctc.weight", "ctc.bias", "encoder.blocks.0.ssm.out.weight", "encoder.blocks.0.ff2.w2.bias", "encoder.subsample.out.weight", `encoder.blocks.${sub.layers - 1}.norm.weight`]) {
          for (let k = 0; k < 4; k++) picks.push([name, Math.floor(r() * m.params.get(name).numel)]);
        }
        expectFdGradients(e, m, grads, picks, loss, `${sub.layers} layers`);
      }
    } finally {
      e.reset(base);
    }
  });

  it("the shared-frontend sandwich gives each member's CTC loss as its own trainStep does", async () => {
    const e = await engine();
    const base = e.mark();
    try {
      const m = new Model(e, { ...TINY, ctcWeight: 0.3 });
      m.params.init(8);
      const b = tinyBatch(9, TINY.featDim);
      const none = { ffHidden: 0, ffOut: 0, ssmOut: 0, convOut: 0 };
      const plan = { members: [{ spec: { layers: 2, ffDim: 12, heads: 2 }, dropout: none }, { spec: { layers: 1, ffDim: 5, heads: 2 }, dropout: none }], kd: null };
      m.params.zeroGrad();
      const shared = m.sandwichStep(b, plan, { lossScale: 1, shareFrontend: true });
      const gShared = e.read(m.params.gradPtr, m.params.total);
      m.params.zeroGrad();
      const apart = m.sandwichStep(b, plan, { lossScale: 1, shareFrontend: false });
      const gApart = e.read(m.params.gradPtr, m.params.total);
      expect(shared.members.map((x) => x.ctcSum)).toEqual(apart.members.map((x) => x.ctcSum));
      expect(shared.members[0].ctcSum).toBeGreaterThan(0);
      const head = m.params.get("ctc.weight");
      // the head's gradient comes after the frontend: identical; the frontend's differs by f32 summation order only
      expect(Array.from(gShared.subarray(head.offset, head.offset + head.numel))).toEqual(Array.from(gApart.subarray(head.offset, head.offset + head.numel)));
    } finally {
      e.reset(base);
    }
  });

  it("export and the inference build drop the head: a model trained with CTC exports and transcribes as one without", async () => {
    const e = await engine();
    const base = e.mark();
    try {
      const tok = trainChar(["AB C"]);
      const cfg80: ModelConfig = { ...TINY, featDim: 80, subsampleChannels: 4, dModel: 16, heads: 4, vocabSize: tok.size };
      const withHead = new Model(e, { ...cfg80, ctcWeight: 0.3 }), without = new Model(e, inferenceConfig(cfg80));
      withHead.params.init(2);
      without.params.init(2); // the same values for every shared tensor
      const bias = withHead.params.read("joiner.out.bias");
      bias[0] -= 1.5; // tilt away from blank so the transcripts are not empty
      withHead.params.write("joiner.out.bias", bias);
      without.params.write("joiner.out.bias", bias);
      const fileWith = decodeSafetensors(encodeModel(withHead, tok)), fileWithout = decodeSafetensors(encodeModel(without, tok));
      expect(fileWith.tensors.has("ctc.weight")).toBe(true);
      const sub = { layers: 1, ffDim: 12, heads: 2 };
      for (const s of [sub, { layers: 2, ffDim: 12, heads: 4 }]) {
        const a = encodeSubnetModel(fileWith, "with", s), bOut = encodeSubnetModel(fileWithout, "without", s);
        expect(Buffer.from(a).equals(Buffer.from(bOut)), `export of L${s.layers} identical`).toBe(true);
      }
      // the inference build loads the Supernet file itself (ctc.* present) and transcribes as without it
      const x = Float32Array.from({ length: 16000 }, (_, i) => 0.3 * Math.sin(i / 7) * Math.sin(i / 900) + 0.05 * Math.sin(i / 3));
      const ra = (await loadRecognizer(encodeModel(withHead, tok), { build: e.build })).recognize(x, 16000);
      const rb = (await loadRecognizer(encodeModel(without, tok), { build: e.build })).recognize(x, 16000);
      expect(ra.tokens).toEqual(rb.tokens);
      expect(ra.tokens.length).toBeGreaterThan(0);
    } finally {
      e.reset(base);
    }
  });
});
