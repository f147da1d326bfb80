// What `todm train` calls for its data: the training and validation corpora (the given manifests, or
// the built-in synthetic corpus built on first use), the tokenizer trained on the training texts (or
// the one from a model file), both corpora tokenized, and one ledger of everything skipped. The
// trainer then plans batches (batching.ts) and feeds them through a BatchLoader (loader.ts).
//
//   const data = await loadTrainingData({ tokenizer: { type: "bpe", vocabSize: 256 } });
//   console.log(data.summary.join("\n"));

import { Corpus } from "./corpus.js";
import { SkipLedger } from "./errors.js";
import { corpusCacheDir, DEFAULT_CORPUS, type CorpusVersion } from "./corpus_plan.js";
import { ensureDefaultCorpus } from "./synth.js";
import { trainBpe, trainChar, type Tokenizer } from "./tokenizer.js";

export interface TrainingDataOptions {
  /** Training manifests; none means the default synthetic corpus. */
  train?: string[];
  /** Validation manifests; with no train manifests the synthetic corpus's valid split is used. */
  valid?: string[];
  /** A tokenizer to reuse (from a model file), or how to train one (default BPE, 256 symbols). */
  tokenizer?: Tokenizer | { type: "bpe" | "char"; vocabSize?: number };
  strict?: boolean;
  /** Leave out utterances longer than this many seconds (default 20). */
  maxDuration?: number;
  /** Which built-in corpus (default DEFAULT_CORPUS, src/data/corpus_plan.ts) and where it is built and cached. */
  corpus?: CorpusVersion;
  defaultCorpusDir?: string;
  log?: (line: string) => void;
}

export interface TrainingData {
  train: Corpus;
  valid: Corpus;
  tokenizer: Tokenizer;
  ledger: SkipLedger;
  /** Lines for the run's log: sizes, hours, tokenizer, skipped items. */
  summary: string[];
}

export async function loadTrainingData(opts: TrainingDataOptions = {}): Promise<TrainingData> {
  let train = opts.train ?? [], valid = opts.valid ?? [];
  if (train.length === 0) {
    const corpus = opts.corpus ?? DEFAULT_CORPUS;
    const m = await ensureDefaultCorpus(opts.defaultCorpusDir ?? corpusCacheDir("data-cache", corpus), opts.log, corpus);
    if (!m.train || !m.valid) throw new Error(`the built-in corpus ${corpus} has no train or valid manifest`);
    train = [m.train];
    if (valid.length === 0) valid = [m.valid];
  }
  const ledger = new SkipLedger(opts.strict);
  const maxDuration = opts.maxDuration ?? 20;
  const rawTrain = Corpus.load(train, { ledger, maxDuration });
  const rawValid = Corpus.load(valid, { ledger, maxDuration });
  const spec = opts.tokenizer ?? { type: "bpe" as const, vocabSize: 256 };
  const tokenizer = "encode" in spec
    ? spec
    : spec.type === "char" ? trainChar(rawTrain.texts()) : trainBpe(rawTrain.texts(), spec.vocabSize ?? 256);
  const trainC = rawTrain.tokenize(tokenizer), validC = rawValid.tokenize(tokenizer);
  const summary = [
    `train: ${trainC.utterances.length} utterances, ${trainC.hours.toFixed(2)} h (${train.join(", ")})`,
    `valid: ${validC.utterances.length} utterances, ${validC.hours.toFixed(2)} h (${valid.join(", ") || "none"})`,
    `tokenizer: ${tokenizer.type}, ${tokenizer.size} symbols including blank`,
    `longer than ${maxDuration} s, left out: ${rawTrain.tooLong + rawValid.tooLong}`,
    ...ledger.report(),
  ];
  return { train: trainC, valid: validC, tokenizer, ledger, summary };
}
