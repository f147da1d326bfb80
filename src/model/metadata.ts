// A model file's metadata and tensors, checked: the browser-safe half of src/model/io.ts (no file
// access, no engine), shared by the training engine's loader and the inference API (src/infer/).

import { ModelFileError, type SafetensorsFile } from "../io/safetensors-bytes.js";
import { tokenizerFromJSON, type Tokenizer } from "../data/tokenizer.js";
import { validateConfig, type ModelConfig, type ParamSpec } from "./config.js";
import { dequantizeRowsInt8, QUANT_INT8 } from "./quant.js";

export const FORMAT_VERSION = "1";

/** Checks the metadata and returns the config and tokenizer; errors name `source`. */
export function parseModelMetadata(file: SafetensorsFile, source: string): { cfg: ModelConfig; tokenizer: Tokenizer } {
  const m = file.metadata;
  const hint = "a todm model has todm.format_version, todm.config and todm.tokenizer metadata";
  if (m["todm.format_version"] === undefined) throw new ModelFileError(source, "not a todm model: no todm.format_version metadata", hint);
  if (m["todm.format_version"] !== FORMAT_VERSION) {
    throw new ModelFileError(source, `unsupported todm.format_version ${m["todm.format_version"]} (this todm reads ${FORMAT_VERSION})`);
  }
  let cfg: ModelConfig, tokJson: unknown;
  try {
    cfg = JSON.parse(m["todm.config"] ?? "");
    tokJson = JSON.parse(m["todm.tokenizer"] ?? "");
  } catch {
    throw new ModelFileError(source, "todm.config or todm.tokenizer metadata is missing or not JSON", hint);
  }
  validateConfig(cfg, source);
  const tokenizer = tokenizerFromJSON(tokJson as Parameters<typeof tokenizerFromJSON>[0]);
  if (tokenizer.size !== cfg.vocabSize) {
    throw new ModelFileError(source, `the tokenizer has ${tokenizer.size} symbols but the model's vocabulary is ${cfg.vocabSize}`);
  }
  return { cfg, tokenizer };
}

/** A parameter as stored: F32 values, or (an int8 file) I8 values [rows, cols] with one F32 scale per row. */
export type StoredTensor = { f32: Float32Array } | { q: Int8Array; scale: Float32Array; rows: number; cols: number };

/**
 * The tensors of `table` in a model file: F32 as stored, 2-D I8 ones (int8 files) with their
 * `<name>.scale`. Refuses an unknown todm.quant and missing, misshapen or mistyped tensors.
 */
export function modelTensors(file: SafetensorsFile, table: ParamSpec[], source: string): Map<string, StoredTensor> {
  const quant = file.metadata["todm.quant"];
  if (quant !== undefined && quant !== QUANT_INT8) throw new ModelFileError(source, `unsupported todm.quant "${quant}" (this todm reads "${QUANT_INT8}")`);
  const out = new Map<string, StoredTensor>();
  for (const p of table) {
    const t = file.tensors.get(p.name);
    if (!t) throw new ModelFileError(source, `tensor ${p.name} is missing`);
    if (t.shape.join("x") !== p.shape.join("x") || (t.dtype !== "F32" && !(t.dtype === "I8" && quant === QUANT_INT8 && p.shape.length === 2))) {
      const why = quant === QUANT_INT8 ? " or I8 (2-D)" : t.dtype === "I8" ? ` (dtype I8 only in files with todm.quant = "${QUANT_INT8}")` : "";
      throw new ModelFileError(source, `tensor ${p.name} is ${t.dtype} [${t.shape}], expected F32 [${p.shape}]${why}`);
    }
    if (t.dtype === "F32") {
      out.set(p.name, { f32: t.data as Float32Array });
      continue;
    }
    const s = file.tensors.get(`${p.name}.scale`);
    if (!s || s.dtype !== "F32" || s.shape.join("x") !== String(p.shape[0])) {
      throw new ModelFileError(source, `int8 tensor ${p.name} needs an F32 tensor ${p.name}.scale of shape [${p.shape[0]}]${s ? `, found ${s.dtype} [${s.shape}]` : ""}`);
    }
    out.set(p.name, { q: t.data as Int8Array, scale: s.data as Float32Array, rows: p.shape[0], cols: p.shape[1] });
  }
  return out;
}

/** A stored tensor's values as f32 (I8 dequantised: q · scale per row). */
export function storedF32(t: StoredTensor): Float32Array {
  return "f32" in t ? t.f32 : dequantizeRowsInt8(t.q, t.scale, t.rows, t.cols);
}
