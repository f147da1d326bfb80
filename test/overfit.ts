// A tiny causal model overfitted to one synthetic utterance, for end-to-end tests that need a model
// whose transcript is known and not empty (the same recipe as test/eval.test.ts: tones standing for
// characters, ScaledAdam on one batch until greedy search reproduces the text). Not a test itself.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { writeWav } from "../src/audio/wav.js";
import { collate } from "../src/data/batching.js";
import { trainChar } from "../src/data/tokenizer.js";
import type { Engine } from "../src/engine/engine.js";
import { DEFAULT_MODEL, type ModelConfig } from "../src/model/config.js";
import { saveModel } from "../src/model/io.js";
import { Model } from "../src/model/model.js";
import { ScaledAdamRegion } from "../src/engine/optim.js";
import { fbank } from "../src/engine/features.js";

export const TINY_CAUSAL: ModelConfig = {
  ...DEFAULT_MODEL, featDim: 16, subsampleChannels: 2, dModel: 8, layers: 2, ffDim: 12, heads: 2, stateSize: 4,
  predictorDim: 16, joinerDim: 16, vocabSize: 5, causal: true,
};
export const OVERFIT_TEXT = "HI HO";
export const OVERFIT_RATE = 16000;
const TONE: Record<string, number> = { H: 400, I: 900, O: 1600, " ": 0 };

/** One 0.2 s segment per character: a tone for a letter, near-silence for the space. */
export function speakTones(text: string, rate = OVERFIT_RATE): Float32Array {
  const segment = Math.round(0.2 * rate);
  const x = new Float32Array(text.length * segment);
  [...text].forEach((c, k) => {
    for (let i = 0; i < segment; i++) x[k * segment + i] = TONE[c] ? 0.3 * Math.sin((2 * Math.PI * TONE[c] * i) / rate) : 0.001 * Math.sin(i);
  });
  return x;
}

export interface Overfitted {
  /** The model file (safetensors) and the 16-bit WAV of the utterance it learnt. */
  modelFile: string;
  wavFile: string;
  /** Optimizer steps taken; maxSteps when greedy search never reproduced the text. */
  steps: number;
  /** Greedy transcript of the training batch when training stopped. */
  learnt: string;
}

/**
 * Trains TINY_CAUSAL (or its non-causal twin) on OVERFIT_TEXT (at most maxSteps) and writes
 * <name>.safetensors and utt.wav into dir.
 */
export function overfitTinyModel(e: Engine, dir: string, opts: { causal?: boolean; name?: string; maxSteps?: number } = {}): Overfitted {
  const cfg: ModelConfig = { ...TINY_CAUSAL, causal: opts.causal ?? true };
  const maxSteps = opts.maxSteps ?? 600;
  const wavFile = join(dir, "utt.wav");
  writeFileSync(wavFile, writeWav([speakTones(OVERFIT_TEXT)], OVERFIT_RATE));
  const samples = Float32Array.from(speakTones(OVERFIT_TEXT), (v) => Math.round(v * 32767) / 32768); // what the 16-bit file holds
  const tok = trainChar([OVERFIT_TEXT]);
  const model = new Model(e, cfg);
  model.params.init(1);
  // Feature normalisation from the utterance itself (training measures it over the training set).
  const F = cfg.featDim;
  const f = fbank(e, samples, OVERFIT_RATE, { numMelBins: F });
  const mean = new Float64Array(F), sq = new Float64Array(F);
  for (let t = 0; t < f.frames; t++) for (let k = 0; k < F; k++) mean[k] += f.data[t * F + k] / f.frames;
  for (let t = 0; t < f.frames; t++) for (let k = 0; k < F; k++) sq[k] += (f.data[t * F + k] - mean[k]) ** 2 / f.frames;
  model.params.write("frontend.feat_mean", mean);
  model.params.write("frontend.feat_istd", sq.map((v) => 1 / Math.sqrt(v + 1e-3)));
  const batch = collate([{ id: 0, feats: f.data, frames: f.frames, bins: F, tokens: Int32Array.from(tok.encode(OVERFIT_TEXT)) }]);
  const opt = new ScaledAdamRegion(e, { params: model.params.paramPtr, grads: model.params.gradPtr, tensors: model.params.trainable() }, { lr: 0.08, clippingScale: 2 });
  let steps = 0, learnt = "";
  while (steps < maxSteps) {
    if (steps % 10 === 0 && steps > 0) {
      learnt = tok.decode(model.decode(batch)[0].tokens);
      if (learnt === OVERFIT_TEXT) break;
    }
    model.params.zeroGrad();
    model.trainStep(batch);
    opt.step();
    steps++;
  }
  const modelFile = join(dir, `${opts.name ?? "model"}.safetensors`);
  saveModel(modelFile, model, tok);
  return { modelFile, wavFile, steps, learnt };
}
