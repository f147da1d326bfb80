// Cutting a subnet out of a Supernet model file: a standalone model whose tensors are the subnet's
// leading slices, with its own config (layers = k, ffDim = f, heads = h, headDim = the Supernet's), so
// any todm loader runs it as a whole model. Optionally int8 (src/model/quant.ts). Host-only: no engine.
//
//   const bytes = encodeSubnetModel(file, "runs/exp1/model.safetensors", { layers: 4, ffDim: 288, heads: 2 }, { int8: true });
//
// The exported model computes what the Supernet computes for that subnet in place (Model.decode(batch,
// sub)): the same numbers through the same kernels, only with tighter leading-dimension strides
// (test/export.test.ts measures it). Not here: choosing the subnet (src/train/export.ts).

import { encodeSafetensors, ModelFileError, type NamedTensor, type SafetensorsFile } from "../io/safetensors.js";
import { headDimOf, inferenceConfig, paramTable, subnetName, subnetShape, supernetSpec, validateConfig, type ModelConfig, type SubnetSpec } from "./config.js";
import { modelTensorsF32, parseModelMetadata } from "./io.js";
import { isQuantizable, QUANT_INT8, quantizeRowsInt8 } from "./quant.js";

/** The config of a subnet exported as a standalone model. */
export function subnetConfig(cfg: ModelConfig, s: SubnetSpec): ModelConfig {
  // without ctcWeight: the CTC head is training-only, so an export has neither the key nor ctc.* tensors
  const out: ModelConfig = { ...inferenceConfig(cfg), layers: s.layers, ffDim: s.ffDim, heads: s.heads, headDim: headDimOf(cfg) };
  validateConfig(out, `subnet ${subnetName(s)}`);
  return out;
}

/** The leading [rows', cols'] block of a row-major [rows, cols] matrix (1-D: the leading n values). */
export function leadingSlice(data: Float32Array, shape: number[], to: number[]): Float32Array {
  if (shape.length !== to.length || to.some((d, i) => d > shape[i] || d < 0)) throw new Error(`cannot slice [${shape}] to [${to}]`);
  if (shape.length === 1) return data.slice(0, to[0]);
  const inner = shape.slice(1).reduce((a, b) => a * b, 1), innerTo = to.slice(1).reduce((a, b) => a * b, 1);
  if (shape.length > 2 && innerTo !== inner) throw new Error(`only the first two dims of [${shape}] can be sliced`);
  const out = new Float32Array(to[0] * innerTo);
  for (let r = 0; r < to[0]; r++) out.set(data.subarray(r * inner, r * inner + innerTo), r * innerTo);
  return out;
}

export interface ExportOptions {
  /** Store 2-D weight matrices as int8 with per-row scales (Default: false). */
  int8?: boolean;
  /** Extra metadata (e.g. the source run). */
  metadata?: Record<string, string>;
}

/** The subnet's tensors (F32, or I8 + scale where quantised), in the exported config's table order. */
export function subnetTensors(values: Map<string, Float32Array>, cfg: ModelConfig, s: SubnetSpec, int8 = false): NamedTensor[] {
  const sub = subnetConfig(cfg, s);
  const full = new Map(paramTable(cfg).map((p) => [p.name, p]));
  const out: NamedTensor[] = [];
  for (const p of paramTable(sub)) {
    const src = full.get(p.name);
    const shape = src && subnetShape(src, cfg, s);
    if (!src || !shape || shape.join("x") !== p.shape.join("x")) throw new Error(`internal: ${p.name} of ${subnetName(s)} is not a leading slice of the Supernet's`);
    const data = leadingSlice(values.get(p.name)!, src.shape, shape);
    if (int8 && isQuantizable(p)) {
      const { q, scale } = quantizeRowsInt8(data, shape[0], shape[1]);
      out.push({ name: p.name, dtype: "I8", shape, data: q }, { name: `${p.name}.scale`, dtype: "F32", shape: [shape[0]], data: scale });
    } else {
      out.push({ name: p.name, dtype: "F32", shape, data });
    }
  }
  return out;
}

/**
 * A standalone model file (safetensors bytes) of subnet `s` of the model in `file`: sliced tensors,
 * the subnet's config, the same tokenizer, `todm.subnet` (JSON: name, spec, the Supernet's name) and,
 * with int8, `todm.quant = "int8"`. The source's `todm.info` is kept.
 */
export function encodeSubnetModel(file: SafetensorsFile, source: string, s: SubnetSpec, opts: ExportOptions = {}): Uint8Array {
  const { cfg } = parseModelMetadata(file, source);
  if (s.layers < 1 || s.layers > cfg.layers || s.ffDim < 1 || s.ffDim > cfg.ffDim || s.heads < 2 || s.heads % 2 || s.heads > cfg.heads) {
    throw new ModelFileError(source, `subnet ${subnetName(s)} is not inside this model (${subnetName(supernetSpec(cfg))})`);
  }
  const tensors = subnetTensors(modelTensorsF32(file, cfg, source), cfg, s, opts.int8);
  const meta: Record<string, string> = {
    "todm.format_version": file.metadata["todm.format_version"],
    "todm.config": JSON.stringify(subnetConfig(cfg, s)),
    "todm.tokenizer": file.metadata["todm.tokenizer"],
    "todm.subnet": JSON.stringify({ name: subnetName(s), ...s, supernet: subnetName(supernetSpec(cfg)) }),
  };
  if (file.metadata["todm.info"] !== undefined) meta["todm.info"] = file.metadata["todm.info"];
  if (opts.int8) meta["todm.quant"] = QUANT_INT8;
  return encodeSafetensors(tensors, { ...meta, ...opts.metadata });
}
