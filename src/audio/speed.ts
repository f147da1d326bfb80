// Speed perturbation (Ko et al. 2015, icefall's 0.9/1.0/1.1): an utterance played `factor` times as
// fast, i.e. resampled from `orig` to `next` samples per unit (0.9 -> 9:10, 1.1 -> 11:10) and read at
// the same rate, so that tempo and pitch change together. The resampling runs in WASM
// (assembly/audio/resample.ts) over the filter bank of src/audio/resample.ts (torchaudio's Kaiser
// sinc design), so `speedPerturb` agrees with `resample(x, orig, next)` on the host to f32 rounding
// (test/speed.test.ts). `speedFactor` draws the factor of one utterance in one epoch from the run's
// seed alone (so a resumed run draws the same). Not a tempo change without pitch (no WSOLA), and not
// a streaming resampler.

import type { Engine } from "../engine/engine.js";
import { resample, resamplePlan } from "./resample.js";

export const SPEED_FACTORS = [0.9, 1.0, 1.1] as const;

/** The rational form orig:next of a factor (output length n * next / orig). */
export function speedRatio(factor: number): [number, number] {
  const next = 10, orig = Math.round(factor * next);
  if (Math.abs(orig / next - factor) > 1e-9 || orig <= 0) throw new Error(`speed perturbation: factor ${factor} is not a multiple of 0.1`);
  return [orig, next];
}

/** The factor of utterance `index` in `epoch`: one of SPEED_FACTORS, uniform, from a hash of (seed, epoch, index). */
export function speedFactor(seed: number, epoch: number, index: number): number {
  let h = Math.imul(seed ^ 0x5bd1e995, 0x9e3779b1) ^ Math.imul(epoch + 1, 0x85ebca6b) ^ Math.imul(index + 1, 0xc2b2ae35);
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d);
  h = Math.imul(h ^ (h >>> 15), 0x846ca68b);
  h = (h ^ (h >>> 16)) >>> 0;
  return SPEED_FACTORS[h % 3];
}

/** Packs a rate change's filter bank as the kernel wants it: taps [next, taplen] f32 zero-padded, first [next] i32. */
function bank(orig: number, next: number): { taps: Float32Array; first: Int32Array; taplen: number; orig: number; next: number } {
  const p = resamplePlan(orig, next);
  const taplen = Math.max(...p.taps.map((t) => t.length));
  const taps = new Float32Array(p.next * taplen);
  p.taps.forEach((t, i) => taps.set(t, i * taplen));
  return { taps, first: Int32Array.from(p.first), taplen, orig: p.orig, next: p.next };
}

const banks = new Map<number, ReturnType<typeof bank>>();

/** `x` played `factor` times as fast, by the WASM kernel (`naive`: its scalar twin). Factor 1 returns `x`. */
export function speedPerturb(engine: Engine, x: Float32Array, factor: number, opts: { naive?: boolean } = {}): Float32Array {
  if (factor === 1) return x;
  const [o, n] = speedRatio(factor);
  let b = banks.get(factor);
  if (!b) banks.set(factor, (b = bank(o, n)));
  const nOut = Math.ceil((b.next * x.length) / b.orig);
  return engine.scoped(() => {
    const px = engine.alloc(x.length, "speed input"), py = engine.alloc(nOut, "speed output");
    const pt = engine.alloc(b!.taps.length, "speed taps"), pf = engine.alloc(b!.first.length, "speed phases");
    engine.f32.set(x, px >> 2);
    engine.f32.set(b!.taps, pt >> 2);
    engine.i32.set(b!.first, pf >> 2);
    (opts.naive ? engine.wasm.resample_poly_naive : engine.wasm.resample_poly)(py, px, pt, pf, x.length, nOut, b!.orig, b!.next, b!.taplen);
    return engine.read(py, nOut);
  });
}

/** The same on the host, in f64 (src/audio/resample.ts): the reference of the tests, and the loader's fallback without an engine. */
export function speedPerturbHost(x: Float32Array, factor: number): Float32Array {
  if (factor === 1) return x;
  const [o, n] = speedRatio(factor);
  return resample(x, o, n);
}
