// Speech features on the host side: Kaldi fbank (one WASM call per utterance or per chunk), its
// streaming wrapper, and SpecAugment. Browser-safe: fbank runs on any host with the fbank kernels (the
// training Engine, or the inference build in todm/infer).
//
//   const { data, frames, bins } = fbank(engine, samples, 16000);     // data: frames x 80, fresh copy
//   const stream = new FbankStream(engine, 16000);
//   for (const chunk of chunks) use(stream.accept(chunk));            // only the newly completed frames
//   stream.flush();                                                   // nothing more (snip_edges); resets
//   const masked = specAugment(data, frames, bins, { seed: 7 });
//
// Not here: the kernels (assembly/audio/fbank.ts, assembly/audio/fft.ts), feature normalisation, time warping.
// The reference for fbank is torchaudio.compliance.kaldi.fbank(wave, num_mel_bins=80, dither=0.0,
// sample_frequency=rate) on the same [-1, 1] samples (test/ref/fbank.py); for SpecAugment, Park et al.
// 2019 and lhotse's SpecAugment (masks of uniform width 0..max at uniform positions, value = the
// utterance mean).

import type { EngineExports } from "./engine.js";
import { EngineError, type ArenaExports, type WasmHost } from "../wasm/host.js";
import { mulberry32 as seededUniform } from "../util/random.js";

/** A feature matrix: `data` is frames x bins, row-major. */
export interface Features {
  data: Float32Array;
  frames: number;
  bins: number;
}

export interface FbankOptions {
  /** Number of mel bins (Default: 80). */
  numMelBins?: number;
}

const DEFAULT_BINS = 80;

/** A host with the fbank kernels: the training Engine or the inference build's InferHost (browser-safe). */
export type FbankHost = WasmHost<ArenaExports & Pick<EngineExports, "fbank_setup" | "fbank_frame_length" | "fbank_frame_shift" | "fbank_num_frames" | "fbank_forward" | "FBANK_MAX_BINS">>;

/** Checks (rate, bins) with the kernel's own setup and returns the frame geometry. */
function geometry(engine: FbankHost, sampleRate: number, bins: number): { length: number; shift: number } {
  if (!Number.isInteger(bins)) throw new EngineError(`fbank: numMelBins must be an integer, got ${bins}`);
  const err = engine.wasm.fbank_setup(sampleRate, bins);
  if (err === -1) throw new EngineError(`fbank: unsupported sample rate ${sampleRate} Hz (supported: 100 to 163840 Hz)`);
  if (err === -2) throw new EngineError(`fbank: numMelBins ${bins} outside [4, ${engine.wasm.FBANK_MAX_BINS.value}]`);
  return { length: engine.wasm.fbank_frame_length(sampleRate), shift: engine.wasm.fbank_frame_shift(sampleRate) };
}

/** Runs the kernel over `parts` laid end to end in the arena: one call, however many frames. */
function fbankOf(engine: FbankHost, parts: ArrayLike<number>[], sampleRate: number, bins: number): Features {
  const n = parts.reduce((s, p) => s + p.length, 0);
  const frames = engine.wasm.fbank_num_frames(n, sampleRate);
  if (frames === 0) return { data: new Float32Array(0), frames: 0, bins };
  return engine.scoped(() => {
    const input = engine.alloc(n, "fbank samples");
    const out = engine.alloc(frames * bins, "fbank features");
    const f32 = engine.f32; // after both allocations: they may grow the memory
    let at = input >> 2;
    for (const p of parts) {
      f32.set(p, at);
      at += p.length;
    }
    const got = engine.wasm.fbank_forward(out, input, n, sampleRate, bins);
    if (got !== frames) throw new EngineError(`fbank: kernel returned ${got}, expected ${frames} frames`);
    return { data: engine.read(out, frames * bins), frames, bins };
  });
}

/** Kaldi log-mel fbank of a whole utterance (samples in [-1, 1]). Frames: 1 + (n - 25 ms) / 10 ms, or 0. */
export function fbank(engine: FbankHost, samples: Float32Array | ArrayLike<number>, sampleRate: number, opts: FbankOptions = {}): Features {
  const bins = opts.numMelBins ?? DEFAULT_BINS;
  geometry(engine, sampleRate, bins);
  return fbankOf(engine, [samples], sampleRate, bins);
}

/**
 * Streaming fbank. `accept(chunk)` returns the frames that the samples so far complete (each frame
 * exactly once, in order); concatenated, the outputs equal `fbank` over the whole signal,
 * bit for bit, for any chunking. It keeps the samples after the last completed frame's shift
 * (fewer than one frame length). `flush()` returns no frames: with snip_edges Kaldi drops a partial
 * last frame; it discards the kept samples so that the stream can start a new utterance.
 */
export class FbankStream {
  readonly sampleRate: number;
  readonly bins: number;
  private readonly engine: FbankHost;
  private readonly shift: number;
  private pending: Float32Array = new Float32Array(0);

  constructor(engine: FbankHost, sampleRate: number, bins = DEFAULT_BINS) {
    this.engine = engine;
    this.sampleRate = sampleRate;
    this.bins = bins;
    this.shift = geometry(engine, sampleRate, bins).shift;
  }

  /** Samples held back, waiting for the rest of their frame. */
  get pendingSamples(): number {
    return this.pending.length;
  }

  accept(samples: Float32Array | ArrayLike<number>): Features {
    const chunk = samples instanceof Float32Array ? samples : Float32Array.from(samples);
    const feats = fbankOf(this.engine, [this.pending, chunk], this.sampleRate, this.bins);
    const consumed = feats.frames * this.shift; // the next frame starts here
    if (consumed >= this.pending.length) {
      this.pending = chunk.slice(consumed - this.pending.length);
    } else {
      const next = new Float32Array(this.pending.length - consumed + chunk.length);
      next.set(this.pending.subarray(consumed));
      next.set(chunk, this.pending.length - consumed);
      this.pending = next;
    }
    return feats;
  }

  flush(): Features {
    this.pending = new Float32Array(0);
    return { data: new Float32Array(0), frames: 0, bins: this.bins };
  }
}

export interface SpecAugmentOptions {
  /** Number of frequency masks (Default: 2). */
  freqMasks?: number;
  /** Largest frequency mask, in bins; each width is uniform in [0, freqMaskWidth] (Default: 15). */
  freqMaskWidth?: number;
  /** Number of time masks (Default: 2). */
  timeMasks?: number;
  /** Largest time mask as a fraction of the frames; width uniform in [0, floor(fraction * frames)] (Default: 0.05). */
  timeMaskFraction?: number;
  /**
   * What masked entries become (Default: "mean", the mean of the whole input matrix, as lhotse/icefall
   * do on unnormalised log-mel features, where 0 would be a loud, not a neutral, value).
   */
  maskValue?: "mean" | number;
  /** Seed of the mask positions; the same seed gives the same masks (Default: 0). */
  seed?: number;
}

/** A mask: `width` consecutive rows (time) or columns (freq) from `start`. */
export interface Mask {
  start: number;
  width: number;
}


/** The masks specAugment applies for these options: frequency masks first, then time masks. */
export function specAugmentMasks(frames: number, bins: number, opts: SpecAugmentOptions = {}): { freq: Mask[]; time: Mask[] } {
  const { freqMasks = 2, freqMaskWidth = 15, timeMasks = 2, timeMaskFraction = 0.05, seed = 0 } = opts;
  const u = seededUniform(seed);
  const draw = (size: number, maxWidth: number): Mask => {
    const width = Math.min(size, Math.floor(u() * (Math.max(0, Math.floor(maxWidth)) + 1)));
    return { start: Math.floor(u() * (size - width + 1)), width };
  };
  const freq = Array.from({ length: freqMasks }, () => draw(bins, freqMaskWidth));
  const time = Array.from({ length: timeMasks }, () => draw(frames, timeMaskFraction * frames));
  return { freq, time };
}

/** SpecAugment without time warping: a masked copy of features (frames x bins); the input is unchanged. */
export function specAugment(features: Float32Array, frames: number, bins: number, opts: SpecAugmentOptions = {}): Float32Array {
  if (features.length !== frames * bins) {
    throw new Error(`specAugment: ${features.length} values is not ${frames} frames x ${bins} bins`);
  }
  let value = opts.maskValue ?? "mean";
  if (value === "mean") {
    let sum = 0;
    for (let i = 0; i < features.length; i++) sum += features[i];
    value = features.length ? sum / features.length : 0;
  }
  const out = features.slice();
  const { freq, time } = specAugmentMasks(frames, bins, opts);
  for (const m of freq) {
    for (let t = 0; t < frames; t++) out.fill(value, t * bins + m.start, t * bins + m.start + m.width);
  }
  for (const m of time) out.fill(value, m.start * bins, (m.start + m.width) * bins);
  return out;
}
