// `todm repro` at its tiny setting (the CI smoke test of the TODM experiment): a Supernet trained with the
// sandwich rule and distillation, its twins, the ablations, every model scored, the report written; a
// second invocation finds everything done. Also the report's statistics against direct computations.
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { pairedRelative, pooledWer, runRepro } from "../src/commands/repro.js";
import type { EvalReport } from "../src/commands/eval.js";
import { makeCorpus } from "./corpus.js";

const report = (errors: number[], words: number[]): EvalReport =>
  ({ hypotheses: errors.map((e, i) => ({ source: `u${i}`, ref: Array.from({ length: words[i] }, () => "W").join(" "), hyps: [{ search: "greedy", hyp: "", errors: e }] })) }) as unknown as EvalReport;

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

  it("runs the tiny experiment end to end, logs the sampled sandwich, and resumes to a no-op", async () => {
    const dir = mkdtempSync(join(tmpdir(), "todm-repro-"));
    const corpus = makeCorpus(dir);
    const out = join(dir, "exp");
    const lines: string[] = [];
    const opts = {
      out, train: [corpus.train], valid: [corpus.valid], test: corpus.valid, steps: 2, seeds: 2, twins: 4, ablations: true, threads: 1,
      set: [`data.cacheDir=${JSON.stringify(join(dir, "cache"))}`, 'data.tokenizer="char"'], tiny: true, results: join(dir, "RESULTS.md"), title: "tiny",
      log: (l: string) => lines.push(l),
    };
    const text = await runRepro(opts);
    expect(text).toMatch(/\| subnet \| params \| MACs\/s \| Supernet WER \| twin WER/);
    expect(text.split("\n").filter((l) => /^\| L\d/.test(l)).length).toBe(8); // 4 subnets, main table and ablations
    expect(readFileSync(join(dir, "RESULTS.md"), "utf8")).toContain("<!-- repro:tiny begin -->");
    // the Supernet's steps: the largest, the smallest and 2 random, with adaptive dropout (p_max 0.1 on the largest)
    const steps = readFileSync(join(out, "supernet-s1", "log.jsonl"), "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l)).filter((r) => r.type === "step");
    expect(steps.length).toBe(2);
    for (const s of steps) {
      expect(s.subnets.length).toBe(4);
      expect(s.subnets[0]).toBe("L2-ff32-h4");
      expect(s.subnets[1]).toBe("L1-ff8-h2");
      expect(s.dropout[0]).toBeCloseTo(0.1, 4);
      expect(s.dropout[1]).toBeLessThan(s.dropout[0]);
      expect(s.kd[0]).toBe(0);
      expect(s.kd[1]).toBeGreaterThan(0);
    }
    // the per-update cost: the mean over seeds of each Supernet run's median step time, recomputed from the logs
    const median = (xs: number[]) => xs.sort((a, b) => a - b)[xs.length >> 1];
    const stepMs = (id: string) => median(readFileSync(join(out, id, "log.jsonl"), "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l)).filter((r) => r.type === "step").map((r) => r.stepMs));
    const perUpdate = Number(/Per update \(median step time of each run, mean over seeds\): Supernet (\d+) ms/.exec(text)?.[1]);
    expect(Math.abs(perUpdate - (stepMs("supernet-s1") + stepMs("supernet-s2")) / 2)).toBeLessThanOrEqual(0.5); // printed rounded to 1 ms
    // the cost ablation with no random member: the largest and the smallest alone
    const steps0 = readFileSync(join(out, "ablation-random-0", "log.jsonl"), "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l)).filter((r) => r.type === "step");
    for (const s of steps0) expect(s.subnets).toEqual(["L2-ff32-h4", "L1-ff8-h2"]);
    expect(text).toMatch(/Cost against the sum of the twins .*random-1 \d.*by median update time: the Supernet \d/);
    expect(existsSync(join(out, "twin-L1-ff8-h2-s2", "model.safetensors"))).toBe(true);
    // run again: every step is found done
    lines.length = 0;
    const again = await runRepro(opts);
    expect(lines[0]).toMatch(/already done/);
    // the report's commands are the fresh ones, whatever was resumed: `--out`, never `--resume`
    expect(again).toMatch(/todm train --out \S+supernet-s1 /);
    expect(again).not.toMatch(/--resume/);
    expect(lines.some((l) => /^\[\d+\/\d+\]/.test(l))).toBe(false);
  }, 300_000);
});
