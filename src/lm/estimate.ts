// Estimating a token n-gram LM: interpolated modified Kneser-Ney (Chen & Goodman 1998, "An empirical
// study of smoothing techniques for language modeling", TR-10-98, section 3 and 4.1.6; formulas in
// ../../../shared/PAPERS.md), then pruning by count, then the backoff form with renormalised weights.
// Browser-safe (no file access). Not here: scoring (ngram.ts), bytes (format.ts), text reading (text.ts).
//
// Sentences are token id sequences (ids 1..V-1), padded as <s> w1 .. wk </s> (tables.ts: <s> = 0,
// </s> = V). For an n-gram g = h w of order n:
//   - adjusted count a(g): the raw count c(g) at the highest order N and for n-grams that start with
//     <s> (nothing can precede them); otherwise the continuation count N1+(. g), the number of distinct
//     words v with c(v g) > 0 (KenLM's convention for <s>);
//   - per order, the count-of-counts n_k (n-grams with a = k, k = 1..4; <s> as a unigram excluded) give
//     Y = n1/(n1 + 2 n2), D1 = 1 - 2Y n2/n1, D2 = 2 - 3Y n3/n2, D3+ = 3 - 4Y n4/n3;
//     FALLBACK: where any of n1..n4 is 0 (small texts) the formulas divide by zero or say nothing, and
//     that order uses D = (0.5, 1.0, 1.5) instead. Every D_k is then clamped into [0.01, k]: never
//     negative (a negative D2 happens when n3 > 2/3 (n1 + 2 n2)), never 0 (so that every seen context
//     leaves mass to the lower order and no word gets probability 0), never above its count;
//   - p(w | h) = max(a(hw) - D(a(hw)), 0) / S(h) + gamma(h) p(w | h'), S(h) = sum_w a(hw),
//     gamma(h) = (D1 N1(h.) + D2 N2(h.) + D3+ N3+(h.)) / S(h), h' = h without its first word; a context
//     never seen falls through to p(w | h'); below the unigrams is the uniform 1/V over the V words
//     1..V (tokens and </s>), so every word of the vocabulary has a probability > 0.
// Every token of the vocabulary is stored as a unigram (count 0 if unseen). Pruning keeps n-grams of
// order >= 2 whose raw count is at least `minCount` (raw counts never grow from an n-gram to its
// extensions, so the kept set stays prefix- and suffix-closed); `maxBytes` raises minCount until the
// file fits. The stored probability of a kept n-gram is its interpolated one (computed before
// pruning), and every context's backoff weight is renormalised over the kept set:
//   bow(h) = (1 - sum_{hw kept} p(w|h)) / (1 - sum_{hw kept} P(w|h')),  P the pruned backoff model,
// so every context sums to exactly 1 over the V words. Without pruning bow(h) = gamma(h).

import { BOS, eosId, type NgramTables } from "./tables.js";
import { encodedSize } from "./format.js";

export interface EstimateOptions {
  order: number;
  /** The tokenizer's size V. */
  vocab: number;
  /** Keep n-grams of order >= 2 seen at least this often (Default: 1, everything). */
  minCount?: number;
  /** Raise minCount until the file (format.ts) is at most this many bytes (Default: no limit). */
  maxBytes?: number;
  /** Bytes of the file's header (the tokenizer JSON dominates), for maxBytes. */
  headerBytes?: number;
  /** Called every 1000 sentences and at the end. */
  onProgress?: (done: number, total: number) => void;
}

export interface OrderStats {
  order: number;
  /** Distinct n-grams counted. */
  ngrams: number;
  /** Kept after pruning. */
  kept: number;
  /** n1..n4 of the adjusted counts. */
  countOfCounts: [number, number, number, number];
  discounts: [number, number, number];
  fallback: boolean;
}

export interface EstimateResult {
  tables: NgramTables;
  sentences: number;
  tokens: number;
  minCount: number;
  orders: OrderStats[];
}

export const FALLBACK_DISCOUNTS: [number, number, number] = [0.5, 1.0, 1.5];
export const MIN_DISCOUNT = 0.01;
const MAX_NGRAMS_PER_ORDER = 16_000_000;

/** D1, D2, D3+ from the count-of-counts n1..n4, with the fallback and clamp stated above. */
export function modifiedKnDiscounts(nk: readonly number[]): { d: [number, number, number]; fallback: boolean } {
  const [n1, n2, n3, n4] = nk;
  const fallback = !(n1 > 0 && n2 > 0 && n3 > 0 && n4 > 0);
  let d: [number, number, number];
  if (fallback) d = [...FALLBACK_DISCOUNTS];
  else {
    const Y = n1 / (n1 + 2 * n2);
    d = [1 - (2 * Y * n2) / n1, 2 - (3 * Y * n3) / n2, 3 - (4 * Y * n4) / n3];
  }
  return { d: d.map((x, k) => Math.min(k + 1, Math.max(MIN_DISCOUNT, x))) as [number, number, number], fallback };
}

/** Grow-on-demand columns of one order's n-grams, in first-seen order. */
class Level {
  parent: number[] = [];
  word: number[] = [];
  count: number[] = [];
  suffix: number[] = [];
  bos: boolean[] = [];
  readonly index = new Map<number, number>();
  constructor(private readonly W: number) {}
  get size(): number {
    return this.word.length;
  }
  key(parent: number, w: number): number {
    return parent * this.W + w;
  }
  find(parent: number, w: number): number | undefined {
    return this.index.get(parent * this.W + w);
  }
  add(parent: number, w: number, suffix: number, bos: boolean): number {
    const k = parent * this.W + w;
    let j = this.index.get(k);
    if (j === undefined) {
      // A JS Map holds at most 2^24 entries: say so instead of V8's "Map maximum size exceeded".
      if (this.word.length >= MAX_NGRAMS_PER_ORDER) throw new Error(`lm: more than ${MAX_NGRAMS_PER_ORDER} distinct n-grams of one order: lower --order or use less text`);
      j = this.word.length;
      this.index.set(k, j);
      this.parent.push(parent);
      this.word.push(w);
      this.count.push(0);
      this.suffix.push(suffix);
      this.bos.push(bos);
    }
    return j;
  }
}

/** Estimates the model from token id sentences (each id in 1..V-1). */
export function estimateKneserNey(sentences: readonly ArrayLike<number>[], opts: EstimateOptions): EstimateResult {
  const N = opts.order, V = opts.vocab, EOS = eosId(V), W = V + 1;
  if (!(Number.isInteger(N) && N >= 1 && N <= 16)) throw new Error(`lm: order must be an integer in 1..16, got ${N}`);
  if (!(Number.isInteger(V) && V >= 2)) throw new Error(`lm: vocabulary size must be >= 2, got ${V}`);
  let minCount = opts.minCount ?? 1;
  if (!(Number.isInteger(minCount) && minCount >= 1)) throw new Error(`lm: minCount must be an integer >= 1, got ${opts.minCount}`);
  if (sentences.length === 0) throw new Error("lm: no sentences to estimate from");

  // Raw counts of every n-gram (orders 1..N) ending at every position of every padded sentence.
  const levels = Array.from({ length: N }, () => new Level(W));
  let tokens = 0;
  const prev = new Array<number>(N + 1), cur = new Array<number>(N + 1);
  sentences.forEach((s, si) => {
    const len = s.length + 2;
    for (let i = 0; i < len; i++) {
      const w = i === 0 ? BOS : i === len - 1 ? EOS : s[i - 1];
      if (i > 0 && i < len - 1 && !(Number.isInteger(w) && w >= 1 && w < V)) throw new Error(`lm: sentence ${si}: token id ${w} outside 1..${V - 1}`);
      cur[1] = levels[0].add(0, w, -1, w === BOS);
      levels[0].count[cur[1]]++;
      for (let n = 2; n <= Math.min(N, i + 1); n++) {
        const L = levels[n - 1];
        cur[n] = L.add(prev[n - 1], w, cur[n - 1], levels[n - 2].bos[prev[n - 1]]);
        L.count[cur[n]]++;
      }
      for (let n = 1; n <= Math.min(N, i + 1); n++) prev[n] = cur[n];
    }
    tokens += s.length;
    if (opts.onProgress && ((si + 1) % 1000 === 0 || si + 1 === sentences.length)) opts.onProgress(si + 1, sentences.length);
  });
  for (let w = 1; w <= EOS; w++) levels[0].add(0, w, -1, false); // every word a unigram, count 0 if unseen

  // Adjusted counts: continuation counts below the highest order, except n-grams starting with <s>.
  const adj = levels.map((L, n) => {
    if (n === N - 1) return Float64Array.from(L.count);
    const a = new Float64Array(L.size);
    const up = levels[n + 1];
    for (let k = 0; k < up.size; k++) a[up.suffix[k]]++;
    for (let j = 0; j < L.size; j++) if (L.bos[j]) a[j] = L.count[j];
    return a;
  });

  // Discounts per order from the count-of-counts.
  const orders: OrderStats[] = levels.map((L, n) => {
    const nk: [number, number, number, number] = [0, 0, 0, 0];
    for (let j = 0; j < L.size; j++) {
      if (n === 0 && L.word[j] === BOS) continue;
      const a = adj[n][j];
      if (a >= 1 && a <= 4) nk[a - 1]++;
    }
    const { d, fallback } = modifiedKnDiscounts(nk);
    return { order: n + 1, ngrams: n === 0 ? L.size - 1 : L.size, kept: 0, countOfCounts: nk, discounts: d, fallback };
  });

  // Interpolated probabilities (float64), order by order.
  const prob = levels.map((L) => new Float64Array(L.size));
  for (let n = 0; n < N; n++) {
    const L = levels[n], a = adj[n], [d1, d2, d3] = orders[n].discounts;
    const nCtx = n === 0 ? 1 : levels[n - 1].size;
    const total = new Float64Array(nCtx), mass = new Float64Array(nCtx);
    const disc = (x: number) => (x <= 0 ? 0 : x === 1 ? d1 : x === 2 ? d2 : d3);
    for (let j = 0; j < L.size; j++) {
      if (n === 0 && L.word[j] === BOS) continue;
      total[L.parent[j]] += a[j];
      mass[L.parent[j]] += disc(a[j]);
    }
    const gamma = new Float64Array(nCtx);
    for (let c = 0; c < nCtx; c++) gamma[c] = total[c] > 0 ? mass[c] / total[c] : 1;
    for (let j = 0; j < L.size; j++) {
      if (n === 0 && L.word[j] === BOS) {
        prob[n][j] = 0;
        continue;
      }
      const c = L.parent[j];
      const lower = n === 0 ? 1 / V : prob[n - 1][L.suffix[j]];
      prob[n][j] = total[c] > 0 ? Math.max(a[j] - disc(a[j]), 0) / total[c] + gamma[c] * lower : lower;
    }
  }

  // Pruning: the threshold, raised until the file fits.
  const keptAt = (t: number) => levels.map((L, n) => (n === 0 ? L.size : L.count.reduce((s, c) => s + (c >= t ? 1 : 0), 0)));
  if (opts.maxBytes !== undefined) {
    const maxCount = Math.max(1, ...levels.slice(1).map((L) => L.count.reduce((m, c) => Math.max(m, c), 0)));
    while (encodedSize(keptAt(minCount), opts.headerBytes ?? 0) > opts.maxBytes) {
      if (minCount > maxCount) throw new Error(`lm: even the unigrams alone (${encodedSize(keptAt(minCount), opts.headerBytes ?? 0)} bytes) exceed the size limit of ${opts.maxBytes} bytes`);
      minCount++;
    }
  }
  const keep = levels.map((L, n) => L.count.map((c) => n === 0 || c >= minCount));
  for (let n = 1; n < N; n++) for (let j = 0; j < levels[n].size; j++) keep[n][j] = keep[n][j] && keep[n - 1][levels[n].parent[j]];

  // Backoff weights of the pruned model, renormalised (float64): contexts of order m need P of order m-1.
  const bow = levels.map((L) => new Float64Array(L.size).fill(1));
  const pBackoff = (n: number, ctx: number, w: number): number => {
    // P(w | the (n)-gram ctx) in the pruned backoff model; n = 0 is the empty context.
    if (n === 0) return prob[0][levels[0].find(0, w)!];
    const j = levels[n].find(ctx, w);
    if (j !== undefined && keep[n][j]) return prob[n][j];
    return bow[n - 1][ctx] * pBackoff(n - 1, n === 1 ? 0 : levels[n - 1].suffix[ctx], w);
  };
  for (let n = 1; n < N; n++) {
    const L = levels[n], ctxLevel = levels[n - 1];
    const num = new Float64Array(ctxLevel.size).fill(1), den = new Float64Array(ctxLevel.size).fill(1);
    for (let j = 0; j < L.size; j++) {
      if (!keep[n][j]) continue;
      const c = L.parent[j];
      num[c] -= prob[n][j];
      den[c] -= n === 1 ? prob[0][levels[0].find(0, L.word[j])!] : pBackoff(n - 1, ctxLevel.suffix[c], L.word[j]);
    }
    for (let c = 0; c < ctxLevel.size; c++) {
      // den <= 0: the context keeps every word, nothing is left to back off to (and num is 0 too).
      bow[n - 1][c] = den[c] > 1e-12 ? Math.max(num[c], 0) / den[c] : 1;
    }
  }

  // Sorted, re-indexed tables.
  const tables: NgramTables = { order: N, vocab: V, tables: [] };
  let newIndexPrev = new Uint32Array(0);
  for (let n = 0; n < N; n++) {
    const L = levels[n];
    const ids: number[] = [];
    for (let j = 0; j < L.size; j++) if (keep[n][j]) ids.push(j);
    const par = (j: number) => (n === 0 ? 0 : newIndexPrev[L.parent[j]]);
    ids.sort((x, y) => par(x) - par(y) || L.word[x] - L.word[y]);
    const newIndex = new Uint32Array(L.size);
    const t = { parent: new Uint32Array(ids.length), word: new Uint32Array(ids.length), logProb: new Float32Array(ids.length), backoff: new Float32Array(ids.length) };
    ids.forEach((j, i) => {
      newIndex[j] = i;
      t.parent[i] = par(j);
      t.word[i] = L.word[j];
      t.logProb[i] = n === 0 && L.word[j] === BOS ? -Infinity : Math.log10(prob[n][j]);
      t.backoff[i] = n === N - 1 ? 0 : Math.log10(bow[n][j]);
    });
    tables.tables.push(t);
    orders[n].kept = n === 0 ? ids.length - 1 : ids.length;
    newIndexPrev = newIndex;
  }
  return { tables, sentences: sentences.length, tokens, minCount, orders };
}
