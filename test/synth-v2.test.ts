// Corpus v2 and the yardstick: the plan's rules checked by brute force (sets built here from the
// yardstick's TSV and today's seed-1 voice plan, independently of corpus_plan.ts's own bookkeeping)
// on the full plan without synthesising it, and on the manifests of a small corpus built here with
// the real engines; and the yardstick's audio against the SHA-256 recorded with espeak-ng 1.51.

import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { readWav } from "../src/audio/wav.js";
import { FLITE_VOICES, planCorpusV2, readYardstick, TEXT_V2, YARDSTICK_V1, YARDSTICK_V1_SHA256 } from "../src/data/corpus_plan.js";
import { readManifest } from "../src/data/manifest.js";
import { normalizeText } from "../src/data/normalize.js";
import { manifestExtra, readSentences, sentenceSplit, synthesize, voiceSplits } from "../src/data/synth.js";

/** One utterance as the rules see it: its split, its normalised text, and its manifest fields. */
interface Row {
  split: string;
  text: string;
  extra: Record<string, unknown>;
}

const yardRows = readFileSync(YARDSTICK_V1, "utf8").trim().split("\n").slice(1).map((l) => l.split("\t"));
const yardTexts = new Set(yardRows.map((f) => normalizeText(f[6])));

/** Every rule of issue 15 on corpus v2 that can be read off its manifests; returns the violations. */
function violations(rows: Row[], opts: { fullSentences?: boolean } = {}): string[] {
  const bad: string[] = [];
  const v1 = voiceSplits(1);
  const heldOutV1 = new Set([...v1.test, ...v1.valid]);
  const trainV1 = new Set(v1.train);
  const combo = (r: Row) => `${r.extra.voice}+${r.extra.variant}`;
  const of = (split: string) => rows.filter((r) => r.split === split);
  for (const r of rows) {
    if (!["espeak-ng", "flite"].includes(r.extra.engine as string) || typeof r.extra.voice !== "string" || !("variant" in r.extra)) bad.push(`no engine/voice/variant: ${JSON.stringify(r)}`);
    if (r.extra.engine === "espeak-ng" && (typeof r.extra.speed !== "number" || typeof r.extra.pitch !== "number")) bad.push(`espeak without speed/pitch: ${r.text}`);
    if (r.extra.engine === "flite" && (typeof r.extra.duration_stretch !== "number" || !("f0" in r.extra))) bad.push(`flite without stretch/f0: ${r.text}`);
    if (r.extra.voice === "awb_time") bad.push("awb_time used");
  }
  for (const split of ["train", "valid"]) {
    for (const r of of(split)) {
      if (yardTexts.has(r.text)) bad.push(`${split} speaks a yardstick sentence: ${r.text}`);
      if (r.extra.engine === "espeak-ng" && heldOutV1.has(combo(r))) bad.push(`${split} uses ${combo(r)}, held out by the seed-1 plan`);
      if (r.extra.engine === "espeak-ng" && !trainV1.has(combo(r))) bad.push(`${split} uses ${combo(r)}, not a seed-1 training combination`);
      if (r.extra.engine === "flite" && (r.extra.voice === "rms" || r.extra.person === "rms")) bad.push(`${split} uses the held-out flite person rms`);
    }
  }
  const espeakCombos = (split: string) => new Set(of(split).filter((r) => r.extra.engine === "espeak-ng").map(combo));
  const validCombos = espeakCombos("valid");
  for (const c of espeakCombos("train")) if (validCombos.has(c)) bad.push(`espeak ${c} in both train and valid`);
  const texts = (split: string) => of(split).map((r) => r.text);
  const trainValid = [...texts("train"), ...texts("valid")];
  if (new Set(trainValid).size !== trainValid.length) bad.push("a sentence spoken twice in train + valid");
  const tv = new Set(trainValid);
  for (const r of of("flite-heldout")) {
    if (r.extra.engine !== "flite" || r.extra.voice !== "rms") bad.push(`flite-heldout not by rms: ${JSON.stringify(r.extra)}`);
    if (tv.has(r.text) || yardTexts.has(r.text)) bad.push(`flite-heldout sentence also in train/valid/yardstick: ${r.text}`);
  }
  for (const r of of("test")) if (!yardTexts.has(r.text) || r.extra.engine !== "espeak-ng") bad.push(`test is not the yardstick: ${r.text}`);
  for (const split of new Set(rows.map((r) => r.split))) if (!["train", "valid", "test", "flite-heldout"].includes(split)) bad.push(`unknown split ${split}`);
  if (opts.fullSentences) {
    // Every sentence of the list whose hash split is train or valid is spoken exactly once, in that split.
    for (const s of readSentences(TEXT_V2)) {
      const h = sentenceSplit(s.text);
      if (h !== "test" && !tv.has(s.text)) bad.push(`sentence never spoken: ${s.text}`);
    }
    for (const r of [...of("train"), ...of("valid")]) if (sentenceSplit(r.text) !== r.split) bad.push(`${r.text} in ${r.split}, hash says ${sentenceSplit(r.text)}`);
  }
  return bad;
}

describe("the shipped v2 text and the yardstick plan", () => {
  it("has 40,191 distinct sentences, none a yardstick sentence, with the CC0 license beside it", () => {
    const s = readSentences(TEXT_V2);
    expect(readFileSync(join(TEXT_V2, "..", "LICENSE"), "utf8")).toMatch(/^CC0 1.0 Universal/);
    expect(s.length).toBe(readFileSync(TEXT_V2, "utf8").trim().split("\n").length);
    expect(s.length).toBe(40191);
    expect(s.filter((x) => yardTexts.has(x.text))).toEqual([]);
    expect(statSync(TEXT_V2).size).toBeLessThan(2_000_000);
  });

  it("reads the yardstick's 353 rows as they are written", () => {
    const y = readYardstick();
    expect(y.length).toBe(353);
    expect(y.map((it) => [it.id, it.voice, it.speed, it.pitch, it.spoken, it.text])).toEqual(yardRows.map((f) => [f[0], `${f[2]}+${f[3]}`, Number(f[4]), Number(f[5]), f[6], f[7]]));
    // Its voices are exactly held-out test voices of the seed-1 plan (the split it was frozen from).
    const test = new Set(voiceSplits(1).test);
    expect(y.filter((it) => !test.has(it.voice))).toEqual([]);
  });
});

describe("planCorpusV2 (the full plan, not synthesised)", () => {
  const items = planCorpusV2(readSentences(TEXT_V2), { seed: 1 });
  const rows: Row[] = items.map((it) => ({ split: it.split, text: it.text, extra: manifestExtra(it) }));

  it("keeps every rule: no yardstick sentence or held-out espeak combination in train/valid, valid's own combinations, rms held out, each sentence once", () => {
    expect(violations(rows, { fullSentences: true })).toEqual([]);
    // The checker catches what it should: a yardstick sentence, a seed-1 test voice, rms in train.
    const v1test = voiceSplits(1).test[0].split("+");
    const planted: Row[] = [
      { split: "train", text: [...yardTexts][0], extra: rows[0].extra },
      { split: "valid", text: "X Y Z", extra: { engine: "espeak-ng", voice: v1test[0], variant: v1test[1], speed: 150, pitch: 50 } },
      { split: "train", text: "Z Y X", extra: { engine: "flite", voice: "rms", variant: null, person: "rms", duration_stretch: 1, f0: null } },
    ];
    expect(violations([...rows, ...planted]).length).toBeGreaterThanOrEqual(3);
  });

  it("splits the train and valid sentences about half and half between the engines, with sane flite settings, and is seeded", () => {
    const tv = items.filter((it) => it.split === "train" || it.split === "valid");
    const flite = tv.filter((it) => it.engine === "flite").length / tv.length;
    // A fair coin over ~38,000 sentences: 0.5 +- 0.01 is more than 3 standard deviations (0.0026 each).
    expect(Math.abs(flite - 0.5)).toBeLessThan(0.01);
    expect(items.filter((it) => it.split === "flite-heldout").length).toBe(400);
    expect(items.filter((it) => it.split === "test").length).toBe(353);
    for (const it of items.filter((x) => x.engine === "flite")) {
      const v = FLITE_VOICES.find((x) => x.voice === it.voice)!;
      expect(it.stretch! >= 0.85 && it.stretch! <= 1.2).toBe(true);
      if (v.f0) expect(it.f0! >= v.f0[0] && it.f0! <= v.f0[1]).toBe(true);
      else expect(it.f0).toBeNull();
    }
    // every flite training person is used, kal through both of its voices
    expect(new Set(tv.filter((it) => it.engine === "flite").map((it) => it.voice))).toEqual(new Set(["kal", "kal16", "awb", "slt"]));
    expect(JSON.stringify(planCorpusV2(readSentences(TEXT_V2), { seed: 1 }))).toBe(JSON.stringify(items));
    // without flite: espeak-ng alone, no flite-heldout, the same sentences
    const alone = planCorpusV2(readSentences(TEXT_V2), { seed: 1, flite: false });
    expect(alone.every((it) => it.engine === "espeak-ng" && it.split !== "flite-heldout")).toBe(true);
    expect(violations(alone.map((it) => ({ split: it.split, text: it.text, extra: manifestExtra(it) })), { fullSentences: true })).toEqual([]);
  });
});

const has = (bin: string, args: string[]) => { const r = spawnSync(bin, args, { encoding: "utf8" }); return r.error ? "" : r.stdout; };
const espeakVersion = has("espeak-ng", ["--version"]);
const fliteVersion = has("flite", ["--version"]);

describe.skipIf(!espeakVersion || !fliteVersion)("a small corpus v2 built with espeak-ng and flite", () => {
  it("writes manifests that keep every rule, with 16 kHz WAVs of the stated durations", async () => {
    const out = mkdtempSync(join(tmpdir(), "todm-v2-"));
    const r = await synthesize({ out, corpus: "v2", sizes: { train: 16, valid: 8, "flite-heldout": 4, test: 4 }, log: () => {}, progress: false });
    expect(r.counts).toEqual({ train: 16, valid: 8, test: 4, "flite-heldout": 4 });
    expect(r.failures).toEqual([]);
    const rows: Row[] = [];
    for (const [split, m] of Object.entries(r.manifests)) {
      for (const e of readManifest(m!)) {
        rows.push({ split, text: e.text, extra: e.extra ?? {} });
        const w = readWav(readFileSync(e.audio), e.audio);
        expect([w.sampleRate, w.channels]).toEqual([16000, 1]);
        expect(Math.abs(w.samples.length / 16000 - e.duration)).toBeLessThan(1e-4); // manifests round to 0.1 ms
        expect(e.duration).toBeGreaterThan(0.3);
      }
    }
    expect(violations(rows)).toEqual([]);
    expect(new Set(rows.map((x) => x.extra.engine))).toEqual(new Set(["espeak-ng", "flite"]));
  });
});

describe.skipIf(!/\b1\.51\b/.test(espeakVersion))("yardstick-v1 rebuilt with espeak-ng 1.51", () => {
  it("matches the SHA-256 of every file recorded when it was frozen", async () => {
    const out = mkdtempSync(join(tmpdir(), "todm-ys-"));
    const r = await synthesize({ out, preset: "yardstick-v1", log: () => {}, progress: false });
    expect(r.counts).toEqual({ test: 353 });
    const lines = readFileSync(YARDSTICK_V1_SHA256, "utf8").split("\n").filter((l) => l && !l.startsWith("#"));
    const recordedAll = /^# all ([0-9a-f]{64})$/m.exec(readFileSync(YARDSTICK_V1_SHA256, "utf8"))![1];
    const all = createHash("sha256");
    let firstDiff: string | undefined;
    for (const l of lines) {
      const [want, file] = l.split(/\s+/);
      const path = join(out, "audio", "test", file);
      const got = existsSync(path) ? createHash("sha256").update(readFileSync(path)).digest("hex") : "(missing)";
      if (got !== want) firstDiff ??= `${file}: ${got} != recorded ${want}`;
      all.update(got + "\n");
    }
    expect(firstDiff, "first file that differs from the recorded yardstick").toBeUndefined();
    expect(all.digest("hex")).toBe(recordedAll);
  });
});

if (!espeakVersion) console.log("synth-v2.test: espeak-ng not installed; the yardstick and built-corpus tests are skipped");
else if (!/\b1\.51\b/.test(espeakVersion)) console.log(`synth-v2.test: ${espeakVersion.split("\n")[0]} is not 1.51; the yardstick checksum test is skipped`);
if (!fliteVersion) console.log("synth-v2.test: flite not installed; the built v2 corpus test is skipped");
