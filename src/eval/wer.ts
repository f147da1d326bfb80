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
// characters of the normalised texts, spaces included. `pairedBootstrap` compares two systems on the
// same utterances: each draw resamples the utterances once and scores both systems on that resample, so
// the interval of the difference (points, or relative to the second system) is free of the variation
// between utterances the two share (Bisani and Ney, section 4). Not here: sclite's time-mediated
// alignment, significance tests other than these intervals.

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
export function bootstrapInterval(perUtterance: readonly ErrorCount[], opts: BootstrapOptions = {}): [number, number] {
  return pairedBootstrap(perUtterance, null, opts);
}

/** Errors and reference units (words or characters) of one utterance: all a bootstrap needs. */
export type ErrorCount = Pick<UtteranceScore, "errors" | "words">;

export interface PairedBootstrapOptions extends BootstrapOptions {
  /** The difference relative to b, in percent of b's rate: 100 (rate_a - rate_b) / rate_b (Default: false: rate_a - rate_b in points). */
  relative?: boolean;
}

/**
 * Paired percentile bootstrap of the difference of two systems' error rates over the same utterances
 * (a[i] and b[i] score utterance i): each of `draws` resamples (indices drawn with replacement, by the
 * seeded generator in the order i = floor(u·n)) gives rate_a - rate_b on those indices, in percentage
 * points (or relative, see `relative`); returns the (1-level)/2 and (1+level)/2 quantiles (linear
 * interpolation). With b = null, the interval of rate_a itself (bootstrapInterval). [0, 0] for no
 * utterances. The rates are corpus rates, 100 Σerrors / Σwords, whatever the unit (words or characters).
 */
export function pairedBootstrap(a: readonly ErrorCount[], b: readonly ErrorCount[] | null, opts: PairedBootstrapOptions = {}): [number, number] {
  const draws = opts.draws ?? 1000, level = opts.level ?? 0.95;
  const n = a.length;
  if (b && b.length !== n) throw new Error(`paired bootstrap: the two systems score different numbers of utterances (${n} and ${b.length})`);
  if (n === 0) return [0, 0];
  const r = seeded(opts.seed ?? 0);
  const ea = Int32Array.from(a, (u) => u.errors), wa = Int32Array.from(a, (u) => u.words);
  const eb = b ? Int32Array.from(b, (u) => u.errors) : ea, wb = b ? Int32Array.from(b, (u) => u.words) : wa;
  const stats = new Float64Array(draws);
  for (let d = 0; d < draws; d++) {
    let e1 = 0, w1 = 0, e2 = 0, w2 = 0;
    for (let k = 0; k < n; k++) {
      const i = Math.floor(r() * n);
      e1 += ea[i];
      w1 += wa[i];
      e2 += eb[i];
      w2 += wb[i];
    }
    const ra = werPercent(e1, w1), rb = werPercent(e2, w2);
    stats[d] = !b ? ra : opts.relative ? (rb ? (100 * (ra - rb)) / rb : 0) : ra - rb;
  }
  stats.sort();
  return [quantile(stats, (1 - level) / 2), quantile(stats, (1 + level) / 2)];
}
