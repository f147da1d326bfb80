// The espeak-ng speakers and the sentence/speaker split rules of the synthetic corpora: pure data and
// pure functions, shared by the v1 plan (synth.ts) and the v2 plan (corpus_plan.ts). Not here:
// running the engines, building corpora (synth.ts, engines.ts).

import { mulberry32 } from "../util/random.js";

export type Split = "train" | "valid" | "test";
export const SPLITS: Split[] = ["train", "valid", "test"];
/** Every split a built-in corpus can have (v2 adds flite-heldout), in manifest order. */
export type CorpusSplit = Split | "flite-heldout";
export const CORPUS_SPLITS: CorpusSplit[] = ["train", "valid", "test", "flite-heldout"];

/** English espeak-ng voices that need no mbrola data. */
export const VOICES = ["en", "en-gb", "en-us", "en-gb-scotland", "en-gb-x-gbclan", "en-gb-x-gbcwmd", "en-gb-x-rp", "en-029", "en-us-nyc"];

/** Variants that sound like a person (robotic, whispered, demonic and sped-up ones left out). */
export const VARIANTS = [
  "m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "f1", "f2", "f3", "f4", "f5",
  "klatt", "klatt2", "klatt3", "klatt4", "klatt5", "klatt6",
  "adam", "Alex", "Alicia", "Andrea", "Andy", "Annie", "antonio", "aunty", "belinda", "benjamin", "boris",
  "caleb", "david", "Denis", "ed", "edward", "edward2", "Gene", "Gene2", "grandma", "grandpa", "gustave",
  "Henrique", "Hugo", "iven", "iven2", "iven3", "iven4", "Jacky", "john", "kaukovalta", "Lee", "linda",
  "marcelo", "Marco", "Mario", "max", "Michael", "michel", "miguel", "Mike", "norbert", "Nguyen", "pablo",
  "paul", "pedro", "quincy", "rob", "robert", "sandro", "shelby", "steph", "steph2", "steph3", "travis",
  "victor", "zac",
];

export function shuffle<T>(xs: T[], r: () => number): T[] {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [xs[i], xs[j]] = [xs[j], xs[i]];
  }
  return xs;
}

/** A sentence's split, from an FNV-1a hash of its normalised text (independent of the seed). */
export function sentenceSplit(normalized: string): Split {
  let h = 0x811c9dc5;
  for (let i = 0; i < normalized.length; i++) h = Math.imul(h ^ normalized.charCodeAt(i), 0x01000193) >>> 0;
  const b = h % 100;
  return b < 6 ? "test" : b < 12 ? "valid" : "train";
}

/** Voice+variant combinations per split: the seed holds out 10% for test and 10% for valid. */
export function voiceSplits(seed: number): Record<Split, string[]> {
  const combos = shuffle(VOICES.flatMap((v) => VARIANTS.map((x) => `${v}+${x}`)), mulberry32(seed ^ 0x5eed));
  const k = Math.round(combos.length * 0.1);
  return { test: combos.slice(0, k), valid: combos.slice(k, 2 * k), train: combos.slice(2 * k) };
}
