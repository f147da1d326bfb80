// The running average of the weights in `todm train` (src/train/average.ts), checked against references
// computed here: the float64 mean of the parameter snapshots that the run's own checkpoints hold at the
// averaging steps (brute force, summed then divided once), an uninterrupted run for a run killed with
// SIGKILL mid-averaging and resumed (bit for bit), and the choice at the end read back from the files.
import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { readSafetensors } from "../src/io/safetensors.js";
import { layoutParams, paramTable, type ModelConfig } from "../src/model/config.js";
import { averageProgress } from "../src/train/average.js";
import { DEFAULT_TRAIN, describeDefaults, loadTrainConfig } from "../src/train/config.js";
import { listCheckpoints } from "../src/train/checkpoint.js";
import { makeCorpus } from "./corpus.js";

const CLI = new URL("../dist/cli.js", import.meta.url).pathname;
const ENV = { ...process.env, CI: "true" };
const TINY = [
  "model.featDim=80", "model.subsampleChannels=4", "model.dModel=16", "model.layers=2", "model.ffDim=32", "model.heads=2",
  "model.stateSize=4", "model.predictorDim=16", "model.joinerDim=16", "data.tokenizer=\"char\"", "batch.maxFrames=800",
  "train.validEvery=0", "train.loaderWorkers=0",
];

function args(corpus: { train: string; valid: string }, out: string, cache: string, steps: number, extra: string[]): string[] {
  return ["train", "--out", out, "--train", corpus.train, "--valid", corpus.valid, "--steps", String(steps), "--seed", "5",
    ...[...TINY, `data.cacheDir=${JSON.stringify(cache)}`, ...extra].flatMap((s) => ["--set", s])];
}

const readLog = (run: string) => readFileSync(join(run, "log.jsonl"), "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l));
const checkpointAt = (run: string, step: number) => join(run, "checkpoints", `step-${String(step).padStart(8, "0")}.safetensors`);
const averageMeta = (file: string) => JSON.parse(readSafetensors(file).metadata["todm.average"]);

describe("train.average: the running average of the weights", () => {
  it("equals the float64 mean of the parameter snapshots at the averaging steps, and the better weights become model.safetensors", () => {
    const dir = mkdtempSync(join(tmpdir(), "todm-avg-"));
    const corpus = makeCorpus(dir);
    const run = join(dir, "r");
    // start 0.4 of 12 steps: the first step with step/12 >= 0.4 is 5; every 2: snapshots after steps 7, 9 and 11
    execFileSync("node", [CLI, ...args(corpus, run, join(dir, "cache"), 12,
      ["train.average.every=2", "train.average.start=0.4", "train.checkpointEvery=1", "train.keepCheckpoints=100"])], { env: ENV });
    const last = readSafetensors(checkpointAt(run, 12));
    expect(averageMeta(checkpointAt(run, 12))).toEqual({ every: 2, start: 5, count: 3 });
    expect(averageMeta(checkpointAt(run, 7))).toEqual({ every: 2, start: 5, count: 1 });
    expect(averageMeta(checkpointAt(run, 6))).toEqual({ every: 2, start: 5, count: 0 });
    expect(averageMeta(checkpointAt(run, 4))).toEqual({ every: 2, start: null, count: 0 });
    expect(readSafetensors(checkpointAt(run, 6)).tensors.has("average.weights")).toBe(false);
    const avg = last.tensors.get("average.weights")!;
    expect(avg.dtype).toBe("F64");
    // the reference: every trainable tensor of the checkpoints of steps 7, 9 and 11, summed in float64, divided once
    const cfg = JSON.parse(last.metadata["todm.config"]) as ModelConfig;
    const { entries, trainableFloats } = layoutParams(paramTable(cfg));
    expect(avg.shape).toEqual([trainableFloats]);
    const snaps = [7, 9, 11].map((s) => readSafetensors(checkpointAt(run, s)));
    const a = avg.data as Float64Array;
    let worst = 0, moved = 0;
    for (const e of entries.filter((x) => x.trainable !== false)) {
      const x = snaps.map((f) => f.tensors.get(e.name)!.data as Float32Array);
      for (let i = 0; i < e.numel; i++) {
        const ref = (x[0][i] + x[1][i] + x[2][i]) / 3;
        // three folds in float64 (avg·(1 - w) + cur·w, w = 1, 1/2, 1/3) against one sum and one division:
        // a few float64 ulps (1.1e-16 each) of the snapshots' magnitudes; a snapshot of a wrong step is off by 1e-4 or more
        worst = Math.max(worst, Math.abs(a[e.offset + i] - ref) / Math.max(1e-30, Math.abs(x[0][i]) + Math.abs(x[1][i]) + Math.abs(x[2][i])));
        moved = Math.max(moved, Math.abs(x[0][i] - x[2][i]));
      }
    }
    expect(worst).toBeLessThanOrEqual(1e-15);
    expect(moved).toBeGreaterThan(1e-4); // the weights moved between the snapshots: the mean is not one of them
    // the end: both weights validated, the better (lower mean WER of the validated subnets) is model.safetensors
    const log = readLog(run);
    const rec = log.find((r) => r.type === "average");
    expect(rec).toMatchObject({ step: 12, every: 2, start: 5, count: 3 });
    const valids = log.filter((r) => r.type === "valid" && r.step === 12);
    expect(valids.map((r) => r.weights).sort()).toEqual(["average", "final"]);
    const meanWer = (r: { subnets: Record<string, number> }) => Object.values(r.subnets).reduce((s, w) => s + w, 0) / Object.keys(r.subnets).length;
    const byWeights = Object.fromEntries(valids.map((r) => [r.weights, meanWer(r)]));
    expect(rec.averageWer).toBeCloseTo(byWeights.average, 10);
    expect(rec.finalWer).toBeCloseTo(byWeights.final, 10);
    expect(rec.chosen).toBe(byWeights.average < byWeights.final ? "average" : "final");
    expect(valids[valids.length - 1].weights).toBe(rec.chosen); // the last validation is model.safetensors'
    const other = join(run, rec.chosen === "average" ? "model-final.safetensors" : "model-avg.safetensors");
    const chosenFile = readSafetensors(join(run, "model.safetensors")), otherFile = readSafetensors(other);
    const [avgFile, finalFile] = rec.chosen === "average" ? [chosenFile, otherFile] : [otherFile, chosenFile];
    expect(JSON.parse(avgFile.metadata["todm.info"])).toMatchObject({ weights: "average", step: 12, average: { chosen: rec.chosen } });
    expect(JSON.parse(finalFile.metadata["todm.info"])).toMatchObject({ weights: "final", step: 12 });
    for (const e of entries) {
      const got = avgFile.tensors.get(e.name)!.data as Float32Array, fin = finalFile.tensors.get(e.name)!.data as Float32Array;
      expect(Array.from(fin), e.name).toEqual(Array.from(last.tensors.get(e.name)!.data as Float32Array)); // the final weights
      if (e.trainable === false) expect(Array.from(got), e.name).toEqual(Array.from(fin)); // constants are not averaged
      else for (let i = 0; i < e.numel; i++) if (got[i] !== Math.fround(a[e.offset + i])) throw new Error(`${e.name}[${i}]: ${got[i]} is not f32(${a[e.offset + i]})`);
    }
    // the Supernet's exported subnets are cut from the chosen model
    expect(existsSync(join(run, "subnets"))).toBe(true);
  });

  it("a run killed with SIGKILL mid-averaging and resumed ends with the uninterrupted run's average, bit for bit", async () => {
    const dir = mkdtempSync(join(tmpdir(), "todm-avg-kill-"));
    const corpus = makeCorpus(dir);
    const cache = join(dir, "cache");
    const steps = 40, extra = ["train.average.every=2", "train.average.start=0.1", "train.checkpointEvery=2", "train.keepCheckpoints=3"];
    // start 0.1 of 40 steps: step 4; snapshots after steps 6, 8, ..., 40
    execFileSync("node", [CLI, ...args(corpus, join(dir, "ref"), cache, steps, extra)], { env: ENV });
    const killAt = 9 + Math.floor(Math.random() * 5); // a step in 9..13: the newest checkpoint (>= 8) holds snapshots
    const run = join(dir, "killed");
    await new Promise<void>((resolve, reject) => {
      const child = spawn("node", [CLI, ...args(corpus, run, cache, steps, extra)], { env: ENV, stdio: "ignore" });
      const poll = setInterval(() => {
        try {
          if (readLog(run).filter((r) => r.type === "step").length >= killAt) {
            child.kill("SIGKILL");
            clearInterval(poll);
          }
        } catch { /* log not written yet */ }
      }, 20);
      child.on("exit", (code, signal) => {
        clearInterval(poll);
        if (signal === "SIGKILL") resolve();
        else reject(new Error(`the run ended by itself (code ${code}) before step ${killAt}`));
      });
    });
    const newest = listCheckpoints(run).pop()!;
    const mid = averageMeta(newest);
    expect(mid.start).toBe(4);
    expect(mid.count).toBeGreaterThanOrEqual(2);
    expect(mid.count).toBeLessThan(18);
    execFileSync("node", [CLI, "train", "--resume", run, "--steps", String(steps)], { env: ENV });
    const a = readSafetensors(checkpointAt(run, steps)), b = readSafetensors(checkpointAt(join(dir, "ref"), steps));
    expect(averageMeta(checkpointAt(run, steps))).toEqual({ every: 2, start: 4, count: 18 });
    expect(averageMeta(checkpointAt(join(dir, "ref"), steps))).toEqual({ every: 2, start: 4, count: 18 });
    const bytes = (f: typeof a) => new Uint8Array((f.tensors.get("average.weights")!.data as Float64Array).buffer);
    expect(Buffer.compare(bytes(a), bytes(b))).toBe(0);
    const chosen = (d: string) => readLog(d).find((r) => r.type === "average").chosen;
    expect(chosen(run)).toBe(chosen(join(dir, "ref")));
    const m1 = readSafetensors(join(run, "model.safetensors")), m2 = readSafetensors(join(dir, "ref", "model.safetensors"));
    for (const [name, t] of m2.tensors) expect(Array.from(m1.tensors.get(name)!.data as Float32Array), name).toEqual(Array.from(t.data as Float32Array));
  });
});

describe("train.average config", () => {
  it("is listed by --help with its defaults and set with --set", () => {
    const lines = describeDefaults();
    expect(lines).toContain(`  train.average.every = ${DEFAULT_TRAIN.train.average.every}`);
    expect(lines).toContain(`  train.average.start = ${DEFAULT_TRAIN.train.average.start}`);
    expect(loadTrainConfig(undefined, ["train.average.start=0.3", "train.average.every=0"]).train.average).toEqual({ every: 0, start: 0.3 });
  });

  it("refuses bad values with a message naming the option", () => {
    const bad = (set: string) => () => loadTrainConfig(undefined, [set]);
    expect(bad("train.average.start=1")).toThrow(/--set train\.average\.start=1: train\.average\.start is 1: expected a fraction of the run's budget in \[0, 1\)/);
    expect(bad("train.average.start=-0.1")).toThrow(/train\.average\.start is -0\.1/);
    expect(bad("train.average.every=2.5")).toThrow(/train\.average\.every is 2\.5: expected a whole number of steps >= 0/);
    expect(bad("train.average.every=-1")).toThrow(/train\.average\.every is -1/);
    expect(bad("train.average.start=half")).toThrow(/option "train\.average\.start" must be a number/);
    expect(bad("train.average.begin=0.2")).toThrow(/unknown option "train\.average\.begin"/);
  });

  it("measures the start on maxSteps when set, else on maxMinutes of training time, else on epochs", () => {
    const cfg = (maxSteps: number, maxMinutes: number) => ({ ...DEFAULT_TRAIN, train: { ...DEFAULT_TRAIN.train, maxSteps, maxMinutes, epochs: 4 } });
    const pos = { step: 30, epoch: 1, batchInEpoch: 25, elapsedSec: 0, bestWer: null, bestStep: null };
    expect(averageProgress(cfg(120, 10), pos, 540, () => 100)).toBe(30 / 120);
    expect(averageProgress(cfg(0, 10), pos, 540, () => 100)).toBe(540 / 600);
    expect(averageProgress(cfg(0, 0), pos, 540, () => 100)).toBe((1 + 25 / 100) / 4);
  });
});
