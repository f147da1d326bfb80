// FLAC decoding through @wasm-audio-decoders/flac (libFLAC compiled to WASM, MIT), plus the checks
// that library leaves to us.
//
// The decoder returns 0 samples and no error for garbage, and a silently shortened signal for a
// truncated or corrupt file. We therefore parse STREAMINFO ourselves (FLAC format spec, "METADATA_BLOCK_
// STREAMINFO") and compare its total-sample count with what was decoded. Not checked: the MD5 of the
// decoded signal (decoding is the bottleneck; a mismatch in length catches truncation and the corruption
// we have seen). Multi-channel files are mixed down to mono by averaging.

import { FLACDecoder } from "@wasm-audio-decoders/flac";
import { DataError } from "../data/errors.js";
import type { DecodedAudio } from "./wav.js";

export interface StreamInfo {
  sampleRate: number;
  channels: number;
  bitsPerSample: number;
  /** 0 when the encoder did not know it (streamed encoding). */
  totalSamples: number;
}

/** Parses the mandatory STREAMINFO block that follows the `fLaC` marker. */
export function readStreamInfo(bytes: Uint8Array, file: string): StreamInfo {
  if (bytes.length === 0) throw new DataError("empty", file, undefined, "empty audio file (0 bytes)");
  if (bytes.length < 4 || bytes[0] !== 0x66 || bytes[1] !== 0x4c || bytes[2] !== 0x61 || bytes[3] !== 0x43) {
    throw new DataError("bad-header", file, undefined, "not a FLAC file (missing 'fLaC' marker)");
  }
  if (bytes.length < 8 + 34) throw new DataError("truncated", file, undefined, "truncated: FLAC file ends inside STREAMINFO");
  const type = bytes[4] & 0x7f;
  const len = (bytes[5] << 16) | (bytes[6] << 8) | bytes[7];
  if (type !== 0 || len !== 34) {
    throw new DataError("bad-header", file, undefined, `first FLAC metadata block is not a 34-byte STREAMINFO (type ${type}, ${len} bytes)`);
  }
  const s = 8;
  const sampleRate = (bytes[s + 10] << 12) | (bytes[s + 11] << 4) | (bytes[s + 12] >> 4);
  const channels = ((bytes[s + 12] >> 1) & 7) + 1;
  const bitsPerSample = (((bytes[s + 12] & 1) << 4) | (bytes[s + 13] >> 4)) + 1;
  const totalSamples = (bytes[s + 13] & 0x0f) * 2 ** 32 + ((bytes[s + 14] << 24) >>> 0) + (bytes[s + 15] << 16) + (bytes[s + 16] << 8) + bytes[s + 17];
  if (sampleRate === 0) throw new DataError("bad-header", file, undefined, "FLAC STREAMINFO has sample rate 0");
  return { sampleRate, channels, bitsPerSample, totalSamples };
}

let decoder: FLACDecoder | undefined;
let queue: Promise<unknown> = Promise.resolve();

/** Decodes a FLAC file's bytes; `file` only names it in errors. Calls are serialised on one decoder. */
export function readFlac(bytes: Uint8Array, file: string): Promise<DecodedAudio> {
  const info = readStreamInfo(bytes, file);
  const job = queue.then(async () => {
    if (!decoder) {
      decoder = new FLACDecoder();
      await decoder.ready;
    }
    // decodeFile resets the decoder itself when it returns (a second reset doubled the cost); after
    // a throw we reset, so that a bad file leaves nothing behind for the next one.
    try {
      return await decoder.decodeFile(bytes);
    } catch (e) {
      await decoder.reset();
      throw e;
    }
  });
  queue = job.catch(() => undefined);
  return job.then((r) => {
    if (r.errors.length > 0) {
      throw new DataError("corrupt", file, undefined, `corrupt FLAC data: ${r.errors[0].message} (frame ${r.errors[0].frameNumber})`);
    }
    if (r.samplesDecoded === 0) throw new DataError("corrupt", file, undefined, "corrupt FLAC data: no frame could be decoded");
    if (info.totalSamples > 0 && r.samplesDecoded !== info.totalSamples) {
      const kind = r.samplesDecoded < info.totalSamples ? "truncated" : "corrupt";
      throw new DataError(kind, file, undefined,
        `${kind === "truncated" ? "truncated or corrupt" : "corrupt"} FLAC: decoded ${r.samplesDecoded} samples, STREAMINFO declares ${info.totalSamples}`);
    }
    // The library scales integers by 1/(2^(b-1) - 1); WAV readers (ours, torchaudio, sox) use
    // 1/2^(b-1). Recover the integer (exact up to 24 bits) and rescale, so that a FLAC and the WAV
    // it was encoded from give identical samples and hence identical features.
    const full = 2 ** (r.bitDepth - 1);
    const ch = r.channelData;
    const samples = new Float32Array(r.samplesDecoded);
    for (const c of ch) for (let i = 0; i < samples.length; i++) samples[i] += Math.round(c[i] * (full - 1)) / full;
    if (ch.length > 1) for (let i = 0; i < samples.length; i++) samples[i] /= ch.length;
    return { samples, sampleRate: r.sampleRate, channels: ch.length, bitsPerSample: r.bitDepth };
  });
}
