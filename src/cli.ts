#!/usr/bin/env node
// todm's command line. Each command lives in its own module; this file only wires them up.
//
//   node dist/cli.js --help
//   node dist/cli.js selfcheck

import { Command } from "commander";
import { createEngine } from "./index.js";
import { runSelfcheck } from "./selfcheck.js";

const program = new Command();
program
  .name("todm")
  .description("Train Once, Deploy Many: train a Supernet of MH-SSM RNN-T speech recognizers, deploy its subnets as WASM")
  .version("0.1.0")
  .showHelpAfterError();

program
  .command("selfcheck")
  .description("load the engine, report the chosen build, and check a few gradients against finite differences")
  .option("--build <name>", "force a build: simd or relaxed-simd (default: the best the runtime supports)")
  .action(async (opts: { build?: "simd" | "relaxed-simd" }) => {
    const engine = await createEngine({ build: opts.build });
    const ok = runSelfcheck(engine, (line) => console.log(line));
    process.exitCode = ok ? 0 : 1;
  });

program
  .command("prepare")
  .description("make a clean NeMo-style manifest from a LibriSpeech split (librispeech DIR) or check one (manifest FILE)")
  .argument("<format>", "librispeech | manifest")
  .argument("<path>", "the split directory, or the manifest to check")
  .requiredOption("--out <file>", "the manifest to write (JSONL, paths relative to it)")
  .option("--strict", "stop at the first bad item instead of skipping and counting it", false)
  .option("--no-verify", "read audio headers only instead of decoding every file")
  .action(async (format: string, path: string, opts: { out: string; strict: boolean; verify: boolean }) => {
    const { prepareLibriSpeech, prepareManifest } = await import("./commands/prepare.js");
    if (format === "librispeech") await prepareLibriSpeech(path, opts);
    else if (format === "manifest") await prepareManifest(path, opts);
    else throw new Error(`prepare: unknown format "${format}" (librispeech or manifest)`);
  });

program
  .command("synth")
  .description("speak sentences with espeak-ng into a 16 kHz corpus with train/valid/test manifests (needs apt-get install espeak-ng)")
  .requiredOption("--out <dir>", "output folder: audio/<split>/*.wav, <split>.jsonl, synth.json")
  .option("--text <file>", "sentences, one a line (default: the shipped CC0 list data/text/sentences.txt)")
  .option("--utterances <n>", "utterances in all splits (default: one per sentence)")
  .option("--seed <s>", "seed for voices, variants, speed, pitch, noise", "1")
  .option("--noise", "add light white noise (15-30 dB SNR)", false)
  .option("--jobs <n>", "espeak-ng processes in parallel", "2")
  .action(async (opts: { out: string; text?: string; utterances?: string; seed?: string; noise?: boolean; jobs?: string }) => {
    const { runSynth } = await import("./commands/synth.js");
    await runSynth(opts);
  });

program.parseAsync(process.argv).catch((e: Error) => {
  console.error(`todm: ${e.message}`);
  process.exit(1);
});
