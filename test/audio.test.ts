// Audio readers and the resampler: WAV against values we wrote and against Python's `wave` writer,
// FLAC against the lossless WAV it was encoded from (Debian `flac`), the resampler against
// torchaudio.functional.resample (test/ref/resample.py) and against analytic sines; then each bad-input
// case, whose message must name the file.

import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { readFlac, readStreamInfo } from "../src/audio/flac.js";
import { decodeAudio, readAudioFile } from "../src/audio/read.js";
import { resample } from "../src/audio/resample.js";
import { readWav, writeWav, type WavEncoding } from "../src/audio/wav.js";
import { DataError } from "../src/data/errors.js";
import { rng } from "./helpers.js";
import { checkOp, readFixture } from "./harness.js";

const FIX = "test/fixtures";

function noise(n: number, seed: number, amp = 0.9): Float32Array {
  const r = rng(seed);
  return Float32Array.from({ length: n }, () => (r() * 2 - 1) * amp);
}

/** The quantisation step of an encoding: the largest error a PCM round trip may make is half of it. */
function step(enc: WavEncoding): number {
  if (enc.float) return enc.bits === 32 ? 1e-7 : 0; // f32 holds our f32 samples exactly; f64 too
  return 2 / 2 ** enc.bits;
}

const ENCODINGS: WavEncoding[] = [
  { bits: 8 }, { bits: 16 }, { bits: 24 }, { bits: 32 },
  { bits: 32, float: true }, { bits: 64, float: true },
  { bits: 16, extensible: true }, { bits: 32, float: true, extensible: true },
];

describe("WAV", () => {
  for (const enc of ENCODINGS) {
    it(`round-trips ${enc.float ? "float" : "PCM"} ${enc.bits}-bit${enc.extensible ? " (extensible)" : ""}, mixing channels down`, () => {
      fc.assert(
        fc.property(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 301 }), fc.integer(), (nc, n, seed) => {
          const chans = Array.from({ length: nc }, (_, c) => noise(n, seed + c));
          const got = readWav(writeWav(chans, 12345, enc), "x.wav");
          expect(got.sampleRate).toBe(12345);
          expect(got.channels).toBe(nc);
          const mean = Float32Array.from({ length: n }, (_, i) => chans.reduce((s, ch) => s + ch[i], 0) / nc);
          // Each channel is off by at most half a quantisation step (one for 8-bit, whose scale is
          // asymmetric); the mean of channels then too, plus f32 rounding of the sum.
          checkOp("mix-down", got.samples, mean, step(enc) + 1e-6);
        }),
        { numRuns: 20 },
      );
    });
  }

  it("reads a file written by Python's wave module (16-bit mono) and FLAC decodes to the same samples", async () => {
    const wav = readWav(readFileSync(`${FIX}/tone-16k-mono.wav`), "tone.wav");
    expect([wav.sampleRate, wav.channels, wav.bitsPerSample, wav.samples.length]).toEqual([16000, 1, 16, 2000]);
    // The signal is 0.4 sin(2 pi 300 t) + 5% uniform noise: it stays within +-0.43, not silent.
    const peak = wav.samples.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    expect(peak).toBeGreaterThan(0.35);
    expect(peak).toBeLessThan(0.43);
    const flac = await readFlac(readFileSync(`${FIX}/tone-16k-mono.flac`), "tone.flac");
    expect(flac.sampleRate).toBe(16000);
    checkOp("flac vs wav", flac.samples, wav.samples, 0); // FLAC is lossless: bit-exact
  });

  it("decodes a good FLAC correctly right after a corrupt and a truncated one (no state left behind)", async () => {
    const good = readFileSync(`${FIX}/tone-16k-mono.flac`);
    await expect(readFlac(corrupt(good), "bad.flac")).rejects.toThrow(DataError);
    await expect(readFlac(good.subarray(0, 1500), "cut.flac")).rejects.toThrow(DataError);
    const wav = readWav(readFileSync(`${FIX}/tone-16k-mono.wav`), "tone.wav");
    checkOp("flac after errors", (await readFlac(good, "tone.flac")).samples, wav.samples, 0); // lossless
  });

  it("reads 24-bit stereo (WAV from Python, FLAC from Debian flac) identically, mixed down", async () => {
    const wav = readWav(readFileSync(`${FIX}/tone-8k-stereo.wav`), "tone.wav");
    expect([wav.sampleRate, wav.channels, wav.bitsPerSample, wav.samples.length]).toEqual([8000, 2, 24, 1001]);
    const flac = await decodeAudio(readFileSync(`${FIX}/tone-8k-stereo.flac`), "tone.flac");
    expect(flac.channels).toBe(2);
    // Both paths average the same 24-bit integers; the two libraries scale by 2^23 the same way.
    checkOp("flac vs wav", flac.samples, wav.samples, 1e-7); // f32 rounding of the mean
    const info = readStreamInfo(readFileSync(`${FIX}/tone-8k-stereo.flac`), "tone.flac");
    expect(info).toEqual({ sampleRate: 8000, channels: 2, bitsPerSample: 24, totalSamples: 1001 });
  });
});

interface ResampleCase {
  name: string;
  from_rate: number;
  to_rate: number;
  options: { lowpassFilterWidth: number; rolloff: number; beta: number };
  input: number[];
  output: number[];
}

describe("resample", () => {
  const fix = readFixture("resample.json", "test/ref/resample.py");
  expect(fix.magic).toBe("todm-fixture");
  for (const c of fix.cases as ResampleCase[]) {
    it(`matches torchaudio: ${c.name}`, () => {
      const y = resample(Float32Array.from(c.input), c.from_rate, c.to_rate, c.options);
      expect(y.length).toBe(c.output.length);
      // Same filter in f64 on both sides; ours rounds the output to f32 (|y| < 1: 6e-8) and the
      // fixture is rounded to 8 decimals (5e-9).
      checkOp(c.name, y, c.output, 2e-7);
    });
  }

  it("keeps an in-band sine (interior samples against the analytic sine)", () => {
    for (const [from, to, f] of [[22050, 16000, 1000], [8000, 16000, 3000], [44100, 16000, 5000], [16000, 11025, 2500]]) {
      const n = from; // one second
      const x = Float32Array.from({ length: n }, (_, i) => 0.5 * Math.sin((2 * Math.PI * f * i) / from));
      const y = resample(x, from, to);
      const ref = Array.from(y, (_, j) => 0.5 * Math.sin((2 * Math.PI * f * j) / to));
      // Away from the zero-padded ends (100 ms), the Kaiser filter's pass-band ripple
      // (beta 8.555: about 1e-4 relative) bounds the error.
      const lo = Math.round(to * 0.1), hi = y.length - lo;
      checkOp(`${from}->${to} ${f} Hz`, y.subarray(lo, hi), ref.slice(lo, hi), 5e-4);
    }
  });

  it("removes a tone above the new Nyquist frequency (no aliasing)", () => {
    const from = 44100, to = 16000, f = 9000; // would alias to 7 kHz
    const x = Float32Array.from({ length: from }, (_, i) => 0.5 * Math.sin((2 * Math.PI * f * i) / from));
    const y = resample(x, from, to).subarray(1600, 14400);
    const rms = Math.sqrt(y.reduce((s, v) => s + v * v, 0) / y.length);
    // Stop-band attenuation of the Kaiser window (beta 8.555) is about 85 dB: 0.35 * 10^-4 ~ 4e-5.
    expect(rms).toBeLessThan(3.5e-4);
  });

  it("has ceil(n * to / from) samples for awkward lengths", () => {
    for (const n of [0, 1, 3, 5, 7, 13, 441, 442]) {
      expect(resample(new Float32Array(n), 22050, 16000).length).toBe(Math.ceil((n * 320) / 441));
    }
  });
});

describe("bad audio input: the message names the file", () => {
  const dir = mkdtempSync(join(tmpdir(), "todm-audio-"));
  const good = writeWav([noise(800, 3)], 16000);
  const cases: [string, Uint8Array, string, RegExp][] = [
    ["empty file", new Uint8Array(0), "empty", /empty audio file/],
    ["truncated WAV", good.subarray(0, 700), "truncated", /truncated/],
    ["WAV without data chunk", good.subarray(0, 40), "truncated", /no 'data' chunk/],
    ["unknown format", new TextEncoder().encode("ID3\u0003 this is an mp3, honest"), "unknown-format", /unknown audio format/],
    ["truncated FLAC", readFileSync(`${FIX}/tone-16k-mono.flac`).subarray(0, 1500), "truncated", /declares 2000/],
    ["corrupt FLAC", corrupt(readFileSync(`${FIX}/tone-16k-mono.flac`)), "corrupt", /corrupt/],
    ["FLAC with no frames", readFileSync(`${FIX}/tone-16k-mono.flac`).subarray(0, 42), "corrupt", /no frame/],
    ["wrong header field (bits)", patch(good, 34, 12), "bad-header", /sample size 12 bits/],
    ["wrong header field (rate)", patch32(good, 24, 7), "bad-header", /sample rate 7/],
    ["wrong header field (encoding)", patch(good, 20, 2), "unknown-format", /format tag 2/],
    ["missing header field (no fmt chunk)", noFmt(good), "bad-header", /no 'fmt ' chunk/],
    ["not RIFF/WAVE", patchAscii(good, 8, "AVI "), "bad-header", /RIFF\/WAVE/],
  ];
  for (const [what, bytes, kind, re] of cases) {
    it(what, async () => {
      const path = join(dir, `${what.replace(/\W+/g, "-")}.wav`);
      writeFileSync(path, bytes);
      const err = await readAudioFile(path).then(() => null, (e: unknown) => e);
      expect(err).toBeInstanceOf(DataError);
      expect((err as DataError).kind).toBe(kind);
      expect((err as DataError).message).toContain(path);
      expect((err as DataError).message).toMatch(re);
    });
  }
  it("missing file", async () => {
    const path = join(dir, "nope.flac");
    await expect(readAudioFile(path)).rejects.toThrow(`${path}: audio file not found`);
  });
});

function patch(b: Uint8Array, at: number, v: number): Uint8Array {
  const c = b.slice();
  new DataView(c.buffer).setUint16(at, v, true);
  return c;
}
function patch32(b: Uint8Array, at: number, v: number): Uint8Array {
  const c = b.slice();
  new DataView(c.buffer).setUint32(at, v, true);
  return c;
}
function patchAscii(b: Uint8Array, at: number, s: string): Uint8Array {
  const c = b.slice();
  for (let i = 0; i < s.length; i++) c[at + i] = s.charCodeAt(i);
  return c;
}
/** Renames the 'fmt ' chunk so the header field is missing. */
function noFmt(b: Uint8Array): Uint8Array {
  return patchAscii(b, 12, "junk");
}
/** Flips bits in the middle of the frames (after the 42-byte header). */
function corrupt(b: Uint8Array): Uint8Array {
  const c = Uint8Array.from(b);
  for (let i = 600; i < 1400; i++) c[i] ^= 0x5a;
  return c;
}
