// The utterances to score: a NeMo manifest or a LibriSpeech split directory, bad items skipped and counted
// (SkipLedger). Shared by `todm eval` (src/commands/eval.ts) and the subnet scoring (subnets.ts). Not here:
// training data (src/data/dataset.ts), decoding and scoring (eval.ts).

import { statSync } from "node:fs";
import { probeAudio } from "../audio/read.js";
import type { SkipLedger } from "../data/errors.js";
import { scanLibriSpeech } from "../data/librispeech.js";
import { readManifest } from "../data/manifest.js";
import type { EvalUtterance } from "./eval.js";

/** The utterances of a manifest file or a LibriSpeech split directory (first `limit`). */
export async function loadEvalData(path: string, ledger: SkipLedger, limit = Infinity): Promise<{ kind: string; utterances: EvalUtterance[] }> {
  let isDir: boolean;
  try {
    isDir = statSync(path).isDirectory();
  } catch {
    throw new Error(`--data ${path}: no such file or directory (a NeMo manifest or a LibriSpeech split directory)`);
  }
  if (!isDir) {
    const entries = readManifest(path, ledger).slice(0, limit);
    return { kind: "manifest", utterances: entries.map((e) => ({ audio: e.audio, text: e.text, duration: e.duration, source: e.source })) };
  }
  const utts: EvalUtterance[] = [];
  for (const u of scanLibriSpeech(path, ledger).slice(0, limit)) {
    try {
      const { duration } = await probeAudio(u.audio, false); // headers only; corrupt data is caught when decoded
      utts.push({ audio: u.audio, text: u.text, duration, source: u.source });
    } catch (e) {
      ledger.skip(e);
    }
  }
  return { kind: "LibriSpeech", utterances: utts };
}
