// eval, transcribe, average and the model-path resolver, end to end on a tiny model overfitted to one
// synthetic utterance (tones standing for characters). Ground truth: the utterance's own transcript
// (the model is trained until greedy search reproduces it), word counts done by hand, the mean of
// checkpoints computed here in float64, and decoding an utterance alone versus inside a padded batch;
// eval's CER columns and paired LM interval recomputed from its report's per-utterance hypotheses.
// The CLI runs as `node dist/cli.js` (build first: `npm run build`).
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { averageCheckpointFiles, runAverage } from "../src/commands/average.js";
import { runEval } from "../src/commands/eval.js";
import { runTranscribe } from "../src/commands/transcribe.js";
import { collate } from "../src/data/batching.js";
import { trainChar, type CharTokenizer } from "../src/data/tokenizer.js";
import { evaluate, transcribeSamples } from "../src/eval/eval.js";
import { writeWav } from "../src/audio/wav.js";
import { readAudioAt } from "../src/audio/read.js";
import { readAudioWindows } from "../src/audio/windows.js";
import { DataError } from "../src/data/errors.js";
import { normalizeText } from "../src/data/normalize.js";
import { charErrors, pairedBootstrap, scoringWords } from "../src/eval/wer.js";
import { estimateKneserNey } from "../src/lm/estimate.js";
import { encodeLm } from "../src/lm/format.js";
import { DEFAULT_MODEL, type ModelConfig } from "../src/model/config.js";
import { loadCheckpoint, saveCheckpoint } from "../src/train/checkpoint.js";
import { encodeModel, loadModel, saveModel } from "../src/model/io.js";
import { Model } from "../src/model/model.js";
import { resolveModelPath } from "../src/model/path.js";
import { ScaledAdamRegion } from "../src/engine/optim.js";
import type { Engine } from "../src/engine/engine.js";
import { engine } from "./helpers.js";
import { fbank } from "../src/engine/features.js";

const TINY: ModelConfig = {
  ...DEFAULT_MODEL, featDim: 16, subsampleChannels: 2, dModel: 8, layers: 2, ffDim: 12, heads: 2, stateSize: 4,
  predictorDim: 16, joinerDim: 16, vocabSize: 5, causal: true,
};
const TEXT = "HI HO";
const RATE = 16000, SEGMENT = 0.2 * RATE;
const TONE: Record<string, number> = { H: 400, I: 900, O: 1600, " ": 0 };

/** One 0.2 s segment per character: a tone for a letter, near-silence for the space. */
function speak(text: string): Float32Array {
  const x = new Float32Array(text.length * SEGMENT);
  [...text].forEach((c, k) => {
    for (let i = 0; i < SEGMENT; i++) x[k * SEGMENT + i] = TONE[c] ? 0.3 * Math.sin((2 * Math.PI * TONE[c] * i) / RATE) : 0.001 * Math.sin(i);
  });
  return x;
}

let e: Engine, model: Model, tok: CharTokenizer, dir: string, runDir: string, wav: string, samples: Float32Array;
let steps = 0;

beforeAll(async () => {
  e = await engine();
  dir = mkdtempSync(join(tmpdir(), "todm-eval-"));
  runDir = join(dir, "run");
  mkdirSync(runDir);
  samples = speak(TEXT);
  wav = join(dir, "utt.wav");
  writeFileSync(wav, writeWav([samples], RATE));
  samples = Float32Array.from(samples, (v) => Math.round(v * 32767) / 32768); // what the 16-bit file holds
  tok = trainChar([TEXT]);
  model = new Model(e, TINY);
  model.params.init(1);
  // Feature normalisation from the utterance itself (training measures it over the training set).
  const f = fbank(e, samples, RATE, { numMelBins: TINY.featDim });
  const F = TINY.featDim, mean = new Float64Array(F), sq = new Float64Array(F);
  for (let t = 0; t < f.frames; t++) for (let k = 0; k < F; k++) mean[k] += f.data[t * F + k] / f.frames;
  for (let t = 0; t < f.frames; t++) for (let k = 0; k < F; k++) sq[k] += (f.data[t * F + k] - mean[k]) ** 2 / f.frames;
  model.params.write("frontend.feat_mean", mean);
  model.params.write("frontend.feat_istd", sq.map((v) => 1 / Math.sqrt(v + 1e-3)));
  const batch = collate([{ id: 0, feats: f.data, frames: f.frames, bins: F, tokens: Int32Array.from(tok.encode(TEXT)) }]);
  const opt = new ScaledAdamRegion(e, { params: model.params.paramPtr, grads: model.params.gradPtr, tensors: model.params.trainable() }, { lr: 0.08, clippingScale: 2 });
  while (steps < 600 && !(steps % 10 === 0 && steps > 0 && tok.decode(model.decode(batch)[0].tokens) === TEXT)) {
    model.params.zeroGrad();
    model.trainStep(batch);
    opt.step();
    steps++;
  }
  saveModel(join(runDir, "model.safetensors"), model, tok);
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("evaluate and transcribe (library)", () => {
  it("the tiny model learnt its utterance: WER 0 greedy and beam 4; a wrong reference is scored by hand", async () => {
    expect(steps, "greedy decoding never reproduced the transcript in 600 steps").toBeLessThan(600);
    const utts = [{ audio: wav, text: "hi, ho!", duration: 1 }, { audio: wav, text: "HO HI HUM", duration: 1 }];
    for (const beam of [1, 4]) {
      const r = await evaluate(model, tok, utts, { beam });
      expect(r.perUtterance.map((u) => u.hyp)).toEqual([TEXT, TEXT]);
      // "HO HI HUM" -> "HI HO": delete HO, keep HI, substitute HUM by HO; 2 errors over 2 + 3 reference words.
      expect([r.sub, r.del, r.ins, r.words, r.errors]).toEqual([1, 1, 0, 5, 2]);
      expect(r.wer).toBeCloseTo(40, 10); // 2 / 5 exactly, up to float rounding
      expect(r.ci[0]).toBeLessThanOrEqual(r.wer);
      expect(r.ci[1]).toBeGreaterThanOrEqual(r.wer);
      expect(r.audioSeconds).toBeCloseTo(2, 10); // two 1 s files
      expect(r.rtf).toBeGreaterThan(0);
      expect(r.search).toBe(beam === 1 ? "greedy" : "beam 4");
    }
    // A file shorter than one 25 ms frame decodes to nothing: its words are deletions.
    const tiny = join(dir, "tiny.wav");
    writeFileSync(tiny, writeWav([new Float32Array(100)], RATE));
    const withTiny = await evaluate(model, tok, [{ audio: tiny, text: "A B", duration: 0.01 }, utts[0]]);
    expect(withTiny.perUtterance.map((u) => u.hyp)).toEqual(["", TEXT]);
    expect([withTiny.del, withTiny.words, withTiny.wer]).toEqual([2, 4, 50]);
    const alone = await evaluate(model, tok, [utts[0]]);
    expect([alone.wer, alone.ci[0], alone.ci[1]]).toEqual([0, 0, 0]);
  });

  it("an utterance decodes the same alone and padded inside a batch with a longer one", async () => {
    const short = samples.subarray(0, 3 * SEGMENT); // "HI " then cut
    const shortWav = join(dir, "short.wav");
    writeFileSync(shortWav, writeWav([short], RATE));
    const aloneText = transcribeSamples(model, tok, Float32Array.from(short)).text;
    const r = await evaluate(model, tok, [{ audio: shortWav, text: "x", duration: 0.6 }, { audio: wav, text: TEXT, duration: 1 }], { batchFrames: 1e6 });
    expect(r.perUtterance.map((u) => u.hyp)).toEqual([aloneText, TEXT].map((t) => t.trim()));
  });

  it("transcribeSamples cuts long audio into windows; token times rise and land in the right window", () => {
    const long = new Float32Array(3 * samples.length);
    for (let k = 0; k < 3; k++) long.set(samples, k * samples.length);
    const t = transcribeSamples(model, tok, long, { windowSeconds: 1 });
    expect(t.windows).toBe(3);
    expect(t.text).toBe(`${TEXT} ${TEXT} ${TEXT}`);
    expect(t.tokens.map((k) => k.symbol).join("")).toBe(TEXT.repeat(3));
    const one = transcribeSamples(model, tok, samples);
    t.tokens.forEach((k, i) => {
      if (i > 0) expect(k.time).toBeGreaterThanOrEqual(t.tokens[i - 1].time);
      // window w of 1 s holds tokens w*5 .. w*5+4, at the one-window times shifted by w seconds
      const w = Math.floor(i / TEXT.length);
      expect(k.time).toBeCloseTo(w + one.tokens[i % TEXT.length].time, 9);
    });
  });
});

describe("commands", () => {
  const cli = (args: string[]) => spawnSync("node", ["dist/cli.js", ...args], { encoding: "utf8" });

  it("todm transcribe prints <path>\\t<text>, and JSON lines with rising token times (node dist/cli.js)", () => {
    expect(existsSync("dist/cli.js"), "build first: npm run build").toBe(true);
    // The same tones written at 22.05 kHz in stereo: read, mixed down, resampled to 16 kHz.
    const r22 = 22050, seg22 = Math.round(0.2 * r22);
    const x22 = Float32Array.from({ length: TEXT.length * seg22 }, (_, i) => {
      const c = TEXT[Math.floor(i / seg22)], j = i % seg22;
      return TONE[c] ? 0.3 * Math.sin((2 * Math.PI * TONE[c] * j) / r22) : 0.001 * Math.sin(j);
    });
    const wav22 = join(dir, "utt-22k-stereo.wav");
    writeFileSync(wav22, writeWav([x22, x22], r22));
    const plain = execFileSync("node", ["dist/cli.js", "transcribe", "--model", runDir, wav, wav22], { encoding: "utf8" });
    expect(plain).toBe(`${wav}\t${TEXT}\n${wav22}\t${TEXT}\n`);
    const long = join(dir, "long.wav");
    writeFileSync(long, writeWav([Float32Array.from({ length: 2 * samples.length }, (_, i) => samples[i % samples.length])], RATE));
    const json = execFileSync("node", ["dist/cli.js", "transcribe", "--model", join(runDir, "model.safetensors"), "--json", "--window", "1", wav, long], { encoding: "utf8" });
    const lines = json.trim().split("\n").map((l) => JSON.parse(l));
    expect(lines.map((l) => [l.path, l.text])).toEqual([[wav, TEXT], [long, `${TEXT} ${TEXT}`]]);
    for (const l of lines) {
      expect(Object.keys(l).sort()).toEqual(["duration", "path", "text", "tokens"]);
      // windows are joined by a space that no token emitted: compare without spaces
      expect(l.tokens.map((k: { symbol: string }) => k.symbol).join("").replaceAll(" ", "")).toBe(l.text.replaceAll(" ", ""));
      for (const k of l.tokens) expect(Object.keys(k).sort()).toEqual(["id", "symbol", "time"]);
      const times = l.tokens.map((k: { time: number }) => k.time);
      times.forEach((x: number, i: number) => {
        expect(x).toBeGreaterThanOrEqual(i ? times[i - 1] : 0);
        expect(x).toBeLessThan(l.duration);
      });
    }
  });

  it("a truncated, foreign or missing model is refused with a message naming it", async () => {
    const good = readFileSync(join(runDir, "model.safetensors"));
    const cut = join(dir, "cut.safetensors");
    writeFileSync(cut, good.subarray(0, Math.floor(good.length / 2)));
    const r = cli(["transcribe", "--model", cut, wav]);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`${cut}: truncated`);
    const err: string[] = [];
    await expect(runTranscribe(e, [wav], { model: wav, err: (l) => err.push(l) })).rejects.toThrow(`${wav}: not a safetensors file`);
    expect(() => resolveModelPath(join(dir, "nope"))).toThrow(`${join(dir, "nope")}: no such file or directory`);
    expect(() => resolveModelPath(dir)).toThrow(`${dir}: a directory without model.safetensors`);
    expect(resolveModelPath(runDir)).toBe(join(runDir, "model.safetensors"));
  });

  it("eval skips and counts a corrupt audio file and a bad manifest line, writes the report; --strict stops", async () => {
    const bad = join(dir, "corrupt.wav");
    writeFileSync(bad, Buffer.from("RIFF\x10\x00\x00\x00WAVEjunkjunkjunk"));
    const manifest = join(dir, "test.jsonl");
    writeFileSync(manifest, [
      JSON.stringify({ audio_filepath: "utt.wav", duration: 1, text: "Hi ho." }),
      JSON.stringify({ audio_filepath: "corrupt.wav", duration: 1, text: "HI HO" }),
      "{not json",
    ].join("\n") + "\n");
    const log: string[] = [];
    const report = join(dir, "report.json");
    const rep = await runEval(e, { model: runDir, data: manifest, report, progress: false, log: (l) => log.push(l) });
    expect(rep.results.map((x) => [x.search, x.wer, x.utterances, x.words])).toEqual([["greedy", 0, 1, 2], ["beam 4", 0, 1, 2]]);
    expect(rep.skipped).toBe(2);
    expect(rep.skippedByKind).toEqual({ "bad-json": 1, "bad-header": 1 });
    const onDisk = JSON.parse(readFileSync(report, "utf8"));
    expect(onDisk).toEqual(JSON.parse(JSON.stringify(rep)));
    for (const x of onDisk.results) for (const k of ["wer", "ci", "sub", "del", "ins", "words", "rtf"]) expect(x).toHaveProperty(k);
    expect(log.some((l) => /^greedy\s+0\.00\s+\[0\.00, 0\.00\]/.test(l))).toBe(true);
    expect(log.some((l) => l.startsWith("skipped: 2"))).toBe(true);
    expect(log.some((l) => l.includes(`${bad}:`))).toBe(true);
    await expect(runEval(e, { model: runDir, data: manifest, strict: true, progress: false, log: () => {} })).rejects.toThrow(/test\.jsonl:3|corrupt\.wav/);
  });

  it("eval --lm: CER columns and the paired (beam 4 + LM) - (beam 4) interval, recomputed from the report's per-utterance counts", async () => {
    const manifest = join(dir, "pair.jsonl");
    writeFileSync(manifest, [
      JSON.stringify({ audio_filepath: "utt.wav", duration: 1, text: "Hi ho." }),
      JSON.stringify({ audio_filepath: "utt.wav", duration: 1, text: "HO HI HUM" }),
      JSON.stringify({ audio_filepath: "utt.wav", duration: 1, text: "HI" }),
    ].join("\n") + "\n");
    const lmFile = join(dir, "pair.tlm");
    writeFileSync(lmFile, encodeLm(estimateKneserNey(["HO HI", "HI HI HO"].map((t) => tok.encode(t)), { order: 3, vocab: tok.size }).tables, tok.toJSON()));
    const log: string[] = [];
    const rep = await runEval(e, { model: runDir, data: manifest, lm: lmFile, lmWeight: 0.7, seed: 2, progress: false, log: (l) => log.push(l) });
    expect(rep.results.map((r) => r.search)).toEqual(["greedy", "beam 4", "beam 4 + LM 0.7"]);
    // CER: the characters' edit distances of the printed hypotheses (charErrors, tested against brute force in wer.test.ts), pooled
    for (const [k, r] of rep.results.entries()) {
      const c = rep.hypotheses.map((h) => charErrors(h.ref, h.hyps[k].hyp));
      expect(r.charErrors).toBe(c.reduce((t, x) => t + x.errors, 0));
      expect(r.chars).toBe(5 + 9 + 2); // HI HO, HO HI HUM, HI (reference characters, spaces included)
      expect(r.cer).toBeCloseTo((100 * r.charErrors) / r.chars, 10);
    }
    expect(rep.results[1].charErrors).toBeGreaterThan(0); // HO HI HUM against HI HO
    const [p] = rep.paired!;
    expect([p.a, p.b, p.utterances]).toEqual(["beam 4 + LM 0.7", "beam 4", 3]);
    expect(p.wer).toBeCloseTo(rep.results[2].wer - rep.results[1].wer, 10);
    expect(p.cer).toBeCloseTo(rep.results[2].cer - rep.results[1].cer, 10);
    const counts = (k: number) => rep.hypotheses.map((h) => ({ errors: h.hyps[k].errors, words: scoringWords(h.ref).length }));
    expect(p.werCi).toEqual(pairedBootstrap(counts(2), counts(1), { seed: 2 }));
    expect(log.some((l) => /^paired, 3 utterances \(bootstrap 95%\): \(beam 4 \+ LM 0\.7\) - \(beam 4\): WER [+-]\d+\.\d\d points \[.*\] \(.*relative.*\); CER /.test(l))).toBe(true);
    expect(log.some((l) => /CER%/.test(l))).toBe(true);
    // --lm-only: no beam 4 without the LM; the same two searches' hypotheses, and the pair against greedy
    const only = await runEval(e, { model: runDir, data: manifest, lm: lmFile, lmWeight: 0.7, seed: 2, lmOnly: true, progress: false, log: () => {} });
    expect(only.results.map((r) => r.search)).toEqual(["greedy", "beam 4 + LM 0.7"]);
    expect(only.hypotheses.map((h) => h.hyps.map((x) => x.hyp))).toEqual(rep.hypotheses.map((h) => [h.hyps[0].hyp, h.hyps[2].hyp]));
    expect([only.paired![0].a, only.paired![0].b]).toEqual(["beam 4 + LM 0.7", "greedy"]);
    expect(only.paired![0].werCi).toEqual(pairedBootstrap(counts(2), counts(0), { seed: 2 }));
    await expect(runEval(e, { model: runDir, data: manifest, lmOnly: true, progress: false, log: () => {} })).rejects.toThrow(/--lm-only goes with --lm/);
    // without an LM: no paired line
    expect((await runEval(e, { model: runDir, data: manifest, progress: false, log: () => {} })).paired).toBeUndefined();
  });

  it("eval reads a LibriSpeech split directory and a subnet by name", async () => {
    const ch = join(dir, "libri", "19", "198");
    mkdirSync(ch, { recursive: true });
    writeFileSync(join(ch, "19-198-0000.wav"), readFileSync(wav));
    writeFileSync(join(ch, "19-198.trans.txt"), "19-198-0000 HI HO\n");
    const rep = await runEval(e, { model: runDir, data: join(dir, "libri"), beam: 1, subnet: "L2-ff12-h2", progress: false, log: () => {} });
    expect(rep.results.map((x) => [x.search, x.wer, x.words])).toEqual([["greedy", 0, 2]]);
    expect(rep.subnet).toBe("L2-ff12-h2");
    await expect(runEval(e, { model: runDir, data: join(dir, "libri"), subnet: "L3-ff12-h2", progress: false, log: () => {} })).rejects.toThrow(/not inside this model/);
    // A smaller subnet: the hypothesis is Model.decode's on that subnet, called directly on the features.
    const small = await runEval(e, { model: runDir, data: join(dir, "libri"), beam: 1, subnet: "L1-ff6-h2", progress: false, log: () => {} });
    const f = fbank(e, samples, RATE, { numMelBins: TINY.featDim });
    const direct = model.decode(collate([{ id: 0, feats: f.data, frames: f.frames, bins: f.bins, tokens: new Int32Array(0) }]), { layers: 1, ffDim: 6, heads: 2 });
    expect(small.subnet).toBe("L1-ff6-h2");
    expect(small.hypotheses[0].hyps[0].hyp).toBe(normalizeText(tok.decode(direct[0].tokens)));
  });

  it("average: the last N checkpoints' model tensors (as todm train writes them), mean in float64; optimizer tensors and other files ignored", () => {
    const ck = join(dir, "avgrun", "checkpoints");
    mkdirSync(ck, { recursive: true });
    const models = [1, 2, 3].map((seed) => {
      const m = new Model(e, TINY);
      m.params.init(seed);
      return m;
    });
    // Written by todm train's own checkpoint writer, with optimizer tensors and the run position.
    models.forEach((m, k) => {
      const pos = { step: 10 * (k + 1), epoch: 0, batchInEpoch: k, elapsedSec: k, bestWer: null, bestStep: null };
      saveCheckpoint(join(dir, "avgrun"), m, tok, { tensors: { exp_avg: new Float32Array(7).fill(k) }, json: { lr: 0.1 } }, pos, { seed: 1 }, 10);
    });
    writeFileSync(join(ck, "step-99.safetensors"), "not a checkpoint name"); // not 8 digits: ignored
    const out = join(dir, "avg.safetensors");
    const used = runAverage({ run: join(dir, "avgrun"), last: 2, out, log: () => {} });
    expect(used.map((f) => f.slice(-25))).toEqual(["step-00000020.safetensors", "step-00000030.safetensors"]);
    const avg = loadModel(e, out);
    for (const p of models[0].params.entries) {
      const a = models[1].params.read(p.name), b = models[2].params.read(p.name);
      // The same float64 sum and one rounding: exact.
      expect(Array.from(avg.model.params.read(p.name)), p.name).toEqual(Array.from(a, (v, i) => Math.fround((v + b[i]) / 2)));
    }
    expect(JSON.parse(avg.metadata["todm.averaged"])).toEqual({ n: 2, checkpoints: ["step-00000020.safetensors", "step-00000030.safetensors"], steps: [20, 30] });
    expect(avg.metadata["todm.train_config"]).toBe(JSON.stringify({ seed: 1 })); // kept from the newest checkpoint
    expect(avg.metadata["todm.checkpoint"]).toBeUndefined(); // a model file, not a checkpoint
    expect(() => loadCheckpoint(e, out)).toThrow(/not a checkpoint/);
    expect(() => runAverage({ run: join(dir, "avgrun"), last: 4, out, log: () => {} })).toThrow(/has 3 checkpoints/);
    // checkpoints of two different models are refused
    const other = new Model(e, { ...TINY, ffDim: 16 });
    other.params.init(4);
    writeFileSync(join(dir, "other.safetensors"), encodeModel(other, tok));
    expect(() => averageCheckpointFiles([join(ck, "step-00000010.safetensors"), join(dir, "other.safetensors")])).toThrow(/todm.config differs/);
  });
});

describe("readAudioWindows", () => {
  const collect = async (path: string, windowSeconds: number, readBytes?: number) => {
    const out: Float32Array[] = [];
    for await (const w of readAudioWindows(path, { windowSeconds, readBytes })) out.push(w);
    return out;
  };
  const concat = (ws: Float32Array[]) => {
    const all = new Float32Array(ws.reduce((s, w) => s + w.length, 0));
    let o = 0;
    for (const w of ws) { all.set(w, o); o += w.length; }
    return all;
  };
  const kindOf = async (p: Promise<unknown>) => p.then(() => "ok", (err) => (err instanceof DataError ? err.kind : `not a DataError: ${err}`));

  it("16 kHz WAV and FLAC: the windows, laid end to end, are readAudioAt's samples bit for bit", async () => {
    const long = join(dir, "long-24bit.wav");
    const r = (i: number) => Math.sin(i * 0.013) * 0.5 + Math.sin(i * 0.37) * 0.2;
    writeFileSync(long, writeWav([Float32Array.from({ length: 52_345 }, (_, i) => r(i)), Float32Array.from({ length: 52_345 }, (_, i) => -r(i))], RATE, { bits: 24 }));
    for (const [file, readBytes] of [[long, undefined], ["test/fixtures/tone-16k-mono.wav", undefined], ["test/fixtures/tone-16k-mono.flac", 700]] as const) {
      const whole = await readAudioAt(file, RATE);
      const ws = await collect(file, 0.1, readBytes);
      expect(ws.slice(0, -1).every((w) => w.length === 1600), file).toBe(true);
      expect(ws.at(-1)!.length).toBeLessThanOrEqual(1600);
      expect(concat(ws), file).toEqual(whole); // same decoder arithmetic on the same bytes: exact
    }
  });

  it("other rates: one window equals readAudioAt exactly; short windows differ only near their edges", async () => {
    for (const file of ["test/fixtures/tone-8k-stereo.wav", "test/fixtures/tone-8k-stereo.flac"]) {
      const whole = await readAudioAt(file, RATE);
      expect(concat(await collect(file, 100, 512)), file).toEqual(whole);
      const ws = await collect(file, 0.05, 512); // 400 samples at 8 kHz -> 800 at 16 kHz
      expect(concat(ws).length).toBe(whole.length);
      // Away from a window edge the sinc filter sees the same samples: only f32 summation order could
      // differ, and it does not (same taps, same order), so 1e-6 is a loose bound.
      const all = concat(ws);
      for (let i = 0; i < all.length; i++) {
        const edge = Math.min(i % 800, 800 - (i % 800));
        if (edge > 200 && i < all.length - 200) expect(Math.abs(all[i] - whole[i]), `${file}[${i}]`).toBeLessThan(1e-6);
      }
    }
  });

  it("bad files fail with the same DataError kind as readAudioAt", async () => {
    const wavBytes = readFileSync("test/fixtures/tone-16k-mono.wav"), flacBytes = readFileSync("test/fixtures/tone-16k-mono.flac");
    const cases: [string, Uint8Array][] = [
      ["cut.wav", wavBytes.subarray(0, 2000)], ["cut.flac", flacBytes.subarray(0, 1500)], ["head-only.wav", wavBytes.subarray(0, 30)],
      ["garbage.bin", new TextEncoder().encode("hello world, not audio")], ["empty.wav", new Uint8Array(0)],
    ];
    for (const [name, bytes] of cases) {
      const p = join(dir, name);
      writeFileSync(p, bytes);
      const want = await kindOf(readAudioAt(p, RATE));
      expect(want, name).not.toBe("ok");
      expect(await kindOf(collect(p, 0.1, 256)), name).toBe(want);
    }
    expect(await kindOf(collect(join(dir, "absent.wav"), 1))).toBe("missing-audio");
  });
});
