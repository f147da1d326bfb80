// The synthetic corpus: sentences spoken by espeak-ng and flite (separate programs, src/data/engines.ts)
// with voices, variants, rate and pitch drawn from a seed, resampled to 16 kHz, written as WAV with one
// NeMo manifest per split. It is todm's built-in default data, built on first use and cached
// (`ensureDefaultCorpus`). The plans: corpus v1 here (planSynthesis: 6,000 sentences, espeak-ng only),
// corpus v2 (the default) and the frozen yardstick in corpus_plan.ts.
//
// v1 rules. Splits: a sentence's split is fixed by a hash of its normalised text (about 6% test, 6%
// valid, the rest train), so no sentence is shared between splits whatever the seed. Voices: every
// English voice + variant combination is one "speaker"; the seed holds out 10% of the combinations for
// test and another 10% for valid, and training never hears them.
//
// The build (buildCorpus) runs a job per core, each with one `sh` loop per engine; one progress bar
// with ETA; it skips and counts the utterances an engine cannot speak (named in the log and in
// synth.json), stops with a clear message when the disk is full, keeps every WAV written, and resumes:
// run it again and the WAVs already written (checked by size and header) are reused. Manifests and
// synth.json are written atomically, last. Not a TTS engine of its own, and not the loader's
// augmentation: the optional noise (`--noise`, light white noise at 15-30 dB SNR, baked into the WAVs)
// is todm's only additive noise.

import { createHash } from "node:crypto";
import { closeSync, existsSync, fstatSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, readSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { resample } from "../audio/resample.js";
import { writeWav } from "../audio/wav.js";
import { corpusCacheDir, DEFAULT_CORPUS, planCorpusV2, PRESETS, type PlanV2Options, readYardstick, TEXT_V2, flitePerson, type CorpusVersion, type Preset } from "./corpus_plan.js";
import { EngineRunner, findEngine, SynthFailure, type EngineInfo, type EngineName, type SpeakTiming } from "./engines.js";
import { writeManifest } from "./manifest.js";
import { normalizeText } from "./normalize.js";
import { Progress } from "../util/progress.js";
import { mulberry32 } from "../util/random.js";
import { CORPUS_SPLITS, SPLITS, shuffle, voiceSplits, sentenceSplit, type CorpusSplit, type Split } from "./voices.js";

export { CORPUS_SPLITS, SPLITS, VARIANTS, VOICES, sentenceSplit, voiceSplits, type CorpusSplit, type Split } from "./voices.js";

/** The shipped sentence list (CC0, data/text/LICENSE). */
export const DEFAULT_TEXT = fileURLToPath(new URL("../../data/text/sentences.txt", import.meta.url));

/** Synthesis output rate and the default corpus's seed. */
export const SYNTH_RATE = 16000;
export const DEFAULT_SEED = 1;

/** A seed gives the same corpus on every machine (src/util/random.ts). */
export const seeded = mulberry32;

export interface SynthItem {
  id: string;
  split: CorpusSplit;
  /** The sentence as spoken (punctuation helps the engines' prosody). */
  spoken: string;
  /** The transcript: normalised. */
  text: string;
  engine: EngineName;
  /** espeak-ng: "en-us+f3" (voice+variant); flite: a voice ("kal16"). */
  voice: string;
  /** espeak-ng: words per minute, and pitch 0..99. */
  speed?: number;
  pitch?: number;
  /** flite: duration_stretch, and int_f0_target_mean in Hz (null: the voice's own). */
  stretch?: number;
  f0?: number | null;
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
        engine: "espeak-ng",
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


/** The manifest fields of an utterance: engine, voice, variant, and its rate and pitch settings. */
export function manifestExtra(it: SynthItem): Record<string, unknown> {
  const noise = it.snr === null ? {} : { snr: Math.round(it.snr * 10) / 10 };
  if (it.engine === "flite") {
    // flite has no variants: the person names the speaker (kal and kal16 are one).
    return { engine: "flite", voice: it.voice, variant: null, person: flitePerson(it.voice), duration_stretch: it.stretch, f0: it.f0 ?? null, ...noise };
  }
  const [voice, variant] = it.voice.split("+");
  return { engine: "espeak-ng", voice, variant: variant ?? null, speed: it.speed, pitch: it.pitch, ...noise };
}

/** Seconds of a WAV as buildCorpus writes it (plain 44-byte header, 16-bit mono, 16 kHz), or null if the file is not one, or is truncated. */
export function checkWrittenWav(path: string): number | null {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch {
    return null;
  }
  try {
    const size = fstatSync(fd).size;
    const h = Buffer.alloc(44);
    if (size < 46 || readSync(fd, h, 0, 44, 0) !== 44) return null;
    const ok = h.toString("latin1", 0, 4) === "RIFF" && h.readUInt32LE(4) === size - 8 && h.toString("latin1", 8, 16) === "WAVEfmt " &&
      h.readUInt32LE(16) === 16 && h.readUInt16LE(20) === 1 && h.readUInt16LE(22) === 1 && h.readUInt32LE(24) === SYNTH_RATE &&
      h.readUInt16LE(34) === 16 && h.toString("latin1", 36, 40) === "data" && h.readUInt32LE(40) === size - 44;
    return ok ? (size - 44) / 2 / SYNTH_RATE : null;
  } finally {
    closeSync(fd);
  }
}

/** Writes through a temporary sibling and a rename; on failure the temporary file is removed and the error rethrown. */
function writeAtomicWith(write: (path: string, data: Uint8Array | string) => void, path: string, data: Uint8Array | string): void {
  const tmp = `${path}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  try {
    write(tmp, data);
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}

export interface BuildTiming {
  /** Summed over the job slots: waiting for the engines (process start + synthesis), reading their WAVs, resampling, encoding and writing. */
  engineMs: number;
  readMs: number;
  resampleMs: number;
  writeMs: number;
}

export interface BuildOptions {
  out: string;
  /** Engine runs in parallel (default: one per core). */
  jobs?: number;
  /** Seconds before a hung engine is killed (default 30). */
  timeoutSec?: number;
  log?: (line: string) => void;
  progress?: boolean;
  /** Writes a file (default fs.writeFileSync); tests inject one that fails with ENOSPC. */
  writeFile?: (path: string, data: Uint8Array | string) => void;
  /** Extra fields of synth.json. */
  meta?: Record<string, unknown>;
}

export interface SynthResult {
  manifests: Partial<Record<CorpusSplit, string>>;
  counts: Partial<Record<CorpusSplit, number>>;
  hours: Partial<Record<CorpusSplit, number>>;
  /** Utterances that could not be spoken: left out of the manifests. */
  failures: { id: string; engine: EngineName; sentence: string; reason: string }[];
  /** Utterances reused from an earlier, interrupted build. */
  reused: number;
  seconds: number;
  timing: BuildTiming;
  engines: Partial<Record<EngineName, string>>;
}

/**
 * Speaks a plan into `out`: audio/<split>/<id>.wav, <split>.jsonl for every split in the plan, then
 * synth.json. Resumes an interrupted build of the same plan (a different plan in the same folder
 * starts over). Throws on a full disk (naming the file; what was written is kept).
 */
export async function buildCorpus(items: SynthItem[], engines: Partial<Record<EngineName, EngineInfo>>, o: BuildOptions): Promise<SynthResult> {
  const log = o.log ?? ((l: string) => console.log(l));
  const write = o.writeFile ?? ((p: string, d: Uint8Array | string) => writeFileSync(p, d));
  const t0 = Date.now();
  const out = resolve(o.out);
  const splits = CORPUS_SPLITS.filter((s) => items.some((it) => it.split === s));
  for (const it of items) if (!engines[it.engine]) throw new Error(`synth: the plan needs ${it.engine} (for ${it.id}), which was not found`);
  mkdirSync(out, { recursive: true });
  // The plan's key: a folder holding WAVs of another plan (other seed, text or engine version) starts over.
  const key = createHash("sha256").update(JSON.stringify({ items, engines: Object.values(engines).map((e) => e!.version) })).digest("hex");
  const keyFile = join(out, "plan.sha256");
  if (existsSync(keyFile) && readFileSync(keyFile, "utf8").trim() !== key) {
    log(`synth: ${out} holds another plan's audio; removing it and starting over`);
    rmSync(join(out, "audio"), { recursive: true, force: true });
    rmSync(join(out, "synth.json"), { force: true });
  }
  for (const s of splits) {
    mkdirSync(join(out, "audio", s), { recursive: true });
    // Temporary files of a build killed between a write and its rename.
    for (const f of readdirSync(join(out, "audio", s))) if (f.endsWith(".tmp")) rmSync(join(out, "audio", s, f), { force: true });
  }
  writeAtomicWith(write, keyFile, key + "\n");
  const wavOf = (it: SynthItem) => join(out, "audio", it.split, `${it.id}.wav`);
  const durations = new Float64Array(items.length).fill(-1);
  const todo: number[] = [];
  items.forEach((it, i) => {
    const d = checkWrittenWav(wavOf(it));
    if (d !== null && d > 0) durations[i] = d;
    else todo.push(i);
  });
  const reused = items.length - todo.length;
  const used = (Object.values(engines) as EngineInfo[]).filter((e) => items.some((it) => it.engine === e.name));
  const jobs = Math.max(1, o.jobs ?? availableParallelism());
  log(`synth: ${items.length} utterances (${splits.join(", ")}) with ${used.map((e) => e.version).join(" and ")}, ${jobs} jobs -> ${out}` +
    (reused ? `; resuming: ${reused} already written, ${todo.length} to go` : ""));
  const timing: BuildTiming = { engineMs: 0, readMs: 0, resampleMs: 0, writeMs: 0 };
  const failures: SynthResult["failures"] = [];
  const bar = o.progress === false || todo.length === 0 ? undefined : new Progress("synth", todo.length);
  let next = 0, stop: Error | undefined;
  const tmp = mkdtempSync(join(tmpdir(), "todm-synth-"));
  const worker = async () => {
    const runners = new Map<EngineName, EngineRunner>();
    try {
      while (next < todo.length && !stop) {
        const i = todo[next++];
        const it = items[i];
        let runner = runners.get(it.engine);
        if (!runner) runners.set(it.engine, (runner = new EngineRunner(engines[it.engine]!, tmp, o.timeoutSec ?? 30)));
        let x: Float32Array;
        try {
          const w = await runner.speak(it, timing as SpeakTiming);
          const t1 = performance.now();
          x = resample(w.samples, w.sampleRate, SYNTH_RATE);
          if (it.snr !== null) addNoise(x, it.snr, it.noiseSeed);
          timing.resampleMs += performance.now() - t1;
        } catch (e) {
          if (!(e instanceof SynthFailure)) throw e;
          failures.push({ id: e.id, engine: e.engine, sentence: e.sentence, reason: e.reason });
          log(`synth: skipped: ${e.message}`);
          bar?.tick();
          continue;
        }
        const t2 = performance.now();
        try {
          writeAtomicWith(write, wavOf(it), writeWav([x], SYNTH_RATE, { bits: 16 }));
        } catch (e) {
          const code = (e as NodeJS.ErrnoException).code;
          if (code === "ENOSPC" || code === "EDQUOT") {
            stop ??= Object.assign(new Error(`${code} writing ${wavOf(it)}`), { code });
            break;
          }
          throw e;
        }
        timing.writeMs += performance.now() - t2;
        durations[i] = x.length / SYNTH_RATE;
        bar?.tick();
      }
    } finally {
      for (const r of runners.values()) r.close();
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(jobs, Math.max(1, todo.length)) }, worker));
  } finally {
    rmSync(tmp, { recursive: true, force: true });
    bar?.finish();
  }
  if (stop) {
    const written = durations.filter((d) => d > 0).length;
    throw new Error(`synth: the disk is full (${stop.message}). ${written} of ${items.length} utterances are written and kept; free some space and run the same command again to resume`);
  }
  const manifests: SynthResult["manifests"] = {}, counts: SynthResult["counts"] = {}, hours: SynthResult["hours"] = {};
  try {
    for (const s of splits) {
      const idx = items.map((_, i) => i).filter((i) => items[i].split === s && durations[i] > 0);
      manifests[s] = join(out, `${s}.jsonl`);
      writeManifest(manifests[s]!, idx.map((i) => ({ audio: wavOf(items[i]), duration: durations[i], text: items[i].text, extra: manifestExtra(items[i]) })), (p, d) => writeAtomicWith(write, p, d));
      counts[s] = idx.length;
      hours[s] = idx.reduce((a, i) => a + durations[i], 0) / 3600;
    }
    const seconds = (Date.now() - t0) / 1000;
    const byEngine = Object.fromEntries(used.map((e) => [e.name, items.filter((it, i) => it.engine === e.name && durations[i] > 0).length]));
    writeAtomicWith(write, join(out, "synth.json"), JSON.stringify({
      format: "todm-synth", version: 1, ...o.meta, utterances: items.length, counts, hours, byEngine, failures, reused, seconds,
      timing: Object.fromEntries(Object.entries(timing).map(([k, v]) => [k, Math.round(v)])), jobs,
      engines: Object.fromEntries(used.map((e) => [e.name, e.version])),
    }, null, 2) + "\n");
    for (const s of splits) log(`  ${s}: ${counts[s]} utterances, ${hours[s]!.toFixed(2)} h -> ${manifests[s]}`);
    if (failures.length) log(`synth: ${failures.length} utterance(s) could not be spoken and were skipped (listed in synth.json); run again to retry them`);
    const ms = (v: number) => `${(v / 1000).toFixed(1)} s`;
    log(`synth: done in ${seconds.toFixed(1)} s (summed over ${jobs} jobs: engines ${ms(timing.engineMs)}, reading ${ms(timing.readMs)}, resampling ${ms(timing.resampleMs)}, writing ${ms(timing.writeMs)})`);
    return { manifests, counts, hours, failures, reused, seconds, timing, engines: Object.fromEntries(used.map((e) => [e.name, e.version])) };
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOSPC" || code === "EDQUOT") throw new Error(`synth: the disk is full (${code}) writing the manifests of ${out}; every WAV is written and kept: free some space and run the same command again`);
    throw e;
  }
}

export interface SynthOptions {
  out: string;
  /** A built-in corpus (default DEFAULT_CORPUS) when no text is given. */
  corpus?: CorpusVersion;
  /** A shipped plan spoken as it is (only "yardstick-v1": DIR/test.jsonl). */
  preset?: Preset;
  /** Your own sentences: planned with the v1 rules (espeak-ng only). */
  text?: string;
  utterances?: number;
  seed?: number;
  noise?: boolean;
  /** Leave flite out even when it is installed. */
  noFlite?: boolean;
  /** Per-split caps of corpus v2 (tests). */
  sizes?: PlanV2Options["sizes"];
  jobs?: number;
  timeoutSec?: number;
  log?: (line: string) => void;
  progress?: boolean;
  writeFile?: BuildOptions["writeFile"];
}

/** `todm synth`: a preset, a built-in corpus, or a text of your own, built into `out`. */
export async function synthesize(opts: SynthOptions): Promise<SynthResult> {
  const log = opts.log ?? ((l: string) => console.log(l));
  const espeak = findEngine("espeak-ng", { warn: log });
  const build = { out: opts.out, jobs: opts.jobs, timeoutSec: opts.timeoutSec, log, progress: opts.progress, writeFile: opts.writeFile };
  if (opts.preset !== undefined) {
    if (!(opts.preset in PRESETS)) throw new Error(`synth: unknown preset "${opts.preset}" (known: ${Object.keys(PRESETS).join(", ")})`);
    if (opts.text !== undefined || opts.utterances !== undefined || opts.noise) throw new Error("synth: --preset speaks a fixed plan; --text, --utterances and --noise do not apply");
    const items = readYardstick(PRESETS[opts.preset]);
    return buildCorpus(items, { "espeak-ng": espeak }, { ...build, meta: { preset: opts.preset, plan: PRESETS[opts.preset] } });
  }
  const seed = opts.seed ?? DEFAULT_SEED;
  const corpus = opts.text !== undefined ? "v1" : opts.corpus ?? DEFAULT_CORPUS;
  if (corpus === "v2") {
    if (opts.utterances !== undefined) throw new Error("synth: corpus v2 speaks each sentence once; --utterances applies to --text and --corpus v1");
    const flite = opts.noFlite ? null : findEngine("flite", { optional: true, warn: log });
    if (!flite && !opts.noFlite) log("synth: flite not found (`apt-get install -y flite`): building corpus v2 from espeak-ng alone, without the flite-heldout split");
    const items = planCorpusV2(readSentences(TEXT_V2), { seed, flite: Boolean(flite), sizes: opts.sizes, noise: opts.noise });
    const engines = flite ? { "espeak-ng": espeak, flite } : { "espeak-ng": espeak };
    return buildCorpus(items, engines, { ...build, meta: { corpus: "v2", seed, noise: Boolean(opts.noise), text: TEXT_V2, textSha256: sha256File(TEXT_V2), flite: Boolean(flite) } });
  }
  const textFile = resolve(opts.text ?? DEFAULT_TEXT);
  const sentences = readSentences(textFile);
  const items = planSynthesis(sentences, opts);
  log(`synth: ${items.length} utterances from ${sentences.length} sentences of ${textFile}, seed ${seed}`);
  return buildCorpus(items, { "espeak-ng": espeak }, { ...build, meta: { corpus: opts.text === undefined ? "v1" : "text", seed, noise: Boolean(opts.noise), text: textFile, textSha256: sha256File(textFile) } });
}

function sha256File(path: string): string {
  return createHash("sha256").update(readFileSync(path)).digest("hex");
}

/**
 * A built-in corpus (v1 or v2, seed 1), built on first use into `dir` and reused after: `todm train`
 * with no data arguments calls this. A half-built folder (no synth.json) is resumed. Returns the
 * manifests of its splits.
 */
export async function ensureDefaultCorpus(dir = corpusCacheDir("data-cache", DEFAULT_CORPUS), log?: (l: string) => void, corpus: CorpusVersion = DEFAULT_CORPUS): Promise<Partial<Record<CorpusSplit, string>>> {
  const marker = join(dir, "synth.json");
  const manifestsOf = (splits: string[]) => Object.fromEntries(splits.map((s) => [s, join(dir, `${s}.jsonl`)]));
  if (existsSync(marker)) {
    const m = JSON.parse(readFileSync(marker, "utf8"));
    // v1 caches written before v2 existed have no "corpus" field.
    if (m.format === "todm-synth" && m.version === 1 && (m.corpus ?? "v1") === corpus) return manifestsOf(m.counts ? Object.keys(m.counts) : SPLITS);
  }
  (log ?? console.log)(`building the built-in synthetic corpus ${corpus} in ${dir} (first use; cached afterwards)`);
  return (await synthesize({ out: dir, corpus, log })).manifests;
}
