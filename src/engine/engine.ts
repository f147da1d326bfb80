// The training engine's Node loader and its Engine: reads a build's bytes from the package's wasm/
// folder and hands them to src/wasm/host.ts, the one file that touches WebAssembly.
//
// Two builds come from the same AssemblyScript sources: plain SIMD and relaxed SIMD (FMA). The
// relaxed build is chosen when `WebAssembly.validate` accepts it; on Node 20 that needs V8's
// --experimental-wasm-relaxed-simd flag, which we set before compiling (NODE_OPTIONS rejects it).
//
// Why free functions: the host sides of kernels (src/engine/*.ts) are functions taking an engine,
// not methods, so that what an Engine can do never depends on which modules were imported, the
// engine file needs no import of its callers (no cycle), and the inference build's InferHost runs the
// same functions where it exports the kernels they call (see WasmHost's type parameter).
//
// Memory is not shared: each thread that computes owns its own instance (see README, "Memory and
// threads"). Pointers are plain numbers below 2 GiB (maximumMemory is 32768 pages).

import { readFileSync } from "node:fs";
import v8 from "node:v8";
import { fileURLToPath } from "node:url";
import type { instantiate as instantiateEngine } from "../../wasm/todm-simd.js";
import { EngineError, instantiate, WasmHost, type HostErrors } from "../wasm/host.js";

export { EngineError } from "../wasm/host.js";

/** The engine's exports, mirrored from the AssemblyScript sources (asc writes the declarations). */
export type EngineExports = Awaited<ReturnType<typeof instantiateEngine>>;

export type BuildName = "simd" | "relaxed-simd";

const WASM_FILES: Record<BuildName, string> = {
  "relaxed-simd": "todm-relaxed.wasm",
  simd: "todm-simd.wasm",
};

let relaxedFlagTried = false;

/** Asks V8 for relaxed SIMD (Node 20 keeps it behind a flag). Harmless where it is already on. */
function enableRelaxedSimd(): void {
  if (relaxedFlagTried) return;
  relaxedFlagTried = true;
  try {
    v8.setFlagsFromString("--experimental-wasm-relaxed-simd");
  } catch {
    /* not Node, or flags frozen: the plain SIMD build is used */
  }
}

export function wasmPath(build: BuildName): string {
  return fileURLToPath(new URL(`../../wasm/${WASM_FILES[build]}`, import.meta.url));
}


const ENGINE_ERRORS: HostErrors = {
  error: EngineError,
  abort: "engine abort",
  outOfMemory: (bytes, inUse) =>
    `(${(bytes / 2 ** 20).toFixed(1)} MiB; ${(inUse / 2 ** 20).toFixed(0)} MiB in use, 2048 MiB at most): ` +
    `reduce the batch size (max frames per batch) or the model size`,
};

export interface EngineOptions {
  /** Force one build; by default relaxed SIMD where the runtime validates it, else plain SIMD. */
  build?: BuildName;
}

/** An instance of the engine: its exports, its memory, and the arena helpers of WasmHost. */
export class Engine extends WasmHost<EngineExports> {
  constructor(readonly build: BuildName, instance: WebAssembly.Instance) {
    super(instance, ENGINE_ERRORS);
  }
}

/** Reads a build's bytes from the package's wasm/ folder. */
export function readWasm(build: BuildName): Uint8Array<ArrayBuffer> {
  try {
    const buf = readFileSync(wasmPath(build));
    return new Uint8Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength)) as Uint8Array<ArrayBuffer>;
  } catch (e) {
    throw new EngineError(
      `cannot read the engine's WebAssembly (${wasmPath(build)}): ${(e as Error).message}. ` +
        `Run \`npm run build\` first.`,
    );
  }
}

/** Picks the build: relaxed SIMD when the runtime validates it, else plain SIMD. */
export function chooseBuild(): { build: BuildName; bytes: Uint8Array<ArrayBuffer> } {
  enableRelaxedSimd();
  const relaxed = readWasm("relaxed-simd");
  if (WebAssembly.validate(relaxed)) return { build: "relaxed-simd", bytes: relaxed };
  return { build: "simd", bytes: readWasm("simd") };
}

/** Loads and instantiates the engine. */
export async function loadEngine(opts: EngineOptions = {}): Promise<Engine> {
  let build: BuildName;
  let bytes: Uint8Array<ArrayBuffer>;
  if (opts.build) {
    if (opts.build === "relaxed-simd") enableRelaxedSimd();
    build = opts.build;
    bytes = readWasm(build);
    if (!WebAssembly.validate(bytes)) {
      throw new EngineError(`this runtime cannot run the ${build} build of the engine`);
    }
  } else {
    ({ build, bytes } = chooseBuild());
  }
  return new Engine(build, await instantiate(bytes, ENGINE_ERRORS));
}
