// A model file's metadata, checked: the browser-safe half of src/model/io.ts (no file access, no
// engine), shared by the training engine's loader and the inference API (src/infer/).

import { ModelFileError, type SafetensorsFile } from "../io/safetensors-bytes.js";
import { tokenizerFromJSON, type Tokenizer } from "../data/tokenizer.js";
import { validateConfig, type ModelConfig } from "./config.js";

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
