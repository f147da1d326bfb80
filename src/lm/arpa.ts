// ARPA back-off n-gram text (the exchange format of SRILM, KenLM, kaldilm), read and written over the
// model's tokenizer. Browser-safe (strings in and out). Format as documented by SRILM's ngram-format(5):
//   \data\  /  ngram n=COUNT lines  /  \n-grams: sections of "log10prob w1 .. wn [log10backoff]"  /  \end\
//
// Words are the tokenizer's symbols, with one mapping: a char tokenizer's space " " (the word gap) is
// written "▁" (U+2581, the word-start marker of BPE pieces and SentencePiece), because ARPA separates
// words by whitespace. BPE pieces are written as they are ("▁THE", "S"). <s> and </s> are the sentence
// marks; <s> as a unigram is written with log10 -99 (never predicted). Reading: n-grams with <unk> or a
// word the tokenizer lacks are skipped and counted, and so are n-grams whose context was skipped (a
// word LM over a char tokenizer keeps little: the units must match). A malformed line is an error
// naming the line. Not here: estimation (estimate.ts), our binary file (format.ts).

import type { Tokenizer } from "../data/tokenizer.js";
import { BOS, checkTables, eosId, ngramWords, type NgramTables } from "./tables.js";

export const ARPA_SPACE = "\u2581";

export class ArpaError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ArpaError";
  }
}

/** The ARPA word of each id 0..V (0 = <s>, V = </s>). */
export function arpaWords(tokenizer: Tokenizer): string[] {
  const words = tokenizer.symbols.map((s, i) => (i === 0 ? "<s>" : tokenizer.type === "char" && s === " " ? ARPA_SPACE : s));
  words.push("</s>");
  return words;
}

const num = (x: number) => (x === -Infinity || x <= -99 ? "-99" : String(x));

/** ARPA text of the tables, words from the tokenizer. */
export function writeArpa(t: NgramTables, tokenizer: Tokenizer): string {
  if (tokenizer.size !== t.vocab) throw new ArpaError(`writeArpa: the tokenizer has ${tokenizer.size} symbols, the LM ${t.vocab}`);
  const names = arpaWords(tokenizer);
  const all = ngramWords(t);
  const out: string[] = ["", "\\data\\", ...t.tables.map((tab, n) => `ngram ${n + 1}=${tab.word.length}`)];
  t.tables.forEach((tab, n) => {
    out.push("", `\\${n + 1}-grams:`);
    for (let i = 0; i < tab.word.length; i++) {
      const words = all[n][i].map((w) => names[w]).join(" ");
      out.push(n < t.order - 1 ? `${num(tab.logProb[i])}\t${words}\t${num(tab.backoff[i])}` : `${num(tab.logProb[i])}\t${words}`);
    }
  });
  out.push("", "\\end\\", "");
  return out.join("\n");
}

export interface ArpaReadResult {
  tables: NgramTables;
  /** n-grams skipped: a word outside the tokenizer (or <unk>), or a skipped context. */
  skipped: number;
  /** The first few skipped words, for the message. */
  unknownWords: string[];
}

/** Parses ARPA text over the tokenizer; errors name `source` and the line. */
export function readArpa(text: string, tokenizer: Tokenizer, source = "<arpa>"): ArpaReadResult {
  const V = tokenizer.size;
  const ids = new Map(arpaWords(tokenizer).map((w, i) => [w, i]));
  const lines = text.split("\n");
  const fail = (line: number, msg: string): never => {
    throw new ArpaError(`${source} line ${line}: ${msg}`);
  };
  let i = 0;
  while (i < lines.length && lines[i].trim() !== "\\data\\") i++;
  if (i === lines.length) throw new ArpaError(`${source}: not an ARPA file (no \\data\\ line)`);
  i++;
  const declared: number[] = [];
  for (; i < lines.length; i++) {
    const l = lines[i].trim();
    if (l === "") continue;
    const m = /^ngram\s+(\d+)\s*=\s*(\d+)$/.exec(l);
    if (!m) break;
    if (Number(m[1]) !== declared.length + 1) fail(i + 1, `expected "ngram ${declared.length + 1}=COUNT", found "${l}"`);
    declared.push(Number(m[2]));
  }
  const N = declared.length;
  if (N === 0) fail(i + 1, `expected "ngram 1=COUNT" after \\data\\`);
  const tables: NgramTables = { order: N, vocab: V, tables: [] };
  let skipped = 0;
  const unknownWords = new Set<string>();
  let index = new Map<string, number>(); // word ids "a,b" of the previous order -> sorted index
  for (let n = 1; n <= N; n++) {
    while (i < lines.length && lines[i].trim() === "") i++;
    if (i >= lines.length || lines[i].trim() !== `\\${n}-grams:`) fail(Math.min(i, lines.length - 1) + 1, `expected "\\${n}-grams:"`);
    const sectionLine = i + 1;
    i++;
    const rows: { parent: number; word: number; lp: number; bo: number; key: string; line: number }[] = [];
    let seen = 0;
    for (; i < lines.length; i++) {
      const l = lines[i].trim();
      if (l === "") continue;
      if (l.startsWith("\\")) break;
      seen++;
      const f = l.split(/\s+/);
      if (f.length !== n + 1 && !(f.length === n + 2 && n < N)) fail(i + 1, `a ${n}-gram line needs a log10 probability, ${n} word${n > 1 ? "s" : ""}${n < N ? " and an optional backoff" : ""}; found ${f.length} fields`);
      const parse = (s: string) => (s === "-inf" || s === "-Infinity" ? -Infinity : /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(s) ? Number(s) : fail(i + 1, `"${s}" is not a number`));
      let lp = parse(f[0]);
      const bo = f.length === n + 2 ? parse(f[n + 1]) : 0;
      if (lp > 0 || bo === Infinity) fail(i + 1, `log10 probability ${f[0]} is above 0`);
      const w = f.slice(1, n + 1).map((s) => ids.get(s) ?? -1);
      const bad = f.slice(1, n + 1).find((s, k) => w[k] < 0);
      if (bad !== undefined) {
        skipped++;
        if (unknownWords.size < 5) unknownWords.add(bad);
        continue;
      }
      if (w.slice(1).includes(BOS) || w.slice(0, -1).includes(eosId(V))) fail(i + 1, "<s> may only start and </s> only end an n-gram");
      if (n === 1 && w[0] === BOS && lp <= -99) lp = -Infinity;
      let parent = 0;
      if (n > 1) {
        const p = index.get(w.slice(0, -1).join(","));
        if (p === undefined) {
          skipped++;
          continue;
        }
        parent = p;
      }
      rows.push({ parent, word: w[n - 1], lp, bo: bo === -Infinity ? -99 : bo, key: w.join(","), line: i + 1 });
    }
    if (seen !== declared[n - 1]) fail(sectionLine, `\\${n}-grams: has ${seen} entries, \\data\\ says ${declared[n - 1]}`);
    rows.sort((a, b) => a.parent - b.parent || a.word - b.word);
    for (let k = 1; k < rows.length; k++) if (rows[k].key === rows[k - 1].key) fail(rows[k].line, `duplicate ${n}-gram (first on line ${rows[k - 1].line})`);
    index = new Map(rows.map((r, k) => [r.key, k]));
    tables.tables.push({
      parent: Uint32Array.from(rows, (r) => r.parent), word: Uint32Array.from(rows, (r) => r.word),
      logProb: Float32Array.from(rows, (r) => r.lp), backoff: Float32Array.from(rows, (r) => (n < N ? r.bo : 0)),
    });
  }
  while (i < lines.length && lines[i].trim() === "") i++;
  if (i >= lines.length || lines[i].trim() !== "\\end\\") fail(Math.min(i, lines.length - 1) + 1, `expected "\\end\\"`);
  if (tables.tables[0].word.length === 0) throw new ArpaError(`${source}: none of its unigrams is a symbol of the tokenizer (${tokenizer.type}, ${V} symbols; first unknown: ${[...unknownWords].join(" ")})`);
  checkTables(tables, (msg) => {
    throw new ArpaError(`${source}: ${msg}`);
  });
  return { tables, skipped, unknownWords: [...unknownWords] };
}
