// Text side: normalisation (examples and properties), the tokenizers (round trip, JSON, an
// independent sequential-merge BPE reference, unencodable text), manifests, LibriSpeech scanning,
// `prepare`, and the Corpus's skip-and-count, each bad input checked for its file and line.

import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { writeWav } from "../src/audio/wav.js";
import { prepareLibriSpeech, prepareManifest } from "../src/commands/prepare.js";
import { Corpus } from "../src/data/corpus.js";
import { DataError, SkipLedger } from "../src/data/errors.js";
import { scanLibriSpeech } from "../src/data/librispeech.js";
import { readManifest, writeManifest } from "../src/data/manifest.js";
import { normalizeText } from "../src/data/normalize.js";
import { BLANK, tokenizerFromJSON, trainBpe, trainChar, TokenizerError } from "../src/data/tokenizer.js";
import { rng } from "./helpers.js";

describe("normalizeText", () => {
  const cases: [string, string][] = [
    [`"'We are, above all, a keen school,'" quoted Burgess.`, "WE ARE ABOVE ALL A KEEN SCHOOL QUOTED BURGESS"],
    ["It’s the horses' café — isn't it?", "IT'S THE HORSES' CAFE ISN'T IT"],
    ["A well-known U.S.A. tale", "A WELL KNOWN USA TALE"],
    ["  o'clock\t'tis  ", "O'CLOCK TIS"],
    ["HE'S IN CHARGE", "HE'S IN CHARGE"],
    ["Naïve Zoë's résumé", "NAIVE ZOE'S RESUME"],
    ["", ""],
    ["...!?", ""],
  ];
  for (const [raw, want] of cases) it(`${JSON.stringify(raw)}`, () => expect(normalizeText(raw)).toBe(want));

  it("is idempotent and yields words of letters, digits and inner apostrophes, single-spaced", () => {
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom(..."aZé'’ -.,!?\"x9\tß") , maxLength: 40 }), (s) => {
        const n = normalizeText(s);
        expect(normalizeText(n)).toBe(n);
        expect(n).toMatch(/^(?:[\p{L}\p{N}][\p{L}\p{N}']*(?: |$))*$/u);
        expect(n).toBe(n.toUpperCase());
      }),
      { numRuns: 300 },
    );
  });
});

/** Random normalised sentences over a small alphabet, so that merges happen. */
function sentences(n: number, seed: number): string[] {
  const r = rng(seed);
  const syll = ["TH", "E", "AN", "D", "ING", "S", "O", "N'T", "QU", "X", "A"];
  return Array.from({ length: n }, () =>
    Array.from({ length: 1 + Math.floor(r() * 8) }, () =>
      Array.from({ length: 1 + Math.floor(r() * 4) }, () => syll[Math.floor(r() * syll.length)]).join(""),
    ).join(" "),
  );
}

/** Reference BPE encoder, written independently: apply each merge in rank order to the whole word, left to right. */
function referenceBpe(word: string, merges: readonly [string, string][]): string[] {
  let parts = ["\u2581", ...word];
  for (const [a, b] of merges) {
    const next: string[] = [];
    for (let i = 0; i < parts.length; i++) {
      if (i + 1 < parts.length && parts[i] === a && parts[i + 1] === b) {
        next.push(a + b);
        i++;
      } else next.push(parts[i]);
    }
    parts = next;
  }
  return parts;
}

describe("tokenizers", () => {
  const train = sentences(300, 7);

  it("BPE has the requested size, blank at 0, and is deterministic", () => {
    const a = trainBpe(train, 60), b = trainBpe([...train], 60);
    expect(a.size).toBe(60);
    expect(a.symbols[0]).toBe(BLANK);
    expect(a.toJSON()).toEqual(b.toJSON());
  });

  it("BPE encoding equals the sequential-merge reference", () => {
    const tok = trainBpe(train, 80);
    for (const s of sentences(50, 8)) {
      const got = tok.encode(s).map((id) => tok.symbols[id]);
      const ref = s.split(" ").flatMap((w) => referenceBpe(w, tok.merges));
      expect(got).toEqual(ref);
    }
  });

  for (const kind of ["bpe", "char"] as const) {
    it(`${kind}: decode(encode(t)) === t on normalised text, also after a JSON round trip`, () => {
      const tok = kind === "bpe" ? trainBpe(train, 50) : trainChar(train);
      const back = tokenizerFromJSON(JSON.parse(JSON.stringify(tok.toJSON())));
      const alphabet = [...new Set(train.join(""))].filter((c) => c !== " ");
      fc.assert(
        fc.property(fc.array(fc.string({ unit: fc.constantFrom(...alphabet), minLength: 1, maxLength: 12 }), { maxLength: 10 }), (words) => {
          const t = normalizeText(words.join(" "));
          const ids = tok.encode(t);
          expect(ids.every((i) => i > 0 && i < tok.size)).toBe(true);
          expect(tok.decode(ids)).toBe(t);
          expect(back.encode(t)).toEqual(ids);
        }),
        { numRuns: 300 },
      );
    });
  }

  it("char vocabulary is blank, space, then the sorted characters", () => {
    expect(trainChar(["BA A'", "C"]).symbols).toEqual([BLANK, " ", "'", "A", "B", "C"]);
  });

  it("rejects unseen characters with the character named, and malformed JSON", () => {
    const tok = trainBpe(train, 40);
    expect(() => tok.encode("THE ZEBRA")).toThrow(/'Z' \(U\+005A\)/);
    expect(() => trainChar(train).encode("É")).toThrow(TokenizerError);
    expect(() => tokenizerFromJSON({ type: "bpe", version: 2, symbols: [] })).toThrow(/version: 1/);
    expect(() => trainBpe(train, 3)).toThrow(/smaller than/);
  });
});

function tmp(): string {
  return mkdtempSync(join(tmpdir(), "todm-text-"));
}
const tone = (sec: number) => writeWav([Float32Array.from({ length: Math.round(sec * 16000) }, (_, i) => 0.3 * Math.sin(i / 5))], 16000);

describe("manifests", () => {
  it("round-trips entries with relative paths", () => {
    const d = tmp();
    mkdirSync(join(d, "audio"));
    writeFileSync(join(d, "audio", "a.wav"), tone(0.1));
    writeManifest(join(d, "m.jsonl"), [{ audio: join(d, "audio", "a.wav"), duration: 0.1, text: "Hi there." }]);
    expect(readFileSync(join(d, "m.jsonl"), "utf8")).toBe(`{"audio_filepath":"audio/a.wav","duration":0.1,"text":"Hi there."}\n`);
    const back = readManifest(join(d, "m.jsonl"));
    expect(back).toEqual([{ audio: join(d, "audio", "a.wav"), duration: 0.1, text: "Hi there.", source: `${join(d, "m.jsonl")}:1` }]);
  });

  it("skips and counts each bad line, naming file and line; --strict throws the first", () => {
    const d = tmp();
    writeFileSync(join(d, "ok.wav"), tone(0.1));
    const m = join(d, "m.jsonl");
    writeFileSync(m, [
      `{"audio_filepath": "ok.wav", "duration": 0.1, "text": "fine"}`,
      `{"audio_filepath": "ok.wav", "duration": 0.1, "text": "fine" `, // 2: not JSON
      `{"audio_filepath": "ok.wav", "text": "no duration"}`, // 3
      ``,
      `{"duration": 1, "text": "no path"}`, // 5
      `{"audio_filepath": "ok.wav", "duration": 1}`, // 6: no text
      `{"audio_filepath": "gone.wav", "duration": 1, "text": "x"}`, // 7
      `[1, 2]`, // 8
    ].join("\n"));
    const ledger = new SkipLedger();
    const got = readManifest(m, ledger);
    expect(got.length).toBe(1);
    expect(ledger.errors.map((e) => [e.kind, e.line])).toEqual([
      ["bad-json", 2], ["missing-field", 3], ["missing-field", 5], ["missing-field", 6], ["missing-audio", 7], ["bad-json", 8],
    ]);
    for (const e of ledger.errors) expect(e.message.startsWith(`${m}:${e.line}: `)).toBe(true);
    expect(ledger.report()[0]).toBe("skipped: 6 (bad-json 2, missing-field 3, missing-audio 1)");
    expect(() => readManifest(m, new SkipLedger(true))).toThrow(`${m}:2: not valid JSON`);
  });
});

describe("LibriSpeech and prepare", () => {
  /** A split with: 3 good utterances, one transcript line whose audio is missing, one audio file
   *  with no line, one corrupt audio file, one chapter with no transcript. */
  function split(): string {
    const d = tmp();
    const ch = join(d, "19", "198");
    mkdirSync(ch, { recursive: true });
    writeFileSync(join(ch, "19-198-0000.wav"), tone(0.5));
    writeFileSync(join(ch, "19-198-0001.wav"), tone(1.0));
    writeFileSync(join(ch, "19-198-0002.wav"), tone(0.25));
    writeFileSync(join(ch, "19-198-0003.wav"), new Uint8Array([1, 2, 3, 4, 5])); // unknown format
    writeFileSync(join(ch, "19-198-0009.wav"), tone(0.1)); // no transcript line
    writeFileSync(join(ch, "19-198.trans.txt"), [
      "19-198-0000 NORTHANGER ABBEY",
      "19-198-0001 THIS LITTLE WORK WAS FINISHED IN THE YEAR EIGHTEEN O THREE",
      "19-198-0002 IT'S",
      "19-198-0003 CORRUPT ONE",
      "19-198-0004 MISSING AUDIO",
      "19-198-0005",
    ].join("\n") + "\n");
    mkdirSync(join(d, "26", "495"), { recursive: true });
    writeFileSync(join(d, "26", "495", "26-495-0000.wav"), tone(0.1));
    return d;
  }

  it("scans a split, naming transcript lines and orphan files", () => {
    const d = split();
    const ledger = new SkipLedger();
    const utts = scanLibriSpeech(d, ledger);
    expect(utts.map((u) => u.id)).toEqual(["19-198-0000", "19-198-0001", "19-198-0002", "19-198-0003"]);
    const trans = join(d, "19", "198", "19-198.trans.txt");
    expect(ledger.errors.map((e) => e.message)).toEqual([
      `${trans}:5: audio file ${join(d, "19", "198", "19-198-0004.flac")} not found`,
      `${trans}:6: expected \`<utterance-id> <TEXT>\``,
      `${join(d, "19", "198", "19-198-0009.wav")}: no line for this file in ${trans}`,
      `${join(d, "26", "495")}: no transcript 26-495.trans.txt (1 audio files skipped)`,
    ]);
  });

  it("prepare writes the good utterances, counts hours and skipped items; --strict stops", async () => {
    const d = split();
    const out = join(d, "out", "m.jsonl");
    const lines: string[] = [];
    const s = await prepareLibriSpeech(d, { out, log: (l) => lines.push(l), progress: false });
    expect(s.utterances).toBe(3);
    expect(s.hours).toBeCloseTo(1.75 / 3600, 9);
    expect(s.skipped).toBe(5);
    expect(lines[0]).toBe(`wrote ${out}: 3 utterances, 0.00 hours`);
    expect(lines[1]).toBe("skipped: 5 (missing-audio 1, bad-transcript 3, unknown-format 1)");
    expect(lines.join("\n")).toContain(`${join(d, "19", "198", "19-198-0003.wav")}: unknown audio format`);
    const m = readManifest(out);
    expect(m.map((e) => [e.duration, e.text])).toEqual([[0.5, "NORTHANGER ABBEY"], [1, "THIS LITTLE WORK WAS FINISHED IN THE YEAR EIGHTEEN O THREE"], [0.25, "IT'S"]]);
    await expect(prepareLibriSpeech(d, { out, strict: true, progress: false, log: () => {} })).rejects.toThrow(/19-198.trans.txt:5/);
    // Checking the manifest we wrote again finds nothing wrong.
    const again = await prepareManifest(out, { out: join(d, "again.jsonl"), progress: false, log: () => {} });
    expect([again.utterances, again.skipped]).toEqual([3, 0]);
  });

  it("prepare --holdout splits by sentence: a sentence read twice never lands on both sides", async () => {
    const d = tmp();
    writeFileSync(join(d, "a.wav"), tone(0.1));
    // 200 sentences, each read twice with different case and punctuation (the same normalised text)
    const lines: string[] = [];
    for (let i = 0; i < 200; i++) {
      lines.push(JSON.stringify({ audio_filepath: "a.wav", duration: 0.1, text: `sentence number ${i}.` }));
      lines.push(JSON.stringify({ audio_filepath: "a.wav", duration: 0.1, text: `Sentence Number ${i}!` }));
    }
    writeFileSync(join(d, "in.jsonl"), lines.join("\n"));
    const out = join(d, "k.jsonl");
    await prepareManifest(join(d, "in.jsonl"), { out, holdout: 0.1, valid: 0.05, progress: false, log: () => {} });
    const sets = ["train", "valid", "test"].map((s) => readManifest(join(d, `k.${s}.jsonl`)).map((e) => normalizeText(e.text)));
    expect(sets.reduce((a, s) => a + s.length, 0)).toBe(400);
    const [tr, va, te] = sets.map((s) => new Set(s));
    for (const x of te) expect(tr.has(x) || va.has(x)).toBe(false);
    for (const x of va) expect(tr.has(x)).toBe(false);
    // 200 sentences, 10% held out: binomial sd ≈ 4.2, so 20 ± 13 is 3 sd
    expect(Math.abs(te.size - 20)).toBeLessThan(13);
    expect(readManifest(out).length).toBe(400);
  });

  it("refuses a directory that is not a split", () => {
    expect(() => scanLibriSpeech(tmp())).toThrow(/not a LibriSpeech split/);
  });
});

describe("Corpus", () => {
  it("normalises, tokenizes, and skips unencodable texts naming manifest and line", () => {
    const d = tmp();
    writeFileSync(join(d, "a.wav"), tone(0.1));
    const m = join(d, "m.jsonl");
    writeFileSync(m, [
      `{"audio_filepath": "a.wav", "duration": 2, "text": "The cat, sat."}`,
      `{"audio_filepath": "a.wav", "duration": 3, "text": "Über cats!"}`,
      `{"audio_filepath": "a.wav", "duration": 30, "text": "a long one"}`,
      `{"audio_filepath": "a.wav", "duration": 1, "text": "?!"}`,
    ].join("\n"));
    const c = Corpus.load([m], { maxDuration: 20 });
    expect(c.texts()).toEqual(["THE CAT SAT", "UBER CATS", ""]);
    expect(c.tooLong).toBe(1);
    const tok = trainChar(["THE CAT SAT"]);
    const t = c.tokenize(tok);
    expect(t.utterances.map((u) => tok.decode(u.tokens!))).toEqual(["THE CAT SAT"]);
    expect(t.ledger.errors.map((e) => e.message)).toEqual([
      `${m}:2: text has character 'U' (U+0055) that the tokenizer cannot encode`,
      `${m}:4: text is empty after normalisation`,
    ]);
    expect(t.ledger.errors.every((e) => e instanceof DataError && e.kind === "unencodable-text")).toBe(true);
    expect(() => Corpus.load([m], { strict: true }).tokenize(tok)).toThrow(`${m}:2: text has character 'U'`);
  });
});

describe("loadTrainingData", () => {
  it("loads, trains the tokenizer on train texts, and skips valid texts it cannot encode", async () => {
    const { loadTrainingData } = await import("../src/data/dataset.js");
    const d = tmp();
    writeFileSync(join(d, "a.wav"), tone(0.1));
    const line = (text: string, duration = 1) => JSON.stringify({ audio_filepath: "a.wav", duration, text });
    writeFileSync(join(d, "train.jsonl"), [line("the cat sat"), line("a hat"), line("too long", 25), `{"oops"`].join("\n"));
    writeFileSync(join(d, "valid.jsonl"), [line("the hat"), line("zebra")].join("\n"));
    const data = await loadTrainingData({ train: [join(d, "train.jsonl")], valid: [join(d, "valid.jsonl")], tokenizer: { type: "char" } });
    expect(data.train.texts()).toEqual(["THE CAT SAT", "A HAT"]);
    expect(data.valid.texts()).toEqual(["THE HAT"]);
    expect(data.tokenizer.symbols).toEqual([BLANK, " ", "A", "C", "E", "H", "S", "T"]);
    expect(data.ledger.errors.map((e) => `${e.kind} ${e.line}`)).toEqual(["bad-json 4", "unencodable-text 2"]);
    expect(data.summary).toContain("longer than 20 s, left out: 1");
  });

  it("uses a cached default corpus without synthesising again", async () => {
    const { loadTrainingData } = await import("../src/data/dataset.js");
    const d = tmp();
    writeFileSync(join(d, "a.wav"), tone(0.1));
    for (const s of ["train", "valid", "test"]) writeFileSync(join(d, `${s}.jsonl`), JSON.stringify({ audio_filepath: "a.wav", duration: 0.1, text: `${s} words` }) + "\n");
    writeFileSync(join(d, "synth.json"), JSON.stringify({ format: "todm-synth", version: 1 }));
    const data = await loadTrainingData({ defaultCorpusDir: d, corpus: "v1", tokenizer: { type: "bpe", vocabSize: 20 } });
    expect(data.train.texts()).toEqual(["TRAIN WORDS"]);
    expect(data.valid.utterances.length).toBe(0); // "VALID" has a V and an L the training text lacks
    expect(data.ledger.errors[0].message).toBe(`${join(d, "valid.jsonl")}:1: text has character 'V' (U+0056) that the tokenizer cannot encode`);
  });
});

describe("Progress", () => {
  it("prints log lines with counts and an ETA when not on a TTY", async () => {
    const { Progress } = await import("../src/util/progress.js");
    const lines: string[] = [];
    const stream = { write: (s: string) => lines.push(s), isTTY: false } as unknown as NodeJS.WriteStream;
    const p = new Progress("synth", 4, { stream, logEvery: 0 });
    for (let i = 0; i < 4; i++) p.tick();
    p.finish();
    expect(lines.length).toBe(4);
    expect(lines[3]).toMatch(/^synth 4\/4 \(100%\) elapsed \d+s eta 0s\n$/);
  });
});
