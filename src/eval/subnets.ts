// Scoring the subnets of a run (`todm eval --run RUN_DIR --data ...`, and the end of a Supernet run,
// src/train/finish.ts): every subnet of a Supernet run (or a chosen list) on one test set:
// WER and CER of greedy search (and of beam search if asked) with bootstrap 95% intervals, parameters, MACs per
// second of audio and the one-thread real-time factor, as a Markdown table and an SVG plot of WER
// against size.
//
//   todm eval --run runs/exp1 --data data/test.jsonl
//   todm eval --run runs/exp1 --data data/test.jsonl --subnets L6-ff576-h4,L2-ff144-h2 --beam 4 --table t.md
//
// The options (EvalSubnetsOptions) are the flags of `todm eval --run` (src/cli.ts, `todm eval --help`).
//
// The Supernet is loaded once and each subnet decodes in place (Model.decode with its SubnetSpec): what
// an exported subnet computes (test/export.test.ts). Audio is read and featurised again for every
// subnet; reading is not in the RTF, features are (as in `todm eval`). With --lm FILE (and --beam N), a third
// search per subnet: beam N with shallow fusion at --lm-weight (default: the weight the run's exported
// subnets record for RUN_DIR/subnets/lm.tlm, else 0.3), and the paired bootstrap 95% interval of
// (beam N + LM) - (beam N) in WER points. Not here: exporting (src/train/export.ts).

import { join } from "node:path";
import { SkipLedger } from "../data/errors.js";
import type { Engine } from "../engine/engine.js";
import { evaluateSearches, pairedComparison, type EvalResult, type PairedComparison, type SearchSpec } from "./eval.js";
import { DEFAULT_LM_WEIGHT } from "../infer/index.js";
import { LmFileError } from "../lm/format.js";
import { NgramLm } from "../lm/ngram.js";
import { readFileSync } from "node:fs";
import { runLm } from "../train/export.js";
import { parseSubnetName, type SubnetSpec } from "../model/config.js";
import { loadModel } from "../model/io.js";
import type { SubnetInfo } from "../model/supernet.js";
import { linePlot, type Series } from "../util/plot.js";
import { Progress } from "../util/progress.js";
import { writeFileAtomic } from "../io/safetensors.js";
import { fmtCount, lastValidationWers, readRunSpace, runModelFile } from "../train/rundir.js";
import { loadEvalData } from "./data.js";

export interface EvalSubnetsOptions {
  run: string;
  data: string;
  /** Comma-separated names (Default: every subnet of the run). */
  subnets?: string;
  /** > 1: also beam search (Default: 1, greedy only). */
  beam?: number;
  modelFile?: string;
  table?: string;
  plot?: string;
  limit?: number;
  batchFrames?: number;
  seed?: number;
  strict?: boolean;
  /** Progress bar with ETA across subnets on stderr (Default: true). */
  progress?: boolean;
  log?: (line: string) => void;
  /** An LM file: adds beam search with shallow fusion at lmWeight (Default: the run's recorded weight, else 0.3). */
  lm?: string;
  lmWeight?: number;
}

export type Scores = Omit<EvalResult, "perUtterance">;

export interface SubnetRow {
  name: string;
  spec: SubnetSpec;
  params: number;
  macs: number;
  greedy: Scores;
  beam: Scores | null;
  /** With an LM: beam search with it, and (beam + LM) - (beam) paired. */
  lm: Scores | null;
  lmPaired: PairedComparison | null;
  /** The validation WER the run recorded for it during training, if any. */
  validWer: number | null;
}

export interface EvalSubnetsResult {
  rows: SubnetRow[];
  table: string;
  svg: string;
  tablePath: string;
  plotPath: string;
}

const ci = (r: Scores) => `[${r.ci[0].toFixed(2)}, ${r.ci[1].toFixed(2)}]`;
/** One cell: character error rate with its bootstrap interval. */
const cer = (r: Scores) => `${r.cer.toFixed(2)} [${r.cerCi[0].toFixed(2)}, ${r.cerCi[1].toFixed(2)}]`;

/** The Markdown table of the rows (one per subnet, in the given order). */
export function subnetTable(rows: SubnetRow[], beam: number, header: string[]): string {
  const b = beam > 1, lm = rows.some((r) => r.lm);
  const cols = ["subnet", "layers", "ffDim", "heads", "params", "MMAC/s", "WER greedy %", "95% CI", ...(b ? [`WER beam ${beam} %`, "95% CI"] : []),
    ...(lm ? [`WER beam ${beam} + LM %`, "95% CI", "LM - no LM, points [paired 95% CI]"] : []),
    "CER greedy % [95% CI]", ...(b ? [`CER beam ${beam} %`] : []), ...(lm ? [`CER beam ${beam} + LM %`] : []), "RTF", "valid WER % (training)"];
  const lines = [...header, "", `| ${cols.join(" | ")} |`, `| ${cols.map((c, i) => (i === 0 ? "---" : "---:")).join(" | ")} |`];
  for (const r of rows) {
    const cells = [
      r.name, String(r.spec.layers), String(r.spec.ffDim), String(r.spec.heads), fmtCount(r.params), (r.macs / 1e6).toFixed(1),
      r.greedy.wer.toFixed(2), ci(r.greedy), ...(b && r.beam ? [r.beam.wer.toFixed(2), ci(r.beam)] : []),
      ...(lm && r.lm && r.lmPaired ? [r.lm.wer.toFixed(2), ci(r.lm), `${r.lmPaired.wer >= 0 ? "+" : ""}${r.lmPaired.wer.toFixed(2)} [${r.lmPaired.werCi[0].toFixed(2)}, ${r.lmPaired.werCi[1].toFixed(2)}]`] : []),
      cer(r.greedy), ...(b && r.beam ? [cer(r.beam)] : []), ...(lm && r.lm ? [cer(r.lm)] : []),
      r.greedy.rtf.toFixed(4), r.validWer === null ? "-" : r.validWer.toFixed(2),
    ];
    lines.push(`| ${cells.join(" | ")} |`);
  }
  return lines.join("\n") + "\n";
}

/** Subnets that no larger one beats: sorted by parameters, each with a lower WER than all smaller ones. */
export function paretoFront(points: { params: number; wer: number }[]): { params: number; wer: number }[] {
  const front: { params: number; wer: number }[] = [];
  for (const p of [...points].sort((a, b) => a.params - b.params || a.wer - b.wer)) {
    if (!front.length || p.wer < front[front.length - 1].wer) front.push(p);
  }
  return front;
}

/** The SVG plot: WER (greedy, and beam) against parameters, one labelled dot per subnet, the greedy Pareto front. */
export function subnetPlot(rows: SubnetRow[], beam: number, title: string): string {
  const greedy = rows.map((r) => ({ params: r.params, wer: r.greedy.wer }));
  const series: Series[] = [
    { name: "greedy WER %", points: rows.map((r) => [r.params, r.greedy.wer] as [number, number]), dots: true, line: false, labels: rows.map((r) => r.name) },
    { name: "greedy Pareto front", points: paretoFront(greedy).map((p) => [p.params, p.wer] as [number, number]), color: "#7f7f7f" },
  ];
  if (beam > 1) series.push({ name: `beam ${beam} WER %`, points: rows.map((r) => [r.params, r.beam!.wer]), dots: true, line: false });
  return linePlot(series, { title, xLabel: "parameters", yLabel: "WER %", padX: 0.08 });
}

/** Evaluates the subnets, prints and writes the table and the plot (atomically). */
export async function runEvalSubnets(engine: Engine, opts: EvalSubnetsOptions): Promise<EvalSubnetsResult> {
  const log = opts.log ?? ((l: string) => console.log(l));
  const beam = opts.beam ?? 1;
  if (!(Number.isInteger(beam) && beam >= 1)) throw new Error(`--beam must be an integer >= 1, got ${opts.beam}`);
  if (opts.limit !== undefined && !(Number.isInteger(opts.limit) && opts.limit >= 1)) throw new Error(`--limit must be an integer >= 1, got ${opts.limit}`);
  const file = runModelFile(opts.run, opts.modelFile);
  const { model: cfg, subnets: all } = readRunSpace(opts.run, file);
  let chosen: SubnetInfo[] = all;
  if (opts.subnets !== undefined) {
    const names = opts.subnets.split(",").map((s) => s.trim()).filter(Boolean);
    if (!names.length) throw new Error("--subnets: give at least one name (comma-separated)");
    chosen = names.map((n) => {
      parseSubnetName(n);
      const s = all.find((x) => x.name === n);
      if (!s) throw new Error(`--subnets: ${n} is not a subnet of ${opts.run} (its subnets: ${all.map((x) => x.name).join(", ")})`);
      return s;
    });
  }
  const { wers } = lastValidationWers(opts.run, cfg);
  const { model, tokenizer } = loadModel(engine, file);
  const ledger = new SkipLedger(opts.strict);
  const { kind, utterances } = await loadEvalData(opts.data, ledger, opts.limit ?? Infinity);
  const hours = utterances.reduce((s, u) => s + (u.duration ?? 0), 0) / 3600;
  const header = [
    `# Subnets of ${opts.run}`,
    "",
    `model ${file}; data ${opts.data} (${kind}): ${utterances.length} utterances, ${hours.toFixed(2)} hours; searches: greedy${beam > 1 ? `, beam ${beam}` : ""}${opts.lm !== undefined ? `, beam ${beam} + LM` : ""}; ` +
      `engine ${engine.build}, one thread; 95% CI: bootstrap over utterances (seed ${opts.seed ?? 0}); RTF = (features + decoding) seconds / audio seconds (greedy)`,
  ];
  for (const l of header.slice(2)) log(l);
  // a few untimed utterances first, so that the first subnet's RTF does not pay for compiling the kernels
  // and growing the memory
  if (utterances.length) await evaluateSearches(model, tokenizer, utterances.slice(0, 8), [{ beam: 1 }], { subnet: chosen[0].spec, batchFrames: opts.batchFrames, ledger: new SkipLedger() });
  const bar = opts.progress ?? true ? new Progress("subnets", chosen.length) : undefined;
  const searches: SearchSpec[] = beam > 1 ? [{ beam: 1 }, { beam }] : [{ beam: 1 }];
  if (opts.lm !== undefined) {
    const weight = opts.lmWeight ?? runLm(opts.run)?.weight ?? DEFAULT_LM_WEIGHT;
    if (!(Number.isFinite(weight) && weight >= 0)) throw new Error(`--lm-weight must be a number >= 0, got ${opts.lmWeight}`);
    let bytes: Uint8Array;
    try {
      bytes = readFileSync(opts.lm);
    } catch (e) {
      throw new LmFileError(opts.lm, `cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    searches.push({ beam, fusion: { lm: NgramLm.fromBytes(bytes, opts.lm, tokenizer), weight } });
    log(`LM: ${opts.lm}, weight ${weight}`);
  }
  const rows: SubnetRow[] = [];
  for (const s of chosen) {
    const res = await evaluateSearches(model, tokenizer, utterances, searches, {
      subnet: s.spec, batchFrames: opts.batchFrames, ledger: new SkipLedger(opts.strict), bootstrap: { seed: opts.seed ?? 0 },
    });
    const strip = (r: EvalResult): Scores => ((({ perUtterance, ...rest }) => (void perUtterance, rest))(r));
    const withLm = opts.lm !== undefined ? res[res.length - 1] : null;
    rows.push({
      name: s.name, spec: s.spec, params: s.params, macs: s.macs, greedy: strip(res[0]), beam: beam > 1 ? strip(res[1]) : null,
      lm: withLm ? strip(withLm) : null, lmPaired: withLm ? pairedComparison(withLm, res[beam > 1 ? 1 : 0], { seed: opts.seed ?? 0 }) : null,
      validWer: wers.get(s.name) ?? null,
    });
    bar?.tick();
  }
  bar?.finish();
  const table = subnetTable(rows, beam, header);
  log("");
  for (const l of table.trimEnd().split("\n").slice(header.length + 1)) log(l);
  for (const l of ledger.report()) log(l);
  const tablePath = opts.table ?? join(opts.run, "subnets.md"), plotPath = opts.plot ?? join(opts.run, "subnets.svg");
  const svg = subnetPlot(rows, beam, `WER against size: subnets of ${opts.run}`);
  writeFileAtomic(tablePath, table);
  writeFileAtomic(plotPath, svg);
  log(`wrote ${tablePath} and ${plotPath}`);
  return { rows, table, svg, tablePath, plotPath };
}
