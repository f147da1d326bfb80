// `todm train` as a user runs it, on a tiny generated corpus and a tiny model: the run directory,
// determinism, and a real training process killed with SIGKILL at a random step, resumed, and
// producing the same losses as a run that was never interrupted; the run ends with its LM.
import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { writeWav } from "../src/audio/wav.js";
import { makeCorpus } from "./corpus.js";
import { DEFAULT_TRAIN } from "../src/train/config.js";
import { runLm } from "../src/train/export.js";

const CLI = new URL("../dist/cli.js", import.meta.url).pathname;
const TINY = [
  "model.featDim=80", "model.subsampleChannels=4", "model.dModel=16", "model.layers=2", "model.ffDim=32", "model.heads=2",
  "model.stateSize=4", "model.predictorDim=16", "model.joinerDim=16", "data.tokenizer=\"char\"", "batch.maxFrames=800",
  "train.validEvery=4", "train.checkpointEvery=2", "train.keepCheckpoints=3", "train.loaderWorkers=0",
];

function args(corpus: { train: string; valid: string }, out: string, cache: string, steps: number): string[] {
  return ["train", "--out", out, "--train", corpus.train, "--valid", corpus.valid, "--steps", String(steps), "--seed", "3",
    ...[...TINY, `data.cacheDir=${JSON.stringify(cache)}`].flatMap((s) => ["--set", s])];
}

const stepLosses = (run: string) =>
  readFileSync(join(run, "log.jsonl"), "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l)).filter((r) => r.type === "step").map((r) => [r.step, r.loss]);

describe("todm train", () => {
  it("writes a complete run directory, and the same seed gives the same losses", () => {
    const dir = mkdtempSync(join(tmpdir(), "todm-train-"));
    const corpus = makeCorpus(dir);
    const cache = join(dir, "cache");
    const out = execFileSync("node", [CLI, ...args(corpus, join(dir, "a"), cache, 6)], { encoding: "utf8", env: { ...process.env, CI: "true" } });
    expect(out).toMatch(/resolved config:/);
    for (const f of ["log.jsonl", "config.json", "model.safetensors", "curves.svg", "checkpoints/step-00000006.safetensors"]) {
      expect(existsSync(join(dir, "a", f)), f).toBe(true);
    }
    // the run's LM (test/run-lm.test.ts checks it in detail), at a weight of the default grid
    const lm = runLm(join(dir, "a"));
    expect(lm?.path).toBe(join(dir, "a", "subnets", "lm.tlm"));
    expect(DEFAULT_TRAIN.lm.grid).toContain(lm?.weight);
    execFileSync("node", [CLI, ...args(corpus, join(dir, "b"), cache, 6)], { encoding: "utf8", env: { ...process.env, CI: "true" } });
    const a = stepLosses(join(dir, "a")), b = stepLosses(join(dir, "b"));
    expect(a.length).toBe(6);
    expect(b).toEqual(a); // bit-identical: same seed, same data, same build
  });

  it("resumes a run killed with SIGKILL at a random step and reproduces the uninterrupted losses", async () => {
    const dir = mkdtempSync(join(tmpdir(), "todm-kill-"));
    const corpus = makeCorpus(dir);
    const cache = join(dir, "cache");
    const steps = 30; // room after the kill step (3..7): a tiny step takes milliseconds, the log is polled every 20 ms
    execFileSync("node", [CLI, ...args(corpus, join(dir, "ref"), cache, steps)], { env: { ...process.env, CI: "true" } });
    const killAt = 3 + Math.floor(Math.random() * 5); // a step in 3..7, after at least one checkpoint
    const run = join(dir, "killed");
    await new Promise<void>((resolve, reject) => {
      const child = spawn("node", [CLI, ...args(corpus, run, cache, steps)], { env: { ...process.env, CI: "true" }, stdio: "ignore" });
      const poll = setInterval(() => {
        try {
          if (stepLosses(run).length >= killAt) {
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
    expect(stepLosses(run).length).toBeLessThan(steps);
    execFileSync("node", [CLI, "train", "--resume", run, "--steps", String(steps)], { env: { ...process.env, CI: "true" } });
    expect(stepLosses(run)).toEqual(stepLosses(join(dir, "ref")));
  });

  it("SIGINT finishes the step, writes a checkpoint and exits 130; the run resumes from it", async () => {
    const dir = mkdtempSync(join(tmpdir(), "todm-int-"));
    const corpus = makeCorpus(dir);
    const run = join(dir, "r");
    const code = await new Promise<number | null>((resolve) => {
      const child = spawn("node", [CLI, ...args(corpus, run, join(dir, "cache"), 400)], { env: { ...process.env, CI: "true" }, stdio: "ignore" });
      const poll = setInterval(() => {
        try {
          if (stepLosses(run).length >= 3) {
            child.kill("SIGINT");
            clearInterval(poll);
          }
        } catch { /* not started */ }
      }, 20);
      child.on("exit", (c) => { clearInterval(poll); resolve(c); });
    });
    expect(code).toBe(130);
    const n = stepLosses(run).length;
    expect(n).toBeGreaterThanOrEqual(3);
    expect(n).toBeLessThan(400);
    expect(existsSync(join(run, "checkpoints", `step-${String(n).padStart(8, "0")}.safetensors`))).toBe(true);
    execFileSync("node", [CLI, "train", "--resume", run, "--steps", String(n + 2)], { env: { ...process.env, CI: "true" } });
    expect(stepLosses(run).length).toBe(n + 2);
  });

  it("skips a batch whose loss is not finite, logs it, and goes on", () => {
    const dir = mkdtempSync(join(tmpdir(), "todm-nan-"));
    const corpus = makeCorpus(dir);
    // one training utterance whose float samples are NaN: its features, and its batch's loss, are NaN
    const bad = new Float32Array(8000).fill(NaN);
    writeFileSync(join(dir, "audio", "train0.wav"), writeWav([bad], 16000, { bits: 32, float: true }));
    const lines = readFileSync(corpus.train, "utf8").split("\n");
    lines[0] = JSON.stringify({ audio_filepath: "audio/train0.wav", duration: 0.5, text: "ONE" });
    writeFileSync(corpus.train, lines.join("\n"));
    const run = join(dir, "r");
    const out = execFileSync("node", [CLI, ...args(corpus, run, join(dir, "cache"), 8)], { encoding: "utf8", env: { ...process.env, CI: "true" } });
    const log = readFileSync(join(run, "log.jsonl"), "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l));
    const skips = log.filter((r) => r.type === "skip");
    expect(skips.length).toBeGreaterThanOrEqual(1);
    expect(skips[0].reason).toMatch(/non-finite/);
    expect(out).toMatch(/non-finite (loss|gradient), batch skipped/);
    expect(stepLosses(run).length).toBe(8); // the run still takes its 8 steps
    expect(stepLosses(run).every(([, l]) => Number.isFinite(l))).toBe(true);
  });

  it("--init-only writes the exact state a run starts from: --init-from it reproduces the run's losses", () => {
    // what test/ref/train_mirror.py loads as its initial weights, feature statistics and tokenizer
    const dir = mkdtempSync(join(tmpdir(), "todm-init-"));
    const corpus = makeCorpus(dir);
    const cache = join(dir, "cache");
    const env = { ...process.env, CI: "true" };
    const initRun = join(dir, "init");
    const out = execFileSync("node", [CLI, ...args(corpus, initRun, cache, 3), "--init-only"], { encoding: "utf8", env });
    expect(out).toMatch(/wrote the initial model .*init\.safetensors/);
    expect(existsSync(join(initRun, "init.safetensors"))).toBe(true);
    expect(existsSync(join(initRun, "log.jsonl"))).toBe(false); // no step was taken
    execFileSync("node", [CLI, ...args(corpus, join(dir, "plain"), cache, 3)], { env });
    const from = execFileSync("node", [CLI, ...args(corpus, join(dir, "from"), cache, 3), "--init-from", join(initRun, "init.safetensors")], { encoding: "utf8", env });
    expect(from).toMatch(/initialised from .*init\.safetensors/); // the weights did come from the file
    const a = stepLosses(join(dir, "plain")), b = stepLosses(join(dir, "from"));
    expect(a.length).toBe(3);
    expect(b).toEqual(a); // bit-identical: same weights and feature statistics, same seed and data
  });

  it("--init-from across the CTC head: a model without it (an export) starts a run with it, and back", () => {
    // The head is training-only, so fine-tuning may add or drop it. Independent check: with the same seed the
    // seeded initial weights of the other tensors do not depend on the head, so a run started from a file
    // without the head equals a run from scratch with it, bit for bit (the fresh head gets the same seeded
    // values), and the reverse.
    const dir = mkdtempSync(join(tmpdir(), "todm-init-ctc-"));
    const corpus = makeCorpus(dir);
    const cache = join(dir, "cache");
    const env = { ...process.env, CI: "true" };
    // the full loss, so that the CTC head is the only tensor that differs (the pruned loss's projections are the next test's)
    const run = (name: string, ...extra: string[]) => execFileSync("node", [CLI, ...args(corpus, join(dir, name), cache, 3), "--set", "model.loss=full", ...extra], { encoding: "utf8", env });
    run("init0", "--init-only", "--set", "model.ctcWeight=0");
    run("init3", "--init-only", "--set", "model.ctcWeight=0.3");
    run("plain3", "--set", "model.ctcWeight=0.3");
    run("plain0", "--set", "model.ctcWeight=0");
    const up = run("from0to3", "--set", "model.ctcWeight=0.3", "--init-from", join(dir, "init0", "init.safetensors"));
    expect(up).toMatch(/ctc\.weight, ctc\.bias: not in it, initialised fresh/);
    const down = run("from3to0", "--set", "model.ctcWeight=0", "--init-from", join(dir, "init3", "init.safetensors"));
    expect(down).toMatch(/initialised from /);
    expect(stepLosses(join(dir, "plain3")).length).toBe(3);
    expect(stepLosses(join(dir, "from0to3"))).toEqual(stepLosses(join(dir, "plain3"))); // bit-identical (see above)
    expect(stepLosses(join(dir, "from3to0"))).toEqual(stepLosses(join(dir, "plain0")));
    // and the CTC loss itself starts from the same head
    const ctc = (name: string) => readFileSync(join(dir, name, "log.jsonl"), "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l)).filter((r) => r.type === "step").map((r) => r.ctcLoss);
    expect(ctc("from0to3")).toEqual(ctc("plain3"));
    expect(ctc("plain3").every((v) => typeof v === "number" && v > 0)).toBe(true);
  });

  it("model.loss=pruned: --init-from a model without the simple projections seeds them fresh; the log has simpleLoss and the warm-up's scales", () => {
    // As the CTC head: the projections are training-only, drawn after every shared tensor, so a run started
    // from a full-loss file equals a pruned run from scratch bit for bit. The scales follow
    // prunedLossScales(step, warm-up) with the warm-up set here (independent closed form below).
    const dir = mkdtempSync(join(tmpdir(), "todm-init-pruned-"));
    const corpus = makeCorpus(dir);
    const cache = join(dir, "cache");
    const env = { ...process.env, CI: "true" };
    const run = (name: string, ...extra: string[]) => execFileSync("node", [CLI, ...args(corpus, join(dir, name), cache, 3), ...extra], { encoding: "utf8", env });
    const pruned = ["--set", "model.loss=pruned", "--set", "model.pruneRange=3", "--set", "train.prunedWarmupSteps=4"];
    run("initFull", "--init-only", "--set", "model.loss=full");
    run("plainPruned", ...pruned);
    const up = run("fromFull", ...pruned, "--init-from", join(dir, "initFull", "init.safetensors"));
    expect(up).toMatch(/simple\.am\.weight, simple\.am\.bias, simple\.lm\.weight, simple\.lm\.bias: not in it, initialised fresh/);
    expect(stepLosses(join(dir, "plainPruned")).length).toBe(3);
    expect(stepLosses(join(dir, "fromFull"))).toEqual(stepLosses(join(dir, "plainPruned")));
    const steps = readFileSync(join(dir, "plainPruned", "log.jsonl"), "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l)).filter((r) => r.type === "step");
    expect(steps.every((r) => typeof r.simpleLoss === "number" && r.simpleLoss > 0)).toBe(true);
    // step k (0-based) of a 4-step warm-up: simple 1 - (k/4)·0.5, pruned 0.1 + 0.9·k/4
    expect(steps.map((r) => r.lossScales)).toEqual([0, 1, 2].map((k) => ({ simple: 1 - (k / 4) * 0.5, pruned: 0.1 + (0.9 * k) / 4 })));
    const saved = JSON.parse(readFileSync(join(dir, "plainPruned", "config.json"), "utf8"));
    expect(saved.model.loss).toBe("pruned");
  });

  it("a model too large for memory fails with a message naming the knob", () => {
    const dir = mkdtempSync(join(tmpdir(), "todm-oom-"));
    const corpus = makeCorpus(dir);
    let msg = "";
    try {
      execFileSync("node", [CLI, ...args(corpus, join(dir, "r"), join(dir, "cache"), 2), "--set", "model.ffDim=4000000"], { encoding: "utf8", stdio: "pipe" });
    } catch (e) {
      msg = String((e as { stderr: string }).stderr);
    }
    expect(msg).toMatch(/out of WASM memory allocating \w+.*(batch size|model size)/);
  });

  it("refuses a bad config with a message naming the option", () => {
    const dir = mkdtempSync(join(tmpdir(), "todm-cfg-"));
    writeFileSync(join(dir, "c.json"), JSON.stringify({ model: { layerz: 3 } }));
    let msg = "";
    try {
      execFileSync("node", [CLI, "train", "--config", join(dir, "c.json"), "--out", join(dir, "r")], { encoding: "utf8", stdio: "pipe" });
    } catch (e) {
      msg = String((e as { stderr: string }).stderr);
    }
    expect(msg).toMatch(/c\.json: unknown option "model\.layerz"/);
  });
});

describe("todm train --threads 2", () => {
  it("gives the losses of one thread (to float rounding) and resumes from its own checkpoint", () => {
    const dir = mkdtempSync(join(tmpdir(), "todm-threads-"));
    const corpus = makeCorpus(dir);
    const cache = join(dir, "cache");
    const env = { ...process.env, CI: "true" };
    // dropout on (the default 0.1), so the masks of the two shards must be those of the whole batch
    execFileSync("node", [CLI, ...args(corpus, join(dir, "one"), cache, 6)], { env });
    const two = join(dir, "two");
    const out = execFileSync("node", [CLI, ...args(corpus, two, cache, 4), "--threads", "2"], { encoding: "utf8", env });
    expect(out).toMatch(/data-parallel training on 2 threads/);
    execFileSync("node", [CLI, "train", "--resume", two, "--steps", "6", "--threads", "2"], { env });
    const a = stepLosses(join(dir, "one")), b = stepLosses(two);
    expect(b.map((s) => s[0])).toEqual(a.map((s) => s[0]));
    // f32 losses of a few nats; the gradient is summed in another order (per shard, then across the
    // two shards), which ScaledAdam carries into the weights at ~1e-7 relative per step
    b.forEach(([, l], i) => expect(Math.abs(l - a[i][1]), `step ${a[i][0]}: ${l} vs ${a[i][1]}`).toBeLessThanOrEqual(1e-5 * Math.abs(a[i][1])));
  });
});
