// WER (src/eval/wer.ts): the alignment against brute-force enumeration of every edit script on tiny word
// sequences, hand-counted examples, the bootstrap interval against the delta-method normal
// approximation of a ratio estimator's standard error, and the paired bootstrap against every resample
// of a tiny corpus enumerated and against the same resampling indices drawn here by test/helpers.ts's own
// generator.
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { alignTexts, alignWords, bootstrapInterval, charErrors, corpusScore, pairedBootstrap, scoreUtterances, type ErrorCount, type UtteranceScore } from "../src/eval/wer.js";
import { normalizeText } from "../src/data/normalize.js";
import { rng } from "./helpers.js";

/** Every edit script turning ref into hyp: the set of (sub, ins, del) triples of least total cost. */
function bruteForce(ref: string[], hyp: string[]): { cost: number; triples: Set<string> } {
  let best = Infinity;
  const triples = new Set<string>();
  const walk = (i: number, j: number, s: number, ins: number, del: number): void => {
    if (s + ins + del > best) return;
    if (i === ref.length && j === hyp.length) {
      const c = s + ins + del;
      if (c < best) {
        best = c;
        triples.clear();
      }
      triples.add(`${s},${ins},${del}`);
      return;
    }
    if (i < ref.length && j < hyp.length) walk(i + 1, j + 1, s + (ref[i] === hyp[j] ? 0 : 1), ins, del);
    if (i < ref.length) walk(i + 1, j, s, ins, del + 1);
    if (j < hyp.length) walk(i, j + 1, s, ins + 1, del);
  };
  walk(0, 0, 0, 0, 0);
  return { cost: best, triples };
}

const words = fc.array(fc.constantFrom("a", "b", "c"), { maxLength: 5 });

describe("word alignment", () => {
  it("has the least cost of all edit scripts, a valid alignment, and one of the optimal S/I/D splits (brute force)", () => {
    fc.assert(
      fc.property(words, words, (ref, hyp) => {
        const a = alignWords(ref, hyp);
        const bf = bruteForce(ref, hyp);
        expect(a.errors).toBe(bf.cost);
        expect(bf.triples.has(`${a.sub},${a.ins},${a.del}`)).toBe(true);
        // The alignment spells out both sequences and agrees with its counts.
        expect(a.alignment.filter((s) => s.op !== "ins").map((s) => s.ref)).toEqual(ref);
        expect(a.alignment.filter((s) => s.op !== "del").map((s) => s.hyp)).toEqual(hyp);
        for (const s of a.alignment) {
          if (s.op === "ok") expect(s.ref).toBe(s.hyp);
          if (s.op === "sub") expect(s.ref).not.toBe(s.hyp);
        }
        expect(a.alignment.filter((s) => s.op === "sub").length).toBe(a.sub);
        expect(a.alignment.filter((s) => s.op === "ins").length).toBe(a.ins);
        expect(a.alignment.filter((s) => s.op === "del").length).toBe(a.del);
        expect(a.words).toBe(ref.length);
      }),
      { numRuns: 400 },
    );
  });

  it("counts hand-checked examples, after normalising both sides", () => {
    const a = alignTexts("The cat sat on the mat.", "the cat sit on mat");
    expect([a.sub, a.ins, a.del, a.words]).toEqual([1, 0, 1, 6]);
    expect(a.alignment.map((s) => s.op)).toEqual(["ok", "ok", "sub", "ok", "del", "ok"]);
    expect(alignTexts("Don't stop, U.S.A!", "DON'T STOP USA").errors).toBe(0);
    const ins = alignTexts("hello", "oh hello there");
    expect([ins.sub, ins.ins, ins.del]).toEqual([0, 2, 0]);
    expect(alignTexts("", "").errors).toBe(0);
    expect(alignTexts("", "word").ins).toBe(1);
    expect(alignTexts("two words", "").del).toBe(2);
    // Ties: two substitutions rather than a deletion and an insertion (the documented preference).
    const tie = alignWords(["a", "b"], ["b", "c"]);
    expect([tie.sub, tie.ins, tie.del]).toEqual([2, 0, 0]);
  });

  it("corpus WER is total errors over total reference words, not a mean of utterance WERs", () => {
    const s = scoreUtterances([
      { ref: "one two three four", hyp: "one two three four" },
      { ref: "five", hyp: "six seven" },
    ]);
    expect([s.sub, s.ins, s.del, s.words, s.errors, s.utterances]).toEqual([1, 1, 0, 5, 2, 2]);
    expect(s.wer).toBeCloseTo(40, 12); // 2 / 5, exact up to float rounding
  });
});

/** n utterances of 3..17 words, each word wrong with probability p. */
function fakeScores(n: number, p: number, seed: number): UtteranceScore[] {
  const r = rng(seed);
  return Array.from({ length: n }, () => {
    const words = 3 + Math.floor(r() * 15);
    let sub = 0;
    for (let k = 0; k < words; k++) if (r() < p) sub++;
    const ins = r() < p ? 1 : 0;
    return { sub, ins, del: 0, words, errors: sub + ins };
  });
}

describe("bootstrap interval", () => {
  it("contains the point estimate, is seeded, and shrinks with more data", () => {
    const small = fakeScores(40, 0.15, 1), large = fakeScores(1000, 0.15, 2);
    for (const [data, seed] of [[small, 0], [small, 7], [large, 3]] as const) {
      const wer = corpusScore(data).wer;
      const [lo, hi] = bootstrapInterval(data, { seed });
      expect(lo).toBeLessThan(wer);
      expect(hi).toBeGreaterThan(wer);
    }
    expect(bootstrapInterval(small, { seed: 5 })).toEqual(bootstrapInterval(small, { seed: 5 }));
    expect(bootstrapInterval(small, { seed: 5 })).not.toEqual(bootstrapInterval(small, { seed: 6 }));
    const width = (d: UtteranceScore[]) => {
      const [lo, hi] = bootstrapInterval(d, { seed: 1 });
      return hi - lo;
    };
    // Width goes as 1/sqrt(n): 25x the data, about a fifth of the width; half is a safe bound.
    expect(width(large)).toBeLessThan(0.5 * width(small));
    expect(bootstrapInterval([], {})).toEqual([0, 0]);
  });

  it("matches the delta-method normal interval of a ratio estimator on a large corpus", () => {
    const data = fakeScores(2000, 0.2, 9);
    const n = data.length;
    const E = data.reduce((s, u) => s + u.errors, 0), W = data.reduce((s, u) => s + u.words, 0);
    const R = E / W, wbar = W / n;
    // Var(R) ~ Var(e_i - R w_i) / (n wbar^2) (first-order Taylor expansion of sum(e) / sum(w)).
    let v = 0;
    for (const u of data) v += (u.errors - R * u.words) ** 2;
    v /= n - 1;
    const half = 100 * 1.96 * Math.sqrt(v / (n * wbar * wbar));
    const [lo, hi] = bootstrapInterval(data, { seed: 4 });
    // 1000 draws estimate a 2.5% quantile with a few percent of relative noise, and the normal
    // approximation is itself first-order: 15% of the half-width.
    expect(Math.abs((hi - lo) / 2 - half)).toBeLessThan(0.15 * half);
    expect(Math.abs((hi + lo) / 2 - 100 * R)).toBeLessThan(0.15 * half);
  });
});

describe("character error rate", () => {
  // brute force: the edit distance by its recursive definition (memoised), an independent implementation
  const editDistance = (a: string, b: string): number => {
    const memo = new Map<string, number>();
    const d = (i: number, j: number): number => {
      if (i === 0) return j;
      if (j === 0) return i;
      const key = `${i},${j}`;
      let v = memo.get(key);
      if (v === undefined) {
        v = Math.min(d(i - 1, j) + 1, d(i, j - 1) + 1, d(i - 1, j - 1) + (a[i - 1] === b[j - 1] ? 0 : 1));
        memo.set(key, v);
      }
      return v;
    };
    return d(a.length, b.length);
  };
  it("equals the recursive edit distance over the normalised characters, spaces included", () => {
    const text = fc.array(fc.constantFrom("a", "b", "c", " ", "B", "'", "."), { maxLength: 12 }).map((cs) => cs.join(""));
    fc.assert(
      fc.property(text, text, (r, h) => {
        const c = charErrors(r, h);
        expect(c.chars).toBe(normalizeText(r).length);
        expect(c.errors).toBe(editDistance(normalizeText(r), normalizeText(h)));
      }),
      { numRuns: 300, seed: 7 },
    );
    expect(charErrors("the cat", "the bat").errors).toBe(1); // one substituted letter
  });
});

describe("paired bootstrap", () => {
  const rate = (xs: ErrorCount[], idx: number[]) => (100 * idx.reduce((t, i) => t + xs[i].errors, 0)) / idx.reduce((t, i) => t + xs[i].words, 0);
  // three utterances: every one of the 27 resamples has probability 1/27 = 3.7% > 2.5%, so with enough draws
  // the 2.5% and 97.5% quantiles are the smallest and the largest difference over the resamples, exactly
  const a: ErrorCount[] = [{ errors: 1, words: 4 }, { errors: 3, words: 5 }, { errors: 0, words: 7 }];
  const b: ErrorCount[] = [{ errors: 2, words: 4 }, { errors: 2, words: 5 }, { errors: 3, words: 7 }];
  const all: number[][] = [];
  for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) for (let k = 0; k < 3; k++) all.push([i, j, k]);

  it("at 4000 draws gives the extreme differences over all 27 resamples of three utterances, points and relative", () => {
    // each extreme is drawn ~148 times (sd 12) and the 2.5% quantile sits at rank 100: the chance it is not reached is < 1e-4
    const diff = all.map((idx) => rate(a, idx) - rate(b, idx)), rel = all.map((idx) => (100 * (rate(a, idx) - rate(b, idx))) / rate(b, idx));
    const [lo, hi] = pairedBootstrap(a, b, { draws: 4000, seed: 3 });
    expect(lo).toBeCloseTo(Math.min(...diff), 10);
    expect(hi).toBeCloseTo(Math.max(...diff), 10);
    const [rlo, rhi] = pairedBootstrap(a, b, { draws: 4000, seed: 3, relative: true });
    expect(rlo).toBeCloseTo(Math.min(...rel), 10);
    expect(rhi).toBeCloseTo(Math.max(...rel), 10);
    // unpaired (a and b resampled apart), the extremes would be min(a) - max(b) and max(a) - min(b): wider
    const ra = all.map((idx) => rate(a, idx)), rb = all.map((idx) => rate(b, idx));
    expect(Math.min(...ra) - Math.max(...rb)).toBeLessThan(lo - 1);
    // one system against itself: no difference in any resample
    expect(pairedBootstrap(a, a, { draws: 100 })).toEqual([0, 0]);
    // without b: the interval of a's rate, which is bootstrapInterval
    expect(pairedBootstrap(a, null, { seed: 5 })).toEqual(bootstrapInterval(a, { seed: 5 }));
    expect(() => pairedBootstrap(a, b.slice(1))).toThrow(/different numbers of utterances \(3 and 2\)/);
  });

  it("equals the quantiles of the differences on the same resampling indices, drawn here by test/helpers.ts's generator", () => {
    const r0 = rng(11);
    const gen = (n: number): ErrorCount[] => Array.from({ length: n }, () => {
      const words = 2 + Math.floor(r0() * 12);
      return { words, errors: Math.floor(r0() * (words + 2)) };
    });
    const x = gen(57), y = gen(57);
    const draws = 333, seed = 9;
    const r = rng(seed); // mulberry32, the generator pairedBootstrap documents, written independently in helpers.ts
    const d: number[] = [];
    for (let k = 0; k < draws; k++) {
      const idx = Array.from({ length: x.length }, () => Math.floor(r() * x.length));
      d.push(rate(x, idx) - rate(y, idx));
    }
    d.sort((p, q) => p - q);
    // numpy's default (linear) percentile
    const q = (f: number) => {
      const at = f * (draws - 1), i = Math.floor(at);
      return d[i] + (at - i) * (d[Math.min(draws - 1, i + 1)] - d[i]);
    };
    const [lo, hi] = pairedBootstrap(x, y, { draws, seed });
    expect(lo).toBeCloseTo(q(0.025), 10);
    expect(hi).toBeCloseTo(q(0.975), 10);
  });
});
