// A corpus: the utterances of one or more NeMo manifests, text normalised, with the skip-and-count
// ledger of everything that was left out. This is what `train` and `eval` call: load, attach a
// tokenizer (which skips texts it cannot encode, naming file and line), then hand the utterances to
// the batcher and the loader. Audio is not touched here (the loader decodes; `prepare` verifies).

import { DataError, SkipLedger } from "./errors.js";
import { readManifest } from "./manifest.js";
import { normalizeText } from "./normalize.js";
import type { Tokenizer } from "./tokenizer.js";

export interface Utterance {
  /** Absolute audio path. */
  audio: string;
  /** Seconds, from the manifest. */
  duration: number;
  /** Normalised text. */
  text: string;
  /** `manifest.jsonl:LINE`. */
  source: string;
  /** Token ids (no blank), once a tokenizer is attached. */
  tokens?: Int32Array;
}

export interface CorpusOptions {
  strict?: boolean;
  /** Leave out utterances longer than this (seconds); they are counted, not errors. */
  maxDuration?: number;
  /** Share one ledger across several corpora (train + valid). */
  ledger?: SkipLedger;
}

export class Corpus {
  readonly utterances: Utterance[];
  readonly ledger: SkipLedger;
  /** Utterances dropped for length (not errors). */
  readonly tooLong: number;

  constructor(utterances: Utterance[], ledger: SkipLedger, tooLong = 0) {
    this.utterances = utterances;
    this.ledger = ledger;
    this.tooLong = tooLong;
  }

  /** Loads manifests; bad lines are skipped into the ledger (or thrown with --strict). */
  static load(manifests: string[], opts: CorpusOptions = {}): Corpus {
    const ledger = opts.ledger ?? new SkipLedger(opts.strict);
    const utts: Utterance[] = [];
    let tooLong = 0;
    for (const m of manifests) {
      for (const e of readManifest(m, ledger)) {
        if (opts.maxDuration !== undefined && e.duration > opts.maxDuration) {
          tooLong++;
          continue;
        }
        utts.push({ audio: e.audio, duration: e.duration, text: normalizeText(e.text), source: e.source });
      }
    }
    return new Corpus(utts, ledger, tooLong);
  }

  get hours(): number {
    return this.utterances.reduce((s, u) => s + u.duration, 0) / 3600;
  }

  texts(): string[] {
    return this.utterances.map((u) => u.text);
  }

  /**
   * Encodes every text; an utterance whose text the tokenizer cannot encode (or that is empty) is
   * skipped into the ledger as "unencodable-text" with its manifest line. Returns a new Corpus.
   */
  tokenize(tok: Tokenizer): Corpus {
    const kept: Utterance[] = [];
    for (const u of this.utterances) {
      const [file, line] = splitSource(u.source);
      try {
        const bad = tok.unknownChar(u.text);
        if (bad !== undefined) {
          const code = bad.codePointAt(0)!.toString(16).toUpperCase().padStart(4, "0");
          throw new DataError("unencodable-text", file, line, `text has character '${bad}' (U+${code}) that the tokenizer cannot encode`);
        }
        if (u.text === "") throw new DataError("unencodable-text", file, line, "text is empty after normalisation");
        kept.push({ ...u, tokens: Int32Array.from(tok.encode(u.text)) });
      } catch (e) {
        this.ledger.skip(e);
      }
    }
    return new Corpus(kept, this.ledger, this.tooLong);
  }
}

function splitSource(source: string): [string, number | undefined] {
  const m = /^(.*):(\d+)$/.exec(source);
  return m ? [m[1], Number(m[2])] : [source, undefined];
}
