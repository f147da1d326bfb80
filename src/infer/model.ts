// A todm model file loaded into the inference build: metadata checked, the tensors one subnet needs
// packed into the arena, the SSM discretised once per layer.
//
// What it is: the loading half of the inference API (src/infer/index.ts). Model files are the ones
// src/model/io.ts writes (docs/model-format.md): F32 tensors of a Supernet or an exported subnet.
// int8 models (`todm.quant = "int8"`: I8 tensors `<name>` with F32 per-output-row scales
// `<name>.scale`, read and checked by src/model/metadata.ts modelTensors): the encoder's linear weights
// (ENCODER_INT8 below) stay int8 in the arena with their scales, for gemm_i8_forward
// (src/model/kernel_ops.ts); every other I8 tensor (the predictor's embedding and LSTM, the joiner, which
// src/model/search.ts runs in f32) is dequantised to f32 at load.
// What it is not: the forward (src/model/kernel_ops.ts) or the searches (src/decode/).
// Parameter layout: config.ts layoutParams, as in ModelParams (int8 weights apart), so the predictor
// and joiner stay the contiguous blocks src/model/predictor.ts and joiner.ts address by offsets.

import { decodeSafetensors, ModelFileError } from "../io/safetensors-bytes.js";
import type { Tokenizer } from "../data/tokenizer.js";
import { headDimOf, isTrainingOnly, layoutParams, paramTable, parseSubnetName, supernetSpec, type ModelConfig, type SubnetSpec } from "../model/config.js";
import type { ForwardWeights } from "../model/kernel_ops.js";
import { modelTensors, parseModelMetadata, storedF32 } from "../model/metadata.js";
import type { InferHost } from "./wasm.js";

/** The model's features: 16 kHz Kaldi fbank with the config's featDim bins (as in training). */
export const MODEL_SAMPLE_RATE = 16000;

export interface LoadedModel extends ForwardWeights {
  tokenizer: Tokenizer;
  metadata: Record<string, string>;
  /** Floats of f32 parameters packed (the subnet's share of the file, int8 weights excluded). */
  floats: number;
  /** Bytes of int8 weights and their f32 row scales packed (0 for a float file). */
  int8Bytes: number;
}

/** The weights that the inference encoder multiplies with gemm_i8_forward when the file stores them as I8. */
const ENCODER_INT8 = /^encoder\.(subsample\.out|blocks\.\d+\.(ff1\.w1|ff1\.w2|ff2\.w1|ff2\.w2|ssm\.in|ssm\.out|conv\.pw1|conv\.pw2))\.weight$/;

/** The subnet to run: an explicit one, else the file's `todm.subnet` (JSON or a name), else the whole model. */
function pickSubnet(cfg: ModelConfig, meta: Record<string, string>, asked: SubnetSpec | string | undefined, source: string): SubnetSpec {
  let s: SubnetSpec;
  if (asked !== undefined) s = typeof asked === "string" ? parseSubnetName(asked) : asked;
  else if (meta["todm.subnet"]) {
    const v = meta["todm.subnet"];
    try {
      s = v.trim().startsWith("{") ? JSON.parse(v) : parseSubnetName(v); // `todm export` writes JSON {name, layers, ffDim, heads, supernet}
    } catch {
      throw new ModelFileError(source, `todm.subnet metadata "${v}" is neither a subnet name nor JSON`);
    }
    s = { layers: s.layers, ffDim: s.ffDim, heads: s.heads };
  } else s = supernetSpec(cfg);
  if (!(s.layers >= 1 && s.layers <= cfg.layers && s.ffDim >= 1 && s.ffDim <= cfg.ffDim && s.heads >= 2 && s.heads % 2 === 0 && s.heads <= cfg.heads)) {
    throw new Error(`${source}: subnet L${s.layers}-ff${s.ffDim}-h${s.heads} is not inside the model (L${cfg.layers}-ff${cfg.ffDim}-h${cfg.heads}, heads even)`);
  }
  return s;
}

/** Parses model bytes and packs what subnet `asked` needs into `host`'s arena (kept for the instance's life). */
export function loadModelInto(host: InferHost, bytes: Uint8Array, asked?: SubnetSpec | string, source = "<model bytes>"): LoadedModel {
  const file = decodeSafetensors(bytes, source);
  const { cfg, tokenizer } = parseModelMetadata(file, source);
  const sub = pickSubnet(cfg, file.metadata, asked, source);
  // the training-only CTC head (a Supernet file trained with model.ctcWeight > 0) is not loaded
  const table = paramTable(cfg).filter((p) => (p.block === undefined || p.block < sub.layers) && !isTrainingOnly(p));
  const stored = modelTensors(file, table, source);
  // int8 encoder weights: bytes padded to 64, then their scales (the f32 block below skips them, so the
  // predictor and joiner blocks stay contiguous)
  const i8 = new Map<string, { w: number; scale: number }>();
  let int8Bytes = 0;
  for (const [name, t] of stored) {
    if (!("q" in t) || !ENCODER_INT8.test(name)) continue;
    const w = host.alloc(Math.ceil(t.q.length / 64) * 16, "int8 model weights"), scale = host.alloc(Math.ceil(t.rows / 16) * 16, "int8 weight scales");
    host.writeI8(w, t.q);
    host.write(scale, t.scale);
    i8.set(name, { w, scale });
    int8Bytes += t.q.length + 4 * t.rows;
  }
  const { entries, total: floats } = layoutParams(table.filter((p) => !i8.has(p.name)));
  const base = host.alloc(floats, "model parameters");
  const offsets = new Map(entries.map((p) => [p.name, p.offset]));
  for (const p of entries) host.write(base + 4 * p.offset, storedF32(stored.get(p.name)!));
  const ptr = (name: string) => {
    const o = offsets.get(name);
    if (o === undefined) throw new Error(i8.has(name) ? `parameter ${name} is int8 (LoadedModel.i8), not f32` : `no parameter named ${name} in the loaded subnet`);
    return base + 4 * o;
  };
  // dA and W of every layer's SSM, for the subnet's C channels (they do not depend on time)
  const N2 = cfg.stateSize / 2, C = sub.heads * headDimOf(cfg);
  const ssm: LoadedModel["ssm"] = [];
  for (let l = 0; l < sub.layers; l++) {
    const p = `encoder.blocks.${l}.ssm.`;
    const disc = (dir: string) => {
      const da = host.alloc(4 * N2 * C, "SSM discretisation");
      const q = [da, da + 4 * N2 * C, da + 8 * N2 * C, da + 12 * N2 * C];
      host.wasm.ssm_discretize_forward(q[0], q[1], q[2], q[3], ptr(`${p}${dir}.s`), ptr(`${p}${dir}.c_re`), ptr(`${p}${dir}.c_im`),
        ptr(`${p}a_re`), ptr(`${p}a_im`), ptr(`${p}log_dt_min`), ptr(`${p}log_dt_max`), C, N2);
      return q;
    };
    ssm.push({ fwd: disc("fwd"), bwd: cfg.causal ? [] : disc("bwd") });
  }
  return { cfg, sub, tokenizer, metadata: file.metadata, ptr, ssm, i8, floats, int8Bytes };
}
