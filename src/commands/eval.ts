// `todm eval --model FILE_OR_RUN_DIR --data MANIFEST_OR_LIBRISPEECH_DIR`: WER of greedy and modified
// beam search with bootstrap 95% intervals, and the one-thread real-time factor.
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
//
// Bad input (manifest lines, missing or corrupt audio, LibriSpeech transcript problems) is skipped,
// counted, and listed at the end. Audio durations of a LibriSpeech split come from the file headers.

import { SkipLedger } from "../data/errors.js";
import type { Engine } from "../engine/engine.js";
import { loadEvalData } from "../eval/data.js";
import { fmtCount } from "../train/rundir.js";
import { evaluateSearches, resolveSubnet, type EvalResult } from "../eval/eval.js";
import { countParams, subnetName, supernetSpec } from "../model/config.js";
import { openModel } from "../model/path.js";
import { writeFileAtomic } from "../io/safetensors.js";

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
  const searches = beam > 1 ? [{ beam: 1 }, { beam }] : [{ beam: 1 }];
  const results = await evaluateSearches(model, tokenizer, utterances, searches, {
    subnet: sub, batchFrames: opts.batchFrames, ledger, bootstrap: { seed: opts.seed ?? 0 }, progress: opts.progress ?? true,
  });
  log(`${"search".padEnd(8)} ${pad("WER%", 7)} ${pad("95% CI", 16)} ${pad("sub", 6)} ${pad("del", 6)} ${pad("ins", 6)} ${pad("words", 7)} ${pad("RTF", 7)}`);
  for (const r of results) {
    const ci = `[${r.ci[0].toFixed(2)}, ${r.ci[1].toFixed(2)}]`;
    log(`${r.search.padEnd(8)} ${pad(r.wer.toFixed(2), 7)} ${pad(ci, 16)} ${pad(String(r.sub), 6)} ${pad(String(r.del), 6)} ${pad(String(r.ins), 6)} ${pad(String(r.words), 7)} ${pad(r.rtf.toFixed(4), 7)}`);
  }
  log(`scored ${results[0].utterances} utterances, ${(results[0].audioSeconds / 3600).toFixed(3)} hours of audio; RTF = (features + decoding) seconds / audio seconds`);
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
  };
  if (opts.report) {
    writeFileAtomic(opts.report, JSON.stringify(report, null, 1) + "\n");
    log(`report: ${opts.report}`);
  }
  return report;
}
