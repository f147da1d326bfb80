// Lazily cleared gradients on the tape (assembly/tape/tape_core.ts, LAZY): activations get their gradient
// buffer uncleared, and the first backward that writes it overwrites it (a GEMM with beta = 0) or
// clears it first. These graphs run in arena memory dirtied with garbage first, so that a gradient
// that was not cleared shows up; references are float64 finite differences and exact values.
import { describe, expect, it } from "vitest";
import { Tape } from "../src/engine/tape.js";
import type { Engine } from "../src/index.js";
import { bothBuilds, finiteDiff, randn, rng } from "./helpers.js";
import { checkOp } from "./harness.js";

/** Fills the arena above the current mark with NaN, so that uncleared buffers hold garbage. */
function dirty(e: Engine, floats: number): void {
  e.scoped(() => {
    const p = e.alloc(floats) >> 2;
    e.f32.fill(NaN, p, p + floats);
  });
}

describe("lazily cleared gradients", () => {
  it("a linear input read by two linears and an add: overwrite then accumulate (vs float64 FD)", async () => {
    for (const e of await bothBuilds()) {
      const BT = 5, C = 7, OC = 3, r = rng(3);
      const x = randn(BT * C, r), w1 = randn(OC * C, r), w2 = randn(OC * C, r), G = randn(BT * OC, r);
      // L = Σ G ⊙ (x W1^T + x W2^T) + Σ_i x_i (the add: x + x summed through a second path)
      const loss = (xs: Float64Array) => {
        let L = 0;
        for (let t = 0; t < BT; t++) {
          for (let o = 0; o < OC; o++) {
            let y = 0;
            for (let c = 0; c < C; c++) y += xs[t * C + c] * (w1[o * C + c] + w2[o * C + c]);
            L += G[t * OC + o] * y;
          }
        }
        for (let i = 0; i < BT * C; i++) L += 2 * xs[i];
        return L;
      };
      const gx = finiteDiff(loss, Float64Array.from(x), Array.from({ length: BT * C }, (_, i) => i), 1e-3);
      const base = e.mark();
      try {
        dirty(e, 1 << 16);
        const tape = new Tape(e, 64);
        tape.begin();
        try {
          const X = tape.input(x, true), W1 = tape.input(w1, true), W2 = tape.input(w2);
          const h = tape.linear(X, W1, 0, BT, C, OC), k = tape.linear(X, W2, 0, BT, C, OC);
          const s = tape.add(tape.sum(tape.mul(tape.add(h, k, BT * OC), tape.input(G), BT * OC), BT * OC), tape.sum(tape.add(X, X, BT * C), BT * C), 1);
          tape.backward(s);
          // L is linear in x: exact FD up to float64 rounding; f32 sums of 2*7 products of O(1): 1e-5
          checkOp(`${e.build} dx`, tape.gradOf(X), gx, 1e-5);
        } finally {
          tape.end();
        }
      } finally {
        e.reset(base);
      }
    }
  });

  it("a gradient nothing writes reads as zeros; a linear input larger than the product keeps zeros past it", async () => {
    for (const e of await bothBuilds()) {
      const base = e.mark();
      try {
        dirty(e, 1 << 16);
        const tape = new Tape(e, 64);
        tape.begin();
        try {
          const BT = 3, C = 4, OC = 2, r = rng(9);
          const a = tape.input(randn(10, r), true); // feeds an op whose output never reaches the loss
          tape.tanh(a, 10);
          const big = tape.input(randn(BT * C + 5, r), true); // a linear reads its first BT*C values only
          const w = tape.input(randn(OC * C, r));
          const y = tape.linear(big, w, 0, BT, C, OC);
          tape.backward(tape.sum(y, BT * OC));
          expect(Array.from(tape.gradOf(a))).toEqual(new Array(10).fill(0));
          const g = tape.gradOf(big), wv = tape.dataOf(w);
          // dL/dbig[t, c] = Σ_o w[o, c] (exact sums of 2 f32 values, up to one rounding)
          const ref = Array.from({ length: BT * C }, (_, i) => wv[i % C] + wv[C + (i % C)]);
          checkOp(`${e.build} dbig`, g.slice(0, BT * C), ref, 1e-6);
          expect(Array.from(g.slice(BT * C))).toEqual(new Array(5).fill(0));
        } finally {
          tape.end();
        }
      } finally {
        e.reset(base);
      }
    }
  });
});
