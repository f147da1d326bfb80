// A stub transducer for the search tests (test/decode.test.ts, test/lm-fusion.test.ts): seeded
// log-prob tables indexed by (utterance, frame, whole label prefix), so a brute-force enumeration of
// label sequences can score exactly what the search sees.
import { logSoftmaxRows, type SearchModel } from "../src/decode/decode.js";
import { randn, rng } from "./helpers.js";

/** A stub transducer: log-probs are a seeded table indexed by (utterance, frame, whole label prefix). */
export function tableModel(V: number, blank: number, seed: number, peak: number): SearchModel<number[]> & { lp(b: number, t: number, prefix: number[]): Float32Array } {
  const cache = new Map<string, Float32Array>();
  const lp = (b: number, t: number, prefix: number[]) => {
    const key = `${b}|${t}|${prefix.join(",")}`;
    let row = cache.get(key);
    if (!row) {
      let h = seed;
      for (const ch of key) h = Math.imul(h ^ ch.charCodeAt(0), 0x9e3779b1) >>> 0;
      row = logSoftmaxRows(randn(V, rng(h), peak), V);
      cache.set(key, row);
    }
    return row;
  };
  return {
    vocab: V, blank, lp,
    initial: () => [],
    advance: (states, labels) => states.map((s, i) => [...s, labels[i]]),
    logProbs: (utts, frames, states) => {
      const out = new Float32Array(states.length * V);
      states.forEach((s, i) => out.set(lp(utts[i], frames[i], s), i * V));
      return out;
    },
  };
}
