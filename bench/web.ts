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
// The RTF is given for the page's first run (the WASM code partly still at V8's baseline tier, as a
// user's first use is) and for the same file chosen again in the same page (warm code: the figure to
// set beside bench/infer.ts's, which runs a warm-up first).
// The model and audio are bench/infer.ts's (TODM_INFER_MODELS too), so the two benches compare Node and Chromium on the same
// work: DEFAULT_MODEL with seeded random weights (speed does not depend on training, only the number
// of emitted tokens does) run whole and as the subnet L2-ff192-h2 (the page's ?subnet=), and 10 s of
// synthetic voiced sound at 16 kHz. The page streams 100 ms chunks (bench/infer.ts: 160 ms chunks,
// and whole-file transcribe for its RTF). Needs `npm run build` and Chromium; skipped with a message
// without Chromium.

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { writeWav } from "../dist/audio/wav.js";
import { startServer } from "../dist/commands/serve.js";
import { CharTokenizer } from "../dist/data/tokenizer.js";
import { DEFAULT_MODEL } from "../dist/model/config.js";
import { encodeModel } from "../dist/model/io.js";
import { Model } from "../dist/model/model.js";
import { median, type BenchContext, type BenchRecord } from "./lib.js";
import { findChromium, launchChromium, runDemo, type DemoRun } from "./web_driver.js";

const REPS = 5;
const AUDIO_SECONDS = 10;
const RATE = 16000;

/** bench/infer.ts's audio: a voiced sound with a moving pitch, harmonics and noise (same formula, same seed). */
function voiced(seconds: number): Float32Array {
  let seed = 7;
  const u = () => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 2 ** 32);
  const n = seconds * RATE, x = new Float32Array(n);
  let ph = 0;
  for (let i = 0; i < n; i++) {
    ph += (2 * Math.PI * 140 * (1 + 0.3 * Math.sin(i / 4000))) / RATE;
    x[i] = 0.2 * Math.sin(ph) + 0.1 * Math.sin(3 * ph) * Math.sin(i / 1500) + 0.05 * (u() - 0.5);
  }
  return x;
}

export async function run(ctx: BenchContext): Promise<BenchRecord[]> {
  const exe = findChromium();
  if (!exe) {
    ctx.log("  web: SKIPPED: no Chromium found (apt-get install chromium, or set $CHROMIUM)");
    return [];
  }
  const e = ctx.engines[ctx.engines.length - 1];
  const dir = mkdtempSync(join(tmpdir(), "todm-bench-web-"));
  const file = join(dir, "default.safetensors");
  writeFileSync(file, e.scoped(() => {
    const m = new Model(e, DEFAULT_MODEL);
    m.params.init(1);
    const tok = new CharTokenizer(["<blank>", ...Array.from({ length: DEFAULT_MODEL.vocabSize - 1 }, (_, i) => String.fromCodePoint(0x100 + i))]);
    return encodeModel(m, tok);
  }));
  // TODM_INFER_MODELS=a.safetensors,b.safetensors (bench/infer.ts's list, e.g. a run's exported subnets):
  // each file whole; else the random default model whole and as L2-ff192-h2
  const given = (process.env.TODM_INFER_MODELS ?? "").split(",").filter(Boolean);
  const cases = given.length
    ? given.map((p) => ({ name: basename(p), file: p, subnet: "" }))
    : ["L6-ff576-h4", "L2-ff192-h2"].map((subnet) => ({ name: `default model (random weights), ${subnet}`, file, subnet }));
  const wav = join(dir, "audio.wav");
  // 32-bit float WAV: the page reads exactly these samples.
  writeFileSync(wav, writeWav([voiced(AUDIO_SECONDS)], RATE, { bits: 32, float: true }));
  const srv = await startServer({ port: 0 });
  const records: BenchRecord[] = [];
  try {
    for (const { name, file, subnet } of cases) {
      const size = readFileSync(file).length;
      for (const build of ["relaxed-simd", "simd"] as const) {
        const q = [subnet ? `subnet=${subnet}` : "", build === "simd" ? "build=simd" : ""].filter(Boolean).join("&");
        const url = `${srv.url}web/${q ? `?${q}` : ""}`;
        const runs: DemoRun[] = [];
        for (let i = 0; i < REPS; i++) {
          // A fresh browser each time: nothing compiled or cached is carried over, and the renderer's
          // peak RSS (VmHWM) is this run's alone.
          const browser = await launchChromium(exe);
          try {
            runs.push(await runDemo(browser, url, file, wav, { timeoutMs: 300_000, runs: 2 }));
          } finally {
            await browser.close();
          }
        }
        if (runs.some((r) => r.build !== build)) throw new Error(`web bench: the page ran ${runs[0].build}, asked for ${build}`);
        const rtf = median(runs.map((r) => r.rtf));
        const rtfWarm = median(runs.map((r) => r.rtfPerRun[1]));
        const cold = median(runs.map((r) => r.coldStartMs));
        const mem = runs.every((r) => r.rendererPeakGrowthMiB !== null) ? median(runs.map((r) => r.rendererPeakGrowthMiB!)) : null;
        const note = `Chromium headless, one thread; ${AUDIO_SECONDS} s of 16 kHz audio streamed in 100 ms chunks with partial() after each; model file ${(size / 1024).toFixed(0)} KiB; ` +
          `load ${median(runs.map((r) => r.loadMs)).toFixed(0)} ms; final ${[...runs[0].final].length} characters; median of ${REPS} fresh browsers`;
        const wasmMiB = median(runs.map((r) => r.wasmMemoryBytes)) / 2 ** 20;
        ctx.log(`  web ${name} ${build}: RTF ${rtf.toFixed(4)} (second run ${rtfWarm.toFixed(4)}), cold start ${cold.toFixed(0)} ms, WASM memory ${wasmMiB.toFixed(1)} MiB, renderer +${mem?.toFixed(1) ?? "n/a"} MiB`);
        const base = { bench: "web", build, peers: {}, machine: ctx.machine, commit: ctx.commit, note };
        records.push(
          { ...base, case: `${name}: page stream RTF, first run`, metric: "RTF (compute / audio)", higherIsBetter: false, todm: rtf },
          { ...base, case: `${name}: page stream RTF, second run`, metric: "RTF (compute / audio)", higherIsBetter: false, todm: rtfWarm },
          { ...base, case: `${name}: cold start`, metric: "ms (load to first partial)", higherIsBetter: false, todm: cold },
          { ...base, case: `${name}: WASM memory`, metric: "MiB (Recognizer.memoryBytes)", higherIsBetter: false, todm: wasmMiB },
          { ...base, case: `${name}: renderer memory`, metric: "MiB (renderer peak RSS growth)", higherIsBetter: false, todm: mem },
        );
      }
    }
  } finally {
    await srv.close();
    rmSync(dir, { recursive: true, force: true });
  }
  return records;
}
