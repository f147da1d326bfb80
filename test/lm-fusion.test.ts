// Shallow fusion of the n-gram LM in modified beam search (src/decode/decode.ts + src/lm/ngram.ts): weight 0
// changes nothing; a wide enough beam finds the best fused score of a brute-force enumeration of every
// alignment; an LM that strongly prefers one sequence makes the search pick it.
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { modifiedBeamSearch, type FusionOptions } from "../src/decode/decode.js";
import { estimateKneserNey } from "../src/lm/estimate.js";
import { NgramLm } from "../src/lm/ngram.js";
import { rng } from "./helpers.js";
import { tableModel } from "./table-model.js";

/** An LM over tokens 1..V-1 estimated from a few random sentences. */
function randomLm(V: number, seed: number, order: number): NgramLm {
  const r = rng(seed);
  const sents = Array.from({ length: 6 }, () => Array.from({ length: 1 + Math.floor(r() * 5) }, () => 1 + Math.floor(r() * (V - 1))));
  return new NgramLm(estimateKneserNey(sents, { order, vocab: V }).tables);
}

const logAdd = (a: number, b: number) => (a === -Infinity ? b : b === -Infinity ? a : Math.max(a, b) + Math.log1p(Math.exp(-Math.abs(a - b))));

/** Brute force: every alignment (blank or one token per frame), merged by label sequence, plus λ·LM. */
function bestFused(m: ReturnType<typeof tableModel>, T: number, f: FusionOptions<number>): { tokens: number[]; score: number } {
  const marg = new Map<string, number>();
  const walk = (t: number, tokens: number[], lp: number): void => {
    if (t === T) {
      const k = tokens.join(",");
      marg.set(k, logAdd(marg.get(k) ?? -Infinity, lp));
      return;
    }
    const row = m.lp(0, t, tokens);
    for (let k = 0; k < m.vocab; k++) walk(t + 1, k === 0 ? tokens : [...tokens, k], lp + row[k]);
  };
  walk(0, [], 0);
  let best = { tokens: [] as number[], score: -Infinity };
  for (const [k, ac] of marg) {
    const tokens = k ? k.split(",").map(Number) : [];
    const lmScore = (lm: FusionOptions<number>["lm"]) => {
      let s = lm.initial(), sum = 0;
      for (const w of tokens) {
        sum += lm.logProbs(s)[w];
        s = lm.advance(s, w);
      }
      return sum + (f.endOfSentence ? lm.endLogProb(s) : 0);
    };
    const score = ac + f.weight * lmScore(f.lm) - (f.lodr ? f.lodr.weight * lmScore(f.lodr.lm) : 0);
    if (score > best.score) best = { tokens, score };
  }
  return best;
}

describe("shallow fusion in modified beam search", () => {
  it("weight 0 gives exactly today's beam search (tokens, frames, scores)", () => {
    fc.assert(fc.property(fc.integer({ min: 2, max: 4 }), fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 4 }), fc.integer(), (V, T, beam, seed) => {
      const m = tableModel(V, 0, seed, 2);
      const lm = randomLm(V, seed, 3);
      const plain = modifiedBeamSearch(m, [T, Math.max(1, T - 1)], { beam });
      const fused = modifiedBeamSearch(m, [T, Math.max(1, T - 1)], { beam, fusion: { lm, weight: 0 } });
      expect(fused).toEqual(plain);
    }), { numRuns: 50 });
  });

  it("a beam wide enough finds the best fused score of all alignments (brute force), with and without </s>", () => {
    fc.assert(fc.property(fc.integer({ min: 2, max: 3 }), fc.integer({ min: 1, max: 4 }), fc.double({ min: 0.1, max: 2, noNaN: true }), fc.boolean(), fc.integer(), (V, T, weight, eos, seed) => {
      const m = tableModel(V, 0, seed, 2);
      const f: FusionOptions<number> = { lm: randomLm(V, seed ^ 0x55, 2), weight, endOfSentence: eos };
      const want = bestFused(m, T, f);
      const [got] = modifiedBeamSearch(m, [T], { beam: V ** T, fusion: f });
      expect(got.logProb).toBeCloseTo(want.score, 4); // float32 acoustic tables; sums in float64
      expect(got.tokens).toEqual(want.tokens);
    }), { numRuns: 60 });
  });

  it("LODR: a beam wide enough finds the best score with the low-order LM subtracted (brute force)", () => {
    fc.assert(fc.property(fc.integer({ min: 2, max: 3 }), fc.integer({ min: 1, max: 4 }), fc.double({ min: 0.1, max: 2, noNaN: true }), fc.double({ min: 0.05, max: 1, noNaN: true }), fc.boolean(), fc.integer(), (V, T, weight, low, eos, seed) => {
      const m = tableModel(V, 0, seed, 2);
      const f: FusionOptions<number> = { lm: randomLm(V, seed ^ 0x55, 3), weight, endOfSentence: eos, lodr: { lm: randomLm(V, seed ^ 0x77, 2), weight: low } };
      const want = bestFused(m, T, f);
      const [got] = modifiedBeamSearch(m, [T], { beam: V ** T, fusion: f });
      expect(got.logProb).toBeCloseTo(want.score, 4);
      expect(got.tokens).toEqual(want.tokens);
    }), { numRuns: 40 });
  });

  it("an LM that strongly prefers one sequence makes the search pick it", () => {
    const V = 3, T = 4, m = tableModel(V, 0, 7, 0.5); // a flat acoustic model
    const preferred = [2, 1, 2];
    const lm = new NgramLm(estimateKneserNey(Array.from({ length: 50 }, () => preferred), { order: 3, vocab: V }).tables);
    const [plain] = modifiedBeamSearch(m, [T], { beam: 4 });
    const [fused] = modifiedBeamSearch(m, [T], { beam: 4, fusion: { lm, weight: 3, endOfSentence: true } });
    expect(plain.tokens).not.toEqual(preferred);
    expect(fused.tokens).toEqual(preferred);
    expect(bestFused(m, T, { lm, weight: 3, endOfSentence: true }).tokens).toEqual(preferred);
  });
});
