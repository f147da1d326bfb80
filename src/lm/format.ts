// todm's own LM file (`.tlm`): compact, versioned, with the tokenizer inside. Browser-safe (bytes in,
// bytes out; the command reads and writes files). docs: README "Language model"; the ARPA exchange
// format is arpa.ts. Not a general container: one backoff n-gram model (tables.ts) per file.
//
// Layout, little-endian:
//   0  8 bytes  magic "TODM-LM\0"
//   8  u32      format version (LM_FORMAT_VERSION)
//  12  u32      byte length J of the header JSON
//  16  J bytes  header JSON (UTF-8): { order, vocab, counts: [n-grams per order], tokenizer: TokenizerJSON,
//               info?: free-form (how it was built) }, then zero padding to a multiple of 4
//   then per order n = 1..N, each array of counts[n-1] elements:
//               parent u32 (orders >= 2 only), word u32, logProb f32 (log10), backoff f32 (orders < N only)
// The file's length must be exactly what the counts say: a truncated or padded file is refused.

import type { TokenizerJSON } from "../data/tokenizer.js";
import { checkTables, type NgramTables } from "./tables.js";

export const LM_MAGIC = "TODM-LM\0";
export const LM_FORMAT_VERSION = 1;

export class LmFileError extends Error {
  constructor(readonly source: string, problem: string, hint?: string) {
    super(`${source}: ${problem}${hint ? ` (${hint})` : ""}`);
    this.name = "LmFileError";
  }
}

export interface LmHeader {
  order: number;
  vocab: number;
  counts: number[];
  tokenizer: TokenizerJSON;
  info?: Record<string, unknown>;
}

const pad4 = (n: number) => (n + 3) & ~3;

/** Bytes of the n-gram arrays for these counts per order, plus `headerBytes` (JSON + 16). */
export function encodedSize(counts: readonly number[], headerBytes = 0): number {
  const N = counts.length;
  return pad4(16 + headerBytes) + counts.reduce((s, c, n) => s + c * (4 * (n > 0 ? 1 : 0) + 8 + 4 * (n < N - 1 ? 1 : 0)), 0);
}

/** The file's bytes. */
export function encodeLm(t: NgramTables, tokenizer: TokenizerJSON, info?: Record<string, unknown>): Uint8Array {
  const header: LmHeader = { order: t.order, vocab: t.vocab, counts: t.tables.map((x) => x.word.length), tokenizer, ...(info ? { info } : {}) };
  const json = new TextEncoder().encode(JSON.stringify(header));
  const total = encodedSize(header.counts, json.length);
  const out = new Uint8Array(total);
  const dv = new DataView(out.buffer);
  for (let i = 0; i < 8; i++) out[i] = LM_MAGIC.charCodeAt(i);
  dv.setUint32(8, LM_FORMAT_VERSION, true);
  dv.setUint32(12, json.length, true);
  out.set(json, 16);
  let o = pad4(16 + json.length);
  const put = (a: Uint32Array | Float32Array) => {
    out.set(new Uint8Array(a.buffer, a.byteOffset, a.byteLength), o);
    o += a.byteLength;
  };
  t.tables.forEach((tab, n) => {
    if (n > 0) put(tab.parent);
    put(tab.word);
    put(tab.logProb);
    if (n < t.order - 1) put(tab.backoff);
  });
  return out;
}

/** Parses and checks a file's bytes; every problem is an LmFileError naming `source`. */
export function decodeLm(bytes: Uint8Array, source = "<lm bytes>"): { tables: NgramTables; header: LmHeader } {
  const hint = "a todm LM file is written by todm lm";
  if (bytes.length < 16) throw new LmFileError(source, `truncated: ${bytes.length} bytes, shorter than the 16-byte preamble`, hint);
  const magic = String.fromCharCode(...bytes.subarray(0, 8));
  if (magic !== LM_MAGIC) {
    const arpa = /^\s*\\data\\/.test(new TextDecoder().decode(bytes.subarray(0, 64)));
    throw new LmFileError(source, "not a todm LM file (wrong magic)", arpa ? "it looks like ARPA: convert it with todm lm --from-arpa FILE --model MODEL --out LM" : hint);
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = dv.getUint32(8, true);
  if (version !== LM_FORMAT_VERSION) {
    throw new LmFileError(source, `LM format version ${version}${version > LM_FORMAT_VERSION ? " is newer than" : " is not"} what this todm reads (${LM_FORMAT_VERSION})`, version > LM_FORMAT_VERSION ? "update todm" : undefined);
  }
  const J = dv.getUint32(12, true);
  if (16 + J > bytes.length) throw new LmFileError(source, `truncated: the header says ${J} bytes of JSON, the file has ${bytes.length - 16} after the preamble`);
  let header: LmHeader;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(16, 16 + J)));
  } catch {
    throw new LmFileError(source, "the header is not JSON", hint);
  }
  const { order, vocab, counts } = header ?? ({} as LmHeader);
  if (!(Number.isInteger(order) && order >= 1 && Number.isInteger(vocab) && vocab >= 2 && Array.isArray(counts) && counts.length === order && counts.every((c) => Number.isInteger(c) && c >= 0) && header.tokenizer)) {
    throw new LmFileError(source, "the header lacks a valid order, vocab, counts or tokenizer");
  }
  const expected = encodedSize(counts, J);
  if (bytes.length !== expected) {
    throw new LmFileError(source, bytes.length < expected ? `truncated: ${bytes.length} bytes, the header's counts need ${expected}` : `${bytes.length - expected} bytes of trailing data after the n-grams`);
  }
  let o = pad4(16 + J);
  const copy = <T extends Uint32Array | Float32Array>(make: (n: number) => T, n: number): T => {
    const a = make(n);
    new Uint8Array(a.buffer).set(bytes.subarray(o, o + 4 * n));
    o += 4 * n;
    return a;
  };
  const tables: NgramTables = { order, vocab, tables: [] };
  counts.forEach((c, n) => {
    const parent = n > 0 ? copy((k) => new Uint32Array(k), c) : new Uint32Array(c);
    const word = copy((k) => new Uint32Array(k), c);
    const logProb = copy((k) => new Float32Array(k), c);
    const backoff = n < order - 1 ? copy((k) => new Float32Array(k), c) : new Float32Array(c);
    tables.tables.push({ parent, word, logProb, backoff });
  });
  checkTables(tables, (msg) => {
    throw new LmFileError(source, `corrupt n-gram tables: ${msg}`);
  });
  return { tables, header };
}
