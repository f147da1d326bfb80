// `todm transcribe --stream --model FILE audio...`: each file fed to the inference API (todm/infer, the
// small inference WebAssembly) in chunks as a live source would deliver them, printing the partial
// transcript whenever it changes, then `<path>\t<text>` on stdout as without --stream.
//
//   todm transcribe --stream --model runs/exp1 a.wav            # partials on stderr
//   todm transcribe --stream --chunk 320 --beam 4 --model m.safetensors a.flac
//
// Partials go to stderr: rewritten in place (\r) on a terminal, else one `partial\t<seconds>\t<text>`
// line each. The audio is read whole first (then fed as fast as it computes: the point is the
// chunked computation, not pacing). Only causal models stream; a non-causal one is refused.

import { DataError } from "../data/errors.js";
import { readAudioAt } from "../audio/read.js";
import { resolveModelPath } from "../model/path.js";
import { loadRecognizer } from "../infer/node.js";
import { resolveLm } from "./transcribe.js";
import { readSafetensors } from "../io/safetensors.js";

export interface TranscribeStreamOptions {
  model: string;
  beam?: number;
  subnet?: string;
  /** Chunk length in milliseconds (Default: 160). */
  chunkMs?: number;
  /** As todm transcribe: --lm FILE (Default: the model's own LM), --no-lm, --lm-weight, --lm-eos. */
  lm?: string;
  noLm?: boolean;
  lmWeight?: number;
  lmEos?: boolean;
  /** Force a build of the inference WebAssembly (Default: relaxed SIMD where the runtime has it). */
  build?: "simd" | "relaxed-simd";
  out?: (line: string) => void;
  /** Where partials and per-file errors go (Default: stderr). */
  err?: (text: string) => void;
  /** Rewrite partials in place with \r (Default: stderr is a TTY). */
  tty?: boolean;
}

/** Streams each file through the inference API; returns how many failed. Throws for model problems. */
export async function runTranscribeStream(files: string[], opts: TranscribeStreamOptions): Promise<number> {
  const out = opts.out ?? ((l: string) => process.stdout.write(l + "\n"));
  const err = opts.err ?? ((t: string) => process.stderr.write(t));
  const tty = opts.tty ?? Boolean(process.stderr.isTTY);
  const beam = opts.beam ?? 1;
  if (!(Number.isInteger(beam) && beam >= 1)) throw new Error(`--beam must be an integer >= 1, got ${opts.beam}`);
  const chunkMs = opts.chunkMs ?? 160;
  if (!(chunkMs > 0)) throw new Error(`--chunk must be a positive number of milliseconds, got ${opts.chunkMs}`);
  const modelPath = resolveModelPath(opts.model);
  const lm = resolveLm(modelPath, readSafetensors(modelPath).metadata, opts);
  const rec = await loadRecognizer(modelPath, { beam, subnet: opts.subnet, build: opts.build, ...(lm && { lm: lm.path, lmWeight: lm.weight, lmEndOfSentence: lm.endOfSentence }) });
  if (!rec.causal) throw new Error(`${opts.model}: cannot stream: the model is non-causal (trained with causal: false); transcribe without --stream`);
  const chunk = Math.max(1, Math.round((chunkMs / 1000) * 16000));
  let failed = 0;
  for (const path of files) {
    let samples: Float32Array;
    try {
      samples = await readAudioAt(path, 16000);
    } catch (e) {
      if (!(e instanceof DataError)) throw e;
      err(`todm transcribe: ${e.message}\n`);
      failed++;
      continue;
    }
    const s = rec.stream({ sampleRate: 16000, batchMs: 0 }); // each --chunk is one encoder run
    let last = "";
    for (let i = 0; i < samples.length; i += chunk) {
      s.accept(samples.subarray(i, i + chunk));
      const p = s.partial();
      if (p === last) continue;
      last = p;
      err(tty ? `\r\x1b[K${p}` : `partial\t${(Math.min(samples.length, i + chunk) / 16000).toFixed(2)}\t${p}\n`);
    }
    if (tty && last) err("\r\x1b[K");
    out(`${path}\t${s.finish()}`);
  }
  return failed;
}
