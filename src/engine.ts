// The one file that touches WebAssembly: it loads a build of the engine, owns its instance and
// memory, and hands out typed views and copies.
//
// Two builds come from the same AssemblyScript sources: plain SIMD and relaxed SIMD (FMA). The
// relaxed build is chosen when `WebAssembly.validate` accepts it; on Node 20 that needs V8's
// --experimental-wasm-relaxed-simd flag, which we set before compiling (NODE_OPTIONS rejects it).
//
// Memory is not shared: each thread that computes owns its own instance (see README, "Memory and
// threads"). Pointers are plain numbers below 2 GiB (maximumMemory is 32768 pages).
// Views into WASM memory are rebuilt after the memory grows; public API calls return copies.

import { readFileSync } from "node:fs";
import v8 from "node:v8";
import { fileURLToPath } from "node:url";
import type { instantiate } from "../wasm/todm-simd.js";

/** The engine's exports, mirrored from the AssemblyScript sources (asc writes the declarations). */
export type EngineExports = Awaited<ReturnType<typeof instantiate>>;

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
  return fileURLToPath(new URL(`../wasm/${WASM_FILES[build]}`, import.meta.url));
}

/** The WASM error raised by `abort` inside the engine, with the AssemblyScript file and line. */
export class EngineError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "EngineError";
  }
}

export interface EngineOptions {
  /** Force one build; by default relaxed SIMD where the runtime validates it, else plain SIMD. */
  build?: BuildName;
}

/** An instance of the engine: its exports, its memory, and helpers to move data in and out. */
export class Engine {
  readonly build: BuildName;
  readonly wasm: EngineExports;
  private readonly memory: WebAssembly.Memory;
  private buffer: ArrayBuffer;
  private f32View: Float32Array;
  private i32View: Int32Array;

  constructor(build: BuildName, instance: WebAssembly.Instance) {
    this.build = build;
    this.wasm = instance.exports as unknown as EngineExports;
    this.memory = instance.exports.memory as WebAssembly.Memory;
    this.buffer = this.memory.buffer;
    this.f32View = new Float32Array(this.buffer);
    this.i32View = new Int32Array(this.buffer);
  }

  /** The whole memory as f32; rebuilt when the memory has grown since the last call. */
  get f32(): Float32Array {
    if (this.memory.buffer !== this.buffer) this.refreshViews();
    return this.f32View;
  }

  /** The whole memory as i32; rebuilt when the memory has grown since the last call. */
  get i32(): Int32Array {
    if (this.memory.buffer !== this.buffer) this.refreshViews();
    return this.i32View;
  }

  private refreshViews(): void {
    this.buffer = this.memory.buffer;
    this.f32View = new Float32Array(this.buffer);
    this.i32View = new Int32Array(this.buffer);
  }

  /** Allocates `n` f32 (or i32) slots in the arena; 64-byte aligned. Throws when memory is exhausted. */
  alloc(n: number, what = "tensor"): number {
    const bytes = Math.max(0, Math.ceil(n)) * 4;
    const ptr = bytes >= 2 ** 31 ? 0 : this.wasm.mem_alloc(bytes);
    if (ptr === 0) {
      throw new EngineError(
        `out of WASM memory allocating ${what} (${(bytes / 2 ** 20).toFixed(1)} MiB; ` +
          `${(this.memory.buffer.byteLength / 2 ** 20).toFixed(0)} MiB in use, 2048 MiB at most): ` +
          `reduce the batch size (max frames per batch) or the model size`,
      );
    }
    return ptr;
  }

  /** Copies `data` into a fresh arena allocation and returns its pointer. */
  upload(data: ArrayLike<number>, kind: "f32" | "i32" = "f32"): number {
    const ptr = this.alloc(data.length);
    (kind === "f32" ? this.f32 : this.i32).set(data, ptr >> 2);
    return ptr;
  }

  /** Writes `data` at `ptr` (f32). */
  write(ptr: number, data: ArrayLike<number>): void {
    this.f32.set(data, ptr >> 2);
  }

  /** A fresh copy of `n` floats at `ptr`: never a view, so it survives memory growth. */
  read(ptr: number, n: number): Float32Array {
    return this.f32.slice(ptr >> 2, (ptr >> 2) + n);
  }

  /** A fresh copy of `n` int32 at `ptr`. */
  readI32(ptr: number, n: number): Int32Array {
    return this.i32.slice(ptr >> 2, (ptr >> 2) + n);
  }

  mark(): number {
    return this.wasm.mem_mark();
  }

  reset(mark: number): void {
    this.wasm.mem_reset(mark);
  }

  /** Runs `fn` and frees whatever it allocated in the arena, also on error. */
  scoped<R>(fn: () => R): R {
    const m = this.mark();
    try {
      return fn();
    } finally {
      this.reset(m);
    }
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
  let memory: WebAssembly.Memory | undefined;
  const imports = {
    env: {
      abort(msgPtr: number, filePtr: number, line: number, col: number): never {
        const text = (p: number) => readAsString(memory, p);
        throw new EngineError(`engine abort: ${text(msgPtr)} at ${text(filePtr)}:${line}:${col}`);
      },
    },
  };
  const module = await WebAssembly.compile(bytes);
  const instance = await WebAssembly.instantiate(module, imports);
  memory = instance.exports.memory as WebAssembly.Memory;
  return new Engine(build, instance);
}

/** Decodes an AssemblyScript string (UTF-16, length in the header word before it). */
function readAsString(memory: WebAssembly.Memory | undefined, ptr: number): string {
  if (!memory || ptr === 0) return "?";
  const bytes = new Uint32Array(memory.buffer, ptr - 4, 1)[0];
  return String.fromCharCode(...new Uint16Array(memory.buffer, ptr, bytes >>> 1));
}
