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
import "./rnnt.js";
export { checkRnntInputs, rnntLossInPlace, type RnntArenaInputs, type RnntLossOptions, type RnntLossResult } from "./rnnt.js";
export * from "./predictor.js";
export * from "./joiner.js";
export * from "./decode.js";
