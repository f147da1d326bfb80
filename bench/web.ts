// The demo page in headless Chromium, one thread (the page's own): for each model, the real-time
// factor of streaming a WAV file through the page, the cold start (model bytes in hand -> first
// partial result: WASM fetch + compile + model load + the first 100 ms chunk), and memory twice: the
// Recognizer's WebAssembly memory, and the growth of the page's renderer process (peak RSS after the
// run minus RSS before the model, Linux /proc: WASM memory, compiled code, model bytes, JS). Each figure
// is the median of REPS runs, each in a freshly launched browser, driven by bench/web_driver.ts exactly as
// test/web-e2e.test.ts drives it. The same models in Node are bench/infer.ts's (the infer engineer's);
// Chromium has no PyTorch peer, so records carry no peers.
//
//   npm run bench -- --only web
//
// Models are random-initialised (seeded) at the default config and at a small config standing for
// the smallest subnet (2 layers, narrower feed-forward), with a character tokenizer of the shipped
// sentences; random weights decode about as fast as trained ones (the same layers run per frame; only
// the number of emitted tokens differs). Needs `npm run build` and Chromium; skipped with a message
// without Chromium.

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { writeWav } from "../dist/audio/wav.js";
import { startServer } from "../dist/commands/serve.js";
import { DEFAULT_TEXT } from "../dist/data/synth.js";
import { trainChar } from "../dist/data/tokenizer.js";
import { DEFAULT_MODEL, type ModelConfig } from "../dist/model/config.js";
import { saveModel } from "../dist/model/io.js";
import { Model } from "../dist/model/model.js";
import { mulberry32 } from "../dist/random.js";
import { median, type BenchContext, type BenchRecord } from "./lib.js";
import { findChromium, launchChromium, runDemo, type DemoRun } from "./web_driver.js";

const REPS = 5;
const AUDIO_SECONDS = 10;
const RATE = 16000;

/** A speech-like test signal: 80 ms tone bursts at random pitches with noise and gaps. */
function testAudio(seconds: number): Float32Array {
  const r = mulberry32(11);
  const x = new Float32Array(Math.round(seconds * RATE));
  const burst = Math.round(0.08 * RATE);
  for (let at = 0; at < x.length; at += burst) {
    const f = r() < 0.2 ? 0 : 150 + r() * 2000;
    for (let i = at; i < Math.min(at + burst, x.length); i++) x[i] = 0.25 * Math.sin((2 * Math.PI * f * (i - at)) / RATE) + 0.01 * (r() * 2 - 1);
  }
  return x;
}

export async function run(ctx: BenchContext): Promise<BenchRecord[]> {
  const exe = findChromium();
  if (!exe) {
    ctx.log("  web: SKIPPED: no Chromium found (apt-get install chromium, or set $CHROMIUM)");
    return [];
  }
  const e = ctx.engines[0];
  const dir = mkdtempSync(join(tmpdir(), "todm-bench-web-"));
  const tok = trainChar(readFileSync(DEFAULT_TEXT, "utf8").split("\n").filter((l) => l.trim().length > 0));
  const models: [string, ModelConfig][] = [
    ["default", { ...DEFAULT_MODEL, vocabSize: tok.size }],
    ["small-L2-ff288", { ...DEFAULT_MODEL, layers: 2, ffDim: 288, vocabSize: tok.size }],
  ];
  const wav = join(dir, "audio.wav");
  writeFileSync(wav, writeWav([testAudio(AUDIO_SECONDS)], RATE));
  const srv = await startServer({ port: 0 });
  const records: BenchRecord[] = [];
  try {
    for (const [name, cfg] of models) {
      const file = join(dir, `${name}.safetensors`);
      const m = new Model(e, cfg);
      m.params.init(1);
      saveModel(file, m, tok);
      const size = readFileSync(file).length;
      for (const build of ["relaxed-simd", "simd"] as const) {
        const url = `${srv.url}web/${build === "simd" ? "?build=simd" : ""}`;
        const runs: DemoRun[] = [];
        for (let i = 0; i < REPS; i++) {
          // A fresh browser each time: nothing compiled or cached is carried over, and the renderer's
          // peak RSS (VmHWM) is this run's alone.
          const browser = await launchChromium(exe);
          try {
            runs.push(await runDemo(browser, url, file, wav, 300_000));
          } finally {
            await browser.close();
          }
        }
        if (runs.some((r) => r.build !== build)) throw new Error(`web bench: the page ran ${runs[0].build}, asked for ${build}`);
        const rtf = median(runs.map((r) => r.rtf));
        const cold = median(runs.map((r) => r.coldStartMs));
        const mem = runs.every((r) => r.rendererPeakGrowthMiB !== null) ? median(runs.map((r) => r.rendererPeakGrowthMiB!)) : null;
        const note = `Chromium headless, one thread; ${AUDIO_SECONDS} s of 16 kHz audio streamed in 100 ms chunks; model file ${(size / 1024).toFixed(0)} KiB; load ${median(runs.map((r) => r.loadMs)).toFixed(0)} ms; median of ${REPS} fresh browsers`;
        const wasmMiB = median(runs.map((r) => r.wasmMemoryBytes)) / 2 ** 20;
        ctx.log(`  web ${name} ${build}: RTF ${rtf.toFixed(4)}, cold start ${cold.toFixed(0)} ms, WASM memory ${wasmMiB.toFixed(1)} MiB, renderer +${mem?.toFixed(1) ?? "n/a"} MiB`);
        const base = { bench: "web", build, peers: {}, machine: ctx.machine, commit: ctx.commit, note };
        records.push(
          { ...base, case: `${name} RTF`, metric: "x realtime (compute / audio)", higherIsBetter: false, todm: rtf },
          { ...base, case: `${name} cold start`, metric: "ms (load to first result)", higherIsBetter: false, todm: cold },
          { ...base, case: `${name} WASM memory`, metric: "MiB (Recognizer.memoryBytes)", higherIsBetter: false, todm: wasmMiB },
          { ...base, case: `${name} renderer memory`, metric: "MiB (renderer peak RSS growth)", higherIsBetter: false, todm: mem },
        );
      }
    }
  } finally {
    await srv.close();
    rmSync(dir, { recursive: true, force: true });
  }
  return records;
}
