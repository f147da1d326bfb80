// `todm repro` (`npm run repro`): the TODM experiment at our scale, as a sequence of ordinary todm commands.
//
//   1. the Supernet, trained `--seeds` times (sandwich sampling, adaptive dropout, alpha-divergence KD);
//   2. `--twins` of its subnets, each trained alone with the same data, seeds and number of updates;
//   3. the ablations (seed 1, issue 18): 2 and 0 random subnets per step (1 in the Supernet), fixed and
//      largest-only dropout (adaptive in the Supernet), plain KL and no KD (alpha-divergence), KD on the full
//      lattice (on the teacher's pruned band), AdamW (ScaledAdam), per-member subsampling (shared); with
//      `--levers`, the smallest subnets' levers (seed 1): dropout's gamma 2 and 0.5, sampling weights
//      favouring small subnets (supernet.sampleBias 1), more distillation for small students
//      (supernet.kd.sizeGamma 1);
//   4. every model scored on the test manifest greedy (`todm eval`); then one LM for the experiment (the
//      training manifests' text minus every valid and test sentence, src/train/lm.ts), its weight tuned once
//      on valid with the Supernet's largest subnet (seed 1) at beam `lm.beam`, and the Supernet's subnets and
//      the twins scored again with beam + LM (`--no-lm` skips it);
//   5. the reported subnets exported int8 from the Supernet (seed 1, `todm export --int8`) and timed through
//      the inference build (`todm/infer`, one thread) on the first `--rtf-utterances` test utterances;
//   6. the report (repro-report.ts): OUT/REPORT.md and OUT/wer-size.svg.
// The steps run in the order 1, 2, 4, 5, then 3 and its greedy scoring: the Supernet-against-twins table is
// complete before the first ablation starts, so a reproduction spread over sessions reports it first.
//
// With `--init-from-repro DIR` every run starts from the final model of the run of the same name in DIR
// (`todm train --init-from DIR/<run>/model.safetensors`): Kathleen fine-tuned from the synthetic experiment.
//
// Every child step is a `todm` process whose exact command line is logged and written into the report; the
// LM build and the RTF timing run in this process. A finished step (its model file, eval report, LM file or
// RTF report exists) is skipped, an interrupted training is resumed from its checkpoints: run the same command
// again to continue after a kill or across sessions. Each step's wall time goes to OUT/times.json (the
// machine time of the report), written every 30 s while it runs, so the segments of a step cut by a kill add
// up; the printed ETA costs the remaining steps by the recorded ones (reproEtaSec). The training runs build
// no LM of their own (lm.enabled=false).
//
//   todm repro --out runs/repro-synth --steps 400                       # the built-in synthetic corpus
//   todm repro --out runs/repro-kathleen --train k.train.jsonl --valid k.valid.jsonl --test k.test.jsonl --init-from-repro runs/repro-synth --no-ablations

import { spawn } from "node:child_process";
import { existsSync, mkdirSync, openSync, closeSync, readFileSync, readdirSync, renameSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { corpusCacheDir } from "../data/corpus_plan.js";
import { ensureDefaultCorpus } from "../data/synth.js";
import { readManifest } from "../data/manifest.js";
import { readAudioAt } from "../audio/read.js";
import { normalizeText } from "../data/normalize.js";
import { headDimOf, type ModelConfig } from "../model/config.js";
import { listSubnets, type SubnetInfo } from "../model/supernet.js";
import { writeFileAtomic } from "../io/safetensors.js";
import { alignTexts } from "../eval/wer.js";
import { buildRunLm } from "../lm/build.js";
import { loadTrainConfig, type TrainConfig } from "../train/config.js";
import { runLmText } from "../train/lm.js";
import { loadRecognizer } from "../infer/node.js";
import { modelTokenizer } from "./lm.js";
import { writeReproReport, type ReproRun, type RtfReport } from "./repro-report.js";

export { pairedRelative, pooledWer } from "./repro-report.js";

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
  /** Also the smallest subnets' levers (seed 1). */
  levers?: boolean;
  /** The LM columns (Default: true). */
  lm?: boolean;
  /** Test utterances decoded through the int8 inference build for the RTF (Default: 50; 0 = all). */
  rtfUtterances?: number;
  /** Every run starts from the final model of the run of the same name in this experiment directory. */
  initFromRepro?: string;
  threads: number;
  /** Extra `--set key=value` applied to every training run (the model and the data settings). */
  set: string[];
  /** Run nothing: write the report from the steps done so far, the rest marked pending (an interim report). */
  reportOnly?: boolean;
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
  // the LM's weight tuned over two values only (the default grid has five)
  "lm.grid=[0.2,0.4]",
];

/** The ablations of issue 18 (seed 1), each against the full Supernet: [name, its --set lines, what it changes]. */
export const ABLATIONS: [string, string[], string][] = [
  ["random-2", ["supernet.random=2"], "2 random subnets per step, AlphaNet's sandwich (1)"],
  ["random-0", ["supernet.random=0"], "0 random subnets per step (1)"],
  ["no-adaptive-dropout", ['supernet.dropout.rule="fixed"'], "fixed dropout p_max on every member (adaptive)"],
  ["largest-dropout", ['supernet.dropout.rule="largest"'], "dropout on the largest member only (adaptive)"],
  ["kl-kd", ['supernet.kd.method="kl"'], "plain KL distillation (alpha-divergence)"],
  ["full-lattice-kd", ['supernet.kd.lattice="full"'], "KD on the whole T x (U+1) lattice, every student's joiner run on it (the teacher's pruned band)"],
  ["no-kd", ['supernet.kd.method="none"'], "no distillation (alpha-divergence)"],
  ["adamw", ['optim.name="adamw"'], "AdamW (ScaledAdam)"],
  ["per-member-frontend", ["train.shareFrontend=false"], "the subsampling run per member (once per step)"],
];

/** The smallest subnets' levers (issue 18 item 5, seed 1): dropout's gamma (p = p_max·(params/params_max)^gamma), the sandwich's sampling weights, the KD weight per size. */
export const LEVERS: [string, string[], string][] = [
  ["gamma-2", ["supernet.dropout.gamma=2"], "dropout gamma 2: smaller members get less dropout (1)"],
  ["gamma-0.5", ["supernet.dropout.gamma=0.5"], "dropout gamma 0.5 (1)"],
  ["sample-bias-1", ["supernet.sampleBias=1"], "random members drawn with probability proportional to params_max/params (uniformly)"],
  ["kd-size-1", ["supernet.kd.sizeGamma=1"], "a student's KD weight min(1, lambda·params_max/params) (lambda for every student)"],
];

// dist/commands/repro.js -> dist/cli.js; under vitest this file runs from src/ and the CLI is the built one
const CLI = fileURLToPath(new URL(import.meta.url.endsWith(".ts") ? "../../dist/cli.js" : "../cli.js", import.meta.url));

interface Job {
  id: string;
  /** A child `todm` command (evaluated when the step runs: the LM weight is read from the tuning's report). */
  argv?: () => string[];
  /** The command as a fresh run gives it (a training that resumes logs `--resume`, the report `--out`). */
  fresh?: () => string[];
  /** A step run in this process, and the line the report lists for it. */
  run?: () => Promise<void>;
  what?: string;
  done: () => boolean;
  kind: "train" | "score";
  /** Before a training step starts: a run killed before its first checkpoint is set aside (setAsideUnstarted). */
  prepare?: () => void;
}

/** `n` subnets spread over the list (largest first): the largest, the smallest and evenly spaced others. */
export function reportedSubnets(all: SubnetInfo[], n: number): SubnetInfo[] {
  if (n >= all.length) return all.slice();
  const idx = new Set<number>();
  for (let k = 0; k < n; k++) idx.add(Math.round((k * (all.length - 1)) / (n - 1)));
  return [...idx].sort((a, b) => a - b).map((i) => all[i]);
}

const quote = (a: string) => (/^[\w./:=,@+-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`);

/**
 * The time left (seconds) of a reproduction's remaining steps: each remaining step is costed at the mean recorded
 * time (OUT/times.json, earlier sessions included) of the finished steps of its kind (training or scoring), so the
 * estimate is there from the first step of a resumed run and does not mix a scoring step's minutes with a
 * training's half hour. NaN while a remaining kind has no finished step to go by. A step partly run (time
 * recorded, not done) is costed at the mean less what it already ran, at least 0.
 */
export function reproEtaSec(steps: { id: string; kind: "train" | "score"; done: boolean }[], times: Record<string, number>): number {
  const mean = (kind: string) => {
    const t = steps.filter((s) => s.kind === kind && s.done && times[s.id] !== undefined).map((s) => times[s.id]);
    return t.length ? t.reduce((a, b) => a + b, 0) / t.length : NaN;
  };
  const m = { train: mean("train"), score: mean("score") };
  return steps.filter((s) => !s.done).reduce((a, s) => a + Math.max(0, m[s.kind] - (times[s.id] ?? 0)), 0);
}

/** The RTF of an (int8) model file through the inference build on the first `limit` utterances of a manifest, one thread, greedy. */
export async function inferRtf(model: string, manifest: string, limit: number): Promise<RtfReport> {
  const utts = readManifest(manifest).slice(0, limit > 0 ? limit : undefined);
  if (!utts.length) throw new Error(`repro: no utterances in ${manifest} to time the inference build on`);
  const audio: Float32Array[] = [];
  for (const u of utts) audio.push(await readAudioAt(u.audio, 16000));
  const rec = await loadRecognizer(readFileSync(model), { source: model });
  for (const x of audio.slice(0, 5)) rec.recognize(x, 16000); // untimed: the first calls compile and optimise the code paths (V8 tiers up)
  const t0 = performance.now();
  const hyps = audio.map((x) => rec.recognize(x, 16000).text);
  const seconds = (performance.now() - t0) / 1000;
  const audioSeconds = audio.reduce((a, x) => a + x.length / 16000, 0);
  const scores = utts.map((u, i) => alignTexts(normalizeText(u.text), hyps[i]));
  const errors = scores.reduce((a, s) => a + s.errors, 0), words = scores.reduce((a, s) => a + s.words, 0);
  return { model, build: rec.build, manifest, utterances: utts.length, audioSeconds, seconds, rtf: seconds / audioSeconds, wer: (100 * errors) / Math.max(1, words), hypotheses: hyps };
}

/**
 * A training killed before its first checkpoint leaves log.jsonl and config.json but nothing to resume from,
 * and \`todm train --out\` refuses a directory that holds a run: such a directory is renamed (nothing is
 * deleted) to DIR.unstarted-N, so that the step starts again from the beginning. Returns the new name, or null.
 */
export function setAsideUnstarted(dir: string, log: (l: string) => void = () => {}): string | null {
  const ckpt = join(dir, "checkpoints");
  if (!existsSync(join(dir, "log.jsonl"))) return null;
  if (existsSync(ckpt) && readdirSync(ckpt).some((f) => f.endsWith(".safetensors"))) return null;
  let n = 1;
  while (existsSync(`${dir}.unstarted-${n}`)) n++;
  renameSync(dir, `${dir}.unstarted-${n}`);
  log(`repro: ${dir} was stopped before its first checkpoint; set aside as ${dir}.unstarted-${n}, started again`);
  return `${dir}.unstarted-${n}`;
}

export async function runRepro(o: ReproOptions): Promise<string> {
  const log = o.log ?? ((l: string) => console.log(l));
  const out = resolve(o.out);
  for (const d of ["logs", "eval", "int8", "rtf"]) mkdirSync(join(out, d), { recursive: true });
  const sets = [...(o.tiny ? TINY_SETTINGS : []), ...o.set];
  const cfg: TrainConfig = loadTrainConfig(undefined, sets);
  cfg.data.train = o.train;
  cfg.data.valid = o.valid;
  const model: ModelConfig = cfg.model;
  const space = { ...cfg.supernet, enabled: true };
  const all: SubnetInfo[] = listSubnets(model, space);
  const reported = reportedSubnets(all, o.twins);
  const P = headDimOf(model);
  const builtin = corpusCacheDir(cfg.data.cacheDir, cfg.data.corpus);
  const test = o.test ?? join(builtin, "test.jsonl");
  // The built-in corpus is built on first use, as `todm train` does (a half-built one is resumed).
  if (!o.test && !o.train.length && !o.reportOnly) await ensureDefaultCorpus(builtin, log, cfg.data.corpus);
  if (!existsSync(test)) throw new Error(`repro: no test manifest ${test} (give --test${o.reportOnly ? ", or run the experiment first" : ""})`);
  const useLm = o.lm ?? true;
  const tuneManifest = o.valid[0] ?? (o.train.length ? undefined : join(builtin, "valid.jsonl"));
  if (useLm && !(tuneManifest && existsSync(tuneManifest))) throw new Error(`repro: the LM weight is tuned on the first --valid manifest${tuneManifest ? ` (${tuneManifest}: missing)` : ""}: give --valid, or --no-lm`);
  const rtfUtterances = o.rtfUtterances ?? 50;
  const initDir = o.initFromRepro ? resolve(o.initFromRepro) : undefined;
  const dataArgs = [...o.train.flatMap((t) => ["--train", t]), ...o.valid.flatMap((v) => ["--valid", v])];
  const trainArgv = (dir: string, seed: number, extra: string[], init: string | undefined, fresh: boolean) => {
    const resume = !fresh && existsSync(join(dir, "checkpoints")) && readdirSync(join(dir, "checkpoints")).some((f) => f.endsWith(".safetensors"));
    return ["train", ...(resume ? ["--resume", dir] : ["--out", dir, ...(init ? ["--init-from", init] : [])]), ...dataArgs, "--steps", String(o.steps), "--seed", String(seed),
      "--threads", String(o.threads), ...[...sets, "train.maxMinutes=0", "train.validEvery=0", "lm.enabled=false", ...extra].flatMap((s) => ["--set", s])];
  };
  const runs: ReproRun[] = [];
  const trainJob = (id: string, seed: number, extra: string[]): Job => {
    const dir = join(out, id), init = initDir ? join(initDir, id, "model.safetensors") : undefined;
    runs.push({ id, seed, init });
    return { id, kind: "train", prepare: () => setAsideUnstarted(dir, log), argv: () => trainArgv(dir, seed, extra, init, false), fresh: () => trainArgv(dir, seed, extra, init, true), done: () => existsSync(join(dir, "model.safetensors")) };
  };
  const lmPath = join(out, "lm.tlm"), tunePath = join(out, "eval", "lm-tune.json");
  const lmWeight = (): number => (JSON.parse(readFileSync(tunePath, "utf8")) as { lm: { weight: number } }).lm.weight;
  const evalJob = (id: string, modelDir: string, subnet: string | undefined, withLm: boolean): Job => {
    const report = join(out, "eval", `${id}${withLm ? ".lm" : ""}.json`);
    const lmArgs = () => (withLm ? ["--beam", String(cfg.lm.beam), "--lm", lmPath, "--lm-weight", String(lmWeight()), "--lm-only"] : ["--beam", "1"]);
    return {
      id: `eval ${id}${withLm ? " lm" : ""}`, kind: "score",
      argv: () => ["eval", "--model", modelDir, "--data", test, ...lmArgs(), "--report", report, ...(subnet ? ["--subnet", subnet] : [])],
      done: () => existsSync(report),
    };
  };
  const seeds = Array.from({ length: o.seeds }, (_, i) => i + 1);
  const SUPER = ["supernet.enabled=true"];
  const ablations = o.ablations ? ABLATIONS : [];
  const levers = o.levers ? LEVERS : [];
  const jobs: Job[] = [];
  for (const s of seeds) jobs.push(trainJob(`supernet-s${s}`, s, SUPER));
  for (const sub of reported) {
    const twin = [`model.layers=${sub.spec.layers}`, `model.ffDim=${sub.spec.ffDim}`, `model.heads=${sub.spec.heads}`, `model.headDim=${P}`, "supernet.enabled=false"];
    for (const s of seeds) jobs.push(trainJob(`twin-${sub.name}-s${s}`, s, twin));
  }
  // The ablations and levers are trained after the main table is scored (greedy, LM, int8 RTF): a reproduction
  // cut short, or spread over sessions, has the Supernet-against-twins table first. trainJob lists them in `runs`
  // now (the --init-from-repro check below covers them); they join `jobs` at the end.
  const extraTrains: Job[] = [];
  for (const [name, extra] of ablations) extraTrains.push(trainJob(`ablation-${name}`, 1, [...SUPER, ...extra]));
  for (const [name, extra] of levers) extraTrains.push(trainJob(`lever-${name}`, 1, [...SUPER, ...extra]));
  if (initDir) {
    const missing = runs.filter((r) => !existsSync(r.init!)).map((r) => r.init);
    if (missing.length) throw new Error(`repro: --init-from-repro ${o.initFromRepro}: no final model for ${missing.length} run(s): ${missing.slice(0, 4).join(", ")}${missing.length > 4 ? ", ..." : ""}`);
  }
  const scored = (withLm: boolean) => {
    for (const s of seeds) for (const sub of reported) jobs.push(evalJob(`supernet-s${s}-${sub.name}`, join(out, `supernet-s${s}`), sub.name, withLm));
    for (const sub of reported) for (const s of seeds) jobs.push(evalJob(`twin-${sub.name}-s${s}`, join(out, `twin-${sub.name}-s${s}`), undefined, withLm));
  };
  scored(false);
  if (useLm) {
    // one LM for the experiment, over the Supernet's tokenizer (every run reads the same data: the same tokenizer)
    jobs.push({
      id: "lm", kind: "score", what: `# the LM: ${join(o.out, "lm.tlm")} (order ${cfg.lm.order}, at most ${cfg.lm.maxMb} MiB) from the training manifests' text minus every valid, test and yardstick sentence (src/train/lm.ts runLmText); its text in ${join(o.out, "lm.txt")}`,
      done: () => existsSync(join(out, "lm.json")),
      run: async () => {
        const { tokenizer } = modelTokenizer(join(out, "supernet-s1"));
        const { texts, dropped } = runLmText(cfg, readManifest(test).map((u) => u.text));
        const built = buildRunLm(texts, tokenizer, { order: cfg.lm.order, maxBytes: Math.round(cfg.lm.maxMb * 2 ** 20), droppedBefore: dropped });
        writeFileAtomic(lmPath, built.bytes);
        writeFileAtomic(join(out, "lm.txt"), texts.join("\n") + "\n");
        writeFileAtomic(join(out, "lm.json"), JSON.stringify({ path: lmPath, order: cfg.lm.order, bytes: built.bytes.length, sentences: built.estimate.sentences, heldOutDropped: dropped, minCount: built.estimate.minCount }, null, 1) + "\n");
        log(`LM ${lmPath}: ${built.estimate.sentences} sentences (${dropped} dropped as valid/test/yardstick sentences), ${(built.bytes.length / 2 ** 20).toFixed(2)} MiB`);
      },
    });
    jobs.push({
      id: "lm tune", kind: "score", done: () => existsSync(tunePath),
      // the weight on valid, the Supernet's largest subnet (seed 1); --data is one valid utterance (the tuning is what counts)
      argv: () => ["eval", "--model", join(out, "supernet-s1"), "--subnet", all[0].name, "--data", tuneManifest!, "--limit", "1", "--beam", String(cfg.lm.beam), "--lm", lmPath,
        "--tune-lm", tuneManifest!, "--lm-grid", cfg.lm.grid.join(","), "--tune-limit", String(cfg.lm.tuneUtterances > 0 ? cfg.lm.tuneUtterances : 1e9), "--lm-only", "--report", tunePath],
    });
    scored(true);
  }
  for (const sub of reported) {
    const file = join(out, "int8", `${sub.name}.safetensors`), rep = join(out, "rtf", `${sub.name}.json`);
    jobs.push({ id: `export int8 ${sub.name}`, kind: "score", done: () => existsSync(file), argv: () => ["export", "--run", join(out, "supernet-s1"), "--subnet", sub.name, "--int8", "--no-lm", "--out", file] });
    jobs.push({
      id: `rtf ${sub.name}`, kind: "score", done: () => existsSync(rep),
      what: `# RTF: ${join(o.out, "int8", `${sub.name}.safetensors`)} through todm/infer (one thread, greedy) on the first ${rtfUtterances || "all"} utterances of ${test}`,
      run: async () => writeFileAtomic(rep, JSON.stringify(await inferRtf(file, test, rtfUtterances), null, 1) + "\n"),
    });
  }
  // each ablation and lever scored as soon as it is trained: an interim report between sessions has its row
  for (const t of extraTrains) {
    jobs.push(t);
    for (const sub of reported) jobs.push(evalJob(`${t.id}-${sub.name}`, join(out, t.id), sub.name, false));
  }

  const timesPath = join(out, "times.json");
  const times: Record<string, number> = existsSync(timesPath) ? JSON.parse(readFileSync(timesPath, "utf8")) : {};
  const commands: string[] = [];
  const todo = jobs.filter((j) => !j.done()).length;
  log(`repro: ${jobs.length} steps (${jobs.length - todo} already done), ${reported.length} reported subnets of ${all.length}: ${reported.map((s) => s.name).join(", ")}`);
  const rel = (a: string) => (a.startsWith(out) ? join(o.out, a.slice(out.length)) : a);
  for (const [i, j] of jobs.entries()) {
    const done = j.done();
    // an eval step's command reads the tuned LM weight: before the tuning ran, an interim report names it
    const lmPending = !!o.reportOnly && !j.run && j.id.endsWith(" lm") && !existsSync(tunePath);
    if (lmPending) commands.push(`# ${j.id}: its command follows the LM weight's tuning`);
    else if (!j.run) commands.push(`todm ${(j.fresh ?? j.argv!)().map(rel).map(quote).join(" ")}`);
    else commands.push(j.what ?? `# ${j.id}`);
    if (done || o.reportOnly) continue;
    const left = reproEtaSec(jobs.map((x) => ({ id: x.id, kind: x.kind, done: x.done() })), times);
    const eta = Number.isFinite(left) ? ` (ETA ${Math.round(left / 60)} min)` : "";
    const start = Date.now(), before = times[j.id] ?? 0;
    const record = () => {
      times[j.id] = before + (Date.now() - start) / 1000;
      writeFileAtomic(timesPath, JSON.stringify(times, null, 1) + "\n");
    };
    // The running step's time is written every 30 s, so a step cut by a kill (a session's end) keeps the
    // time it ran when it resumes: OUT/times.json is the machine time, every segment counted.
    const tick = setInterval(record, 30_000);
    tick.unref();
    try {
      if (j.run) {
        log(`[${i + 1}/${jobs.length}] ${j.id}${eta} (in this process)`);
        await j.run();
      } else {
        j.prepare?.();
        const argv = j.argv!();
        log(`[${i + 1}/${jobs.length}] ${j.id}${eta}\n  todm ${argv.map(quote).join(" ")}`);
        const logFile = join(out, "logs", `${j.id.replace(/\s+/g, "-")}.log`);
        const fd = openSync(logFile, "a");
        const code = await new Promise<number>((res, rej) => {
          const child = spawn(process.execPath, [CLI, ...argv], { stdio: ["ignore", fd, fd], env: { ...process.env, CI: "true" } });
          child.on("error", rej);
          child.on("exit", (c, sig) => res(c ?? (sig ? 128 : 1)));
        });
        closeSync(fd);
        if (code !== 0) throw new Error(`repro: step "${j.id}" failed with exit code ${code}; see ${logFile}`);
      }
    } finally {
      clearInterval(tick);
    }
    record();
  }
  const left = jobs.filter((j) => !j.done()).length;
  return writeReproReport({
    o, out, test, all, reported, seeds, runs, ablations, levers, times, commands,
    lm: useLm ? { beam: cfg.lm.beam, weight: existsSync(tunePath) ? lmWeight() : NaN, tune: tunePath, info: join(out, "lm.json") } : null,
    rtfUtterances, steps: Object.fromEntries(jobs.map((j) => [j.id, j.kind])), log, partial: left ? { done: jobs.length - left, total: jobs.length } : undefined,
  });
}
