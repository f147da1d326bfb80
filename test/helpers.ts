// Shared test helpers: one engine per test file, seeded data, finite differences. The comparison and the
// fixture reader: harness.ts.

import { createEngine, type Engine } from "../src/index.js";
import type { Batch } from "../src/data/batching.js";
import type { Model } from "../src/model/model.js";
import { mulberry32 } from "../src/util/random.js";
import { expect } from "vitest";

let cached: Engine | undefined;

/** The engine under test (relaxed SIMD where available, else plain SIMD; TODM_BUILD forces one). */
export async function engine(): Promise<Engine> {
  cached ??= await createEngine({ build: process.env.TODM_BUILD as "simd" | "relaxed-simd" | undefined });
  return cached;
}

/** Both builds, for kernels whose two builds differ (FMA). */
export async function bothBuilds(): Promise<Engine[]> {
  const out = [await createEngine({ build: "simd" })];
  try {
    out.push(await createEngine({ build: "relaxed-simd" }));
  } catch {
    /* runtime without relaxed SIMD: the plain build alone */
  }
  return out;
}

export interface Diff {
  maxAbs: number;
  maxRel: number;
  at: number;
}

/** Largest absolute and relative difference (relative to max(|ref|, floor)). */
export function diff(got: ArrayLike<number>, ref: ArrayLike<number>, floor = 1e-6): Diff {
  if (got.length !== ref.length) throw new Error(`length ${got.length} != reference length ${ref.length}`);
  let maxAbs = 0, maxRel = 0, at = -1;
  for (let i = 0; i < got.length; i++) {
    const a = Math.abs(got[i] - ref[i]);
    if (!(a <= maxAbs) || Number.isNaN(a)) {
      maxAbs = Number.isNaN(a) ? Infinity : a;
      at = i;
    }
    maxRel = Math.max(maxRel, a / Math.max(Math.abs(ref[i]), floor));
    if (Number.isNaN(a)) maxRel = Infinity;
  }
  return { maxAbs, maxRel, at };
}

/** A seeded generator for test data that must not depend on Math.random: the host's mulberry32. */
export const rng: (seed: number) => () => number = mulberry32;

/** n values uniform in [-scale, scale). */
export function randn(n: number, r: () => number, scale = 1): Float32Array {
  return Float32Array.from({ length: n }, () => (r() * 2 - 1) * scale);
}

/**
 * Central finite differences in float64 of a scalar function f(x) at x, for the listed indices.
 * f receives a Float64Array and must be a float64 implementation of the forward (not the kernel),
 * or the kernel's forward when `h` is large enough for f32 (then say so at the call site).
 */
export function finiteDiff(f: (x: Float64Array) => number, x: Float64Array, idx: number[], h = 1e-5): Float64Array {
  const g = new Float64Array(idx.length);
  idx.forEach((i, j) => {
    const old = x[i];
    x[i] = old + h;
    const fp = f(x);
    x[i] = old - h;
    const fm = f(x);
    x[i] = old;
    g[j] = (fp - fm) / (2 * h);
  });
  return g;
}

/**
 * The model tests' tiny transcribed batch: 2 utterances of 23 and 17 frames (padding zeros) of F random
 * features, targets [1, 3, 2] and [4, 4] (a repeated label), seeded.
 */
export function tinyBatch(seed: number, F: number): Batch {
  const r = rng(seed);
  const B = 2, T = 23, U = 3;
  const feats = Float32Array.from({ length: B * T * F }, () => r() * 4 - 2);
  const featLens = Int32Array.from([23, 17]);
  for (let t = 17; t < T; t++) feats.fill(0, (1 * T + t) * F, (1 * T + t + 1) * F); // padding is zeros
  return { ids: [0, 1], B, T, F, U, feats, featLens, tokens: Int32Array.from([1, 3, 2, 4, 4, 0]), tokenLens: Int32Array.from([3, 2]) };
}

/**
 * Central finite differences of `loss` with respect to one float of the engine's memory (a parameter
 * element at `ptr`), at steps h and h/2, the value restored after. Two step sizes that disagree flag a kink
 * (a ReLU of the subsampling) inside [v - h, v + h], where central differences do not apply.
 */
export function centralDiffAt(e: Engine, ptr: number, loss: () => number, h = 1e-2): { fd: number; fdHalf: number } {
  const v = e.read(ptr, 1)[0];
  const at = (s: number) => {
    e.write(ptr, [v + s]);
    const lp = loss();
    e.write(ptr, [v - s]);
    const lm = loss();
    e.write(ptr, [v]);
    return (lp - lm) / (2 * s);
  };
  return { fd: at(h), fdHalf: at(h / 2) };
}

/**
 * The gradient entries `picks` of `grads` against central finite differences of `loss`. Used by the CTC and
 * pruned-loss model tests: f32 forward, total loss ~30: rounding ~1e-7*30/h ~ 3e-4, truncation ~h^2 times the
 * third derivative. Two step sizes that disagree flag a kink: a ReLU of the subsampling, or a prune range that
 * moves inside [v-h, v+h] (the band is piecewise constant in the weights; the loss jumps there); fewer than 5
 * such draws are skipped.
 */
export function expectFdGradients(e: Engine, m: Model, grads: Float32Array, picks: [string, number][], loss: () => number, label: string): void {
  let kinks = 0;
  for (const [name, i] of picks) {
    const p = m.params.get(name);
    const g = grads[p.offset + i];
    const { fd, fdHalf } = centralDiffAt(e, p.ptr + 4 * i, loss);
    const tol = 2e-3 + 2e-2 * Math.abs(fd);
    if (Math.abs(fd - fdHalf) > tol) { kinks++; continue; }
    expect(Math.abs(fd - g), `${label}, ${name}[${i}]: finite difference ${fd} vs gradient ${g}`).toBeLessThan(tol);
  }
  expect(kinks, "too many draws near a kink").toBeLessThan(5);
}
