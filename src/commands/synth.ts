// `todm synth --out DIR [--text FILE] [--utterances N] [--seed S] [--noise] [--jobs 2]`: builds a
// synthetic corpus with espeak-ng (see src/data/synth.ts for the split and voice rules).
//
//   todm synth --out data/synth                      # the default corpus: shipped text, seed 1
//   todm synth --out data/harvard --text harvard.txt --utterances 2000 --seed 7 --noise
//
// Needs espeak-ng installed (`apt-get install espeak-ng`); it is GPL and runs as a separate program.

import { synthesize, type SynthOptions } from "../data/synth.js";

export async function runSynth(opts: { out: string; text?: string; utterances?: string; seed?: string; noise?: boolean; jobs?: string }): Promise<void> {
  const num = (name: string, v: string | undefined, min: number) => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new Error(`synth: --${name} must be an integer >= ${min}, got "${v}"`);
    return n;
  };
  const o: SynthOptions = {
    out: opts.out,
    text: opts.text,
    utterances: num("utterances", opts.utterances, 1),
    seed: num("seed", opts.seed, 0),
    noise: opts.noise,
    jobs: num("jobs", opts.jobs, 1),
  };
  await synthesize(o);
}
