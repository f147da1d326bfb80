// The one error type of the data side, and the skip-and-count ledger that batch jobs keep.
//
// Every reader throws `DataError` with the file (and, for manifests and transcripts, the 1-based line)
// in its message, so a user can open the culprit directly. Batch jobs (`prepare`, and later `train` and
// `eval`) do not stop at the first bad item: they record it in a `SkipLedger`, go on, and print the
// ledger at the end; with `--strict` the ledger throws the first error instead.
// This file is not a logger; it holds no I/O beyond formatting.

/** What went wrong; tests and reports group skipped items by it. */
export type DataErrorKind =
  | "empty" // a zero-byte audio file
  | "truncated" // audio shorter than its header promises
  | "corrupt" // audio whose data cannot be decoded
  | "unknown-format" // neither WAV nor FLAC
  | "bad-header" // a WAV/FLAC header field that is wrong or missing
  | "bad-json" // a manifest line that is not JSON
  | "missing-field" // a manifest line without audio_filepath / duration / text, or of the wrong type
  | "missing-audio" // a path that does not exist
  | "unencodable-text" // text with characters the tokenizer cannot encode
  | "bad-transcript"; // a LibriSpeech transcript line that is not `<id> <TEXT>`

export class DataError extends Error {
  readonly kind: DataErrorKind;
  readonly file: string;
  readonly line: number | undefined;
  /** The message without the file and line. */
  readonly detail: string;
  constructor(kind: DataErrorKind, file: string, line: number | undefined, detail: string) {
    super(`${file}${line === undefined ? "" : `:${line}`}: ${detail}`);
    this.name = "DataError";
    this.kind = kind;
    this.file = file;
    this.line = line;
    this.detail = detail;
  }

  /** A plain object that survives postMessage; `DataError.from` rebuilds the error. */
  toPlain(): { kind: DataErrorKind; file: string; line?: number; detail: string } {
    return { kind: this.kind, file: this.file, line: this.line, detail: this.detail };
  }

  static from(p: { kind: DataErrorKind; file: string; line?: number; detail: string }): DataError {
    return new DataError(p.kind, p.file, p.line, p.detail);
  }
}

/** Items skipped by a batch job, counted by kind, with every message kept for the final report. */
export class SkipLedger {
  readonly strict: boolean;
  readonly errors: DataError[] = [];
  constructor(strict = false) {
    this.strict = strict;
  }

  /** Records a DataError; rethrows it in strict mode; rethrows anything that is not a DataError. */
  skip(e: unknown): void {
    if (!(e instanceof DataError)) throw e;
    if (this.strict) throw e;
    this.errors.push(e);
  }

  get count(): number {
    return this.errors.length;
  }

  byKind(): Partial<Record<DataErrorKind, number>> {
    const out: Partial<Record<DataErrorKind, number>> = {};
    for (const e of this.errors) out[e.kind] = (out[e.kind] ?? 0) + 1;
    return out;
  }

  /** The end-of-job report: one summary line, then one line per skipped item (at most `limit`). */
  report(limit = 50): string[] {
    if (this.errors.length === 0) return ["skipped: 0"];
    const kinds = Object.entries(this.byKind()).map(([k, n]) => `${k} ${n}`).join(", ");
    const lines = [`skipped: ${this.errors.length} (${kinds})`];
    for (const e of this.errors.slice(0, limit)) lines.push(`  ${e.message}`);
    if (this.errors.length > limit) lines.push(`  ... and ${this.errors.length - limit} more`);
    return lines;
  }
}
