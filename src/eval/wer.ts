// Word error rate: word-level Levenshtein alignment with substitution, insertion and deletion counts,
// corpus WER, and a seeded bootstrap confidence interval over utterances.
//
//   const s = scoreUtterances([{ ref: "the cat sat", hyp: "the cat sat down" }]);  // s.wer === 33.33
//   const [lo, hi] = bootstrapInterval(s.perUtterance, { seed: 0 });
//
// Both sides are normalised with normalizeText (the function that makes training targets), then split
// on spaces. Corpus WER is (S + D + I) / N over all utterances (N: reference words), in percent, the
// way Kaldi's compute-wer and sclite count it; it is not the mean of per-utterance WERs. The interval
// is the percentile bootstrap of Bisani and Ney (2004), "Bootstrap estimates for confidence intervals
// in ASR performance evaluation": resample utterances with replacement, recompute corpus WER, take
// the 2.5th and 97.5th percentiles. Character error rate (charErrors) is the same alignment over the
// characters of the normalised texts, spaces included. Not here: sclite's time-mediated alignment,
// significance tests between two systems.

import { normalizeText } from "../data/normalize.js";
import { seeded } from "../data/synth.js";

export type AlignOp = "ok" | "sub" | "ins" | "del";

/** One column of an alignment: a reference word, a hypothesis word, or both. */
export interface AlignStep {
  op: AlignOp;
  ref?: string;
  hyp?: string;
}

export interface EditCounts {
  sub: number;
  ins: number;
  del: number;
  /** Reference words. */
  words: number;
}

export interface WordAlignment extends EditCounts {
  /** sub + ins + del: the Levenshtein distance. */
  errors: number;
  alignment: AlignStep[];
}

/**
 * Levenshtein alignment of two word sequences (unit costs). Of the alignments with the fewest errors,
 * the one returned prefers, walking back from the end, a match or substitution, then a deletion, then
 * an insertion (so "a b" vs "b c" gives two substitutions, not a deletion and an insertion): the
 * distance is unique, the split into S/D/I is this rule's.
 */
export function alignWords(ref: readonly string[], hyp: readonly string[]): WordAlignment {
  const n = ref.length, m = hyp.length, w = m + 1;
  const cost = new Int32Array((n + 1) * w);
  for (let j = 0; j <= m; j++) cost[j] = j;
  for (let i = 1; i <= n; i++) {
    cost[i * w] = i;
    for (let j = 1; j <= m; j++) {
      const diag = cost[(i - 1) * w + j - 1] + (ref[i - 1] === hyp[j - 1] ? 0 : 1);
      cost[i * w + j] = Math.min(diag, cost[(i - 1) * w + j] + 1, cost[i * w + j - 1] + 1);
    }
  }
  const alignment: AlignStep[] = [];
  let sub = 0, ins = 0, del = 0;
  for (let i = n, j = m; i > 0 || j > 0; ) {
    const here = cost[i * w + j];
    if (i > 0 && j > 0 && here === cost[(i - 1) * w + j - 1] + (ref[i - 1] === hyp[j - 1] ? 0 : 1)) {
      const same = ref[i - 1] === hyp[j - 1];
      if (!same) sub++;
      alignment.push({ op: same ? "ok" : "sub", ref: ref[i - 1], hyp: hyp[j - 1] });
      i--;
      j--;
    } else if (i > 0 && here === cost[(i - 1) * w + j] + 1) {
      del++;
      alignment.push({ op: "del", ref: ref[i - 1] });
      i--;
    } else {
      ins++;
      alignment.push({ op: "ins", hyp: hyp[j - 1] });
      j--;
    }
  }
  alignment.reverse();
  return { sub, ins, del, words: n, errors: sub + ins + del, alignment };
}

/** The words of a transcript after normalizeText (empty text: no words). */
export function scoringWords(text: string): string[] {
  const t = normalizeText(text);
  return t ? t.split(" ") : [];
}

/** Aligns two transcripts after normalising both. */
export function alignTexts(ref: string, hyp: string): WordAlignment {
  return alignWords(scoringWords(ref), scoringWords(hyp));
}

/** Character edit distance of two transcripts after normalising both (spaces count as characters), and the reference's characters. */
export function charErrors(ref: string, hyp: string): { errors: number; chars: number } {
  const r = [...normalizeText(ref)], h = [...normalizeText(hyp)];
  return { errors: alignWords(r, h).errors, chars: r.length };
}

/** Errors and reference words of one utterance: what the bootstrap resamples. */
export interface UtteranceScore extends EditCounts {
  errors: number;
}

export interface CorpusScore extends EditCounts {
  /** Corpus WER in percent: 100 (S + D + I) / N. */
  wer: number;
  errors: number;
  utterances: number;
  perUtterance: UtteranceScore[];
}

/** 100 * errors / words; an empty reference scores 0 when nothing was inserted, else 100 per error. */
export function werPercent(errors: number, words: number): number {
  return (100 * errors) / Math.max(words, 1);
}

/** Sums per-utterance counts into corpus WER. */
export function corpusScore(perUtterance: UtteranceScore[]): CorpusScore {
  let sub = 0, ins = 0, del = 0, words = 0;
  for (const u of perUtterance) {
    sub += u.sub;
    ins += u.ins;
    del += u.del;
    words += u.words;
  }
  const errors = sub + ins + del;
  return { wer: werPercent(errors, words), errors, sub, ins, del, words, utterances: perUtterance.length, perUtterance };
}

/** Scores (reference, hypothesis) text pairs, normalising both sides. */
export function scoreUtterances(pairs: readonly { ref: string; hyp: string }[]): CorpusScore {
  return corpusScore(pairs.map(({ ref, hyp }) => {
    const a = alignTexts(ref, hyp);
    return { sub: a.sub, ins: a.ins, del: a.del, words: a.words, errors: a.errors };
  }));
}

export interface BootstrapOptions {
  /** Resampled corpora (Default: 1000). */
  draws?: number;
  /** Seed of the resampling; the same seed gives the same interval (Default: 0). */
  seed?: number;
  /** Coverage of the interval (Default: 0.95). */
  level?: number;
}

/** The q-quantile of sorted values, interpolated linearly between order statistics (numpy's default). */
function quantile(sorted: Float64Array, q: number): number {
  const at = q * (sorted.length - 1);
  const lo = Math.floor(at), hi = Math.min(sorted.length - 1, lo + 1);
  return sorted[lo] + (at - lo) * (sorted[hi] - sorted[lo]);
}

/**
 * Percentile bootstrap interval of corpus WER (percent): `draws` corpora of as many utterances, drawn
 * with replacement; returns the (1-level)/2 and (1+level)/2 quantiles of their WERs. [0, 0] for no
 * utterances.
 */
export function bootstrapInterval(perUtterance: readonly UtteranceScore[], opts: BootstrapOptions = {}): [number, number] {
  const draws = opts.draws ?? 1000, level = opts.level ?? 0.95;
  const n = perUtterance.length;
  if (n === 0) return [0, 0];
  const r = seeded(opts.seed ?? 0);
  const errors = Int32Array.from(perUtterance, (u) => u.errors), words = Int32Array.from(perUtterance, (u) => u.words);
  const wers = new Float64Array(draws);
  for (let d = 0; d < draws; d++) {
    let e = 0, w = 0;
    for (let k = 0; k < n; k++) {
      const i = Math.floor(r() * n);
      e += errors[i];
      w += words[i];
    }
    wers[d] = werPercent(e, w);
  }
  wers.sort();
  return [quantile(wers, (1 - level) / 2), quantile(wers, (1 + level) / 2)];
}
