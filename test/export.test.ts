// todm export: a subnet cut out of a Supernet run as a standalone model, float32 and int8, and the
// choice of subnet (--subnet, --max-params, --max-rtf). Ground truth: the Supernet running the same
// subnet in place (Model.decode / encodeOutput with a SubnetSpec), the quantisation formula computed
// here in float64, and the run's log.jsonl written by the test. The LM sidecar: its bytes are the LM
// file's, the tensors equal an export without it, and todm transcribe's text with the model's own LM
// equals the text with --lm FILE --lm-weight W given explicitly.
// Run directories are made synthetically: a random-init Model saved with saveModel, a config.json and a
// log.jsonl in the Supernet trainer's format.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runExport } from "../src/train/export.js";
import type { Batch } from "../src/data/batching.js";
import { trainChar, type CharTokenizer } from "../src/data/tokenizer.js";
import type { Engine } from "../src/engine/engine.js";
import { countParams, DEFAULT_MODEL, paramTable, subnetName, type ModelConfig, type SubnetSpec } from "../src/model/config.js";
import { encodeSubnetModel, subnetConfig } from "../src/model/export.js";
import { loadModel, saveModel } from "../src/model/io.js";
import { Model } from "../src/model/model.js";
import { dequantizeRowsInt8, isQuantizable, quantizeRowsInt8 } from "../src/model/quant.js";
import { listSubnets, type SupernetSpace } from "../src/model/supernet.js";
import { readSafetensors } from "../src/io/safetensors.js";
import { DEFAULT_TRAIN } from "../src/train/config.js";
import { bothBuilds, engine, rng } from "./helpers.js";
import { gemmI8 } from "./kernels.js";
import { runTranscribe, type TranscribeCommandOptions } from "../src/commands/transcribe.js";
import { loadRecognizer } from "../src/infer/node.js";
import { writeWav } from "../src/audio/wav.js";
import { estimateKneserNey } from "../src/lm/estimate.js";
import { encodeLm } from "../src/lm/format.js";

// A tiny Supernet: 3 blocks, ffDim 12, 4 heads of 2 channels (dModel 8).
const TINY: ModelConfig = {
  ...DEFAULT_MODEL, featDim: 16, subsampleChannels: 2, dModel: 8, layers: 3, ffDim: 12, heads: 4, stateSize: 4,
  predictorDim: 16, joinerDim: 16, vocabSize: 5, causal: true,
};
const SPACE: SupernetSpace = { ...DEFAULT_TRAIN.supernet, enabled: true, layers: [1, 3], ffDims: [5, 12], heads: [2, 4] };

function batch(seed: number, F: number): Batch {
  const r = rng(seed);
  const B = 3, T = 29;
  const feats = Float32Array.from({ length: B * T * F }, () => r() * 4 - 2);
  const featLens = Int32Array.from([29, 13, 22]);
  for (let b = 0; b < B; b++) feats.fill(0, (b * T + featLens[b]) * F, (b + 1) * T * F); // padding is zeros
  return { ids: [0, 1, 2], B, T, F, U: 0, feats, featLens, tokens: new Int32Array(0), tokenLens: new Int32Array(B) };
}

let e: Engine, dir: string, tok: CharTokenizer;

/** A run directory: random-init model (seed), config.json with the space, log.jsonl with `valid` lines. */
function makeRun(name: string, cfg: ModelConfig, space: SupernetSpace, valid: Record<string, unknown>[], seed = 1): string {
  const run = join(dir, name);
  mkdirSync(run, { recursive: true });
  const mark = e.mark();
  try {
    const m = new Model(e, cfg);
    m.params.init(seed);
    saveModel(join(run, "model.safetensors"), m, tok);
  } finally {
    e.reset(mark);
  }
  writeFileSync(join(run, "config.json"), JSON.stringify({ ...DEFAULT_TRAIN, model: { ...cfg, vocabSize: 256 }, supernet: space }, null, 2));
  const lines = [{ type: "step", step: 1, loss: 3 }, ...valid];
  writeFileSync(join(run, "log.jsonl"), lines.map((l) => JSON.stringify(l) + "\n").join(""));
  return run;
}

beforeAll(async () => {
  e = await engine();
  dir = mkdtempSync(join(tmpdir(), "todm-export-"));
  tok = trainChar(["AB C"]); // blank, space, A, B, C
  expect(tok.size).toBe(TINY.vocabSize);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("export: the exported subnet computes what the Supernet computes for it", () => {
  const subs: SubnetSpec[] = [
    { layers: 1, ffDim: 5, heads: 2 },
    { layers: 3, ffDim: 5, heads: 4 },
    { layers: 2, ffDim: 12, heads: 2 },
    { layers: 3, ffDim: 12, heads: 4 }, // the Supernet itself
  ];
  for (const variant of [{ causal: true, convKernel: 0 }, { causal: false, convKernel: 3 }]) {
    it(`encoder output and greedy/beam hypotheses (${variant.causal ? "causal" : "bidirectional with convolution module"}; both builds)`, async () => {
      const cfg = { ...TINY, ...variant };
      const run = makeRun(`equal-${variant.causal}`, cfg, SPACE, [], 5);
      const file = readSafetensors(join(run, "model.safetensors"));
      for (const e of await bothBuilds()) { // shadows the file's engine: each build in turn
        const mark = e.mark();
        try {
          const { model: sup } = loadModel(e, join(run, "model.safetensors"));
          const b = batch(9, cfg.featDim);
          for (const s of subs) {
            const out = join(run, `${subnetName(s)}.safetensors`);
            writeFileSync(out, encodeSubnetModel(file, "test", s));
            const { model: sub, tokenizer, metadata } = loadModel(e, out);
            expect(sub.cfg).toEqual(subnetConfig(cfg, s));
            expect(tokenizer.symbols).toEqual(tok.symbols);
            expect(JSON.parse(metadata["todm.subnet"])).toMatchObject({ name: subnetName(s), ...s, supernet: "L3-ff12-h4" });
            // Independent count: the trained floats actually stored equal countParams of the subnet in the Supernet.
            const stored = readSafetensors(out);
            const trained = paramTable(sub.cfg).filter((p) => p.trainable !== false).reduce((n, p) => n + stored.tensors.get(p.name)!.data.length, 0);
            expect(trained).toBe(countParams(cfg, s));
            const ref = sup.encodeOutput(b, s), got = sub.encodeOutput(b);
            expect(got.T2).toBe(ref.T2);
            expect(Array.from(got.lens2)).toEqual(Array.from(ref.lens2));
            // Exactly equal: every GEMM has the same K (only ld strides differ), the packed kernels sum each
            // dot product in the same order whatever the stride, and the SSM scan runs per channel.
            expect(got.enc).toEqual(ref.enc);
            for (const beam of [1, 3]) expect(sub.decode(b, undefined, { beam })).toEqual(sup.decode(b, s, { beam }));
          }
        } finally {
          e.reset(mark);
        }
      }
    });
  }
});

describe("export --int8", () => {
  it("per-row scales are max|w|/127 and every weight is within half a step of its dequantised value", () => {
    const r = rng(3);
    for (const [rows, cols] of [[1, 1], [3, 7], [13, 5], [4, 33]]) {
      const w = Float32Array.from({ length: rows * cols }, () => (r() * 2 - 1) * (r() < 0.1 ? 50 : 1));
      if (rows > 2) w.fill(0, cols, 2 * cols); // a zero row: scale 0, weights 0
      const { q, scale } = quantizeRowsInt8(w, rows, cols);
      const back = dequantizeRowsInt8(q, scale, rows, cols);
      for (let i = 0; i < rows; i++) {
        let m = 0;
        for (let j = 0; j < cols; j++) m = Math.max(m, Math.abs(w[i * cols + j]));
        expect(scale[i]).toBe(Math.fround(m / 127));
        for (let j = 0; j < cols; j++) {
          expect(Math.abs(q[i * cols + j])).toBeLessThanOrEqual(127);
          // round to nearest: |w - q·s| <= s/2, plus f32 rounding of s and of the product (1e-6 relative)
          expect(Math.abs(w[i * cols + j] - back[i * cols + j])).toBeLessThanOrEqual(scale[i] / 2 + 1e-6 * m);
        }
      }
    }
  });

  it("the int8 file of the default model is at least 3.5x smaller and loads dequantised", () => {
    const cfg = { ...DEFAULT_MODEL, vocabSize: tok.size };
    const run = makeRun("default", cfg, { ...DEFAULT_TRAIN.supernet }, [{ type: "valid", step: 2, wer: 90 }]);
    const f32 = join(dir, "default-f32.safetensors"), i8 = join(dir, "default-i8.safetensors");
    const logs: string[] = [];
    runExport(undefined, { run, out: f32, subnet: "L6-ff576-h4", log: (l) => logs.push(l) });
    const r = runExport(undefined, { run, out: i8, subnet: "L6-ff576-h4", int8: true, log: (l) => logs.push(l) });
    const ratio = statSync(f32).size / statSync(i8).size;
    console.log(`default model: float32 ${statSync(f32).size} bytes, int8 ${statSync(i8).size} bytes, ratio ${ratio.toFixed(3)}`);
    expect(ratio).toBeGreaterThanOrEqual(3.5);
    expect(r.bytes).toBe(statSync(i8).size);
    const src = readSafetensors(join(run, "model.safetensors")), q = readSafetensors(i8);
    expect(q.metadata["todm.quant"]).toBe("int8");
    const mark = e.mark();
    try {
      const { model } = loadModel(e, i8);
      for (const p of paramTable(model.cfg)) {
        const t = q.tensors.get(p.name)!;
        const orig = src.tensors.get(p.name)!.data as Float32Array;
        const got = model.params.read(p.name);
        if (!isQuantizable(p)) {
          expect(t.dtype).toBe("F32");
          expect(got).toEqual(orig);
          continue;
        }
        expect(t.dtype).toBe("I8");
        const scale = q.tensors.get(`${p.name}.scale`)!.data as Float32Array;
        const [rows, cols] = p.shape;
        let notExact = 0, worst = 0; // per-element expect() calls over 3 M weights would take minutes
        for (let i = 0; i < rows; i++) {
          for (let j = 0; j < cols; j++) {
            const k = i * cols + j;
            if (got[k] !== Math.fround((t.data as Int8Array)[k] * scale[i])) notExact++; // the loader's dequantisation, exactly
            worst = Math.max(worst, Math.abs(got[k] - orig[k]) / (scale[i] / 2 + 1e-7)); // half a step (+ f32 rounding)
          }
        }
        expect(notExact, p.name).toBe(0);
        expect(worst, p.name).toBeLessThanOrEqual(1);
      }
    } finally {
      e.reset(mark);
    }
  });

  it("a missing scale or a stray I8 tensor in a float file is refused with the file and tensor named", () => {
    const run = makeRun("bad-int8", TINY, SPACE, []);
    const out = join(dir, "bad.safetensors");
    runExport(undefined, { run, out, subnet: "L1-ff5-h2", int8: true, log: () => {} });
    const bytes = readFileSync(out);
    const st = readSafetensors(out);
    // drop the scale of one tensor by renaming it in the header (same length keeps offsets valid)
    const text = bytes.toString("latin1").replace('"encoder.subsample.out.weight.scale"', '"encoder.subsample.out.weight.scalx"');
    writeFileSync(out, Buffer.from(text, "latin1"));
    expect(() => loadModel(e, out)).toThrow(/bad\.safetensors: int8 tensor encoder\.subsample\.out\.weight needs an F32 tensor encoder\.subsample\.out\.weight\.scale/);
    const noQuant = bytes.toString("latin1").replace('"todm.quant":"int8"', '"todm.xxxxx":"int8"');
    writeFileSync(out, Buffer.from(noQuant, "latin1"));
    expect(() => loadModel(e, out)).toThrow(/tensor encoder\.subsample\.out\.weight is I8 .* expected F32/);
    expect(st.metadata["todm.quant"]).toBe("int8");
  });
});

describe("export: choosing the subnet", () => {
  // Subnets of SPACE, largest first: L3-ff12-h4, L3-ff12-h2, L3-ff5-h4, L3-ff5-h2, L1-ff12-h4, ...
  const all = () => listSubnets(TINY, SPACE);
  const valid = (subnets: Record<string, number>, wer = 80) => ({ type: "valid", step: 10, epoch: 1, wer, subnets, elapsedSec: 1 });

  it("--max-params takes the most accurate that fits by the last validation line, accepting suffixes", () => {
    const s = all();
    const run = makeRun("pick", TINY, SPACE, [
      valid({ [s[0].name]: 10, [s[2].name]: 50, [s[3].name]: 60, [s[s.length - 1].name]: 90 }), // an older line: ignored
      valid({ [s[0].name]: 70, [s[2].name]: 72, [s[3].name]: 71, [s[s.length - 1].name]: 95 }, 70),
    ]);
    const logs: string[] = [];
    const out = join(dir, "pick.safetensors");
    // Everything fits: the largest (70) is the most accurate.
    expect(runExport(undefined, { run, out, maxParams: "1G", log: (l) => logs.push(l) }).subnet.name).toBe(s[0].name);
    // Below the largest: s[3] (71) beats s[2] (72); s[1] has no WER and is named as passed over.
    const limit = String(s[1].params - 1);
    const r = runExport(undefined, { run, out, maxParams: limit, log: (l) => logs.push(l) });
    expect(r.subnet.name).toBe(s[3].name);
    expect(r.wer).toBe(71);
    expect(logs.join("\n")).toContain("passed over");
    // Suffixes: "0.001M" is 1000 parameters.
    const k = s.find((x) => x.params <= 1000);
    if (k) expect(runExport(undefined, { run, out, maxParams: "0.001M", log: () => {} }).subnet.params).toBeLessThanOrEqual(1000);
    const loaded = readSafetensors(out);
    expect(JSON.parse(loaded.metadata["todm.source"])).toMatchObject({ run });
  });

  it("without recorded WERs it says so and takes the largest that fits", () => {
    const s = all();
    const run = makeRun("nowers", TINY, SPACE, []);
    const logs: string[] = [];
    const r = runExport(undefined, { run, out: join(dir, "nw.safetensors"), maxParams: String(s[2].params), log: (l) => logs.push(l) });
    expect(r.subnet.name).toBe(s[2].name);
    expect(logs.join("\n")).toMatch(/no validation WER is recorded .* taking the largest that fits/);
  });

  it("--max-rtf measures every candidate and keeps the most accurate within the bound", () => {
    const s = all();
    const run = makeRun("rtf", TINY, SPACE, [valid({ [s[0].name]: 60, [s[s.length - 1].name]: 99 }, 60)]);
    const out = join(dir, "rtf.safetensors");
    const huge = runExport(e, { run, out, maxRtf: 1e6, rtfSeconds: 1, log: () => {} });
    expect(huge.rtf.size).toBe(s.length);
    for (const v of huge.rtf.values()) expect(v).toBeGreaterThan(0);
    expect(huge.subnet.name).toBe(s[0].name); // every subnet fits: the most accurate
    expect(() => runExport(e, { run, out, maxRtf: 1e-9, rtfSeconds: 1, log: () => {} })).toThrow(/--max-rtf 1e-9: no subnet fits on this machine \(the fastest, .* measured RTF/);
  });

  it("clear errors: unknown name, no subnet fits, run without a model, two ways at once", () => {
    const run = makeRun("errors", TINY, SPACE, []);
    const out = join(dir, "err.safetensors");
    expect(() => runExport(undefined, { run, out, subnet: "L2-ff12-h4", log: () => {} })).toThrow(/--subnet L2-ff12-h4: not a subnet of .*errors \(its subnets: L3-ff12-h4/);
    expect(() => runExport(undefined, { run, out, subnet: "big", log: () => {} })).toThrow(/"big" is not a subnet name/);
    expect(() => runExport(undefined, { run, out, maxParams: "10", log: () => {} })).toThrow(/--max-params 10: no subnet fits \(the smallest, L1-ff5-h2, has \d+ parameters\)/);
    expect(() => runExport(undefined, { run, out, maxParams: "lots", log: () => {} })).toThrow(/expected a number, optionally with a k, M or G suffix/);
    expect(() => runExport(undefined, { run, out, subnet: "L1-ff5-h2", maxParams: "1M", log: () => {} })).toThrow(/exactly one of/);
    expect(() => runExport(undefined, { run, out, subnet: "L1-ff5-h2", modelFile: "best.safetensors", log: () => {} })).toThrow(/errors\/best\.safetensors: no such model file/);
    const empty = join(dir, "empty-run");
    mkdirSync(join(empty, "checkpoints"), { recursive: true });
    expect(() => runExport(undefined, { run: empty, out, subnet: "L1-ff5-h2", log: () => {} })).toThrow(/model\.safetensors: no such model file \(make one with todm average/);
  });
});

describe("gemm_i8 (assembly/ops/gemm_i8.ts)", () => {
  /** Runs a kernel on strided operands (ldx = K + padX, ldw = K + padW, ldy = N + padY); returns y [M, N] and x's scales. */
  function run(e: Engine, kind: "forward" | "naive" | "dequant", x: Float32Array, q: Int8Array, scale: Float32Array, bias: Float32Array | null,
               M: number, N: number, K: number, pad: [number, number, number]) {
    return e.scoped(() => {
      const [ldx, ldw, ldy] = [K + pad[0], K + pad[1], N + pad[2]];
      const xs = new Float32Array(M * ldx).fill(NaN), ws = new Int8Array(N * ldw).fill(99), ys = new Float32Array(M * ldy).fill(-7);
      for (let i = 0; i < M; i++) xs.set(x.subarray(i * K, (i + 1) * K), i * ldx);
      for (let j = 0; j < N; j++) ws.set(q.subarray(j * K, (j + 1) * K), j * ldw);
      const px = e.upload(xs), pw = e.uploadI8(ws), ps = e.upload(scale), pb = bias ? e.upload(bias) : 0, py = e.upload(ys);
      const xq = e.alloc(Math.ceil((M * K) / 4)), xscale = e.alloc(M);
      if (kind === "dequant") e.wasm.gemm_i8_dequant_forward(py, e.alloc(N * K), px, pw, ps, pb, M, N, K, ldx, ldw, ldy);
      else (kind === "forward" ? e.wasm.gemm_i8_forward : e.wasm.gemm_i8_naive)(py, xq, xscale, px, pw, ps, pb, M, N, K, ldx, ldw, ldy);
      const yAll = e.read(py, M * ldy);
      const y = new Float32Array(M * N);
      for (let i = 0; i < M; i++) {
        y.set(yAll.subarray(i * ldy, i * ldy + N), i * N);
        for (let j = N; j < ldy; j++) expect(yAll[i * ldy + j]).toBe(-7); // nothing written past N
      }
      return { y, sx: kind === "dequant" ? null : e.read(xscale, M) };
    });
  }

  /**
   * Each x is off by at most half a step (m/127)/2 after quantisation (m = max|x_row|), so a sum by at most
   * (m/254)·Σ|w'|; plus f32 rounding of both products (K terms: 1e-6 relative to Σ|w'x| + 1). The dequant
   * reference itself is f32 gemm of the exact dequantised weights, checked against a float64 sum.
   */
  function withinQuantBound(got: Float32Array, ref: Float32Array, x: Float32Array, wd: Float32Array, bias: Float32Array | null, M: number, N: number, K: number) {
    for (let i = 0; i < M; i++) {
      let m = 0;
      for (let k = 0; k < K; k++) m = Math.max(m, Math.abs(x[i * K + k]));
      for (let j = 0; j < N; j++) {
        let absW = 0, mag = 0, exact = bias ? bias[j] : 0;
        for (let k = 0; k < K; k++) {
          absW += Math.abs(wd[j * K + k]);
          mag += Math.abs(wd[j * K + k] * x[i * K + k]);
          exact += wd[j * K + k] * x[i * K + k];
        }
        const bound = (m / 254) * absW * (1 + 1e-6) + 1e-6 * (mag + 1) * K;
        expect(Math.abs(got[i * N + j] - ref[i * N + j])).toBeLessThanOrEqual(bound);
        expect(Math.abs(ref[i * N + j] - exact)).toBeLessThanOrEqual(1e-6 * (mag + 1) * K);
      }
    }
  }

  const shapes = fc.record({
    M: fc.integer({ min: 1, max: 13 }), N: fc.integer({ min: 1, max: 13 }), K: fc.integer({ min: 1, max: 41 }),
    pad: fc.tuple(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 5 }), fc.integer({ min: 0, max: 2 })),
    bias: fc.boolean(), seed: fc.integer({ min: 0, max: 1 << 30 }),
  });

  function operands(M: number, N: number, K: number, seed: number, withBias: boolean) {
    const r = rng(seed);
    const x = Float32Array.from({ length: M * K }, () => (r() * 2 - 1) * (r() < 0.05 ? 30 : 1));
    if (M > 2) x.fill(0, K, 2 * K); // a zero row: scale 0
    const w = Float32Array.from({ length: N * K }, () => r() * 2 - 1);
    const { q, scale } = quantizeRowsInt8(w, N, K);
    const bias = withBias ? Float32Array.from({ length: N }, () => r() - 0.5) : null;
    return { x, q, scale, bias };
  }

  it("equals its naive twin bit for bit (awkward shapes, strided x, W and y; both builds)", async () => {
    for (const e2 of await bothBuilds()) {
      fc.assert(fc.property(shapes, ({ M, N, K, pad, bias, seed }) => {
        const o = operands(M, N, K, seed, bias);
        const a = run(e2, "forward", o.x, o.q, o.scale, o.bias, M, N, K, pad);
        const b = run(e2, "naive", o.x, o.q, o.scale, o.bias, M, N, K, pad);
        // Same quantisation (round to nearest even of the same f32 products) and exact int32 sums: identical.
        expect(a.y).toEqual(b.y);
        expect(a.sx).toEqual(b.sx);
      }), { numRuns: 60, seed: 42 });
    }
  });

  it("matches f32 gemm with the dequantised weights within the activation quantisation bound", async () => {
    const e2 = await engine();
    fc.assert(fc.property(shapes, ({ M, N, K, pad, bias, seed }) => {
      const o = operands(M, N, K, seed, bias);
      const wd = dequantizeRowsInt8(o.q, o.scale, N, K);
      const ref = run(e2, "dequant", o.x, o.q, o.scale, o.bias, M, N, K, pad).y;
      const got = run(e2, "forward", o.x, o.q, o.scale, o.bias, M, N, K, pad).y;
      withinQuantBound(got, ref, o.x, wd, o.bias, M, N, K);
    }), { numRuns: 60, seed: 7 });
  });

  it("gemmI8 (both methods) agrees with the kernels on a layer of the default model's size", async () => {
    const e2 = await engine();
    const M = 37, N = 144, K = 576;
    const o = operands(M, N, K, 5, true);
    const a = gemmI8(e2, o.x, M, K, o.q, o.scale, o.bias, N);
    expect(a).toEqual(run(e2, "naive", o.x, o.q, o.scale, o.bias, M, N, K, [0, 0, 0]).y);
    const d = gemmI8(e2, o.x, M, K, o.q, o.scale, o.bias, N, "dequant");
    withinQuantBound(a, d, o.x, dequantizeRowsInt8(o.q, o.scale, N, K), o.bias, M, N, K);
    expect(() => gemmI8(e2, o.x, M, K + 1, o.q, o.scale, o.bias, N)).toThrow(/gemmI8: x has/);
  });
});

describe("export: the LM travels with the model (sidecar + todm.lm metadata)", () => {
  const lmOf = (texts: string[], t: CharTokenizer, order = 3) => encodeLm(estimateKneserNey(texts.map((s) => t.encode(s)), { order, vocab: t.size }).tables, t.toJSON());
  const tensorsOf = (f: string) => { const st = readSafetensors(f); return [...st.tensors.entries()].map(([n, t]) => [n, t.dtype, t.shape, Array.from(t.data as Float32Array)]); };

  /** todm transcribe's text of one file (greedy or beam 1 with fusion on the training engine). */
  async function transcript(model: string, wav: string, extra: Partial<TranscribeCommandOptions> = {}): Promise<string> {
    const lines: string[] = [];
    expect(await runTranscribe(e, [wav], { model, out: (l) => lines.push(l), ...extra })).toBe(0);
    return lines[0].split("\t")[1];
  }

  it("--lm FILE --lm-weight W: the sidecar is the LM's bytes, the tensors are unchanged; transcribe uses it by default, --no-lm turns it off", async () => {
    const run = makeRun("with-lm", TINY, SPACE, []);
    const lmFile = join(dir, "text.tlm");
    writeFileSync(lmFile, lmOf(["AB C", "C BA", "BBC A"], tok));
    const plain = join(dir, "plain.safetensors"), withLm = join(dir, "withlm.safetensors");
    expect(runExport(undefined, { run, out: plain, subnet: "L3-ff12-h4", log: () => {} }).lm).toBeNull();
    const r = runExport(undefined, { run, out: withLm, subnet: "L3-ff12-h4", lm: lmFile, lmWeight: 4, log: () => {} });
    expect(r.lm).toEqual({ file: join(dir, "withlm.lm.tlm"), weight: 4, bytes: statSync(lmFile).size });
    expect(readFileSync(join(dir, "withlm.lm.tlm"))).toEqual(readFileSync(lmFile));
    expect(JSON.parse(readSafetensors(withLm).metadata["todm.lm"])).toEqual({ file: "withlm.lm.tlm", weight: 4 });
    expect(readSafetensors(plain).metadata["todm.lm"]).toBeUndefined();
    expect(tensorsOf(withLm)).toEqual(tensorsOf(plain)); // only the metadata differs: PyTorch readers see the same model

    const r2 = rng(5), x = Float32Array.from({ length: 16000 }, (_, i) => 0.3 * Math.sin(i / (3 + 20 * r2())) + 0.1 * (r2() - 0.5));
    const wav = join(dir, "lm.wav");
    writeFileSync(wav, writeWav([x], 16000));
    const explicit = await transcript(plain, wav, { lm: lmFile, lmWeight: 4 });
    const none = await transcript(plain, wav);
    expect(await transcript(withLm, wav)).toBe(explicit); // the model's own LM at its recorded weight
    expect(await transcript(withLm, wav, { noLm: true })).toBe(none);
    expect(await transcript(withLm, wav, { lmWeight: 0 })).toBe(none); // --lm-weight overrides W; 0 = beam 1 = greedy
    expect(explicit).not.toBe(none); // the LM changes this transcript, so the equalities above say which LM ran
    // todm/infer takes the recorded weight when given the sidecar
    const rec = await loadRecognizer(withLm, { lm: join(dir, "withlm.lm.tlm"), build: e.build });
    expect(rec.lm?.weight).toBe(4);
    expect(rec.lmInfo).toEqual({ file: "withlm.lm.tlm", weight: 4 });
    expect(await rec.transcribe(x, 16000)).toBe(explicit);

    // a model whose sidecar is missing: a clear error that names it and the way out
    rmSync(join(dir, "withlm.lm.tlm"));
    await expect(transcript(withLm, wav)).rejects.toThrow(/withlm\.safetensors: its metadata names the LM .*withlm\.lm\.tlm, which does not exist \(.*--no-lm\)/);
    expect(await transcript(withLm, wav, { noLm: true })).toBe(none);
    await expect(transcript(withLm, wav, { noLm: true, lm: lmFile })).rejects.toThrow(/--lm and --no-lm contradict/);
  });

  it("a run's subnets/lm.tlm with a recorded weight is carried by default; --no-lm, no weight and a foreign LM", () => {
    const run = makeRun("run-lm", TINY, SPACE, []);
    mkdirSync(join(run, "subnets"));
    const lmBytes = lmOf(["AB C", "CAB"], tok, 2);
    writeFileSync(join(run, "subnets", "lm.tlm"), lmBytes);
    const out = join(dir, "fromrun.safetensors"), logs: string[] = [];
    // lm.tlm without a recorded weight: said, and not carried
    expect(runExport(undefined, { run, out, subnet: "L1-ff5-h2", log: (l) => logs.push(l) }).lm).toBeNull();
    expect(logs.join("\n")).toMatch(/lm\.tlm: no weight is recorded for it .* exported without an LM \(give --lm .* --lm-weight W/);
    // the run's exported subnet records W for subnets/lm.tlm (what todm train writes)
    const st = readSafetensors(join(run, "model.safetensors"));
    writeFileSync(join(run, "subnets", "L3-ff12-h4.safetensors"), encodeSubnetModel(st, "model", { layers: 3, ffDim: 12, heads: 4 }, { metadata: { "todm.lm": JSON.stringify({ file: "lm.tlm", weight: 0.45 }) } }));
    const r = runExport(undefined, { run, out, subnet: "L1-ff5-h2", log: () => {} });
    expect(r.lm?.weight).toBe(0.45);
    expect(readFileSync(join(dir, "fromrun.lm.tlm"))).toEqual(Buffer.from(lmBytes));
    expect(JSON.parse(readSafetensors(out).metadata["todm.lm"])).toEqual({ file: "fromrun.lm.tlm", weight: 0.45 });
    expect(runExport(undefined, { run, out, subnet: "L1-ff5-h2", lmWeight: 0.9, log: () => {} }).lm?.weight).toBe(0.9);
    const bare = join(dir, "bare.safetensors");
    expect(runExport(undefined, { run, out: bare, subnet: "L1-ff5-h2", noLm: true, log: () => {} }).lm).toBeNull();
    expect(readSafetensors(bare).metadata["todm.lm"]).toBeUndefined();
    expect(existsSync(join(dir, "bare.lm.tlm"))).toBe(false);
    // an LM of another tokenizer, and a truncated one, are refused before anything is written
    const foreign = join(dir, "foreign.tlm"), cut = join(dir, "cut.tlm"), o2 = join(dir, "never.safetensors");
    writeFileSync(foreign, lmOf(["xyz"], trainChar(["xyz"]), 2));
    writeFileSync(cut, lmBytes.subarray(0, 40));
    expect(() => runExport(undefined, { run, out: o2, subnet: "L1-ff5-h2", lm: foreign, log: () => {} })).toThrow(/foreign\.tlm: built for a different tokenizer/);
    expect(() => runExport(undefined, { run, out: o2, subnet: "L1-ff5-h2", lm: cut, log: () => {} })).toThrow(/cut\.tlm: truncated/);
    expect(existsSync(o2)).toBe(false);
  });
});
