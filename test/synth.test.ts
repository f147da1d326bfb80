// The synthetic corpus: the plan's split rules checked by brute force over the shipped list (no
// sentence in two splits, test voices never in training, exact counts, seeded), the shipped list's
// license and size, the noise's SNR, and — where espeak-ng is installed — a tiny end-to-end run.

import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { readWav } from "../src/audio/wav.js";
import { readManifest } from "../src/data/manifest.js";
import { normalizeText } from "../src/data/normalize.js";
import { addNoise, DEFAULT_TEXT, planSynthesis, readSentences, SPLITS, synthesize, voiceSplits } from "../src/data/synth.js";
import { trainChar } from "../src/data/tokenizer.js";

const sentences = readSentences(DEFAULT_TEXT);

describe("the shipped text list", () => {
  it("is CC0 with its license beside it, under 600 KB, distinct after normalisation, without digits", () => {
    expect(readFileSync(join(DEFAULT_TEXT, "..", "LICENSE"), "utf8")).toMatch(/^CC0 1.0 Universal/);
    expect(statSync(DEFAULT_TEXT).size).toBeLessThan(600_000);
    const lines = readFileSync(DEFAULT_TEXT, "utf8").trim().split("\n");
    expect(sentences.length).toBe(lines.length);
    expect(new Set(sentences.map((s) => s.text)).size).toBe(sentences.length);
    expect(sentences.every((s) => /^[A-Z' ]+$/.test(s.text))).toBe(true);
  });
});

describe("planSynthesis", () => {
  it("never shares a sentence between splits, keeps test and valid voices out of training, and is seeded", () => {
    for (const seed of [1, 2, 77]) {
      const plan = planSynthesis(sentences, { seed });
      expect(plan.length).toBe(sentences.length);
      const textsOf = (s: string) => new Set(plan.filter((p) => p.split === s).map((p) => p.text));
      const voicesOf = (s: string) => new Set(plan.filter((p) => p.split === s).map((p) => p.voice));
      for (const [a, b] of [["train", "valid"], ["train", "test"], ["valid", "test"]]) {
        const [ta, tb, va, vb] = [textsOf(a), textsOf(b), voicesOf(a), voicesOf(b)];
        expect([...ta].filter((t) => tb.has(t))).toEqual([]);
        expect([...va].filter((v) => vb.has(v))).toEqual([]);
      }
      // Every train voice comes from the training pool; the held-out pools are 10% of the combinations each.
      const pools = voiceSplits(seed);
      expect(pools.test.length).toBe(pools.valid.length);
      for (const s of SPLITS) expect([...voicesOf(s)].filter((v) => !pools[s].includes(v))).toEqual([]);
      expect(JSON.stringify(planSynthesis(sentences, { seed }))).toBe(JSON.stringify(plan));
      const bad = plan.filter((p) => p.speed < 130 || p.speed > 200 || p.pitch < 25 || p.pitch > 75 || p.text !== normalizeText(p.spoken));
      expect(bad).toEqual([]);
    }
    // The splits of a sentence do not depend on the seed.
    const a = planSynthesis(sentences, { seed: 1 }), b = planSynthesis(sentences, { seed: 2 });
    const split = new Map(a.map((p) => [p.text, p.split]));
    expect(b.filter((p) => split.get(p.text) !== p.split)).toEqual([]);
  });

  it("hands out exactly N utterances, repeating sentences with other voices when N exceeds them", () => {
    for (const n of [1, 7, 100, 13000]) {
      const plan = planSynthesis(sentences, { utterances: n, seed: 3 });
      expect(plan.length).toBe(n);
      expect(new Set(plan.map((p) => p.id)).size).toBe(n);
    }
    const big = planSynthesis(sentences.slice(0, 300), { utterances: 1000, seed: 3, noise: true });
    expect(big.filter((p) => p.split === "test").length).toBeGreaterThan(0);
    expect(big.every((p) => p.snr !== null && p.snr >= 15 && p.snr <= 30)).toBe(true);
  });

  it("adds noise at the requested SNR", () => {
    const x = Float32Array.from({ length: 32000 }, (_, i) => 0.3 * Math.sin(i / 7));
    const y = x.slice();
    addNoise(y, 20, 9);
    let ps = 0, pn = 0;
    for (let i = 0; i < x.length; i++) {
      ps += x[i] * x[i];
      pn += (y[i] - x[i]) ** 2;
    }
    // 32,000 Gaussian samples: the measured noise power is within ~2% (0.1 dB) of its target.
    expect(10 * Math.log10(ps / pn)).toBeCloseTo(20, 0);
  });
});

const hasEspeak = spawnSync("espeak-ng", ["--version"]).status === 0;

describe.skipIf(!hasEspeak)("synthesize with espeak-ng", () => {
  it("writes 16 kHz mono WAVs whose durations match the manifests, and a tokenizable corpus", async () => {
    const out = mkdtempSync(join(tmpdir(), "todm-synth-"));
    const r = await synthesize({ out, corpus: "v1", utterances: 16, seed: 5, log: () => {}, progress: false });
    expect(r.counts.train! + r.counts.valid! + r.counts.test!).toBe(16);
    const tok = trainChar(sentences.map((s) => s.text));
    for (const s of SPLITS) {
      for (const e of readManifest(r.manifests[s]!)) {
        const w = readWav(readFileSync(e.audio), e.audio);
        expect([w.sampleRate, w.channels]).toEqual([16000, 1]);
        // The manifest rounds durations to 0.1 ms.
        expect(Math.abs(w.samples.length / 16000 - e.duration)).toBeLessThan(1e-4);
        // Speech of a few words: longer than 0.3 s and not silent.
        expect(e.duration).toBeGreaterThan(0.3);
        expect(Math.max(...w.samples.map(Math.abs))).toBeGreaterThan(0.05);
        expect(tok.decode(tok.encode(e.text))).toBe(e.text);
      }
    }
    expect(existsSync(join(out, "synth.json"))).toBe(true);
  });
});
