// Picking the LM weight λ of shallow fusion on validation utterances: one pass over the audio
// (features and encoder once per batch), beam search without the LM and with each λ of a small grid,
// the lowest WER wins (ties: the smaller λ). `todm eval --tune-lm` prints the table; the training run
// calls it at its end on a subset of valid (the integrator wires it). Node-only through src/eval/eval.ts
// (it reads audio files); the LM and the search themselves are browser-safe.
//
//   const t = await tuneLmWeight(model, tokenizer, lm, validUtterances.slice(0, 200), { beam: 4 });
//   t.weight; t.table  // [{ weight, endOfSentence, wer, ci }]

import type { Tokenizer } from "../data/tokenizer.js";
import type { FusionLm } from "../decode/decode.js";
import { evaluateSearches, type EvalOptions, type EvalUtterance, type SearchSpec } from "../eval/eval.js";
import type { Model } from "../model/model.js";

export const DEFAULT_LM_GRID = [0.1, 0.2, 0.3, 0.5, 0.7, 1.0];

export interface TuneOptions extends EvalOptions {
  /** Default 4. */
  beam?: number;
  /** The λ values tried (Default: DEFAULT_LM_GRID). */
  grid?: readonly number[];
  /** Also try each λ with the </s> score at the end (Default: false: without only). */
  tryEndOfSentence?: boolean;
  /** Only the first `limit` utterances (Default: all). */
  limit?: number;
  /** LODR, fixed while λ is tuned. */
  lodr?: { lm: FusionLm<unknown>; weight: number };
}

export interface TuneRow {
  /** 0 = beam search without the LM. */
  weight: number;
  endOfSentence: boolean;
  wer: number;
  ci: [number, number];
}

export interface TuneResult {
  weight: number;
  endOfSentence: boolean;
  /** The baseline (weight 0) first, then the grid. */
  table: TuneRow[];
  utterances: number;
}

export async function tuneLmWeight(model: Model, tokenizer: Tokenizer, lm: FusionLm<unknown>, valid: readonly EvalUtterance[], opts: TuneOptions = {}): Promise<TuneResult> {
  const beam = opts.beam ?? 4, grid = opts.grid ?? DEFAULT_LM_GRID;
  if (grid.length === 0 || !grid.every((w) => Number.isFinite(w) && w > 0)) throw new Error(`tune LM: the grid must be positive numbers, got ${grid.join(",")}`);
  const utts = valid.slice(0, opts.limit ?? valid.length);
  if (utts.length === 0) throw new Error("tune LM: no validation utterances");
  const eos = opts.tryEndOfSentence ? [false, true] : [false];
  const specs: SearchSpec[] = [{ beam }, ...grid.flatMap((weight) => eos.map((endOfSentence) => ({ beam, fusion: { lm, weight, endOfSentence, lodr: opts.lodr } })))];
  const results = await evaluateSearches(model, tokenizer, utts, specs, opts);
  const table: TuneRow[] = results.map((r, i) => ({ weight: specs[i].fusion?.weight ?? 0, endOfSentence: specs[i].fusion?.endOfSentence ?? false, wer: r.wer, ci: r.ci }));
  let best = table[1];
  for (const row of table.slice(2)) if (row.wer < best.wer) best = row;
  return { weight: best.weight, endOfSentence: best.endOfSentence, table, utterances: results[0].utterances };
}
