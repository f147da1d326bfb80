// The pruned RNN-T loss in the model (model.loss = "pruned", src/model/model.ts prunedTransducer): the
// config and parameter table (simple.* only under "pruned"), the pruned step against the full-loss step
// when the band covers all of U+1 with scales (simple 0, pruned 1), the pruned step's gradients (simple
// projections, joiner, predictor, encoder; with and without distillation) against central finite
// differences, the band loss never below the full loss, KD on the full lattice equal to the full-loss
// model's, the model file round trip, and export / inference dropping the simple projections.
// The kernels themselves are tested in test/rnnt-simple.test.ts and test/rnnt-pruned.test.ts.
import { describe, expect, it } from "vitest";
import { trainChar } from "../src/data/tokenizer.js";
import { countParams, DEFAULT_MODEL, inferenceConfig, paramTable, sameArchitecture, validateConfig, type ModelConfig } from "../src/model/config.js";
import { encodeSubnetModel } from "../src/model/export.js";
import { encodeModel, loadModelBytes } from "../src/model/io.js";
import { Model, type KdOptions } from "../src/model/model.js";
import { decodeSafetensors } from "../src/io/safetensors.js";
import { loadRecognizer } from "../src/infer/node.js";
import { engine, expectFdGradients, rng, tinyBatch } from "./helpers.js";
import { checkOp } from "./harness.js";

const TINY: ModelConfig = {
  ...DEFAULT_MODEL, featDim: 16, subsampleChannels: 2, dModel: 8, layers: 2, ffDim: 12, heads: 2, stateSize: 4,
  predictorDim: 16, joinerDim: 16, vocabSize: 5, causal: true,
};
const PRUNED: ModelConfig = { ...TINY, loss: "pruned" };
const NONE = { ffHidden: 0, ffOut: 0, ssmOut: 0, convOut: 0 };

describe("pruned RNN-T in the model", () => {
  it("config: loss and its options are checked; only \"pruned\" adds simple.am/lm, not counted, dropped by inferenceConfig", () => {
    expect(() => validateConfig({ ...TINY, loss: "bogus" as "full" })).toThrow(/loss must be "full" or "pruned"/);
    for (const r of [1, 2.5, -3]) expect(() => validateConfig({ ...PRUNED, pruneRange: r })).toThrow(/pruneRange/);
    expect(() => validateConfig({ ...PRUNED, simpleLmScale: 0.7, simpleAmScale: 0.5 })).toThrow(/simpleLmScale \+ simpleAmScale/);
    expect(() => validateConfig({ ...PRUNED, simpleLossScale: -1 })).toThrow(/simpleLossScale/);
    expect(() => validateConfig({ ...PRUNED, pruneRange: 3, simpleLmScale: 0.25, simpleAmScale: 0.1, simpleLossScale: 0.5 })).not.toThrow();
    expect(paramTable({ ...TINY, loss: "full", pruneRange: 4 })).toEqual(paramTable(TINY));
    const simple = paramTable(PRUNED).filter((p) => p.name.startsWith("simple."));
    expect(simple.map((p) => [p.name, p.shape])).toEqual([["simple.am.weight", [5, 8]], ["simple.am.bias", [5]], ["simple.lm.weight", [5, 16]], ["simple.lm.bias", [5]]]);
    expect(countParams(PRUNED)).toBe(countParams(TINY));
    expect(inferenceConfig({ ...PRUNED, pruneRange: 3, simpleLossScale: 0.4 })).toEqual(inferenceConfig(TINY));
    expect(sameArchitecture({ ...PRUNED, pruneRange: 3 }, TINY)).toBe(false); // the tensors differ
    expect(sameArchitecture({ ...PRUNED, pruneRange: 3 }, { ...PRUNED, pruneRange: 7 })).toBe(true);
  });

  it("loss \"full\" written out is the code path without the key: same losses and gradients bit for bit", async () => {
    const e = await engine();
    const base = e.mark();
    try {
      const b = tinyBatch(5, TINY.featDim);
      const run = (cfg: ModelConfig) => {
        const m = new Model(e, cfg);
        m.params.init(3);
        m.params.zeroGrad();
        const r = m.trainStep(b, undefined, { lossScale: 1 });
        return { r, g: e.read(m.params.gradPtr, m.params.total) };
      };
      const none = run(TINY), full = run({ ...TINY, loss: "full", pruneRange: 3 });
      expect(Array.from(full.r.losses)).toEqual(Array.from(none.r.losses));
      expect(full.r.simpleSum).toBeUndefined();
      expect(Array.from(full.g)).toEqual(Array.from(none.g));
    } finally {
      e.reset(base);
    }
  });

  it("with the band covering all of U+1 and scales (simple 0, pruned 1): the full-loss step's losses and every gradient", async () => {
    const e = await engine();
    const base = e.mark();
    try {
      const b = tinyBatch(5, TINY.featDim); // U = 3: U+1 = 4 symbols
      const full = new Model(e, TINY);
      full.params.init(3);
      for (const sub of [{ layers: 2, ffDim: 12, heads: 2 }, { layers: 1, ffDim: 5, heads: 2 }]) {
        full.params.zeroGrad();
        const rf = full.trainStep(b, sub, { lossScale: 1 });
        const gf = e.read(full.params.gradPtr, full.params.total);
        for (const R of [4, 6]) {
          const m = new Model(e, { ...PRUNED, pruneRange: R });
          m.params.init(3);
          // the simple projections are drawn after every shared tensor: the same initial values
          for (const p of full.params.entries) expect(Array.from(m.params.read(p.name)), p.name).toEqual(Array.from(full.params.read(p.name)));
          m.params.zeroGrad();
          const r = m.trainStep(b, sub, { lossScale: 1, lossScales: { simple: 0, pruned: 1 } });
          const g = e.read(m.params.gradPtr, m.params.total);
          // the same f32 math, the band's rows laid out otherwise (GEMM blocking, summation order): as
          // test/rnnt-pruned.test.ts, 1e-5 relative on losses ~10 nats
          checkOp(`R ${R} L${sub.layers}: losses`, r.losses, rf.losses, 1e-5, 1e-5);
          expect(r.simpleSum).toBeGreaterThan(0);
          for (const p of full.params.entries) {
            const q = m.params.get(p.name);
            // joiner-level differences ~1e-6 (5e-5 bound there) carried back through the predictor and the
            // encoder, whose weights are O(1): 1e-4 absolute on gradients of size up to ~10, 1e-4 relative
            checkOp(`R ${R} L${sub.layers}: d ${p.name}`, g.subarray(q.offset, q.offset + q.numel), gf.subarray(p.offset, p.offset + p.numel), 1e-4, 1e-4);
          }
          for (const name of ["simple.am.weight", "simple.am.bias", "simple.lm.weight", "simple.lm.bias"]) {
            const q = m.params.get(name);
            expect(g.subarray(q.offset, q.offset + q.numel).every((v) => v === 0), `${name}: weight 0, gradient 0`).toBe(true);
          }
        }
      }
    } finally {
      e.reset(base);
    }
  });

  it("a band narrower than U+1 gives a loss above the full loss (fewer alignments); default scales are the final ones", async () => {
    const e = await engine();
    const base = e.mark();
    try {
      const b = tinyBatch(6, TINY.featDim);
      const full = new Model(e, TINY), m = new Model(e, { ...PRUNED, pruneRange: 2 });
      full.params.init(4);
      m.params.init(4);
      const rf = full.trainStep(b, undefined, { lossScale: 1 }), r = m.trainStep(b, undefined, { lossScale: 1 });
      // -log of a sum over a subset of the full lattice's alignments (same joiner, same weights): never below
      for (let i = 0; i < b.B; i++) expect(r.losses[i]).toBeGreaterThan(rf.losses[i] * (1 + 1e-6));
      expect(Number.isFinite(r.lossSum)).toBe(true);
      // without lossScales a step weighs the losses by the final scales (simple model.simpleLossScale, pruned 1)
      const grads = (mm: Model, scales?: { simple: number; pruned: number }) => {
        mm.params.zeroGrad();
        mm.trainStep(b, undefined, { lossScale: 1, lossScales: scales });
        return Array.from(e.read(mm.params.gradPtr, mm.params.total));
      };
      expect(grads(m)).toEqual(grads(m, { simple: 0.5, pruned: 1 }));
      const m2 = new Model(e, { ...PRUNED, pruneRange: 2, simpleLossScale: 0.3 });
      m2.params.init(4);
      expect(grads(m2)).toEqual(grads(m2, { simple: 0.3, pruned: 1 }));
      expect(grads(m2)).not.toEqual(grads(m2, { simple: 0.5, pruned: 1 }));
    } finally {
      e.reset(base);
    }
  });

  it("gradients match central finite differences of simple·L_simple + pruned·L_pruned (R = 2: a real band), subnets, with KD", async () => {
    const e = await engine();
    const base = e.mark();
    try {
      const m = new Model(e, { ...PRUNED, pruneRange: 2, simpleAmScale: 0.1 });
      m.params.init(3);
      const b = tinyBatch(5, TINY.featDim);
      const scales = { simple: 0.7, pruned: 0.6 };
      const kdOpts: KdOptions = { lambda: 0.8, alphaNeg: 1, alphaPos: 1, clip: 5 };
      const T2 = m.encodeOutput(b).T2;
      // the teacher's log-probabilities (the Supernet's full joiner), fixed for the students below
      const teacher = e.alloc(b.B * T2 * (b.U + 1) * TINY.vocabSize, "teacher");
      m.trainStep(b, undefined, { lossScale: 1, lossScales: scales }, { teacherOut: teacher });
      const cases = [
        { sub: { layers: 2, ffDim: 12, heads: 2 }, kd: undefined },
        { sub: { layers: 1, ffDim: 5, heads: 2 }, kd: { teacher, opts: kdOpts } },
      ];
      for (const { sub, kd } of cases) {
        m.params.zeroGrad();
        m.trainStep(b, sub, { lossScale: 1, lossScales: scales }, kd);
        const grads = e.read(m.params.gradPtr, m.params.total);
        const lam = kd ? kdOpts.lambda : 0;
        const loss = () => {
          const r = m.trainStep(b, sub, { lossScale: 1, lossScales: scales }, kd);
          return (1 - lam) * (scales.simple * r.simpleSum! + scales.pruned * r.lossSum) + lam * r.kdSum!;
        };
        expect(Number.isFinite(loss())).toBe(true);
        const picks: [string, number][] = [];
        const r = rng(17);
        for (const name of ["simple.am.weight", "simple.am.bias", "simple.lm.weight", "simple.lm.bias", "joiner.out.weight", "joiner.enc.weight",
          "predictor.lstm.0.w_ih", "predictor.embedding.weight", "encoder.blocks.0.ff2.w2.bias", "encoder.subsample.out.weight"]) {
          for (let k = 0; k < 3; k++) picks.push([name, Math.floor(r() * m.params.get(name).numel)]);
        }
        expectFdGradients(e, m, grads, picks, loss, `L${sub.layers}${kd ? " KD" : ""}`);
      }
    } finally {
      e.reset(base);
    }
  });

  it("the sandwich: KD on the full lattice equals the full-loss model's KD; shared frontend equals apart", async () => {
    const e = await engine();
    const base = e.mark();
    try {
      const b = tinyBatch(9, TINY.featDim);
      const plan = {
        members: [{ spec: { layers: 2, ffDim: 12, heads: 2 }, dropout: NONE }, { spec: { layers: 1, ffDim: 5, heads: 2 }, dropout: NONE }],
        kd: { lambda: 0.5, alphaNeg: 1, alphaPos: 1, clip: 5, lattice: "full" as const },
      };
      const full = new Model(e, TINY), m = new Model(e, { ...PRUNED, pruneRange: 3 });
      full.params.init(8);
      m.params.init(8);
      const rf = full.sandwichStep(b, plan, { lossScale: 1 });
      m.params.zeroGrad();
      const shared = m.sandwichStep(b, { ...plan, lossScales: { simple: 0.9, pruned: 0.2 } }, { lossScale: 1, shareFrontend: true });
      const gShared = e.read(m.params.gradPtr, m.params.total);
      m.params.zeroGrad();
      const apart = m.sandwichStep(b, { ...plan, lossScales: { simple: 0.9, pruned: 0.2 } }, { lossScale: 1, shareFrontend: false });
      const gApart = e.read(m.params.gradPtr, m.params.total);
      // the KD term is the full-loss path's (same encoder, joiner and teacher): the same f32 operations
      expect(shared.members[1].kdSum).toBeGreaterThan(0);
      checkOp("student KD sums", [shared.members[1].kdSum], [rf.members[1].kdSum], 0, 1e-6);
      expect(shared.members.map((x) => [x.lossSum, x.simpleSum, x.kdSum])).toEqual(apart.members.map((x) => [x.lossSum, x.simpleSum, x.kdSum]));
      expect(shared.members.every((x) => x.simpleSum > 0 && Number.isFinite(x.lossSum))).toBe(true);
      // the frontend's gradient differs by the f32 order of summing the members' (as test/sandwich-shared.test.ts)
      checkOp("gradients, shared vs apart", gShared, gApart, 1e-5, 1e-4);
    } finally {
      e.reset(base);
    }
  });

  it("KD on the teacher's band: a band covering all of U+1 gives the full lattice's KD; a real band's student gradients match finite differences", async () => {
    const e = await engine();
    const base = e.mark();
    try {
      const b = tinyBatch(9, TINY.featDim);
      const members = [{ spec: { layers: 2, ffDim: 12, heads: 2 }, dropout: NONE }, { spec: { layers: 1, ffDim: 5, heads: 2 }, dropout: NONE }];
      const kd = { lambda: 0.5, alphaNeg: -1, alphaPos: 1, clip: 5 };
      // R = U+1: every band starts at 0 and holds every node (k2's constraints), so band = full lattice
      const m = new Model(e, { ...PRUNED, pruneRange: b.U + 1 });
      m.params.init(8);
      const step = (lattice: "band" | "full") => {
        m.params.zeroGrad();
        const r = m.sandwichStep(b, { members, kd: { ...kd, lattice }, lossScales: { simple: 0.5, pruned: 1 } }, { lossScale: 1 });
        return { r, g: e.read(m.params.gradPtr, m.params.total) };
      };
      const band = step("band"), full = step("full");
      expect(band.r.members[1].kdSum).toBeGreaterThan(0);
      // the same nodes and formulas; the band joiner gathers rows where the full one broadcasts: f32 rounding
      checkOp("student KD, band vs full lattice", [band.r.members[1].kdSum], [full.r.members[1].kdSum], 1e-6, 1e-5);
      checkOp("gradients, band vs full lattice", band.g, full.g, 1e-5, 1e-4);

      // a real band (R = 2): the student's gradient of (1-λ)(simple + pruned) + λ·KD on the teacher's fixed band
      const m2 = new Model(e, { ...PRUNED, pruneRange: 2 });
      m2.params.init(3);
      const scales = { simple: 0.7, pruned: 0.6 };
      const T2 = m2.encodeOutput(b).T2;
      const teacher = e.alloc(b.B * T2 * 2 * TINY.vocabSize, "teacher band"), ranges = e.alloc(b.B * T2, "teacher ranges");
      m2.trainStep(b, undefined, { lossScale: 1, lossScales: scales }, { teacherOut: teacher, ranges });
      const starts = e.readI32(ranges, b.B * T2);
      expect(starts.some((s) => s > 0), "the teacher's band moves off 0").toBe(true);
      const sub = { layers: 1, ffDim: 5, heads: 2 }, opts: KdOptions = { ...kd, lambda: 0.8, lattice: "band" };
      const role = { teacher, ranges, opts };
      m2.params.zeroGrad();
      m2.trainStep(b, sub, { lossScale: 1, lossScales: scales }, role);
      const grads = e.read(m2.params.gradPtr, m2.params.total);
      const loss = () => {
        const r = m2.trainStep(b, sub, { lossScale: 1, lossScales: scales }, role);
        return (1 - opts.lambda) * (scales.simple * r.simpleSum! + scales.pruned * r.lossSum) + opts.lambda * r.kdSum!;
      };
      const r = rng(23);
      const picks: [string, number][] = [];
      for (const name of ["joiner.out.weight", "joiner.enc.weight", "joiner.pred.weight", "predictor.lstm.0.w_ih", "encoder.blocks.0.ff2.w2.bias"]) {
        for (let k = 0; k < 4; k++) picks.push([name, Math.floor(r() * m2.params.get(name).numel)]);
      }
      expectFdGradients(e, m2, grads, picks, loss, "band KD");
    } finally {
      e.reset(base);
    }
  });

  it("the model file keeps the simple projections; export and the inference build drop them", async () => {
    const e = await engine();
    const base = e.mark();
    try {
      const tok = trainChar(["AB C"]);
      const cfg80: ModelConfig = { ...TINY, featDim: 80, subsampleChannels: 4, dModel: 16, heads: 4, vocabSize: tok.size };
      const pruned = new Model(e, { ...cfg80, loss: "pruned", pruneRange: 3 }), full = new Model(e, cfg80);
      pruned.params.init(2);
      full.params.init(2); // the same values for every shared tensor
      const bias = pruned.params.read("joiner.out.bias");
      bias[0] -= 1.5; // tilt away from blank so the transcripts are not empty
      pruned.params.write("joiner.out.bias", bias);
      full.params.write("joiner.out.bias", bias);
      const bytes = encodeModel(pruned, tok);
      const back = loadModelBytes(e, bytes).model;
      expect(back.cfg).toEqual(pruned.cfg);
      for (const p of pruned.params.entries) expect(Array.from(back.params.read(p.name)), p.name).toEqual(Array.from(pruned.params.read(p.name)));
      const file = decodeSafetensors(bytes), fileFull = decodeSafetensors(encodeModel(full, tok));
      expect(file.tensors.has("simple.am.weight") && file.tensors.has("simple.lm.bias")).toBe(true);
      for (const s of [{ layers: 1, ffDim: 12, heads: 2 }, { layers: 2, ffDim: 12, heads: 4 }]) {
        const a = encodeSubnetModel(file, "pruned", s), bOut = encodeSubnetModel(fileFull, "full", s);
        expect(Buffer.from(a).equals(Buffer.from(bOut)), `export of L${s.layers} identical to the full-loss model's`).toBe(true);
        expect(decodeSafetensors(a).tensors.has("simple.am.weight")).toBe(false);
      }
      // the inference build loads the Supernet file itself (simple.* present) and its export, and transcribes as without
      const x = Float32Array.from({ length: 16000 }, (_, i) => 0.3 * Math.sin(i / 7) * Math.sin(i / 900) + 0.05 * Math.sin(i / 3));
      const ra = (await loadRecognizer(bytes, { build: e.build })).recognize(x, 16000);
      const rb = (await loadRecognizer(encodeModel(full, tok), { build: e.build })).recognize(x, 16000);
      const rc = (await loadRecognizer(encodeSubnetModel(file, "pruned", { layers: 2, ffDim: 12, heads: 4 }), { build: e.build })).recognize(x, 16000);
      expect(ra.tokens).toEqual(rb.tokens);
      expect(rc.tokens).toEqual(rb.tokens);
      expect(ra.tokens.length).toBeGreaterThan(0);
    } finally {
      e.reset(base);
    }
  });
});
