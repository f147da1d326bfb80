// todm subnets and todm eval --run on synthetic Supernet runs (random-init models, a config.json with a
// search space, a log.jsonl in the trainer's format). Ground truth: the product of the space's choices
// enumerated here, parameter counts recomputed from the tensors an export actually stores, the runs' own
// log lines, and `todm eval --model` on each exported subnet (the same decoding, separately run).
// The CLI cases run `node dist/cli.js` (build first: `npm run build`).
import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { writeWav } from "../src/audio/wav.js";
import { runEval } from "../src/commands/eval.js";
import { paretoFront, runEvalSubnets } from "../src/eval/subnets.js";
import { runExport } from "../src/train/export.js";
import { runSubnets } from "../src/commands/subnets.js";
import { lastValidationWers, parseCount } from "../src/train/rundir.js";
import { trainChar, type CharTokenizer } from "../src/data/tokenizer.js";
import type { Engine } from "../src/engine/engine.js";
import { DEFAULT_MODEL, paramTable, type ModelConfig } from "../src/model/config.js";
import { saveModel } from "../src/model/io.js";
import { Model } from "../src/model/model.js";
import type { SupernetSpace } from "../src/model/supernet.js";
import { readSafetensors } from "../src/io/safetensors.js";
import { estimateKneserNey } from "../src/lm/estimate.js";
import { encodeLm } from "../src/lm/format.js";
import { DEFAULT_TRAIN } from "../src/train/config.js";
import { engine } from "./helpers.js";

const TINY: ModelConfig = {
  ...DEFAULT_MODEL, featDim: 80, subsampleChannels: 2, dModel: 8, layers: 3, ffDim: 12, heads: 4, stateSize: 4,
  predictorDim: 16, joinerDim: 16, vocabSize: 5, causal: true,
};
const SPACE: SupernetSpace = { ...DEFAULT_TRAIN.supernet, enabled: true, layers: [1, 2, 3], ffDims: [3, 12], heads: [2, 4] };

let e: Engine, dir: string, tok: CharTokenizer, run: string, manifest: string;

function makeRun(name: string, cfg: ModelConfig, space: SupernetSpace, log: Record<string, unknown>[]): string {
  const r = join(dir, name);
  mkdirSync(r, { recursive: true });
  const mark = e.mark();
  try {
    const m = new Model(e, cfg);
    m.params.init(4);
    saveModel(join(r, "model.safetensors"), m, tok);
  } finally {
    e.reset(mark);
  }
  // config.json as the trainer writes it: model.vocabSize as configured (256), not the tokenizer's
  writeFileSync(join(r, "config.json"), JSON.stringify({ ...DEFAULT_TRAIN, model: { ...cfg, vocabSize: 256 }, supernet: space }, null, 2));
  writeFileSync(join(r, "log.jsonl"), log.map((l) => JSON.stringify(l) + "\n").join(""));
  return r;
}

beforeAll(async () => {
  e = await engine();
  dir = mkdtempSync(join(tmpdir(), "todm-subnets-"));
  tok = trainChar(["AB C"]);
  run = makeRun("run", TINY, SPACE, [
    { type: "step", step: 1, loss: 3 },
    { type: "valid", step: 100, epoch: 1, wer: 91, subnets: { "L3-ff12-h4": 91, "L1-ff3-h2": 99.5 }, elapsedSec: 5 },
    { type: "step", step: 101, loss: 2 },
    { type: "valid", step: 200, epoch: 2, wer: 80.5, subnets: { "L3-ff12-h4": 80.5, "L2-ff12-h2": 85.25, "L1-ff3-h2": 97 }, elapsedSec: 9 },
    { type: "step", step: 201, loss: 2 },
  ]);
  // three utterances of tones, 0.6 to 1.4 s
  const lines: string[] = [];
  ["AB", "C A", "BA C"].forEach((text, i) => {
    const n = Math.round((0.6 + 0.4 * i) * 16000);
    const x = Float32Array.from({ length: n }, (_, k) => 0.3 * Math.sin((2 * Math.PI * (300 + 250 * i + (k > n / 2 ? 400 : 0)) * k) / 16000));
    writeFileSync(join(dir, `u${i}.wav`), writeWav([x], 16000));
    lines.push(JSON.stringify({ audio_filepath: `u${i}.wav`, duration: n / 16000, text }));
  });
  manifest = join(dir, "test.jsonl");
  writeFileSync(manifest, lines.join("\n") + "\n");
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("todm subnets", () => {
  it("lists the product of the space's choices, largest first, with counts that match exported tensors", () => {
    const out: string[] = [];
    const subs = runSubnets({ run, log: (l) => out.push(l) });
    const expected: string[] = [];
    for (const L of SPACE.layers) for (const f of SPACE.ffDims) for (const h of SPACE.heads) expected.push(`L${L}-ff${f}-h${h}`);
    expect(subs.map((s) => s.name).sort()).toEqual(expected.sort());
    for (let i = 1; i < subs.length; i++) expect(subs[i - 1].params).toBeGreaterThanOrEqual(subs[i].params);
    expect(subs[0].name).toBe("L3-ff12-h4");
    // parameters: the trained floats an export of each subnet stores (vocabulary from the model file: 5, not config.json's 256)
    for (const s of [subs[0], subs[5], subs[subs.length - 1]]) {
      const f = join(dir, `count-${s.name}.safetensors`);
      runExport(undefined, { run, out: f, subnet: s.name, log: () => {} });
      const st = readSafetensors(f);
      const cfg = JSON.parse(st.metadata["todm.config"]);
      const stored = paramTable(cfg).filter((p) => p.trainable !== false).reduce((n, p) => n + st.tensors.get(p.name)!.data.length, 0);
      expect(s.params).toBe(stored);
    }
    // the table shows the last validation line's WERs, "-" where none was recorded
    const text = out.join("\n");
    expect(text).toContain("valid WER% (step 200)");
    expect(out.find((l) => l.startsWith("L2-ff12-h2 "))).toMatch(/85\.25$/);
    expect(out.find((l) => l.startsWith("L2-ff3-h4 "))).toMatch(/ -$/);
    const names: string[] = [];
    runSubnets({ run, names: true, log: (l) => names.push(l) });
    expect(names).toEqual(subs.map((s) => s.name));
  });

  it("--config: a train config's space; supernet.enabled false is the single model; defaults without either", () => {
    const cfgFile = join(dir, "train.json");
    writeFileSync(cfgFile, JSON.stringify({ model: { layers: 4 }, supernet: { enabled: true, layers: [2, 4], ffDims: [576], heads: [4] } }));
    const names: string[] = [];
    runSubnets({ config: cfgFile, names: true, log: (l) => names.push(l) });
    expect(names).toEqual(["L4-ff576-h4", "L2-ff576-h4"]);
    const single: string[] = [];
    const off = join(dir, "single.json");
    writeFileSync(off, JSON.stringify({ supernet: { enabled: false } }));
    runSubnets({ config: off, names: true, log: (l) => single.push(l) });
    expect(single).toEqual([`L${DEFAULT_MODEL.layers}-ff${DEFAULT_MODEL.ffDim}-h${DEFAULT_MODEL.heads}`]);
    const defaults: string[] = [];
    runSubnets({ names: true, log: (l) => defaults.push(l) }); // DEFAULT_TRAIN: the Supernet, automatic choices
    expect(defaults.length).toBe(18);
    expect(defaults[0]).toBe(`L${DEFAULT_MODEL.layers}-ff${DEFAULT_MODEL.ffDim}-h${DEFAULT_MODEL.heads}`);
    expect(defaults[17]).toBe("L2-ff144-h2");
    expect(() => runSubnets({ config: cfgFile, run, log: () => {} })).toThrow(/--config or --run, not both/);
    const odd = join(dir, "odd.json");
    writeFileSync(odd, JSON.stringify({ supernet: { enabled: true, heads: [3, 4] } }));
    expect(() => runSubnets({ config: odd, log: () => {} })).toThrow(/odd\.json: supernet\.heads: 3 heads: heads must be even/);
    expect(() => runSubnets({ run: join(dir, "nope"), log: () => {} })).toThrow(/--run .*nope: no such directory/);
    expect(() => runSubnets({ config: join(dir, "nope.json"), log: () => {} })).toThrow(/nope\.json: no such file/);
  });

  it("validation WERs: the last line with any; a single-model run's `wer` is the largest's", () => {
    const { step, wers } = lastValidationWers(run, TINY);
    expect(step).toBe(200);
    expect(Object.fromEntries(wers)).toEqual({ "L3-ff12-h4": 80.5, "L2-ff12-h2": 85.25, "L1-ff3-h2": 97 });
    const single = makeRun("single", TINY, DEFAULT_TRAIN.supernet, [{ type: "valid", step: 5, wer: 70 }, { type: "valid", step: 6, wer: null }]);
    expect(Object.fromEntries(lastValidationWers(single, TINY).wers)).toEqual({ "L3-ff12-h4": 70 });
    expect(parseCount("1.5M")).toBe(1.5e6);
    expect(parseCount("800k")).toBe(8e5);
    expect(parseCount("2e6")).toBe(2e6);
  });
});

describe("todm eval --run", () => {
  it("one row per subnet; each row's WER equals todm eval --model of the exported subnet; table and SVG written", async () => {
    const chosen = ["L3-ff12-h4", "L2-ff12-h2", "L1-ff3-h2"];
    const out: string[] = [];
    const r = await runEvalSubnets(e, { run, data: manifest, subnets: chosen.join(","), beam: 2, progress: false, log: (l) => out.push(l) });
    console.log(r.table);
    expect(r.rows.map((x) => x.name)).toEqual(chosen);
    for (const row of r.rows) {
      const f = join(dir, `eval-${row.name}.safetensors`);
      runExport(undefined, { run, out: f, subnet: row.name, log: () => {} });
      const rep = await runEval(e, { model: f, data: manifest, beam: 2, progress: false, log: () => {} });
      // Same numbers through the same kernels (exactly equal hypotheses, test/export.test.ts), same bootstrap seed.
      expect(row.greedy.wer).toBe(rep.results[0].wer);
      expect(row.greedy.ci).toEqual(rep.results[0].ci);
      expect(row.beam!.wer).toBe(rep.results[1].wer);
      expect(row.greedy.cer).toBe(rep.results[0].cer);
      expect(row.beam!.cer).toBe(rep.results[1].cer);
      const line = r.table.split("\n").find((l) => l.startsWith(`| ${row.name} |`))!;
      const fmt = (x: { cer: number; cerCi: [number, number] }) => `${x.cer.toFixed(2)} [${x.cerCi[0].toFixed(2)}, ${x.cerCi[1].toFixed(2)}]`;
      expect(line).toContain(`| ${fmt(rep.results[0])} | ${fmt(rep.results[1])} |`);
      expect(row.greedy.words).toBe(5); // "AB", "C A", "BA C": 1 + 2 + 2 reference words
      expect(row.greedy.utterances).toBe(3);
      expect(row.greedy.rtf).toBeGreaterThan(0);
    }
    expect(r.rows.map((x) => x.validWer)).toEqual([80.5, 85.25, 97]);
    const table = readFileSync(join(run, "subnets.md"), "utf8");
    expect(table).toBe(r.table);
    expect(table.split("\n").filter((l) => l.startsWith("| L"))).toHaveLength(3);
    expect(table).toContain("| subnet | layers | ffDim | heads | params | MMAC/s | WER greedy % | 95% CI | WER beam 2 % | 95% CI | CER greedy % [95% CI] | CER beam 2 % | RTF | valid WER % (training) |");
    const svg = readFileSync(join(run, "subnets.svg"), "utf8");
    expect(svg.startsWith("<svg")).toBe(true);
    for (const n of chosen) expect(svg).toContain(`>${n}</text>`);
    expect(out.join("\n")).toContain("wrote");
  });

  it("--lm: a beam + LM column per subnet at the run's recorded weight, equal to todm eval --model --lm of the exported subnet, with its paired interval", async () => {
    const r2 = makeRun("lmrun", TINY, SPACE, []);
    mkdirSync(join(r2, "subnets"));
    const lmFile = join(r2, "subnets", "lm.tlm");
    writeFileSync(lmFile, encodeLm(estimateKneserNey(["AB", "C A", "BA C", "A B C"].map((t) => tok.encode(t)), { order: 3, vocab: tok.size }).tables, tok.toJSON()));
    // what the end of a run writes: an exported subnet naming subnets/lm.tlm with W
    runExport(undefined, { run: r2, out: join(r2, "subnets", "L3-ff12-h4.safetensors"), subnet: "L3-ff12-h4", lm: lmFile, lmWeight: 0.45, lmInPlace: true, log: () => {} });
    const out: string[] = [];
    const r = await runEvalSubnets(e, { run: r2, data: manifest, subnets: "L3-ff12-h4,L1-ff3-h2", beam: 2, lm: lmFile, seed: 3, progress: false, log: (l) => out.push(l) });
    expect(out).toContain(`LM: ${lmFile}, weight 0.45`);
    expect(r.table).toContain("| WER beam 2 % | 95% CI | WER beam 2 + LM % | 95% CI | LM - no LM, points [paired 95% CI] | CER greedy % [95% CI] | CER beam 2 % | CER beam 2 + LM % | RTF |");
    for (const row of r.rows) {
      const f = join(dir, `lm-${row.name}.safetensors`);
      runExport(undefined, { run: r2, out: f, subnet: row.name, noLm: true, log: () => {} });
      const rep = await runEval(e, { model: f, data: manifest, beam: 2, lm: lmFile, lmWeight: 0.45, seed: 3, progress: false, log: () => {} });
      expect(row.lm!.wer).toBe(rep.results[2].wer);
      expect(row.lmPaired).toEqual(rep.paired![0]);
    }
  });

  it("Pareto front: the subnets no smaller one beats", () => {
    const pts = [{ params: 10, wer: 50 }, { params: 5, wer: 60 }, { params: 7, wer: 65 }, { params: 20, wer: 55 }, { params: 30, wer: 40 }];
    expect(paretoFront(pts)).toEqual([{ params: 5, wer: 60 }, { params: 10, wer: 50 }, { params: 30, wer: 40 }]);
  });

  it("errors: an unknown subnet, a run without a model", async () => {
    await expect(runEvalSubnets(e, { run, data: manifest, subnets: "L9-ff12-h4", progress: false, log: () => {} })).rejects.toThrow(/--subnets: L9-ff12-h4 is not a subnet of/);
    const bare = join(dir, "bare");
    mkdirSync(bare);
    await expect(runEvalSubnets(e, { run: bare, data: manifest, progress: false, log: () => {} })).rejects.toThrow(/bare\/model\.safetensors: no such model file/);
  });
});

describe("the command line (node dist/cli.js)", () => {
  const cli = (args: string[]) => spawnSync("node", ["dist/cli.js", ...args], { encoding: "utf8" });

  it("help lists the options and defaults; subnets --names; export writes a loadable int8 model; eval --run", () => {
    const help = cli(["export", "--help"]).stdout.replace(/\s+/g, " "); // commander wraps lines
    for (const o of ["--subnet", "--max-params", "--max-rtf", "--model-file", "--int8", "--rtf-seconds", '(default: "model.safetensors")', '(default: "10")']) expect(help).toContain(o);
    const evalHelp = cli(["eval", "--help"]).stdout.replace(/\s+/g, " ");
    for (const o of ["--run", "--subnets", "--table", "--plot", "default: 4 with --model, 1 with --run"]) expect(evalHelp).toContain(o);
    expect(cli(["subnets", "--help"]).stdout).toContain("--names");
    expect(execFileSync("node", ["dist/cli.js", "subnets", "--run", run, "--names"], { encoding: "utf8" }).trim().split("\n")[0]).toBe("L3-ff12-h4");
    const out = join(dir, "cli.safetensors");
    const r = cli(["export", "--run", run, "--max-params", "4.4k", "--int8", "--out", out]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/exported L2-ff12-h2 .* int8/); // under 4.4k: L2-ff12-h2 (4303 params, 85.25) beats L1-ff3-h2 (97); the others have no WER
    expect(readSafetensors(out).metadata["todm.quant"]).toBe("int8");
    const tr = cli(["transcribe", "--model", out, join(dir, "u0.wav")]); // transcribe loads the int8 subnet like any model
    expect(tr.status, tr.stderr).toBe(0);
    expect(tr.stdout.startsWith(join(dir, "u0.wav") + "\t")).toBe(true);
    const t = cli(["eval", "--run", run, "--data", manifest, "--subnets", "L1-ff3-h2", "--table", join(dir, "t.md"), "--plot", join(dir, "t.svg")]);
    expect(t.status, t.stderr).toBe(0);
    expect(readFileSync(join(dir, "t.md"), "utf8")).toContain("| L1-ff3-h2 |");
    const bad = cli(["eval", "--data", manifest]);
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain("give --model FILE_OR_RUN_DIR or --run RUN_DIR");
  });
});
