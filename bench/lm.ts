// Shallow fusion's cost: the whole decode of 10 s of audio (features, encoder, modified beam search 4)
// with the n-gram LM against the same decode without it, interleaved in the same run (the peer "same
// run" rule: the peer here is todm without the LM). Target (issue 17): with LM <= 2x without.
//
// Model: DEFAULT_MODEL with seeded random weights over the char tokenizer of the shipped sentences
// (data/text/sentences.txt); random weights spread the beam over many tokens, so the LM meets many new
// states (a harder case for its per-state cache than a trained model's peaked outputs). LM: built by
// buildRunLm from the same sentences (order 5, the default). Audio: 10 s of synthetic voiced sound.
// Records (median of 5 after 1 warm-up each, in rotating order): decode ms with LM (todm) and without (peer
// "no LM"), and the LM build time and size.

import { readFileSync } from "node:fs";
import { DEFAULT_MODEL } from "../dist/model/config.js";
import { Model } from "../dist/model/model.js";
import { normalizeText } from "../dist/data/normalize.js";
import { trainChar } from "../dist/data/tokenizer.js";
import { transcribeSamples } from "../dist/eval/eval.js";
import { buildRunLm } from "../dist/lm/build.js";
import { NgramLm } from "../dist/lm/ngram.js";
import { median, type BenchContext, type BenchRecord } from "./lib.js";

const RATE = 16000, SECONDS = 10, REPS = 5;

function voiced(seconds: number): Float32Array {
  let s = 11;
  const u = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
  const x = new Float32Array(seconds * RATE);
  let ph = 0;
  for (let i = 0; i < x.length; i++) {
    ph += (2 * Math.PI * 120 * (1 + 0.25 * Math.sin(i / 3000))) / RATE;
    x[i] = 0.2 * Math.sin(ph) + 0.08 * Math.sin(2 * ph) * Math.sin(i / 1700) + 0.05 * (u() - 0.5);
  }
  return x;
}

export async function run(ctx: BenchContext): Promise<BenchRecord[]> {
  const e = ctx.engines[0];
  const lines = readFileSync("data/text/sentences.txt", "utf8").split("\n").map(normalizeText).filter(Boolean);
  const tok = trainChar(lines);
  const t0 = performance.now();
  const built = buildRunLm(lines, tok);
  const buildMs = performance.now() - t0;
  const lm = NgramLm.fromBytes(built.bytes, "bench lm", tok);
  const model = new Model(e, { ...DEFAULT_MODEL, vocabSize: tok.size });
  model.params.init(1);
  const audio = voiced(SECONDS);
  // λ = 0.3 changes what is emitted (and so the predictor's work); λ = 0 consults the LM for every
  // candidate but changes nothing (same tokens): the LM's own overhead.
  const runs = [{ name: "no LM" }, { name: "LM 0.3", fusion: { lm, weight: 0.3 } }, { name: "LM 0", fusion: { lm, weight: 0 } }];
  const times = runs.map(() => [] as number[]), tokens = runs.map(() => 0);
  for (let r = 0; r <= REPS; r++) {
    runs.forEach((_, j) => {
      const i = (j + r) % runs.length, x = runs[i]; // rotated: no run is always first
      const t = performance.now();
      const out = transcribeSamples(model, tok, audio, { beam: 4, fusion: x.fusion });
      if (r > 0) times[i].push(performance.now() - t);
      tokens[i] = out.tokens.length;
    });
  }
  const med = times.map(median);
  ctx.log(`  LM: order 5, ${(built.bytes.length / 2 ** 20).toFixed(2)} MiB, built in ${buildMs.toFixed(0)} ms from ${lines.length} sentences`);
  runs.forEach((x, i) => ctx.log(`  decode ${SECONDS} s beam 4, ${x.name}: ${med[i].toFixed(0)} ms (${tokens[i]} tokens), ratio to no LM ${(med[i] / med[0]).toFixed(3)}`));
  const base = { bench: "lm", build: e.build, machine: ctx.machine, commit: ctx.commit };
  return [
    {
      ...base, case: `decode ${SECONDS} s, beam 4, LM weight 0.3 (${tokens[1]} tokens; ${tokens[0]} without)`, metric: "ms", higherIsBetter: false, todm: med[1], peers: { "no LM": med[0] },
      note: "lm: the whole decode (features, encoder, beam search) of the default model (random weights) with shallow fusion of a char LM of order 5, against the same decode without the LM in the same run; target: todm/no LM >= 0.5x (the LM costs at most 2x). Weight 0 consults the LM and emits the same tokens: the LM's own cost",
    },
    { ...base, case: `decode ${SECONDS} s, beam 4, LM weight 0 (same ${tokens[2]} tokens)`, metric: "ms", higherIsBetter: false, todm: med[2], peers: { "no LM": med[0] } },
    { ...base, case: `build LM from ${lines.length} shipped sentences, order 5`, metric: "ms", higherIsBetter: false, todm: buildMs, peers: {} },
  ];
}
