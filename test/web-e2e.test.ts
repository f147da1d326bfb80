// The demo page end to end in headless Chromium: a tiny model is trained here until it transcribes
// its training utterance (test/overfit.ts), `todm serve` serves the built package, and the page is
// driven as a user drives it (model file, then WAV file, through the file inputs; then the fake
// microphone playing the same file). Ground truth: `todm transcribe` (runTranscribe, the training
// engine) on the same WAV file; the text it gives must also be the training sentence, so an empty
// or wrong page transcript cannot pass. With an LM: the page's stream against todm transcribe with the
// same LM and weight.
// Needs `npm run build` (the server serves dist/ and wasm/) and Chromium (`apt-get install
// chromium`, or $CHROMIUM); without Chromium the suite is skipped with a message.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { findChromium, launchChromium, runDemo, runMicrophone, CHROMIUM_PATHS } from "../bench/web_driver.js";
import { PACKAGE_ROOT, startServer, type RunningServer } from "../src/commands/serve.js";
import { runTranscribe } from "../src/commands/transcribe.js";
import { writeWav } from "../src/audio/wav.js";
import { engine } from "./helpers.js";
import { encodeSafetensors, readSafetensors } from "../src/io/safetensors.js";
import { tokenizerFromJSON } from "../src/data/tokenizer.js";
import { estimateKneserNey } from "../src/lm/estimate.js";
import { encodeLm } from "../src/lm/format.js";
import { OVERFIT_TEXT, overfitTinyModel, speakTones, type Overfitted } from "./overfit.js";

const CHROMIUM = findChromium();
if (!CHROMIUM) {
  const looked = process.env.CHROMIUM ? `$CHROMIUM=${process.env.CHROMIUM} does not exist` : `looked at ${CHROMIUM_PATHS.join(", ")}; or set $CHROMIUM`;
  console.warn(`web-e2e: SKIPPED: no Chromium found (${looked}); install it with apt-get install chromium (.ci/run does so when root)`);
}

describe.skipIf(!CHROMIUM)("the demo page in headless Chromium", () => {
  let dir: string, srv: RunningServer, browser: Browser, tiny: Overfitted, bidi: Overfitted, wav22k: string;

  /** `todm transcribe` (the CLI's function, on the training engine) of one file. */
  async function cliTranscript(model: string, wav: string, subnet?: string, lm?: { lm: string; lmWeight: number }): Promise<string> {
    const lines: string[] = [];
    const failed = await runTranscribe(await engine(), [wav], { model, subnet, out: (l) => lines.push(l), ...lm });
    expect(failed).toBe(0);
    return lines[0].split("\t")[1];
  }

  beforeAll(async () => {
    for (const f of ["dist/infer/index.js", "dist/audio/wav.js", "wasm/todm-infer-simd.wasm", "wasm/todm-infer-relaxed.wasm"]) {
      if (!existsSync(join(PACKAGE_ROOT, f))) throw new Error(`web-e2e: ${f} is missing; run npm run build first`);
    }
    dir = mkdtempSync(join(tmpdir(), "todm-web-"));
    const t0 = Date.now();
    tiny = overfitTinyModel(await engine(), dir, { causal: true, name: "causal" });
    bidi = overfitTinyModel(await engine(), dir, { causal: false, name: "bidirectional" });
    console.log(`web-e2e: trained the causal model in ${tiny.steps} steps and the bidirectional one in ${bidi.steps}, ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    // The same sentence at 22,050 Hz (espeak-ng's rate): the page resamples it as todm transcribe does.
    wav22k = join(dir, "utt-22050.wav");
    writeFileSync(wav22k, writeWav([speakTones(OVERFIT_TEXT, 22050)], 22050));
    srv = await startServer({ port: 0 });
    browser = await launchChromium(CHROMIUM!, { fakeMicrophone: tiny.wavFile });
  }, 180_000); // two tiny trainings and a browser launch; vitest's default hook timeout is 10 s

  afterAll(async () => {
    await browser?.close();
    await srv?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("todm transcribe gives the training sentence (the models learnt it)", async () => {
    for (const m of [tiny, bidi]) {
      expect(m.learnt, `greedy search gave "${m.learnt}" after ${m.steps} steps`).toBe(OVERFIT_TEXT);
      expect(await cliTranscript(m.modelFile, m.wavFile)).toBe(OVERFIT_TEXT);
    }
  });

  it("a WAV file chosen in the page streams to the same transcript as todm transcribe", async () => {
    const expected = await cliTranscript(tiny.modelFile, tiny.wavFile);
    expect(expected).toBe(OVERFIT_TEXT); // not empty: the comparison below means something
    const run = await runDemo(browser, `${srv.url}web/`, tiny.modelFile, tiny.wavFile);
    console.log(`web-e2e: ${run.build}, final "${run.final}", partials ${JSON.stringify(run.partials)}, load ${run.loadMs.toFixed(0)} ms, RTF ${run.rtf.toFixed(4)}`);
    expect(run.pageErrors).toEqual([]);
    expect(run.mode).toBe("stream"); // the tiny model is causal
    expect(run.final).toBe(expected);
    expect(run.shownFinal).toBe(expected);
    expect(run.build).toBe("relaxed-simd"); // Chromium has relaxed SIMD: the page must pick it
    expect(run.audioSeconds).toBeCloseTo(OVERFIT_TEXT.length * 0.2, 6); // 0.2 s per character
    // Partials appeared while the audio came in: more than one distinct text, the last non-empty one
    // before finish() a non-empty prefix of the final (greedy search never takes a token back).
    const shown = run.partials.filter((p) => p.length > 0);
    expect(shown.length).toBeGreaterThanOrEqual(2);
    for (const p of shown) expect(expected.startsWith(p.trimEnd()), `partial "${p}"`).toBe(true);
    expect(run.rtf).toBeGreaterThan(0);
  });

  it("plain SIMD (?build=simd) and a 22,050 Hz file give todm transcribe's text too", async () => {
    const simd = await runDemo(browser, `${srv.url}web/?build=simd`, tiny.modelFile, tiny.wavFile);
    expect([simd.build, simd.final, simd.pageErrors]).toEqual(["simd", OVERFIT_TEXT, []]);
    const expected = await cliTranscript(tiny.modelFile, wav22k);
    expect(expected.length).toBeGreaterThan(0);
    const run = await runDemo(browser, `${srv.url}web/`, tiny.modelFile, wav22k);
    console.log(`web-e2e 22050 Hz: page "${run.final}", todm transcribe "${expected}"`);
    expect([run.mode, run.final, run.pageErrors]).toEqual(["stream", expected, []]);
  });

  it("?subnet= runs a subnet of the file, as todm transcribe --subnet does", async () => {
    const sub = "L1-ff8-h2"; // the first block of two, a leading slice of the feed-forward width
    const expected = await cliTranscript(tiny.modelFile, tiny.wavFile, sub);
    const run = await runDemo(browser, `${srv.url}web/?subnet=${sub}`, tiny.modelFile, tiny.wavFile);
    console.log(`web-e2e subnet ${sub}: page "${run.final}", todm transcribe "${expected}"`);
    expect([run.final, run.pageErrors]).toEqual([expected, []]);
    expect(run.final).not.toBe(OVERFIT_TEXT); // half the model does not know the sentence: the subnet really ran
  });

  it("with an LM chosen in the page (the model's todm.lm weight), the stream gives todm transcribe --lm's text", async () => {
    // An LM of other sentences at a high weight, so it pulls the transcript away from the training sentence;
    // the weight comes from the model's todm.lm metadata, as todm export writes it.
    const tok = tokenizerFromJSON(JSON.parse(readSafetensors(tiny.modelFile).metadata["todm.tokenizer"]));
    const texts = ["OH HI", "HO HO HO", "OH OH", "IH OH"]; // the sentence's characters in other orders
    const lmFile = join(dir, "other.lm.tlm"), modelWithLm = join(dir, "with-lm.safetensors");
    writeFileSync(lmFile, encodeLm(estimateKneserNey(texts.map((t) => tok.encode(t)), { order: 3, vocab: tok.size }).tables, tok.toJSON()));
    const st = readSafetensors(tiny.modelFile);
    writeFileSync(modelWithLm, encodeSafetensors([...st.tensors.values()], { ...st.metadata, "todm.lm": JSON.stringify({ file: "other.lm.tlm", weight: 2 }) }));
    const expected = await cliTranscript(modelWithLm, tiny.wavFile); // the model's own LM, by default
    expect(expected).toBe(await cliTranscript(tiny.modelFile, tiny.wavFile, undefined, { lm: lmFile, lmWeight: 2 }));
    expect(expected).not.toBe(OVERFIT_TEXT); // the LM changes this transcript: equality below says the page used it
    const run = await runDemo(browser, `${srv.url}web/`, modelWithLm, tiny.wavFile, { lmFile });
    console.log(`web-e2e LM: page "${run.final}", todm transcribe --lm "${expected}", without the LM "${OVERFIT_TEXT}"`);
    expect(run.pageErrors).toEqual([]);
    expect(run.lm).toEqual({ name: "other.lm.tlm", order: 3, weight: 2 });
    expect([run.mode, run.final, run.shownFinal]).toEqual(["stream", expected, expected]);
  });

  it("todm serve --model serves the model and its LM sidecar; the page loads both by itself", async () => {
    const withLm = await startServer({ port: 0, model: join(dir, "with-lm.safetensors") });
    try {
      expect(withLm.modelPaths).toEqual(["/model/with-lm.safetensors", "/model/other.lm.tlm"]);
      const root = await fetch(withLm.url, { redirect: "manual" });
      expect(root.headers.get("location")).toBe(`/web/?model=${encodeURIComponent("/model/with-lm.safetensors")}`);
      expect(new Uint8Array(await (await fetch(`${withLm.url}model/other.lm.tlm`)).arrayBuffer())).toEqual(new Uint8Array(readFileSync(join(dir, "other.lm.tlm"))));
      const expected = await cliTranscript(join(dir, "with-lm.safetensors"), tiny.wavFile);
      const run = await runDemo(browser, `${withLm.url}web/?model=${encodeURIComponent("/model/with-lm.safetensors")}`, "", tiny.wavFile, { modelFromPage: true });
      expect(run.pageErrors).toEqual([]);
      expect(run.lm).toEqual({ name: "other.lm.tlm", order: 3, weight: 2 });
      expect(run.final).toBe(expected);
    } finally {
      await withLm.close();
    }
  });

  it("a non-causal model is transcribed whole (no partials) to todm transcribe's text", async () => {
    const expected = await cliTranscript(bidi.modelFile, bidi.wavFile);
    const run = await runDemo(browser, `${srv.url}web/`, bidi.modelFile, bidi.wavFile);
    expect([run.mode, run.final, run.shownFinal, run.partials, run.pageErrors]).toEqual(["whole", expected, expected, [], []]);
  });

  it("the microphone (Chromium's fake device playing the same file) streams partials and a final", async () => {
    const seconds = OVERFIT_TEXT.length * 0.2 + 0.5; // the file, then some silence
    const run = await runMicrophone(browser, `${srv.url}web/`, tiny.modelFile, seconds);
    console.log(`web-e2e microphone: final "${run.final}", partials ${JSON.stringify(run.partials)}, ${run.audioSeconds.toFixed(2)} s`);
    expect(run.pageErrors).toEqual([]);
    expect(run.mode).toBe("stream");
    expect(run.audioSeconds).toBeGreaterThanOrEqual(seconds);
    // Live audio through the browser's resampler (the fake device's rate -> the 16 kHz AudioContext),
    // whose start is not aligned to the file: not sample-exact, so no equality with todm transcribe.
    // The tones are 0.2 s long, though: the text must be a non-empty piece of the sentence.
    expect(run.final.trim().length).toBeGreaterThan(0);
    expect(OVERFIT_TEXT).toContain(run.final.trim());
    expect(run.partials.length).toBeGreaterThanOrEqual(2);
    expect(run.shownFinal).toBe(run.final);
  });
});
