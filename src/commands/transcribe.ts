// `todm transcribe --model FILE_OR_RUN_DIR audio...`: one line per file, `<path>\t<text>`, or with
// --json one JSON object per file with each token's emission time.
//
//   todm transcribe --model runs/exp1 a.flac b.wav
//   todm transcribe --model model.safetensors --json --beam 4 long.wav
//
// Audio of any supported format and rate (WAV, FLAC; resampled to 16 kHz). Long files are read and
// decoded in windows of at most --window seconds (Default: 30), one at a time, so memory stays bounded
// whatever the file's length (src/audio/windows.ts). A file that cannot be read is reported on stderr
// and the others go on; the exit code is then 1. With --lm FILE (todm lm), modified beam search with
// shallow fusion at --lm-weight (even at --beam 1); an LM of another tokenizer is refused. A model that
// `todm export` gave an LM (metadata `todm.lm`: its sidecar file beside the model and its weight,
// docs/model-format.md) decodes with that LM by default; --no-lm turns it off, --lm-weight overrides W.

import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { DataError } from "../data/errors.js";
import { DEFAULT_LM_WEIGHT, modelLmInfo } from "../infer/index.js";
import type { Engine } from "../engine/engine.js";
import { resolveSubnet, transcribeFile, type TimedToken, type Transcript } from "../eval/eval.js";
import { openModel } from "../model/path.js";
import type { FusionOptions } from "../decode/decode.js";
import { loadLmFile, lodrOption } from "./lm.js";

export interface TranscribeCommandOptions {
  model: string;
  json?: boolean;
  beam?: number;
  subnet?: string;
  /** Window length in seconds (Default: 30). */
  window?: number;
  /** An LM file for shallow fusion (Default: the model's own, see resolveLm), its weight λ (Default: the model's recorded weight, else 0.3) and whether </s> is scored. */
  lm?: string;
  /** Decode without the model's own LM. */
  noLm?: boolean;
  lmWeight?: number;
  lmEos?: boolean;
  /** LODR: a low-order LM file subtracted at lodrWeight (Default: 0.1). */
  lodr?: string;
  lodrWeight?: number;
  /** Where lines go (Default: stdout). */
  out?: (line: string) => void;
  /** Where per-file errors go (Default: stderr). */
  err?: (line: string) => void;
}

export interface TranscribeLine {
  path: string;
  text: string;
  duration: number;
  tokens: TimedToken[];
}

/** The LM a transcription uses: its path, weight and </s> scoring; undefined for none. */
export interface ResolvedLm {
  path: string;
  weight: number;
  endOfSentence: boolean;
}

/**
 * The LM of --lm FILE, else the model's own (`todm.lm` metadata: the sidecar beside the model file),
 * unless --no-lm. --lm-weight and --lm-eos override what the model recorded (else 0.3 and false).
 */
export function resolveLm(modelPath: string, metadata: Record<string, string>, opts: { lm?: string; noLm?: boolean; lmWeight?: number; lmEos?: boolean }): ResolvedLm | undefined {
  if (opts.noLm) {
    if (opts.lm !== undefined) throw new Error("--lm and --no-lm contradict each other");
    return undefined;
  }
  const info = modelLmInfo(metadata, modelPath);
  let path: string;
  if (opts.lm !== undefined) path = opts.lm;
  else if (info) {
    path = join(dirname(modelPath), info.file);
    if (!existsSync(path)) throw new Error(`${modelPath}: its metadata names the LM ${path}, which does not exist (put the LM file beside the model, or decode without it: --no-lm)`);
  } else return undefined;
  const weight = opts.lmWeight ?? info?.weight ?? DEFAULT_LM_WEIGHT;
  if (!(Number.isFinite(weight) && weight >= 0)) throw new Error(`--lm-weight must be a number >= 0, got ${opts.lmWeight}`);
  return { path, weight, endOfSentence: opts.lmEos ?? info?.endOfSentence ?? false };
}

/** Transcribes the files; returns how many failed. Throws only for model problems. */
export async function runTranscribe(engine: Engine, files: string[], opts: TranscribeCommandOptions): Promise<number> {
  const out = opts.out ?? ((l: string) => process.stdout.write(l + "\n"));
  const err = opts.err ?? ((l: string) => process.stderr.write(l + "\n"));
  const { model, tokenizer, path: modelPath, metadata } = openModel(engine, opts.model);
  const subnet = resolveSubnet(model.cfg, opts.subnet);
  const beam = opts.beam ?? 1;
  if (!(Number.isInteger(beam) && beam >= 1)) throw new Error(`--beam must be an integer >= 1, got ${opts.beam}`);
  let fusion: FusionOptions<number> | undefined;
  const lm = resolveLm(modelPath, metadata, opts);
  if (lm) {
    fusion = { lm: loadLmFile(lm.path, tokenizer), weight: lm.weight, endOfSentence: lm.endOfSentence, lodr: lodrOption(opts.lodr, opts.lodrWeight, tokenizer) };
  } else if (opts.lodr !== undefined) throw new Error("--lodr goes with --lm");
  let failed = 0;
  for (const path of files) {
    let t: Transcript;
    try {
      t = await transcribeFile(model, tokenizer, path, { subnet, beam, windowSeconds: opts.window ?? 30, fusion });
    } catch (e) {
      if (!(e instanceof DataError)) throw e;
      err(`todm transcribe: ${e.message}`);
      failed++;
      continue;
    }
    if (opts.json) {
      const line: TranscribeLine = { path, text: t.text, duration: t.duration, tokens: t.tokens.map((k) => ({ ...k, time: Math.round(k.time * 1000) / 1000 })) };
      out(JSON.stringify(line));
    } else {
      out(`${path}\t${t.text}`);
    }
  }
  return failed;
}
