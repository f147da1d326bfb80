// safetensors: the file format of todm's models and checkpoints, so PyTorch users can read them
// (`safetensors.torch.load_file`, or 20 lines of Python: see docs/model-format.md).
//
// Layout: u64 little-endian header length N, then N bytes of JSON header, then the raw tensor bytes.
// The header maps each tensor name to {dtype, shape, data_offsets: [begin, end)} (offsets relative to
// the byte after the header) and holds string-to-string metadata under "__metadata__".
// We pad the header with spaces to a multiple of 8 bytes so every tensor starts 8-byte aligned.
// Reading validates everything and refuses a truncated or foreign file with a message naming it.

import { closeSync, fsyncSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from "node:fs";
import { decodeSafetensors, ModelFileError, type SafetensorsFile } from "./safetensors-bytes.js";

// The byte-level half (no node: imports) lives in safetensors-bytes.ts; re-exported here.
export * from "./safetensors-bytes.js";

/** Reads and parses a safetensors file, with errors that name it. */
export function readSafetensors(path: string): SafetensorsFile {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new ModelFileError(path, `cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  return decodeSafetensors(bytes, path);
}

/** Writes `bytes` to `path` atomically: a temp file beside it, fsync, then rename over the target. */
export function writeFileAtomic(path: string, bytes: Uint8Array | string): void {
  const tmp = `${path}.tmp-${process.pid}`;
  const fd = openSync(tmp, "w");
  try {
    const buf = typeof bytes === "string" ? Buffer.from(bytes) : bytes;
    let done = 0;
    while (done < buf.length) done += writeSync(fd, buf, done, buf.length - done);
    fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    try { unlinkSync(tmp); } catch { /* already gone */ }
    throw e;
  }
  closeSync(fd);
  renameSync(tmp, path);
}
