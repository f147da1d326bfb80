// Decoding audio with a trained model on the host: scoring a test set (`evaluate`, WER and CER with
// bootstrap intervals, and the real-time factor) and transcribing single files in bounded windows
// (`transcribeSamples`, with each token's emission time).
//
//   const { model, tokenizer } = loadModel(engine, resolveModelPath("runs/exp1"));
//   const r = await evaluate(model, tokenizer, utterances, { beam: 4 });   // r.wer, r.ci, r.rtf
//   const t = transcribeSamples(model, tokenizer, samples16k);             // t.text, t.tokens[i].time
//
// Everything runs on the calling thread (features with engine.fbank, then Model.decode), so the RTF is
// a one-thread figure: compute seconds (features + encoder + search) over audio seconds; reading and
// decoding the audio files is timed apart and left out. Utterances are sorted by duration and batched
// while B * T_max stays within `batchFrames` feature frames. Bad audio is skipped into a SkipLedger
// (strict: thrown). Not here: the command line (src/commands/eval.ts, transcribe.ts), streaming
// decoding with carried state, LM rescoring. An LM (src/lm/) joins a search by shallow fusion
// (SearchSpec.fusion, TranscribeOptions.fusion).

import { readAudioAt } from "../audio/read.js";
import { readAudioWindows } from "../audio/windows.js";
import { collate, framesFor, type Batch } from "../data/batching.js";
import { SkipLedger } from "../data/errors.js";
import { normalizeText } from "../data/normalize.js";
import type { Tokenizer } from "../data/tokenizer.js";
import { fbank, type Features } from "../engine/features.js";
import { parseSubnetName, subnetName, supernetSpec, type ModelConfig, type SubnetSpec } from "../model/config.js";
import type { Model } from "../model/model.js";
import type { FusionOptions, Hypothesis } from "../decode/decode.js";
import { Progress } from "../util/progress.js";
import { alignTexts, bootstrapInterval, charErrors, corpusScore, pairedBootstrap, werPercent, type BootstrapOptions, type ErrorCount, type UtteranceScore } from "./wer.js";

/** The sample rate every model consumes. */
export const SAMPLE_RATE = 16000;
/** Seconds per encoder frame: 10 ms feature frames, subsampled by 4. */
export const SECONDS_PER_ENCODER_FRAME = 0.04;
/** Fewest feature frames a (padded) batch may have: two unpadded 3-wide stride-2 convolutions need 7. */
const MIN_BATCH_FRAMES = 7;

export interface EvalUtterance {
  audio: string;
  /** Reference transcript (normalised before scoring). */
  text: string;
  /** Seconds; used only to sort and batch (0 if unknown). */
  duration?: number;
  /** Where it came from (`manifest.jsonl:12`), for reports. */
  source?: string;
}

export interface SearchSpec {
  /** 1 = greedy search, > 1 = modified beam search with this many hypotheses. */
  beam: number;
  /** Shallow fusion with an LM (modified beam search, even at beam 1). */
  fusion?: FusionOptions<any>;
}

/** "greedy", "beam 4", "beam 4 + LM 0.3", "beam 4 + LM 0.3 </s> - LODR 0.1". */
export function searchName(s: SearchSpec): string {
  const base = s.beam > 1 || s.fusion ? `beam ${s.beam}` : "greedy";
  return s.fusion ? `${base} + LM ${s.fusion.weight}${s.fusion.endOfSentence ? " </s>" : ""}${s.fusion.lodr ? ` - LODR ${s.fusion.lodr.weight}` : ""}` : base;
}

export interface EvalOptions {
  /** The subnet to decode with (Default: the whole model). */
  subnet?: SubnetSpec;
  /** Padded feature frames per batch, B * T_max (Default: 8000, 80 s of audio: the forward of the default model needs about 80 MB per 1000 frames). */
  batchFrames?: number;
  /** Where bad audio goes (Default: a fresh non-strict ledger). */
  ledger?: SkipLedger;
  /** Seed and draws of the bootstrap interval (Default: seed 0, 1000 draws). */
  bootstrap?: BootstrapOptions;
  /** A progress bar with ETA on stderr (Default: false). */
  progress?: boolean;
}

export interface UtteranceResult {
  source: string;
  audio: string;
  ref: string;
  hyp: string;
  score: UtteranceScore;
  /** Character edit distance (charErrors): `words` counts the reference's characters. */
  charScore: ErrorCount;
}

export interface EvalResult {
  /** "greedy" or "beam N". */
  search: string;
  beam: number;
  /** Corpus WER, percent. */
  wer: number;
  /** Bootstrap 95% interval of the WER, percent. */
  ci: [number, number];
  sub: number;
  del: number;
  ins: number;
  errors: number;
  /** Reference words. */
  words: number;
  /** Character error rate, percent (charErrors: spaces count), and its bootstrap 95% interval (the same seed). */
  cer: number;
  cerCi: [number, number];
  charErrors: number;
  /** Reference characters. */
  chars: number;
  utterances: number;
  audioSeconds: number;
  /** Features + encoder + search, seconds, on this thread. */
  computeSeconds: number;
  /** computeSeconds / audioSeconds. */
  rtf: number;
  /** Of computeSeconds, the features (shared by all searches of one pass). */
  featureSeconds: number;
  /** Reading and decoding audio files (not in computeSeconds). */
  readSeconds: number;
  skipped: number;
  perUtterance: UtteranceResult[];
}

/** The subnet a `--subnet` name picks (the whole model without one); refuses one the model does not contain. */
export function resolveSubnet(cfg: ModelConfig, name?: string): SubnetSpec {
  if (!name) return supernetSpec(cfg);
  const s = parseSubnetName(name);
  const whole = subnetName(supernetSpec(cfg));
  if (s.layers < 1 || s.layers > cfg.layers || s.ffDim < 1 || s.ffDim > cfg.ffDim || s.heads < 2 || s.heads % 2 || s.heads > cfg.heads) {
    throw new Error(`subnet ${name} is not inside this model (${whole}): layers 1..${cfg.layers}, ffDim 1..${cfg.ffDim}, heads even in 2..${cfg.heads}`);
  }
  return s;
}

/** Pads a batch in time to at least `minT` frames (zeros; lengths unchanged). */
function padTime(b: Batch, minT: number): Batch {
  if (b.T >= minT) return b;
  const feats = new Float32Array(b.B * minT * b.F);
  for (let i = 0; i < b.B; i++) feats.set(b.feats.subarray(i * b.T * b.F, (i + 1) * b.T * b.F), i * minT * b.F);
  return { ...b, T: minT, feats };
}

/** Decodes feature matrices (one per utterance) as one padded batch. */
export function decodeFeatures(model: Model, feats: Features[], sub: SubnetSpec = supernetSpec(model.cfg), beam = 1, fusion?: FusionOptions<any>): Hypothesis[] {
  if (feats.length === 0) return [];
  const batch = padTime(collate(feats.map((f, i) => ({ id: i, feats: f.data, frames: f.frames, bins: f.bins, tokens: new Int32Array(0) }))), MIN_BATCH_FRAMES);
  return model.decode(batch, sub, { beam, fusion });
}

function featuresOf(model: Model, samples: Float32Array): Features {
  return fbank(model.engine, samples, SAMPLE_RATE, { numMelBins: model.cfg.featDim });
}

/** Sorted by duration, cut into batches of at most `batchFrames` padded frames (one item at least). */
function planBatches(utts: readonly EvalUtterance[], batchFrames: number): number[][] {
  const order = utts.map((_, i) => i).sort((a, b) => (utts[a].duration ?? 0) - (utts[b].duration ?? 0) || a - b);
  const batches: number[][] = [];
  let cur: number[] = [];
  for (const i of order) {
    const t = Math.max(MIN_BATCH_FRAMES, framesFor(utts[i].duration ?? 0));
    if (cur.length > 0 && (cur.length + 1) * t > batchFrames) {
      batches.push(cur);
      cur = [];
    }
    cur.push(i);
  }
  if (cur.length) batches.push(cur);
  return batches;
}

const now = () => performance.now() / 1000;

/**
 * Scores several searches in one pass over the audio (each file read and featurised once): one
 * EvalResult per search, in the order given. Utterances whose audio cannot be read are skipped into
 * the ledger and left out of every score.
 */
export async function evaluateSearches(
  model: Model, tokenizer: Tokenizer, utterances: readonly EvalUtterance[], searches: readonly SearchSpec[], opts: EvalOptions = {},
): Promise<EvalResult[]> {
  const sub = opts.subnet ?? supernetSpec(model.cfg);
  const batchFrames = opts.batchFrames ?? 8000;
  if (!(batchFrames > 0)) throw new Error(`evaluate: batchFrames must be positive, got ${batchFrames}`);
  for (const s of searches) if (!(Number.isInteger(s.beam) && s.beam >= 1)) throw new Error(`evaluate: beam must be an integer >= 1, got ${s.beam}`);
  const ledger = opts.ledger ?? new SkipLedger();
  const skippedBefore = ledger.count;
  const bar = opts.progress ? new Progress("eval", utterances.length) : undefined;
  const decodeSeconds = searches.map(() => 0);
  const per: UtteranceResult[][] = searches.map(() => []);
  let readSeconds = 0, featureSeconds = 0, audioSeconds = 0;
  for (const idx of planBatches(utterances, batchFrames)) {
    const kept: EvalUtterance[] = [], feats: Features[] = [];
    for (const i of idx) {
      const u = utterances[i];
      let samples: Float32Array;
      const t0 = now();
      try {
        samples = await readAudioAt(u.audio, SAMPLE_RATE);
      } catch (e) {
        ledger.skip(e);
        continue;
      } finally {
        readSeconds += now() - t0;
      }
      const t1 = now();
      feats.push(featuresOf(model, samples));
      featureSeconds += now() - t1;
      audioSeconds += samples.length / SAMPLE_RATE;
      kept.push(u);
    }
    searches.forEach((s, k) => {
      const t0 = now();
      const hyps = decodeFeatures(model, feats, sub, s.beam, s.fusion);
      decodeSeconds[k] += now() - t0;
      hyps.forEach((h, j) => {
        const u = kept[j];
        const ref = normalizeText(u.text), hyp = tokenizer.decode(h.tokens);
        const a = alignTexts(ref, hyp);
        const c = charErrors(ref, hyp);
        per[k].push({ source: u.source ?? u.audio, audio: u.audio, ref, hyp: normalizeText(hyp), score: { sub: a.sub, ins: a.ins, del: a.del, words: a.words, errors: a.errors }, charScore: { errors: c.errors, words: c.chars } });
      });
    });
    bar?.tick(idx.length);
  }
  bar?.finish();
  return searches.map((s, k) => {
    const score = corpusScore(per[k].map((p) => p.score));
    const computeSeconds = featureSeconds + decodeSeconds[k];
    const chars = per[k].map((p) => p.charScore);
    const charErr = chars.reduce((t, c) => t + c.errors, 0), charN = chars.reduce((t, c) => t + c.words, 0);
    return {
      search: searchName(s),
      beam: s.beam,
      wer: score.wer,
      ci: bootstrapInterval(score.perUtterance, opts.bootstrap),
      sub: score.sub, del: score.del, ins: score.ins, errors: score.errors, words: score.words,
      cer: werPercent(charErr, charN), cerCi: bootstrapInterval(chars, opts.bootstrap), charErrors: charErr, chars: charN,
      utterances: score.utterances,
      audioSeconds,
      computeSeconds,
      rtf: audioSeconds > 0 ? computeSeconds / audioSeconds : 0,
      featureSeconds,
      readSeconds,
      skipped: ledger.count - skippedBefore,
      perUtterance: per[k],
    };
  });
}

/** Two searches compared on the same utterances: a - b, with paired bootstrap 95% intervals (pairedBootstrap). */
export interface PairedComparison {
  a: string;
  b: string;
  utterances: number;
  /** WER_a - WER_b, percentage points. */
  wer: number;
  werCi: [number, number];
  /** 100 (WER_a - WER_b) / WER_b, percent. */
  werRelative: number;
  werRelativeCi: [number, number];
  /** CER_a - CER_b, percentage points. */
  cer: number;
  cerCi: [number, number];
}

/** Compares two results of one evaluateSearches call (the same utterances, in the same order). */
export function pairedComparison(a: EvalResult, b: EvalResult, opts: BootstrapOptions = {}): PairedComparison {
  if (a.perUtterance.length !== b.perUtterance.length || a.perUtterance.some((u, i) => u.source !== b.perUtterance[i].source)) {
    throw new Error(`paired comparison: "${a.search}" and "${b.search}" did not score the same utterances`);
  }
  const w = (r: EvalResult) => r.perUtterance.map((u) => u.score), c = (r: EvalResult) => r.perUtterance.map((u) => u.charScore);
  return {
    a: a.search, b: b.search, utterances: a.utterances,
    wer: a.wer - b.wer, werCi: pairedBootstrap(w(a), w(b), opts),
    werRelative: b.wer ? (100 * (a.wer - b.wer)) / b.wer : 0, werRelativeCi: pairedBootstrap(w(a), w(b), { ...opts, relative: true }),
    cer: a.cer - b.cer, cerCi: pairedBootstrap(c(a), c(b), opts),
  };
}

/** Scores one search (greedy unless `beam` > 1) over the utterances. */
export async function evaluate(
  model: Model, tokenizer: Tokenizer, utterances: readonly EvalUtterance[], opts: EvalOptions & { beam?: number } = {},
): Promise<EvalResult> {
  return (await evaluateSearches(model, tokenizer, utterances, [{ beam: opts.beam ?? 1 }], opts))[0];
}

export interface TimedToken {
  id: number;
  symbol: string;
  /** Seconds from the start of the audio: encoder frame x 0.04 (the start of the frame's 40 ms). */
  time: number;
}

export interface Transcript {
  text: string;
  tokens: TimedToken[];
  /** Seconds of audio. */
  duration: number;
  /** Windows the audio was cut into. */
  windows: number;
}

export interface TranscribeOptions {
  subnet?: SubnetSpec;
  /** 1 = greedy (Default), > 1 = modified beam search. */
  beam?: number;
  /** Longest window decoded at once, seconds (Default: 30): bounds the arena whatever the file's length. */
  windowSeconds?: number;
  /** Shallow fusion with an LM (modified beam search, even at beam 1). */
  fusion?: FusionOptions<any>;
}

/** Decodes windows one by one and joins their texts; token times offset by each window's start. */
class WindowedTranscript {
  private readonly texts: string[] = [];
  private readonly tokens: TimedToken[] = [];
  private samples = 0;
  private windows = 0;
  private readonly sub: SubnetSpec;

  constructor(private readonly model: Model, private readonly tokenizer: Tokenizer, private readonly beam: number, sub?: SubnetSpec, private readonly fusion?: FusionOptions<any>) {
    this.sub = sub ?? supernetSpec(model.cfg);
  }

  add(window: Float32Array): void {
    const start = this.samples / SAMPLE_RATE;
    this.samples += window.length;
    this.windows++;
    const f = featuresOf(this.model, window);
    if (f.frames === 0) return; // a tail shorter than one 25 ms frame
    const [h] = decodeFeatures(this.model, [f], this.sub, this.beam, this.fusion);
    const text = this.tokenizer.decode(h.tokens).trim();
    if (text) this.texts.push(text);
    h.tokens.forEach((id, i) => this.tokens.push({ id, symbol: this.tokenizer.symbols[id], time: start + h.frames[i] * SECONDS_PER_ENCODER_FRAME }));
  }

  result(): Transcript {
    return { text: this.texts.join(" ").replace(/ {2,}/g, " "), tokens: this.tokens, duration: this.samples / SAMPLE_RATE, windows: this.windows };
  }
}

/**
 * Transcribes 16 kHz samples: cut into consecutive windows of at most `windowSeconds`, each
 * featurised and decoded alone (a word cut by a window edge may be misrecognised), texts joined by a
 * space. Token times are absolute (window start + encoder frame x 0.04 s).
 */
export function transcribeSamples(model: Model, tokenizer: Tokenizer, samples: Float32Array, opts: TranscribeOptions = {}): Transcript {
  const win = Math.round((opts.windowSeconds ?? 30) * SAMPLE_RATE);
  if (!(win > 0)) throw new Error(`transcribe: windowSeconds must be positive, got ${opts.windowSeconds}`);
  const t = new WindowedTranscript(model, tokenizer, opts.beam ?? 1, opts.subnet, opts.fusion);
  for (let start = 0; start < samples.length; start += win) t.add(samples.subarray(start, Math.min(samples.length, start + win)));
  return t.result();
}

/**
 * Transcribes an audio file of any supported format and rate, read window by window
 * (readAudioWindows), so that memory stays bounded by the window whatever the file's length. Same
 * windows and result as transcribeSamples over the whole file at 16 kHz.
 */
export async function transcribeFile(model: Model, tokenizer: Tokenizer, path: string, opts: TranscribeOptions = {}): Promise<Transcript> {
  const t = new WindowedTranscript(model, tokenizer, opts.beam ?? 1, opts.subnet, opts.fusion);
  for await (const w of readAudioWindows(path, { rate: SAMPLE_RATE, windowSeconds: opts.windowSeconds ?? 30 })) t.add(w);
  return t.result();
}
