// todm's public API (the package's main module).
//
//   import { createEngine } from "todm";
//   const engine = await createEngine();
//   console.log(engine.build); // "relaxed-simd" or "simd"

import { Engine, loadEngine, type EngineOptions } from "./engine.js";

export { Engine, EngineError, type BuildName, type EngineOptions } from "./engine.js";

/** Loads the engine, choosing the relaxed-SIMD build where the runtime supports it. */
export async function createEngine(opts: EngineOptions = {}): Promise<Engine> {
  return loadEngine(opts);
}
import "./ssm.js";
export {
  mhssmInit, mhssmShapes, mhssmStateSize, mhssmHeadRange, mhssmParamCount, mhssmDirections, mhssmForwardRaw, mhssmBackwardRaw, mhssmStepRaw,
  type MhssmConfig, type MhssmParams, type MhssmRunOptions, type MhssmPtrs, type MhssmDims,
} from "./ssm.js";
import "./optim.js";
export {
  eden, ScaledAdamRegion, AdamWRegion, ClippingHistory, packTensors, tensorTable, scaledAdamSlotFloats,
  SCALED_ADAM_DEFAULTS, ADAMW_DEFAULTS,
  type EdenOptions, type ScaledAdamOptions, type AdamWOptions, type ScaledAdamOptimizer, type TensorOptimizer,
  type TensorSlot, type ScaledAdamState,
} from "./optim.js";
export * from "./conv.js";

import "./features.js";
export { FbankStream, specAugment, specAugmentMasks, type FbankOptions, type Features, type Mask, type SpecAugmentOptions } from "./features.js";
import "./rnnt.js";
export { checkRnntInputs, rnntLossInPlace, type RnntArenaInputs, type RnntLossOptions, type RnntLossResult } from "./rnnt.js";
export * from "./predictor.js";
export * from "./joiner.js";
export * from "./decode.js";
