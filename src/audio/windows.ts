// Reads an audio file as consecutive windows of mono samples at a target rate, holding one window
// (plus one read buffer) at a time: what `todm transcribe` uses so that an hour-long file needs no more
// memory than a 30 s one.
//
//   for await (const w of readAudioWindows("long.flac", { windowSeconds: 30 })) use(w);  // 16 kHz
//
// WAV: the header is read once, then each window's bytes are read at their offset and decoded by
// readWav (a copy of the header with the data size patched), so every encoding readWav knows works and
// the samples are bit-identical to readAudioFile's. FLAC: the file is fed to a private streaming
// decoder in 1 MiB reads; the length is checked against STREAMINFO at the end (a truncated file
// throws after its good windows were yielded). Each window is resampled on its own: for a rate other
// than 16 kHz the samples within a few filter taps of a window edge differ slightly from resampling the
// whole file (the sinc filter sees zeros past the edge). Errors are DataErrors naming the file, as in
// read.ts. Not a general streaming decoder (no stdin, no seeking by time).

import { open, type FileHandle } from "node:fs/promises";
import { FLACDecoder } from "@wasm-audio-decoders/flac";
import { DataError } from "../data/errors.js";
import { readStreamInfo } from "./flac.js";
import { decodeAudio, readAudioFile } from "./read.js";
import { resample } from "./resample.js";
import { readWav } from "./wav.js";

export interface AudioWindowOptions {
  /** Output rate (Default: 16000). */
  rate?: number;
  /** Window length in seconds of audio (Default: 30). */
  windowSeconds?: number;
  /** Bytes per read of a FLAC file (Default: 1 MiB; tests use small reads). */
  readBytes?: number;
}

const HEAD_BYTES = 1 << 16;

async function openAudio(path: string): Promise<FileHandle> {
  try {
    return await open(path, "r");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new DataError("missing-audio", path, undefined, code === "ENOENT" ? "audio file not found" : `cannot read audio file: ${(e as Error).message}`);
  }
}

async function readAt(fh: FileHandle, position: number, length: number): Promise<Uint8Array> {
  const buf = new Uint8Array(length);
  let got = 0;
  while (got < length) {
    const { bytesRead } = await fh.read(buf, got, length - got, position + got);
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  return got === length ? buf : buf.subarray(0, got);
}

/** Consecutive windows of mono samples at `rate`; their concatenation is the whole file. */
export async function* readAudioWindows(path: string, opts: AudioWindowOptions = {}): AsyncGenerator<Float32Array> {
  const rate = opts.rate ?? 16000, seconds = opts.windowSeconds ?? 30;
  if (!(seconds > 0)) throw new Error(`readAudioWindows: windowSeconds must be positive, got ${seconds}`);
  const fh = await openAudio(path);
  try {
    const size = (await fh.stat()).size;
    const head = await readAt(fh, 0, Math.min(size, HEAD_BYTES));
    const magic = String.fromCharCode(...head.subarray(0, 4));
    if (magic === "RIFF") yield* wavWindows(fh, path, head, size, rate, seconds);
    else if (magic === "fLaC") yield* flacWindows(fh, path, head, size, rate, seconds, opts.readBytes ?? 1 << 20);
    else await decodeAudio(head, path); // throws the usual "empty" or "unknown-format" error
  } finally {
    await fh.close();
  }
}

/** Whole-file fallback (a data chunk beyond the first 64 KiB): read, then cut. */
async function* cutWhole(path: string, rate: number, seconds: number): AsyncGenerator<Float32Array> {
  const a = await readAudioFile(path);
  const win = Math.round(seconds * a.sampleRate);
  for (let s = 0; s < a.samples.length; s += win) yield resample(a.samples.slice(s, s + win), a.sampleRate, rate);
}

async function* wavWindows(fh: FileHandle, path: string, head: Uint8Array, size: number, rate: number, seconds: number): AsyncGenerator<Float32Array> {
  const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
  let at = 12, dataAt = -1, dataLen = 0, blockAlign = 0, srcRate = 0;
  while (head.length >= 12 && at + 8 <= head.length) {
    const id = String.fromCharCode(...head.subarray(at, at + 4)), len = view.getUint32(at + 4, true);
    if (id === "fmt " && at + 8 + 14 <= head.length) {
      srcRate = view.getUint32(at + 12, true);
      blockAlign = view.getUint16(at + 20, true);
    } else if (id === "data") {
      dataAt = at + 8;
      dataLen = len;
      break;
    }
    at += 8 + len + (len & 1);
  }
  // No data chunk or no first block in the head: a tiny or broken file (readWav gives the error), or
  // an unusual layout (a large chunk before the samples), read whole.
  if (dataAt < 0 || blockAlign === 0 || dataAt + blockAlign > head.length) {
    yield* cutWhole(path, rate, seconds);
    return;
  }
  const available = size - dataAt;
  const streamed = dataLen >= 0x7fff0000 && view.getUint32(4, true) >= 0x7fff0000;
  if (dataLen > available && !streamed) {
    throw new DataError("truncated", path, undefined, `truncated: the header declares ${dataLen} bytes of samples, the file holds ${available}`);
  }
  const frames = Math.floor(Math.min(dataLen, available) / blockAlign);
  if (frames === 0) throw new DataError("empty", path, undefined, "no samples in the 'data' chunk");
  const win = Math.max(1, Math.round(seconds * srcRate));
  for (let f = 0; f < frames; f += win) {
    const n = Math.min(win, frames - f);
    const bytes = new Uint8Array(dataAt + n * blockAlign);
    bytes.set(head.subarray(0, dataAt));
    bytes.set(await readAt(fh, dataAt + f * blockAlign, n * blockAlign), dataAt);
    const v = new DataView(bytes.buffer);
    v.setUint32(4, bytes.length - 8, true);
    v.setUint32(dataAt - 4, n * blockAlign, true);
    const a = readWav(bytes, path);
    yield resample(a.samples, a.sampleRate, rate);
  }
}

async function* flacWindows(fh: FileHandle, path: string, head: Uint8Array, size: number, rate: number, seconds: number, readBytes: number): AsyncGenerator<Float32Array> {
  const info = readStreamInfo(head, path);
  const win = Math.max(1, Math.round(seconds * info.sampleRate));
  const full = 2 ** (info.bitsPerSample - 1);
  const decoder = new FLACDecoder();
  await decoder.ready;
  try {
    let pending = new Float32Array(0), decoded = 0;
    // Mixes a decoded block to mono with the integer rescaling of flac.ts (identical samples).
    const take = (r: { channelData: Float32Array[]; samplesDecoded: number; errors: { message: string; frameNumber: number }[] }) => {
      if (r.errors.length > 0) throw new DataError("corrupt", path, undefined, `corrupt FLAC data: ${r.errors[0].message} (frame ${r.errors[0].frameNumber})`);
      const n = r.samplesDecoded, ch = r.channelData;
      if (n === 0) return;
      const next = new Float32Array(pending.length + n);
      next.set(pending);
      for (const c of ch) for (let i = 0; i < n; i++) next[pending.length + i] += Math.round(c[i] * (full - 1)) / full;
      if (ch.length > 1) for (let i = 0; i < n; i++) next[pending.length + i] /= ch.length;
      pending = next;
      decoded += n;
    };
    for (let pos = 0; pos < size; pos += readBytes) {
      take(await decoder.decode(await readAt(fh, pos, Math.min(readBytes, size - pos))));
      while (pending.length >= win) {
        yield resample(pending.slice(0, win), info.sampleRate, rate);
        pending = pending.slice(win);
      }
    }
    take(await decoder.flush());
    if (decoded === 0) throw new DataError("corrupt", path, undefined, "corrupt FLAC data: no frame could be decoded");
    if (info.totalSamples > 0 && decoded !== info.totalSamples) {
      const kind = decoded < info.totalSamples ? "truncated" : "corrupt";
      throw new DataError(kind, path, undefined,
        `${kind === "truncated" ? "truncated or corrupt" : "corrupt"} FLAC: decoded ${decoded} samples, STREAMINFO declares ${info.totalSamples}`);
    }
    for (let s = 0; s < pending.length; s += win) yield resample(pending.slice(s, s + win), info.sampleRate, rate);
  } finally {
    decoder.free();
  }
}
