// Makes the text lists that `todm synth` speaks, from the Common Voice sentence collection (CC0; its
// LICENSE is copied next to the lists). Deterministic: the same input gives the same list.
//
//   node scripts/make-sentence-list.mjs /work/shared/data/text/common-voice-en.txt 6000   # data/text/sentences.txt (corpus v1)
//   node scripts/make-sentence-list.mjs /work/shared/data/text/common-voice-en.txt all    # data/text/sentences-v2.txt (corpus v2; needs dist/)
//
// Kept: sentences of 4-14 words and at most 90 characters, of ASCII letters and plain punctuation,
// with no digits, no all-capital words (espeak-ng spells acronyms out), no abbreviations with a
// period, each distinct after normalisation. With N, a seeded shuffle picks N of them. With "all",
// every kept sentence in source order, minus each sentence whose normalised text (src/data/normalize.ts)
// is a sentence of the frozen yardstick (data/yardstick/yardstick-v1.tsv), so no training or validation
// utterance of corpus v2 can speak one.
import { readFileSync, writeFileSync } from "node:fs";

const [src, nArg] = process.argv.slice(2);
const all = nArg === "all";
const n = all ? Infinity : Number(nArg ?? 6000);
const seen = new Set();
const keep = [];
for (const raw of readFileSync(src, "utf8").split("\n")) {
  const s = raw.trim().replace(/[\u2018\u2019]/g, "'").replace(/[\u201c\u201d]/g, '"');
  if (!s || s.length > 90 || !/^[A-Za-z ,.'?!;:"-]+$/.test(s)) continue;
  const words = s.split(/\s+/);
  if (words.length < 4 || words.length > 14) continue;
  if (words.some((w) => /[A-Z]{2,}/.test(w))) continue;
  if (/\b(Mr|Mrs|Ms|Dr|St|Jr|Sr|Mt|Co|vs|etc|No)\./.test(s) || /\.[A-Za-z]/.test(s)) continue;
  const norm = s.toUpperCase().replace(/[^A-Z' ]+/g, " ").replace(/\s+/g, " ").trim();
  if (seen.has(norm)) continue;
  seen.add(norm);
  keep.push(s);
}
if (all) {
  const { normalizeText } = await import("../dist/data/normalize.js");
  const rows = readFileSync("data/yardstick/yardstick-v1.tsv", "utf8").trim().split("\n").slice(1);
  const yard = new Set(rows.map((r) => r.split("\t")[7]));
  const out = [], byNorm = new Set();
  let dropped = 0;
  for (const s of keep) {
    const t = normalizeText(s);
    // The rules above normalise more crudely than normalizeText; drop what only the latter merges.
    if (yard.has(t)) dropped++;
    else if (t && !byNorm.has(t)) {
      byNorm.add(t);
      out.push(s);
    }
  }
  writeFileSync("data/text/sentences-v2.txt", out.join("\n") + "\n");
  console.log(`kept ${keep.length} candidate sentences, dropped ${dropped} yardstick sentences, wrote ${out.length} to data/text/sentences-v2.txt`);
  process.exit(0);
}
// mulberry32, seed 2024
let state = 2024;
const rand = () => {
  state = (state + 0x6d2b79f5) >>> 0;
  let t = state;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};
for (let i = keep.length - 1; i > 0; i--) {
  const j = Math.floor(rand() * (i + 1));
  [keep[i], keep[j]] = [keep[j], keep[i]];
}
const out = keep.slice(0, n);
writeFileSync("data/text/sentences.txt", out.join("\n") + "\n");
console.log(`kept ${keep.length} candidate sentences, wrote ${out.length} to data/text/sentences.txt`);
