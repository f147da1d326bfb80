// Bad input to the corpus build, with fake engines (small shell scripts passed through TODM_ESPEAK and
// TODM_FLITE, so no real engine is needed): a sentence that crashes the engine, hangs it, or makes it
// print nothing; an engine that is missing or of an unexpected version; a disk that fills up (an
// injected writer that fails with ENOSPC). Each must give a clear message naming the sentence or the
// engine, skip and count, keep what was written, never leave a half-written manifest, and resume.

import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { writeWav } from "../src/audio/wav.js";
import { readManifest } from "../src/data/manifest.js";
import { checkWrittenWav, synthesize } from "../src/data/synth.js";

const dir = mkdtempSync(join(tmpdir(), "todm-bad-"));
// A 0.5 s tone at 22,050 Hz (espeak-ng's rate), so that the build resamples it as it does real output.
const tone = join(dir, "tone.wav");
writeFileSync(tone, writeWav([Float32Array.from({ length: 11025 }, (_, i) => 0.3 * Math.sin(i / 5))], 22050, { bits: 16 }));

/** A fake engine: answers --version with `version`, then for each call reads the text file and crashes, hangs or stays silent on the sentences that ask for it. */
function fakeEngine(name: string, version: string, textFlag: string, wavFlag: string): string {
  const path = join(dir, name);
  writeFileSync(path, `#!/bin/sh
case "$1" in --version) echo "${version}"; exit 0;; esac
while [ $# -gt 0 ]; do case "$1" in ${textFlag}) txt="$2"; shift;; ${wavFlag}) wav="$2"; shift;; esac; shift; done
if grep -q Crash "$txt"; then echo "segmentation fault in the fake" >&2; exit 139; fi
if grep -q Hang "$txt"; then exec sleep 60; fi
if grep -q Silent "$txt"; then exit 0; fi
cp "${tone}" "$wav"
`);
  chmodSync(path, 0o755);
  return path;
}

const saved = { espeak: process.env.TODM_ESPEAK, flite: process.env.TODM_FLITE };
afterEach(() => {
  for (const [k, v] of [["TODM_ESPEAK", saved.espeak], ["TODM_FLITE", saved.flite]] as const) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
});

const SENTENCES = [
  "The cat sat on the mat today.", "Please Crash on this sentence now.", "A bird flew over the old house.",
  "We will Hang right here for a while.", "The river ran fast after the rain.", "This one stays Silent in the fake.",
  "Green leaves fell from the tall tree.", "She opened the window to the street.", "He read the letter twice over.",
  "They walked home along the quiet road.",
];

function textFile(): string {
  const p = join(mkdtempSync(join(tmpdir(), "todm-bad-text-")), "s.txt");
  writeFileSync(p, SENTENCES.join("\n") + "\n");
  return p;
}

describe("sentences an engine cannot speak", () => {
  it("are skipped and counted with the engine, the sentence and the reason (crash, timeout, empty output); a rerun retries only them", async () => {
    process.env.TODM_ESPEAK = fakeEngine("espeak-fake", "eSpeak NG text-to-speech: 1.51  Data at: fake", "-f", "-w");
    const out = mkdtempSync(join(tmpdir(), "todm-bad-out-"));
    const lines: string[] = [];
    const t0 = Date.now();
    const r = await synthesize({ out, text: textFile(), jobs: 2, timeoutSec: 1, log: (l) => lines.push(l), progress: false });
    // The hung call is killed after 1 s (timeout's KILL follows 1 s later at worst), not after the fake's 60 s.
    expect(Date.now() - t0).toBeLessThan(20_000);
    const reasons = Object.fromEntries(r.failures.map((f) => [f.sentence, f.reason]));
    expect(Object.keys(reasons).sort()).toEqual([SENTENCES[1], SENTENCES[3], SENTENCES[5]].sort());
    expect(reasons[SENTENCES[1]]).toMatch(/crashed \(exit status 139\): segmentation fault in the fake/);
    expect(reasons[SENTENCES[3]]).toMatch(/timed out after 1 s/);
    expect(reasons[SENTENCES[5]]).toMatch(/empty output/);
    expect(r.failures.every((f) => f.engine === "espeak-ng")).toBe(true);
    // The log names the engine and the sentence of each skip, and counts them.
    for (const i of [1, 3, 5]) expect(lines.some((l) => l.includes("espeak-ng could not speak") && l.includes(SENTENCES[i]))).toBe(true);
    expect(lines.some((l) => /3 utterance\(s\) could not be spoken/.test(l))).toBe(true);
    // The manifests hold the other seven, and synth.json lists the failures.
    const spoken = Object.values(r.manifests).flatMap((m) => readManifest(m!));
    expect(spoken.length).toBe(7);
    expect(JSON.parse(readFileSync(join(out, "synth.json"), "utf8")).failures.length).toBe(3);
    // Run again: the seven are reused, the three retried (and fail again).
    const again = await synthesize({ out, text: textFile(), jobs: 2, timeoutSec: 1, log: () => {}, progress: false });
    expect([again.reused, again.failures.length]).toEqual([7, 3]);
  });
});

describe("engines missing or of an unexpected version", () => {
  it("refuses a missing espeak-ng with the install command, warns about an unexpected version, and builds v2 from espeak-ng alone without flite (one line)", async () => {
    process.env.TODM_ESPEAK = join(dir, "no-such-espeak");
    await expect(synthesize({ out: mkdtempSync(join(tmpdir(), "todm-bad-out-")), text: textFile(), log: () => {}, progress: false }))
      .rejects.toThrow(/synth needs espeak-ng .*apt-get install -y espeak-ng.*TODM_ESPEAK.*no-such-espeak/);

    process.env.TODM_ESPEAK = fakeEngine("espeak-old", "eSpeak NG text-to-speech: 1.49.2  Data at: fake", "-f", "-w");
    process.env.TODM_FLITE = join(dir, "no-such-flite");
    const lines: string[] = [];
    const r = await synthesize({ out: mkdtempSync(join(tmpdir(), "todm-bad-out-")), corpus: "v2", sizes: { train: 6, valid: 3, test: 2 }, log: (l) => lines.push(l), progress: false });
    expect(lines.filter((l) => /warning: espeak-ng at .* is "eSpeak NG text-to-speech: 1.49.2/.test(l)).length).toBe(1);
    expect(lines.filter((l) => /flite not found .*espeak-ng alone/.test(l)).length).toBe(1);
    expect(r.counts).toEqual({ train: 6, valid: 3, test: 2 });
    expect(Object.keys(r.engines)).toEqual(["espeak-ng"]);
  });

  it("drives a flite found through TODM_FLITE beside espeak-ng", async () => {
    process.env.TODM_ESPEAK = fakeEngine("espeak-fake2", "eSpeak NG text-to-speech: 1.51  Data at: fake", "-f", "-w");
    process.env.TODM_FLITE = fakeEngine("flite-fake", "  version: flite-2.2-current Sep 2018 (http://cmuflite.org)", "-f", "-o");
    const r = await synthesize({ out: mkdtempSync(join(tmpdir(), "todm-bad-out-")), corpus: "v2", sizes: { train: 8, valid: 2, "flite-heldout": 2, test: 1 }, log: () => {}, progress: false });
    expect(r.failures).toEqual([]);
    expect(r.counts["flite-heldout"]).toBe(2);
    const lines = readManifest(r.manifests.train!).map((e) => e.extra!);
    expect(new Set(lines.map((e) => e.engine))).toEqual(new Set(["espeak-ng", "flite"]));
  });
});

describe("a disk that fills up", () => {
  it("stops with a clear message, keeps the WAVs written, leaves no manifest or temporary file, and resumes", async () => {
    process.env.TODM_ESPEAK = fakeEngine("espeak-fake3", "eSpeak NG text-to-speech: 1.51  Data at: fake", "-f", "-w");
    const out = mkdtempSync(join(tmpdir(), "todm-bad-out-"));
    const text = join(dir, "ok.txt");
    writeFileSync(text, SENTENCES.filter((s) => !/Crash|Hang|Silent/.test(s)).join("\n") + "\n");
    let wavs = 0;
    const full = (p: string, d: Uint8Array | string) => {
      if (p.includes(".wav.") && ++wavs > 3) throw Object.assign(new Error(`ENOSPC: no space left on device, write '${p}'`), { code: "ENOSPC" });
      writeFileSync(p, d);
    };
    await expect(synthesize({ out, text, jobs: 2, log: () => {}, progress: false, writeFile: full }))
      .rejects.toThrow(/disk is full \(ENOSPC writing .*\.wav\)\. 3 of 7 utterances are written and kept; free some space and run the same command again to resume/);
    const files = readdirSync(out, { recursive: true }).map(String);
    expect(files.filter((f) => f.endsWith(".wav")).length).toBe(3);
    expect(files.filter((f) => f.endsWith(".jsonl") || f.endsWith(".tmp") || f === "synth.json")).toEqual([]);
    // A WAV cut short (a crash mid-write would leave one if writes were not atomic) is not reused.
    const first = files.find((f) => f.endsWith(".wav"))!;
    truncateSync(join(out, first), 100);
    expect(checkWrittenWav(join(out, first))).toBeNull();
    // A temporary WAV left by a build killed between write and rename is removed by the next build.
    writeFileSync(join(out, first + ".123.abc.tmp"), "half");
    // A disk that fills up while the manifests are written: no manifest at all, no temporary file.
    const manifestsFull = (p: string, d: Uint8Array | string) => {
      if (p.includes(".jsonl.")) throw Object.assign(new Error("ENOSPC: no space left on device"), { code: "ENOSPC" });
      writeFileSync(p, d);
    };
    await expect(synthesize({ out, text, log: () => {}, progress: false, writeFile: manifestsFull })).rejects.toThrow(/disk is full \(ENOSPC\) writing the manifests/);
    expect(readdirSync(out, { recursive: true }).map(String).filter((f) => f.endsWith(".jsonl") || f.endsWith(".tmp") || f === "synth.json")).toEqual([]);
    // Space again: the build finishes, reusing every intact WAV.
    const r = await synthesize({ out, text, log: () => {}, progress: false });
    expect(r.reused).toBe(7);
    expect(Object.values(r.counts).reduce((a, b) => a! + b!, 0)).toBe(7);
    expect(existsSync(join(out, "synth.json"))).toBe(true);
  });
});
