// Scoring with a backoff n-gram LM (tables.ts) during decoding. Browser-safe: todm/infer can load the
// same bytes. Not here: estimation (estimate.ts), the file layout (format.ts), ARPA (arpa.ts).
//
//   const lm = NgramLm.fromBytes(bytes, "lm.tlm", tokenizer);  // refuses another tokenizer's LM
//   let s = lm.initial();                                     // after <s>
//   const lp = lm.logProbs(s);   // Float32Array [V + 1]: ln P(k | history) for tokens k, [V] = </s>, [0] = 0
//   s = lm.advance(s, k);
//
// A state is a number: 0 is the empty context, otherwise one stored n-gram (of order <= N - 1), the
// longest stored suffix of the history (as KenLM's state). The backoff query (ARPA semantics):
//   P(w | h) = p(h w) if h w is stored, else bow(h) P(w | h'), h' the longest stored proper suffix of h;
// below the unigrams a word the model lacks gets log10 -99 (ARPA's "impossible"; never for our own
// models, which store every token). Equal token sequences reach equal states, so hypotheses merged
// by their token sequence also agree on the LM state. logProbs builds the whole vector of a state from
// its suffix's (one pass over the state's children), cached per state: a beam search asks for few
// states many times.

import { tokenizerFromJSON, type Tokenizer, type TokenizerJSON } from "../data/tokenizer.js";
import { decodeLm, LmFileError, type LmHeader } from "./format.js";
import { eosId, type NgramTables } from "./tables.js";

const LN10 = Math.LN10;
/** log10 of a word the model does not have (ARPA's -99). */
export const MISSING_LOG10 = -99;

export class NgramLm {
  readonly order: number;
  /** The tokenizer's size V; </s> is V. */
  readonly vocab: number;
  readonly header?: LmHeader;
  private readonly t: NgramTables;
  /** childStart[n][i]..childStart[n][i+1]: the children (order n+2) of n-gram i of order n+1. */
  private readonly childStart: Uint32Array[];
  /** State ids: the n-grams of order n+1 are offsets[n] + 1 + index. */
  private readonly offsets: number[];
  /** Per order, each n-gram's longest stored proper suffix, as a state id. */
  private readonly suffix: Int32Array[];
  private readonly cache = new Map<number, Float32Array>();
  private readonly bos: number;

  constructor(tables: NgramTables, header?: LmHeader) {
    this.t = tables;
    this.order = tables.order;
    this.vocab = tables.vocab;
    this.header = header;
    const T = tables.tables;
    this.offsets = [];
    let off = 0;
    for (const tab of T) {
      this.offsets.push(off);
      off += tab.word.length;
    }
    this.childStart = T.slice(0, -1).map((tab, n) => {
      const kids = T[n + 1], cs = new Uint32Array(tab.word.length + 1);
      for (let i = 0; i < kids.parent.length; i++) cs[kids.parent[i] + 1]++;
      for (let i = 0; i < tab.word.length; i++) cs[i + 1] += cs[i];
      return cs;
    });
    this.suffix = T.map((tab) => new Int32Array(tab.word.length));
    for (let n = 1; n < T.length; n++) {
      const tab = T[n];
      for (let i = 0; i < tab.word.length; i++) {
        let x = n === 1 ? 0 : this.suffix[n - 1][tab.parent[i]];
        for (;;) {
          const c = this.child(x, tab.word[i]);
          if (c >= 0 || x === 0) {
            this.suffix[n][i] = Math.max(c, 0);
            break;
          }
          x = this.suffixOf(x);
        }
      }
    }
    this.bos = Math.max(this.child(0, 0), 0);
  }

  /** Loads and checks file bytes; with `tokenizer`, refuses an LM built for another tokenizer. */
  static fromBytes(bytes: Uint8Array, source: string, tokenizer?: Tokenizer): NgramLm {
    const { tables, header } = decodeLm(bytes, source);
    if (tokenizer) checkLmTokenizer(header.tokenizer, tokenizer, source);
    return new NgramLm(tables, header);
  }

  /** The tokenizer the LM was built over. */
  tokenizer(): Tokenizer {
    if (!this.header) throw new Error("lm: no header (built from tables)");
    return tokenizerFromJSON(this.header.tokenizer);
  }

  get tables(): NgramTables {
    return this.t;
  }

  private orderOf(state: number): number {
    let n = this.offsets.length - 1;
    while (n > 0 && state <= this.offsets[n]) n--;
    return n; // 0-based: the table holding the state
  }

  private suffixOf(state: number): number {
    const n = this.orderOf(state);
    return n === 0 ? 0 : this.suffix[n][state - 1 - this.offsets[n]];
  }

  /** The state of n-gram (state's words, w) if stored, else -1. */
  private child(state: number, w: number): number {
    let lo: number, hi: number, n: number;
    if (state === 0) {
      n = 0;
      lo = 0;
      hi = this.t.tables[0].word.length;
    } else {
      const m = this.orderOf(state);
      if (m + 1 >= this.t.tables.length) return -1;
      const i = state - 1 - this.offsets[m];
      n = m + 1;
      lo = this.childStart[m][i];
      hi = this.childStart[m][i + 1];
    }
    const words = this.t.tables[n].word;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (words[mid] < w) lo = mid + 1;
      else hi = mid;
    }
    return lo < this.t.tables[n].word.length && words[lo] === w && (n === 0 || this.t.tables[n].parent[lo] === state - 1 - this.offsets[n - 1]) ? this.offsets[n] + 1 + lo : -1;
  }

  private entry(state: number): { n: number; i: number } {
    const n = this.orderOf(state);
    return { n, i: state - 1 - this.offsets[n] };
  }

  /** The state after <s> (the empty context if the LM has no <s>). */
  initial(): number {
    return this.bos;
  }

  /** ln P(w | state), w in 1..V (V = </s>). */
  logProb(state: number, w: number): number {
    let acc = 0;
    for (let x = state; ; x = this.suffixOf(x)) {
      const c = this.child(x, w);
      if (c >= 0) {
        const { n, i } = this.entry(c);
        return acc + this.t.tables[n].logProb[i] * LN10;
      }
      if (x === 0) return acc + MISSING_LOG10 * LN10;
      const { n, i } = this.entry(x);
      acc += this.t.tables[n].backoff[i] * LN10;
    }
  }

  /** ln P(</s> | state). */
  endLogProb(state: number): number {
    return this.logProb(state, eosId(this.vocab));
  }

  /** The state after w. */
  advance(state: number, w: number): number {
    for (let x = state; ; x = this.suffixOf(x)) {
      const c = this.child(x, w);
      if (c >= 0) return this.orderOf(c) < this.order - 1 ? c : this.suffixOf(c);
      if (x === 0) return 0;
    }
  }

  /** ln P(k | state) for k = 0..V ([0], the blank, is 0; [V] is </s>); cached, do not modify. */
  logProbs(state: number): Float32Array {
    const hit = this.cache.get(state);
    if (hit) return hit;
    const V = this.vocab, vec = new Float32Array(V + 1);
    const T = this.t.tables;
    let lo: number, hi: number, n: number;
    if (state === 0) {
      vec.fill(MISSING_LOG10 * LN10);
      [n, lo, hi] = [0, 0, T[0].word.length];
    } else {
      vec.set(this.logProbs(this.suffixOf(state)));
      const e = this.entry(state);
      const b = T[e.n].backoff[e.i] * LN10;
      for (let k = 0; k <= V; k++) vec[k] += b;
      if (e.n + 1 >= T.length) [n, lo, hi] = [0, 0, 0];
      else [n, lo, hi] = [e.n + 1, this.childStart[e.n][e.i], this.childStart[e.n][e.i + 1]];
    }
    const words = T[n]?.word, lp = T[n]?.logProb;
    for (let j = lo; j < hi; j++) vec[words[j]] = lp[j] * LN10;
    vec[0] = 0;
    if (this.cache.size * (V + 1) > 4_000_000) this.cache.clear();
    this.cache.set(state, vec);
    return vec;
  }

  /** ln P of a whole sentence of token ids, </s> included. */
  sentenceLogProb(tokens: ArrayLike<number>): number {
    let s = this.initial(), sum = 0;
    for (let i = 0; i < tokens.length; i++) {
      sum += this.logProb(s, tokens[i]);
      s = this.advance(s, tokens[i]);
    }
    return sum + this.endLogProb(s);
  }
}

/** Throws unless the LM's tokenizer is exactly the model's (same type, symbols and merges). */
export function checkLmTokenizer(lmTok: TokenizerJSON, modelTok: Tokenizer, source: string): void {
  const a = JSON.stringify(lmTok), b = JSON.stringify(modelTok.toJSON());
  if (a !== b) {
    const d = (t: { type?: string; symbols?: unknown[] }) => `${t.type} tokenizer of ${t.symbols?.length} symbols`;
    throw new LmFileError(source, `built for a different tokenizer (${d(lmTok)}) than the model's (${d(modelTok.toJSON())})`, "build the LM with todm lm --model MODEL");
  }
}
