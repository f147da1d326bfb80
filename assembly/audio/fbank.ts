// Log-mel filter bank features, Kaldi-compatible: what `compute-fbank-feats` gives with dither 0, as
// reimplemented by torchaudio.compliance.kaldi.fbank (the reference: torchaudio 0.13
// compliance/kaldi.py, functions _get_window, get_mel_banks, fbank). Per frame:
//   25 ms window every 10 ms (lengths truncated to whole samples), only frames that fit (snip_edges);
//   remove the frame's mean; pre-emphasis 0.97 within the frame (its first sample uses itself);
//   Povey window (Hann ** 0.85); zero-pad to the next power of two; |rfft|^2;
//   triangular filters equally spaced on the mel scale 1127 ln(1 + f/700) from 20 Hz to Nyquist
//   (the Nyquist bin gets weight 0); log(max(energy, float epsilon)).
// Not supported (nor needed): dither, energy column, VTLN, snip_edges = false, other windows.
// Samples are taken as given: [-1, 1] audio gives what torchaudio gives for the same tensor. Kaldi's
// own tools read int16 scale, which adds 2 ln 32768 = 20.79 to every log energy above the floor.
//
// Frames depend only on their own samples, so a stream cut anywhere gives the same frames (the host
// keeps the tail, see src/engine/features.ts). Tables (window, sparse mel weights) live in buffers taken at
// module start and are recomputed when the sample rate or bin count changes. Depends only on
// memory.ts and fft.ts (fft_core.ts), so the inference build can include it.

import { madd4 } from "../math";
import { mem_alloc } from "../memory";
import { rfft_power, rfft_power_naive } from "./fft";
import { FFT_MAX } from "./fft_core";

/** The most mel bins fbank_setup accepts. */
export const FBANK_MAX_BINS: i32 = 256;

const EPSILON: f32 = 1.1920928955078125e-7; // numeric_limits<float>::epsilon(), the log floor
const PREEMPHASIS: f32 = 0.97;
const LOW_FREQ: f64 = 20.0;
const MIN_RATE: f64 = 100.0; // below this the 10 ms shift is under one sample
const MAX_RATE: f64 = 163840.0; // 25 ms must fit FFT_MAX samples

const WINDOW: usize = mem_alloc(<usize>FFT_MAX << 2);
const FRAME: usize = mem_alloc(<usize>FFT_MAX << 2); // the padded frame; [len, nfft) stays zero
const SCRATCH_RE: usize = mem_alloc(<usize>(FFT_MAX / 2 + 1) << 2);
const SCRATCH_IM: usize = mem_alloc(<usize>(FFT_MAX / 2 + 1) << 2);
const POWER: usize = mem_alloc(<usize>(FFT_MAX / 2 + 1) << 2);
const MEL_START: usize = mem_alloc(<usize>FBANK_MAX_BINS << 2); // i32: first FFT bin of each filter
const MEL_LEN: usize = mem_alloc(<usize>FBANK_MAX_BINS << 2); // i32: number of nonzero weights
const MEL_OFF: usize = mem_alloc(<usize>FBANK_MAX_BINS << 2); // i32: offset of its weights in MEL_W
const MEL_W: usize = mem_alloc(<usize>FFT_MAX << 2); // each FFT bin lies inside at most 2 filters

let cfg_rate: f64 = -1;
let cfg_bins: i32 = 0;
let cfg_len: i32 = 0;
let cfg_shift: i32 = 0;
let cfg_nfft: i32 = 0;

function rate_ok(sample_rate: f64): bool {
  return sample_rate >= MIN_RATE && sample_rate <= MAX_RATE; // false for NaN
}

/** Samples per frame: int(sample_rate * 25 ms), as torchaudio computes it; 0 for an unsupported rate. */
export function fbank_frame_length(sample_rate: f64): i32 {
  return rate_ok(sample_rate) ? <i32>(sample_rate * 25.0 * 0.001) : 0;
}

/** Samples between frame starts: int(sample_rate * 10 ms); 0 for an unsupported rate. */
export function fbank_frame_shift(sample_rate: f64): i32 {
  return rate_ok(sample_rate) ? <i32>(sample_rate * 10.0 * 0.001) : 0;
}

/** FFT size: the frame length rounded up to a power of two; 0 for an unsupported rate. */
export function fbank_fft_size(sample_rate: f64): i32 {
  const len = fbank_frame_length(sample_rate);
  if (len == 0) return 0;
  let n = 1;
  while (n < len) n <<= 1;
  return n;
}

/** Frames of n samples with snip_edges: 0 when n < frame length, else 1 + (n - length) / shift. */
export function fbank_num_frames(n: i32, sample_rate: f64): i32 {
  const len = fbank_frame_length(sample_rate), shift = fbank_frame_shift(sample_rate);
  if (len == 0 || n < len) return 0;
  return 1 + (n - len) / shift;
}

/**
 * Prepares the window and the mel filters for (sample_rate, num_bins); cheap when unchanged.
 * Returns 0, or -1 for an unsupported sample rate (outside [100, 163840] Hz), -2 for num_bins
 * outside [4, FBANK_MAX_BINS] (torchaudio asserts num_bins > 3).
 */
export function fbank_setup(sample_rate: f64, num_bins: i32): i32 {
  if (!rate_ok(sample_rate)) return -1;
  if (num_bins < 4 || num_bins > FBANK_MAX_BINS) return -2;
  if (sample_rate == cfg_rate && num_bins == cfg_bins) return 0;
  const len = fbank_frame_length(sample_rate), nfft = fbank_fft_size(sample_rate);
  // Povey window: torch.hann_window(len, periodic=False) ** 0.85, in float64 rounded once.
  for (let i = 0; i < len; i++) {
    const hann = 0.5 - 0.5 * Math.cos((2.0 * Math.PI * <f64>i) / <f64>(len - 1));
    store<f32>(WINDOW + (<usize>i << 2), <f32>Math.pow(hann, 0.85));
  }
  memory.fill(FRAME, 0, <usize>FFT_MAX << 2);
  // Mel filters (get_mel_banks with vtln_warp = 1), float64 here where torchaudio uses float32.
  const bin_width = sample_rate / <f64>nfft;
  const mel_low = 1127.0 * Math.log(1.0 + LOW_FREQ / 700.0);
  const mel_high = 1127.0 * Math.log(1.0 + (0.5 * sample_rate) / 700.0);
  const delta = (mel_high - mel_low) / <f64>(num_bins + 1);
  let off = 0;
  for (let b = 0; b < num_bins; b++) {
    const left = mel_low + <f64>b * delta;
    const center = mel_low + <f64>(b + 1) * delta;
    const right = mel_low + <f64>(b + 2) * delta;
    let start = -1, count = 0;
    for (let k = 0; k < nfft >> 1; k++) {
      const mel = 1127.0 * Math.log(1.0 + (bin_width * <f64>k) / 700.0);
      const w = Math.max(0.0, Math.min((mel - left) / (center - left), (right - mel) / (right - center)));
      if (w > 0) {
        if (start < 0) start = k;
        store<f32>(MEL_W + (<usize>(off + k - start) << 2), <f32>w); // the support is one run of k
        count = k - start + 1;
      }
    }
    store<i32>(MEL_START + (<usize>b << 2), start < 0 ? 0 : start);
    store<i32>(MEL_LEN + (<usize>b << 2), count);
    store<i32>(MEL_OFF + (<usize>b << 2), off);
    off += count;
  }
  cfg_rate = sample_rate;
  cfg_bins = num_bins;
  cfg_len = len;
  cfg_shift = fbank_frame_shift(sample_rate);
  cfg_nfft = nfft;
  return 0;
}

// @ts-ignore: decorator
@inline
function hsum(v: v128): f32 {
  return f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1) + f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3);
}

/**
 * Natural log of 4 positive normal floats (inf and NaN pass through): x = m 2^e with m in
 * [sqrt(1/2), sqrt(2)), log x = e ln 2 + 2 atanh(s), s = (m - 1) / (m + 1), |s| < 0.172, the atanh
 * series to s^9 (truncation < 1e-9); ln 2 split in two (Cephes logf) for e ln 2. Measured against
 * float64 log: within 3 ulp of the result (2.54 measured; see test/fbank.test.ts).
 */
// @ts-ignore: decorator
@inline
function log_f32x4(x: v128): v128 {
  const big = f32x4.gt(v128.or(v128.and(x, i32x4.splat(0x007fffff)), i32x4.splat(0x3f800000)), f32x4.splat(1.4142135));
  // mantissa in [1, 2), halved when above sqrt(2); exponent raised by one there (big lanes are -1)
  const m = v128.or(v128.and(x, i32x4.splat(0x007fffff)), v128.bitselect(i32x4.splat(0x3f000000), i32x4.splat(0x3f800000), big));
  const e = f32x4.convert_i32x4_s(i32x4.sub(i32x4.sub(i32x4.shr_u(x, 23), i32x4.splat(127)), big));
  const one = f32x4.splat(1);
  const s = f32x4.div(f32x4.sub(m, one), f32x4.add(m, one)), s2 = f32x4.mul(s, s);
  let p = madd4(s2, f32x4.splat(<f32>(1.0 / 9.0)), f32x4.splat(<f32>(1.0 / 7.0)));
  p = madd4(s2, p, f32x4.splat(<f32>(1.0 / 5.0)));
  p = madd4(s2, p, f32x4.splat(<f32>(1.0 / 3.0)));
  p = madd4(s2, p, one);
  const lm = f32x4.mul(f32x4.add(s, s), p);
  const r = madd4(e, f32x4.splat(0.693359375), madd4(e, f32x4.splat(-2.12194440e-4), lm));
  return v128.bitselect(r, x, f32x4.lt(x, f32x4.splat(Infinity)));
}

/** out[num_bins] <- log mel energies of POWER (the sparse filters of the current setup). */
function mel_log(out: usize, num_bins: i32): void {
  for (let b = 0; b < num_bins; b++) {
    const start = load<i32>(MEL_START + (<usize>b << 2)), len = load<i32>(MEL_LEN + (<usize>b << 2));
    const w = MEL_W + (<usize>load<i32>(MEL_OFF + (<usize>b << 2)) << 2), p = POWER + (<usize>start << 2);
    let acc = f32x4.splat(0);
    let k = 0;
    for (; k + 4 <= len; k += 4) acc = madd4(v128.load(w + (<usize>k << 2)), v128.load(p + (<usize>k << 2)), acc);
    let e = hsum(acc);
    for (; k < len; k++) e += load<f32>(w + (<usize>k << 2)) * load<f32>(p + (<usize>k << 2));
    store<f32>(out + (<usize>b << 2), max<f32>(e, EPSILON));
  }
  let b = 0;
  for (; b + 4 <= num_bins; b += 4) v128.store(out + (<usize>b << 2), log_f32x4(v128.load(out + (<usize>b << 2))));
  for (; b < num_bins; b++) store<f32>(out + (<usize>b << 2), Mathf.log(load<f32>(out + (<usize>b << 2))));
}

/** Test hook for log_f32x4: out[n] <- log(x[n]) four at a time (scalar Mathf.log for the tail). */
export function fbank_log_f32(out: usize, x: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) v128.store(out + (<usize>i << 2), log_f32x4(v128.load(x + (<usize>i << 2))));
  for (; i < n; i++) store<f32>(out + (<usize>i << 2), Mathf.log(load<f32>(x + (<usize>i << 2))));
}

/** One frame: out[num_bins] from the cfg_len samples at x. SIMD mean, pre-emphasis and window. */
function frame_simd(out: usize, x: usize, num_bins: i32): void {
  const len = cfg_len;
  let acc = f32x4.splat(0);
  let j = 0;
  for (; j + 4 <= len; j += 4) acc = f32x4.add(acc, v128.load(x + (<usize>j << 2)));
  let sum = hsum(acc);
  for (; j < len; j++) sum += load<f32>(x + (<usize>j << 2));
  const mean = sum / <f32>len;
  // strided_input - 0.97 * strided_input[j-1], after the mean is removed; j = 0 uses itself
  const d0 = load<f32>(x) - mean;
  store<f32>(FRAME, (d0 - PREEMPHASIS * d0) * load<f32>(WINDOW));
  const m4 = f32x4.splat(mean), p4 = f32x4.splat(-PREEMPHASIS);
  j = 1;
  for (; j + 4 <= len; j += 4) {
    const o = <usize>j << 2;
    const cur = f32x4.sub(v128.load(x + o), m4), prev = f32x4.sub(v128.load(x + o - 4), m4);
    v128.store(FRAME + o, f32x4.mul(madd4(p4, prev, cur), v128.load(WINDOW + o)));
  }
  for (; j < len; j++) {
    const o = <usize>j << 2;
    const cur = load<f32>(x + o) - mean, prev = load<f32>(x + o - 4) - mean;
    store<f32>(FRAME + o, (cur - PREEMPHASIS * prev) * load<f32>(WINDOW + o));
  }
  rfft_power(POWER, FRAME, cfg_nfft, SCRATCH_RE, SCRATCH_IM);
  mel_log(out, num_bins);
}

/** Scalar twin of frame_simd: the same steps one sample at a time, with the scalar FFT. */
function frame_naive(out: usize, x: usize, num_bins: i32): void {
  const len = cfg_len;
  let sum: f32 = 0;
  for (let j = 0; j < len; j++) sum += load<f32>(x + (<usize>j << 2));
  const mean = sum / <f32>len;
  for (let j = 0; j < len; j++) {
    const cur = load<f32>(x + (<usize>j << 2)) - mean;
    const prev = load<f32>(x + (<usize>(j > 0 ? j - 1 : j) << 2)) - mean; // j = 0 uses itself
    store<f32>(FRAME + (<usize>j << 2), (cur - PREEMPHASIS * prev) * load<f32>(WINDOW + (<usize>j << 2)));
  }
  rfft_power_naive(POWER, FRAME, cfg_nfft, SCRATCH_RE, SCRATCH_IM);
  for (let b = 0; b < num_bins; b++) {
    const start = load<i32>(MEL_START + (<usize>b << 2)), len = load<i32>(MEL_LEN + (<usize>b << 2));
    const off = load<i32>(MEL_OFF + (<usize>b << 2));
    let e: f32 = 0;
    for (let k = 0; k < len; k++) {
      e += load<f32>(MEL_W + (<usize>(off + k) << 2)) * load<f32>(POWER + (<usize>(start + k) << 2));
    }
    store<f32>(out + (<usize>b << 2), Mathf.log(max<f32>(e, EPSILON)));
  }
}

/**
 * Log-mel features of a whole buffer: out[T, num_bins] from samples[n], T = fbank_num_frames(n, rate).
 * Frame t reads samples [t * shift, t * shift + length). Returns T, or a negative fbank_setup error.
 */
export function fbank_forward(out: usize, samples: usize, n: i32, sample_rate: f64, num_bins: i32): i32 {
  const err = fbank_setup(sample_rate, num_bins);
  if (err < 0) return err;
  const frames = fbank_num_frames(n, sample_rate);
  for (let t = 0; t < frames; t++) {
    frame_simd(out + (<usize>t * num_bins << 2), samples + (<usize>t * cfg_shift << 2), num_bins);
  }
  return frames;
}

/** Scalar twin of fbank_forward (same arguments, same result up to f32 rounding). */
export function fbank_forward_naive(out: usize, samples: usize, n: i32, sample_rate: f64, num_bins: i32): i32 {
  const err = fbank_setup(sample_rate, num_bins);
  if (err < 0) return err;
  const frames = fbank_num_frames(n, sample_rate);
  for (let t = 0; t < frames; t++) {
    frame_naive(out + (<usize>t * num_bins << 2), samples + (<usize>t * cfg_shift << 2), num_bins);
  }
  return frames;
}
