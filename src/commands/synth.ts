// `todm synth --out DIR [--corpus v2|v1] [--preset yardstick-v1] [--text FILE] [--utterances N] [--seed S]
// [--noise] [--no-flite] [--jobs N] [--timeout S]`: builds a synthetic corpus with espeak-ng and flite
// (the plans: src/data/corpus_plan.ts and src/data/synth.ts; the engines: src/data/engines.ts).
//
//   todm synth --out data/synth                          # the default corpus (v2): shipped text, seed 1
//   todm synth --preset yardstick-v1 --out data/ys       # the frozen yardstick -> data/ys/test.jsonl
//   todm synth --out data/harvard --text harvard.txt --utterances 2000 --seed 7 --noise
//
// Needs espeak-ng and, for corpus v2's flite half, flite (`apt-get install -y espeak-ng flite`); both
// run as separate programs. Run it again after an interruption and it resumes.

import { CORPUS_VERSIONS, type CorpusVersion, type Preset } from "../data/corpus_plan.js";
import { synthesize, type SynthOptions } from "../data/synth.js";

export async function runSynth(opts: {
  out: string; corpus?: string; preset?: string; text?: string; utterances?: string; seed?: string; noise?: boolean; flite?: boolean; jobs?: string; timeout?: string;
}): Promise<void> {
  const num = (name: string, v: string | undefined, min: number) => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new Error(`synth: --${name} must be an integer >= ${min}, got "${v}"`);
    return n;
  };
  if (opts.corpus !== undefined && !CORPUS_VERSIONS.includes(opts.corpus as CorpusVersion)) {
    throw new Error(`synth: --corpus must be one of ${CORPUS_VERSIONS.join(", ")}, got "${opts.corpus}"`);
  }
  if (opts.corpus !== undefined && opts.text !== undefined) throw new Error("synth: give --corpus or --text, not both");
  const o: SynthOptions = {
    out: opts.out,
    corpus: opts.corpus as CorpusVersion | undefined,
    preset: opts.preset as Preset | undefined,
    text: opts.text,
    utterances: num("utterances", opts.utterances, 1),
    seed: num("seed", opts.seed, 0),
    noise: opts.noise,
    noFlite: opts.flite === false,
    jobs: num("jobs", opts.jobs, 1),
    timeoutSec: num("timeout", opts.timeout, 1),
  };
  const r = await synthesize(o);
  if (r.failures.length) process.exitCode = 2;
}
