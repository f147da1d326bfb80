// Exporting one subnet of a Supernet run as a standalone model file (optionally int8), which `todm
// transcribe` and `todm eval` load like any model: the library of `todm export` and of the end of a
// Supernet run (finish.ts). The file format: src/model/export.ts.
//
//   todm export --run runs/exp1 --subnet L4-ff288-h2 --out l4.safetensors
//   todm export --run runs/exp1 --max-params 1.5M --out small.safetensors --int8
//   todm export --run runs/exp1 --max-rtf 0.05 --out fast.safetensors
//
// The options (ExportCommandOptions) are the flags of `todm export` (src/cli.ts, `todm export --help`).
//
// "Most accurate" is by the validation WER of the run's last validation line that has any (log.jsonl:
// `subnets`, and `wer` for the largest). Candidates without a recorded WER are named and passed over;
// when no candidate that fits has one, the largest that fits is taken. The RTF is measured here, on
// this machine, with the eval code (features + encoder + greedy search on the calling thread, best of 3), on
// deterministic synthetic audio: tones and noise, not speech, so greedy search emits few symbols.
//
// The LM (docs/model-format.md "Language model"): with --lm FILE, or by default when the run has one
// (RUN_DIR/subnets/lm.tlm, its weight in the `todm.lm` metadata of the run's exported subnets; a single
// model's run: RUN_DIR/lm.tlm, its weight in RUN_DIR/model.safetensors), the LM
// is written as a sidecar beside OUT (OUT without .safetensors + ".lm.tlm", atomically) and OUT's
// metadata `todm.lm` names it with its weight W; the tensors are unchanged. The LM is checked against
// the model's tokenizer first. --no-lm exports without it. The end of a run (finish.ts) names the shared
// RUN_DIR/subnets/lm.tlm in each subnet it exports there instead of copying it (lmInPlace).

import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { DEFAULT_LM_WEIGHT, modelLmInfo } from "../infer/index.js";
import { NgramLm } from "../lm/ngram.js";
import { LmFileError } from "../lm/format.js";
import { parseModelMetadata } from "../model/metadata.js";
import type { Engine } from "../engine/engine.js";
import { SAMPLE_RATE, transcribeSamples } from "../eval/eval.js";
import { parseSubnetName, subnetName, type SubnetSpec } from "../model/config.js";
import { encodeSubnetModel } from "../model/export.js";
import { loadModelFromFile } from "../model/io.js";
import type { SubnetInfo } from "../model/supernet.js";
import { seededRandom } from "../util/random.js";
import { readSafetensors, writeFileAtomic } from "../io/safetensors.js";
import { fmtCount, lastValidationWers, parseCount, readRunSpace, runModelFile } from "./rundir.js";
import type { Model } from "../model/model.js";
import type { Tokenizer } from "../data/tokenizer.js";

export interface ExportCommandOptions {
  run: string;
  out: string;
  subnet?: string;
  maxParams?: string;
  maxRtf?: number;
  modelFile?: string;
  int8?: boolean;
  rtfSeconds?: number;
  /** An LM file to carry (Default: the run's subnets/lm.tlm when a weight is recorded for it). */
  lm?: string;
  /** Export without an LM. */
  noLm?: boolean;
  /** W recorded with the LM (Default: the run's recorded weight, else 0.3). */
  lmWeight?: number;
  /** The LM file is already beside OUT (a run's subnets/lm.tlm, shared by its exported subnets): the metadata names it, no sidecar copy. */
  lmInPlace?: boolean;
  log?: (line: string) => void;
}

export interface ExportResult {
  subnet: SubnetInfo;
  /** The validation WER recorded for it in the run, if any. */
  wer: number | null;
  /** Measured RTF of every candidate (--max-rtf only), by name. */
  rtf: Map<string, number>;
  bytes: number;
  /** The LM sidecar written beside `out` and its weight, if any. */
  lm: { file: string; weight: number; bytes: number } | null;
  /** The source model file's size in bytes. */
  sourceBytes: number;
  out: string;
}

/** Deterministic synthetic audio: 0.2 s tone segments over light noise (for timing only). */
export function syntheticAudio(seconds: number, seed = 7): Float32Array {
  const rnd = seededRandom(seed), n = Math.round(seconds * SAMPLE_RATE), seg = 0.2 * SAMPLE_RATE;
  const x = new Float32Array(n);
  let f = 440;
  for (let i = 0; i < n; i++) {
    if (i % seg === 0) f = 200 + 1800 * rnd.uniform();
    x[i] = 0.3 * Math.sin((2 * Math.PI * f * i) / SAMPLE_RATE) + 0.01 * rnd.normal();
  }
  return x;
}

/**
 * One-thread RTF of a subnet: the fastest of `repeats` timed greedy transcriptions of `audio` (after one
 * warm-up), wall clock over audio seconds. The minimum, not the median: on a shared machine the other
 * processes only ever add time, and the choice should reflect what the machine can do.
 */
export function measureRtf(model: Model, tokenizer: Tokenizer, sub: SubnetSpec, audio: Float32Array, repeats = 3): number {
  const opts = { subnet: sub, windowSeconds: audio.length / SAMPLE_RATE + 1 };
  transcribeSamples(model, tokenizer, audio.subarray(0, Math.min(audio.length, SAMPLE_RATE)), opts); // warm-up
  const times: number[] = [];
  for (let r = 0; r < repeats; r++) {
    const t0 = performance.now();
    transcribeSamples(model, tokenizer, audio, opts);
    times.push((performance.now() - t0) / 1000);
  }
  return Math.min(...times) / (audio.length / SAMPLE_RATE);
}

/** The most accurate of `fits` by recorded WER; without any recorded WER, the largest (fits is largest first). */
function mostAccurate(fits: SubnetInfo[], wers: Map<string, number>, log: (l: string) => void): SubnetInfo {
  const withWer = fits.filter((s) => wers.has(s.name));
  const without = fits.filter((s) => !wers.has(s.name));
  if (withWer.length === 0) {
    log(`no validation WER is recorded for any subnet that fits (${fits.map((s) => s.name).join(", ")}): taking the largest that fits`);
    return fits[0];
  }
  if (without.length) log(`no validation WER recorded for ${without.map((s) => s.name).join(", ")}: passed over`);
  return withWer.reduce((best, s) => (wers.get(s.name)! < wers.get(best.name)! || (wers.get(s.name) === wers.get(best.name) && s.params < best.params) ? s : best));
}

/**
 * The run's own LM: RUN_DIR/subnets/lm.tlm and the weight its exported subnets record for it (`todm.lm`),
 * else a single-model run's RUN_DIR/lm.tlm and the weight RUN_DIR/model.safetensors records; or null.
 */
export function runLm(run: string): { path: string; weight: number | null } | null {
  const dir = join(run, "subnets"), path = join(dir, "lm.tlm");
  if (!existsSync(path)) {
    const single = join(run, "lm.tlm"), model = join(run, "model.safetensors");
    if (!existsSync(single)) return null;
    const info = existsSync(model) ? modelLmInfo(readSafetensors(model).metadata, model) : null;
    return { path: single, weight: info?.file === "lm.tlm" ? info.weight : null };
  }
  for (const f of readdirSync(dir).filter((n) => n.endsWith(".safetensors")).sort()) {
    const info = modelLmInfo(readSafetensors(join(dir, f)).metadata, join(dir, f));
    if (info?.file === "lm.tlm") return { path, weight: info.weight };
  }
  return { path, weight: null };
}

/** The sidecar's path for a model file: OUT without .safetensors, plus .lm.tlm. */
export function lmSidecarPath(out: string): string {
  return join(dirname(out), basename(out).replace(/\.safetensors$/, "") + ".lm.tlm");
}

/** The LM to carry: --lm, else the run's (when it records a weight), unless --no-lm. */
function exportLm(opts: ExportCommandOptions, log: (l: string) => void): { path: string; weight: number } | null {
  if (opts.noLm) {
    if (opts.lm !== undefined) throw new Error("export: --lm and --no-lm contradict each other");
    return null;
  }
  if (opts.lmWeight !== undefined && !(Number.isFinite(opts.lmWeight) && opts.lmWeight >= 0)) throw new Error(`--lm-weight must be a number >= 0, got ${opts.lmWeight}`);
  const own = runLm(opts.run);
  if (opts.lm !== undefined) return { path: opts.lm, weight: opts.lmWeight ?? own?.weight ?? DEFAULT_LM_WEIGHT };
  if (!own) {
    if (opts.lmWeight !== undefined) throw new Error("export: --lm-weight goes with an LM (--lm FILE, or the run's subnets/lm.tlm)");
    return null;
  }
  if (own.weight === null && opts.lmWeight === undefined) {
    log(`${own.path}: no weight is recorded for it in ${join(opts.run, "subnets")}: exported without an LM (give --lm ${own.path} --lm-weight W to carry it)`);
    return null;
  }
  return { path: own.path, weight: opts.lmWeight ?? own.weight! };
}

/** Picks the subnet, writes the model file (atomically), prints what it did. */
export function runExport(engine: Engine | undefined, opts: ExportCommandOptions): ExportResult {
  const log = opts.log ?? ((l: string) => console.log(l));
  const ways = [opts.subnet !== undefined, opts.maxParams !== undefined, opts.maxRtf !== undefined].filter(Boolean).length;
  if (ways !== 1) throw new Error("export: give exactly one of --subnet NAME, --max-params N, --max-rtf R");
  const file = runModelFile(opts.run, opts.modelFile);
  const st = readSafetensors(file);
  const { model: cfg, subnets } = readRunSpace(opts.run, file);
  const { step, wers } = lastValidationWers(opts.run, cfg);
  log(`run ${opts.run}: model ${file}, ${subnets.length} subnet${subnets.length === 1 ? "" : "s"}; validation WERs ${wers.size ? `of step ${step} for ${wers.size}` : "not recorded"}`);
  let pick: SubnetInfo;
  const rtf = new Map<string, number>();
  if (opts.subnet !== undefined) {
    parseSubnetName(opts.subnet); // a clear error for a malformed name
    const found = subnets.find((s) => s.name === opts.subnet);
    if (!found) throw new Error(`--subnet ${opts.subnet}: not a subnet of ${opts.run} (its subnets: ${subnets.map((s) => s.name).join(", ")}; see todm subnets --run ${opts.run})`);
    pick = found;
  } else if (opts.maxParams !== undefined) {
    const n = parseCount(opts.maxParams);
    const fits = subnets.filter((s) => s.params <= n);
    if (!fits.length) throw new Error(`--max-params ${opts.maxParams}: no subnet fits (the smallest, ${subnets[subnets.length - 1].name}, has ${subnets[subnets.length - 1].params} parameters)`);
    pick = mostAccurate(fits, wers, log);
  } else {
    const R = opts.maxRtf!;
    if (!(R > 0)) throw new Error(`--max-rtf must be a positive number, got ${opts.maxRtf}`);
    if (!engine) throw new Error("export --max-rtf needs an engine to measure the RTF");
    const { model, tokenizer } = loadModelFromFile(engine, st, file);
    const audio = syntheticAudio(opts.rtfSeconds ?? 10);
    log(`measuring the one-thread RTF of ${subnets.length} subnets on ${(audio.length / SAMPLE_RATE).toFixed(1)} s of synthetic audio (engine ${engine.build})`);
    for (const s of subnets) {
      rtf.set(s.name, measureRtf(model, tokenizer, s.spec, audio));
      log(`  ${s.name.padEnd(16)} RTF ${rtf.get(s.name)!.toFixed(4)}${rtf.get(s.name)! <= R ? "" : " (too slow)"}`);
    }
    const fits = subnets.filter((s) => rtf.get(s.name)! <= R);
    if (!fits.length) {
      const fastest = subnets.reduce((a, b) => (rtf.get(a.name)! <= rtf.get(b.name)! ? a : b));
      throw new Error(`--max-rtf ${R}: no subnet fits on this machine (the fastest, ${fastest.name}, measured RTF ${rtf.get(fastest.name)!.toFixed(4)})`);
    }
    pick = mostAccurate(fits, wers, log);
  }
  const lm = exportLm(opts, log);
  let lmBytes: Uint8Array | undefined;
  const metadata: Record<string, string> = { "todm.source": JSON.stringify({ run: opts.run, model: file, subnet: pick.name, validWer: wers.get(pick.name) ?? null }) };
  if (lm) {
    try {
      lmBytes = new Uint8Array(readFileSync(lm.path));
    } catch (e) {
      throw new LmFileError(lm.path, `cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    NgramLm.fromBytes(lmBytes, lm.path, parseModelMetadata(st, file).tokenizer); // refuses a foreign, broken or other-tokenizer LM
    if (opts.lmInPlace && resolve(dirname(lm.path)) !== resolve(dirname(opts.out))) throw new Error(`export: the LM ${lm.path} is not beside ${opts.out} (lmInPlace)`);
    metadata["todm.lm"] = JSON.stringify({ file: basename(opts.lmInPlace ? lm.path : lmSidecarPath(opts.out)), weight: lm.weight });
  }
  const sidecar = lm && (opts.lmInPlace ? lm.path : lmSidecarPath(opts.out));
  const bytes = encodeSubnetModel(st, file, pick.spec, { int8: opts.int8, metadata });
  if (lmBytes && !opts.lmInPlace) writeFileAtomic(sidecar!, lmBytes); // first: a model that names its LM never lacks it
  writeFileAtomic(opts.out, bytes);
  const sourceBytes = statSync(file).size;
  const wer = wers.get(pick.name) ?? null;
  log(`exported ${pick.name} (${fmtCount(pick.params)} parameters, ${(pick.macs / 1e6).toFixed(1)} MMAC/s${wer === null ? "" : `, validation WER ${wer.toFixed(2)}%`}${rtf.size ? `, RTF ${rtf.get(pick.name)!.toFixed(4)}` : ""}) ` +
    `to ${opts.out}: ${(bytes.length / 2 ** 20).toFixed(2)} MiB${opts.int8 ? " int8" : ""} (the run's ${subnetName({ layers: cfg.layers, ffDim: cfg.ffDim, heads: cfg.heads })} file: ${(sourceBytes / 2 ** 20).toFixed(2)} MiB)`);
  if (lm) log(`with the LM ${lm.path} (weight ${lm.weight})${opts.lmInPlace ? "" : ` as ${sidecar}`}: ${(lmBytes!.length / 2 ** 20).toFixed(2)} MiB`);
  const lmOut = lm ? { file: sidecar!, weight: lm.weight, bytes: lmBytes!.length } : null;
  return { subnet: pick, wer, rtf, bytes: bytes.length, lm: lmOut, sourceBytes, out: opts.out };
}
