// WAV (RIFF/WAVE) reading and writing on the host.
//
// Reads PCM 8-bit unsigned, 16/24/32-bit signed and IEEE float 32/64, mono or multi-channel (mixed
// down to mono by averaging the channels), in the plain and the WAVE_FORMAT_EXTENSIBLE layouts.
// Writes the same encodings, so tests and `synth` can make their own files. Not handled: RF64,
// compressed codecs (A-law, mu-law, ADPCM), big-endian RIFX; each is refused with a message that names
// the file. The reference is Microsoft's RIFF/WAVE spec; tests compare against values we wrote.

import { DataError } from "../data/errors.js";

export interface DecodedAudio {
  /** Mono samples in [-1, 1] (channels averaged). */
  samples: Float32Array;
  sampleRate: number;
  /** Channels in the file before the mix-down. */
  channels: number;
  bitsPerSample: number;
}

const FORMAT_PCM = 1;
const FORMAT_FLOAT = 3;
const FORMAT_EXTENSIBLE = 0xfffe;

function fourcc(b: Uint8Array, at: number): string {
  return String.fromCharCode(b[at], b[at + 1], b[at + 2], b[at + 3]);
}

/** Decodes a WAV file's bytes; `file` only names it in errors. */
export function readWav(bytes: Uint8Array, file: string): DecodedAudio {
  if (bytes.length === 0) throw new DataError("empty", file, undefined, "empty audio file (0 bytes)");
  if (bytes.length < 12 || fourcc(bytes, 0) !== "RIFF" || fourcc(bytes, 8) !== "WAVE") {
    throw new DataError("bad-header", file, undefined, "not a RIFF/WAVE file (missing 'RIFF....WAVE' header)");
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let fmt: { format: number; channels: number; rate: number; blockAlign: number; bits: number } | undefined;
  let dataAt = -1, dataLen = 0;
  let at = 12;
  while (at + 8 <= bytes.length) {
    const id = fourcc(bytes, at);
    const len = view.getUint32(at + 4, true);
    const body = at + 8;
    if (id === "fmt ") {
      if (len < 16 || body + 16 > bytes.length) {
        throw new DataError("bad-header", file, undefined, `'fmt ' chunk too short (${len} bytes, needs 16)`);
      }
      let format = view.getUint16(body, true);
      if (format === FORMAT_EXTENSIBLE) {
        if (len < 40 || body + 26 > bytes.length) {
          throw new DataError("bad-header", file, undefined, "WAVE_FORMAT_EXTENSIBLE 'fmt ' chunk without its sub-format");
        }
        format = view.getUint16(body + 24, true); // first two bytes of the sub-format GUID
      }
      fmt = {
        format,
        channels: view.getUint16(body + 2, true),
        rate: view.getUint32(body + 4, true),
        blockAlign: view.getUint16(body + 12, true),
        bits: view.getUint16(body + 14, true),
      };
    } else if (id === "data") {
      dataAt = body;
      dataLen = len;
      break; // the samples are the last thing we need; trailing chunks (LIST, id3) are ignored
    }
    at = body + len + (len & 1); // chunks are padded to an even size
  }
  if (!fmt) throw new DataError("bad-header", file, undefined, "no 'fmt ' chunk before the samples");
  if (dataAt < 0) throw new DataError("truncated", file, undefined, "no 'data' chunk (file truncated?)");
  const { format, channels, rate, bits } = fmt;
  if (format !== FORMAT_PCM && format !== FORMAT_FLOAT) {
    throw new DataError("unknown-format", file, undefined, `unsupported WAV encoding (format tag ${format}); only PCM and IEEE float are read`);
  }
  if (channels < 1) throw new DataError("bad-header", file, undefined, "header says 0 channels");
  if (rate < 1000 || rate > 768000) throw new DataError("bad-header", file, undefined, `implausible sample rate ${rate} Hz in the header`);
  const okBits = format === FORMAT_PCM ? [8, 16, 24, 32] : [32, 64];
  if (!okBits.includes(bits)) {
    throw new DataError("bad-header", file, undefined, `unsupported ${format === FORMAT_PCM ? "PCM" : "float"} sample size ${bits} bits`);
  }
  const bytesPer = bits / 8;
  if (fmt.blockAlign !== bytesPer * channels) {
    throw new DataError("bad-header", file, undefined, `block align ${fmt.blockAlign} does not match ${channels} channel(s) of ${bits} bits`);
  }
  // Writers that stream to a pipe cannot seek back to fill in the sizes and put a placeholder
  // instead (espeak-ng --stdout writes 0x7ffff000, others 0xffffffff): such a data chunk runs to the
  // end of the file. Any other data size beyond the end of the file means the file was truncated.
  const available = bytes.length - dataAt;
  const streamed = dataLen >= 0x7fff0000 && view.getUint32(4, true) >= 0x7fff0000;
  if (dataLen > available && !streamed) {
    throw new DataError("truncated", file, undefined, `truncated: the header declares ${dataLen} bytes of samples, the file holds ${available}`);
  }
  const usable = Math.min(dataLen, available);
  const frames = Math.floor(usable / fmt.blockAlign);
  if (frames === 0) throw new DataError("empty", file, undefined, "no samples in the 'data' chunk");

  const out = new Float32Array(frames);
  const scale = 1 / channels;
  let p = dataAt;
  for (let i = 0; i < frames; i++) {
    let s = 0;
    for (let c = 0; c < channels; c++, p += bytesPer) s += readSample(view, p, format, bits);
    out[i] = s * scale;
  }
  return { samples: out, sampleRate: rate, channels, bitsPerSample: bits };
}

function readSample(view: DataView, p: number, format: number, bits: number): number {
  if (format === FORMAT_FLOAT) return bits === 32 ? view.getFloat32(p, true) : view.getFloat64(p, true);
  switch (bits) {
    case 8:
      return (view.getUint8(p) - 128) / 128;
    case 16:
      return view.getInt16(p, true) / 32768;
    case 24: {
      const v = view.getUint8(p) | (view.getUint8(p + 1) << 8) | (view.getInt8(p + 2) << 16);
      return v / 8388608;
    }
    default:
      return view.getInt32(p, true) / 2147483648;
  }
}

export interface WavEncoding {
  /** 8, 16, 24 or 32 for PCM; 32 or 64 for float. */
  bits: 8 | 16 | 24 | 32 | 64;
  float?: boolean;
  /** Write the WAVE_FORMAT_EXTENSIBLE header instead of the plain one. */
  extensible?: boolean;
}

/**
 * Encodes channels (each the same length, samples in [-1, 1]) as a WAV file. PCM values are rounded
 * and clipped: the inverse of readWav up to one quantisation step.
 */
export function writeWav(channels: Float32Array[], sampleRate: number, enc: WavEncoding = { bits: 16 }): Uint8Array {
  const nc = channels.length;
  const frames = nc ? channels[0].length : 0;
  const bytesPer = enc.bits / 8;
  const fmtLen = enc.extensible ? 40 : 16;
  const dataLen = frames * nc * bytesPer;
  const total = 12 + 8 + fmtLen + 8 + dataLen + (dataLen & 1);
  const bytes = new Uint8Array(total);
  const v = new DataView(bytes.buffer);
  const tag = (at: number, s: string) => { for (let i = 0; i < 4; i++) bytes[at + i] = s.charCodeAt(i); };
  tag(0, "RIFF");
  v.setUint32(4, total - 8, true);
  tag(8, "WAVE");
  tag(12, "fmt ");
  v.setUint32(16, fmtLen, true);
  const format = enc.float ? FORMAT_FLOAT : FORMAT_PCM;
  v.setUint16(20, enc.extensible ? FORMAT_EXTENSIBLE : format, true);
  v.setUint16(22, nc, true);
  v.setUint32(24, sampleRate, true);
  v.setUint32(28, sampleRate * nc * bytesPer, true);
  v.setUint16(32, nc * bytesPer, true);
  v.setUint16(34, enc.bits, true);
  if (enc.extensible) {
    v.setUint16(36, 22, true); // cbSize
    v.setUint16(38, enc.bits, true); // valid bits
    v.setUint32(40, 0, true); // channel mask: unspecified
    // sub-format GUID {0000000X-0000-0010-8000-00aa00389b71}
    const guidTail = [0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xaa, 0x00, 0x38, 0x9b, 0x71];
    v.setUint16(44, format, true);
    guidTail.forEach((b, i) => (bytes[46 + i] = b));
  }
  const d = 12 + 8 + fmtLen;
  tag(d, "data");
  v.setUint32(d + 4, dataLen, true);
  let p = d + 8;
  for (let i = 0; i < frames; i++) {
    for (let c = 0; c < nc; c++, p += bytesPer) {
      const x = channels[c][i];
      if (enc.float) {
        if (enc.bits === 32) v.setFloat32(p, x, true);
        else v.setFloat64(p, x, true);
        continue;
      }
      const clip = (lo: number, hi: number, y: number) => Math.max(lo, Math.min(hi, Math.round(y)));
      switch (enc.bits) {
        case 8:
          v.setUint8(p, clip(0, 255, x * 128 + 128));
          break;
        case 16:
          v.setInt16(p, clip(-32768, 32767, x * 32768), true);
          break;
        case 24: {
          const y = clip(-8388608, 8388607, x * 8388608);
          bytes[p] = y & 255;
          bytes[p + 1] = (y >> 8) & 255;
          bytes[p + 2] = (y >> 16) & 255;
          break;
        }
        default:
          v.setInt32(p, clip(-2147483648, 2147483647, x * 2147483648), true);
      }
    }
  }
  return bytes;
}
