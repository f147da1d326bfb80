// The LM a training run builds at its end (src/train/lm.ts, finish.ts). For the default corpus (the v2
// plan of src/data/corpus_plan.ts, spoken into manifests here without audio): the LM's text holds no
// valid, test (yardstick) or flite-heldout sentence, with the held-out set computed here from the plan and
// the yardstick's TSV, not by the run's filter. And a tiny Supernet run end to end (`todm train` as a
// user runs it): RUN_DIR/subnets/lm.tlm over the model's tokenizer, built from the training sentences
// that are not validation sentences (counted here from the manifests), its tuned W in every exported
// subnet's metadata, where `todm transcribe --model SUBNET` and `todm export --run` find it, also after
// the run is resumed past its end.
// The CLI case runs `node dist/cli.js` (build first: `npm run build`).
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { corpusCacheDir, planCorpusV2, TEXT_V2, YARDSTICK_V1 } from "../src/data/corpus_plan.js";
import { readSentences } from "../src/data/synth.js";
import { decodeLm } from "../src/lm/format.js";
import { NgramLm } from "../src/lm/ngram.js";
import { parseModelMetadata } from "../src/model/metadata.js";
import { readSafetensors } from "../src/io/safetensors.js";
import { resolveLm } from "../src/commands/transcribe.js";
import { DEFAULT_TRAIN } from "../src/train/config.js";
import { runExport, runLm } from "../src/train/export.js";
import { runLmText } from "../src/train/lm.js";
import { makeCorpus } from "./corpus.js";

const CLI = new URL("../dist/cli.js", import.meta.url).pathname;

describe("the run's LM text", () => {
  it("for the default corpus (v2 plan, seed 1) holds no valid, yardstick or flite-heldout sentence, and every other training sentence", () => {
    const dir = mkdtempSync(join(tmpdir(), "todm-runlm-plan-"));
    const items = planCorpusV2(readSentences(TEXT_V2), { seed: 1, flite: true });
    const corpus = corpusCacheDir(dir, "v2");
    mkdirSync(corpus, { recursive: true });
    const splits = ["train", "valid", "test", "flite-heldout"];
    for (const s of splits) {
      const lines = items.filter((x) => x.split === s).map((x, i) => JSON.stringify({ audio_filepath: `audio/${s}/${i}.wav`, duration: 1, text: x.text }));
      writeFileSync(join(corpus, `${s}.jsonl`), lines.join("\n") + "\n");
    }
    // the held-out sentences, from the plan and the yardstick's TSV (its last column)
    const yardstick = readFileSync(YARDSTICK_V1, "utf8").split("\n").slice(1).filter(Boolean).map((l) => l.split("\t").at(-1)!);
    const banned = new Set([...items.filter((x) => x.split !== "train").map((x) => x.text), ...yardstick]);
    const count = (s: string) => items.filter((x) => x.split === s).length;
    expect([count("test"), count("flite-heldout"), yardstick.length]).toEqual([353, 400, 353]);
    expect(count("valid")).toBeGreaterThan(1000);
    const trainTexts = items.filter((x) => x.split === "train").map((x) => x.text);
    const keep = trainTexts.filter((t) => !banned.has(t));
    expect(keep.length).toBeGreaterThan(35000);

    const { texts, dropped } = runLmText({ ...DEFAULT_TRAIN, data: { ...DEFAULT_TRAIN.data, cacheDir: dir } });
    expect(texts.filter((t) => banned.has(t))).toEqual([]);
    expect(texts).toEqual(keep); // nothing else is left out, in manifest order
    expect(dropped).toBe(trainTexts.length - keep.length);
  });
});

describe("a training run's end", () => {
  it("a tiny Supernet run writes subnets/lm.tlm over the model's tokenizer, tunes W and records it in every exported subnet", () => {
    const dir = mkdtempSync(join(tmpdir(), "todm-runlm-"));
    const corpus = makeCorpus(dir);
    const run = join(dir, "run");
    const sets = [
      "model.featDim=80", "model.subsampleChannels=4", "model.dModel=16", "model.layers=2", "model.ffDim=32", "model.heads=4", "model.stateSize=4",
      "model.predictorDim=16", "model.joinerDim=16", 'data.tokenizer="char"', "batch.maxFrames=800", "train.loaderWorkers=0", "train.validEvery=0",
      "supernet.enabled=true", "supernet.layers=[1,2]", "supernet.ffDims=[8,32]", "supernet.heads=[2,4]", "supernet.export=[\"L2-ff32-h4\",\"L1-ff8-h2\"]",
      `data.cacheDir=${JSON.stringify(join(dir, "cache"))}`, "lm.order=3", "lm.grid=[0.2,0.6]",
    ];
    const out = execFileSync("node", [CLI, "train", "--out", run, "--train", corpus.train, "--valid", corpus.valid, "--steps", "2", "--threads", "1", ...sets.flatMap((s) => ["--set", s])],
      { encoding: "utf8", env: { ...process.env, CI: "true" } });
    expect(out).toMatch(/LM .*subnets\/lm\.tlm: order 3 over the char tokenizer/);
    expect(out).toMatch(/LM weight tuned on 4 validation utterances \(beam 4\): 0 -> .*chosen/);

    const modelTok = parseModelMetadata(readSafetensors(join(run, "model.safetensors")), "model").tokenizer;
    const lmPath = join(run, "subnets", "lm.tlm"), lmBytes = readFileSync(lmPath);
    const { header } = decodeLm(lmBytes, lmPath);
    expect(header.tokenizer).toEqual(modelTok.toJSON());
    expect(header.order).toBe(3);
    expect(NgramLm.fromBytes(lmBytes, lmPath, modelTok).order).toBe(3); // the reader's own tokenizer check passes
    // its sentences: the training lines whose text is no validation text (the tiny corpus repeats sentences)
    const texts = (f: string) => readFileSync(f, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l).text as string);
    const valid = new Set(texts(corpus.valid));
    const kept = texts(corpus.train).filter((t) => !valid.has(t));
    expect(kept.length).toBeLessThan(texts(corpus.train).length); // the check has something to catch
    expect(header.info).toMatchObject({ sentences: kept.length, heldOutDropped: texts(corpus.train).length - kept.length });

    const lmLine = readFileSync(join(run, "log.jsonl"), "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l)).find((r) => r.type === "lm");
    expect(lmLine.table.map((r: { weight: number }) => r.weight)).toEqual([0, 0.2, 0.6]);
    const W = lmLine.weight;
    expect([0.2, 0.6]).toContain(W);
    // every exported subnet names the shared LM with W; no per-subnet copies
    const exported = readdirSync(join(run, "subnets")).filter((f) => f.endsWith(".safetensors")).sort();
    expect(exported).toEqual(["L1-ff8-h2.safetensors", "L2-ff32-h4.safetensors"]);
    expect(readdirSync(join(run, "subnets")).filter((f) => f.endsWith(".tlm"))).toEqual(["lm.tlm"]);
    for (const f of exported) {
      const p = join(run, "subnets", f), meta = readSafetensors(p).metadata;
      expect(JSON.parse(meta["todm.lm"])).toEqual({ file: "lm.tlm", weight: W });
      expect(resolveLm(p, meta, {})).toEqual({ path: lmPath, weight: W, endOfSentence: false }); // what todm transcribe --model SUBNET decodes with
    }
    // todm export --run finds it and carries it
    expect(runLm(run)).toEqual({ path: lmPath, weight: W });
    const r = runExport(undefined, { run, subnet: "L1-ff8-h2", out: join(dir, "small.safetensors"), log: () => {} });
    expect(r.lm?.weight).toBe(W);
    expect(readFileSync(join(dir, "small.lm.tlm"))).toEqual(lmBytes);
    // resumed after its end (from its last checkpoint): the end runs again, and the LM is found the same
    const again = execFileSync("node", [CLI, "train", "--resume", run, "--steps", "2", "--threads", "1", ...sets.flatMap((s) => ["--set", s])], { encoding: "utf8", env: { ...process.env, CI: "true" } });
    expect(again).toMatch(/resuming from .*step-00000002/);
    expect(again).toMatch(/LM weight tuned on 4 validation utterances/);
    expect(readFileSync(lmPath)).toEqual(lmBytes); // same text, same settings: the same file
    expect(runLm(run)?.path).toBe(lmPath);
    for (const f of exported) expect(JSON.parse(readSafetensors(join(run, "subnets", f)).metadata["todm.lm"]).file).toBe("lm.tlm");
  }, 600_000);

  it("a single model's run writes RUN/lm.tlm, named with W by RUN/model.safetensors; lm.enabled=false builds none", () => {
    const dir = mkdtempSync(join(tmpdir(), "todm-runlm1-"));
    const corpus = makeCorpus(dir);
    const base = [
      "model.featDim=80", "model.subsampleChannels=4", "model.dModel=16", "model.layers=2", "model.ffDim=32", "model.heads=2", "model.stateSize=4",
      "model.predictorDim=16", "model.joinerDim=16", 'data.tokenizer="char"', "batch.maxFrames=800", "train.loaderWorkers=0", "train.validEvery=0",
      "supernet.enabled=false", `data.cacheDir=${JSON.stringify(join(dir, "cache"))}`, "lm.order=2", "lm.grid=[0.3]",
    ];
    const train = (out: string, extra: string[]) => execFileSync("node", [CLI, "train", "--out", out, "--train", corpus.train, "--valid", corpus.valid, "--steps", "1", "--threads", "1",
      ...[...base, ...extra].flatMap((s) => ["--set", s])], { encoding: "utf8", env: { ...process.env, CI: "true" } });
    const run = join(dir, "single");
    train(run, []);
    const meta = readSafetensors(join(run, "model.safetensors")).metadata;
    expect(JSON.parse(meta["todm.lm"])).toEqual({ file: "lm.tlm", weight: 0.3 });
    expect(decodeLm(readFileSync(join(run, "lm.tlm"))).header.tokenizer).toEqual(parseModelMetadata(readSafetensors(join(run, "model.safetensors")), "m").tokenizer.toJSON());
    expect(resolveLm(join(run, "model.safetensors"), meta, {})).toEqual({ path: join(run, "lm.tlm"), weight: 0.3, endOfSentence: false });
    expect(runLm(run)).toEqual({ path: join(run, "lm.tlm"), weight: 0.3 });
    const off = join(dir, "off");
    train(off, ["lm.enabled=false"]);
    expect(readdirSync(off).filter((f) => f.endsWith(".tlm"))).toEqual([]);
    expect(readSafetensors(join(off, "model.safetensors")).metadata["todm.lm"]).toBeUndefined();
  }, 600_000);
});
