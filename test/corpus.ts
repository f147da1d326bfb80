// A tiny generated corpus for end-to-end tests: tone sequences "spoken" for words, 16 kHz WAV, with
// train and valid manifests (shared by the train and repro tests).
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { writeWav } from "../src/audio/wav.js";
import { rng } from "./helpers.js";

const WORDS = ["ONE", "TWO", "THREE", "FOUR", "FIVE", "SIX"];

/** A corpus of tone sequences "spoken" for words, 16 kHz WAV, train and valid manifests. */
export function makeCorpus(dir: string): { train: string; valid: string } {
  const r = rng(42);
  mkdirSync(join(dir, "audio"), { recursive: true });
  const lines = (n: number, split: string) =>
    Array.from({ length: n }, (_, i) => {
      const words = Array.from({ length: 1 + Math.floor(r() * 3) }, () => Math.floor(r() * WORDS.length));
      const samples = new Float32Array(words.length * 4000 + 2000);
      words.forEach((w, k) => {
        for (let t = 0; t < 4000; t++) samples[1000 + k * 4000 + t] = 0.3 * Math.sin((2 * Math.PI * (300 + 150 * w) * t) / 16000) + 0.01 * (r() - 0.5);
      });
      const path = join(dir, "audio", `${split}${i}.wav`);
      writeFileSync(path, writeWav([samples], 16000));
      return JSON.stringify({ audio_filepath: `audio/${split}${i}.wav`, duration: samples.length / 16000, text: words.map((w) => WORDS[w]).join(" ") });
    }).join("\n") + "\n";
  writeFileSync(join(dir, "train.jsonl"), lines(24, "train"));
  writeFileSync(join(dir, "valid.jsonl"), lines(4, "valid"));
  return { train: join(dir, "train.jsonl"), valid: join(dir, "valid.jsonl") };
}
