// `todm repro` (`npm run repro`): the TODM experiment at our scale, as a sequence of ordinary todm commands.
//
//   1. the Supernet, trained `--seeds` times (sandwich sampling, adaptive dropout, alpha-divergence KD);
//   2. `--twins` of its subnets, each trained alone with the same data, seeds and number of updates;
//   3. the ablations (seed 1): 1 and 0 random subnets per step (the cost lever), fixed dropout, no KD, plain KL instead of alpha-divergence, AdamW;
//   4. every model scored on the test manifest (`todm eval`, greedy), and a report written: per subnet,
//      Supernet WER against its twin's (pooled over seeds, bootstrap 95% intervals, paired difference),
//      the ablations, and the wall time of the Supernet runs against the sum of the twins'.
//
// Every step is a child `todm` process whose exact command line is logged and written into the report.
// A finished step (its model file or eval report exists) is skipped, an interrupted training is resumed
// from its checkpoints: run the same command again to continue after a kill or across sessions. The
// runs build no LM (lm.enabled=false): the experiment scores greedy search, and the timed wall times
// stay those of training.
//
//   todm repro --out runs/repro-synth --steps 400                       # the built-in synthetic corpus
//   todm repro --out runs/repro-kathleen --train k.train.jsonl --valid k.valid.jsonl --test k.test.jsonl

import { spawn } from "node:child_process";
import { existsSync, mkdirSync, openSync, closeSync, readFileSync, readdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { corpusCacheDir, DEFAULT_CORPUS } from "../data/corpus_plan.js";
import { DEFAULT_MODEL, headDimOf, type ModelConfig } from "../model/config.js";
import { DEFAULT_SPACE, listSubnets, type SubnetInfo } from "../model/supernet.js";
import { writeFileAtomic } from "../io/safetensors.js";
import { bootstrapInterval, charErrors, pairedBootstrap, type ErrorCount } from "../eval/wer.js";
import type { EvalReport } from "./eval.js";

export interface ReproOptions {
  out: string;
  train: string[];
  valid: string[];
  /** Test manifest (default: the synthetic corpus's test split). */
  test?: string;
  steps: number;
  seeds: number;
  twins: number;
  ablations: boolean;
  threads: number;
  /** Extra `--set key=value` applied to every training run (the model and the data settings). */
  set: string[];
  /** A tiny model and a few steps: the CI smoke test. */
  tiny?: boolean;
  /** Where the report goes (default OUT/REPORT.md); RESULTS.md gets the same text between markers when `results` is set. */
  results?: string;
  title?: string;
  /** The command line that ran the experiment (written at the top of the report's commands). */
  command?: string;
  log?: (line: string) => void;
}

export const TINY_SETTINGS = [
  "model.subsampleChannels=4", "model.dModel=16", "model.layers=2", "model.ffDim=32", "model.heads=4", "model.stateSize=4",
  "model.predictorDim=16", "model.joinerDim=16", "batch.maxFrames=800", "train.loaderWorkers=0",
  "supernet.layers=[1,2]", "supernet.ffDims=[8,16,32]", "supernet.heads=[2,4]",
];

// dist/commands/repro.js -> dist/cli.js; under vitest this file runs from src/ and the CLI is the built one
const CLI = fileURLToPath(new URL(import.meta.url.endsWith(".ts") ? "../../dist/cli.js" : "../cli.js", import.meta.url));

interface Job {
  id: string;
  argv: string[];
  /** The command as a fresh run gives it (a training that resumes logs `--resume`, the report `--out`). */
  fresh?: string[];
  done: () => boolean;
  /** Seconds of wall time of the training command (recorded in OUT/times.json). */
  timed?: boolean;
}

/** Parses `--set` lines (key=JSON) into a model config patch, for the Supernet's shape. */
function modelFromSets(sets: string[]): ModelConfig {
  const m: Record<string, unknown> = { ...DEFAULT_MODEL };
  for (const s of sets) {
    const eq = s.indexOf("=");
    const k = s.slice(0, eq);
    if (!k.startsWith("model.")) continue;
    let v: unknown;
    try {
      v = JSON.parse(s.slice(eq + 1));
    } catch {
      v = s.slice(eq + 1);
    }
    m[k.slice(6)] = v;
  }
  return m as unknown as ModelConfig;
}

function spaceFromSets(sets: string[]) {
  const sp = structuredClone(DEFAULT_SPACE);
  for (const s of sets) {
    const eq = s.indexOf("=");
    const k = s.slice(0, eq);
    if (k === "supernet.layers" || k === "supernet.ffDims" || k === "supernet.heads") sp[k.slice(9) as "layers"] = JSON.parse(s.slice(eq + 1));
  }
  sp.enabled = true;
  return sp;
}

/** `n` subnets spread over the list (largest first): the largest, the smallest and evenly spaced others. */
export function reportedSubnets(all: SubnetInfo[], n: number): SubnetInfo[] {
  if (n >= all.length) return all.slice();
  const idx = new Set<number>();
  for (let k = 0; k < n; k++) idx.add(Math.round((k * (all.length - 1)) / (n - 1)));
  return [...idx].sort((a, b) => a - b).map((i) => all[i]);
}

/**
 * Pooled WER over seeds (the same utterances), and a bootstrap 95% interval resampling utterances (bootstrapInterval).
 * `unit` "char" pools the character error rate instead (from the greedy hypothesis and the reference).
 */
export function pooledWer(reports: EvalReport[], draws = 1000, seed = 0, unit: "word" | "char" = "word"): { wer: number; ci: [number, number]; perUtt: number[]; words: number[] } {
  const n = reports[0].hypotheses.length;
  const errs = new Array<number>(n).fill(0), words = new Array<number>(n).fill(0);
  for (const r of reports) {
    if (r.hypotheses.length !== n) throw new Error(`pooled WER: reports score different numbers of utterances (${n} and ${r.hypotheses.length})`);
    r.hypotheses.forEach((h, i) => {
      if (unit === "char") {
        const c = charErrors(h.ref, h.hyps[0].hyp);
        errs[i] += c.errors;
        words[i] += c.chars;
        return;
      }
      errs[i] += h.hyps[0].errors;
      words[i] += h.ref.split(/\s+/).filter(Boolean).length;
    });
  }
  const total = (e: number[], w: number[]) => (100 * e.reduce((a, b) => a + b, 0)) / Math.max(1, w.reduce((a, b) => a + b, 0));
  return { wer: total(errs, words), ci: bootstrapInterval(errorCounts({ perUtt: errs, words }), { draws, seed }), perUtt: errs, words };
}

const errorCounts = (x: { perUtt: number[]; words: number[] }): ErrorCount[] => x.perUtt.map((errors, i) => ({ errors, words: x.words[i] }));

/** Paired bootstrap of the relative WER difference (a - b) / b over the same utterances (src/eval/wer.ts pairedBootstrap): its 95% interval. */
export function pairedRelative(a: { perUtt: number[]; words: number[] }, b: { perUtt: number[]; words: number[] }, draws = 1000, seed = 1): [number, number] {
  return pairedBootstrap(errorCounts(a), errorCounts(b), { draws, seed, relative: true });
}

const quote = (a: string) => (/^[\w./:=,@+-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`);

export async function runRepro(o: ReproOptions): Promise<string> {
  const log = o.log ?? ((l: string) => console.log(l));
  const out = resolve(o.out);
  mkdirSync(join(out, "logs"), { recursive: true });
  mkdirSync(join(out, "eval"), { recursive: true });
  const sets = [...(o.tiny ? TINY_SETTINGS : []), ...o.set];
  const model = modelFromSets(sets);
  const space = spaceFromSets(sets);
  const all = listSubnets(model, space);
  const reported = reportedSubnets(all, o.twins);
  const P = headDimOf(model);
  const test = o.test ?? join(corpusCacheDir("data-cache", DEFAULT_CORPUS), "test.jsonl");
  if (!existsSync(test)) throw new Error(`repro: no test manifest ${test} (give --test, or run \`todm train\` once to build the synthetic corpus)`);
  const dataArgs = [...o.train.flatMap((t) => ["--train", t]), ...o.valid.flatMap((v) => ["--valid", v])];
  const common = (dir: string, seed: number, extra: string[], fresh = false) => {
    const resume = !fresh && existsSync(join(dir, "checkpoints")) && readdirSync(join(dir, "checkpoints")).some((f) => f.endsWith(".safetensors"));
    return ["train", ...(resume ? ["--resume", dir] : ["--out", dir]), ...dataArgs, "--steps", String(o.steps), "--seed", String(seed), "--threads", String(o.threads),
      ...[...sets, "train.maxMinutes=0", "train.validEvery=0", "lm.enabled=false", ...extra].flatMap((s) => ["--set", s])];
  };
  const trainJob = (id: string, seed: number, extra: string[]): Job => {
    const dir = join(out, id);
    return { id, argv: common(dir, seed, extra), fresh: common(dir, seed, extra, true), done: () => existsSync(join(dir, "model.safetensors")), timed: true };
  };
  const evalJob = (id: string, modelDir: string, subnet?: string): Job => {
    const report = join(out, "eval", `${id}.json`);
    return {
      id: `eval ${id}`,
      argv: ["eval", "--model", modelDir, "--data", test, "--beam", "1", "--report", report, ...(subnet ? ["--subnet", subnet] : [])],
      done: () => existsSync(report),
    };
  };
  const seeds = Array.from({ length: o.seeds }, (_, i) => i + 1);
  const SUPER = ["supernet.enabled=true"];
  const ablations: [string, string[]][] = o.ablations
    ? [
        // the cost lever first: fewer random subnets per step (the Supernet itself samples `supernet.random`, default 2)
        ["random-1", ["supernet.random=1"]],
        ["random-0", ["supernet.random=0"]],
        ["no-adaptive-dropout", ['supernet.dropout.rule="fixed"']],
        ["no-kd", ['supernet.kd.method="none"']],
        ["kl-kd", ['supernet.kd.method="kl"']],
        ["adamw", ['optim.name="adamw"']],
      ]
    : [];
  const jobs: Job[] = [];
  for (const s of seeds) jobs.push(trainJob(`supernet-s${s}`, s, SUPER));
  for (const sub of reported) {
    const twin = [`model.layers=${sub.spec.layers}`, `model.ffDim=${sub.spec.ffDim}`, `model.heads=${sub.spec.heads}`, `model.headDim=${P}`, "supernet.enabled=false"];
    for (const s of seeds) jobs.push(trainJob(`twin-${sub.name}-s${s}`, s, twin));
  }
  for (const [name, extra] of ablations) jobs.push(trainJob(`ablation-${name}`, 1, [...SUPER, ...extra]));
  for (const s of seeds) for (const sub of reported) jobs.push(evalJob(`supernet-s${s}-${sub.name}`, join(out, `supernet-s${s}`), sub.name));
  for (const sub of reported) for (const s of seeds) jobs.push(evalJob(`twin-${sub.name}-s${s}`, join(out, `twin-${sub.name}-s${s}`)));
  for (const [name] of ablations) for (const sub of reported) jobs.push(evalJob(`ablation-${name}-${sub.name}`, join(out, `ablation-${name}`), sub.name));

  const timesPath = join(out, "times.json");
  const times: Record<string, number> = existsSync(timesPath) ? JSON.parse(readFileSync(timesPath, "utf8")) : {};
  const commands: string[] = [];
  const t0 = Date.now();
  let ran = 0;
  const todo = jobs.filter((j) => !j.done()).length;
  log(`repro: ${jobs.length} steps (${jobs.length - todo} already done), ${reported.length} reported subnets of ${all.length}: ${reported.map((s) => s.name).join(", ")}`);
  for (const [i, j] of jobs.entries()) {
    const cmd = `todm ${j.argv.map(quote).join(" ")}`;
    commands.push(`todm ${(j.fresh ?? j.argv).map((a) => (a.startsWith(out) ? join(o.out, a.slice(out.length)) : a)).map(quote).join(" ")}`);
    if (j.done()) continue;
    const eta = ran ? ` (ETA ${Math.round((((Date.now() - t0) / ran) * (todo - ran)) / 60000)} min)` : "";
    log(`[${i + 1}/${jobs.length}] ${j.id}${eta}\n  ${cmd}`);
    const logFile = join(out, "logs", `${j.id.replace(/\s+/g, "-")}.log`);
    const fd = openSync(logFile, "a");
    const start = Date.now();
    const code = await new Promise<number>((res, rej) => {
      const child = spawn(process.execPath, [CLI, ...j.argv], { stdio: ["ignore", fd, fd], env: { ...process.env, CI: "true" } });
      child.on("error", rej);
      child.on("exit", (c, sig) => res(c ?? (sig ? 128 : 1)));
    });
    closeSync(fd);
    if (code !== 0) throw new Error(`repro: step "${j.id}" failed with exit code ${code}; see ${logFile}`);
    if (j.timed) {
      times[j.id] = (times[j.id] ?? 0) + (Date.now() - start) / 1000;
      writeFileAtomic(timesPath, JSON.stringify(times, null, 1) + "\n");
    }
    ran++;
  }

  // ---- the report ------------------------------------------------------------------------------------
  const rep = (id: string) => JSON.parse(readFileSync(join(out, "eval", `${id}.json`), "utf8")) as EvalReport;
  const fmt = (w: { wer: number; ci: [number, number] }) => `${w.wer.toFixed(2)} [${w.ci[0].toFixed(2)}, ${w.ci[1].toFixed(2)}]`;
  const lines: string[] = [];
  lines.push(`### ${o.title ?? "TODM reproduction"}`, "");
  lines.push(`Supernet: ${all.length} subnets (${all[0].name} to ${all[all.length - 1].name}); ${o.steps} updates per run; ${o.seeds} seed(s); test data ${test}`
    + ` (${rep(`supernet-s1-${reported[0].name}`).utterances} utterances). WER greedy, %, pooled over seeds, bootstrap 95% intervals; "rel." is`
    + ` (Supernet - twin) / twin with its paired-bootstrap 95% interval. Goal: Supernet at most twin + 3% relative.`
    + ` CER: character error rate of the same greedy hypotheses (spaces included), pooled the same way.`, "");
  lines.push("| subnet | params | MACs/s | Supernet WER | twin WER | rel. [95% CI] | goal | Supernet CER | twin CER |", "| --- | ---: | ---: | ---: | ---: | ---: | :---: | ---: | ---: |");
  for (const sub of reported) {
    const s = pooledWer(seeds.map((k) => rep(`supernet-s${k}-${sub.name}`)));
    const t = pooledWer(seeds.map((k) => rep(`twin-${sub.name}-s${k}`)));
    const rel = t.wer ? (100 * (s.wer - t.wer)) / t.wer : 0;
    const ci = pairedRelative(s, t);
    const sc = pooledWer(seeds.map((k) => rep(`supernet-s${k}-${sub.name}`)), 1000, 0, "char");
    const tc = pooledWer(seeds.map((k) => rep(`twin-${sub.name}-s${k}`)), 1000, 0, "char");
    lines.push(`| ${sub.name} | ${(sub.params / 1e6).toFixed(2)} M | ${(sub.macs / 1e6).toFixed(1)} M | ${fmt(s)} | ${fmt(t)} | ${rel >= 0 ? "+" : ""}${rel.toFixed(1)}% [${ci[0].toFixed(1)}, ${ci[1].toFixed(1)}] | ${rel <= 3 ? "met" : "missed"} | ${fmt(sc)} | ${fmt(tc)} |`);
  }
  const superTime = seeds.reduce((a, k) => a + (times[`supernet-s${k}`] ?? NaN), 0) / seeds.length;
  const twinTime = reported.reduce((a, sub) => a + seeds.reduce((b, k) => b + (times[`twin-${sub.name}-s${k}`] ?? NaN), 0) / seeds.length, 0);
  // the median update time of each run (its log.jsonl): robust to a machine busy with other work for a while
  const medianStep = (id: string): number => {
    const f = join(out, id, "log.jsonl");
    if (!existsSync(f)) return NaN;
    const ms = readFileSync(f, "utf8").split("\n").filter((l) => l.includes('"type":"step"')).map((l) => (JSON.parse(l) as { stepMs: number }).stepMs).sort((a, b) => a - b);
    return ms.length ? ms[ms.length >> 1] : NaN;
  };
  const superStep = seeds.reduce((a, k) => a + medianStep(`supernet-s${k}`), 0) / seeds.length;
  const twinStep = reported.reduce((a, sub) => a + seeds.reduce((b, k) => b + medianStep(`twin-${sub.name}-s${k}`), 0) / seeds.length, 0);
  lines.push("", `Training wall time (per seed, mean): Supernet ${(superTime / 60).toFixed(1)} min; the ${reported.length} twins together ${(twinTime / 60).toFixed(1)} min;`
    + ` ratio ${(superTime / twinTime).toFixed(2)} (goal: at most 0.5). Per update (median step time of each run, mean over seeds): Supernet`
    + ` ${superStep.toFixed(0)} ms, the twins together ${twinStep.toFixed(0)} ms, ratio ${(superStep / twinStep).toFixed(2)}.`, "");
  if (ablations.length) {
    lines.push("Ablations (seed 1, same updates; WER greedy % [95% CI]):", "");
    lines.push(`| subnet | full (seed 1) | ${ablations.map(([n]) => n).join(" | ")} |`, `| --- | ---: | ${ablations.map(() => "---:").join(" | ")} |`);
    for (const sub of reported) {
      const cells = [pooledWer([rep(`supernet-s1-${sub.name}`)]), ...ablations.map(([n]) => pooledWer([rep(`ablation-${n}-${sub.name}`)]))];
      lines.push(`| ${sub.name} | ${cells.map(fmt).join(" | ")} |`);
    }
    lines.push("", `Ablation wall times: ${ablations.map(([n]) => `${n} ${((times[`ablation-${n}`] ?? NaN) / 60).toFixed(1)} min`).join(", ")}.`, "");
    const sampling = ablations.filter(([n]) => n.startsWith("random-"));
    if (sampling.length)
      lines.push(`Cost against the sum of the twins (${(twinTime / 60).toFixed(1)} min), by random subnets sampled per step: `
        + [`the Supernet ${(superTime / twinTime).toFixed(2)}`, ...sampling.map(([n]) => `${n} ${((times[`ablation-${n}`] ?? NaN) / twinTime).toFixed(2)}`)].join(", ")
        + `; by median update time: the Supernet ${(superStep / twinStep).toFixed(2)}, `
        + sampling.map(([n]) => `${n} ${(medianStep(`ablation-${n}`) / twinStep).toFixed(2)}`).join(", ")
        + " (goal: at most 0.5).", "");
  }
  lines.push("<details><summary>Exact commands</summary>", "", "```sh", ...(o.command ? [`# the experiment (each step below is one child process of it)`, o.command] : []), ...commands, "```", "", "</details>", "");
  const text = lines.join("\n");
  writeFileAtomic(join(out, "REPORT.md"), text);
  log(text);
  if (o.results) {
    const tag = `repro:${o.title ?? "default"}`;
    const begin = `<!-- ${tag} begin -->`, end = `<!-- ${tag} end -->`;
    const cur = existsSync(o.results) ? readFileSync(o.results, "utf8") : "# Results\n";
    const block = `${begin}\n${text}\n${end}`;
    const at = cur.indexOf(begin), until = cur.indexOf(end);
    writeFileAtomic(o.results, at >= 0 && until > at ? cur.slice(0, at) + block + cur.slice(until + end.length) : `${cur.trimEnd()}\n\n${block}\n`);
    log(`updated ${o.results}`);
  }
  return text;
}
