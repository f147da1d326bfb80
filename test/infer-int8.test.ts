// int8 model files in todm/infer: the encoder's linear layers on int8 weights (gemm_i8_forward)
// against the same file dequantised to a float32 file (each I8 tensor replaced by q · scale on the
// host, src/model/quant.ts), which the f32 path runs exactly. Also: int8 files of a subnet load (and a
// subnet picked from an int8 Supernet file), streams equal the whole utterance bit for bit, and
// the int8 path really runs (its output is not the f32 one bit for bit), and holds fewer weight bytes.
// The kernel itself (gemm_i8_forward against gemm_i8_naive and its error bound) is tested through the
// training build (test/export.test.ts), which compiles the same assembly/ops/gemm_i8.ts.
import { describe, expect, it } from "vitest";
import { trainChar } from "../src/data/tokenizer.js";
import type { Engine } from "../src/engine/engine.js";
import { DEFAULT_MODEL, supernetSpec, type ModelConfig, type SubnetSpec } from "../src/model/config.js";
import { encodeSubnetModel } from "../src/model/export.js";
import { encodeModel } from "../src/model/io.js";
import { Model } from "../src/model/model.js";
import { dequantizeRowsInt8 } from "../src/model/quant.js";
import { decodeSafetensors, encodeSafetensors, type NamedTensor } from "../src/io/safetensors.js";
import { loadRecognizer } from "../src/infer/node.js";
import { bothBuilds, engine, rng } from "./helpers.js";

const TEXTS = ["hello world", "the quick brown fox", "jumps over the lazy dog"];
const tokenizer = trainChar(TEXTS);

/** A small model with the real front end (80 fbank bins, 16 kHz); convKernel 3 so the conv pointwise layers run too. */
const SMALL: ModelConfig = {
  ...DEFAULT_MODEL, subsampleChannels: 4, dModel: 16, layers: 2, ffDim: 24, heads: 4, stateSize: 4,
  predictorDim: 16, joinerDim: 16, vocabSize: tokenizer.size, causal: true, convKernel: 3,
};

/** Float32 model bytes, random init; joiner output bias tilted away from blank so transcripts are not empty. */
function floatBytes(e: Engine, cfg: ModelConfig, seed: number): Uint8Array {
  const model = new Model(e, cfg);
  model.params.init(seed);
  const b = model.params.read("joiner.out.bias");
  b[0] -= 1.5;
  model.params.write("joiner.out.bias", b);
  return encodeModel(model, tokenizer);
}

/** `todm export --int8` of subnet `sub`, and the same file with every I8 tensor dequantised (a plain float32 file). */
function int8AndDequantised(f32: Uint8Array, sub: SubnetSpec): { int8: Uint8Array; deq: Uint8Array } {
  const int8 = encodeSubnetModel(decodeSafetensors(f32, "f32"), "f32", sub, { int8: true });
  const file = decodeSafetensors(int8, "int8");
  const tensors: NamedTensor[] = [];
  for (const t of file.tensors.values()) {
    if (t.dtype === "I8") {
      const s = file.tensors.get(`${t.name}.scale`)!;
      tensors.push({ name: t.name, dtype: "F32", shape: t.shape, data: dequantizeRowsInt8(t.data as Int8Array, s.data as Float32Array, t.shape[0], t.shape[1]) });
    } else if (!(t.name.endsWith(".scale") && file.tensors.get(t.name.slice(0, -6))?.dtype === "I8")) tensors.push(t);
  }
  const meta = { ...file.metadata };
  delete meta["todm.quant"];
  return { int8, deq: encodeSafetensors(tensors, meta) };
}

/** Test audio: a few harmonics with a moving pitch, plus noise, at 16 kHz. */
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

describe("todm/infer on int8 model files", () => {
  it("encoder output within the activation-quantisation error of the dequantised float file; transcripts agree (both builds)", async () => {
    for (const e of await bothBuilds()) {
      const mark = e.mark();
      try {
        let agree = 0, total = 0, worst = 0, worstRms = 0;
        // an exported Supernet, an exported subnet (its own shapes), and a subnet picked at load from the int8
        // Supernet file (leading slices: ldw > K for w2 and ssm.out, fewer rows for w1 and ssm.in)
        const small = { layers: 1, ffDim: 7, heads: 2 };
        for (const [seed, exported, picked] of [[1, supernetSpec(SMALL), undefined], [2, small, undefined], [3, supernetSpec(SMALL), small]] as const) {
          const { int8, deq } = int8AndDequantised(floatBytes(e, SMALL, seed), exported);
          const r8 = await loadRecognizer(int8, { build: e.build, subnet: picked }), rf = await loadRecognizer(deq, { build: e.build, subnet: picked });
          expect(r8.subnet).toEqual(picked ?? exported); // the exported file's own subnet, or the one asked for
          // less weight memory: the encoder's linear weights are 1 byte (+ a 4-byte scale per row) instead of 4
          expect(r8.weightBytes).toBeLessThan(rf.weightBytes);
          for (const [s, sec] of [[1, 0.5], [2, 1.13], [3, 0.27]]) {
            const x = audio(s, sec);
            const a = r8.encoderOutput(x), b = rf.encoderOutput(x);
            expect(a.frames).toBe(b.frames);
            // Each int8 GEMM differs from the f32 one by at most sx_i/2 · Σ_k |w'_jk| per output (sx_i = max|x_i|/127:
            // rounding the activation row to 8 bits), i.e. about 0.4% of the row's scale per layer. Through up to
            // 2 blocks x (4 FFN + 2 SSM + 2 conv) + subsampling = 17 GEMMs, each followed by LayerNorm-scaled
            // residual updates, the end-to-end error on the unit-variance (final LayerNorm) output stays a few
            // percent: atol 0.08 absolute, and the RMS error below 0.02.
            let maxErr = 0, sq = 0;
            for (let i = 0; i < a.data.length; i++) {
              const d = Math.abs(a.data[i] - b.data[i]);
              maxErr = Math.max(maxErr, d);
              sq += d * d;
            }
            const rms = Math.sqrt(sq / a.data.length);
            worst = Math.max(worst, maxErr);
            worstRms = Math.max(worstRms, rms);
            expect(maxErr, `${e.build} seed ${seed} audio ${s}: max |int8 - f32|`).toBeLessThan(0.08);
            expect(rms, `${e.build} seed ${seed} audio ${s}: rms`).toBeLessThan(0.02);
            // the int8 GEMM ran: activation rounding makes the output differ from the f32 path
            expect(maxErr).toBeGreaterThan(0);
            // streaming: activations are quantised per row and the int8 sums are exact, so any chunking gives
            // the whole utterance's output bit for bit (here 0.1 s chunks)
            expect(r8.encoderOutput(x, 1600).data).toEqual(a.data);
            const t8 = r8.recognize(x, 16000).tokens, tf = rf.recognize(x, 16000).tokens;
            total++;
            if (JSON.stringify(t8) === JSON.stringify(tf)) agree++;
          }
        }
        console.log(`${e.build}: int8 vs dequantised-f32 encoder output: max |diff| ${worst.toExponential(2)}, worst rms ${worstRms.toExponential(2)}; transcripts equal on ${agree} of ${total} utterances`);
        // random-init tiny models have small logit margins; most transcripts must still match exactly
        expect(agree).toBeGreaterThanOrEqual(total - 1);
      } finally {
        e.reset(mark);
      }
    }
  });

  it("default model: the int8 file holds under 60% of the f32 weight bytes and no more WebAssembly memory", async () => {
    const e = await engine();
    const mark = e.mark();
    try {
      const cfg = { ...DEFAULT_MODEL, vocabSize: tokenizer.size }; // the default model's encoder, this test's tokenizer
      const f32 = floatBytes(e, cfg, 3);
      const { int8 } = int8AndDequantised(f32, supernetSpec(cfg));
      const rf = await loadRecognizer(f32, { build: e.build }), r8 = await loadRecognizer(int8, { build: e.build });
      const x = audio(4, 1.5);
      const ratio = r8.weightBytes / rf.weightBytes;
      rf.recognize(x, 16000);
      r8.recognize(x, 16000);
      console.log(`default model: weights f32 ${rf.weightBytes} B, int8 ${r8.weightBytes} B (ratio ${ratio.toFixed(3)}); ` +
        `WebAssembly memory after 1.5 s: f32 ${rf.memoryBytes} B, int8 ${r8.memoryBytes} B`);
      // the encoder (about 2/3 of the parameters) at ~1/4 the bytes; the predictor and joiner stay f32
      expect(ratio).toBeLessThan(0.6);
      expect(r8.memoryBytes).toBeLessThanOrEqual(rf.memoryBytes);
    } finally {
      e.reset(mark);
    }
  });
});
