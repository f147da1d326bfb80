#!/usr/bin/env node
// todm's command line. Each command lives in its own module; this file only wires them up.
//
//   node dist/cli.js --help
//   node dist/cli.js selfcheck

import { Command } from "commander";
import { createEngine } from "./index.js";
import { runSelfcheck } from "./selfcheck.js";
import { describeDefaults } from "./train/config.js";

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

const collect = (v: string, acc: string[]) => [...acc, v];
program
  .command("train")
  .description("train an MH-SSM RNN-T model (with no data options: the built-in synthetic corpus, built on first use)")
  .option("--config <file>", "JSON config; any subset of the options listed below")
  .option("--out <dir>", "run directory: log.jsonl, checkpoints/, model.safetensors, curves.svg", "runs/default")
  .option("--resume <dir>", "continue the run in <dir> from its newest checkpoint")
  .option("--init-from <model>", "start from a model file's weights (fine-tuning; same architecture and tokenizer)")
  .option("--threads <n>", "data-parallel compute threads, each with a replica of the model (train.threads, default 2)")
  .option("--train <manifest>", "training manifest (JSONL; repeatable)", collect, [])
  .option("--valid <manifest>", "validation manifest (JSONL; repeatable)", collect, [])
  .option("--minutes <m>", "wall-clock budget of the training loop (train.maxMinutes)")
  .option("--steps <n>", "stop after n optimizer steps (train.maxSteps)")
  .option("--seed <s>", "seed for initialisation, batch order, dropout and SpecAugment (train.seed)")
  .option("--set <key=value>", "override any option below, e.g. --set model.layers=4 (repeatable)", collect, [])
  .addHelpText("after", () => `\nOptions of the config file and --set, with their defaults:\n${describeDefaults().join("\n")}\n`)
  .action(async (opts) => {
    const { runTrain } = await import("./commands/train.js");
    await runTrain(opts);
  });

program
  .command("transcribe")
  .description("print <path>\\t<text> for each audio file (WAV or FLAC, any rate); --json adds token emission times")
  .argument("<audio...>", "audio files")
  .requiredOption("--model <path>", "a model file, or a run directory (its model.safetensors)")
  .option("--json", "one JSON object per file: path, text, duration, tokens [{id, symbol, time}] (seconds = encoder frame x 0.04)", false)
  .option("--beam <n>", "modified beam search with n hypotheses; 1 = greedy search", "1")
  .option("--subnet <name>", "decode with a subnet of a Supernet, e.g. L4-ff384-h2 (default: the whole model)")
  .option("--window <seconds>", "long files are decoded in consecutive windows of at most this many seconds, so memory stays bounded (a word cut at a window edge may be misrecognised)", "30")
  .option("--build <name>", "force a build: simd or relaxed-simd (default: the best the runtime supports)")
  .option("--stream", "decode with the inference WebAssembly in chunks, as a live source would arrive, printing partial transcripts to stderr as they change (causal models only)", false)
  .option("--chunk <ms>", "with --stream: chunk length in milliseconds", "160")
  .action(async (files: string[], opts: { model: string; json: boolean; beam: string; subnet?: string; window: string; build?: "simd" | "relaxed-simd"; stream: boolean; chunk: string }) => {
    if (opts.stream) {
      if (opts.json) throw new Error("--json is not available with --stream");
      const { runTranscribeStream } = await import("./commands/transcribe-stream.js");
      const failed = await runTranscribeStream(files, { model: opts.model, beam: Number(opts.beam), subnet: opts.subnet, chunkMs: Number(opts.chunk), build: opts.build });
      if (failed) process.exitCode = 1;
      return;
    }
    const { runTranscribe } = await import("./commands/transcribe.js");
    const engine = await createEngine({ build: opts.build });
    const failed = await runTranscribe(engine, files, { model: opts.model, json: opts.json, beam: Number(opts.beam), subnet: opts.subnet, window: Number(opts.window) });
    if (failed) process.exitCode = 1;
  });

program
  .command("eval")
  .description("WER (with bootstrap 95% intervals) of greedy and modified beam search on a manifest or a LibriSpeech split, and the one-thread real-time factor")
  .requiredOption("--model <path>", "a model file, or a run directory (its model.safetensors)")
  .requiredOption("--data <path>", "a NeMo manifest (JSONL) or a LibriSpeech split directory")
  .option("--report <file>", "also write a JSON report (atomically): every printed number, per-utterance hypotheses, skipped items")
  .option("--beam <n>", "beam of the modified beam search; 1 = greedy search only", "4")
  .option("--subnet <name>", "evaluate a subnet of a Supernet, e.g. L4-ff384-h2 (default: the whole model)")
  .option("--limit <n>", "only the first n utterances (default: all)")
  .option("--batch-frames <n>", "padded feature frames per batch, B x T_max (lower it if memory runs out)", "8000")
  .option("--seed <s>", "seed of the bootstrap resampling (1000 draws)", "0")
  .option("--strict", "stop at the first bad item instead of skipping and counting it", false)
  .option("--build <name>", "force a build: simd or relaxed-simd (default: the best the runtime supports)")
  .action(async (opts: { model: string; data: string; report?: string; beam: string; subnet?: string; limit?: string; batchFrames: string; seed: string; strict: boolean; build?: "simd" | "relaxed-simd" }) => {
    const { runEval } = await import("./commands/eval.js");
    const engine = await createEngine({ build: opts.build });
    await runEval(engine, {
      model: opts.model, data: opts.data, report: opts.report, beam: Number(opts.beam), subnet: opts.subnet,
      limit: opts.limit === undefined ? undefined : Number(opts.limit), batchFrames: Number(opts.batchFrames), seed: Number(opts.seed), strict: opts.strict,
    });
  });

program
  .command("average")
  .description("average the model tensors of a run's last N checkpoints (RUN_DIR/checkpoints/step-<8 digits>.safetensors) into a model file (icefall's --avg)")
  .requiredOption("--run <dir>", "the run directory")
  .requiredOption("--last <n>", "how many of the newest checkpoints to average")
  .requiredOption("--out <file>", "the model file to write (atomically)")
  .action(async (opts: { run: string; last: string; out: string }) => {
    const { runAverage } = await import("./commands/average.js");
    runAverage({ run: opts.run, last: Number(opts.last), out: opts.out });
  });

program
  .command("serve")
  .description("serve the browser demo page (web/) with the inference WASM on http://HOST:PORT/web/")
  .option("--port <n>", "TCP port (0: any free port)", "8080")
  .option("--host <h>", "interface to listen on (127.0.0.1: this machine only; browsers allow the microphone on 127.0.0.1/localhost or HTTPS)", "127.0.0.1")
  .option("--verbose", "print one line per request", false)
  .action(async (opts: { port: string; host: string; verbose: boolean }) => {
    const { runServe } = await import("./commands/serve.js");
    await runServe({ port: Number(opts.port), host: opts.host, log: opts.verbose ? (l) => console.log(l) : undefined });
  });

program.parseAsync(process.argv).catch((e: Error) => {
  console.error(`todm: ${e.message}`);
  process.exit(1);
});
