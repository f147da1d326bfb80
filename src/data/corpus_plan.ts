// The plans of the built-in corpora, as data and pure seeded functions: the frozen yardstick
// (data/yardstick/yardstick-v1.tsv) and corpus v2, the default. Nothing here runs an engine
// (src/data/synth.ts builds a plan; src/data/engines.ts runs the engines). Corpus v1 (6,000 sentences,
// espeak-ng only) is planSynthesis in synth.ts, unchanged so that RESULTS.md's earlier runs still hold.
//
// Corpus v2 (seed 1, data/text/sentences-v2.txt: 40,191 sentences, none of them a yardstick sentence):
// - train: every sentence whose hash split (sentenceSplit) is train, spoken once; valid likewise;
// - each sentence goes to espeak-ng or flite by a seeded coin (FLITE_SHARE); with no flite installed,
//   all go to espeak-ng;
// - espeak-ng voice+variant combinations: the ones today's seed-1 plan (voiceSplits(1)) holds out for
//   valid or test are never used again; valid holds out its own 10% of the combinations, drawn from
//   the seed-1 training ones, and train uses the rest; rate 130..200 wpm and pitch 25..75 as in v1;
// - flite people (FLITE_VOICES): kal (its 8 kHz "kal" and 16 kHz "kal16" voices are one person), awb
//   and slt speak train and valid; rms is held out of both and speaks "flite-heldout": a seeded 400 of
//   the hash-test sentences (no longer used otherwise). awb_time, a limited-domain voice, is left out.
//   Rate: duration_stretch 0.85..1.2 (slower to 15% faster). Pitch: int_f0_target_mean in a band
//   around each voice's own mean (measured here with torchaudio's detect_pitch_frequency: kal ~90 Hz,
//   awb ~118 Hz, slt ~165 Hz). rms ignores int_f0_target_mean (its output is byte-identical for any
//   value), so its f0 is not set and recorded as null;
// - test: the yardstick (espeak-ng, 353 utterances), read from its TSV.

import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { normalizeText } from "./normalize.js";
import { mulberry32 } from "../util/random.js";
import type { SynthItem } from "./synth.js";
import { sentenceSplit, voiceSplits, VARIANTS, VOICES } from "./voices.js";

export type CorpusVersion = "v1" | "v2";
export const CORPUS_VERSIONS: CorpusVersion[] = ["v1", "v2"];
/**
 * The corpus `todm train` and `todm synth` use when given no data: v2, by issue 15's A/B (the default
 * single model, seed 1, 1,029 updates on each corpus, RESULTS.md "Corpus v2 against v1"): 14.7 points
 * better greedy WER on flite-heldout (84.3% against 99.1%), and on the yardstick inside v1's interval
 * (69.2% against 67.6% [65.6, 69.9]; beam 4 61.7% against 61.6%). RESULTS.md's earlier runs used v1
 * (`todm train --corpus v1`).
 */
export const DEFAULT_CORPUS: CorpusVersion = "v2";

/** Where a built-in corpus is cached under the cache folder (v1 keeps its old folder, so old caches stay valid). */
export function corpusCacheDir(cacheDir: string, version: CorpusVersion): string {
  return `${cacheDir.replace(/\/+$/, "")}/${version === "v1" ? "synth-default" : "synth-v2"}`;
}

export const TEXT_V2 = fileURLToPath(new URL("../../data/text/sentences-v2.txt", import.meta.url));
export const YARDSTICK_V1 = fileURLToPath(new URL("../../data/yardstick/yardstick-v1.tsv", import.meta.url));
export const YARDSTICK_V1_SHA256 = fileURLToPath(new URL("../../data/yardstick/yardstick-v1.sha256", import.meta.url));
export const PRESETS = { "yardstick-v1": YARDSTICK_V1 } as const;
export type Preset = keyof typeof PRESETS;

/** Reads a yardstick plan: one espeak-ng utterance a row (id, engine, voice, variant, rate, pitch, spoken, text). */
export function readYardstick(path = YARDSTICK_V1): SynthItem[] {
  const rows = readFileSync(path, "utf8").split("\n").filter(Boolean);
  const head = rows[0].split("\t").join(",");
  if (head !== "id,engine,voice,variant,rate,pitch,spoken,text") throw new Error(`${path}: not a yardstick plan (header "${head}")`);
  return rows.slice(1).map((row, i) => {
    const f = row.split("\t");
    if (f.length !== 8 || f[1] !== "espeak-ng") throw new Error(`${path}:${i + 2}: expected 8 tab-separated fields with engine espeak-ng`);
    return {
      id: f[0], split: "test", spoken: f[6], text: f[7], engine: "espeak-ng", voice: `${f[2]}+${f[3]}`,
      speed: Number(f[4]), pitch: Number(f[5]), snr: null, noiseSeed: 0,
    } satisfies SynthItem;
  });
}

/** flite's voices: the person each belongs to, and the f0 band (Hz) drawn from (null: not settable). */
export const FLITE_VOICES: { voice: string; person: string; f0: [number, number] | null }[] = [
  { voice: "kal", person: "kal", f0: [75, 115] },
  { voice: "kal16", person: "kal", f0: [75, 115] },
  { voice: "awb", person: "awb", f0: [95, 140] },
  { voice: "slt", person: "slt", f0: [140, 200] },
  { voice: "rms", person: "rms", f0: null },
];
export const FLITE_HELDOUT_PERSON = "rms";
export const FLITE_STRETCH: [number, number] = [0.85, 1.2];
/** The share of train and valid sentences spoken by flite (when installed). */
export const FLITE_SHARE = 0.5;
export const HELDOUT_UTTERANCES = 400;

/** espeak-ng combinations of corpus v2: train and valid pools, and the combinations no v2 train or valid utterance may use. */
export function espeakPoolsV2(seed = 1): { train: string[]; valid: string[]; banned: Set<string> } {
  const v1 = voiceSplits(1);
  const pool = shuffle([...v1.train], mulberry32(seed ^ 0x2c0ffee));
  const k = Math.round(VOICES.length * VARIANTS.length * 0.1);
  return { valid: pool.slice(0, k), train: pool.slice(k), banned: new Set([...v1.test, ...v1.valid]) };
}

function shuffle<T>(xs: T[], r: () => number): T[] {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [xs[i], xs[j]] = [xs[j], xs[i]];
  }
  return xs;
}

export interface PlanV2Options {
  seed?: number;
  /** Use flite (default true); false when it is not installed. */
  flite?: boolean;
  /** Cap per split (tests build a small corpus); default: all. */
  sizes?: Partial<Record<"train" | "valid" | "flite-heldout" | "test", number>>;
  /** Noise (15-30 dB SNR) on train and valid; the test splits stay clean. */
  noise?: boolean;
  yardstick?: string;
}

/** Plans corpus v2 from its sentence list: train, valid, test (the yardstick) and flite-heldout. Pure and seeded. */
export function planCorpusV2(sentences: { spoken: string; text: string }[], opts: PlanV2Options = {}): SynthItem[] {
  const seed = opts.seed ?? 1;
  const useFlite = opts.flite ?? true;
  const yard = readYardstick(opts.yardstick);
  const yardTexts = new Set(yard.map((y) => y.text));
  const pools = espeakPoolsV2(seed);
  const trainFlite = FLITE_VOICES.filter((v) => v.person !== FLITE_HELDOUT_PERSON);
  const people = [...new Set(trainFlite.map((v) => v.person))];
  const held = FLITE_VOICES.filter((v) => v.person === FLITE_HELDOUT_PERSON);
  const by: Record<"train" | "valid" | "test", { spoken: string; text: string }[]> = { train: [], valid: [], test: [] };
  for (const s of sentences) if (!yardTexts.has(s.text) && s.text === normalizeText(s.spoken)) by[sentenceSplit(s.text)].push(s);
  const cap = (split: keyof NonNullable<PlanV2Options["sizes"]>, n: number) => Math.min(n, opts.sizes?.[split] ?? n);
  const stretch = (r: () => number) => Math.round((FLITE_STRETCH[0] + r() * (FLITE_STRETCH[1] - FLITE_STRETCH[0])) * 100) / 100;
  const f0 = (r: () => number, band: [number, number] | null) => (band ? Math.round(band[0] + r() * (band[1] - band[0])) : null);
  const items: SynthItem[] = [];
  for (const split of ["train", "valid"] as const) {
    const r = mulberry32(seed ^ (split === "train" ? 0x7a1 : 0x7a2));
    const list = by[split].slice(0, cap(split, by[split].length));
    list.forEach((s, i) => {
      const base = { id: `${split}-${String(i).padStart(5, "0")}`, split, spoken: s.spoken, text: s.text };
      const coin = r(), a = r(), b = r(), c = r(), d = r();
      const noise = { snr: opts.noise ? 15 + r() * 15 : null, noiseSeed: Math.floor(r() * 2 ** 31) };
      if (useFlite && coin < FLITE_SHARE) {
        const person = people[Math.floor(a * people.length)];
        const voices = trainFlite.filter((v) => v.person === person);
        const v = voices[Math.floor(b * voices.length)];
        items.push({ ...base, engine: "flite", voice: v.voice, stretch: stretch(() => c), f0: f0(() => d, v.f0), ...noise });
      } else {
        const combos = split === "train" ? pools.train : pools.valid;
        items.push({ ...base, engine: "espeak-ng", voice: combos[Math.floor(a * combos.length)], speed: 130 + Math.floor(b * 71), pitch: 25 + Math.floor(c * 51), ...noise });
      }
    });
  }
  if (useFlite) {
    const r = mulberry32(seed ^ 0x7a3);
    const list = shuffle([...by.test], r).slice(0, cap("flite-heldout", HELDOUT_UTTERANCES));
    list.forEach((s, i) => {
      const v = held[Math.floor(r() * held.length)];
      items.push({ id: `fh-${String(i).padStart(5, "0")}`, split: "flite-heldout", spoken: s.spoken, text: s.text, engine: "flite", voice: v.voice, stretch: stretch(r), f0: f0(r, v.f0), snr: null, noiseSeed: 0 });
    });
  }
  items.push(...yard.slice(0, cap("test", yard.length)));
  return items;
}

/** The person a flite voice belongs to. */
export function flitePerson(voice: string): string {
  const v = FLITE_VOICES.find((x) => x.voice === voice);
  if (!v) throw new Error(`unknown flite voice "${voice}"`);
  return v.person;
}
