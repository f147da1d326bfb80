// `todm repro` at its tiny setting (the CI smoke test of the TODM experiment): a Supernet trained with the
// sandwich rule and distillation, its twins, the ablations and levers, every model scored greedy and with
// beam + the experiment's LM, the int8 exports timed through todm/infer, the report and its SVG written; a
// second invocation finds everything done; an interim report of a partly done copy marks the rest pending; a
// second experiment fine-tunes from the first. Each reported
// number is recomputed here from the eval reports, logs and files by separate code.
import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { pairedRelative, pooledWer, reproEtaSec, runRepro, setAsideUnstarted } from "../src/commands/repro.js";
import type { EvalReport } from "../src/commands/eval.js";
import { loadRecognizer } from "../src/infer/node.js";
import { readAudioAt } from "../src/audio/read.js";
import { readSafetensors } from "../src/io/safetensors.js";
import { makeCorpus } from "./corpus.js";

const report = (errors: number[], words: number[]): EvalReport =>
  ({ hypotheses: errors.map((e, i) => ({ source: `u${i}`, ref: Array.from({ length: words[i] }, () => "W").join(" "), hyps: [{ search: "greedy", hyp: "", errors: e }] })) }) as unknown as EvalReport;

const jsonl = (f: string) => readFileSync(f, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l));
const stepsOf = (dir: string) => jsonl(join(dir, "log.jsonl")).filter((r) => r.type === "step");
const median = (xs: number[]) => xs.slice().sort((a, b) => a - b)[xs.length >> 1];
/** Least-squares line y = a + b x and its largest residual. */
function fit(xs: number[], ys: number[]): { a: number; b: number; maxResidual: number } {
  const n = xs.length, mx = xs.reduce((s, v) => s + v, 0) / n, my = ys.reduce((s, v) => s + v, 0) / n;
  const b = xs.reduce((s, v, i) => s + (v - mx) * (ys[i] - my), 0) / xs.reduce((s, v) => s + (v - mx) ** 2, 0);
  const a = my - b * mx;
  return { a, b, maxResidual: Math.max(...xs.map((v, i) => Math.abs(a + b * v - ys[i]))) };
}
/** The cells of a Markdown table's row starting with `| first |`, in the section after `after`. */
const row = (text: string, after: RegExp, first: string) => {
  const at = text.search(after);
  const line = text.slice(at).split("\n").find((l) => l.startsWith(`| ${first} |`))!;
  return line.split("|").slice(2, -1).map((c) => c.trim());
};
const num = (cell: string) => Number(/^[+-]?[\d.]+/.exec(cell)![0]);

describe("todm repro", () => {
  it("pools WER over seeds and brackets it; the paired interval brackets the relative difference", () => {
    const a = report([1, 0, 2, 3], [4, 5, 6, 5]), b = report([2, 1, 1, 3], [4, 5, 6, 5]);
    const p = pooledWer([a, b]);
    expect(p.wer).toBeCloseTo((100 * 13) / 40, 10); // (6 + 7) errors over 2 x 20 words
    expect(p.ci[0]).toBeLessThanOrEqual(p.wer);
    expect(p.ci[1]).toBeGreaterThanOrEqual(p.wer);
    const x = pooledWer([a]), y = pooledWer([b]);
    const ci = pairedRelative(x, y);
    const rel = (100 * (x.wer - y.wer)) / y.wer; // 6 vs 7 errors: -14.3%
    expect(ci[0]).toBeLessThanOrEqual(rel);
    expect(ci[1]).toBeGreaterThanOrEqual(rel);
  });

  it("runs the tiny experiment end to end (LM, int8 RTF, SVG, ablations, levers, machine time), resumes to a no-op, and fine-tunes a second from it", async () => {
    const dir = mkdtempSync(join(tmpdir(), "todm-repro-"));
    const corpus = makeCorpus(dir);
    const out = join(dir, "exp");
    const lines: string[] = [];
    const opts = {
      out, train: [corpus.train], valid: [corpus.valid], test: corpus.valid, steps: 2, seeds: 2, twins: 2, ablations: true, levers: true, threads: 1,
      set: [`data.cacheDir=${JSON.stringify(join(dir, "cache"))}`, 'data.tokenizer="char"'], tiny: true, results: join(dir, "RESULTS.md"), title: "tiny",
      log: (l: string) => lines.push(l),
    };
    const text = await runRepro(opts);
    const [LARGE, SMALL] = ["L2-ff32-h4", "L1-ff8-h2"];
    expect(text).toMatch(/\| subnet \| params \| MACs\/s \| RTF \(int8\) \| int8 WER \| Supernet WER \| twin WER/);
    // 2 subnets: greedy, LM, ablations and levers (WER, and against the twin of seed 1)
    expect(text.split("\n").filter((l) => /^\| L\d/.test(l)).length).toBe(12);
    expect(readFileSync(join(dir, "RESULTS.md"), "utf8")).toContain("<!-- repro:tiny begin -->");
    // the plot beside the results file, linked from it: the experiment's SVG byte for byte
    expect(readFileSync(join(dir, "RESULTS.md"), "utf8")).toContain("](plots/repro-tiny.svg)");
    expect(readFileSync(join(dir, "plots", "repro-tiny.svg"), "utf8")).toBe(readFileSync(join(out, "wer-size.svg"), "utf8"));
    // the goal column, from the printed relative difference and its interval: met (<= +3% and the interval's top
    // below +3%), point only (the estimate within, the interval not), missed
    for (const sub of [LARGE, SMALL]) for (const at of [/\*\*Greedy search/, /\*\*Beam \d+ \+ LM/]) {
      const c = row(text, at, sub), k = at.source.includes("Greedy") ? 6 : 2;
      const [rel, hi] = [Number(/^([+-][\d.]+)%/.exec(c[k])![1]), Number(/, ([-\d.]+)\]$/.exec(c[k])![1])];
      expect(c[k + 1]).toBe(rel > 3 ? "missed" : hi < 3 ? "met" : "point only");
    }
    // the order: the main table (Supernets, twins, their greedy and LM scores, the int8 RTF) before the first ablation
    const started = (id: string) => lines.findIndex((l) => new RegExp(`^\\[\\d+/\\d+\\] ${id}(\\s|$)`).test(l));
    for (const id of [`twin-${SMALL}-s2`, `eval twin-${SMALL}-s2`, `eval twin-${SMALL}-s2 lm`, `rtf ${SMALL}`]) {
      expect(started(id)).toBeGreaterThanOrEqual(0);
      expect(started(id)).toBeLessThan(started("ablation-random-2"));
    }
    expect(started("ablation-random-2")).toBeLessThan(started(`eval ablation-random-2-${SMALL}`));
    // each ablation scored before the next one trains (an interim report between sessions has its row)
    expect(started(`eval ablation-random-2-${SMALL}`)).toBeLessThan(started("ablation-random-0"));
    expect(started(`eval ablation-per-member-frontend-${SMALL}`)).toBeLessThan(started("lever-gamma-2"));
    // the Supernet's steps: the largest, the smallest and 1 random (the default), with adaptive dropout (p_max 0.1 on the largest)
    const steps = stepsOf(join(out, "supernet-s1"));
    expect(steps.length).toBe(2);
    for (const s of steps) {
      expect(s.subnets.length).toBe(3);
      expect(s.subnets[0]).toBe(LARGE);
      expect(s.subnets[1]).toBe(SMALL);
      expect(s.dropout[0]).toBeCloseTo(0.1, 4);
      expect(s.dropout[1]).toBeLessThan(s.dropout[0]);
      expect(s.kd[0]).toBe(0);
      expect(s.kd[1]).toBeGreaterThan(0);
    }
    // the per-update cost: the mean over seeds of each Supernet run's median step time, recomputed from the logs
    const stepMs = (id: string) => median(stepsOf(join(out, id)).map((r) => r.stepMs));
    const perUpdate = Number(/Per update \(median step time of each run, mean over seeds\): Supernet (\d+) ms/.exec(text)?.[1]);
    expect(Math.abs(perUpdate - (stepMs("supernet-s1") + stepMs("supernet-s2")) / 2)).toBeLessThanOrEqual(0.5); // printed rounded to 1 ms
    // the cost ablations: two random members (AlphaNet's sandwich), and none (the largest and the smallest alone)
    for (const s of stepsOf(join(out, "ablation-random-2"))) expect(s.subnets.length).toBe(4);
    for (const s of stepsOf(join(out, "ablation-random-0"))) expect(s.subnets).toEqual([LARGE, SMALL]);
    expect(text).toMatch(/Cost against the sum of the twins .*random-2 \d.*by median update time: the Supernet \d/);
    // largest-only dropout: p_max on the largest, 0 on every other member
    for (const s of stepsOf(join(out, "ablation-largest-dropout"))) expect(s.dropout).toEqual([0.1, 0, 0]); // 3 members (1 random)
    // per-member subsampling: the run's config says so
    expect(JSON.parse(readFileSync(join(out, "ablation-per-member-frontend", "config.json"), "utf8")).train.shareFrontend).toBe(false);
    // KD on the full lattice (issue 16's question under the pruned loss): the run's config says so, and its students distil
    expect(JSON.parse(readFileSync(join(out, "ablation-full-lattice-kd", "config.json"), "utf8")).supernet.kd.lattice).toBe("full");
    for (const s of stepsOf(join(out, "ablation-full-lattice-kd"))) expect(s.kd[1]).toBeGreaterThan(0);
    // the lever gamma 2: p = p_max (params / params_max)^2 = (the Supernet's gamma-1 p)^2 / p_max, member by member
    const g1 = stepsOf(join(out, "supernet-s1")), g2 = stepsOf(join(out, "lever-gamma-2"));
    expect(g2[0].subnets).toEqual(g1[0].subnets); // the same seed draws the same sandwich
    // (the log keeps 4 decimals: squaring and dividing by 0.1 turns a 5e-5 rounding into at most ~1e-4, under 5e-4)
    g2[0].dropout.forEach((p: number, k: number) => expect(p).toBeCloseTo(g1[0].dropout[k] ** 2 / 0.1, 3));
    // the lever on the sandwich's sampling weights (its draws: test/supernet.test.ts)
    expect(JSON.parse(readFileSync(join(out, "lever-sample-bias-1", "config.json"), "utf8")).supernet.sampleBias).toBe(1);
    // each ablation's cost beside its accuracy: wall time (OUT/times.json) and median update (its log)
    const times = JSON.parse(readFileSync(join(out, "times.json"), "utf8")) as Record<string, number>;
    const abl = ["supernet-s1", ...["random-2", "random-0", "no-adaptive-dropout", "largest-dropout", "kl-kd", "full-lattice-kd", "no-kd", "adamw", "per-member-frontend"].map((n) => `ablation-${n}`)];
    row(text, /Ablations \(seed 1/, "median update, ms").forEach((c, k) => expect(Math.abs(Number(c) - stepMs(abl[k]))).toBeLessThanOrEqual(0.5));
    row(text, /Ablations \(seed 1/, "wall time, min").forEach((c, k) => expect(Math.abs(Number(c) - times[abl[k]] / 60)).toBeLessThanOrEqual(0.05));
    // each ablation against the twin of seed 1: the relative difference recomputed from the two eval reports'
    // error and word counts, the goal word from the printed interval, and the counts row from the words
    const wer1 = (id: string) => {
      const r = JSON.parse(readFileSync(join(out, "eval", `${id}.json`), "utf8")) as { hypotheses: { ref: string; hyps: { errors: number }[] }[] };
      const e = r.hypotheses.reduce((a, h) => a + h.hyps[0].errors, 0), w = r.hypotheses.reduce((a, h) => a + h.ref.split(/\s+/).filter(Boolean).length, 0);
      return (100 * e) / w;
    };
    const vsTwin = /Against the twin of seed 1/;
    const words: string[][] = [];
    for (const sub of [LARGE, SMALL]) {
      const cells = row(text.slice(text.search(/Ablations \(seed 1/)), vsTwin, sub);
      expect(cells.length).toBe(abl.length);
      const tw = wer1(`twin-${sub}-s1`);
      words.push(cells.map((c, k) => {
        const m = /^([+-][\d.]+)% \[([-\d.]+), ([-\d.]+)\] (met|point only|missed) \((\d+)\)$/.exec(c)!;
        const id = k === 0 ? `supernet-s1-${sub}` : `${abl[k]}-${sub}`;
        // the updates in which the subnet was a member, counted from the run's step records
        expect(Number(m[5])).toBe(stepsOf(join(out, abl[k])).filter((st) => st.subnets.includes(sub)).length);
        expect(Math.abs(Number(m[1]) - (100 * (wer1(id) - tw)) / tw)).toBeLessThanOrEqual(0.05 + 1e-9); // printed to 0.1
        expect(m[4]).toBe(Number(m[1]) > 3 ? "missed" : Number(m[3]) < 3 ? "met" : "point only");
        return m[4];
      }));
    }
    // each setting's change from the full Supernet (seed 1), in points: recomputed from the two eval reports, inside its paired interval
    for (const sub of [LARGE, SMALL])
      row(text, /Ablations \(seed 1/, sub).slice(1).forEach((c, k) => {
        const m = /^[\d.]+ \[[\d.]+, [\d.]+\]; ([+-][\d.]+) \[([+-][\d.]+), ([+-][\d.]+)\]$/.exec(c)!;
        expect(Math.abs(Number(m[1]) - (wer1(`${abl[k + 1]}-${sub}`) - wer1(`supernet-s1-${sub}`)))).toBeLessThanOrEqual(0.005 + 1e-9); // printed to 0.01
        expect(Number(m[2])).toBeLessThanOrEqual(Number(m[1]) + 0.01);
        expect(Number(m[3])).toBeGreaterThanOrEqual(Number(m[1]) - 0.01);
      });
    // the largest and the smallest are members of every update (2 here); with 0 random members, no other is
    expect(text).toMatch(new RegExp(`Updates in which each subnet was a member .*: ${LARGE} 2 / 2, ${SMALL} 2 / 2\\.`));
    row(text.slice(text.search(/Ablations \(seed 1/)), vsTwin, "met / point only / missed").forEach((c, k) => {
      const col = words.map((w) => w[k]);
      expect(c).toBe(`${col.filter((w) => w === "met").length} / ${col.filter((w) => w === "point only").length} / ${col.filter((w) => w === "missed").length}`);
    });

    // the LM: the training text minus every valid and test sentence, never one of them
    const texts = (f: string) => jsonl(f).map((r) => r.text as string);
    const heldOut = new Set([...texts(corpus.valid)]);
    const lmText = readFileSync(join(out, "lm.txt"), "utf8").split("\n").filter(Boolean);
    expect(lmText.some((t) => heldOut.has(t))).toBe(false);
    expect(lmText).toEqual(texts(corpus.train).filter((t) => !heldOut.has(t)));
    expect(lmText.length).toBeGreaterThan(0);
    // its weight tuned once (grid 0.2, 0.4 under --tiny), every LM report scored with it, greedy and beam 4 + LM only
    const tune = JSON.parse(readFileSync(join(out, "eval", "lm-tune.json"), "utf8")) as EvalReport;
    expect(tune.lm!.tune!.table.map((r) => r.weight)).toEqual([0, 0.2, 0.4]);
    const W = tune.lm!.weight;
    const lmRep = (id: string) => JSON.parse(readFileSync(join(out, "eval", `${id}.lm.json`), "utf8")) as EvalReport;
    for (const id of [`supernet-s1-${LARGE}`, `supernet-s2-${SMALL}`, `twin-${LARGE}-s2`, `twin-${SMALL}-s1`]) {
      expect(lmRep(id).lm!.weight).toBe(W);
      expect(lmRep(id).results.map((r) => r.search)).toEqual(["greedy", `beam 4 + LM ${W}`]);
    }
    // the beam + LM table: WER and CER pooled over the two seeds, recomputed from the reports' per-utterance errors
    for (const [name, side] of [[LARGE, 0], [SMALL, 0], [SMALL, 1]] as const) {
      const reps = [1, 2].map((s) => lmRep(side === 0 ? `supernet-s${s}-${name}` : `twin-${name}-s${s}`));
      const errors = reps.reduce((a, r) => a + r.hypotheses.reduce((b, h) => b + h.hyps[1].errors, 0), 0);
      const words = reps.reduce((a, r) => a + r.hypotheses.reduce((b, h) => b + h.ref.split(" ").length, 0), 0);
      expect(num(row(text, /\*\*Beam 4 \+ LM\.\*\*/, name)[side])).toBeCloseTo((100 * errors) / words, 2);
      const r = reps[0].results[1]; // one seed's CER as eval computed it; pooled: both seeds' character errors over both seeds' characters
      const cer = (100 * (r.charErrors + reps[1].results[1].charErrors)) / (r.chars + reps[1].results[1].chars);
      expect(num(row(text, /\*\*Beam 4 \+ LM\.\*\*/, name)[4 + side])).toBeCloseTo(cer, 2);
    }
    expect(row(text, /\*\*Beam 4 \+ LM\.\*\*/, SMALL)[2]).toMatch(/^[+-]\d+\.\d% \[-?\d+\.\d, -?\d+\.\d\]$/);
    expect(text).toContain(`chosen **${W}**`);

    // RTF: the int8 export through todm/infer on the first utterances of the test manifest
    const rtf = JSON.parse(readFileSync(join(out, "rtf", `${SMALL}.json`), "utf8"));
    const int8 = readSafetensors(join(out, "int8", `${SMALL}.safetensors`));
    expect(int8.metadata["todm.quant"]).toBe("int8");
    const test = jsonl(corpus.valid).slice(0, 50);
    expect(rtf.utterances).toBe(test.length);
    expect(rtf.audioSeconds).toBeCloseTo(test.reduce((a, u) => a + u.duration, 0), 6);
    expect(rtf.rtf).toBeCloseTo(rtf.seconds / rtf.audioSeconds, 10);
    const rec = await loadRecognizer(join(out, "int8", `${SMALL}.safetensors`));
    for (const [i, u] of test.entries()) expect(rec.recognize(await readAudioAt(join(dir, u.audio_filepath), 16000), 16000).text).toBe(rtf.hypotheses[i]);
    expect(row(text, /\*\*Greedy search/, SMALL)[2]).toBe(rtf.rtf.toFixed(4));

    // the SVG: each curve's points and bars are the greedy table's WERs and intervals, on one linear scale
    const svg = readFileSync(join(out, "wer-size.svg"), "utf8");
    expect(text).toContain("![greedy WER against parameters, the Supernet's subnets and the twins](wer-size.svg)");
    const cy = [...svg.matchAll(/<circle cx="([\d.]+)" cy="([\d.]+)"/g)].map((m) => [Number(m[1]), Number(m[2])]);
    const bars = [...svg.matchAll(/<path class="bar" d="M[\d.]+,([\d.]+)L[\d.]+,([\d.]+)/g)].map((m) => [Number(m[1]), Number(m[2])]);
    expect(cy.length).toBe(4); // Supernet LARGE, SMALL, then the twins
    const cells = [LARGE, SMALL].map((n) => row(text, /\*\*Greedy search/, n));
    const iv = (c: string) => /\[([\d.]+), ([\d.]+)\]/.exec(c)!.slice(1).map(Number);
    const wers = [...cells.map((c) => num(c[4])), ...cells.map((c) => num(c[5]))];
    const los = [...cells.map((c) => iv(c[4])[0]), ...cells.map((c) => iv(c[5])[0])], his = [...cells.map((c) => iv(c[4])[1]), ...cells.map((c) => iv(c[5])[1])];
    const f = fit([...wers, ...los, ...his], [...cy.map((p) => p[1]), ...bars.map((b) => b[0]), ...bars.map((b) => b[1])]);
    expect(f.b).toBeLessThan(0); // higher WER lower on the page
    expect(f.maxResidual).toBeLessThan(0.2 + 0.005 * Math.abs(f.b)); // 0.1 px printing, 0.005 WER rounding of the table
    expect(cy[0][0]).toBeCloseTo(cy[2][0], 5); // same parameters, same x
    expect(cy[0][0]).toBeGreaterThan(cy[1][0]); // the largest to the right

    // the machine time: every step's wall time summed, training and scoring
    const total = Object.values(times).reduce((a, b) => a + b, 0);
    const machine = /\*\*Machine time\*\* .*?: ([\d.]+) h \(([\d.]+) min\);/.exec(text)!;
    expect(Math.abs(Number(machine[1]) - total / 3600)).toBeLessThanOrEqual(0.005); // printed to 0.01 h
    expect(Math.abs(Number(machine[2]) - total / 60)).toBeLessThanOrEqual(0.05); // and to 0.1 min
    expect(Object.keys(times)).toEqual(expect.arrayContaining(["supernet-s1", `eval twin-${SMALL}-s2 lm`, "lm", "lm tune", `export int8 ${SMALL}`, `rtf ${SMALL}`]));
    expect(Number(row(text, /\| run \| updates/, "lever-gamma-0.5")[0])).toBe(2);
    expect(existsSync(join(out, `twin-${SMALL}-s2`, "model.safetensors"))).toBe(true);

    // run again: every step is found done
    lines.length = 0;
    const again = await runRepro(opts);
    expect(lines[0]).toMatch(/already done/);
    // the report's commands are the fresh ones, whatever was resumed: `--out`, never `--resume`
    expect(again).toMatch(/todm train --out \S+supernet-s1 /);
    expect(again).not.toMatch(/--resume/);
    expect(lines.some((l) => /^\[\d+\/\d+\]/.test(l))).toBe(false);

    // an interim report (--report-only) of a copy with five steps undone: the smallest twin's seed-2 run, its two
    // scores, one ablation's score and the smallest RTF. Nothing runs; what is done reads as in the full report.
    const part = join(dir, "part");
    cpSync(out, part, { recursive: true });
    for (const f of [`twin-${SMALL}-s2/model.safetensors`, `eval/twin-${SMALL}-s2.json`, `eval/twin-${SMALL}-s2.lm.json`, `eval/ablation-kl-kd-${SMALL}.json`, `rtf/${SMALL}.json`]) rmSync(join(part, f));
    lines.length = 0;
    const interim = await runRepro({ ...opts, out: part, results: undefined, reportOnly: true });
    expect(lines.some((l) => /^\[\d+\/\d+\]/.test(l))).toBe(false); // no step ran
    expect(existsSync(join(part, "eval", `twin-${SMALL}-s2.json`))).toBe(false);
    const nSteps = Number(/repro: (\d+) steps/.exec(lines[0])![1]);
    expect(interim).toContain(`**Interim report** (\`todm repro --report-only\`): ${nSteps - 5} of ${nSteps} steps done`);
    const greedy = /\*\*Greedy search/, withLm = /\*\*Beam \d+ \+ LM/, ablation = /Ablations \(seed 1/;
    expect(row(interim, greedy, LARGE)).toEqual(row(text, greedy, LARGE));
    expect(row(interim, withLm, LARGE)).toEqual(row(text, withLm, LARGE));
    const [full, now] = [row(text, greedy, SMALL), row(interim, greedy, SMALL)];
    // params, MACs, RTF, int8 WER, Supernet WER, twin WER, rel., goal, Supernet CER, twin CER
    expect(now).toEqual([full[0], full[1], "pending", "pending", full[4], "pending", "pending", "pending", full[8], "pending"]);
    expect(row(interim, withLm, SMALL)).toEqual([row(text, withLm, SMALL)[0], "pending", "pending", "pending", row(text, withLm, SMALL)[4], "pending"]);
    const ablRow = row(interim, ablation, SMALL);
    expect(ablRow[5]).toBe("pending"); // kl-kd, the fifth ablation after the full Supernet's column
    expect(ablRow.filter((c) => c === "pending").length).toBe(1);
    expect(interim).toMatch(/the 2 twins together pending; ratio pending/);
    expect(row(interim, /\| run \| updates/, `twin-${SMALL}-s2`)).toEqual(["pending", "pending", "pending"]);
    expect(row(interim, /\| run \| updates/, `twin-${SMALL}-s1`)).toEqual(row(text, /\| run \| updates/, `twin-${SMALL}-s1`));

    // fine-tuning: a stand-in "synthetic experiment" whose seed-1 runs hold the first experiment's seed-2 models
    // (another random start: a fresh seed-1 run is nowhere near them); each run of the second starts from its namesake
    const src = join(dir, "seed2-as-seed1");
    const ids = ["supernet-s1", `twin-${LARGE}-s1`, `twin-${SMALL}-s1`];
    for (const id of ids) {
      mkdirSync(join(src, id), { recursive: true });
      copyFileSync(join(out, id.replace(/-s1$/, "-s2"), "model.safetensors"), join(src, id, "model.safetensors"));
    }
    writeFileSync(join(src, "times.json"), JSON.stringify({ "supernet-s1": 3600, "eval x": 1800 }));
    const out2 = join(dir, "fine");
    const text2 = await runRepro({ ...opts, out: out2, seeds: 1, steps: 1, ablations: false, levers: false, lm: false, results: undefined, title: "fine", initFromRepro: src, log: () => {} });
    expect(text2).toMatch(new RegExp(`\\*\\*Fine-tuned\\*\\*, not trained from scratch: each of the 3 runs started from the final model of the run of the same name in ${src}`));
    expect(text2).toMatch(/todm train --out \S+supernet-s1 --init-from \S+seed2-as-seed1\/supernet-s1\/model\.safetensors /);
    expect(text2).not.toMatch(/Beam 4 \+ LM/);
    // the machine time of both: the source's 1.5 h (its times.json) and this one's steps (its own times.json)
    const own = Object.values(JSON.parse(readFileSync(join(out2, "times.json"), "utf8")) as Record<string, number>).reduce((a, b) => a + b, 0);
    expect(text2).toContain(`With the experiment it was fine-tuned from (${join(src, "times.json")}: 1.50 h when this report was written), ${((5400 + own) / 3600).toFixed(2)} h in all.`);
    for (const id of ids) {
      const init = readSafetensors(join(src, id, "model.safetensors")).tensors, tuned = readSafetensors(join(out2, id, "model.safetensors")).tensors;
      const scratch = readSafetensors(join(out, id, "model.safetensors")).tensors; // seed 1 from its own random start, 2 updates
      let dInit = 0, dScratch = 0;
      for (const [name, t] of init) {
        if (t.dtype !== "F32" || !tuned.has(name)) continue;
        const x = t.data as Float32Array, y = tuned.get(name)!.data as Float32Array, z = scratch.get(name)!.data as Float32Array;
        for (let i = 0; i < x.length; i++) {
          dInit += (y[i] - x[i]) ** 2;
          dScratch += (y[i] - z[i]) ** 2;
        }
      }
      // one update moves the weights by a few percent of their size; two random starts differ by about their size
      expect(Math.sqrt(dInit)).toBeLessThan(0.25 * Math.sqrt(dScratch));
    }
  }, 900_000);
});

describe("repro: a training killed before its first checkpoint", () => {
  it("is set aside (renamed, nothing deleted) so the step starts again; a run with a checkpoint, or none at all, is left alone", () => {
    const root = mkdtempSync(join(tmpdir(), "todm-repro-aside-"));
    const killed = join(root, "supernet-s2");
    mkdirSync(killed);
    writeFileSync(join(killed, "log.jsonl"), '{"type":"step","step":1}\n');
    writeFileSync(join(killed, "config.json"), "{}\n");
    const lines: string[] = [];
    expect(setAsideUnstarted(killed, (l) => lines.push(l))).toBe(`${killed}.unstarted-1`);
    expect(existsSync(killed)).toBe(false);
    expect(readFileSync(join(`${killed}.unstarted-1`, "log.jsonl"), "utf8")).toContain('"step":1');
    expect(lines[0]).toContain("before its first checkpoint");
    // killed again before a checkpoint: the next free name
    mkdirSync(killed);
    writeFileSync(join(killed, "log.jsonl"), "");
    expect(setAsideUnstarted(killed)).toBe(`${killed}.unstarted-2`);
    // resumable (a checkpoint file) or never started: untouched
    const resumable = join(root, "twin-s1");
    mkdirSync(join(resumable, "checkpoints"), { recursive: true });
    writeFileSync(join(resumable, "log.jsonl"), "");
    writeFileSync(join(resumable, "checkpoints", "step-00000100.safetensors"), "");
    expect(setAsideUnstarted(resumable)).toBeNull();
    expect(existsSync(join(resumable, "log.jsonl"))).toBe(true);
    expect(setAsideUnstarted(join(root, "never-started"))).toBeNull();
    // an empty checkpoints folder (killed while writing the first) does not count as resumable
    const empty = join(root, "ablation-adamw");
    mkdirSync(join(empty, "checkpoints"), { recursive: true });
    writeFileSync(join(empty, "log.jsonl"), "");
    expect(setAsideUnstarted(empty)).toBe(`${empty}.unstarted-1`);
  });
});

describe("repro: the ETA", () => {
  it("costs each remaining step at the mean recorded time of the finished steps of its kind, less what it already ran", () => {
    const steps = [
      { id: "supernet-s1", kind: "train" as const, done: true },
      { id: "twin-a-s1", kind: "train" as const, done: true },
      { id: "eval supernet-s1", kind: "score" as const, done: true },
      { id: "supernet-s2", kind: "train" as const, done: false }, // cut by a kill after 500 s
      { id: "twin-a-s2", kind: "train" as const, done: false },
      { id: "eval supernet-s2", kind: "score" as const, done: false },
    ];
    const times = { "supernet-s1": 1800, "twin-a-s1": 600, "eval supernet-s1": 90, "supernet-s2": 500 };
    // training mean (1800 + 600) / 2 = 1200: supernet-s2 has 1200 - 500 = 700 left, twin-a-s2 1200;
    // scoring mean 90: eval supernet-s2 90. Total 700 + 1200 + 90.
    expect(reproEtaSec(steps, times)).toBe(1990);
    // a step that already ran longer than the mean is not negative
    expect(reproEtaSec(steps, { ...times, "supernet-s2": 5000 })).toBe(1200 + 90);
    // no finished scoring step yet: no estimate
    expect(reproEtaSec(steps.map((s) => (s.kind === "score" ? { ...s, done: false } : s)), times)).toBeNaN();
    // nothing left
    expect(reproEtaSec(steps.map((s) => ({ ...s, done: true })), times)).toBe(0);
  });
});
