// `todm lm`: builds a token n-gram LM (interpolated modified Kneser-Ney, src/lm/) over a model's
// tokenizer from text files, converts ARPA to and from todm's LM file, and loads LM files for
// `todm transcribe` and `todm eval` (the Node file reading of the browser-safe src/lm/).
//
//   todm lm --text data/text/sentences.txt --model runs/exp1 --order 5 --out runs/exp1/lm.tlm
//   todm lm --text train.jsonl --model model.safetensors --out lm.tlm --max-mb 2 --arpa lm.arpa
//   todm lm --from-arpa kenlm.arpa --model model.safetensors --out lm.tlm
//   todm lm --lm lm.tlm --arpa lm.arpa
//
// | option         | default | meaning                                                              |
// | -------------- | ------- | -------------------------------------------------------------------- |
// | --text FILE    |         | sentences, one a line (repeatable); a .jsonl file: its "text" fields   |
// | --model M      |         | the model file or run directory whose tokenizer the LM is over        |
// | --order N      | 5       | n-gram order                                                          |
// | --min-count K  | 1       | keep n-grams of order >= 2 seen at least K times                      |
// | --max-mb X     | 4       | raise the min count until the file is at most X MiB                   |
// | --out FILE     |         | the LM file to write (atomically)                                     |
// | --arpa FILE    |         | also write the LM as ARPA text                                         |
// | --from-arpa F  |         | read an ARPA file (over the model's tokens) instead of estimating     |
// | --lm FILE      |         | with --arpa and no --text: convert this LM file to ARPA               |
//
// Text is normalised as training targets are (normalizeText); a line with a character outside the
// tokenizer is skipped and counted. Not here: estimation, scoring, formats (src/lm/).

import { readFileSync } from "node:fs";
import type { Tokenizer } from "../data/tokenizer.js";
import { readArpa, writeArpa } from "../lm/arpa.js";
import { encodeLines } from "../lm/build.js";
import { estimateKneserNey } from "../lm/estimate.js";
import { encodeLm, LmFileError } from "../lm/format.js";
import { NgramLm } from "../lm/ngram.js";
import { parseModelMetadata } from "../model/metadata.js";
import { resolveModelPath } from "../model/path.js";
import { Progress } from "../util/progress.js";
import { readSafetensors, writeFileAtomic } from "../io/safetensors.js";

export interface LmCommandOptions {
  text?: string[];
  model?: string;
  order?: number;
  minCount?: number;
  maxMb?: number;
  out?: string;
  arpa?: string;
  fromArpa?: string;
  lm?: string;
  /** Progress bar on stderr (Default: true). */
  progress?: boolean;
  log?: (line: string) => void;
}

/** The tokenizer of a model file or run directory (metadata only: no engine). */
export function modelTokenizer(arg: string): { path: string; tokenizer: Tokenizer } {
  const path = resolveModelPath(arg);
  return { path, tokenizer: parseModelMetadata(readSafetensors(path), path).tokenizer };
}

/** Reads an LM file; with `tokenizer`, refuses one built for another tokenizer. */
export function loadLmFile(path: string, tokenizer?: Tokenizer): NgramLm {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new LmFileError(path, `cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  return NgramLm.fromBytes(bytes, path, tokenizer);
}

/** The LODR option of --lodr FILE --lodr-weight W (undefined without a file). */
export function lodrOption(file: string | undefined, weight: number | undefined, tokenizer: Tokenizer): { lm: NgramLm; weight: number } | undefined {
  if (file === undefined) return undefined;
  const w = weight ?? 0.1;
  if (!(Number.isFinite(w) && w >= 0)) throw new Error(`--lodr-weight must be a number >= 0, got ${weight}`);
  return { lm: loadLmFile(file, tokenizer), weight: w };
}

/** The lines of a text file, or the "text" fields of a JSONL manifest, each with its source. */
function readTextLines(path: string): { lines: string[]; source: (i: number) => string } {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new Error(`--text ${path}: cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const raw = text.split("\n");
  if (!path.endsWith(".jsonl")) return { lines: raw, source: (i) => `${path}:${i + 1}` };
  const lines: string[] = [], at: number[] = [];
  raw.forEach((l, i) => {
    if (!l.trim()) return;
    let j: { text?: unknown };
    try {
      j = JSON.parse(l);
    } catch {
      throw new Error(`--text ${path}:${i + 1}: not JSON (a .jsonl file is read as a manifest: one JSON object with "text" a line)`);
    }
    if (typeof j.text !== "string") throw new Error(`--text ${path}:${i + 1}: no "text" string`);
    lines.push(j.text);
    at.push(i + 1);
  });
  return { lines, source: (i) => `${path}:${at[i]}` };
}

const mb = (n: number) => `${(n / 2 ** 20).toFixed(2)} MiB`;

export function runLm(opts: LmCommandOptions): void {
  const log = opts.log ?? ((l: string) => console.log(l));
  const t0 = performance.now();
  // Export: an LM file to ARPA.
  if (opts.lm !== undefined) {
    if (opts.text?.length || opts.fromArpa || opts.out) throw new Error("lm --lm FILE converts an LM file to ARPA: give --arpa OUT and no --text, --from-arpa or --out");
    if (!opts.arpa) throw new Error("lm --lm FILE: give --arpa OUT (the ARPA file to write)");
    const lm = loadLmFile(opts.lm);
    writeFileAtomic(opts.arpa, writeArpa(lm.tables, lm.tokenizer()));
    log(`wrote ${opts.arpa} (order ${lm.order}, ${lm.tables.tables.map((t, n) => `${t.word.length} ${n + 1}-grams`).join(", ")})`);
    return;
  }
  if (!opts.model) throw new Error("lm: give --model MODEL_OR_RUN_DIR (the LM is over its tokenizer)");
  if (!opts.out) throw new Error("lm: give --out LM_FILE");
  if (!!opts.fromArpa === !!opts.text?.length) throw new Error("lm: give --text FILE... to estimate, or --from-arpa FILE to convert (one of them)");
  const { path: modelPath, tokenizer } = modelTokenizer(opts.model);
  log(`lm: over the ${tokenizer.type} tokenizer of ${tokenizer.size} symbols of ${modelPath}`);
  if (opts.fromArpa) {
    let text: string;
    try {
      text = readFileSync(opts.fromArpa, "utf8");
    } catch (e) {
      throw new Error(`--from-arpa ${opts.fromArpa}: cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    const r = readArpa(text, tokenizer, opts.fromArpa);
    if (r.skipped) log(`skipped ${r.skipped} n-grams with words outside the tokenizer or a skipped context (first: ${r.unknownWords.join(" ")})`);
    const bytes = encodeLm(r.tables, tokenizer.toJSON(), { fromArpa: opts.fromArpa });
    writeFileAtomic(opts.out, bytes);
    log(`wrote ${opts.out} (${mb(bytes.length)}, order ${r.tables.order}, ${r.tables.tables.map((t) => t.word.length).join("/")} n-grams)`);
    return;
  }
  const order = opts.order ?? 5, maxMb = opts.maxMb ?? 4, minCount = opts.minCount ?? 1;
  if (!(Number.isInteger(order) && order >= 1 && order <= 16)) throw new Error(`--order must be an integer in 1..16, got ${opts.order}`);
  if (!(maxMb > 0)) throw new Error(`--max-mb must be positive, got ${opts.maxMb}`);
  if (!(Number.isInteger(minCount) && minCount >= 1)) throw new Error(`--min-count must be an integer >= 1, got ${opts.minCount}`);
  const sentences: number[][] = [];
  let lines = 0, skipped = 0, empty = 0;
  const examples: string[] = [];
  for (const f of opts.text!) {
    const { lines: ls, source } = readTextLines(f);
    const enc = encodeLines(ls, tokenizer, source);
    sentences.push(...enc.sentences);
    lines += ls.length;
    skipped += enc.skipped;
    empty += enc.empty;
    examples.push(...enc.skippedExamples);
  }
  log(`text: ${lines} lines of ${opts.text!.length} file(s): ${sentences.length} sentences, ${empty} empty, ${skipped} skipped (characters outside the tokenizer${examples.length ? `; first: ${examples.slice(0, 3).join(", ")}` : ""})`);
  let peakHeap = 0, lastDone = 0;
  const bar = opts.progress ?? true ? new Progress("lm", sentences.length) : undefined;
  const onProgress = (done: number) => {
    peakHeap = Math.max(peakHeap, process.memoryUsage().heapUsed);
    bar?.tick(done - lastDone);
    lastDone = done;
  };
  const tokJson = tokenizer.toJSON();
  const info = { text: opts.text, sentences: sentences.length, skippedLines: skipped };
  const headerBytes = new TextEncoder().encode(JSON.stringify({ tokenizer: tokJson, info })).length + 512;
  const r = estimateKneserNey(sentences, { order, vocab: tokenizer.size, minCount, maxBytes: maxMb * 2 ** 20, headerBytes, onProgress });
  bar?.finish();
  peakHeap = Math.max(peakHeap, process.memoryUsage().heapUsed);
  for (const o of r.orders) {
    log(`order ${o.order}: ${o.ngrams} n-grams, ${o.kept} kept; n1..n4 ${o.countOfCounts.join(" ")}; D1 D2 D3+ ${o.discounts.map((d) => d.toFixed(3)).join(" ")}${o.fallback ? " (fallback: a count-of-counts is 0)" : ""}`);
  }
  const bytes = encodeLm(r.tables, tokJson, { ...info, minCount: r.minCount, discounts: r.orders.map((o) => o.discounts) });
  writeFileAtomic(opts.out, bytes);
  if (opts.arpa) writeFileAtomic(opts.arpa, writeArpa(r.tables, tokenizer));
  const rssMb = process.resourceUsage().maxRSS / 1024;
  log(`wrote ${opts.out} (${mb(bytes.length)}, order ${order}, min count ${r.minCount}${r.minCount > minCount ? ` raised to fit --max-mb ${maxMb}` : ""})${opts.arpa ? ` and ${opts.arpa}` : ""} in ${((performance.now() - t0) / 1000).toFixed(1)} s; memory: peak RSS ${rssMb.toFixed(0)} MiB, JS heap ${mb(peakHeap)}`);
}
