// The end of a training run (finish.ts), its LM: a token n-gram built from the run's training text only
// (buildRunLm, src/lm/build.ts) and its shallow-fusion weight W tuned on the first validation
// utterances with the largest model (tuneLmWeight, src/lm/tune.ts). The settings are the config's `lm`
// section (config.ts). A Supernet run writes RUN_DIR/subnets/lm.tlm and its exported subnets name it
// with W (`todm.lm` metadata, finish.ts); a single-model run writes RUN_DIR/lm.tlm and
// RUN_DIR/model.safetensors names it. The log gets the LM's size, the build and tuning times, the
// tuning table and W (also as a `{"type": "lm"}` line of log.jsonl).
//
// Never in the LM's text (lmTrainingTexts drops every sentence that occurs in any of them, after
// normalisation): the sentences of every validation manifest, of the yardstick (data/yardstick), and for
// the built-in corpus those of its valid, test and flite-heldout splits. Not here: estimation and the
// file format (src/lm/), the search (src/decode/).

import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { Corpus } from "../data/corpus.js";
import { corpusCacheDir, readYardstick } from "../data/corpus_plan.js";
import { SkipLedger } from "../data/errors.js";
import type { TrainingData } from "../data/dataset.js";
import type { EvalUtterance } from "../eval/eval.js";
import { writeFileAtomic } from "../io/safetensors.js";
import { buildRunLm, lmTrainingTexts } from "../lm/build.js";
import { normalizeText } from "../data/normalize.js";
import { NgramLm } from "../lm/ngram.js";
import { tuneLmWeight, type TuneRow } from "../lm/tune.js";
import type { SubnetSpec } from "../model/config.js";
import type { TrainConfig } from "./config.js";
import type { Run } from "./open.js";

/** The manifests whose sentences the LM is built from, and those whose sentences it must never contain. */
export function lmManifests(cfg: TrainConfig): { train: string[]; heldOut: string[] } {
  if (cfg.data.train.length) return { train: cfg.data.train, heldOut: cfg.data.valid };
  const dir = corpusCacheDir(cfg.data.cacheDir, cfg.data.corpus ?? "v1");
  const splits = ["valid", "test", "flite-heldout"].map((s) => join(dir, `${s}.jsonl`)).filter((p) => existsSync(p));
  return { train: [join(dir, "train.jsonl")], heldOut: [...new Set([...cfg.data.valid, ...splits])] };
}

/**
 * The normalised "text" fields of JSONL manifests (LibriSpeech folders: their transcripts), whatever
 * the audio: an LM needs only the text, and a held-out sentence stays out even when its audio is
 * missing. Lines that are not JSON or have no text are skipped silently (the run counted them).
 */
export function manifestTexts(paths: readonly string[]): string[] {
  return paths.flatMap((p) => {
    if (statSync(p).isDirectory()) return Corpus.load([p], { ledger: new SkipLedger() }).texts();
    return readFileSync(p, "utf8").split("\n").flatMap((line) => {
      try {
        const t = (JSON.parse(line) as { text?: unknown }).text;
        return typeof t === "string" ? [normalizeText(t)] : [];
      } catch {
        return [];
      }
    });
  });
}

/**
 * The sentences the run's LM is estimated from: the training manifests' texts minus every sentence of
 * the held-out manifests (lmManifests), of `validTexts` (the run's validation utterances) and of the
 * yardstick (lmTrainingTexts).
 */
export function runLmText(cfg: TrainConfig, validTexts: readonly string[] = []): { texts: string[]; dropped: number } {
  const m = lmManifests(cfg);
  return lmTrainingTexts(manifestTexts(m.train), [manifestTexts(m.heldOut), validTexts, readYardstick().map((y) => y.text)]);
}

export interface RunLmResult {
  path: string;
  bytes: number;
  order: number;
  minCount: number;
  /** Sentences the LM was estimated from; held-out sentences dropped from the training text. */
  sentences: number;
  heldOutDropped: number;
  buildSeconds: number;
  weight: number;
  tuneSeconds: number;
  tuneUtterances: number;
  table: TuneRow[];
}

/**
 * Builds the run's LM from its training text (held-out sentences removed) to `path` (atomically), tunes
 * W with `sub` of the run's model on the first cfg.lm.tuneUtterances validation utterances, logs both;
 * null when the config turns it off. Without validation data, W is the grid's smallest.
 */
export async function buildAndTuneRunLm(run: Run, data: TrainingData, sub: SubnetSpec, path: string): Promise<RunLmResult | null> {
  const { cfg, log } = run, o = cfg.lm;
  if (!o?.enabled) return null;
  const t0 = performance.now();
  const { texts, dropped } = runLmText(cfg, data.valid.utterances.map((u) => u.text));
  const built = buildRunLm(texts, run.tokenizer, { order: o.order, maxBytes: Math.round(o.maxMb * 2 ** 20), droppedBefore: dropped });
  writeFileAtomic(path, built.bytes);
  const buildSeconds = (performance.now() - t0) / 1000;
  const e = built.estimate;
  log(`\nLM ${path}: order ${o.order} over the ${run.tokenizer.type} tokenizer, ${e.sentences} training sentences (${dropped} dropped as valid/test/yardstick sentences` +
    `${built.text.skipped ? `, ${built.text.skipped} not encodable` : ""}), min count ${e.minCount}: ${(built.bytes.length / 2 ** 20).toFixed(2)} MiB, built in ${buildSeconds.toFixed(1)} s`);
  const lm = NgramLm.fromBytes(built.bytes, path, run.tokenizer);
  const valid: EvalUtterance[] = data.valid.utterances.slice(0, o.tuneUtterances > 0 ? o.tuneUtterances : undefined);
  const t1 = performance.now();
  let weight = Math.min(...o.grid), table: TuneRow[] = [];
  if (valid.length) {
    const t = await tuneLmWeight(run.model, run.tokenizer, lm, valid, { beam: o.beam, grid: o.grid, subnet: sub, ledger: new SkipLedger() });
    weight = t.weight;
    table = t.table;
    log(`LM weight tuned on ${t.utterances} validation utterances (beam ${o.beam}): ${table.map((r) => `${r.weight} -> ${r.wer.toFixed(2)}%`).join(", ")}; chosen ${weight}` +
      (table[0].wer <= Math.min(...table.slice(1).map((r) => r.wer)) ? " (no weight beats beam search without the LM here)" : ""));
  } else {
    log(`no validation utterances to tune the LM weight on: W = ${weight}`);
  }
  const tuneSeconds = (performance.now() - t1) / 1000;
  log(`LM build + tuning: ${(buildSeconds + tuneSeconds).toFixed(1)} s (tuning ${tuneSeconds.toFixed(1)} s)`);
  const r: RunLmResult = {
    path, bytes: built.bytes.length, order: o.order, minCount: e.minCount, sentences: e.sentences, heldOutDropped: dropped, buildSeconds,
    weight, tuneSeconds, tuneUtterances: valid.length, table,
  };
  run.writeLog({ type: "lm", step: run.pos.step, ...r, table: table.map((t) => ({ weight: t.weight, wer: t.wer, ci: t.ci })) });
  return r;
}
