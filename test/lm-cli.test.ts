// `todm lm`, and `--lm` in `todm eval` / `todm transcribe`, as a user runs them: on the tiny generated
// corpus and a tiny model trained for two steps (its tokenizer is what matters). Checks the command's
// report (skipped lines counted), the ARPA round trip through files, the tokenizer-mismatch error, and
// that eval with --tune-lm prints the table and scores a third search.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { CharTokenizer } from "../src/data/tokenizer.js";
import { buildRunLm } from "../src/lm/build.js";
import { decodeLm } from "../src/lm/format.js";
import { makeCorpus } from "./corpus.js";

const CLI = new URL("../dist/cli.js", import.meta.url).pathname;
const TINY = [
  "model.featDim=80", "model.subsampleChannels=4", "model.dModel=16", "model.layers=2", "model.ffDim=32", "model.heads=2",
  "model.stateSize=4", "model.predictorDim=16", "model.joinerDim=16", "data.tokenizer=\"char\"", "batch.maxFrames=800",
  "train.validEvery=4", "train.checkpointEvery=2", "train.loaderWorkers=0",
];
const env = { ...process.env, CI: "true" };
const todm = (...args: string[]) => execFileSync("node", [CLI, ...args], { encoding: "utf8", env, stdio: "pipe" });
const todmFails = (...args: string[]): string => {
  try {
    todm(...args);
  } catch (e) {
    return String((e as { stderr: string }).stderr);
  }
  throw new Error(`todm ${args.join(" ")} did not fail`);
};

describe("todm lm and --lm", () => {
  it("builds an LM over a model's tokenizer, converts it to ARPA and back, and decodes with it", () => {
    const dir = mkdtempSync(join(tmpdir(), "todm-lm-"));
    const corpus = makeCorpus(dir), run = join(dir, "run");
    todm("train", "--out", run, "--train", corpus.train, "--valid", corpus.valid, "--steps", "2", "--seed", "3",
      ...[...TINY, `data.cacheDir=${JSON.stringify(join(dir, "cache"))}`].flatMap((s) => ["--set", s]));
    const text = join(dir, "text.txt");
    writeFileSync(text, "one two\nthree four five\nzero\n\nsix one\n"); // ZERO has Z: outside the tokenizer
    const out = todm("lm", "--text", text, corpus.train, "--model", run, "--order", "3", "--out", join(dir, "lm.tlm"), "--arpa", join(dir, "lm.arpa"));
    expect(out).toMatch(/text: \d+ lines of 2 file\(s\): \d+ sentences, \d+ empty, 1 skipped \(characters outside the tokenizer; first: .*text\.txt:3: 'Z' \(U\+005A\)\)/);
    expect(out).toMatch(/memory: peak RSS \d+ MiB/);
    const lm = decodeLm(new Uint8Array(readFileSync(join(dir, "lm.tlm"))), "lm.tlm");
    expect(lm.header.order).toBe(3);
    todm("lm", "--from-arpa", join(dir, "lm.arpa"), "--model", run, "--out", join(dir, "back.tlm"));
    expect(decodeLm(new Uint8Array(readFileSync(join(dir, "back.tlm")))).tables).toEqual(lm.tables);
    todm("lm", "--lm", join(dir, "back.tlm"), "--arpa", join(dir, "again.arpa"));
    expect(readFileSync(join(dir, "again.arpa"), "utf8")).toBe(readFileSync(join(dir, "lm.arpa"), "utf8"));

    const ev = todm("eval", "--model", run, "--data", corpus.valid, "--beam", "2", "--lm", join(dir, "lm.tlm"), "--tune-lm", corpus.valid, "--lm-grid", "0.2,0.5");
    expect(ev).toMatch(/LM weight on .*valid\.jsonl \(4 utterances, beam 2\):/);
    expect(ev).toMatch(/\n0 +\d+\.\d+ +\[/);
    expect(ev).toMatch(/<- chosen/);
    expect(ev).toMatch(/\nbeam 2 \+ LM 0\.[25] +\d+\.\d+/);
    todm("lm", "--text", corpus.train, "--model", run, "--order", "2", "--out", join(dir, "bigram.tlm"));
    const lodr = todm("eval", "--model", run, "--data", corpus.valid, "--beam", "2", "--lm", join(dir, "lm.tlm"), "--lm-weight", "0.5", "--lodr", join(dir, "bigram.tlm"), "--lodr-weight", "0.2");
    expect(lodr).toMatch(/LM: .*lm\.tlm \(order 3\), weight 0\.5; LODR .*bigram\.tlm \(order 2\) weight 0\.2/);
    expect(lodr).toMatch(/\nbeam 2 \+ LM 0\.5 - LODR 0\.2 +\d+\.\d+/);
    const tr = todm("transcribe", "--model", run, "--lm", join(dir, "lm.tlm"), "--lm-weight", "0.5", "--beam", "2", join(dir, "audio", "valid0.wav"));
    expect(tr).toMatch(/valid0\.wav\t/);

    // An LM of another tokenizer, a truncated LM file, a malformed ARPA line: one-line errors.
    const other = buildRunLm(["A B"], new CharTokenizer(["<blank>", " ", "A", "B"]), { order: 2 }).bytes;
    writeFileSync(join(dir, "other.tlm"), other);
    expect(todmFails("transcribe", "--model", run, "--lm", join(dir, "other.tlm"), join(dir, "audio", "valid0.wav")))
      .toMatch(/^todm: .*other\.tlm: built for a different tokenizer \(char tokenizer of 4 symbols\) than the model's \(char tokenizer of \d+ symbols\) \(build the LM with todm lm --model MODEL\)\n$/);
    const full = readFileSync(join(dir, "lm.tlm"));
    writeFileSync(join(dir, "cut.tlm"), full.subarray(0, full.length - 10));
    expect(todmFails("eval", "--model", run, "--data", corpus.valid, "--lm", join(dir, "cut.tlm"))).toMatch(new RegExp(`^todm: .*cut\\.tlm: truncated: ${full.length - 10} bytes, the header's counts need ${full.length}\n$`));
    const arpa = readFileSync(join(dir, "lm.arpa"), "utf8").split("\n");
    const bad = arpa.findIndex((l) => l === "\\2-grams:") + 2;
    arpa[bad - 1] = "-0.3 x y z w"; // five fields
    writeFileSync(join(dir, "bad.arpa"), arpa.join("\n"));
    expect(todmFails("lm", "--from-arpa", join(dir, "bad.arpa"), "--model", run, "--out", join(dir, "x.tlm"))).toMatch(new RegExp(`^todm: .*bad\\.arpa line ${bad}: a 2-gram line needs .*\\n$`));
  }, 240_000);
});
