// `todm subnets`: the subnets of a Supernet (a train config or a run), largest first, with parameters,
// multiply-accumulates per second of audio and, for a run, the last validation WER it recorded.
//
//   todm subnets                          # the default train config
//   todm subnets --config my.json         # a train config, as `todm train --config`
//   todm subnets --run runs/exp1          # a run: its model file's config, config.json's search space
//   todm subnets --run runs/exp1 --names  # names only, one a line, largest first
//
// With supernet.enabled false the list is the single model. Reading the run: src/train/rundir.ts.

import type { SubnetInfo } from "../model/supernet.js";
import { loadTrainConfig } from "../train/config.js";
import { fmtCount, lastValidationWers, readRunSpace, subnetsOf } from "../train/rundir.js";

export interface SubnetsCommandOptions {
  config?: string;
  run?: string;
  names?: boolean;
  log?: (line: string) => void;
}

/** Prints the list; returns it. */
export function runSubnets(opts: SubnetsCommandOptions): SubnetInfo[] {
  const log = opts.log ?? ((l: string) => console.log(l));
  if (opts.config && opts.run) throw new Error("subnets: give --config or --run, not both");
  let subnets: SubnetInfo[], source: string, wers = new Map<string, number>(), step: number | null = null;
  if (opts.run) {
    const r = readRunSpace(opts.run);
    subnets = r.subnets;
    source = `run ${opts.run} (model: ${r.modelSource})`;
    ({ step, wers } = lastValidationWers(opts.run, r.model));
  } else {
    const train = loadTrainConfig(opts.config, []);
    subnets = subnetsOf(train.model, train.supernet, opts.config ?? "the default train config");
    source = opts.config ? `config ${opts.config}` : "the default train config";
  }
  if (opts.names) {
    for (const s of subnets) log(s.name);
    return subnets;
  }
  log(`${subnets.length} subnet${subnets.length === 1 ? "" : "s"} of ${source}, largest first${subnets.length === 1 ? " (supernet.enabled is false: the single model)" : ""}`);
  const hasWer = wers.size > 0;
  log(`${"subnet".padEnd(16)} ${"layers".padStart(6)} ${"ffDim".padStart(6)} ${"heads".padStart(5)} ${"params".padStart(10)} ${"MMAC/s".padStart(8)}${hasWer ? `  valid WER% (step ${step})` : ""}`);
  for (const s of subnets) {
    const w = wers.get(s.name);
    log(`${s.name.padEnd(16)} ${String(s.spec.layers).padStart(6)} ${String(s.spec.ffDim).padStart(6)} ${String(s.spec.heads).padStart(5)} ${fmtCount(s.params).padStart(10)} ${(s.macs / 1e6).toFixed(1).padStart(8)}${hasWer ? `  ${w === undefined ? "-" : w.toFixed(2)}` : ""}`);
  }
  log("params: trained parameters; MMAC/s: millions of multiply-accumulates per second of audio (GEMMs and the SSM scan; 3 tokens/s)");
  return subnets;
}
