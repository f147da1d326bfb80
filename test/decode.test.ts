// Decoding (src/decode/decode.ts): greedy and modified beam search against brute force over all alignments
// on tiny vocabularies with a table model, and the engine-backed model against full-sequence forwards.
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import {
  engineSearchModel, greedySearch, joinerForward, joinerParams, logSoftmaxRows, modifiedBeamSearch, namedShapeOffsets,
  predictorForward, predictorParams, type JoinerConfig, type PredictorConfig, type SearchModel,
} from "../src/index.js";
import { engine, randn, rng } from "./helpers.js";
import { checkOp } from "./harness.js";
import { tableModel } from "./table-model.js";

/** Every path of the greedy topology (<= maxSym symbols per frame; the cap moves on without a blank). */
function greedyPaths(m: ReturnType<typeof tableModel>, b: number, T: number, maxSym: number) {
  const paths: { tokens: number[]; logProb: number; allArgmax: boolean }[] = [];
  const walk = (t: number, s: number, tokens: number[], logProb: number, allArgmax: boolean): void => {
    if (t === T) { paths.push({ tokens, logProb, allArgmax }); return; }
    if (s === maxSym) { walk(t + 1, 0, tokens, logProb, allArgmax); return; }
    const row = m.lp(b, t, tokens);
    const best = Math.max(...row);
    for (let k = 0; k < m.vocab; k++) {
      const isMax = allArgmax && row[k] === best && row.indexOf(best) === k;
      if (k === m.blank) walk(t + 1, 0, tokens, logProb + row[k], isMax);
      else walk(t, s + 1, [...tokens, k], logProb + row[k], isMax);
    }
  };
  walk(0, 0, [], 0, true);
  return paths;
}

/** Brute force over the one-symbol-per-frame topology: each label sequence's total log-probability. */
function marginals(m: ReturnType<typeof tableModel>, b: number, T: number): Map<string, number> {
  const out = new Map<string, number>();
  const walk = (t: number, tokens: number[], logProb: number): void => {
    if (t === T) {
      const key = tokens.join(","), old = out.get(key);
      out.set(key, old === undefined ? logProb : Math.max(old, logProb) + Math.log1p(Math.exp(-Math.abs(old - logProb))));
      return;
    }
    const row = m.lp(b, t, tokens);
    for (let k = 0; k < m.vocab; k++) walk(t + 1, k === m.blank ? tokens : [...tokens, k], logProb + row[k]);
  };
  walk(0, [], 0);
  return out;
}

const batchArb = fc.record({
  V: fc.integer({ min: 2, max: 4 }), blankPick: fc.nat(), seed: fc.integer(), peak: fc.constantFrom(1, 3, 6),
  lengths: fc.array(fc.integer({ min: 0, max: 4 }), { minLength: 1, maxLength: 3 }),
});

describe("decoding", () => {
  it("greedy search returns the one path that takes the argmax at every step (brute force, max symbols 1-3)", () => {
    fc.assert(
      fc.property(batchArb, fc.integer({ min: 1, max: 3 }), ({ V, blankPick, seed, peak, lengths }, maxSym) => {
        const m = tableModel(V, blankPick % V, seed, peak);
        const got = greedySearch(m, lengths, { maxSymPerFrame: maxSym });
        lengths.forEach((T, b) => {
          // Paths per frame: sum over s < maxSym of (V-1)^s ending in a blank, plus (V-1)^maxSym capped.
          let perFrame = (V - 1) ** maxSym;
          for (let s = 0; s < maxSym; s++) perFrame += (V - 1) ** s;
          if (perFrame ** T > 20000) return; // too many to enumerate; the smaller cases cover the logic
          const greedy = greedyPaths(m, b, T, maxSym).filter((p) => p.allArgmax);
          expect(greedy.length).toBe(1);
          expect(got[b].tokens).toEqual(greedy[0].tokens);
          expect(Math.abs(got[b].logProb - greedy[0].logProb)).toBeLessThan(1e-9); // same f32 terms, float64 sums
        });
      }),
      { numRuns: 150 },
    );
  });

  it("modified beam search with a beam wide enough is exact: the best label sequence by brute-force marginal", () => {
    fc.assert(
      fc.property(batchArb, ({ V, blankPick, seed, peak, lengths }) => {
        const m = tableModel(V, blankPick % V, seed, peak);
        const got = modifiedBeamSearch(m, lengths, { beam: V ** 4 });
        lengths.forEach((T, b) => {
          const all = [...marginals(m, b, T).entries()];
          const best = all.reduce((a, x) => (x[1] > a[1] ? x : a));
          // Same f32 log-probs, sums and log-adds in float64 in another order: 1e-9.
          expect(Math.abs(got[b].logProb - best[1])).toBeLessThan(1e-9);
          // A tie within 1e-9 could pick another sequence; then its marginal must equal the best.
          const mine = marginals(m, b, T).get(got[b].tokens.join(","))!;
          expect(Math.abs(mine - best[1])).toBeLessThan(1e-9);
        });
      }),
      { numRuns: 150 },
    );
  });

  it("beam 4 (default): a pruned hypothesis never scores above its brute-force marginal; batching changes nothing", () => {
    fc.assert(
      fc.property(batchArb, ({ V, blankPick, seed, peak, lengths }) => {
        const m = tableModel(V, blankPick % V, seed, peak);
        const got = modifiedBeamSearch(m, lengths);
        lengths.forEach((T, b) => {
          const marg = marginals(m, b, T).get(got[b].tokens.join(","))!;
          expect(got[b].logProb).toBeLessThanOrEqual(marg + 1e-9); // pruning only drops alignments
          // One utterance alone (as utterance b of the model's tables) gives the same result.
          const alone = modifiedBeamSearch({ ...m, logProbs: (u, f, s) => m.logProbs(u.map(() => b), f, s) }, [T]);
          expect(alone[0]).toEqual(got[b]);
        });
      }),
      { numRuns: 150 },
    );
  });

  it("beam 1 equals greedy with one symbol per frame", () => {
    fc.assert(
      fc.property(batchArb, ({ V, blankPick, seed, peak, lengths }) => {
        const m = tableModel(V, blankPick % V, seed, peak);
        const a = modifiedBeamSearch(m, lengths, { beam: 1 }), g = greedySearch(m, lengths);
        a.forEach((h, b) => {
          expect(h.tokens).toEqual(g[b].tokens);
          expect(Math.abs(h.logProb - g[b].logProb)).toBeLessThan(1e-9);
        });
      }),
      { numRuns: 100 },
    );
  });

  it("emission frames: greedy's equal the brute-force argmax path's; beam's rise strictly (one symbol per frame)", () => {
    fc.assert(
      fc.property(batchArb, fc.integer({ min: 1, max: 3 }), ({ V, blankPick, seed, peak, lengths }, maxSym) => {
        const m = tableModel(V, blankPick % V, seed, peak);
        const got = greedySearch(m, lengths, { maxSymPerFrame: maxSym });
        lengths.forEach((T, b) => {
          // Follow the argmax at every step through the greedy topology, noting the frame of each symbol.
          const tokens: number[] = [], frames: number[] = [];
          for (let t = 0; t < T; t++) {
            for (let s = 0; s < maxSym; s++) {
              const row = m.lp(b, t, tokens);
              const k = row.indexOf(Math.max(...row));
              if (k === m.blank) break;
              tokens.push(k);
              frames.push(t);
            }
          }
          expect(got[b].tokens).toEqual(tokens);
          expect(got[b].frames).toEqual(frames);
        });
        const beam = modifiedBeamSearch(m, lengths, { beam: 3 });
        beam.forEach((h, b) => {
          expect(h.frames.length).toBe(h.tokens.length);
          h.frames.forEach((f, i) => {
            expect(f).toBeLessThan(lengths[b]);
            if (i > 0) expect(f).toBeGreaterThan(h.frames[i - 1]);
          });
        });
        const beam1 = modifiedBeamSearch(m, lengths, { beam: 1 }), greedy1 = greedySearch(m, lengths);
        beam1.forEach((h, b) => expect(h.frames).toEqual(greedy1[b].frames));
      }),
      { numRuns: 150 },
    );
  });

  it("the engine model (predictor step + joiner pairs) equals full-sequence predictor and joiner forwards", async () => {
    const e = await engine();
    const V = 5, blank = 0, B = 2, T = 4;
    const pcfg: PredictorConfig = { vocab: V, embedDim: 4, hidden: 6, layers: 2, layerNorm: true };
    const jcfg: JoinerConfig = { encDim: 3, predDim: 6, joinDim: 7, vocab: V };
    const r = rng(5);
    const pflat = randn(namedShapeOffsets(predictorParams(pcfg)).total, r, 0.8), jflat = randn(namedShapeOffsets(joinerParams(jcfg)).total, r, 1.5);
    const encv = randn(B * T * 3, r, 2);
    e.scoped(() => {
      const pp = e.upload(pflat), jp = e.upload(jflat), enc = e.upload(encv);
      /** Log-probs at (b, t) after `prefix`, by full forwards over [blank, ...prefix]. */
      const full = (b: number, t: number, prefix: number[]) => e.scoped(() => {
        const U1 = prefix.length + 1;
        const pred = predictorForward(e, pcfg, pp, e.upload([blank, ...prefix], "i32"), 1, U1).out;
        const encb = e.upload(encv.subarray(b * T * 3, (b + 1) * T * 3));
        const lg = e.read(joinerForward(e, jcfg, jp, encb, pred, 1, T, U1).logits, T * U1 * V);
        return logSoftmaxRows(lg.slice((t * U1 + U1 - 1) * V, (t * U1 + U1) * V), V);
      });
      const model = engineSearchModel(e, { cfg: pcfg, params: pp }, { cfg: jcfg, params: jp }, enc, B, T, blank);
      // Direct check of logProbs after advancing states through a few labels.
      let s = [model.initial(0), model.initial(1)];
      for (const labels of [[1, 4], [3, 3], [2, 1]]) s = model.advance(s, labels);
      const got = model.logProbs([0, 1, 1], [2, 0, 3], [s[0], s[1], model.initial(1)]);
      const ref = [...full(0, 2, [1, 3, 2]), ...full(1, 0, [4, 3, 1]), ...full(1, 3, [])];
      // Same kernels, GEMMs of different M (1-3 rows vs the whole lattice): 1e-5.
      checkOp("engine model log-probs", got, ref, 1e-5, 1e-5);
      // Both searches over the engine model equal the same searches over a table built from full forwards.
      const slow: SearchModel<number[]> = {
        vocab: V, blank, initial: () => [], advance: (st, l) => st.map((x, i) => [...x, l[i]]),
        logProbs: (u, f, st) => Float32Array.from(st.flatMap((x, i) => Array.from(full(u[i], f[i], x)))),
      };
      for (const lengths of [[4, 3], [2, 4]]) {
        const g1 = greedySearch(model, lengths, { maxSymPerFrame: 2 }), g2 = greedySearch(slow, lengths, { maxSymPerFrame: 2 });
        const b1 = modifiedBeamSearch(model, lengths), b2 = modifiedBeamSearch(slow, lengths);
        expect(g1.map((h) => h.tokens)).toEqual(g2.map((h) => h.tokens));
        expect(b1.map((h) => h.tokens)).toEqual(b2.map((h) => h.tokens));
        b1.forEach((h, i) => expect(Math.abs(h.logProb - b2[i].logProb)).toBeLessThan(1e-4)); // sums of <= 4 frames of 1e-5 errors
      }
    });
  });
});
