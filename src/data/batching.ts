// Batching for training: duration buckets, a cap on padded frames per batch, a seeded shuffle, and
// the collation of features and token ids into padded tensors with their lengths.
//
// makeBatches sorts utterances by duration, cuts them into `buckets` equal-count buckets, shuffles
// inside each bucket, fills batches greedily while B * T_max stays within `maxFrames` (T_max the
// longest member's frame count: the padded size the trainer allocates), then shuffles the batch
// order. Seeded by (seed, epoch): the same pair gives the same batches on every machine. An
// utterance longer than maxFrames by itself forms a batch of one and is counted in `oversize`; the
// corpus's maxDuration should keep that from happening. Not a distributed sampler.

import { seeded } from "./synth.js";

/** Kaldi's frame count (25 ms window, 10 ms shift, snip_edges): 1 + floor((n - 400) / 160), 0 if n < 400. */
export function framesFor(durationSec: number, sampleRate = 16000, frameLength = 0.025, frameShift = 0.01): number {
  const n = Math.round(durationSec * sampleRate);
  const len = Math.round(frameLength * sampleRate), shift = Math.round(frameShift * sampleRate);
  return n < len ? 0 : 1 + Math.floor((n - len) / shift);
}

export interface BatchingOptions {
  /** Cap on B * T_max (padded feature frames) per batch. */
  maxFrames: number;
  /** Cap on utterances per batch (default: none). */
  maxBatch?: number;
  /** Duration buckets (default 30). */
  buckets?: number;
  seed?: number;
}

export interface BatchPlan {
  /** Utterance indices, one array per batch. */
  batches: number[][];
  /** Batches of one utterance that alone exceeds maxFrames. */
  oversize: number;
  /** Real frames over padded frames (1 = no padding). */
  efficiency: number;
}

function shuffleInPlace<T>(xs: T[], r: () => number): void {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [xs[i], xs[j]] = [xs[j], xs[i]];
  }
}

/** Plans one epoch of batches over utterances of the given frame counts. */
export function makeBatches(frames: ArrayLike<number>, opts: BatchingOptions, epoch = 0): BatchPlan {
  if (!(opts.maxFrames > 0)) throw new Error(`batching: maxFrames must be positive, got ${opts.maxFrames}`);
  const maxBatch = opts.maxBatch ?? Infinity;
  const r = seeded(((opts.seed ?? 0) * 1_000_003 + epoch * 7919) >>> 0);
  const order = Array.from({ length: frames.length }, (_, i) => i).sort((a, b) => frames[a] - frames[b] || a - b);
  const nb = Math.max(1, Math.min(opts.buckets ?? 30, order.length));
  const batches: number[][] = [];
  let oversize = 0, real = 0, padded = 0;
  for (let k = 0; k < nb; k++) {
    const bucket = order.slice(Math.floor((k * order.length) / nb), Math.floor(((k + 1) * order.length) / nb));
    shuffleInPlace(bucket, r);
    let cur: number[] = [], tmax = 0;
    const close = () => {
      if (!cur.length) return;
      batches.push(cur);
      padded += cur.length * tmax;
      for (const i of cur) real += frames[i];
      cur = [];
      tmax = 0;
    };
    for (const i of bucket) {
      const t = Math.max(tmax, frames[i]);
      if (cur.length > 0 && ((cur.length + 1) * t > opts.maxFrames || cur.length + 1 > maxBatch)) close();
      cur.push(i);
      tmax = Math.max(tmax, frames[i]);
      if (cur.length === 1 && frames[i] > opts.maxFrames) {
        oversize++;
        close();
      }
    }
    close();
  }
  shuffleInPlace(batches, r);
  return { batches, oversize, efficiency: padded ? real / padded : 1 };
}

/** One padded batch, row-major: feats [B, T, F], tokens [B, U] (0 = padding, which is also blank). */
export interface Batch {
  /** Utterance indices into the corpus. */
  ids: number[];
  B: number;
  T: number;
  F: number;
  U: number;
  feats: Float32Array;
  featLens: Int32Array;
  tokens: Int32Array;
  tokenLens: Int32Array;
}

export interface CollateItem {
  id: number;
  /** [frames, bins] row-major. */
  feats: Float32Array;
  frames: number;
  bins: number;
  tokens: Int32Array;
}

/** Pads items into a Batch; every item must have the same number of bins. */
export function collate(items: CollateItem[]): Batch {
  const B = items.length;
  const F = B ? items[0].bins : 0;
  let T = 0, U = 0;
  for (const it of items) {
    if (it.bins !== F) throw new Error(`collate: item ${it.id} has ${it.bins} bins, the batch ${F}`);
    T = Math.max(T, it.frames);
    U = Math.max(U, it.tokens.length);
  }
  const feats = new Float32Array(B * T * F), tokens = new Int32Array(B * U);
  const featLens = new Int32Array(B), tokenLens = new Int32Array(B);
  items.forEach((it, b) => {
    feats.set(it.feats.subarray(0, it.frames * F), b * T * F);
    tokens.set(it.tokens, b * U);
    featLens[b] = it.frames;
    tokenLens[b] = it.tokens.length;
  });
  return { ids: items.map((it) => it.id), B, T, F, U, feats, featLens, tokens, tokenLens };
}
