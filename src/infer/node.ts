// todm/infer/node: the Node adapter of the inference API. It reads the inference WebAssembly from the
// package's wasm/ folder, asks V8 for relaxed SIMD (Node 20 keeps it behind a flag; the plain SIMD
// build is used where it stays off) and reads model files from paths.
//
//   import { loadRecognizer } from "todm/infer/node";
//   const rec = await loadRecognizer("model.safetensors");
//   console.log(await rec.transcribe(samples, 16000));
//
// What it is not: audio decoding (src/audio/read.ts does WAV/FLAC for the CLI) or the API itself
// (src/infer/index.ts, which is browser-safe; this file is the only Node-only part).

import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import v8 from "node:v8";
import { Recognizer, type RecognizerOptions } from "./index.js";
import type { WasmOption } from "./wasm.js";

export * from "./index.js";

export type InferBuildChoice = "simd" | "relaxed-simd";

/** Path of a build of the inference WebAssembly in this package. */
export function inferWasmPath(build: InferBuildChoice): string {
  const file = build === "simd" ? "todm-infer-simd.wasm" : "todm-infer-relaxed.wasm";
  return fileURLToPath(new URL(`../../wasm/${file}`, import.meta.url));
}

let flagTried = false;

/** Both builds' bytes (relaxed SIMD enabled in V8 first), or just the one forced. */
export function inferWasm(build?: InferBuildChoice): WasmOption {
  const read = (b: InferBuildChoice) => {
    try {
      return new Uint8Array(readFileSync(inferWasmPath(b)));
    } catch (e) {
      throw new Error(`cannot read the inference WebAssembly (${inferWasmPath(b)}): ${(e as Error).message}. Run \`npm run build\` first.`);
    }
  };
  if (build !== "simd" && !flagTried) {
    flagTried = true;
    try {
      v8.setFlagsFromString("--experimental-wasm-relaxed-simd");
    } catch {
      /* flags frozen: the plain SIMD build is used */
    }
  }
  if (build === "simd") return read("simd");
  if (build === "relaxed-simd") return { simd: read("relaxed-simd"), relaxed: read("relaxed-simd") };
  return { simd: read("simd"), relaxed: read("relaxed-simd") };
}

/**
 * Loads a model (a path or its bytes) on the best build of this runtime (or the one forced with `build`);
 * `lm` may be an LM file's path or bytes.
 */
export async function loadRecognizer(
  model: string | Uint8Array,
  opts: Omit<RecognizerOptions, "wasm" | "lm"> & { build?: InferBuildChoice; lm?: string | Uint8Array } = {},
): Promise<Recognizer> {
  let bytes: Uint8Array, source = opts.source;
  if (typeof model === "string") {
    try {
      bytes = new Uint8Array(readFileSync(model));
    } catch (e) {
      throw new Error(`${model}: cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    source ??= model;
  } else bytes = model;
  let lm: Uint8Array | undefined, lmSource = opts.lmSource;
  if (typeof opts.lm === "string") {
    try {
      lm = new Uint8Array(readFileSync(opts.lm));
    } catch (e) {
      throw new Error(`${opts.lm}: cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    lmSource ??= opts.lm;
  } else lm = opts.lm;
  return Recognizer.load(bytes, { ...opts, source, lm, lmSource, wasm: inferWasm(opts.build) });
}
