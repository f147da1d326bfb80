// todm_torch (python/todm_torch, README "Scaling out") against todm itself, where Debian's python3-torch
// is installed (/usr/bin/python3 with torch and torchaudio); skipped with a message where it is not.
//
// - The package's own unittests (python/tests): ScaledAdam and Eden against icefall's fixtures, the
//   file format, bad input, and 2-process gloo DDP against 1 process for 20 steps.
// - One Supernet step from the same weights and batch: todm's Model.sandwichStep computed here by the
//   engine, todm_torch's under torchrun with 2 gloo processes (the batch sharded as todm shards it):
//   the same sandwich members, the same losses, and the same all-reduced gradients.
// - The Python side's defaults are todm's DEFAULT_TRAIN.
// - The round trip: `todm train --init-only`, 20 `torchrun` steps (2 processes = 1 process), 3 steps
//   against `todm train`'s, `todm subnets`, `todm export` of two subnets, `todm transcribe` of a fixture
//   utterance with each (todm_torch decodes the exported files to the same text), and each engine
//   resuming the other's checkpoint.
// What it is not: a speed or WER comparison (python/bench/compare.sh, RESULTS.md).
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { trainChar } from "../src/data/tokenizer.js";
import { DEFAULT_MODEL, subnetName, type ModelConfig } from "../src/model/config.js";
import { saveModel } from "../src/model/io.js";
import { Model, type SandwichPlan } from "../src/model/model.js";
import { DEFAULT_SPACE, kdOptions, listSubnets, sampleSandwich } from "../src/model/supernet.js";
import { hashSeed } from "../src/train/data.js";
import { DEFAULT_TRAIN } from "../src/train/config.js";
import { NO_DROPOUT } from "../src/model/encoder.js";
import { mulberry32 } from "../src/util/random.js";
import { engine, rng } from "./helpers.js";
import { makeCorpus } from "./corpus.js";
import { readAudioAt } from "../src/audio/read.js";
import { fbank } from "../src/engine/features.js";

// Debian's python (the one with python3-torch); TODM_PYTHON picks another (a venv's, or a missing one to see the skip)
const PY = process.env.TODM_PYTHON ?? "/usr/bin/python3";
const ROOT = new URL("..", import.meta.url).pathname;
const PYDIR = join(ROOT, "python");
// nice: the tests share the machine; OPENBLAS_NUM_THREADS=1: one BLAS thread per process, as the bench runs
const ENV = { ...process.env, PYTHONPATH: PYDIR, OPENBLAS_NUM_THREADS: "1", OMP_NUM_THREADS: "1" };

function hasTorch(): string | null {
  const r = spawnSync(PY, ["-c", "import torch, torchaudio"], { encoding: "utf8" });
  if (r.error) return `${PY} not found`;
  return r.status === 0 ? null : `${PY} cannot import torch and torchaudio (apt-get install python3-torch python3-torchaudio)`;
}
const missing = hasTorch();
if (missing) console.warn(`test/torch.test.ts skipped: ${missing}`);

function py(args: string[], env: Record<string, string | undefined> = ENV): string {
  const r = spawnSync(PY, args, { encoding: "utf8", env, cwd: ROOT, maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(`python ${args.join(" ")} failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
  return r.stdout + r.stderr;
}

/** torchrun (todm_torch.torchrun: torch 1.13 under Python 3.11 needs its fix) with n processes on this machine. */
function torchrun(n: number, args: string[]): string {
  return py(["-m", "todm_torch.torchrun", "--standalone", `--nproc_per_node=${n}`, ...args]);
}

// a tiny Supernet with every part of the default recipe: 3 layers x 3 widths x 2 head counts, the CTC head
const TINY: ModelConfig = {
  ...DEFAULT_MODEL, featDim: 16, subsampleChannels: 4, dModel: 16, layers: 3, ffDim: 32, heads: 4, stateSize: 4,
  predictorDim: 16, joinerDim: 16, vocabSize: 8, ctcWeight: 0.3,
};

const CLI = join(ROOT, "dist", "cli.js");
const node = (args: string[]) => execFileSync("node", [CLI, ...args], { encoding: "utf8", env: { ...process.env, CI: "true" }, maxBuffer: 1 << 26 });
type Step = { step: number; loss: number; subnets: string[]; losses: number[]; kd: number[]; utterances: number };
const steps = (run: string): Step[] =>
  readFileSync(join(run, "log.jsonl"), "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l)).filter((r) => r.type === "step");

describe.skipIf(missing !== null)("todm_torch against todm", () => {
  it("the package's unittests: ScaledAdam/Eden against icefall's fixtures, the file format and bad input", () => {
    const out = py(["-m", "unittest", "discover", "-s", join(PYDIR, "tests"), "-t", PYDIR]);
    expect(out).toMatch(/Ran \d+ tests[\s\S]*OK/);
  }, 300_000);

  it("its defaults are todm's DEFAULT_TRAIN, and its features are engine.fbank's", async () => {
    const defaults = JSON.parse(py(["-c", "import json; from todm_torch.config import DEFAULT_TRAIN; print(json.dumps(DEFAULT_TRAIN))"]));
    expect(defaults).toEqual(DEFAULT_TRAIN);
    // torchaudio's Kaldi fbank (with its resampling for 8 kHz stereo) against the engine's on the same files
    const files = ["tone-16k-mono.wav", "tone-8k-stereo.flac"].map((f) => join(ROOT, "test", "fixtures", f));
    const feats = JSON.parse(py(["-c", `import json, sys; from todm_torch.data import features_of; print(json.dumps([features_of(f).tolist() for f in ${JSON.stringify(files)}]))`])) as number[][][];
    const e = await engine();
    for (const [k, f] of files.entries()) {
      const ours = fbank(e, await readAudioAt(f, 16000), 16000);
      expect(feats[k].length, f).toBe(ours.frames);
      // log-mel energies (f32 FFTs in two engines). The 8 kHz file also goes through both engines'
      // resamplers (Kaiser sinc at the same settings, taps computed in other orders). Measured: 16 kHz
      // within 2e-3, 8 kHz within 2.7e-3. Bounds: 2e-3 and 5e-3.
      let worst = 0;
      feats[k].forEach((row, t) => row.forEach((v, b) => (worst = Math.max(worst, Math.abs(v - ours.data[t * ours.bins + b])))));
      expect(worst, f).toBeLessThanOrEqual(k === 0 ? 2e-3 : 5e-3);
    }
  }, 300_000);

  it("one sandwich step: the same members, losses and all-reduced gradients (2 gloo processes) as Model.sandwichStep", async () => {
    const dir = mkdtempSync(join(tmpdir(), "todm-torch-step-"));
    const e = await engine();
    const m = new Model(e, TINY);
    m.params.init(5);
    const r = rng(17);
    m.params.write("frontend.feat_mean", Float32Array.from({ length: 16 }, () => r() - 0.5));
    m.params.write("frontend.feat_istd", Float32Array.from({ length: 16 }, () => 0.7 + 0.6 * r()));
    const tok = trainChar(["ABCDEF"]);
    expect(tok.size).toBe(TINY.vocabSize);
    const modelPath = join(dir, "model.safetensors");
    saveModel(modelPath, m, tok);
    // 5 utterances of unequal lengths: rank 0 and rank 1 hold 2 and 3 of them (balanced by frames)
    const lens = [61, 23, 47, 38, 30], U = 7, B = lens.length, T = Math.max(...lens), F = 16;
    const feats = new Float32Array(B * T * F);
    lens.forEach((n, b) => { for (let i = 0; i < n * F; i++) feats[b * T * F + i] = r() * 4 - 2; });
    const tokenLens = Int32Array.from([7, 3, 5, 4, 2]);
    const tokens = new Int32Array(B * U);
    tokenLens.forEach((n, b) => { for (let u = 0; u < n; u++) tokens[b * U + u] = 1 + Math.floor(r() * 7); });
    const batch = { ids: lens.map((_, b) => b), B, T, F, U, feats, featLens: Int32Array.from(lens), tokens, tokenLens };
    // the step's plan as src/train/loop.ts planAt draws it; dropout off: the two engines draw different masks
    const trainSeed = 3, step = 11, seed = hashSeed(trainSeed, step);
    // two random members (the default draws one): the sandwich's every path, four members
    const space = { ...DEFAULT_SPACE, random: 2 };
    const subnets = listSubnets(TINY, space);
    const picked = sampleSandwich(subnets, space.random, mulberry32(hashSeed(trainSeed, step, 0x5a4d)));
    const plan: SandwichPlan = { members: picked.map((s) => ({ spec: s.spec, dropout: NO_DROPOUT })), kd: kdOptions(space), shareFrontend: true };
    m.params.zeroGrad();
    const ours = m.sandwichStep(batch, plan, { seed });
    const spec = { model: modelPath, seed, step, train: { seed: trainSeed, dropout: 0 }, supernet: space,
      batch: { B, T, F, U, feats: Array.from(feats), featLens: lens, tokens: Array.from(tokens), tokenLens: Array.from(tokenLens) } };
    writeFileSync(join(dir, "spec.json"), JSON.stringify(spec));
    torchrun(2, [join(PYDIR, "tests", "engine_step.py"), join(dir, "spec.json"), join(dir, "out.json")]);
    const got = JSON.parse(readFileSync(join(dir, "out.json"), "utf8")) as { members: string[]; stats: number[]; grads: Record<string, number[]> };
    // the sandwich: the same subnets, drawn from the same seed
    expect(got.members).toEqual(picked.map((s) => subnetName(s.spec)));
    expect(got.members.length).toBe(4);
    // losses: float32 forward passes in two engines (other summation orders; the MH-SSM by FFT here, by its
    // scan there). Measured: RNN-T and CTC sums within 3e-8 relative, KD within 6e-6 (a mean of small
    // per-node divergences, each a difference of close terms). Bounds: 1e-6 for RNN-T and CTC, 3e-5 for KD.
    expect(got.stats[1]).toBe(ours.frames);
    ours.members.forEach((mem, k) => {
      const [rnnt, kd, ctc] = got.stats.slice(2 + 3 * k, 5 + 3 * k);
      expect(Math.abs(rnnt - mem.lossSum), `member ${k} RNN-T`).toBeLessThanOrEqual(1e-6 * Math.abs(mem.lossSum));
      expect(Math.abs(kd - mem.kdSum), `member ${k} KD`).toBeLessThanOrEqual(3e-5 * Math.abs(mem.kdSum));
      expect(Math.abs(ctc - mem.ctcSum), `member ${k} CTC`).toBeLessThanOrEqual(1e-6 * Math.abs(mem.ctcSum));
    });
    expect(ours.members.slice(1).every((mm) => mm.kdSum > 0)).toBe(true); // distillation is on
    // gradients after the all-reduce, tensor by tensor, against the largest entry of the tensor: float32
    // sums over four members and two ranks in other orders. Measured: at most 1.3e-6 (joiner.out.bias,
    // the SSM's c_re); bound 2e-5.
    let checked = 0;
    for (const p of m.params.entries) {
      if (p.trainable === false) continue;
      const ref = e.read(m.params.gradPtr + 4 * p.offset, p.numel);
      const g = got.grads[p.name];
      expect(g, p.name).toBeDefined();
      const scale = Math.max(...Array.from(ref, Math.abs));
      let worst = 0;
      for (let i = 0; i < p.numel; i++) worst = Math.max(worst, Math.abs(g[i] - ref[i]));
      expect(worst, `${p.name}: max |diff| ${worst} against max |grad| ${scale}`).toBeLessThanOrEqual(2e-5 * scale);
      checked++;
    }
    expect(checked).toBe(Object.keys(got.grads).length);
  }, 300_000);

  it("round trip: todm init, 20 torchrun steps (2 processes = 1 process), todm subnets, export and transcribe", () => {
    const dir = mkdtempSync(join(tmpdir(), "todm-torch-trip-"));
    const corpus = makeCorpus(dir);
    const tiny = ["model.featDim=80", "model.subsampleChannels=4", "model.dModel=16", "model.layers=3", "model.ffDim=32", "model.heads=4",
      "model.stateSize=4", "model.predictorDim=16", "model.joinerDim=16", "data.tokenizer=\"char\"", "batch.maxFrames=1500", "batch.buckets=2",
      "train.validEvery=0", "train.checkpointEvery=10", "train.loaderWorkers=0",
      // todm_torch mirrors the full loss only; averaging and the LM act at the end of a todm run (off: step losses are compared)
      "model.loss=\"full\"", "train.average.every=0", "lm.enabled=false", `data.cacheDir=${JSON.stringify(join(dir, "cache"))}`];
    const data = ["--train", corpus.train, "--valid", corpus.valid];
    node(["train", "--out", join(dir, "init"), ...data, "--init-only", ...tiny.flatMap((x) => ["--set", x])]);
    const init = join(dir, "init"); // init.safetensors and config.json
    // 1. the same 20 steps (Supernet, KD, CTC, dropout 0.1, SpecAugment) on 2 gloo processes and on 1
    torchrun(2, ["-m", "todm_torch.train", "--init", init, "--out", join(dir, "r2"), "--steps", "20"]);
    py(["-m", "todm_torch.train", "--init", init, "--out", join(dir, "r1"), "--steps", "20"]);
    const two = steps(join(dir, "r2")), one = steps(join(dir, "r1"));
    expect(two.length).toBe(20);
    expect(Math.max(...one.map((s) => s.utterances))).toBeGreaterThan(4); // batches that the ranks really split
    one.forEach((s, i) => {
      const t = two[i];
      expect(t.subnets).toEqual(s.subnets);
      // f32 gradients reduced in another order (per rank, then across): 1e-5 relative over 20 steps
      expect(Math.abs(t.loss - s.loss), `step ${s.step}`).toBeLessThanOrEqual(1e-5 * s.loss);
      // the members' losses are logged to 4 decimals
      s.losses.forEach((l, k) => expect(Math.abs(t.losses[k] - l), `step ${s.step} member ${k}`).toBeLessThanOrEqual(1e-5 * l + 1e-4));
    });
    // 2. against todm itself: 3 steps from the same initial model, dropout off (the engines draw different
    // masks), everything else the default recipe: the same sandwiches and losses (f32 in two engines: 1e-5)
    node(["train", "--out", join(dir, "t0"), ...data, "--init-from", join(init, "init.safetensors"), "--config", join(init, "config.json"),
      "--steps", "3", "--threads", "1", "--set", "train.dropout=0"]);
    py(["-m", "todm_torch.train", "--init", init, "--out", join(dir, "p0"), "--steps", "3", "--set", "train.dropout=0"]);
    const todm3 = steps(join(dir, "t0")), torch3 = steps(join(dir, "p0"));
    expect(torch3.length).toBe(3);
    todm3.forEach((s, i) => {
      expect(torch3[i].subnets).toEqual(s.subnets);
      expect(Math.abs(torch3[i].loss - s.loss), `step ${s.step}`).toBeLessThanOrEqual(1e-5 * s.loss);
    });
    // 3. todm reads the PyTorch run as its own: subnets, export of two subnets, transcribe with each
    const r2 = join(dir, "r2");
    const listing = node(["subnets", "--run", r2]);
    expect(listing).toMatch(/L3-ff32-h4/);
    expect(listing).toMatch(/L1-ff8-h2/);
    const wav = join(dir, "audio", "valid0.wav");
    const subs = ["L3-ff32-h4", "L1-ff8-h2"], files = subs.map((sub) => join(dir, `${sub}.safetensors`));
    const todmText = subs.map((sub, k) => {
      node(["export", "--run", r2, "--subnet", sub, "--out", files[k]]);
      const line = node(["transcribe", "--model", files[k], wav]).trim();
      expect(line.startsWith(wav)).toBe(true);
      return line.split("\t")[1] ?? "";
    });
    // nothing lost between the formats: todm_torch reads each exported file and decodes the same text
    const torchText = JSON.parse(py(["-c", `import json, torch
from todm_torch.model import TodmModel, parse_metadata
from todm_torch.data import features_of
from todm_torch.safetensors import read_safetensors
x = torch.from_numpy(features_of(${JSON.stringify(wav)}))[None]
out = []
for f in ${JSON.stringify(files)}:
    sym = parse_metadata(read_safetensors(f)[1], f)[1]["symbols"]
    out.append("".join(sym[i] for i in TodmModel.from_file(f).greedy(x, torch.tensor([x.shape[1]]))[0]))
print(json.dumps(out))`])) as string[];
    expect(torchText).toEqual(todmText);
    // 4. todm resumes the PyTorch run's checkpoint (same layout of the optimizer state)
    node(["train", "--resume", join(dir, "r1"), "--steps", "22", "--threads", "1"]);
    expect(steps(join(dir, "r1")).map((s) => s.step).slice(-3)).toEqual([20, 21, 22]);
    // 5. and todm_torch resumes todm's (the checkpoint todm wrote at step 22)
    const out = py(["-m", "todm_torch.train", "--out", join(dir, "r1"), "--resume", "--steps", "24"]);
    expect(out).toMatch(/resuming from .*step-00000022\.safetensors/);
    expect(steps(join(dir, "r1")).map((s) => s.step).slice(-2)).toEqual([23, 24]);
  }, 900_000); // about a minute on an idle 2-core machine; the shared development machine is slower
});
