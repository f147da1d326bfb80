// Model files: safetensors with the tensors of a Supernet or of one exported subnet, and string
// metadata `todm.format_version`, `todm.config` (JSON ModelConfig) and `todm.tokenizer` (JSON),
// plus optional `todm.subnet` (the SubnetSpec an export was cut as) and `todm.info` (JSON: how it was
// trained). docs/model-format.md specifies it. Writes are atomic. An int8 file (`todm.quant = "int8"`,
// written by `todm export --int8`) holds some weights as I8 `<name>` plus F32 `<name>.scale`; this
// (training-engine) loader dequantises them to f32 (src/model/quant.ts).
//
//   saveModel("model.safetensors", model, tokenizer);
//   const { model, tokenizer } = loadModel(engine, "model.safetensors");

import type { Engine } from "../engine/engine.js";
import { decodeSafetensors, encodeSafetensors, readSafetensors, writeFileAtomic, type NamedTensor, type SafetensorsFile } from "../io/safetensors.js";
import type { Tokenizer } from "../data/tokenizer.js";
import { paramTable, type ModelConfig } from "./config.js";
import { FORMAT_VERSION, modelTensors, parseModelMetadata, storedF32 } from "./metadata.js";
import { Model } from "./model.js";

export { FORMAT_VERSION, parseModelMetadata } from "./metadata.js";

/** The model's tensors (values, full Supernet shapes) and metadata, as safetensors bytes. */
export function encodeModel(model: Model, tokenizer: Tokenizer, extra: Record<string, string> = {}): Uint8Array {
  const tensors: NamedTensor[] = model.params.entries.map((e) => ({
    name: e.name, dtype: "F32", shape: e.shape, data: model.params.read(e.name),
  }));
  return encodeSafetensors(tensors, {
    "todm.format_version": FORMAT_VERSION,
    "todm.config": JSON.stringify(model.cfg),
    "todm.tokenizer": JSON.stringify(tokenizer.toJSON()),
    ...extra,
  });
}

export function saveModel(path: string, model: Model, tokenizer: Tokenizer, extra: Record<string, string> = {}): void {
  writeFileAtomic(path, encodeModel(model, tokenizer, extra));
}

/** The f32 values of every tensor of the parameter table of `cfg`, in table order (metadata.ts modelTensors, dequantised). */
export function modelTensorsF32(file: SafetensorsFile, cfg: ModelConfig, source: string): Map<string, Float32Array> {
  return new Map([...modelTensors(file, paramTable(cfg), source)].map(([name, t]) => [name, storedF32(t)]));
}

/** Loads a model file into a new Model in `engine`; refuses truncated, foreign or inconsistent files. */
export function loadModelFromFile(engine: Engine, file: SafetensorsFile, source: string): { model: Model; tokenizer: Tokenizer; metadata: Record<string, string> } {
  const { cfg, tokenizer } = parseModelMetadata(file, source);
  const values = modelTensorsF32(file, cfg, source);
  const model = new Model(engine, cfg);
  for (const [name, v] of values) model.params.write(name, v);
  return { model, tokenizer, metadata: file.metadata };
}

export function loadModel(engine: Engine, path: string) {
  return loadModelFromFile(engine, readSafetensors(path), path);
}

export function loadModelBytes(engine: Engine, bytes: Uint8Array, source = "<model bytes>") {
  return loadModelFromFile(engine, decodeSafetensors(bytes, source), source);
}
