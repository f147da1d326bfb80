// float64 brute force for the transducer tests: -log of the summed probability of every alignment, enumerated
// (independent of any lattice recursion); tiny T and U only.

/** log Σ exp(x), float64; -inf for an empty or all -inf list. */
export const lse = (xs: number[]) => { const m = Math.max(...xs); return m === -Infinity ? m : m + Math.log(xs.reduce((s, x) => s + Math.exp(x - m), 0)); };

/** -log Σ over alignments of exp(Σ arc log-probs), float64; `inBand` restricts the nodes a path may visit. */
export function bruteRnnt(lp: (t: number, u: number, k: number) => number, Tb: number, Ub: number, y: (u: number) => number, blank: number, inBand = (_t: number, _u: number) => true): number {
  const scores: number[] = [];
  const walk = (t: number, u: number, acc: number): void => {
    if (!inBand(t, u)) return;
    if (t === Tb - 1 && u === Ub) { scores.push(acc + lp(t, u, blank)); return; }
    if (t < Tb - 1) walk(t + 1, u, acc + lp(t, u, blank));
    if (u < Ub) walk(t, u + 1, acc + lp(t, u, y(u)));
  };
  walk(0, 0, 0);
  return -lse(scores.length ? scores : [-Infinity]);
}

