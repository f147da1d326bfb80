#!/usr/bin/env node
// todm's command line. Each command lives in its own module; this file only wires them up.
//
//   node dist/cli.js --help
//   node dist/cli.js selfcheck

import { Command } from "commander";
import { createEngine } from "./index.js";
import { runSelfcheck } from "./commands/selfcheck.js";
import { describeDefaults } from "./train/config.js";
import { DEFAULT_CORPUS as DEFAULT_CORPUS_NAME } from "./data/corpus_plan.js";

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
  .option("--holdout <fraction>", "also split by sentence: this fraction to OUT.test.jsonl, the rest to OUT.train.jsonl (e.g. 0.1)")
  .option("--valid <fraction>", "with --holdout: this fraction of the non-test sentences to OUT.valid.jsonl", "0")
  .action(async (format: string, path: string, o: { out: string; strict: boolean; verify: boolean; holdout?: string; valid: string }) => {
    const opts = { ...o, holdout: o.holdout === undefined ? undefined : Number(o.holdout), valid: Number(o.valid) };
    const { prepareLibriSpeech, prepareManifest } = await import("./commands/prepare.js");
    if (format === "librispeech") await prepareLibriSpeech(path, opts);
    else if (format === "manifest") await prepareManifest(path, opts);
    else throw new Error(`prepare: unknown format "${format}" (librispeech or manifest)`);
  });

program
  .command("synth")
  .description("speak sentences with espeak-ng and flite into a 16 kHz corpus with one manifest per split (needs apt-get install -y espeak-ng flite); resumes when run again")
  .requiredOption("--out <dir>", "output folder: audio/<split>/*.wav, <split>.jsonl, synth.json")
  .option("--corpus <v>", `a built-in corpus: v2 (40,191 sentences, espeak-ng and flite; train, valid, test = yardstick-v1, flite-heldout) or v1 (6,000 sentences, espeak-ng) (default: ${DEFAULT_CORPUS_NAME})`)
  .option("--preset <name>", "speak a shipped plan as it is: yardstick-v1 (353 utterances -> DIR/test.jsonl)")
  .option("--text <file>", "your own sentences, one a line, planned with the v1 rules (espeak-ng only)")
  .option("--utterances <n>", "with --text or --corpus v1: utterances in all splits (default: one per sentence)")
  .option("--seed <s>", "seed for voices, variants, speed, pitch, noise", "1")
  .option("--noise", "add light white noise (15-30 dB SNR) to the WAVs (v2: train and valid only); todm's only additive noise", false)
  .option("--no-flite", "corpus v2 from espeak-ng alone even when flite is installed")
  .option("--jobs <n>", "engine processes in parallel (default: one per core)")
  .option("--timeout <s>", "seconds before a hung engine is killed and its sentence skipped", "30")
  .action(async (opts: { out: string; corpus?: string; preset?: string; text?: string; utterances?: string; seed?: string; noise?: boolean; flite: boolean; jobs?: string; timeout?: string }) => {
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
  .option("--init-only", "write the initial model (seeded weights, feature statistics, tokenizer) to <out>/init.safetensors and stop", false)
  .option("--threads <n>", "data-parallel compute threads, each with a replica of the model (train.threads, default 2)")
  .option("--corpus <v>", `the built-in corpus when no --train is given: v2 or v1 (data.corpus, default ${DEFAULT_CORPUS_NAME})`)
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
  .option("--lm <file>", "shallow fusion with this LM file (todm lm) in modified beam search (beam 1 included); default: the model's own LM (todm export's sidecar)")
  .option("--no-lm", "decode without the model's own LM")
  .option("--lm-weight <w>", "the LM weight λ: score + λ·ln P_LM(token | history) (default: the model's recorded weight, else 0.3)")
  .option("--lm-eos", "also add λ·ln P_LM(</s>) at the end of the utterance (default: as the model records)")
  .option("--lodr <file>", "with --lm: LODR, subtract this low-order LM (a bigram of the training text: todm lm --order 2)")
  .option("--lodr-weight <w>", "the LODR weight: - w·ln P_low(token | history) (not tuned yet)", "0.1")
  .action(async (files: string[], opts: { model: string; json: boolean; beam: string; subnet?: string; window: string; build?: "simd" | "relaxed-simd"; stream: boolean; chunk: string; lm?: string | false; lmWeight?: string; lmEos?: boolean; lodr?: string; lodrWeight: string }) => {
    const lmOpts = { lm: opts.lm || undefined, noLm: opts.lm === false, lmWeight: opts.lmWeight === undefined ? undefined : Number(opts.lmWeight), lmEos: opts.lmEos };
    if (opts.stream) {
      if (opts.lodr) throw new Error("--lodr is not available with --stream");
      if (opts.json) throw new Error("--json is not available with --stream");
      const { runTranscribeStream } = await import("./commands/transcribe-stream.js");
      const failed = await runTranscribeStream(files, { model: opts.model, beam: Number(opts.beam), subnet: opts.subnet, chunkMs: Number(opts.chunk), build: opts.build, ...lmOpts });
      if (failed) process.exitCode = 1;
      return;
    }
    const { runTranscribe } = await import("./commands/transcribe.js");
    const engine = await createEngine({ build: opts.build });
    const failed = await runTranscribe(engine, files, {
      model: opts.model, json: opts.json, beam: Number(opts.beam), subnet: opts.subnet, window: Number(opts.window), ...lmOpts,
      lodr: opts.lodr, lodrWeight: Number(opts.lodrWeight),
    });
    if (failed) process.exitCode = 1;
  });

program
  .command("lm")
  .description("build a token n-gram LM (interpolated modified Kneser-Ney) over a model's tokenizer from text; convert ARPA to and from todm's LM file")
  .option("--text <file...>", "sentences, one a line (a .jsonl file: its \"text\" fields); normalised as training text")
  .option("--model <path>", "the model file or run directory whose tokenizer the LM is over")
  .option("--order <n>", "n-gram order", "5")
  .option("--min-count <k>", "keep n-grams of order >= 2 seen at least k times", "1")
  .option("--max-mb <x>", "raise the min count until the LM file is at most x MiB", "4")
  .option("--out <file>", "the LM file to write (atomically)")
  .option("--arpa <file>", "also write the LM as ARPA text (with --lm: convert that LM file)")
  .option("--from-arpa <file>", "convert an ARPA file over the model's tokens instead of estimating")
  .option("--lm <file>", "with --arpa: the LM file to convert to ARPA")
  .action(async (o: { text?: string[]; model?: string; order: string; minCount: string; maxMb: string; out?: string; arpa?: string; fromArpa?: string; lm?: string }) => {
    const { runLm } = await import("./commands/lm.js");
    runLm({ ...o, order: Number(o.order), minCount: Number(o.minCount), maxMb: Number(o.maxMb) });
  });

program
  .command("eval")
  .description("WER (with bootstrap 95% intervals) of greedy and modified beam search on a manifest or a LibriSpeech split, and the one-thread real-time factor; with --run, every subnet of a Supernet run as a table and a plot")
  .option("--model <path>", "a model file, or a run directory (its model.safetensors)")
  .option("--run <dir>", "evaluate the subnets of this Supernet run instead: a Markdown table (--table) and an SVG of WER against parameters (--plot)")
  .requiredOption("--data <path>", "a NeMo manifest (JSONL) or a LibriSpeech split directory")
  .option("--report <file>", "also write a JSON report (atomically): every printed number, per-utterance hypotheses, skipped items (--model only)")
  .option("--beam <n>", "beam of the modified beam search; 1 = greedy search only (default: 4 with --model, 1 with --run)")
  .option("--subnet <name>", "evaluate a subnet of a Supernet, e.g. L4-ff384-h2 (default: the whole model; --model only)")
  .option("--subnets <names>", "with --run: comma-separated subnets to evaluate (default: all of the run's, see todm subnets --run)")
  .option("--model-file <file>", "with --run: the run's model to evaluate, a file in the run directory (best.safetensors) or a path", "model.safetensors")
  .option("--table <file>", "with --run: the Markdown table to write (default: RUN_DIR/subnets.md)")
  .option("--plot <file>", "with --run: the SVG plot to write (default: RUN_DIR/subnets.svg)")
  .option("--limit <n>", "only the first n utterances (default: all)")
  .option("--batch-frames <n>", "padded feature frames per batch, B x T_max (lower it if memory runs out)", "8000")
  .option("--seed <s>", "seed of the bootstrap resampling (1000 draws)", "0")
  .option("--strict", "stop at the first bad item instead of skipping and counting it", false)
  .option("--build <name>", "force a build: simd or relaxed-simd (default: the best the runtime supports)")
  .option("--lm <file>", "adds beam N with shallow fusion of this LM file (todm lm; beam 1 included) and the paired bootstrap 95% interval of (beam N + LM) - (beam N) in WER and CER points; with --run: per subnet (e.g. RUN_DIR/subnets/lm.tlm)")
  .option("--lm-weight <w>", "the LM weight λ: score + λ·ln P_LM(token | history) (with --run default: the run's recorded weight, else 0.3)", "0.3")
  .option("--lm-eos", "also add λ·ln P_LM(</s>) at the end of the utterance", false)
  .option("--lodr <file>", "with --lm: LODR, subtract this low-order LM (a bigram of the training text: todm lm --order 2)")
  .option("--lodr-weight <w>", "the LODR weight: - w·ln P_low(token | history) (not tuned yet)", "0.1")
  .option("--tune-lm <manifest>", "with --lm: pick the LM weight on this (valid) manifest from --lm-grid, print the table, then evaluate --data with it")
  .option("--lm-grid <list>", "LM weights tried by --tune-lm", "0.1,0.2,0.3,0.5,0.7,1")
  .option("--tune-limit <n>", "--tune-lm: only the first n utterances of the manifest", "200")
  .option("--lm-only", "with --lm: greedy and beam N + LM only, no beam N without the LM (the paired interval is then against greedy)", false)
  .action(async (opts: {
    model?: string; run?: string; data: string; report?: string; beam?: string; subnet?: string; subnets?: string; modelFile: string; table?: string; plot?: string;
    limit?: string; batchFrames: string; seed: string; strict: boolean; build?: "simd" | "relaxed-simd";
    lm?: string; lmWeight: string; lmEos: boolean; lodr?: string; lodrWeight: string; tuneLm?: string; lmGrid: string; tuneLimit: string; lmOnly: boolean;
  }, cmd: Command) => {
    if ((opts.model === undefined) === (opts.run === undefined)) throw new Error("eval: give --model FILE_OR_RUN_DIR or --run RUN_DIR (not both)");
    const limit = opts.limit === undefined ? undefined : Number(opts.limit);
    const engine = await createEngine({ build: opts.build });
    if (opts.run !== undefined) {
      if (opts.subnet !== undefined || opts.report !== undefined) throw new Error("eval --run: use --subnets a,b,c (and --table, --plot) instead of --subnet and --report");
      if (opts.tuneLm !== undefined || opts.lodr !== undefined || opts.lmEos || opts.lmOnly) throw new Error("eval --run: --tune-lm, --lodr, --lm-eos and --lm-only go with --model");
      const { runEvalSubnets } = await import("./eval/subnets.js");
      await runEvalSubnets(engine, {
        run: opts.run, data: opts.data, subnets: opts.subnets, beam: opts.beam === undefined ? 1 : Number(opts.beam), modelFile: opts.modelFile,
        table: opts.table, plot: opts.plot, limit, batchFrames: Number(opts.batchFrames), seed: Number(opts.seed), strict: opts.strict,
        lm: opts.lm, lmWeight: cmd.getOptionValueSource("lmWeight") === "default" ? undefined : Number(opts.lmWeight),
      });
      return;
    }
    if (opts.subnets !== undefined || opts.table !== undefined || opts.plot !== undefined) throw new Error("eval: --subnets, --table and --plot go with --run");
    if (opts.lm === undefined && opts.tuneLm !== undefined) throw new Error("eval: --tune-lm needs --lm FILE");
    const { runEval } = await import("./commands/eval.js");
    await runEval(engine, {
      model: opts.model!, data: opts.data, report: opts.report, beam: opts.beam === undefined ? 4 : Number(opts.beam), subnet: opts.subnet,
      limit, batchFrames: Number(opts.batchFrames), seed: Number(opts.seed), strict: opts.strict,
      lm: opts.lm, lmWeight: cmd.getOptionValueSource("lmWeight") === "default" && opts.tuneLm ? undefined : Number(opts.lmWeight), lmEos: opts.lmEos,
      tuneLm: opts.tuneLm, lmGrid: opts.lmGrid.split(",").map(Number), tuneLimit: Number(opts.tuneLimit), lodr: opts.lodr, lodrWeight: Number(opts.lodrWeight), lmOnly: opts.lmOnly,
    });
  });

program
  .command("repro")
  .description("the TODM experiment at our scale: a Supernet, its subnets trained alone (twins), the ablations, every model scored greedy and with beam + the experiment's LM, the int8 RTF; writes a report and a WER-against-size SVG (resumable: run it again to continue)")
  .option("--out <dir>", "experiment directory (runs, eval reports, logs, REPORT.md, wer-size.svg)", "runs/repro")
  .option("--train <manifest>", "training manifest (repeatable; default: the built-in synthetic corpus)", collect, [])
  .option("--valid <manifest>", "validation manifest (repeatable; the first tunes the LM weight)", collect, [])
  .option("--test <manifest>", "test manifest scored at the end (default: the built-in corpus's test split, the yardstick)")
  .option("--steps <n>", "optimizer updates of every run (the Supernet's steps = each twin's updates)", "400")
  .option("--seeds <n>", "seeds of the Supernet and of each twin", "2")
  .option("--twins <n>", "subnets reported and trained alone (spread from the largest to the smallest)", "6")
  .option("--no-ablations", "skip the ablations (2 and 0 random subnets per step, fixed and largest-only dropout, plain KL and no KD, KD on the full lattice, AdamW, per-member subsampling)")
  .option("--levers", "also the smallest subnets' levers, seed 1 (dropout gamma 2 and 0.5, sampling weights supernet.sampleBias=1, KD weight per size supernet.kd.sizeGamma=1)", false)
  .option("--no-lm", "skip the LM: no beam + LM columns (default: one LM from the training text minus valid and test sentences, weight tuned on valid, every model scored with it)")
  .option("--rtf-utterances <n>", "test utterances decoded through the int8 inference build for the RTF (0 = all)", "50")
  .option("--init-from-repro <dir>", "fine-tune: every run starts from the final model of the run of the same name in this experiment directory (e.g. the synthetic one)")
  .option("--threads <n>", "training threads of every run", "2")
  .option("--set <key=value>", "a train option for every run (repeatable), e.g. --set model.dModel=96; lm.order, lm.maxMb, lm.grid, lm.beam, lm.tuneUtterances set the experiment's LM", collect, [])
  .option("--tiny", "a tiny model and space, the LM weight tuned over two values (the CI smoke test)", false)
  .option("--results <file>", "also write the report into this Markdown file between repro markers (e.g. RESULTS.md)")
  .option("--title <text>", "the report's heading (and its marker in --results)")
  .option("--report-only", "run nothing: write the report (and --results) from the steps done so far, the rest marked pending; give the experiment's own options", false)
  .action(async (o: { out: string; train: string[]; valid: string[]; test?: string; steps: string; seeds: string; twins: string; ablations: boolean; levers: boolean; lm: boolean;
    rtfUtterances: string; initFromRepro?: string; threads: string; set: string[]; tiny: boolean; results?: string; title?: string; reportOnly: boolean }) => {
    const { runRepro } = await import("./commands/repro.js");
    const num = (k: string, v: string, min: number) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < min) throw new Error(`repro: --${k} must be an integer >= ${min}, got ${v}`);
      return n;
    };
    // the experiment's command, as the report names it (an interim report's own flag is not part of it)
    const command = ["todm", ...process.argv.slice(2).filter((a) => a !== "--report-only")].map((a) => (/^[\w./:=,@+-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(" ");
    await runRepro({ ...o, command, steps: num("steps", o.steps, 1), seeds: num("seeds", o.seeds, 1), twins: num("twins", o.twins, 2), threads: num("threads", o.threads, 1),
      rtfUtterances: num("rtf-utterances", o.rtfUtterances, 0) });
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
  .command("subnets")
  .description("list the subnets of a Supernet, largest first, with parameters and MACs per second of audio (a run: also its last validation WERs)")
  .option("--config <file>", "a train config JSON, as todm train --config (default: the default train config)")
  .option("--run <dir>", "a run directory: its model file's config and config.json's supernet section")
  .option("--names", "print the names alone, one a line, largest first", false)
  .action(async (opts: { config?: string; run?: string; names: boolean }) => {
    const { runSubnets } = await import("./commands/subnets.js");
    runSubnets(opts);
  });

program
  .command("export")
  .description("write one subnet of a Supernet run as a standalone model file (its sliced weights, config and tokenizer)")
  .requiredOption("--run <dir>", "the run directory")
  .requiredOption("--out <file>", "the model file to write (atomically)")
  .option("--subnet <name>", "export this subnet, e.g. L4-ff288-h2 (see todm subnets --run)")
  .option("--max-params <n>", "the most accurate subnet (by the run's validation WER) with at most n parameters; suffixes k, M (1.5M)")
  .option("--max-rtf <r>", "the most accurate subnet whose one-thread real-time factor, measured now on this machine, is at most r")
  .option("--model-file <file>", "the run's model to cut from: a file in the run directory (best.safetensors) or a path", "model.safetensors")
  .option("--int8", "store 2-D weight matrices as per-row symmetric int8 (todm.quant = int8)", false)
  .option("--rtf-seconds <s>", "seconds of synthetic audio each --max-rtf candidate decodes", "10")
  .option("--build <name>", "force a build for --max-rtf: simd or relaxed-simd (default: the best the runtime supports)")
  .option("--lm <file>", "carry this LM file (todm lm) with the export: a sidecar OUT-without-.safetensors.lm.tlm, named with W in the model's todm.lm metadata (default: the run's subnets/lm.tlm and recorded weight, if any)")
  .option("--no-lm", "export without an LM, even when the run has one")
  .option("--lm-weight <w>", "the LM weight recorded with the export (default: the run's recorded weight, else 0.3)")
  .action(async (opts: { run: string; out: string; subnet?: string; maxParams?: string; maxRtf?: string; modelFile: string; int8: boolean; rtfSeconds: string; build?: "simd" | "relaxed-simd"; lm?: string | false; lmWeight?: string }) => {
    const { runExport } = await import("./train/export.js");
    const engine = opts.maxRtf !== undefined ? await createEngine({ build: opts.build }) : undefined;
    runExport(engine, {
      run: opts.run, out: opts.out, subnet: opts.subnet, maxParams: opts.maxParams, maxRtf: opts.maxRtf === undefined ? undefined : Number(opts.maxRtf),
      modelFile: opts.modelFile, int8: opts.int8, rtfSeconds: Number(opts.rtfSeconds),
      lm: opts.lm || undefined, noLm: opts.lm === false, lmWeight: opts.lmWeight === undefined ? undefined : Number(opts.lmWeight),
    });
  });

program
  .command("serve")
  .description("serve the browser demo page (web/) with the inference WASM on http://HOST:PORT/web/")
  .option("--port <n>", "TCP port (0: any free port)", "8080")
  .option("--host <h>", "interface to listen on (127.0.0.1: this machine only; browsers allow the microphone on 127.0.0.1/localhost or HTTPS)", "127.0.0.1")
  .option("--verbose", "print one line per request", false)
  .option("--model <path>", "also serve this model (file or run directory) and its LM sidecar if it has one; the page loads them by itself")
  .action(async (opts: { port: string; host: string; verbose: boolean; model?: string }) => {
    const { runServe } = await import("./commands/serve.js");
    await runServe({ port: Number(opts.port), host: opts.host, model: opts.model, log: opts.verbose ? (l) => console.log(l) : undefined });
  });

program.parseAsync(process.argv).catch((e: Error) => {
  console.error(`todm: ${e.message}`);
  process.exit(1);
});
