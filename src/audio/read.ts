// Reads an audio file of either supported format, recognised by its leading bytes (never by its
// extension), to mono float samples at the file's own rate; optionally resampled.
// Not a streaming reader: files are read whole (utterances are seconds long).

import { readFile } from "node:fs/promises";
import { DataError } from "../data/errors.js";
import { readFlac, readStreamInfo } from "./flac.js";
import { resample } from "./resample.js";
import { readWav, type DecodedAudio } from "./wav.js";

/** Decodes WAV or FLAC bytes, choosing by the magic bytes. */
export async function decodeAudio(bytes: Uint8Array, file: string): Promise<DecodedAudio> {
  if (bytes.length === 0) throw new DataError("empty", file, undefined, "empty audio file (0 bytes)");
  const magic = String.fromCharCode(...bytes.subarray(0, 4));
  if (magic === "RIFF") return readWav(bytes, file);
  if (magic === "fLaC") return readFlac(bytes, file);
  const shown = Array.from(bytes.subarray(0, 4), (b) => b.toString(16).padStart(2, "0")).join(" ");
  throw new DataError("unknown-format", file, undefined, `unknown audio format (first bytes ${shown}); todm reads WAV and FLAC`);
}

/** Reads a file from disk; a missing file is a DataError of kind "missing-audio". */
export async function readAudioFile(path: string): Promise<DecodedAudio> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT") throw new DataError("missing-audio", path, undefined, "audio file not found");
    throw new DataError("missing-audio", path, undefined, `cannot read audio file: ${(e as Error).message}`);
  }
  return decodeAudio(bytes, path);
}

/** Reads a file and resamples it to `rate` (16 kHz by default). */
export async function readAudioAt(path: string, rate = 16000): Promise<Float32Array> {
  const a = await readAudioFile(path);
  return a.sampleRate === rate ? a.samples : resample(a.samples, a.sampleRate, rate);
}

/**
 * Duration and rate of a file. With `verify` the file is decoded in full (so a corrupt or truncated
 * file is caught); without it only the header is read (STREAMINFO or the WAV chunks).
 */
export async function probeAudio(path: string, verify = true): Promise<{ duration: number; sampleRate: number }> {
  if (verify) {
    const a = await readAudioFile(path);
    return { duration: a.samples.length / a.sampleRate, sampleRate: a.sampleRate };
  }
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch {
    throw new DataError("missing-audio", path, undefined, "audio file not found");
  }
  if (bytes.length >= 4 && String.fromCharCode(...bytes.subarray(0, 4)) === "fLaC") {
    const info = readStreamInfo(bytes, path);
    if (info.totalSamples === 0) throw new DataError("bad-header", path, undefined, "FLAC STREAMINFO does not give the length; use verification");
    return { duration: info.totalSamples / info.sampleRate, sampleRate: info.sampleRate };
  }
  const a = await decodeAudio(bytes, path);
  return { duration: a.samples.length / a.sampleRate, sampleRate: a.sampleRate };
}
