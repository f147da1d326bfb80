// NeMo-style JSONL manifests: one JSON object a line, `{"audio_filepath", "duration", "text"}`, with
// `audio_filepath` relative to the manifest's folder (absolute paths are accepted too). Extra fields
// are kept. Reading skips and counts bad lines through a SkipLedger (see errors.ts); writing is
// atomic (a temporary file renamed into place). Not a reader of other manifest dialects (Kaldi
// wav.scp/text, ESPnet).

import { existsSync, readFileSync, renameSync, rmSync, writeFileSync, mkdirSync } from "node:fs";
import { dirname, isAbsolute, join, relative, resolve, sep } from "node:path";
import { DataError, SkipLedger } from "./errors.js";

export interface ManifestEntry {
  /** Absolute path of the audio file. */
  audio: string;
  /** Seconds. */
  duration: number;
  /** The text as written in the manifest (normalise with normalizeText before use). */
  text: string;
  /** Where the entry came from, for error messages: `manifest.jsonl:12`. */
  source: string;
  /** Any other fields of the line. */
  extra?: Record<string, unknown>;
}

/**
 * Reads a manifest. Bad lines (not JSON, a missing or mistyped field, a missing audio file) are passed
 * to `ledger` (which throws in strict mode) and left out. Blank lines are ignored.
 */
export function readManifest(path: string, ledger = new SkipLedger(), opts: { checkAudioExists?: boolean } = {}): ManifestEntry[] {
  const checkAudio = opts.checkAudioExists ?? true;
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new Error(`cannot read manifest ${path}: ${(e as Error).message}`);
  }
  const base = dirname(resolve(path));
  const out: ManifestEntry[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (!line) continue;
    try {
      out.push(parseLine(line, path, i + 1, base, checkAudio));
    } catch (e) {
      ledger.skip(e);
    }
  }
  return out;
}

function parseLine(line: string, path: string, n: number, base: string, checkAudio: boolean): ManifestEntry {
  let obj: unknown;
  try {
    obj = JSON.parse(line);
  } catch (e) {
    throw new DataError("bad-json", path, n, `not valid JSON (${(e as Error).message})`);
  }
  if (typeof obj !== "object" || obj === null || Array.isArray(obj)) {
    throw new DataError("bad-json", path, n, "a manifest line must be a JSON object");
  }
  const o = obj as Record<string, unknown>;
  const { audio_filepath, duration, text, ...extra } = o;
  if (typeof audio_filepath !== "string" || audio_filepath === "") {
    throw new DataError("missing-field", path, n, `missing or non-string field "audio_filepath"`);
  }
  if (typeof duration !== "number" || !Number.isFinite(duration) || duration <= 0) {
    throw new DataError("missing-field", path, n, `missing or invalid field "duration" (a positive number of seconds)`);
  }
  if (typeof text !== "string") throw new DataError("missing-field", path, n, `missing or non-string field "text"`);
  const audio = isAbsolute(audio_filepath) ? audio_filepath : join(base, audio_filepath);
  if (checkAudio && !existsSync(audio)) {
    throw new DataError("missing-audio", path, n, `audio file not found: ${audio}`);
  }
  const e: ManifestEntry = { audio, duration, text, source: `${path}:${n}` };
  if (Object.keys(extra).length) e.extra = extra;
  return e;
}

/** Writes entries as JSONL with paths relative to the manifest's folder; atomic (temp + rename, or `write`). */
export function writeManifest(path: string, entries: Pick<ManifestEntry, "audio" | "duration" | "text" | "extra">[], write = writeAtomic): void {
  const base = dirname(resolve(path));
  mkdirSync(base, { recursive: true });
  const lines = entries.map((e) => {
    let rel = relative(base, e.audio);
    if (sep !== "/") rel = rel.split(sep).join("/");
    return JSON.stringify({ audio_filepath: rel, duration: Math.round(e.duration * 1e4) / 1e4, text: e.text, ...(e.extra ?? {}) });
  });
  write(path, lines.join("\n") + (lines.length ? "\n" : ""));
}

/** Writes a file through a temporary sibling and a rename, so readers never see half a file. */
export function writeAtomic(path: string, data: string | Uint8Array): void {
  const tmp = `${path}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  try {
    writeFileSync(tmp, data);
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true }); // a full disk leaves no temporary file behind
    throw e;
  }
}
