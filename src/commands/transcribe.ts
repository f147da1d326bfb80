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
// shallow fusion at --lm-weight (even at --beam 1); an LM of another tokenizer is refused.

import { DataError } from "../data/errors.js";
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
  /** An LM file for shallow fusion, its weight λ (Default: 0.3) and whether </s> is scored. */
  lm?: string;
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

/** Transcribes the files; returns how many failed. Throws only for model problems. */
export async function runTranscribe(engine: Engine, files: string[], opts: TranscribeCommandOptions): Promise<number> {
  const out = opts.out ?? ((l: string) => process.stdout.write(l + "\n"));
  const err = opts.err ?? ((l: string) => process.stderr.write(l + "\n"));
  const { model, tokenizer } = openModel(engine, opts.model);
  const subnet = resolveSubnet(model.cfg, opts.subnet);
  const beam = opts.beam ?? 1;
  if (!(Number.isInteger(beam) && beam >= 1)) throw new Error(`--beam must be an integer >= 1, got ${opts.beam}`);
  let fusion: FusionOptions<number> | undefined;
  if (opts.lm !== undefined) {
    const weight = opts.lmWeight ?? 0.3;
    if (!(Number.isFinite(weight) && weight >= 0)) throw new Error(`--lm-weight must be a number >= 0, got ${opts.lmWeight}`);
    fusion = { lm: loadLmFile(opts.lm, tokenizer), weight, endOfSentence: opts.lmEos ?? false, lodr: lodrOption(opts.lodr, opts.lodrWeight, tokenizer) };
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
