// The inference build and the todm/infer API against the training engine: encoder output equal to
// Model.encodeOutput, greedy and beam tokens equal to Model.decode, streams equal to the whole
// utterance for random chunkings (fast-check), non-causal models refused for streaming, the module's
// imports, its size, its module graph free of node: imports, and clear errors for bad model bytes.
// With an LM (shallow fusion): tokens equal to Model.decode with the same FusionOptions, whole and
// streamed; weight 0 equal to no LM; bad LM files refused with one-line errors.
import { existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { Batch } from "../src/data/batching.js";
import { trainChar } from "../src/data/tokenizer.js";
import type { Engine } from "../src/engine/engine.js";
import { DEFAULT_MODEL, type ModelConfig, type SubnetSpec } from "../src/model/config.js";
import { encodeModel } from "../src/model/io.js";
import { Model } from "../src/model/model.js";
import { encodeSafetensors, decodeSafetensors, type NamedTensor } from "../src/io/safetensors.js";
import { Recognizer } from "../src/infer/index.js";
import { inferWasm, inferWasmPath, loadRecognizer } from "../src/infer/node.js";
import { readAudioAt } from "../src/audio/read.js";
import { writeWav } from "../src/audio/wav.js";
import { runTranscribeStream } from "../src/commands/transcribe-stream.js";
import { runTranscribe } from "../src/commands/transcribe.js";
import { bothBuilds, engine, rng } from "./helpers.js";
import { checkOp } from "./harness.js";
import { fbank } from "../src/engine/features.js";
import { estimateKneserNey } from "../src/lm/estimate.js";
import { NgramLm } from "../src/lm/ngram.js";
import { encodeLm, LM_FORMAT_VERSION } from "../src/lm/format.js";
import type { Tokenizer } from "../src/data/tokenizer.js";

const TEXTS = ["hello world", "the quick brown fox", "jumps over the lazy dog"];
const tokenizer = trainChar(TEXTS);

/** A small model with the real front end (80 fbank bins, 16 kHz). */
const SMALL: ModelConfig = {
  ...DEFAULT_MODEL, subsampleChannels: 4, dModel: 16, layers: 2, ffDim: 24, heads: 4, stateSize: 4,
  predictorDim: 16, joinerDim: 16, vocabSize: tokenizer.size, causal: true, convKernel: 0,
};

/** A random-init model's bytes; joiner output bias tilted away from blank so transcripts are not empty. */
function modelBytes(e: Engine, cfg: ModelConfig, seed: number): { model: Model; bytes: Uint8Array } {
  const model = new Model(e, cfg);
  model.params.init(seed);
  const b = model.params.read("joiner.out.bias");
  b[0] -= 1.5;
  model.params.write("joiner.out.bias", b);
  return { model, bytes: encodeModel(model, tokenizer) };
}

/** Voiced-ish test audio: a few harmonics with a moving pitch, plus noise, at 16 kHz. */
function audio(seed: number, seconds: number): Float32Array {
  const r = rng(seed), n = Math.round(seconds * 16000), x = new Float32Array(n);
  const f0 = 100 + 150 * r();
  let ph = 0;
  for (let i = 0; i < n; i++) {
    ph += (2 * Math.PI * f0 * (1 + 0.3 * Math.sin(i / 4000 + seed))) / 16000;
    x[i] = 0.2 * Math.sin(ph) + 0.1 * Math.sin(3 * ph) * Math.sin(i / 1500) + 0.05 * (r() - 0.5);
  }
  return x;
}

/** One utterance as a training batch (B = 1), from the training engine's fbank. */
function batchOf(e: Engine, x: Float32Array): Batch {
  const f = fbank(e, x, 16000);
  return { ids: [0], B: 1, T: f.frames, F: f.bins, U: 0, feats: f.data, featLens: Int32Array.from([f.frames]), tokens: new Int32Array(0), tokenLens: Int32Array.from([0]) };
}

async function recognizer(e: Engine, bytes: Uint8Array, opts: { subnet?: SubnetSpec; beam?: number; lm?: Uint8Array; lmWeight?: number; lmEndOfSentence?: boolean } = {}): Promise<Recognizer> {
  return loadRecognizer(bytes, { ...opts, build: e.build }); // the same build as the training engine: same FMA behaviour
}

describe("inference build (wasm/todm-infer-*.wasm)", () => {
  for (const build of ["simd", "relaxed-simd"] as const) {
    it(`${build}: its only import is env.abort, and it is at most 200 KB`, () => {
      inferWasm(); // sets V8's relaxed-SIMD flag (Node 20), so the relaxed build compiles
      const bytes = readFileSync(inferWasmPath(build));
      // 200 KB per build uncompressed: the edge target of the issue
      expect(bytes.length).toBeLessThanOrEqual(200 * 1024);
      const imports = WebAssembly.Module.imports(new WebAssembly.Module(bytes));
      expect(imports.map((i) => ({ module: i.module, name: i.name }))).toEqual([{ module: "env", name: "abort" }]);
      const exports = WebAssembly.Module.exports(new WebAssembly.Module(bytes)).map((x) => x.name);
      expect(exports.some((n) => n.endsWith("_backward") || n.startsWith("t_") || n.startsWith("tape_"))).toBe(false);
    });
  }

  it("the built todm/infer entry imports no node: module (emitted module graph)", () => {
    const entry = resolve("dist/infer/index.js");
    expect(existsSync(entry), "run npm run build first").toBe(true);
    const seen = new Set<string>(), bad: string[] = [];
    const visit = (file: string) => {
      if (seen.has(file)) return;
      seen.add(file);
      const src = readFileSync(file, "utf8").replace(/\/\*[\s\S]*?\*\//g, "").replace(/(^|\s)\/\/.*$/gm, "$1"); // code, not comments
      for (const m of src.matchAll(/(?:import|export)\s[^;]*?from\s+["']([^"']+)["']|import\s*\(\s*["']([^"']+)["']\s*\)|import\s+["']([^"']+)["']/g)) {
        const spec = m[1] ?? m[2] ?? m[3];
        if (spec.startsWith(".")) visit(join(dirname(file), spec));
        else bad.push(`${file}: ${spec}`);
      }
      if (/\b(process|Buffer|require)\s*[.(]/.test(src)) bad.push(`${file}: uses process/Buffer/require`);
    };
    visit(entry);
    expect(seen.size).toBeGreaterThan(5); // the walk found the graph (index, wasm, model, encoder, decode, ...)
    expect(bad).toEqual([]);
  });

  it("the package entry points resolve (todm/infer, todm/infer/node) and accept a Response or a Module", async () => {
    const api = await import("todm/infer"), node = await import("todm/infer/node");
    expect(typeof api.Recognizer.load).toBe("function");
    expect(typeof node.loadRecognizer).toBe("function");
    const e = await engine();
    const mark = e.mark();
    try {
      const { bytes } = modelBytes(e, SMALL, 1);
      const wasmBytes = new Uint8Array(readFileSync(inferWasmPath("simd")));
      const x = audio(2, 0.7);
      const ref = (await Recognizer.load(bytes, { wasm: wasmBytes })).recognize(x, 16000).tokens;
      const viaResponse = await Recognizer.load(bytes, { wasm: { simd: Promise.resolve(new Response(wasmBytes)) } });
      const viaModule = await Recognizer.load(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer, { wasm: new WebAssembly.Module(wasmBytes) });
      expect(viaResponse.build).toBe("simd");
      expect(viaResponse.recognize(x, 16000).tokens).toEqual(ref);
      expect(viaModule.recognize(x, 16000).tokens).toEqual(ref);
      // a single build handed over names itself: the relaxed bytes alone report relaxed-simd
      const relaxedAlone = await Recognizer.load(bytes, { wasm: new Uint8Array(readFileSync(inferWasmPath("relaxed-simd"))) });
      expect(relaxedAlone.build).toBe("relaxed-simd");
      expect((await Recognizer.load(bytes, { wasm: wasmBytes })).build).toBe("simd");
      await expect(Recognizer.load(bytes, { wasm: new Response("nope", { status: 404 }) })).rejects.toThrow(/HTTP 404/);
    } finally {
      e.reset(mark);
    }
  });
});

describe("Recognizer against the training engine", () => {
  it("encoder output equals Model.encodeOutput (both builds; Supernet and a subnet, several utterances)", async () => {
    for (const e of await bothBuilds()) {
      const mark = e.mark();
      try {
        const { model, bytes } = modelBytes(e, SMALL, 1);
        for (const sub of [{ layers: 2, ffDim: 24, heads: 4 }, { layers: 1, ffDim: 7, heads: 2 }]) {
          const rec = await recognizer(e, bytes, { subnet: sub });
          expect(rec.build).toBe(e.build);
          for (const [seed, sec] of [[1, 0.5], [2, 1.13], [3, 0.27]]) {
            const x = audio(seed, sec);
            const ref = model.encodeOutput(batchOf(e, x), sub);
            const got = rec.encoderOutput(x);
            expect(got.frames).toBe(ref.lens2[0]);
            // Bitwise: the same kernels in the same order over the same rows (one utterance, one chunk) on the same build.
            expect(got.data, `${e.build} encoder L${sub.layers}-ff${sub.ffDim}-h${sub.heads} seed ${seed}`).toEqual(ref.enc);
          }
        }
      } finally {
        e.reset(mark);
      }
    }
  });

  it("greedy and beam tokens equal Model.decode's (causal, and bidirectional with a convolution module)", async () => {
    const e = await engine();
    const mark = e.mark();
    try {
      let nonEmpty = 0;
      for (const cfg of [SMALL, { ...SMALL, causal: false, convKernel: 3 }]) {
        const { model, bytes } = modelBytes(e, cfg, 7);
        for (const beam of [1, 3]) {
          const rec = await recognizer(e, bytes, { beam });
          for (const seed of [4, 5]) {
            const x = audio(seed, 0.9);
            const [ref] = model.decode(batchOf(e, x), undefined, { beam });
            const got = rec.recognize(x, 16000);
            expect(got.tokens, `beam ${beam} causal ${cfg.causal} seed ${seed}`).toEqual(ref.tokens);
            expect(got.frames).toEqual(ref.frames);
            expect(got.text).toBe(tokenizer.decode(ref.tokens));
            if (ref.tokens.length) nonEmpty++;
          }
        }
      }
      expect(nonEmpty).toBeGreaterThan(4); // the comparison is not between empty transcripts
    } finally {
      e.reset(mark);
    }
  });

  it("a convolution-module causal model streams too (carried depthwise context)", async () => {
    const e = await engine();
    const mark = e.mark();
    try {
      const { model, bytes } = modelBytes(e, { ...SMALL, convKernel: 5 }, 9);
      const rec = await recognizer(e, bytes);
      const x = audio(8, 1.2);
      const ref = model.encodeOutput(batchOf(e, x));
      // Chunks change the row count of every GEMM call, and with it which rows fall in the SIMD micro-kernel or
      // its scalar tail (FMA vs mul+add in the relaxed build): a few f32 ulp per layer on LayerNorm outputs of order 1.
      checkOp("conv model, 1234-sample chunks", rec.encoderOutput(x, 1234).data, ref.enc, 1e-5, 1e-5);
      expect(rec.encoderOutput(x).data).toEqual(ref.enc); // one chunk: bitwise, as above
    } finally {
      e.reset(mark);
    }
  });
});

describe("streaming", () => {
  it("a stream's transcript equals the whole utterance's for random chunkings (greedy and beam)", async () => {
    const e = await engine();
    const mark = e.mark();
    try {
      const { bytes } = modelBytes(e, SMALL, 3);
      const recs = [await recognizer(e, bytes), await recognizer(e, bytes, { beam: 3 })];
      const x = audio(11, 1.5);
      const whole = recs.map((r) => r.recognize(x, 16000));
      expect(whole[0].tokens.length).toBeGreaterThan(0);
      await fc.assert(
        fc.asyncProperty(fc.array(fc.integer({ min: 1, max: 6000 }), { minLength: 1, maxLength: 12 }), fc.integer({ min: 0, max: 1 }),
          fc.constantFrom(0, 40, 160, 500), async (sizes, which, batchMs) => {
          const s = recs[which].stream({ sampleRate: 16000, batchMs });
          let at = 0, k = 0;
          const partials: string[] = [];
          while (at < x.length) {
            const n = sizes[k++ % sizes.length];
            s.accept(x.subarray(at, at + n));
            partials.push(s.partial());
            at += n;
          }
          const fin = s.finishResult();
          expect(fin.tokens).toEqual(whole[which].tokens);
          expect(fin.frames).toEqual(whole[which].frames);
          if (which === 0) for (let i = 1; i < partials.length; i++) expect(partials[i].startsWith(partials[i - 1])).toBe(true); // greedy partials only grow
        }),
        { numRuns: 16, seed: 42 },
      );
    } finally {
      e.reset(mark);
    }
  });

  it("a non-causal model is refused for streaming with a clear message; the wrong rate too", async () => {
    const e = await engine();
    const mark = e.mark();
    try {
      const rec = await recognizer(e, modelBytes(e, { ...SMALL, causal: false }, 2).bytes);
      expect(() => rec.stream({ sampleRate: 16000 })).toThrow(/cannot stream: its encoder is non-causal/);
      const causal = await recognizer(e, modelBytes(e, SMALL, 2).bytes);
      expect(() => causal.stream({ sampleRate: 48000 })).toThrow(/16000 Hz/);
    } finally {
      e.reset(mark);
    }
  });
});

/** A .tlm file of `texts` over `tok` (todm lm's estimator and format). */
function lmFile(texts: string[], tok: Tokenizer, order: number): Uint8Array {
  return encodeLm(estimateKneserNey(texts.map((t) => tok.encode(t)), { order, vocab: tok.size }).tables, tok.toJSON());
}

describe("shallow fusion with an n-gram LM (lm option)", () => {
  // An LM of the test texts, order 3: it knows which characters follow which, the random model does not.
  const lmBytes = lmFile(TEXTS, tokenizer, 3);
  const lm = NgramLm.fromBytes(lmBytes, "lm", tokenizer);

  /** Feeds x in pieces of the given sizes (cycled) and returns the final result. */
  function streamed(rec: Recognizer, x: Float32Array, sizes: number[]) {
    const s = rec.stream({ sampleRate: 16000, batchMs: 0 });
    let at = 0, k = 0;
    while (at < x.length) {
      const n = sizes[k++ % sizes.length];
      s.accept(x.subarray(at, at + n));
      s.partial(); // a partial between chunks must not disturb the search
      at += n;
    }
    return s.finishResult();
  }

  it("tokens equal Model.decode with the same fusion options, whole and streamed (beam 1 and 3, with and without </s>)", async () => {
    const e = await engine();
    const mark = e.mark();
    try {
      const { model, bytes } = modelBytes(e, SMALL, 7);
      let changed = 0, nonEmpty = 0;
      for (const beam of [1, 3]) {
        for (const [weight, eos] of [[0.6, false], [2, true]] as const) {
          const rec = await recognizer(e, bytes, { beam, lm: lmBytes, lmWeight: weight, lmEndOfSentence: eos });
          expect(rec.lm).toEqual({ weight, order: 3, endOfSentence: eos });
          for (const seed of [4, 5]) {
            const x = audio(seed, 0.9);
            const [ref] = model.decode(batchOf(e, x), undefined, { beam, fusion: { lm, weight, endOfSentence: eos } });
            const [plain] = model.decode(batchOf(e, x), undefined, { beam });
            const got = rec.recognize(x, 16000);
            const tag = `beam ${beam} weight ${weight} seed ${seed}`;
            expect(got.tokens, tag).toEqual(ref.tokens);
            expect(got.frames, tag).toEqual(ref.frames);
            const st = streamed(rec, x, [1234, 377, 4000]);
            expect(st.tokens, `${tag} streamed`).toEqual(ref.tokens);
            expect(st.frames, `${tag} streamed`).toEqual(ref.frames);
            if (ref.tokens.join() !== plain.tokens.join()) changed++;
            if (ref.tokens.length) nonEmpty++;
          }
        }
      }
      expect(nonEmpty).toBeGreaterThan(4); // not a comparison of empty transcripts
      expect(changed).toBeGreaterThan(0); // the LM did change some transcripts: it was used
    } finally {
      e.reset(mark);
    }
  });

  it("weight 0 gives the transcripts of no LM (greedy at beam 1, beam search at beam 3)", async () => {
    const e = await engine();
    const mark = e.mark();
    try {
      const { bytes } = modelBytes(e, SMALL, 3);
      for (const beam of [1, 3]) {
        const plain = await recognizer(e, bytes, { beam });
        const zero = await recognizer(e, bytes, { beam, lm: lmBytes, lmWeight: 0 });
        for (const seed of [6, 11]) {
          const x = audio(seed, 1.1);
          const a = plain.recognize(x, 16000), b = zero.recognize(x, 16000);
          expect(b.tokens).toEqual(a.tokens);
          expect(b.frames).toEqual(a.frames);
          expect(streamed(zero, x, [2000, 999]).tokens).toEqual(a.tokens);
        }
      }
    } finally {
      e.reset(mark);
    }
  });

  it("truncated, foreign, future-version and other-tokenizer LM files give one-line errors; the weight is checked", async () => {
    const e = await engine();
    const mark = e.mark();
    try {
      const { bytes } = modelBytes(e, SMALL, 2);
      const load = (lmFile: Uint8Array, extra: { lmWeight?: number } = {}) => recognizer(e, bytes, { lm: lmFile, ...extra });
      const future = lmBytes.slice();
      new DataView(future.buffer).setUint32(8, LM_FORMAT_VERSION + 1, true);
      const otherTok = lmFile(["abc cab"], trainChar(["abc cab"]), 2);
      const cases: [Uint8Array, RegExp][] = [
        [lmBytes.subarray(0, lmBytes.length - 5), /^<lm bytes>: truncated: \d+ bytes, the header's counts need \d+$/],
        [lmBytes.subarray(0, 10), /^<lm bytes>: truncated: 10 bytes/],
        [bytes, /^<lm bytes>: not a todm LM file \(wrong magic\)/],
        [future, /^<lm bytes>: LM format version \d+ is newer than what this todm reads \(1\) \(update todm\)$/],
        [otherTok, /^<lm bytes>: built for a different tokenizer \(char tokenizer of \d+ symbols\) than the model's \(char tokenizer of \d+ symbols\)/],
      ];
      for (const [file, msg] of cases) {
        const err = await load(file).then(() => null, (x: Error) => x);
        expect(err?.name).toBe("LmFileError");
        expect(err?.message).toMatch(msg);
        expect(err?.message).not.toContain("\n");
      }
      await expect(load(lmBytes, { lmWeight: -1 })).rejects.toThrow(/lmWeight must be a number >= 0, got -1/);
      await expect(load(lmBytes, { lmWeight: NaN })).rejects.toThrow(/lmWeight must be a number >= 0/);
      await expect(recognizer(e, bytes, { lmWeight: 0.5 })).rejects.toThrow(/lmWeight goes with lm/);
    } finally {
      e.reset(mark);
    }
  });
});

describe("todm transcribe --stream", () => {
  it("prints partials as they change and the final line equals transcribe(); refuses a non-causal model", async () => {
    const e = await engine();
    const mark = e.mark();
    try {
      const dir = mkdtempSync(join(tmpdir(), "todm-infer-"));
      const bytes = modelBytes(e, SMALL, 3).bytes;
      writeFileSync(join(dir, "m.safetensors"), bytes);
      writeFileSync(join(dir, "nc.safetensors"), modelBytes(e, { ...SMALL, causal: false }, 3).bytes);
      const wav = join(dir, "a.wav");
      writeFileSync(wav, writeWav([audio(11, 1.5)], 16000, { bits: 32, float: true }));
      const lines: string[] = [], errs: string[] = [];
      const failed = await runTranscribeStream([wav], { model: join(dir, "m.safetensors"), chunkMs: 100, out: (l) => lines.push(l), err: (t) => errs.push(t), tty: false, build: e.build });
      expect(failed).toBe(0);
      const rec = await recognizer(e, bytes);
      const whole = await rec.transcribe(await readAudioAt(wav, 16000), 16000);
      expect(lines).toEqual([`${wav}\t${whole}`]);
      expect(whole.length).toBeGreaterThan(0);
      // one partial line per change, each different from the one before, the last one the final text
      const partials = errs.map((l) => l.trimEnd().split("\t"));
      expect(partials.length).toBeGreaterThan(1);
      partials.forEach((p, i) => {
        expect(p[0]).toBe("partial");
        if (i) expect(p[2]).not.toBe(partials[i - 1][2]);
      });
      expect(partials.at(-1)![2] ?? "").toBe(whole);
      await expect(runTranscribeStream([wav], { model: join(dir, "nc.safetensors"), out: () => {}, err: () => {} })).rejects.toThrow(/cannot stream: the model is non-causal/);
      // with an LM (--lm FILE, or the model's own by todm.lm metadata): the final line is todm transcribe --lm's
      writeFileSync(join(dir, "m.lm.tlm"), lmFile(TEXTS, tokenizer, 3));
      const st = decodeSafetensors(bytes);
      writeFileSync(join(dir, "own.safetensors"), encodeSafetensors([...st.tensors.values()], { ...st.metadata, "todm.lm": JSON.stringify({ file: "m.lm.tlm", weight: 1.5 }) }));
      const line = async (f: typeof runTranscribeStream | typeof runTranscribe, model: string, extra = {}) => {
        const got: string[] = [];
        const args = { model, out: (l: string) => got.push(l), err: () => {}, tty: false, build: e.build, beam: 2, ...extra };
        expect(f === runTranscribe ? await runTranscribe(e, [wav], args) : await runTranscribeStream([wav], args)).toBe(0);
        return got[0];
      };
      const fused = await line(runTranscribe, join(dir, "m.safetensors"), { lm: join(dir, "m.lm.tlm"), lmWeight: 1.5 });
      expect(await line(runTranscribeStream, join(dir, "m.safetensors"), { lm: join(dir, "m.lm.tlm"), lmWeight: 1.5 })).toBe(fused);
      expect(await line(runTranscribeStream, join(dir, "own.safetensors"))).toBe(fused);
      expect(await line(runTranscribeStream, join(dir, "own.safetensors"), { noLm: true })).toBe(await line(runTranscribe, join(dir, "m.safetensors")));
      expect(fused).not.toBe(await line(runTranscribe, join(dir, "m.safetensors"))); // the LM changed the text: the equalities say which ran
    } finally {
      e.reset(mark);
    }
  });
});

describe("model bytes", () => {
  it("truncated, foreign and inconsistent bytes give clear errors", async () => {
    const e = await engine();
    const mark = e.mark();
    try {
      const { bytes } = modelBytes(e, SMALL, 1);
      const wasm = inferWasm("simd");
      await expect(Recognizer.load(bytes.subarray(0, 5), { wasm })).rejects.toThrow(/not a safetensors file: only 5 bytes/);
      await expect(Recognizer.load(bytes.subarray(0, bytes.length - 100), { wasm })).rejects.toThrow(/truncated/);
      await expect(Recognizer.load(new TextEncoder().encode("RIFF....WAVEfmt some audio, not a model"), { wasm })).rejects.toThrow(/not a safetensors file/);
      const foreign = encodeSafetensors([{ name: "w", dtype: "F32", shape: [2], data: new Float32Array(2) }], {});
      await expect(Recognizer.load(foreign, { wasm, source: "other.safetensors" })).rejects.toThrow(/other.safetensors: not a todm model/);
      const file = decodeSafetensors(bytes);
      const missing = [...file.tensors.values()].filter((t) => t.name !== "joiner.out.bias");
      await expect(Recognizer.load(encodeSafetensors(missing, file.metadata), { wasm })).rejects.toThrow(/tensor joiner.out.bias is missing/);
      await expect(Recognizer.load(bytes, { wasm, subnet: "L3-ff24-h4" })).rejects.toThrow(/not inside the model/);
      await expect(Recognizer.load(bytes, { wasm: new Uint8Array([0, 97, 115, 109, 9, 9, 9, 9]) })).rejects.toThrow(/does not validate/);
    } finally {
      e.reset(mark);
    }
  });

  it("int8 tensors (I8 + per-row F32 scale) load: the encoder on int8 weights, close to the dequantised file", async () => {
    const e = await engine();
    const mark = e.mark();
    try {
      const { bytes } = modelBytes(e, SMALL, 5);
      const file = decodeSafetensors(bytes);
      const q8: NamedTensor[] = [], deq: NamedTensor[] = [];
      for (const t of file.tensors.values()) {
        if (t.dtype !== "F32" || t.shape.length !== 2 || !t.name.endsWith(".weight")) {
          q8.push(t);
          deq.push(t);
          continue;
        }
        // symmetric per-row int8, as `todm export --int8` stores it
        const [R, K] = t.shape, v = t.data as Float32Array, q = new Int8Array(R * K), s = new Float32Array(R), back = new Float32Array(R * K);
        for (let r = 0; r < R; r++) {
          let m = 0;
          for (let k = 0; k < K; k++) m = Math.max(m, Math.abs(v[r * K + k]));
          s[r] = m / 127 || 1;
          for (let k = 0; k < K; k++) back[r * K + k] = (q[r * K + k] = Math.round(v[r * K + k] / s[r])) * s[r];
        }
        q8.push({ ...t, dtype: "I8", data: q }, { name: `${t.name}.scale`, dtype: "F32", shape: [R], data: s });
        deq.push({ ...t, data: back });
      }
      const meta = { ...file.metadata, "todm.quant": "int8" };
      const a = await recognizer(e, encodeSafetensors(q8, meta)), b = await recognizer(e, encodeSafetensors(deq, file.metadata));
      const x = audio(3, 0.8);
      await expect(recognizer(e, encodeSafetensors(q8, file.metadata))).rejects.toThrow(/dtype I8.*todm.quant = "int8"/);
      await expect(recognizer(e, encodeSafetensors(q8, { ...meta, "todm.quant": "int4" }))).rejects.toThrow(/unsupported todm.quant "int4"/);
      // The encoder's linear layers run on the int8 weights (gemm_i8_forward, activations rounded to 8 bits per
      // row: test/infer-int8.test.ts states the bound), the rest on the same f32 values q·scale: close, not equal.
      const ea = a.encoderOutput(x).data, eb = b.encoderOutput(x).data;
      checkOp("int8 encoder output vs dequantised", ea, eb, 0.08); // see test/infer-int8.test.ts: measured max 0.018
      expect(ea).not.toEqual(eb);
      expect(a.recognize(x, 16000).tokens).toEqual(b.recognize(x, 16000).tokens);
    } finally {
      e.reset(mark);
    }
  });

  it("the file's todm.subnet picks the subnet; empty and too-short audio give an empty transcript", async () => {
    const e = await engine();
    const mark = e.mark();
    try {
      const { model, bytes } = modelBytes(e, SMALL, 4);
      const sub = { layers: 1, ffDim: 9, heads: 2 };
      const tagged = encodeModel(model, tokenizer, { "todm.subnet": "L1-ff9-h2" });
      const rec = await recognizer(e, tagged);
      expect(rec.subnet).toEqual(sub);
      const json = encodeModel(model, tokenizer, { "todm.subnet": JSON.stringify({ name: "L1-ff9-h2", ...sub, supernet: "L2-ff24-h4" }) }); // as todm export writes it
      expect((await recognizer(e, json)).subnet).toEqual(sub);
      const x = audio(9, 0.6);
      expect(rec.encoderOutput(x).data).toEqual(model.encodeOutput(batchOf(e, x), sub).enc); // bitwise, as above
      const whole = await recognizer(e, bytes);
      expect(whole.subnetName).toBe("L2-ff24-h4");
      expect(await whole.transcribe(new Float32Array(0), 16000)).toBe("");
      // one fbank frame: with causal padding, already one encoder frame (subsampledLength(1) = 1), as in training
      const short = x.subarray(0, 500);
      expect(whole.recognize(short, 16000).tokens).toEqual(model.decode(batchOf(e, short))[0].tokens);
      expect(await whole.transcribe(x.subarray(0, 399), 16000)).toBe(""); // less than one 25 ms frame
      const s = whole.stream({ sampleRate: 16000 });
      s.accept([]);
      expect(s.partial()).toBe("");
      expect(s.finish()).toBe("");
      expect(() => s.accept(x)).toThrow(/after finish/);
    } finally {
      e.reset(mark);
    }
  });

  it("transcribe resamples other rates; memory is reported", async () => {
    const e = await engine();
    const mark = e.mark();
    try {
      const rec = await recognizer(e, modelBytes(e, SMALL, 1).bytes);
      const x = audio(6, 0.6);
      const up = new Float32Array(x.length * 2); // 32 kHz by sample repetition: resampled back, close to x
      for (let i = 0; i < x.length; i++) up[2 * i] = up[2 * i + 1] = x[i];
      expect(typeof (await rec.transcribe(up, 32000))).toBe("string");
      expect(rec.memoryBytes).toBeGreaterThan(0);
      expect(statSync(inferWasmPath("simd")).size).toBeGreaterThan(0);
    } finally {
      e.reset(mark);
    }
  });
});
