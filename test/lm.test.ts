// The n-gram LM (src/lm/): interpolated modified Kneser-Ney against a brute-force float64 reference
// written here from the formulas (Chen & Goodman 1998, ../shared/PAPERS.md), the file format and ARPA
// round trips, and the bad-input errors. The reference works on whole word-id strings and recomputes
// every count by enumeration; it shares no code with src/lm/estimate.ts.
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readManifest } from "../src/data/manifest.js";
import { makeCorpus } from "./corpus.js";
import { normalizeText } from "../src/data/normalize.js";
import { CharTokenizer, trainBpe, trainChar } from "../src/data/tokenizer.js";
import { estimateKneserNey } from "../src/lm/estimate.js";
import { decodeLm, encodeLm } from "../src/lm/format.js";
import { NgramLm } from "../src/lm/ngram.js";
import { readArpa, writeArpa } from "../src/lm/arpa.js";
import { buildRunLm, encodeLines, lmTrainingTexts } from "../src/lm/build.js";
import { ngramWords } from "../src/lm/tables.js";

/** Brute-force interpolated modified Kneser-Ney (float64) over ids 1..V-1, <s> = 0, </s> = V. */
function referenceKn(sents: number[][], N: number, V: number) {
  const key = (g: number[]) => g.join(" ");
  const c = new Map<string, number>();
  for (const s of sents) {
    const seq = [0, ...s, V];
    for (let i = 0; i < seq.length; i++) for (let n = 1; n <= Math.min(N, i + 1); n++) {
      const k = key(seq.slice(i - n + 1, i + 1));
      c.set(k, (c.get(k) ?? 0) + 1);
    }
  }
  const left = new Map<string, Set<number>>();
  for (const k of c.keys()) {
    const g = k.split(" ").map(Number);
    if (g.length < 2) continue;
    const sk = key(g.slice(1));
    if (!left.has(sk)) left.set(sk, new Set());
    left.get(sk)!.add(g[0]);
  }
  const adj = (g: number[]) => (g.length === N || g[0] === 0 ? c.get(key(g)) ?? 0 : left.get(key(g))?.size ?? 0);
  // Count-of-counts n1..n4 per order over the n-grams seen (the <s> unigram is never predicted).
  const nk = Array.from({ length: N }, () => [0, 0, 0, 0]);
  for (const k of c.keys()) {
    const g = k.split(" ").map(Number);
    if (g.length === 1 && g[0] === 0) continue;
    const a = adj(g);
    if (a >= 1 && a <= 4) nk[g.length - 1][a - 1]++;
  }
  const discounts = nk.map(([n1, n2, n3, n4]) => {
    let d = [0.5, 1, 1.5], fallback = true;
    if (n1 && n2 && n3 && n4) {
      const Y = n1 / (n1 + 2 * n2);
      d = [1 - (2 * Y * n2) / n1, 2 - (3 * Y * n3) / n2, 3 - (4 * Y * n4) / n3];
      fallback = false;
    }
    return { d: d.map((x, k) => Math.min(k + 1, Math.max(0.01, x))), fallback };
  });
  const D = (n: number, a: number) => (a === 0 ? 0 : discounts[n - 1].d[Math.min(a, 3) - 1]);
  /** p(w | h), h at most N-1 words. */
  const p = (w: number, h: number[]): number => {
    const n = h.length + 1;
    let S = 0, mass = 0;
    for (let v = 1; v <= V; v++) {
      const a = adj([...h, v]);
      S += a;
      mass += D(n, a);
    }
    const lower = h.length === 0 ? 1 / V : p(w, h.slice(1));
    if (S === 0) return lower;
    const a = adj([...h, w]);
    return Math.max(a - D(n, a), 0) / S + (mass / S) * lower;
  };
  const prob = (w: number, history: number[]) => p(w, history.slice(Math.max(0, history.length - (N - 1))));
  return { counts: c, nk, discounts, prob };
}

/** Every history to check: <s> then 0..N-1 tokens, and token strings of N-1 without <s>. */
function histories(N: number, V: number): number[][] {
  const out: number[][] = [];
  const grow = (h: number[], left: number) => {
    out.push(h);
    if (left > 0) for (let v = 1; v < V; v++) grow([...h, v], left - 1);
  };
  grow([0], N - 1);
  grow([], Math.min(N - 1, 3));
  return out;
}

const stateAfter = (lm: NgramLm, h: number[]) => {
  let s = h[0] === 0 ? lm.initial() : 0;
  for (const w of h[0] === 0 ? h.slice(1) : h) s = lm.advance(s, w);
  return s;
};

const sumProbs = (lm: NgramLm, s: number) => {
  const lp = lm.logProbs(s);
  let sum = 0;
  for (let w = 1; w <= lm.vocab; w++) sum += Math.exp(lp[w]);
  return sum;
};

const TEXT = [[1, 2, 3, 1, 2], [2, 3, 3, 1], [1, 2, 1, 2, 3, 3, 2], [3, 1], [1, 1, 1, 2], [2, 2, 3, 1, 2, 3], [1]];

// log-probs are stored as float32 log10: relative 6e-8 per stored value, a few values per query.
const LP_TOL = 2e-5;

describe("modified Kneser-Ney estimation", () => {
  it("equals the brute-force reference for every context, and every context sums to 1 over V words", () => {
    for (const N of [1, 2, 3, 4]) {
      const V = 4;
      const ref = referenceKn(TEXT, N, V);
      const { tables, orders } = estimateKneserNey(TEXT, { order: N, vocab: V });
      const lm = new NgramLm(tables);
      orders.forEach((o, n) => {
        expect(o.countOfCounts).toEqual(ref.nk[n]);
        expect(o.fallback).toBe(ref.discounts[n].fallback);
        o.discounts.forEach((d, k) => expect(d).toBeCloseTo(ref.discounts[n].d[k], 12));
      });
      for (const h of histories(N, V)) {
        const s = stateAfter(lm, h), lp = lm.logProbs(s);
        for (let w = 1; w <= V; w++) {
          expect(Math.abs(lp[w] - Math.log(ref.prob(w, h)))).toBeLessThan(LP_TOL);
          expect(Math.abs(lm.logProb(s, w) - lp[w])).toBeLessThan(1e-5); // walk and vector agree
        }
        expect(Math.abs(sumProbs(lm, s) - 1)).toBeLessThan(1e-5);
      }
    }
  });

  it("discounts follow the count-of-counts formulas on 300 shipped sentences (no fallback)", () => {
    const lines = readFileSync("data/text/sentences.txt", "utf8").split("\n").slice(0, 300).map(normalizeText).filter(Boolean);
    const tok = trainChar(lines);
    const sents = lines.map((w) => tok.encode(w));
    const r = estimateKneserNey(sents, { order: 3, vocab: tok.size });
    const ref = referenceKn(sents, 3, tok.size);
    for (const [n, o] of r.orders.entries()) {
      const [n1, n2, n3, n4] = o.countOfCounts;
      expect(o.countOfCounts).toEqual(ref.nk[n]);
      expect(o.fallback).toBe(o.countOfCounts.includes(0)); // the character unigrams: few have 1-4 left contexts
      if (n > 0) expect(o.fallback).toBe(false);
      if (o.fallback) continue;
      const Y = n1 / (n1 + 2 * n2);
      expect(o.discounts[0]).toBeCloseTo(Math.max(0.01, 1 - (2 * Y * n2) / n1), 12);
      expect(o.discounts[1]).toBeCloseTo(Math.max(0.01, 2 - (3 * Y * n3) / n2), 12);
      expect(o.discounts[2]).toBeCloseTo(Math.max(0.01, 3 - (4 * Y * n4) / n3), 12);
    }
  });

  it("a count-of-counts of 0 uses the stated fallback (0.5, 1, 1.5) and the model still sums to 1", () => {
    const r = estimateKneserNey([[1, 2]], { order: 2, vocab: 3 }); // every count is 1: n2 = n3 = n4 = 0
    for (const o of r.orders) {
      expect(o.fallback).toBe(true);
      expect(o.discounts).toEqual([0.5, 1, 1.5]);
    }
    const lm = new NgramLm(r.tables), ref = referenceKn([[1, 2]], 2, 3);
    for (const h of histories(2, 3)) {
      const s = stateAfter(lm, h);
      expect(Math.abs(sumProbs(lm, s) - 1)).toBeLessThan(1e-5);
      for (let w = 1; w <= 3; w++) expect(Math.abs(lm.logProbs(s)[w] - Math.log(ref.prob(w, h)))).toBeLessThan(LP_TOL);
    }
  });

  it("pruned by count: kept n-grams keep their interpolated probability, every context still sums to 1", () => {
    const N = 3, V = 4;
    const full = estimateKneserNey(TEXT, { order: N, vocab: V });
    const pruned = estimateKneserNey(TEXT, { order: N, vocab: V, minCount: 2 });
    expect(pruned.tables.tables[2].word.length).toBeLessThan(full.tables.tables[2].word.length);
    const lm = new NgramLm(pruned.tables), ref = referenceKn(TEXT, N, V);
    for (const h of histories(N, V)) expect(Math.abs(sumProbs(lm, stateAfter(lm, h)) - 1)).toBeLessThan(1e-5);
    ngramWords(pruned.tables).forEach((grams, n) => grams.forEach((g, i) => {
      if (g.length === 1 && g[0] === 0) return;
      expect(pruned.tables.tables[n].logProb[i] * Math.LN10).toBeCloseTo(Math.log(ref.prob(g[n], g.slice(0, n))), 5);
    }));
  });

  it("property: random small texts, orders 1-4, with and without pruning, equal the reference / sum to 1", () => {
    fc.assert(fc.property(
      fc.integer({ min: 3, max: 5 }), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 3 }),
      fc.array(fc.array(fc.integer({ min: 1, max: 4 }), { maxLength: 9 }), { minLength: 1, maxLength: 8 }),
      (V, N, minCount, raw) => {
        const sents = raw.map((s) => s.map((w) => 1 + ((w - 1) % (V - 1))));
        const ref = referenceKn(sents, N, V);
        const lm = new NgramLm(estimateKneserNey(sents, { order: N, vocab: V }).tables);
        const lmP = new NgramLm(estimateKneserNey(sents, { order: N, vocab: V, minCount }).tables);
        for (const h of histories(N, V)) {
          const s = stateAfter(lm, h), lp = lm.logProbs(s);
          for (let w = 1; w <= V; w++) if (Math.abs(lp[w] - Math.log(ref.prob(w, h))) > LP_TOL) return false;
          if (Math.abs(sumProbs(lm, s) - 1) > 1e-5 || Math.abs(sumProbs(lmP, stateAfter(lmP, h)) - 1) > 1e-5) return false;
        }
        return true;
      }), { numRuns: 60 });
  });

  it("--max-mb: the threshold rises until the file fits", () => {
    const sents = Array.from({ length: 200 }, (_, i) => Array.from({ length: 12 }, (_, j) => 1 + ((i * 7 + j * j * 3 + ((i * j) % 5)) % 9)));
    const full = encodeLm(estimateKneserNey(sents, { order: 4, vocab: 10 }).tables, new CharTokenizer(["<blank>", ..."ABCDEFGHI"]).toJSON());
    const limit = Math.floor(full.length / 2);
    const r = estimateKneserNey(sents, { order: 4, vocab: 10, maxBytes: limit, headerBytes: 200 });
    expect(r.minCount).toBeGreaterThan(1);
    const bytes = encodeLm(r.tables, new CharTokenizer(["<blank>", ..."ABCDEFGHI"]).toJSON());
    expect(bytes.length).toBeLessThanOrEqual(limit);
    const lm = new NgramLm(r.tables);
    for (const h of histories(3, 10).slice(0, 200)) expect(Math.abs(sumProbs(lm, stateAfter(lm, h)) - 1)).toBeLessThan(1e-5);
  });
});

describe("LM files and ARPA", () => {
  const tok = new CharTokenizer(["<blank>", " ", "A", "B", "C"]);
  const texts = ["AB C", "CAB", "A B C A", "BBC A", "C"];
  const built = () => buildRunLm(texts, tok, { order: 3 });

  it("ours -> bytes -> ours is exact; ours -> ARPA -> ours gives the same probabilities", () => {
    const { bytes, estimate } = built();
    const back = decodeLm(bytes, "x.tlm");
    expect(back.tables).toEqual(estimate.tables);
    expect(back.header.tokenizer).toEqual(tok.toJSON());
    const arpa = writeArpa(estimate.tables, tok);
    expect(arpa).toContain("\u2581"); // the char tokenizer's space is written as U+2581
    const r = readArpa(arpa, tok, "x.arpa");
    expect(r.skipped).toBe(0);
    expect(r.tables).toEqual(estimate.tables);
    const a = new NgramLm(estimate.tables), b = new NgramLm(r.tables);
    for (const h of histories(3, tok.size)) expect(Array.from(b.logProbs(stateAfter(b, h)))).toEqual(Array.from(a.logProbs(stateAfter(a, h))));
  });

  it("ARPA round trip with a BPE tokenizer (pieces written as they are)", () => {
    const bpe = trainBpe(["THE CAT SAT", "THE HAT", "A CAT"], 14);
    const r = buildRunLm(["THE CAT SAT", "THE HAT SAT", "A CAT"], bpe, { order: 2 });
    expect(readArpa(writeArpa(r.estimate.tables, bpe), bpe).tables).toEqual(r.estimate.tables);
  });

  it("an ARPA file from another tool (hand-written) scores by the backoff rule", () => {
    const arpa = ["\\data\\", "ngram 1=5", "ngram 2=2", "", "\\1-grams:", "-99 <s> -0.3", "-0.5 A -0.2", "-0.6 B", "-0.7\tC", "-1.0 </s>",
      "", "\\2-grams:", "-0.1 <s> A", "-0.2 A B", "", "\\end\\"].join("\n");
    const lm = new NgramLm(readArpa(arpa, new CharTokenizer(["<blank>", "A", "B", "C"])).tables);
    const s = lm.initial();
    expect(lm.logProb(s, 1)).toBeCloseTo(-0.1 * Math.LN10, 6);
    expect(lm.logProb(s, 2)).toBeCloseTo((-0.3 - 0.6) * Math.LN10, 6);
    const sA = lm.advance(s, 1);
    expect(lm.logProb(sA, 2)).toBeCloseTo(-0.2 * Math.LN10, 6);
    expect(lm.logProb(sA, 4)).toBeCloseTo((-0.2 - 1.0) * Math.LN10, 6); // bow(A) + p(</s>)
  });
});

describe("LM bad input", () => {
  const tok = new CharTokenizer(["<blank>", " ", "A", "B", "C"]);
  const bytes = buildRunLm(["AB C", "CAB"], tok, { order: 2 }).bytes;
  it("truncated, foreign, future-version files: one-line errors naming the file", () => {
    expect(() => NgramLm.fromBytes(bytes.subarray(0, bytes.length - 3), "lm.tlm")).toThrow(/^lm\.tlm: truncated: \d+ bytes, the header's counts need \d+$/);
    expect(() => NgramLm.fromBytes(bytes.subarray(0, 10), "lm.tlm")).toThrow(/lm\.tlm: truncated/);
    expect(() => NgramLm.fromBytes(new TextEncoder().encode("PK\u0003\u0004 something else entirely"), "x.zip")).toThrow(/x\.zip: not a todm LM file \(wrong magic\)/);
    expect(() => NgramLm.fromBytes(new TextEncoder().encode("\n\\data\\\nngram 1=3\n"), "x.arpa")).toThrow(/looks like ARPA/);
    const future = bytes.slice();
    new DataView(future.buffer).setUint32(8, 2, true);
    expect(() => NgramLm.fromBytes(future, "lm.tlm")).toThrow(/lm\.tlm: LM format version 2 is newer than what this todm reads \(1\)/);
    const { tables, header } = decodeLm(bytes);
    tables.tables[1].word[0] = 99; // out of range, and out of order
    expect(() => NgramLm.fromBytes(encodeLm(tables, header.tokenizer), "lm.tlm")).toThrow(/^lm\.tlm: corrupt n-gram tables: 2-gram 0: word id 99 outside 0\.\.5$/);
  });

  it("an LM built for another tokenizer is refused when loaded with the model's", () => {
    const other = new CharTokenizer(["<blank>", " ", "A", "B", "D"]);
    expect(() => NgramLm.fromBytes(bytes, "lm.tlm", other)).toThrow(/^lm\.tlm: built for a different tokenizer \(char tokenizer of 5 symbols\) than the model's \(char tokenizer of 5 symbols\)/);
    expect(() => NgramLm.fromBytes(bytes, "lm.tlm", tok)).not.toThrow();
  });

  it("ARPA with a malformed line: the error names the line number", () => {
    const good = writeArpa(decodeLm(bytes).tables, tok).split("\n");
    const at = good.findIndex((l) => l.startsWith("\\2-grams:")) + 1;
    const bad = [...good];
    bad[at] = "-0.5 A"; // a 2-gram line with one word
    expect(() => readArpa(bad.join("\n"), tok, "x.arpa")).toThrow(new RegExp(`^x\\.arpa line ${at + 1}: a 2-gram line needs`));
    const bad2 = [...good];
    bad2[at] = bad2[at].replace(/^\S+/, "abc");
    expect(() => readArpa(bad2.join("\n"), tok, "x.arpa")).toThrow(new RegExp(`^x\\.arpa line ${at + 1}: "abc" is not a number`));
    const bad3 = good.filter((_, i) => i !== at);
    expect(() => readArpa(bad3.join("\n"), tok, "x.arpa")).toThrow(/x\.arpa line \d+: \\2-grams: has \d+ entries, \\data\\ says \d+/);
    expect(() => readArpa("hello\n", tok, "x.arpa")).toThrow(/x\.arpa: not an ARPA file/);
  });

  it("text lines with characters outside the tokenizer are skipped and counted", () => {
    const r = encodeLines(["ab c", "a x b", "", "ça", "cab"], tok, (i) => `t.txt:${i + 1}`);
    expect(r.sentences.length).toBe(3); // "ça" normalises to "CA"
    expect(r.skipped).toBe(1);
    expect(r.skippedExamples).toEqual(["t.txt:2: 'X' (U+0058)"]);
    expect(r.empty).toBe(1);
  });
});

describe("the run's LM text", () => {
  it("from manifests whose sentences overlap: no valid or test sentence reaches the LM", () => {
    const dir = mkdtempSync(join(tmpdir(), "todm-lmtext-"));
    const { train, valid } = makeCorpus(dir); // six words in random order: train and valid share sentences
    const texts = (p: string) => readManifest(p).map((e) => e.text);
    const trainTexts = texts(train), validTexts = texts(valid);
    const shared = trainTexts.filter((t) => validTexts.includes(t));
    expect(shared.length).toBeGreaterThan(0);
    const tok = trainChar(trainTexts);
    const run = buildRunLm(trainTexts, tok, { order: 3, heldOut: [validTexts] });
    expect(run.dropped).toBe(shared.length);
    const only = trainTexts.filter((t) => !validTexts.includes(t));
    expect(run.estimate.sentences).toBe(only.length);
    expect(run.estimate.tables).toEqual(buildRunLm(only, tok, { order: 3 }).estimate.tables);
  });

  it("is the training text only: sentences also in valid or test are left out", () => {
    const train = ["A B", "B C", "C A B", "a  b", "C C"];
    const valid = ["C A B"], test = ["A B.", "X"];
    const { texts, dropped } = lmTrainingTexts(train, [valid, test]);
    expect(texts).toEqual(["B C", "C C"]); // "a  b" and "A B." normalise to "A B"
    expect(dropped).toBe(3);
    const tok = new CharTokenizer(["<blank>", " ", "A", "B", "C"]);
    const run = buildRunLm(train, tok, { order: 3, heldOut: [valid, test] });
    expect(run.estimate.tables).toEqual(buildRunLm(["B C", "C C"], tok, { order: 3 }).estimate.tables);
    expect(run.estimate.sentences).toBe(2);
  });
});
