// Feature functions for the loader, and how a worker thread obtains one.
//
// The loader calls a FeatureFn `(samples, sampleRate) => {data, frames, bins}` (data [frames, bins]
// row-major). The real one is the engine's Kaldi-compatible WASM fbank (`fbank` of src/engine/features.ts);
// since functions cannot cross into worker threads, a worker gets a FeatureSpec
// instead: an ES module and the name of an async factory `(config) => FeatureFn` it exports.
// `createEngineFbank` (the default) makes a private engine in the worker; `createStandInFbank` is a
// plain-JS log-mel filterbank for tests and benchmarks. The
// stand-in is NOT Kaldi-compatible (no dither, Hann window, no DC removal): do not train on it.

import { loadEngine } from "../engine/engine.js";
import { fbank, type Features } from "../engine/features.js";
import { speedPerturb } from "../audio/speed.js";

export type { Features };
/** `speed`, when present, is the speed perturbation the loader uses with these features (the engine's WASM one). */
export type FeatureFn = ((samples: Float32Array, sampleRate: number) => Features) & { speed?: (x: Float32Array, factor: number) => Float32Array };

export interface FeatureSpec {
  /** Module URL or absolute path of an ES module. */
  module: string;
  /** Name of its async factory `(config) => FeatureFn`. */
  factory: string;
  config?: Record<string, unknown>;
}

/** The engine's fbank, in a fresh engine (one per worker thread). */
export async function createEngineFbank(config: { build?: "simd" | "relaxed-simd" } = {}): Promise<FeatureFn> {
  const engine = await loadEngine({ build: config.build });
  return Object.assign((samples: Float32Array, sampleRate: number) => fbank(engine, samples, sampleRate), {
    speed: (x: Float32Array, factor: number) => speedPerturb(engine, x, factor),
  });
}

/** The spec of the default features, for workers. */
export const ENGINE_FBANK: FeatureSpec = { module: new URL("./features.js", import.meta.url).href, factory: "createEngineFbank" };
/** The spec of the stand-in features, for workers. */
export const STANDIN_FBANK: FeatureSpec = { module: new URL("./features.js", import.meta.url).href, factory: "createStandInFbank" };

/** Plain-JS log-mel fbank: 25 ms Hann frames every 10 ms (snip_edges), 512-point FFT, `bins` mel filters. */
export async function createStandInFbank(config: { bins?: number } = {}): Promise<FeatureFn> {
  return standInFbank(config.bins ?? 80);
}

export function standInFbank(bins = 80): FeatureFn {
  const cache = new Map<number, { win: Float64Array; mel: { lo: number; w: Float64Array }[] }>();
  const N = FFT_N;
  const re = new Float64Array(N), im = new Float64Array(N);
  return (samples, sr) => {
    const len = Math.round(0.025 * sr), shift = Math.round(0.01 * sr);
    if (len > N) throw new Error(`stand-in fbank: ${sr} Hz needs a frame of ${len} > ${N} samples`);
    let p = cache.get(sr);
    if (!p) {
      const win = Float64Array.from({ length: len }, (_, i) => 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / (len - 1)));
      const mel = (f: number) => 1127 * Math.log(1 + f / 700);
      const lo = mel(20), hi = mel(sr / 2);
      const filters = Array.from({ length: bins }, (_, m) => {
        const [a, c, b] = [lo + ((hi - lo) * m) / (bins + 1), lo + ((hi - lo) * (m + 1)) / (bins + 1), lo + ((hi - lo) * (m + 2)) / (bins + 1)];
        const w = new Float64Array(N / 2 + 1);
        let first = -1;
        for (let k = 0; k <= N / 2; k++) {
          const f = mel((k * sr) / N);
          w[k] = f > a && f < b ? (f <= c ? (f - a) / (c - a) : (b - f) / (b - c)) : 0;
          if (w[k] > 0 && first < 0) first = k;
        }
        return { lo: Math.max(0, first), w };
      });
      p = { win, mel: filters };
      cache.set(sr, p);
    }
    const frames = samples.length < len ? 0 : 1 + Math.floor((samples.length - len) / shift);
    const data = new Float32Array(frames * bins);
    const power = new Float64Array(N / 2 + 1);
    for (let t = 0; t < frames; t++) {
      re.fill(0);
      im.fill(0);
      for (let i = 0; i < len; i++) {
        const j = t * shift + i;
        re[i] = (samples[j] - (i > 0 ? 0.97 * samples[j - 1] : 0.97 * samples[j])) * p.win[i];
      }
      fft(re, im);
      for (let k = 0; k <= N / 2; k++) power[k] = re[k] * re[k] + im[k] * im[k];
      for (let m = 0; m < bins; m++) {
        const { lo, w } = p.mel[m];
        let e = 0;
        for (let k = lo; k <= N / 2 && (w[k] > 0 || k === lo); k++) e += w[k] * power[k];
        data[t * bins + m] = Math.log(Math.max(e, 1.1920929e-7));
      }
    }
    return { data, frames, bins };
  };
}

/** In-place iterative radix-2 FFT of length 512, with precomputed bit reversal and twiddles. */
const FFT_N = 512;
const BITREV = new Uint16Array(FFT_N);
const TW_RE = new Float64Array(FFT_N / 2), TW_IM = new Float64Array(FFT_N / 2);
for (let i = 0, j = 0; i < FFT_N; i++) {
  BITREV[i] = j;
  let bit = FFT_N >> 1;
  for (; j & bit; bit >>= 1) j ^= bit;
  j ^= bit;
}
for (let k = 0; k < FFT_N / 2; k++) {
  TW_RE[k] = Math.cos((-2 * Math.PI * k) / FFT_N);
  TW_IM[k] = Math.sin((-2 * Math.PI * k) / FFT_N);
}

function fft(re: Float64Array, im: Float64Array): void {
  const n = FFT_N;
  for (let i = 0; i < n; i++) {
    const j = BITREV[i];
    if (i < j) {
      const tr = re[i], ti = im[i];
      re[i] = re[j];
      im[i] = im[j];
      re[j] = tr;
      im[j] = ti;
    }
  }
  for (let size = 2; size <= n; size <<= 1) {
    const half = size >> 1, step = n / size;
    for (let s = 0; s < n; s += size) {
      for (let k = 0; k < half; k++) {
        const a = s + k, b = a + half;
        const cr = TW_RE[k * step], ci = TW_IM[k * step];
        const tr = re[b] * cr - im[b] * ci, ti = re[b] * ci + im[b] * cr;
        re[b] = re[a] - tr;
        im[b] = im[a] - ti;
        re[a] += tr;
        im[a] += ti;
      }
    }
  }
}
