// From text to LM bytes: normalising and encoding sentences with the model's tokenizer (lines it
// cannot encode are skipped and counted), the training-text-only rule, and `buildRunLm`, the function
// the training run calls at its end. Browser-safe (no file access: `todm lm` reads the files).
//
//   const { texts } = lmTrainingTexts(trainManifestTexts, [validTexts, testTexts]);
//   const { bytes } = buildRunLm(texts, tokenizer, { order: 5, maxBytes: 4 << 20 });
//
// Not here: estimation (estimate.ts), tuning the LM weight (tune.ts).

import { normalizeText } from "../data/normalize.js";
import type { Tokenizer } from "../data/tokenizer.js";
import { estimateKneserNey, type EstimateResult } from "./estimate.js";
import { encodeLm } from "./format.js";

export interface EncodedText {
  sentences: number[][];
  /** Lines skipped because a character is outside the tokenizer. */
  skipped: number;
  /** The first few skipped lines, as "SOURCE: 'c' (U+..)". */
  skippedExamples: string[];
  /** Empty lines (after normalisation), ignored. */
  empty: number;
}

/** Normalises (normalizeText, as training targets) and encodes each line; `sourceOf(i)` names line i. */
export function encodeLines(lines: readonly string[], tokenizer: Tokenizer, sourceOf: (i: number) => string = (i) => `line ${i + 1}`): EncodedText {
  const out: EncodedText = { sentences: [], skipped: 0, skippedExamples: [], empty: 0 };
  lines.forEach((line, i) => {
    const t = normalizeText(line);
    if (!t) {
      out.empty++;
      return;
    }
    const bad = tokenizer.unknownChar(t);
    if (bad !== undefined) {
      out.skipped++;
      if (out.skippedExamples.length < 3) out.skippedExamples.push(`${sourceOf(i)}: '${bad}' (U+${bad.codePointAt(0)!.toString(16).toUpperCase().padStart(4, "0")})`);
      return;
    }
    out.sentences.push(tokenizer.encode(t));
  });
  return out;
}

/**
 * The LM's text: the training sentences minus every sentence that also occurs (after normalisation)
 * in a held-out set (valid, test), so that no scored sentence is ever in an LM.
 */
export function lmTrainingTexts(train: readonly string[], heldOut: readonly (readonly string[])[]): { texts: string[]; dropped: number } {
  const banned = new Set(heldOut.flatMap((s) => s.map(normalizeText)));
  const texts = train.filter((t) => !banned.has(normalizeText(t)));
  return { texts, dropped: train.length - texts.length };
}

export interface RunLmOptions {
  /** Default 5. */
  order?: number;
  minCount?: number;
  /** Default 4 MiB. */
  maxBytes?: number;
  /** Sentences of the valid and test sets: removed from the text (lmTrainingTexts). */
  heldOut?: readonly (readonly string[])[];
  /** Held-out sentences the caller already removed (src/train/lm.ts runLmText): added to the count the file records. */
  droppedBefore?: number;
  onProgress?: (done: number, total: number) => void;
}

export const DEFAULT_LM_ORDER = 5;
export const DEFAULT_LM_MAX_BYTES = 4 << 20;

/** Builds the run's LM from its training texts (held-out sentences removed): the file's bytes. */
export function buildRunLm(trainTexts: readonly string[], tokenizer: Tokenizer, opts: RunLmOptions = {}): { bytes: Uint8Array; estimate: EstimateResult; text: EncodedText; dropped: number } {
  const { texts, dropped } = lmTrainingTexts(trainTexts, opts.heldOut ?? []);
  const text = encodeLines(texts, tokenizer);
  const tokJson = tokenizer.toJSON();
  const headerBytes = new TextEncoder().encode(JSON.stringify(tokJson)).length + 512; // + counts and info
  const estimate = estimateKneserNey(text.sentences, {
    order: opts.order ?? DEFAULT_LM_ORDER, vocab: tokenizer.size, minCount: opts.minCount, maxBytes: opts.maxBytes ?? DEFAULT_LM_MAX_BYTES, headerBytes, onProgress: opts.onProgress,
  });
  const info = { sentences: estimate.sentences, tokens: estimate.tokens, minCount: estimate.minCount, skippedLines: text.skipped, heldOutDropped: dropped + (opts.droppedBefore ?? 0), discounts: estimate.orders.map((o) => o.discounts) };
  return { bytes: encodeLm(estimate.tables, tokJson, info), estimate, text, dropped };
}
