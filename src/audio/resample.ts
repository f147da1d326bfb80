// Band-limited resampling by a Kaiser-windowed sinc, polyphase, on the host.
//
// The rate ratio is reduced by its gcd to `from/g : to/g` (22050 -> 16000 is 441 : 320); each of the
// `to/g` output phases gets its own precomputed filter, and each output sample is one dot product
// over the input samples within `lowpassFilterWidth` zero crossings of the low-pass (cut off at
// `rolloff` times the lower Nyquist frequency). The signal is zero beyond both ends, and the output
// has ceil(n * to / from) samples. This is the filter design of torchaudio.functional.resample
// (method "kaiser_window", after Kaldi and julius): test/ref/resample.py writes its output for the
// tests, which agree to ~1e-6. Unlike torchaudio we only visit the non-zero taps (about
// 2 * width / rolloff per output sample instead of 2 * width * from / to + from / g).
// Not a streaming resampler: whole utterances only.

export interface ResampleOptions {
  /** Zero crossings of the sinc kept on each side (filter half-length); larger is sharper and slower. */
  lowpassFilterWidth?: number;
  /** Cut-off as a fraction of the lower of the two Nyquist frequencies. */
  rolloff?: number;
  /** Kaiser window shape: ~8.6 gives about 85 dB of stop-band attenuation. */
  beta?: number;
}

/** Defaults: 16 zero crossings, cut-off at 0.94 of Nyquist, Kaiser beta 8.555 (librosa "kaiser_fast"-like). */
export const RESAMPLE_DEFAULTS: Required<ResampleOptions> = { lowpassFilterWidth: 16, rolloff: 0.94, beta: 8.555 };

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

/** The modified Bessel function of the first kind, order 0 (power series; converges for all x). */
export function besselI0(x: number): number {
  let sum = 1, term = 1;
  const q = (x * x) / 4;
  for (let k = 1; k < 200; k++) {
    term *= q / (k * k);
    sum += term;
    if (term < sum * 1e-17) break;
  }
  return sum;
}

interface Plan {
  orig: number; // from / g
  next: number; // to / g
  first: Int32Array; // per phase: offset of its first tap relative to b*orig
  taps: Float64Array[]; // per phase: the filter
}

const plans = new Map<string, Plan>();

function plan(from: number, to: number, o: Required<ResampleOptions>): Plan {
  const key = `${from}:${to}:${o.lowpassFilterWidth}:${o.rolloff}:${o.beta}`;
  const cached = plans.get(key);
  if (cached) return cached;
  const g = gcd(from, to);
  const orig = from / g, next = to / g;
  const base = Math.min(orig, next) * o.rolloff; // cut-off, in cycles per gcd-grid unit
  const lpw = o.lowpassFilterWidth;
  const reach = (lpw * orig) / base; // filter half-length in input samples
  const i0beta = besselI0(o.beta);
  const first = new Int32Array(next);
  const taps: Float64Array[] = [];
  for (let i = 0; i < next; i++) {
    const center = (i * orig) / next; // this phase's output instant, in input samples after b*orig
    const lo = Math.ceil(center - reach - 1e-9), hi = Math.floor(center + reach + 1e-9);
    const h = new Float64Array(hi - lo + 1);
    for (let idx = lo; idx <= hi; idx++) {
      const t = Math.max(-lpw, Math.min(lpw, (idx / orig - i / next) * base)); // in zero crossings
      const r = t / lpw;
      const window = besselI0(o.beta * Math.sqrt(Math.max(0, 1 - r * r))) / i0beta;
      const sinc = t === 0 ? 1 : Math.sin(Math.PI * t) / (Math.PI * t);
      h[idx - lo] = (sinc * window * base) / orig;
    }
    first[i] = lo;
    taps.push(h);
  }
  const p = { orig, next, first, taps };
  if (plans.size > 16) plans.clear();
  plans.set(key, p);
  return p;
}

/** Resamples `x` from `from` Hz to `to` Hz (integer rates). Returns `x` itself when the rates match. */
export function resample(x: Float32Array, from: number, to: number, opts: ResampleOptions = {}): Float32Array {
  if (!Number.isInteger(from) || !Number.isInteger(to) || from <= 0 || to <= 0) {
    throw new Error(`resample: rates must be positive integers, got ${from} -> ${to}`);
  }
  if (from === to) return x;
  const o = { ...RESAMPLE_DEFAULTS, ...opts };
  const p = plan(from, to, o);
  const n = x.length;
  const outLen = Math.ceil((p.next * n) / p.orig);
  const y = new Float32Array(outLen);
  for (let b = 0, j = 0; j < outLen; b++) {
    for (let i = 0; i < p.next && j < outLen; i++, j++) {
      const h = p.taps[i];
      const start = b * p.orig + p.first[i];
      // Only the taps that fall inside the signal; the rest multiply the zero padding.
      const k0 = start < 0 ? -start : 0, k1 = Math.min(h.length, n - start);
      let acc = 0;
      for (let k = k0; k < k1; k++) acc += x[start + k] * h[k];
      y[j] = acc;
    }
  }
  return y;
}

/** The filter bank of a rate change (for the WASM speed perturbation, src/audio/speed.ts). */
export function resamplePlan(from: number, to: number, opts: ResampleOptions = {}): Readonly<Plan> {
  return plan(from, to, { ...RESAMPLE_DEFAULTS, ...opts });
}
