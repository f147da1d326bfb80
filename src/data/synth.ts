// The synthetic corpus: sentences spoken by espeak-ng with voices, variants, speed and pitch drawn
// from a seed, resampled to 16 kHz, written as WAV with one NeMo manifest per split. It is todm's
// built-in default data, built on first use and cached (`ensureDefaultCorpus`).
//
// Splits: a sentence's split is fixed by a hash of its normalised text (about 6% test, 6% valid, the
// rest train), so no sentence is shared between splits whatever the seed. Voices: every English voice
// + variant combination is one "speaker"; the seed holds out 10% of the combinations for test and
// another 10% for valid, and training never hears them.
// espeak-ng (GPL-3.0-or-later) is run as a separate process (Debian: `apt-get install espeak-ng`); it
// is not a dependency of todm. Not a TTS engine of its own, and not a data augmenter (the optional
// noise is light white noise at 15-30 dB SNR).

import { spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { resample } from "../audio/resample.js";
import { readWav, writeWav } from "../audio/wav.js";
import { writeAtomic, writeManifest } from "./manifest.js";
import { normalizeText } from "./normalize.js";
import { Progress } from "../util/progress.js";
import { mulberry32 } from "../util/random.js";

export type Split = "train" | "valid" | "test";
export const SPLITS: Split[] = ["train", "valid", "test"];

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

/** The shipped sentence list (CC0, data/text/LICENSE). */
export const DEFAULT_TEXT = fileURLToPath(new URL("../../data/text/sentences.txt", import.meta.url));

/** Synthesis output rate and the default corpus's seed. */
export const SYNTH_RATE = 16000;
export const DEFAULT_SEED = 1;

/** A seed gives the same corpus on every machine (src/random.ts). */
export const seeded = mulberry32;

function shuffle<T>(xs: T[], r: () => number): T[] {
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
  const combos = shuffle(VOICES.flatMap((v) => VARIANTS.map((x) => `${v}+${x}`)), seeded(seed ^ 0x5eed));
  const k = Math.round(combos.length * 0.1);
  return { test: combos.slice(0, k), valid: combos.slice(k, 2 * k), train: combos.slice(2 * k) };
}

export interface SynthItem {
  id: string;
  split: Split;
  /** The sentence as spoken (punctuation helps espeak's prosody). */
  spoken: string;
  /** The transcript: normalised. */
  text: string;
  voice: string; // "en-us+f3"
  speed: number; // words per minute
  pitch: number; // 0..99
  /** Signal-to-noise ratio in dB of the added white noise, or null for none. */
  snr: number | null;
  noiseSeed: number;
}

/** Reads a sentence list: one a line, blank lines and lines that normalise to nothing dropped, duplicates (after normalisation) dropped. */
export function readSentences(path: string): { spoken: string; text: string }[] {
  const seen = new Set<string>();
  const out: { spoken: string; text: string }[] = [];
  for (const line of readFileSync(path, "utf8").split("\n")) {
    const spoken = line.trim();
    const text = normalizeText(spoken);
    if (!text || seen.has(text)) continue;
    seen.add(text);
    out.push({ spoken, text });
  }
  return out;
}

/**
 * Plans a corpus: which sentence, split, voice, speed, pitch and noise each utterance gets. Pure and
 * seeded. `utterances` (default: one per sentence) is shared among the splits in proportion to their
 * sentences; a split that needs more utterances than it has sentences speaks them again with other
 * voices.
 */
export function planSynthesis(sentences: { spoken: string; text: string }[], opts: { utterances?: number; seed?: number; noise?: boolean } = {}): SynthItem[] {
  const seed = opts.seed ?? DEFAULT_SEED;
  const r = seeded(seed);
  const bySplit: Record<Split, { spoken: string; text: string }[]> = { train: [], valid: [], test: [] };
  for (const s of sentences) bySplit[sentenceSplit(s.text)].push(s);
  const total = opts.utterances ?? sentences.length;
  const voices = voiceSplits(seed);
  const items: SynthItem[] = [];
  let assigned = 0;
  for (const split of SPLITS) {
    const pool = shuffle([...bySplit[split]], r);
    // The train split takes the rounding remainder, so the total is exact.
    const n = split === "train"
      ? total - Math.round((total * bySplit.valid.length) / Math.max(1, sentences.length)) - Math.round((total * bySplit.test.length) / Math.max(1, sentences.length))
      : Math.round((total * pool.length) / Math.max(1, sentences.length));
    if (n > 0 && pool.length === 0) throw new Error(`synth: the ${split} split has no sentence; give more text`);
    for (let i = 0; i < n; i++) {
      const s = pool[i % pool.length];
      items.push({
        id: `${split}-${String(i).padStart(5, "0")}`,
        split,
        spoken: s.spoken,
        text: s.text,
        voice: voices[split][Math.floor(r() * voices[split].length)],
        speed: 130 + Math.floor(r() * 71), // 130..200 wpm (espeak's default is 175)
        pitch: 25 + Math.floor(r() * 51), // 25..75 (default 50)
        snr: opts.noise ? 15 + r() * 15 : null,
        noiseSeed: Math.floor(r() * 2 ** 31),
      });
    }
    assigned += n;
  }
  if (assigned !== total) throw new Error(`synth: internal error, planned ${assigned} of ${total}`);
  return items;
}

/** Finds espeak-ng or explains how to install it. */
export function findEspeak(bin = process.env.TODM_ESPEAK ?? "espeak-ng"): { bin: string; version: string } {
  const r = spawnSync(bin, ["--version"], { encoding: "utf8" });
  if (r.error || r.status !== 0) {
    throw new Error(`synth needs espeak-ng (GPL, run as a separate program): \`apt-get install espeak-ng\` (or set TODM_ESPEAK to its path). Tried "${bin}": ${r.error?.message ?? r.stderr}`);
  }
  return { bin, version: r.stdout.trim().split("\n")[0] };
}

/**
 * Runs espeak-ng for one job slot. Starting a process from Node forks the whole Node process (about
 * 10 ms of system time each, 6,000 times for the default corpus), so a small `sh` loop starts the
 * espeak-ng processes instead: Node writes `<id> <voice> <speed> <pitch> <text file> <wav file>` lines
 * to its stdin and reads `<status> <id>` lines back. Files live in a private temporary folder.
 */
export class EspeakRunner {
  private readonly sh;
  private readonly waiting = new Map<string, (status: number) => void>();
  private buffered = "";

  constructor(readonly bin: string, private readonly tmp: string) {
    const script = 'while read -r id voice speed pitch txt wav; do "$0" -v "$voice" -s "$speed" -p "$pitch" -f "$txt" -w "$wav" 2>"$wav.err"; echo "$? $id"; done';
    this.sh = spawn("sh", ["-c", script, bin], { stdio: ["pipe", "pipe", "inherit"] });
    this.sh.stdout.setEncoding("utf8");
    this.sh.stdout.on("data", (chunk: string) => {
      this.buffered += chunk;
      let nl;
      while ((nl = this.buffered.indexOf("\n")) >= 0) {
        const [status, id] = this.buffered.slice(0, nl).split(" ");
        this.buffered = this.buffered.slice(nl + 1);
        this.waiting.get(id)?.(Number(status));
        this.waiting.delete(id);
      }
    });
    // If the shell dies, every item still waiting fails (status 127) instead of hanging.
    this.sh.on("close", () => {
      for (const done of this.waiting.values()) done(127);
      this.waiting.clear();
    });
  }

  /** Speaks one item and returns 16 kHz samples (plus noise when asked). */
  async speak(it: SynthItem): Promise<Float32Array> {
    const txt = join(this.tmp, `${it.id}.txt`), wav = join(this.tmp, `${it.id}.wav`);
    writeFileSync(txt, it.spoken + "\n");
    const status = await new Promise<number>((res) => {
      this.waiting.set(it.id, res);
      this.sh.stdin.write(`${it.id} ${it.voice} ${it.speed} ${it.pitch} ${txt} ${wav}\n`);
    });
    if (status !== 0) {
      const err = existsSync(`${wav}.err`) ? readFileSync(`${wav}.err`, "utf8").trim() : "";
      throw new Error(`espeak-ng failed on ${it.id} (${it.voice}, status ${status}): ${err}`);
    }
    const bytes = readFileSync(wav);
    for (const f of [txt, wav, `${wav}.err`]) rmSync(f, { force: true });
    const w = readWav(bytes, `espeak-ng output for ${it.id}`);
    const x = resample(w.samples, w.sampleRate, SYNTH_RATE);
    if (it.snr !== null) addNoise(x, it.snr, it.noiseSeed);
    return x;
  }

  close(): void {
    this.sh.stdin.end();
  }
}

/** Adds white Gaussian noise at `snr` dB below the signal's power, in place. */
export function addNoise(x: Float32Array, snr: number, seed: number): void {
  let p = 0;
  for (const v of x) p += v * v;
  p /= Math.max(1, x.length);
  const sd = Math.sqrt(p / 10 ** (snr / 10));
  const r = seeded(seed);
  for (let i = 0; i < x.length; i++) {
    const g = Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r()); // Box-Muller
    x[i] = Math.max(-1, Math.min(1, x[i] + sd * g));
  }
}

export interface SynthOptions {
  out: string;
  text?: string;
  utterances?: number;
  seed?: number;
  noise?: boolean;
  /** espeak-ng processes in parallel (default 2). */
  jobs?: number;
  log?: (line: string) => void;
  progress?: boolean;
}

export interface SynthResult {
  manifests: Record<Split, string>;
  counts: Record<Split, number>;
  hours: Record<Split, number>;
  seconds: number;
}

/** Synthesises a corpus into `out`: audio/<split>/<id>.wav, <split>.jsonl, and synth.json last. */
export async function synthesize(opts: SynthOptions): Promise<SynthResult> {
  const log = opts.log ?? ((l: string) => console.log(l));
  const t0 = Date.now();
  const espeak = findEspeak();
  const textFile = resolve(opts.text ?? DEFAULT_TEXT);
  const sentences = readSentences(textFile);
  const items = planSynthesis(sentences, opts);
  const out = resolve(opts.out);
  for (const s of SPLITS) mkdirSync(join(out, "audio", s), { recursive: true });
  log(`synth: ${items.length} utterances from ${sentences.length} sentences of ${textFile}, seed ${opts.seed ?? DEFAULT_SEED}, ${espeak.version}`);
  const durations = new Float64Array(items.length);
  const bar = opts.progress === false ? undefined : new Progress("synth", items.length);
  let next = 0;
  const tmp = mkdtempSync(join(tmpdir(), "todm-synth-"));
  const worker = async () => {
    const runner = new EspeakRunner(espeak.bin, tmp);
    try {
      while (next < items.length) {
        const i = next++;
        const it = items[i];
        const x = await runner.speak(it);
        writeAtomic(join(out, "audio", it.split, `${it.id}.wav`), writeWav([x], SYNTH_RATE, { bits: 16 }));
        durations[i] = x.length / SYNTH_RATE;
        bar?.tick();
      }
    } finally {
      runner.close();
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.max(1, opts.jobs ?? 2) }, worker));
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  bar?.finish();
  const manifests = {} as Record<Split, string>, counts = {} as Record<Split, number>, hours = {} as Record<Split, number>;
  for (const s of SPLITS) {
    const idx = items.map((_, i) => i).filter((i) => items[i].split === s);
    manifests[s] = join(out, `${s}.jsonl`);
    writeManifest(manifests[s], idx.map((i) => {
      const it = items[i];
      return {
        audio: join(out, "audio", s, `${it.id}.wav`),
        duration: durations[i],
        text: it.text,
        extra: { voice: it.voice, speed: it.speed, pitch: it.pitch, ...(it.snr === null ? {} : { snr: Math.round(it.snr * 10) / 10 }) },
      };
    }));
    counts[s] = idx.length;
    hours[s] = idx.reduce((a, i) => a + durations[i], 0) / 3600;
  }
  const seconds = (Date.now() - t0) / 1000;
  const textHash = createHash("sha256").update(readFileSync(textFile)).digest("hex");
  writeAtomic(join(out, "synth.json"), JSON.stringify({
    format: "todm-synth", version: 1, seed: opts.seed ?? DEFAULT_SEED, utterances: items.length, noise: Boolean(opts.noise),
    text: textFile, textSha256: textHash, espeak: espeak.version, counts, hours, seconds,
  }, null, 2) + "\n");
  for (const s of SPLITS) log(`  ${s}: ${counts[s]} utterances, ${hours[s].toFixed(2)} h -> ${manifests[s]}`);
  log(`synth: done in ${seconds.toFixed(1)} s`);
  return { manifests, counts, hours, seconds };
}

/**
 * The default corpus (shipped text, seed 1), built on first use into `cacheDir` and reused after:
 * `todm train` with no data arguments calls this. A half-built folder (no synth.json) is rebuilt.
 */
export async function ensureDefaultCorpus(cacheDir = "data-cache/synth-default", log?: (l: string) => void): Promise<Record<Split, string>> {
  const marker = join(cacheDir, "synth.json");
  if (existsSync(marker)) {
    const m = JSON.parse(readFileSync(marker, "utf8"));
    if (m.format === "todm-synth" && m.version === 1) return Object.fromEntries(SPLITS.map((s) => [s, join(cacheDir, `${s}.jsonl`)])) as Record<Split, string>;
  }
  (log ?? console.log)(`building the default synthetic corpus in ${cacheDir} (first use; cached afterwards)`);
  return (await synthesize({ out: cacheDir, log })).manifests;
}
