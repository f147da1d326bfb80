// `todm eval --model FILE_OR_RUN_DIR --data MANIFEST_OR_LIBRISPEECH_DIR`: WER of greedy and modified
// beam search with bootstrap 95% intervals, the character error rate likewise, and the one-thread
// real-time factor. With --lm, also the paired bootstrap 95% interval of (beam N + LM) - (beam N) over
// the same utterances, in WER and CER points (and WER relative): the LM's effect without the variation
// between utterances that both searches share.
//
//   todm eval --model runs/exp1 --data data/test.jsonl
//   todm eval --model model.safetensors --data /data/LibriSpeech/test-clean --subnet L4-ff384-h2 --report test.json
//
// | option             | default | meaning                                                           |
// | ------------------ | ------- | ----------------------------------------------------------------- |
// | --beam N           | 4       | beam of the modified beam search; 1 = greedy only                 |
// | --subnet NAME      | whole   | decode with a subnet of a Supernet, e.g. L4-ff384-h2              |
// | --limit N          | all     | the first N utterances of the data                                |
// | --batch-frames N   | 8000    | padded feature frames per batch (B x T_max)                       |
// | --seed S           | 0       | seed of the bootstrap resampling                                  |
// | --report FILE      | none    | JSON report (written atomically): every number printed, per search |
// | --strict           | off     | stop at the first bad item instead of skipping and counting it    |
// | --lm FILE          | none    | adds beam N + LM, and (beam N + LM) - (beam N) paired             |
// | --lm-weight W      | 0.3     | the LM weight λ (with --tune-lm: tuned unless given)              |
// | --lm-eos           | off     | add λ·ln P_LM(</s>) at the end of each utterance                  |
// | --tune-lm MANIFEST | none    | pick λ on this (valid) manifest from --lm-grid; prints the table  |
// | --lm-grid LIST     | 0.1,0.2,0.3,0.5,0.7,1 | the λ values --tune-lm tries                        |
// | --tune-limit N     | 200     | --tune-lm: the first N utterances of its manifest                 |
// | --lodr FILE        | none    | LODR: subtract this low-order LM (todm lm --order 2)              |
// | --lodr-weight W    | 0.1     | its weight (not tuned yet)                                        |
// | --lm-only          | off     | with --lm: greedy and beam N + LM only (no beam N without the LM; |
// |                    |         | the paired interval is then against greedy)                       |
//
// Bad input (manifest lines, missing or corrupt audio, LibriSpeech transcript problems) is skipped,
// counted, and listed at the end. Audio durations of a LibriSpeech split come from the file headers.

import { SkipLedger } from "../data/errors.js";
import type { Engine } from "../engine/engine.js";
import { loadEvalData } from "../eval/data.js";
import { fmtCount } from "../train/rundir.js";
import { evaluateSearches, pairedComparison, resolveSubnet, type EvalResult, type PairedComparison } from "../eval/eval.js";
import { countParams, subnetName, supernetSpec } from "../model/config.js";
import { openModel } from "../model/path.js";
import { writeFileAtomic } from "../io/safetensors.js";
import type { FusionOptions } from "../decode/decode.js";
import { tuneLmWeight, type TuneResult } from "../lm/tune.js";
import { loadLmFile, lodrOption } from "./lm.js";

export interface EvalCommandOptions {
  model: string;
  data: string;
  report?: string;
  subnet?: string;
  /** Beam of the beam pass (Default: 4); 1 runs greedy search only. */
  beam?: number;
  limit?: number;
  batchFrames?: number;
  seed?: number;
  strict?: boolean;
  /** Progress bar on stderr (Default: true). */
  progress?: boolean;
  log?: (line: string) => void;
  /** An LM file: adds beam search with shallow fusion at lmWeight (Default 0.3, or tuned). */
  lm?: string;
  lmWeight?: number;
  lmEos?: boolean;
  /** A (valid) manifest to pick the LM weight on, from lmGrid, on its first tuneLimit utterances. */
  tuneLm?: string;
  lmGrid?: number[];
  tuneLimit?: number;
  /** LODR: a low-order LM file subtracted at lodrWeight (Default: 0.1). */
  lodr?: string;
  lodrWeight?: number;
  /** With lm: skip beam N without the LM (greedy and beam N + LM only; the paired interval is against greedy). */
  lmOnly?: boolean;
}

export interface EvalReport {
  magic: "todm-eval";
  version: 1;
  model: string;
  subnet: string;
  data: string;
  utterances: number;
  audioSeconds: number;
  results: Omit<EvalResult, "perUtterance">[];
  skipped: number;
  skippedByKind: Record<string, number>;
  skippedItems: string[];
  /** Per utterance: reference and each search's hypothesis and error count, in evaluation order. */
  hypotheses: { source: string; ref: string; hyps: { search: string; hyp: string; errors: number }[] }[];
  /** --lm: (beam N + LM) - (beam N; greedy at --beam 1 or with --lm-only) on the same utterances, paired bootstrap 95% intervals. */
  paired?: PairedComparison[];
  /** --lm: the file and weight used; --tune-lm: the tuning table. */
  lm?: { file: string; weight: number; endOfSentence: boolean; tune?: TuneResult & { manifest: string } };
}

const pad = (s: string, n: number) => s.padStart(n);

/** Runs the evaluation, prints the table (and the report's path), returns the report. */
export async function runEval(engine: Engine, opts: EvalCommandOptions): Promise<EvalReport> {
  const log = opts.log ?? ((l: string) => console.log(l));
  const beam = opts.beam ?? 4;
  if (!(Number.isInteger(beam) && beam >= 1)) throw new Error(`--beam must be an integer >= 1, got ${opts.beam}`);
  if (opts.limit !== undefined && !(Number.isInteger(opts.limit) && opts.limit >= 1)) throw new Error(`--limit must be an integer >= 1, got ${opts.limit}`);
  const { path, model, tokenizer } = openModel(engine, opts.model);
  const sub = resolveSubnet(model.cfg, opts.subnet);
  const ledger = new SkipLedger(opts.strict);
  const { kind, utterances } = await loadEvalData(opts.data, ledger, opts.limit ?? Infinity);
  const hours = utterances.reduce((s, u) => s + (u.duration ?? 0), 0) / 3600;
  log(`model: ${path} (${subnetName(sub)} of ${subnetName(supernetSpec(model.cfg))}, ${fmtCount(countParams(model.cfg, sub))} parameters, ${model.cfg.causal ? "causal" : "bidirectional"}, ${tokenizer.type} tokenizer of ${tokenizer.size})`);
  log(`data: ${opts.data} (${kind}): ${utterances.length} utterances, ${hours.toFixed(2)} hours; searches: greedy${beam > 1 ? `, beam ${beam}` : ""}; engine ${engine.build}, one thread`);
  let fusion: FusionOptions<number> | undefined, tune: (TuneResult & { manifest: string }) | undefined;
  if (opts.lm !== undefined) {
    const lm = loadLmFile(opts.lm, tokenizer), lodr = lodrOption(opts.lodr, opts.lodrWeight, tokenizer);
    let weight = opts.lmWeight ?? 0.3, endOfSentence = opts.lmEos ?? false;
    if (!(Number.isFinite(weight) && weight >= 0)) throw new Error(`--lm-weight must be a number >= 0, got ${opts.lmWeight}`);
    if (opts.tuneLm !== undefined) {
      const tuneLedger = new SkipLedger(opts.strict);
      const { utterances: valid } = await loadEvalData(opts.tuneLm, tuneLedger, opts.tuneLimit ?? 200);
      const t = await tuneLmWeight(model, tokenizer, lm, valid, { beam, grid: opts.lmGrid, lodr, subnet: sub, batchFrames: opts.batchFrames, ledger: tuneLedger, progress: opts.progress ?? true });
      tune = { ...t, manifest: opts.tuneLm };
      log(`LM weight on ${opts.tuneLm} (${t.utterances} utterances, beam ${beam}${endOfSentence ? ", </s> scored" : ""}):`);
      log(`${"λ".padEnd(6)} ${pad("WER%", 7)} ${pad("95% CI", 16)}`);
      for (const r of t.table) log(`${String(r.weight).padEnd(6)} ${pad(r.wer.toFixed(2), 7)} ${pad(`[${r.ci[0].toFixed(2)}, ${r.ci[1].toFixed(2)}]`, 16)}${r.weight === t.weight ? "  <- chosen" : ""}`);
      if (opts.lmWeight === undefined) weight = t.weight;
      endOfSentence = endOfSentence || t.endOfSentence;
    }
    fusion = { lm, weight, endOfSentence, lodr };
    log(`LM: ${opts.lm} (order ${lm.order}), weight ${weight}${endOfSentence ? ", </s> scored" : ""}${lodr ? `; LODR ${opts.lodr} (order ${lodr.lm.order}) weight ${lodr.weight}` : ""}`);
  } else if (opts.lodr !== undefined) throw new Error("--lodr goes with --lm");
  else if (opts.lmOnly) throw new Error("--lm-only goes with --lm");
  const plainBeam = beam > 1 && !(fusion && opts.lmOnly);
  const searches = [...(plainBeam ? [{ beam: 1 }, { beam }] : [{ beam: 1 }]), ...(fusion ? [{ beam, fusion }] : [])];
  const results = await evaluateSearches(model, tokenizer, utterances, searches, {
    subnet: sub, batchFrames: opts.batchFrames, ledger, bootstrap: { seed: opts.seed ?? 0 }, progress: opts.progress ?? true,
  });
  const w = Math.max(8, ...results.map((r) => r.search.length));
  const iv = (c: [number, number], digits = 2) => `[${c[0].toFixed(digits)}, ${c[1].toFixed(digits)}]`;
  log(`${"search".padEnd(w)} ${pad("WER%", 7)} ${pad("95% CI", 16)} ${pad("sub", 6)} ${pad("del", 6)} ${pad("ins", 6)} ${pad("words", 7)} ${pad("CER%", 7)} ${pad("95% CI", 16)} ${pad("RTF", 7)}`);
  for (const r of results) {
    log(`${r.search.padEnd(w)} ${pad(r.wer.toFixed(2), 7)} ${pad(iv(r.ci), 16)} ${pad(String(r.sub), 6)} ${pad(String(r.del), 6)} ${pad(String(r.ins), 6)} ${pad(String(r.words), 7)} ${pad(r.cer.toFixed(2), 7)} ${pad(iv(r.cerCi), 16)} ${pad(r.rtf.toFixed(4), 7)}`);
  }
  log(`scored ${results[0].utterances} utterances, ${(results[0].audioSeconds / 3600).toFixed(3)} hours of audio; RTF = (features + decoding) seconds / audio seconds; CER counts spaces`);
  // the LM's search against the same beam without it (greedy at --beam 1 or --lm-only): the last result against results[plainBeam ? 1 : 0]
  const paired = fusion ? [pairedComparison(results[results.length - 1], results[plainBeam ? 1 : 0], { seed: opts.seed ?? 0 })] : [];
  for (const p of paired) {
    const sign = (x: number) => `${x >= 0 ? "+" : ""}${x.toFixed(2)}`;
    log(`paired, ${p.utterances} utterances (bootstrap 95%): (${p.a}) - (${p.b}): WER ${sign(p.wer)} points ${iv(p.werCi)} (${sign(p.werRelative)}% relative ${iv(p.werRelativeCi, 1)}); CER ${sign(p.cer)} points ${iv(p.cerCi)}`);
  }
  for (const l of ledger.report()) log(l);
  const report: EvalReport = {
    magic: "todm-eval",
    version: 1,
    model: path,
    subnet: subnetName(sub),
    data: opts.data,
    utterances: results[0].utterances,
    audioSeconds: results[0].audioSeconds,
    results: results.map(({ perUtterance, ...rest }) => (void perUtterance, rest)),
    skipped: ledger.count,
    skippedByKind: ledger.byKind() as Record<string, number>,
    skippedItems: ledger.errors.map((e) => e.message),
    hypotheses: results[0].perUtterance.map((u, i) => ({
      source: u.source,
      ref: u.ref,
      hyps: results.map((r) => ({ search: r.search, hyp: r.perUtterance[i].hyp, errors: r.perUtterance[i].score.errors })),
    })),
    ...(paired.length ? { paired } : {}),
    ...(fusion ? { lm: { file: opts.lm!, weight: fusion.weight, endOfSentence: fusion.endOfSentence ?? false, ...(tune ? { tune } : {}) } } : {}),
  };
  if (opts.report) {
    writeFileAtomic(opts.report, JSON.stringify(report, null, 1) + "\n");
    log(`report: ${opts.report}`);
  }
  return report;
}
