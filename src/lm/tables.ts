// The n-gram tables of a backoff language model: what the estimator (estimate.ts) produces, the file
// format (format.ts) and ARPA (arpa.ts) store, and the scorer (ngram.ts) reads. Browser-safe.
//
// Word ids: the model's tokenizer ids, with two of their own: 0 is <s> (the RNN-T blank's id, which
// never occurs in text) and V (the tokenizer's size) is </s>. The words an LM predicts are 1..V (the
// tokens and </s>); <s> is only a context. An n-gram of order n is stored once, in the table of order
// n, as (parent, word): parent is the index of its first n-1 words in the table of order n-1 (0 for
// order 1). Each table is sorted by (parent, word), so an n-gram's children are one contiguous run
// (binary search by word). Every n-gram's context (its parent) is stored: the tables are prefix-closed.
// Probabilities and backoff weights are log10, as in ARPA; the scorer turns them into natural logs.
// Not here: estimation, scoring, bytes.

export interface NgramTable {
  /** Index of the first n-1 words in the table of order n-1 (order 1: all 0). */
  parent: Uint32Array;
  word: Uint32Array;
  /** log10 P(word | context); -Infinity for <s> (never predicted). */
  logProb: Float32Array;
  /** log10 backoff weight of this n-gram as a context (0 in the highest order). */
  backoff: Float32Array;
}

export interface NgramTables {
  order: number;
  /** The tokenizer's size V: ids 1..V-1 are tokens, 0 is <s>, V is </s>. */
  vocab: number;
  /** tables[n - 1] holds the n-grams. */
  tables: NgramTable[];
}

export const BOS = 0;
export const eosId = (vocab: number) => vocab;

/** Checks ranges and sort order; `fail(msg)` throws the caller's error. */
export function checkTables(t: NgramTables, fail: (msg: string) => never): void {
  if (!(Number.isInteger(t.order) && t.order >= 1 && t.order === t.tables.length)) fail(`order ${t.order} does not match ${t.tables.length} tables`);
  t.tables.forEach((tab, n) => {
    const count = tab.word.length, prev = n > 0 ? t.tables[n - 1].word.length : 1;
    if (tab.parent.length !== count || tab.logProb.length !== count || tab.backoff.length !== count) fail(`table of order ${n + 1}: arrays of different lengths`);
    for (let i = 0; i < count; i++) {
      if (tab.word[i] > t.vocab) fail(`${n + 1}-gram ${i}: word id ${tab.word[i]} outside 0..${t.vocab}`);
      if (tab.parent[i] >= prev) fail(`${n + 1}-gram ${i}: parent ${tab.parent[i]} outside the ${n}-grams`);
      if (i > 0 && (tab.parent[i] < tab.parent[i - 1] || (tab.parent[i] === tab.parent[i - 1] && tab.word[i] <= tab.word[i - 1]))) {
        fail(`${n + 1}-grams not sorted by (context, word) at ${i}`);
      }
    }
  });
}

/** The word ids of every n-gram of every order (for ARPA and tests): words[n-1][i]. */
export function ngramWords(t: NgramTables): number[][][] {
  const out: number[][][] = [];
  t.tables.forEach((tab, n) => {
    out.push(Array.from(tab.word, (w, i) => (n === 0 ? [w] : [...out[n - 1][tab.parent[i]], w])));
  });
  return out;
}
