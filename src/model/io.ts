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
import { decodeSafetensors, encodeSafetensors, ModelFileError, readSafetensors, writeFileAtomic, type NamedTensor, type SafetensorsFile } from "../io/safetensors.js";
import type { Tokenizer } from "../data/tokenizer.js";
import { paramTable, type ModelConfig } from "./config.js";
import { FORMAT_VERSION, parseModelMetadata } from "./metadata.js";
import { Model } from "./model.js";
import { dequantizeRowsInt8, QUANT_INT8 } from "./quant.js";

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

/**
 * The f32 values of every tensor of the parameter table of `cfg`, in table order: F32 tensors as stored,
 * I8 tensors (int8 files) dequantised with their `<name>.scale`. Refuses missing or misshapen tensors.
 */
export function modelTensorsF32(file: SafetensorsFile, cfg: ModelConfig, source: string): Map<string, Float32Array> {
  const quant = file.metadata["todm.quant"];
  if (quant !== undefined && quant !== QUANT_INT8) throw new ModelFileError(source, `unsupported todm.quant "${quant}" (this todm reads "${QUANT_INT8}")`);
  const out = new Map<string, Float32Array>();
  for (const p of paramTable(cfg)) {
    const t = file.tensors.get(p.name);
    if (!t) throw new ModelFileError(source, `tensor ${p.name} is missing`);
    if (t.shape.join("x") !== p.shape.join("x") || (t.dtype !== "F32" && !(t.dtype === "I8" && quant === QUANT_INT8 && p.shape.length === 2))) {
      throw new ModelFileError(source, `tensor ${p.name} is ${t.dtype} [${t.shape}], expected F32 [${p.shape}]${quant === QUANT_INT8 ? " or I8 (2-D)" : ""}`);
    }
    if (t.dtype === "F32") {
      out.set(p.name, t.data as Float32Array);
      continue;
    }
    const s = file.tensors.get(`${p.name}.scale`);
    if (!s || s.dtype !== "F32" || s.shape.join("x") !== String(p.shape[0])) {
      throw new ModelFileError(source, `int8 tensor ${p.name} needs an F32 tensor ${p.name}.scale of shape [${p.shape[0]}]${s ? `, found ${s.dtype} [${s.shape}]` : ""}`);
    }
    out.set(p.name, dequantizeRowsInt8(t.data as Int8Array, s.data as Float32Array, p.shape[0], p.shape[1]));
  }
  return out;
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
