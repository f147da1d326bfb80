// todm's public API (the package's main module).
//
//   import { createEngine } from "todm";
//   const engine = await createEngine();
//   console.log(engine.build); // "relaxed-simd" or "simd"

import { Engine, loadEngine, type EngineOptions } from "./engine/engine.js";

export { Engine, EngineError, type BuildName, type EngineOptions } from "./engine/engine.js";

/** Loads the engine, choosing the relaxed-SIMD build where the runtime supports it. */
export async function createEngine(opts: EngineOptions = {}): Promise<Engine> {
  return loadEngine(opts);
}
export {
  mhssmInit, mhssmShapes, mhssmStateSize, mhssmHeadRange, mhssmParamCount, mhssmDirections, mhssmForwardRaw, mhssmBackwardRaw, mhssmStepRaw,
  type MhssmConfig, type MhssmParams, type MhssmRunOptions, type MhssmPtrs, type MhssmDims,
} from "./engine/ssm.js";
export {
  eden, ScaledAdamRegion, AdamWRegion, ClippingHistory, packTensors, tensorTable, scaledAdamSlotFloats,
  SCALED_ADAM_DEFAULTS, ADAMW_DEFAULTS,
  type EdenOptions, type ScaledAdamOptions, type AdamWOptions, type ScaledAdamOptimizer, type TensorOptimizer,
  type TensorSlot, type ScaledAdamState,
} from "./engine/optim.js";
export * from "./engine/conv.js";

export { fbank, FbankStream, specAugment, specAugmentMasks, type FbankOptions, type Features, type Mask, type SpecAugmentOptions } from "./engine/features.js";
export { checkRnntInputs, rnntLossInPlace, type RnntArenaInputs, type RnntLossOptions, type RnntLossResult } from "./engine/rnnt.js";
export * from "./model/predictor.js";
export * from "./model/joiner.js";
export * from "./decode/decode.js";
export * from "./model/rnnt_pruned.js";

// The data side: audio, text, corpora, tokenizers, batching, the loader, the synthetic corpus.
export { decodeAudio, probeAudio, readAudioAt, readAudioFile } from "./audio/read.js";
export { readWav, writeWav, type DecodedAudio, type WavEncoding } from "./audio/wav.js";
export { readFlac, readStreamInfo } from "./audio/flac.js";
export { resample, RESAMPLE_DEFAULTS, type ResampleOptions } from "./audio/resample.js";
export { DataError, SkipLedger, type DataErrorKind } from "./data/errors.js";
export { normalizeText } from "./data/normalize.js";
export { readManifest, writeManifest, type ManifestEntry } from "./data/manifest.js";
export { scanLibriSpeech } from "./data/librispeech.js";
export { Corpus, type Utterance, type CorpusOptions } from "./data/corpus.js";
export { BLANK, BpeTokenizer, CharTokenizer, tokenizerFromJSON, trainBpe, trainChar, TokenizerError, type Tokenizer, type TokenizerJSON } from "./data/tokenizer.js";
export { collate, framesFor, makeBatches, type Batch, type BatchingOptions, type BatchPlan } from "./data/batching.js";
export { BatchLoader, type LoaderOptions, type LoaderStats } from "./data/loader.js";
export { ENGINE_FBANK, STANDIN_FBANK, standInFbank, type FeatureFn, type FeatureSpec } from "./data/features.js";
export { DEFAULT_TEXT, ensureDefaultCorpus, planSynthesis, synthesize, type SynthOptions, type SynthResult } from "./data/synth.js";
export { Progress } from "./util/progress.js";
export { DEFAULT_CORPUS, planCorpusV2, readYardstick, type CorpusVersion } from "./data/corpus_plan.js";
export { loadTrainingData, type TrainingData, type TrainingDataOptions } from "./data/dataset.js";
export {
  alignWords, alignTexts, scoringWords, corpusScore, scoreUtterances, bootstrapInterval, werPercent,
  type AlignOp, type AlignStep, type WordAlignment, type EditCounts, type UtteranceScore, type CorpusScore, type BootstrapOptions,
} from "./eval/wer.js";
export {
  evaluate, evaluateSearches, decodeFeatures, transcribeSamples, resolveSubnet, SAMPLE_RATE, SECONDS_PER_ENCODER_FRAME,
  type EvalUtterance, type EvalOptions, type EvalResult, type SearchSpec, type UtteranceResult, type TimedToken, type Transcript, type TranscribeOptions,
} from "./eval/eval.js";
export { resolveModelPath, openModel } from "./model/path.js";
export { transcribeFile } from "./eval/eval.js";
export { readAudioWindows, type AudioWindowOptions } from "./audio/windows.js";

// The model, the tape, model files and training.
export { Tape, type T as TensorHandle } from "./engine/tape.js";
export * from "./model/config.js";
export { ModelParams, seededRandom, type ParamRef } from "./model/params.js";
export { NO_DROPOUT, type DropoutRates, type EncoderOps } from "./model/encoder.js";
export { blockForward, DropoutSeeds, ParamHandles, TapeOps } from "./model/tape_ops.js";
export { engineSearchModel, transducerSearchModel, type EngineSearchState, type SearchHost } from "./model/search.js";
export { Model, subsampledLength, type StepOptions, type StepResult } from "./model/model.js";
export { encodeModel, saveModel, loadModel, loadModelBytes, parseModelMetadata, FORMAT_VERSION } from "./model/io.js";
export { decodeSafetensors, encodeSafetensors, readSafetensors, writeFileAtomic, ModelFileError } from "./io/safetensors.js";
export { DEFAULT_TRAIN, loadTrainConfig, type TrainConfig } from "./train/config.js";
export { train, type TrainOptions, type TrainResult } from "./train/trainer.js";
export { OptimizerBox } from "./train/optimizer.js";
export { ParallelTrainer, shardBatch, type ParallelOptions, type ParallelStepOptions, type ParallelStepResult, type Shard } from "./train/parallel.js";
export { checkKdInputs, KD_ALPHA_DEFAULTS, type KdAlphaOptions, type KdAlphaResult, type KdDims } from "./engine/kd.js";
export { QUANT_INT8, isQuantizable, quantizeRowsInt8, dequantizeRowsInt8 } from "./model/quant.js";
export { subnetConfig, subnetTensors, encodeSubnetModel, leadingSlice, type ExportOptions } from "./model/export.js";
export { modelTensorsF32 } from "./model/io.js";
export { checkCtcInputs, ctcLossArena, type CtcArenaInputs, type CtcLossResult } from "./engine/ctc.js";
