// The report of `todm repro` (repro.ts runs the steps): OUT/REPORT.md and OUT/wer-size.svg, from the eval
// reports (OUT/eval/*.json), the RTF reports (OUT/rtf/*.json), the runs' logs (log.jsonl: the median
// update time) and OUT/times.json (every step's wall time: the machine time). Per reported subnet, the
// Supernet against its twin, greedy and with beam + LM: WER and CER pooled over seeds with bootstrap 95%
// intervals, the relative WER difference with its paired-bootstrap interval (src/eval/wer.ts); parameters,
// MACs per second of audio and the RTF of its int8 export through todm/infer; how many updates each subnet
// was a member of (the runs' logs); then the ablations and levers with their cost and each against the twin
// of seed 1, and the machine time. An interim report (`--report-only`, partial) writes what is done and
// marks the rest "pending". Not here: running anything.

import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { bootstrapInterval, charErrors, pairedBootstrap, type ErrorCount } from "../eval/wer.js";
import { writeFileAtomic } from "../io/safetensors.js";
import type { SubnetInfo } from "../model/supernet.js";
import { fmtCount } from "../train/rundir.js";
import { linePlot } from "../util/plot.js";
import type { EvalReport } from "./eval.js";

/** A training run of the experiment: its directory name, seed and the model it was initialised from (fine-tuning). */
export interface ReproRun {
  id: string;
  seed: number;
  init?: string;
}

/** OUT/rtf/NAME.json: an int8 export decoded through the inference build. */
export interface RtfReport {
  model: string;
  build: string;
  manifest: string;
  utterances: number;
  audioSeconds: number;
  /** Decoding seconds (features included, reading the audio not). */
  seconds: number;
  rtf: number;
  /** Greedy WER of the inference build on these utterances, %. */
  wer: number;
  hypotheses: string[];
}

export interface Pooled {
  wer: number;
  ci: [number, number];
  perUtt: number[];
  words: number[];
}

/**
 * Pooled WER over seeds (the same utterances), and a bootstrap 95% interval resampling utterances (bootstrapInterval).
 * `unit` "char" pools the character error rate instead (from the hypothesis and the reference). `search` is the
 * index of the report's search (0: greedy; -1: the last, beam + LM in a `--lm-only` report).
 */
export function pooledWer(reports: EvalReport[], draws = 1000, seed = 0, unit: "word" | "char" = "word", search = 0): Pooled {
  const n = reports[0].hypotheses.length;
  const errs = new Array<number>(n).fill(0), words = new Array<number>(n).fill(0);
  for (const r of reports) {
    if (r.hypotheses.length !== n) throw new Error(`pooled WER: reports score different numbers of utterances (${n} and ${r.hypotheses.length})`);
    r.hypotheses.forEach((h, i) => {
      const hyp = h.hyps.at(search);
      if (!hyp) throw new Error(`pooled WER: ${r.model} has no search ${search} (${h.hyps.length} searches)`);
      if (unit === "char") {
        const c = charErrors(h.ref, hyp.hyp);
        errs[i] += c.errors;
        words[i] += c.chars;
        return;
      }
      errs[i] += hyp.errors;
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

/** What a run's step records (its log.jsonl) say: each update's time (ms), in order, and how many updates each
 * subnet was a member of (the sandwich's draws), by name. One pass over the file. */
export interface RunSteps { ms: number[]; members: Map<string, number> }

export function readRunSteps(runDir: string): RunSteps {
  const f = join(runDir, "log.jsonl"), ms: number[] = [], members = new Map<string, number>();
  if (!existsSync(f)) return { ms, members };
  for (const l of readFileSync(f, "utf8").split("\n")) {
    if (!l.includes('"type":"step"')) continue;
    const r = JSON.parse(l) as { stepMs: number; subnets?: string[] };
    ms.push(r.stepMs);
    for (const name of r.subnets ?? []) members.set(name, (members.get(name) ?? 0) + 1);
  }
  return { ms, members };
}

/** The median of update times: robust to a machine busy with other work for a while. */
export function median(ms: number[]): number {
  const sorted = [...ms].sort((a, b) => a - b);
  return sorted.length ? sorted[sorted.length >> 1] : NaN;
}

export interface ReportInput {
  /** The experiment's options (repro.ts ReproOptions) the report names. */
  o: { out: string; steps: number; seeds: number; title?: string; initFromRepro?: string; command?: string; results?: string };
  out: string;
  test: string;
  all: SubnetInfo[];
  reported: SubnetInfo[];
  seeds: number[];
  runs: ReproRun[];
  ablations: [string, string[], string][];
  levers: [string, string[], string][];
  times: Record<string, number>;
  commands: string[];
  /** The experiment's LM: its beam, tuned weight, the tuning's eval report and OUT/lm.json; null with --no-lm. */
  lm: { beam: number; weight: number; tune: string; info: string } | null;
  rtfUtterances: number;
  /** Each step's kind, by id: "train" or "score" (the machine time's two parts). */
  steps: Record<string, "train" | "score">;
  log: (line: string) => void;
  /** An interim report (`todm repro --report-only`): how many steps are done of how many; missing cells read "pending". */
  partial?: { done: number; total: number };
}

const fmt = (w: { wer: number; ci: [number, number] }) => `${w.wer.toFixed(2)} [${w.ci[0].toFixed(2)}, ${w.ci[1].toFixed(2)}]`;
const signed = (x: number, d = 1) => `${x >= 0 ? "+" : ""}${x.toFixed(d)}`;
const minutes = (s: number) => (s / 60).toFixed(1);
const PENDING = "pending";

/** A fine-tuning's machine time with that of the experiment it started from (DIR/times.json), or "" without one. */
function fromTimes(dir: string | undefined, own: number): string {
  const f = dir ? join(dir, "times.json") : "";
  if (!f || !existsSync(f)) return "";
  const src = Object.values(JSON.parse(readFileSync(f, "utf8")) as Record<string, number>).reduce((a, b) => a + b, 0);
  return ` With the experiment it was fine-tuned from (${f}: ${(src / 3600).toFixed(2)} h when this report was written), ${((src + own) / 3600).toFixed(2)} h in all.`;
}

/** Writes OUT/REPORT.md (and the section of `o.results`) and OUT/wer-size.svg; returns the report's text. */
export function writeReproReport(x: ReportInput): string {
  const { o, out, test, all, reported, seeds, times, lm } = x;
  // An eval report, or null while its step has not run (an interim report); a list of them is null unless all are there.
  const reps = new Map<string, EvalReport | null>();
  const rep = (id: string): EvalReport | null => {
    if (!reps.has(id)) {
      const f = join(out, "eval", `${id}.json`);
      reps.set(id, existsSync(f) ? (JSON.parse(readFileSync(f, "utf8")) as EvalReport) : null);
    }
    return reps.get(id)!;
  };
  const all_ = (reps: (EvalReport | null)[]): EvalReport[] | null => (reps.every((r) => r) ? (reps as EvalReport[]) : null);
  const superReps = (sub: SubnetInfo, suffix = "") => all_(seeds.map((k) => rep(`supernet-s${k}-${sub.name}${suffix}`)));
  const twinReps = (sub: SubnetInfo, suffix = "") => all_(seeds.map((k) => rep(`twin-${sub.name}-s${k}${suffix}`)));
  // a training run is done when its final model is there; its wall time counts only then
  const trained = (id: string) => existsSync(join(out, id, "model.safetensors"));
  // each finished run's step records, read once per report (an unfinished run's count as none)
  const stepsOf = new Map<string, RunSteps>();
  const runSteps = (id: string): RunSteps => {
    if (!stepsOf.has(id)) stepsOf.set(id, trained(id) ? readRunSteps(join(out, id)) : { ms: [], members: new Map() });
    return stepsOf.get(id)!;
  };
  const lines: string[] = [];
  const fine = x.runs.filter((r) => r.init);
  lines.push(`### ${o.title ?? "TODM reproduction"}`, "");
  if (x.partial)
    lines.push(`**Interim report** (\`todm repro --report-only\`): ${x.partial.done} of ${x.partial.total} steps done; "${PENDING}" marks what has not run yet.`
      + ` The experiment goes on with its own command (below); its final report replaces this one.`, "");
  const first = seeds.map((k) => rep(`supernet-s${k}-${reported[0].name}`)).find((r) => r) ?? rep(`twin-${reported[0].name}-s1`);
  lines.push(`Supernet: ${all.length} subnets (${all[0].name} to ${all[all.length - 1].name}); ${o.steps} updates per run; ${o.seeds} seed(s); test data ${test}`
    + ` (${first?.utterances ?? "?"} utterances). WER, %, pooled over seeds, bootstrap 95% intervals; "rel." is`
    + ` (Supernet - twin) / twin with its paired-bootstrap 95% interval. Goal: Supernet at most twin + 3% relative with the paired interval below +3% ("met"; "point only": the estimate within, the interval not).`
    + ` CER: character error rate of the same hypotheses (spaces included), pooled the same way.`, "");
  if (fine.length) {
    const dir = dirname(dirname(fine[0].init!));
    lines.push(`**Fine-tuned**, not trained from scratch: each of the ${fine.length} runs started from the final model of the run of the same name in ${o.initFromRepro ?? dir}`
      + ` (\`todm train --init-from ${o.initFromRepro ?? dir}/<run>/model.safetensors\`: the Supernet sN from that Supernet sN, each twin from that twin), then ${o.steps} updates each.`, "");
  }
  // ---- greedy, with the sizes and the int8 RTF
  const rtf = (sub: SubnetInfo): RtfReport | null => {
    const f = join(out, "rtf", `${sub.name}.json`);
    return existsSync(f) ? (JSON.parse(readFileSync(f, "utf8")) as RtfReport) : null;
  };
  const r0 = rtf(reported[0]);
  lines.push(`**Greedy search.** RTF: the subnet exported int8 from the Supernet (seed 1, \`todm export --int8\`) and decoded through \`todm/infer\``
    + ` (one thread, greedy, build ${r0?.build ?? "n/a"}) on the first ${r0?.utterances ?? x.rtfUtterances} test utterances (${r0 ? r0.audioSeconds.toFixed(1) : "?"} s of audio);`
    + ` "int8 WER" is that build's WER on those utterances.`, "");
  lines.push("| subnet | params | MACs/s | RTF (int8) | int8 WER | Supernet WER | twin WER | rel. [95% CI] | goal | Supernet CER | twin CER |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | :---: | ---: | ---: |");
  const curve: { sub: SubnetInfo; s: Pooled; t: Pooled }[] = [];
  // the relative difference, its paired interval and issue 18's goal: within +3% relative, the paired interval
  // below +3% too ("met"); the estimate within but the interval reaching past +3% is "point only"
  const against = (s: Pooled, t: Pooled) => {
    const rel = t.wer ? (100 * (s.wer - t.wer)) / t.wer : 0;
    const ci = pairedRelative(s, t);
    return { rel: `${signed(rel)}% [${ci[0].toFixed(1)}, ${ci[1].toFixed(1)}]`, goal: rel > 3 ? "missed" : ci[1] < 3 ? "met" : "point only" };
  };
  const compare = (s: Pooled, t: Pooled) => ((a) => `${a.rel} | ${a.goal}`)(against(s, t));
  // the Supernet's and the twin's cells of one subnet: WER, rel., goal, CER; "pending" where a side is missing
  const sides = (sub: SubnetInfo, suffix: string, search: number): { cells: string; s?: Pooled; t?: Pooled } => {
    const sr = superReps(sub, suffix), tr = twinReps(sub, suffix);
    const s = sr && pooledWer(sr, 1000, 0, "word", search), t = tr && pooledWer(tr, 1000, 0, "word", search);
    const sc = sr && pooledWer(sr, 1000, 0, "char", search), tc = tr && pooledWer(tr, 1000, 0, "char", search);
    const cell = (p: Pooled | null) => (p ? fmt(p) : PENDING);
    return { cells: `${cell(s)} | ${cell(t)} | ${s && t ? compare(s, t) : `${PENDING} | ${PENDING}`} | ${cell(sc)} | ${cell(tc)}`, s: s ?? undefined, t: t ?? undefined };
  };
  for (const sub of reported) {
    const { cells, s, t } = sides(sub, "", 0);
    const r = rtf(sub);
    if (s && t) curve.push({ sub, s, t });
    lines.push(`| ${sub.name} | ${fmtCount(sub.params)} | ${(sub.macs / 1e6).toFixed(1)} M | ${r ? r.rtf.toFixed(4) : x.partial ? PENDING : "-"} | ${r ? r.wer.toFixed(2) : x.partial ? PENDING : "-"} | ${cells} |`);
  }
  // how often each reported subnet was trained as a member: the sandwich trains the largest and the smallest every
  // update, each other subnet only when drawn as a random member
  const memberOf = (id: string) => runSteps(id).members;
  if (seeds.every((k) => trained(`supernet-s${k}`)))
    lines.push("", `Updates in which each subnet was a member of the Supernet's step (the sandwich: the largest and the smallest every update,`
      + ` the others when drawn; ${seeds.map((k) => `seed ${k}`).join(" / ")}, of ${o.steps}): `
      + reported.map((sub) => `${sub.name} ${seeds.map((k) => memberOf(`supernet-s${k}`).get(sub.name) ?? 0).join(" / ")}`).join(", ") + ".");
  // ---- beam + LM
  if (lm && !(existsSync(lm.info) && existsSync(lm.tune))) lines.push("", `**Beam ${lm.beam} + LM.** ${PENDING}: the experiment's LM and its weight's tuning have not run yet.`);
  else if (lm) {
    const info = JSON.parse(readFileSync(lm.info, "utf8")) as { order: number; bytes: number; sentences: number; heldOutDropped: number };
    const tune = JSON.parse(readFileSync(lm.tune, "utf8")) as EvalReport;
    const table = tune.lm?.tune?.table ?? [];
    lines.push("", `**Beam ${lm.beam} + LM.** One LM for the experiment: order ${info.order}, ${(info.bytes / 2 ** 20).toFixed(2)} MiB, from ${info.sentences} sentences of the training`
      + ` manifests (${info.heldOutDropped} dropped as valid, test or yardstick sentences: no scored sentence is in it); its weight tuned once on ${tune.lm?.tune?.manifest ?? "valid"}`
      + ` (${tune.lm?.tune?.utterances ?? "?"} utterances) with the Supernet's ${all[0].name} (seed 1) at beam ${lm.beam}: ${table.map((r) => `${r.weight} -> ${r.wer.toFixed(2)}%`).join(", ")};`
      + ` chosen **${lm.weight}**, then every model scored with it.`, "");
    lines.push("| subnet | Supernet WER | twin WER | rel. [95% CI] | goal | Supernet CER | twin CER |", "| --- | ---: | ---: | ---: | :---: | ---: | ---: |");
    for (const sub of reported) lines.push(`| ${sub.name} | ${sides(sub, ".lm", -1).cells} |`);
  }
  // ---- WER against size
  const svg = linePlot([
    { name: "Supernet subnets", points: curve.map((c) => [c.sub.params / 1e6, c.s.wer]), bars: curve.map((c) => c.s.ci), dots: true, labels: curve.map((c) => c.sub.name) },
    { name: "twins (trained alone)", points: curve.map((c) => [c.sub.params / 1e6, c.t.wer]), bars: curve.map((c) => c.t.ci), dots: true },
  ], { title: `${o.title ?? "TODM reproduction"}: greedy WER against size (95% intervals)`, xLabel: "parameters (M)", yLabel: "WER % (greedy)", padX: 0.08 });
  const svgPath = join(out, "wer-size.svg");
  if (curve.length) writeFileAtomic(svgPath, svg); // an interim report with no subnet scored on both sides has no plot yet
  // ---- cost
  const wall = (id: string) => (trained(id) ? (times[id] ?? NaN) : NaN);
  const superTime = seeds.reduce((a, k) => a + wall(`supernet-s${k}`), 0) / seeds.length;
  const twinTime = reported.reduce((a, sub) => a + seeds.reduce((b, k) => b + wall(`twin-${sub.name}-s${k}`), 0) / seeds.length, 0);
  const med = (id: string) => (trained(id) ? median(runSteps(id).ms) : NaN);
  // a figure of runs not all done reads "pending" (NaN propagates from any missing run)
  const num = (v: number, d: number) => (Number.isFinite(v) ? v.toFixed(d) : PENDING);
  const superStep = seeds.reduce((a, k) => a + med(`supernet-s${k}`), 0) / seeds.length;
  const twinStep = reported.reduce((a, sub) => a + seeds.reduce((b, k) => b + med(`twin-${sub.name}-s${k}`), 0) / seeds.length, 0);
  const dur = (sec: number) => (Number.isFinite(sec) ? `${minutes(sec)} min` : PENDING), ms = (v: number) => (Number.isFinite(v) ? `${v.toFixed(0)} ms` : PENDING);
  lines.push("", `Training wall time (per seed, mean): Supernet ${dur(superTime)}; the ${reported.length} twins together ${dur(twinTime)};`
    + ` ratio ${num(superTime / twinTime, 2)} (goal: at most 0.5). Per update (median step time of each run, mean over seeds): Supernet`
    + ` ${ms(superStep)}, the twins together ${ms(twinStep)}, ratio ${num(superStep / twinStep, 2)}.`, "");
  // ---- ablations and levers: accuracy with the cost beside it
  const extraTable = (heading: string, prefix: string, rows: [string, string[], string][]) => {
    if (!rows.length) return;
    lines.push(heading, "", ...rows.map(([n, sets, what]) => `- ${n}: ${what}; \`${sets.map((s) => `--set ${s}`).join(" ")}\``), "");
    lines.push(`Each setting's WER [95% CI]; then its change from the full Supernet's, in points, with the paired 95% interval (the same seed and utterances).`, "");
    lines.push(`| subnet | full (seed 1) | ${rows.map(([n]) => n).join(" | ")} |`, `| --- | ---: | ${rows.map(() => "---:").join(" | ")} |`);
    for (const sub of reported) {
      const cells = [rep(`supernet-s1-${sub.name}`), ...rows.map(([n]) => rep(`${prefix}${n}-${sub.name}`))];
      const full = cells[0] && pooledWer([cells[0]]);
      // beside each setting's WER, its change from the full Supernet (the same seed and utterances), paired interval in points
      const change = (p: Pooled) => {
        if (!full) return "";
        const [lo, hi] = pairedBootstrap(errorCounts(p), errorCounts(full), { draws: 1000, seed: 1 });
        return `; ${signed(p.wer - full.wer, 2)} [${signed(lo, 2)}, ${signed(hi, 2)}]`;
      };
      const cell = (r: EvalReport | null, k: number) => {
        if (!r) return PENDING;
        const p = pooledWer([r]);
        return k === 0 ? fmt(p) : fmt(p) + change(p);
      };
      lines.push(`| ${sub.name} | ${cells.map(cell).join(" | ")} |`);
    }
    const ids = ["supernet-s1", ...rows.map(([n]) => `${prefix}${n}`)];
    lines.push(`| wall time, min | ${ids.map((id) => num(wall(id) / 60, 1)).join(" | ")} |`);
    lines.push(`| median update, ms | ${ids.map((id) => num(med(id), 0)).join(" | ")} |`, "");
    // each column against the twin of seed 1 (the same seed): what a setting does to the goal, subnet by subnet
    lines.push(`Against the twin of seed 1: (run - twin) / twin, paired 95% interval, and the goal as above; in parentheses, the updates in which the subnet was a member.`, "");
    lines.push(`| subnet | full (seed 1) | ${rows.map(([n]) => n).join(" | ")} |`, `| --- | ---: | ${rows.map(() => "---:").join(" | ")} |`);
    const goals = ids.map(() => ({ met: 0, point: 0, missed: 0, pending: 0 }));
    for (const sub of reported) {
      const twin = rep(`twin-${sub.name}-s1`);
      const t = twin && pooledWer([twin]);
      const cells = [`supernet-s1-${sub.name}`, ...rows.map(([n]) => `${prefix}${n}-${sub.name}`)].map((id, k) => {
        const r = rep(id);
        if (!r || !t) return (goals[k].pending++, PENDING);
        const { rel, goal } = against(pooledWer([r]), t);
        goals[k][goal === "met" ? "met" : goal === "missed" ? "missed" : "point"]++;
        return `${rel} ${goal} (${memberOf(ids[k]).get(sub.name) ?? 0})`;
      });
      lines.push(`| ${sub.name} | ${cells.join(" | ")} |`);
    }
    lines.push(`| met / point only / missed | ${goals.map((g) => (g.pending ? PENDING : `${g.met} / ${g.point} / ${g.missed}`)).join(" | ")} |`, "");
  };
  extraTable("Ablations (seed 1, same updates; WER greedy % [95% CI]; the full Supernet's setting in parentheses):", "ablation-", x.ablations);
  const sampling = x.ablations.filter(([n]) => n.startsWith("random-"));
  if (sampling.length)
    lines.push(`Cost against the sum of the twins (${dur(twinTime)}), by random subnets sampled per step: `
      + [`the Supernet ${num(superTime / twinTime, 2)}`, ...sampling.map(([n]) => `${n} ${num(wall(`ablation-${n}`) / twinTime, 2)}`)].join(", ")
      + `; by median update time: the Supernet ${num(superStep / twinStep, 2)}, `
      + sampling.map(([n]) => `${n} ${num(med(`ablation-${n}`) / twinStep, 2)}`).join(", ")
      + " (goal: at most 0.5).", "");
  extraTable("Levers for the smallest subnets (seed 1, same updates; WER greedy % [95% CI]; the full Supernet's setting in parentheses):", "lever-", x.levers);
  // ---- machine time: every step's wall time (OUT/times.json)
  const ids = Object.keys(x.steps);
  const sum = (kind: "train" | "score") => ids.filter((id) => x.steps[id] === kind).reduce((a, id) => a + (times[id] ?? 0), 0);
  const untimed = ids.filter((id) => times[id] === undefined);
  const train = sum("train"), score = sum("score");
  lines.push(`**Machine time** of the whole reproduction (the wall time of every step, OUT/times.json): ${(((train + score) / 3600)).toFixed(2)} h (${minutes(train + score)} min);`
    + ` training ${(train / 3600).toFixed(2)} h, scoring (evaluations, LM, exports, RTF) ${(score / 3600).toFixed(2)} h`
    + `${x.partial ? ` so far (${x.partial.done} of ${x.partial.total} steps done)` : untimed.length ? ` (${untimed.length} of ${ids.length} steps ran before their time was recorded: not counted)` : ""}.`
    + fromTimes(o.initFromRepro, train + score), "");
  lines.push("| run | updates | wall time, min | median update, ms |", "| --- | ---: | ---: | ---: |");
  for (const r of x.runs) lines.push(`| ${r.id} | ${trained(r.id) ? runSteps(r.id).ms.length : PENDING} | ${num(wall(r.id) / 60, 1)} | ${num(med(r.id), 0)} |`);
  lines.push("");
  const text0 = lines.join("\n");
  const link = (from: string, svgFile = svgPath) => `![greedy WER against parameters, the Supernet's subnets and the twins](${relative(from, svgFile).split("\\").join("/")})`;
  const commands = ["<details><summary>Exact commands</summary>", "", "```sh", ...(o.command ? [`# the experiment (each step below is one child process of it, or a step in it)`, o.command] : []), ...x.commands, "```", "", "</details>", ""];
  const withLink = (from: string, svgFile = svgPath) => `${curve.length ? text0.replace(/\n\nTraining wall time/, `\n\n${link(from, svgFile)}\n\nTraining wall time`) : text0}\n${commands.join("\n")}`;
  const text = withLink(out);
  writeFileAtomic(join(out, "REPORT.md"), text);
  x.log(text);
  if (o.results) {
    const tag = `repro:${o.title ?? "default"}`;
    const begin = `<!-- ${tag} begin -->`, end = `<!-- ${tag} end -->`;
    const cur = existsSync(o.results) ? readFileSync(o.results, "utf8") : "# Results\n";
    // the plot goes beside the results file (PLOTS_DIR/repro-<title>.svg), so that the link holds where the results file is kept
    const plot = join(dirname(o.results), "plots", `repro-${(o.title ?? "default").toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "")}.svg`);
    if (curve.length) {
      mkdirSync(dirname(plot), { recursive: true });
      writeFileAtomic(plot, svg);
    }
    const block = `${begin}\n${withLink(dirname(o.results), plot)}\n${end}`;
    const at = cur.indexOf(begin), until = cur.indexOf(end);
    writeFileAtomic(o.results, at >= 0 && until > at ? cur.slice(0, at) + block + cur.slice(until + end.length) : `${cur.trimEnd()}\n\n${block}\n`);
    x.log(`updated ${o.results}`);
  }
  return text;
}
