// `todm prepare librispeech DIR --out manifest.jsonl` and `todm prepare manifest IN.jsonl --out OUT.jsonl`:
// turn a LibriSpeech split, or check an existing NeMo manifest, into a clean NeMo-style manifest.
//
//   todm prepare librispeech /data/LibriSpeech/dev-clean --out data/dev-clean.jsonl
//   todm prepare manifest /data/kathleen/manifest.jsonl --out data/kathleen.jsonl --strict
//
// Every audio file is decoded once (unless --no-verify, which reads headers only), so that empty,
// truncated, corrupt and unknown files are found here and not in the middle of training. Bad items are
// skipped and counted, and listed at the end; --strict stops at the first. Prints utterances, hours
// and skipped items. The text is written as found; normalisation happens when a corpus is loaded.

import { probeAudio } from "../audio/read.js";
import { SkipLedger } from "../data/errors.js";
import { scanLibriSpeech } from "../data/librispeech.js";
import { readManifest, writeManifest, type ManifestEntry } from "../data/manifest.js";
import { Progress } from "../util/progress.js";
import { normalizeText } from "../data/normalize.js";

export interface PrepareOptions {
  out: string;
  strict?: boolean;
  /** Decode every file (default) or read headers only. */
  verify?: boolean;
  log?: (line: string) => void;
  /** Progress bar on stderr (default true). */
  progress?: boolean;
  /**
   * Hold out this fraction of the sentences (by a hash of the normalised text, so a sentence read twice
   * stays on one side) as OUT.test.jsonl, and `valid` of the rest as OUT.valid.jsonl; the others go to
   * OUT.train.jsonl. OUT itself still gets every good line.
   */
  holdout?: number;
  valid?: number;
}

export interface PrepareSummary {
  utterances: number;
  hours: number;
  skipped: number;
  ledger: SkipLedger;
}

type Item = { audio: string; text: string; source: string; extra?: Record<string, unknown> };

async function finish(items: Item[], ledger: SkipLedger, opts: PrepareOptions): Promise<PrepareSummary> {
  const log = opts.log ?? ((l: string) => console.log(l));
  const verify = opts.verify ?? true;
  const bar = opts.progress === false ? undefined : new Progress(verify ? "decoding" : "reading headers", items.length);
  const kept: Pick<ManifestEntry, "audio" | "duration" | "text" | "extra">[] = [];
  let seconds = 0;
  for (const it of items) {
    try {
      const { duration } = await probeAudio(it.audio, verify);
      kept.push({ audio: it.audio, duration, text: it.text, extra: it.extra });
      seconds += duration;
    } catch (e) {
      ledger.skip(e);
    }
    bar?.tick();
  }
  bar?.finish();
  writeManifest(opts.out, kept);
  const hours = seconds / 3600;
  log(`wrote ${opts.out}: ${kept.length} utterances, ${hours.toFixed(2)} hours`);
  if (opts.holdout !== undefined) {
    const test = opts.holdout, valid = opts.valid ?? 0;
    if (!(test > 0 && test < 1) || !(valid >= 0 && valid < 1)) throw new Error(`prepare: --holdout must be in (0, 1) and --valid in [0, 1), got ${test} and ${valid}`);
    const parts: Record<"train" | "valid" | "test", typeof kept> = { train: [], valid: [], test: [] };
    for (const k of kept) {
      const u = sentenceHash(normalizeText(k.text)) / 2 ** 32;
      parts[u < test ? "test" : u < test + valid * (1 - test) ? "valid" : "train"].push(k);
    }
    const base = opts.out.replace(/\.jsonl$/, "");
    for (const [split, items] of Object.entries(parts)) {
      if (split === "valid" && valid === 0) continue;
      const file = `${base}.${split}.jsonl`;
      writeManifest(file, items);
      const sentences = new Set(items.map((i) => normalizeText(i.text))).size;
      log(`wrote ${file}: ${items.length} utterances, ${sentences} sentences, ${(items.reduce((a, i) => a + i.duration, 0) / 3600).toFixed(2)} hours`);
    }
  }
  for (const l of ledger.report()) log(l);
  return { utterances: kept.length, hours, skipped: ledger.count, ledger };
}

/** FNV-1a of a sentence, then a final mix so that nearby texts spread over [0, 2^32). */
function sentenceHash(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  h ^= h >>> 16;
  h = Math.imul(h, 0x7feb352d);
  h ^= h >>> 15;
  return h >>> 0;
}

/** Converts a LibriSpeech split to a manifest. */
export async function prepareLibriSpeech(dir: string, opts: PrepareOptions): Promise<PrepareSummary> {
  const ledger = new SkipLedger(opts.strict);
  const utts = scanLibriSpeech(dir, ledger);
  return finish(utts.map((u) => ({ audio: u.audio, text: u.text, source: u.source, extra: { id: u.id } })), ledger, opts);
}

/** Checks a NeMo manifest: decodes its audio, recomputes durations, writes the good lines. */
export async function prepareManifest(path: string, opts: PrepareOptions): Promise<PrepareSummary> {
  const ledger = new SkipLedger(opts.strict);
  const entries = readManifest(path, ledger);
  return finish(entries.map((e) => ({ audio: e.audio, text: e.text, source: e.source, extra: e.extra })), ledger, opts);
}
