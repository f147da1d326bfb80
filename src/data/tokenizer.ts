// Tokenizers for the RNN-T targets: byte-pair encoding (BPE) trained on the training transcripts, or
// plain characters. Id 0 is the RNN-T blank in both; the rest are the symbols.
//
// BPE follows Sennrich et al. (2016) with SentencePiece's word-boundary marker: each word of the
// normalised text becomes "▁" followed by its characters, and the most frequent adjacent pair (ties
// broken by the pair's text, so training is deterministic) is merged until the vocabulary has the
// requested size. Pieces never cross words. Encoding applies the learned merges by rank; decoding
// concatenates pieces and turns "▁" back into spaces, so decode(encode(t)) === t for every normalised
// text t whose characters were seen in training. Text with an unseen character throws a
// TokenizerError naming the character; callers add the file and line. Not a unigram/LM tokenizer,
// and not byte-level: characters are Unicode code points.
// Both serialise to JSON (`toJSON()` / `tokenizerFromJSON`) for the model file's metadata.

export const BLANK = "<blank>";
const WORD = "\u2581"; // ▁, SentencePiece's word-start marker

export class TokenizerError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "TokenizerError";
  }
}

export interface TokenizerJSON {
  type: "bpe" | "char";
  version: 1;
  /** symbols[id]; symbols[0] is "<blank>". */
  symbols: string[];
  /** BPE only: merges in rank order, each a pair of symbols. */
  merges?: [string, string][];
}

export interface Tokenizer {
  readonly type: "bpe" | "char";
  /** Vocabulary size including the blank (the RNN-T output size V). */
  readonly size: number;
  readonly symbols: readonly string[];
  encode(text: string): number[];
  decode(ids: ArrayLike<number>): string;
  /** Whether every character of `text` is known; undefined when so, else the first unknown one. */
  unknownChar(text: string): string | undefined;
  toJSON(): TokenizerJSON;
}

function describeChar(c: string): string {
  return `'${c}' (U+${c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, "0")})`;
}

/** One symbol per character, and " " for the space between words. */
/** The symbols of ids joined, blanks (id 0) skipped; an id past the vocabulary is a TokenizerError. */
function joinSymbols(symbols: readonly string[], ids: ArrayLike<number>): string {
  let s = "";
  for (let i = 0; i < ids.length; i++) {
    if (ids[i] === 0) continue;
    const sym = symbols[ids[i]];
    if (sym === undefined) throw new TokenizerError(`cannot decode id ${ids[i]}: vocabulary has ${symbols.length}`);
    s += sym;
  }
  return s;
}

export class CharTokenizer implements Tokenizer {
  readonly type = "char";
  readonly symbols: readonly string[];
  private readonly ids: Map<string, number>;
  constructor(symbols: string[]) {
    if (symbols[0] !== BLANK) throw new TokenizerError(`char tokenizer: symbol 0 must be ${BLANK}`);
    this.symbols = symbols;
    this.ids = new Map(symbols.map((s, i) => [s, i]));
  }
  get size(): number {
    return this.symbols.length;
  }
  unknownChar(text: string): string | undefined {
    for (const c of text) if (!this.ids.has(c)) return c;
    return undefined;
  }
  encode(text: string): number[] {
    const out: number[] = [];
    for (const c of text) {
      const id = this.ids.get(c);
      if (id === undefined) throw new TokenizerError(`cannot encode character ${describeChar(c)}: not in the vocabulary`);
      out.push(id);
    }
    return out;
  }
  decode(ids: ArrayLike<number>): string {
    return joinSymbols(this.symbols, ids);
  }
  toJSON(): TokenizerJSON {
    return { type: "char", version: 1, symbols: [...this.symbols] };
  }
}

/** Builds a character vocabulary from (normalised) training texts: blank, space, then sorted characters. */
export function trainChar(texts: Iterable<string>): CharTokenizer {
  const chars = new Set<string>();
  for (const t of texts) for (const c of t) if (c !== " ") chars.add(c);
  return new CharTokenizer([BLANK, " ", ...[...chars].sort()]);
}

export class BpeTokenizer implements Tokenizer {
  readonly type = "bpe";
  readonly symbols: readonly string[];
  readonly merges: readonly [string, string][];
  private readonly ids: Map<string, number>;
  private readonly rank: Map<string, number>; // "a\u0000b" -> merge rank
  private readonly cache = new Map<string, number[]>();

  constructor(symbols: string[], merges: [string, string][]) {
    if (symbols[0] !== BLANK) throw new TokenizerError(`bpe tokenizer: symbol 0 must be ${BLANK}`);
    this.symbols = symbols;
    this.merges = merges;
    this.ids = new Map(symbols.map((s, i) => [s, i]));
    this.rank = new Map(merges.map(([a, b], i) => [`${a}\u0000${b}`, i]));
    for (const [a, b] of merges) {
      if (!this.ids.has(a + b)) throw new TokenizerError(`bpe tokenizer: merge ${a}+${b} has no symbol`);
    }
  }
  get size(): number {
    return this.symbols.length;
  }
  unknownChar(text: string): string | undefined {
    for (const c of text) if (c !== " " && !this.ids.has(c)) return c;
    return undefined;
  }
  private encodeWord(word: string): number[] {
    const hit = this.cache.get(word);
    if (hit) return hit;
    const parts = [WORD, ...word];
    for (const c of parts) {
      if (!this.ids.has(c)) throw new TokenizerError(`cannot encode character ${describeChar(c)}: not in the vocabulary`);
    }
    for (;;) {
      let best = -1, bestRank = Infinity;
      for (let i = 0; i + 1 < parts.length; i++) {
        const r = this.rank.get(`${parts[i]}\u0000${parts[i + 1]}`);
        if (r !== undefined && r < bestRank) [best, bestRank] = [i, r];
      }
      if (best < 0) break;
      parts.splice(best, 2, parts[best] + parts[best + 1]);
    }
    const ids = parts.map((p) => this.ids.get(p)!);
    if (this.cache.size > 100_000) this.cache.clear();
    this.cache.set(word, ids);
    return ids;
  }
  encode(text: string): number[] {
    const out: number[] = [];
    if (text === "") return out;
    for (const w of text.split(" ")) out.push(...this.encodeWord(w));
    return out;
  }
  decode(ids: ArrayLike<number>): string {
    return joinSymbols(this.symbols, ids).split(WORD).join(" ").replace(/^ /, "");
  }
  toJSON(): TokenizerJSON {
    return { type: "bpe", version: 1, symbols: [...this.symbols], merges: this.merges.map(([a, b]) => [a, b]) };
  }
}

/**
 * Learns a BPE vocabulary of `vocabSize` symbols (blank included) from normalised texts. Stops early,
 * with a smaller vocabulary, when no pair occurs twice. Throws when vocabSize cannot even hold the
 * characters.
 */
export function trainBpe(texts: Iterable<string>, vocabSize: number): BpeTokenizer {
  const wordCounts = new Map<string, number>();
  for (const t of texts) for (const w of t.split(" ")) if (w) wordCounts.set(w, (wordCounts.get(w) ?? 0) + 1);
  const chars = new Set<string>();
  for (const w of wordCounts.keys()) for (const c of w) chars.add(c);
  const symbols = [BLANK, WORD, ...[...chars].sort()];
  if (vocabSize < symbols.length) {
    throw new TokenizerError(`bpe: vocabulary size ${vocabSize} is smaller than blank + ${symbols.length - 1} base symbols`);
  }
  // Words as symbol sequences with their counts; every merge rewrites the words that contain the pair.
  const words = [...wordCounts].map(([w, n]) => ({ parts: [WORD, ...w], n }));
  const merges: [string, string][] = [];
  const known = new Set(symbols);
  while (symbols.length < vocabSize) {
    const pairs = new Map<string, number>();
    for (const { parts, n } of words) {
      for (let i = 0; i + 1 < parts.length; i++) {
        const k = `${parts[i]}\u0000${parts[i + 1]}`;
        pairs.set(k, (pairs.get(k) ?? 0) + n);
      }
    }
    let best = "", bestN = 1;
    for (const [k, n] of pairs) if (n > bestN || (n === bestN && n > 1 && k < best)) [best, bestN] = [k, n];
    if (bestN < 2) break;
    const [a, b] = best.split("\u0000") as [string, string];
    merges.push([a, b]);
    if (!known.has(a + b)) {
      known.add(a + b);
      symbols.push(a + b);
    }
    for (const w of words) {
      const p = w.parts;
      for (let i = 0; i + 1 < p.length; i++) if (p[i] === a && p[i + 1] === b) p.splice(i, 2, a + b);
    }
  }
  return new BpeTokenizer(symbols, merges);
}

/** Rebuilds a tokenizer from its JSON (the model file's metadata); rejects anything malformed. */
export function tokenizerFromJSON(json: unknown): Tokenizer {
  const j = json as Partial<TokenizerJSON>;
  if (!j || typeof j !== "object" || j.version !== 1 || !Array.isArray(j.symbols) || !j.symbols.every((s) => typeof s === "string")) {
    throw new TokenizerError("tokenizer metadata: expected {type, version: 1, symbols: string[]}");
  }
  if (j.type === "char") return new CharTokenizer(j.symbols);
  if (j.type === "bpe") {
    if (!Array.isArray(j.merges)) throw new TokenizerError("tokenizer metadata: bpe needs merges");
    return new BpeTokenizer(j.symbols, j.merges);
  }
  throw new TokenizerError(`tokenizer metadata: unknown type ${String(j.type)}`);
}
