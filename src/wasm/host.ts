// The one file that touches WebAssembly: it instantiates a module from its bytes (or a compiled
// Module), turns the module's `env.abort` into a JS Error naming the AssemblyScript file and line, and
// wraps the instance in a WasmHost: memory views rebuilt after the memory grows, and the arena helpers
// alloc / upload / write / read / scoped that every caller of a kernel uses.
//
// Both builds use it: the training engine (src/engine/engine.ts, Engine extends WasmHost) and the
// inference API (src/infer/index.ts, InferHost extends WasmHost). Code that runs on either (the
// encoder's kernel ops, predictor, joiner and search model of src/model/, fbank of src/engine/features.ts)
// takes a WasmHost of just the exports it calls, which both builds satisfy.
// What it is not: a loader. Where the bytes come from (node:fs and the relaxed-SIMD V8 flag in
// src/engine/engine.ts and src/infer/node.ts; fetch, a Response or given bytes in src/infer/wasm.ts) is
// the callers' business. This file is browser-safe: no node: imports, no Buffer, no process.
// Memory is not shared: each thread owns its own instance. Pointers are plain numbers below 2 GiB.

/** The WASM error raised by `abort` inside the training engine, with the AssemblyScript file and line
 * (here, not in src/engine/engine.ts, so that browser-safe host code such as fbank can throw it). */
export class EngineError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "EngineError";
  }
}

/** The exports every build has: its memory and the bump arena of assembly/memory.ts. */
export interface ArenaExports {
  memory: WebAssembly.Memory;
  mem_alloc(bytes: number): number;
  mem_mark(): number;
  mem_reset(mark: number): void;
}

/** How a host names its failures: the error class and the hint of its out-of-memory message. */
export interface HostErrors {
  error: new (message: string) => Error;
  /** Prefix of an abort's message, e.g. "engine abort". */
  abort: string;
  /** Said after an out-of-memory error's sizes (e.g. what to reduce). */
  outOfMemory: (bytes: number, inUse: number) => string;
}

/** Instantiates `module` with an `env.abort` that throws `errors.error` with the AssemblyScript file and line. */
export async function instantiate(module: WebAssembly.Module | BufferSource, errors: HostErrors): Promise<WebAssembly.Instance> {
  let memory: WebAssembly.Memory | undefined;
  const imports = {
    env: {
      abort(msgPtr: number, filePtr: number, line: number, col: number): never {
        const text = (p: number) => readAsString(memory, p);
        throw new errors.error(`${errors.abort}: ${text(msgPtr)} at ${text(filePtr)}:${line}:${col}`);
      },
    },
  };
  const compiled = module instanceof WebAssembly.Module ? module : await WebAssembly.compile(module);
  const instance = await WebAssembly.instantiate(compiled, imports);
  memory = instance.exports.memory as WebAssembly.Memory;
  return instance;
}

/** An instance and the helpers to move data in and out of its memory; `X` is the subset of exports used. */
export class WasmHost<X extends ArenaExports = ArenaExports> {
  readonly wasm: X;
  private readonly memory: WebAssembly.Memory;
  private buffer: ArrayBuffer;
  private f32View: Float32Array;
  private i32View: Int32Array;

  constructor(instance: WebAssembly.Instance, private readonly errors: HostErrors) {
    this.wasm = instance.exports as unknown as X;
    this.memory = instance.exports.memory as WebAssembly.Memory;
    this.buffer = this.memory.buffer;
    this.f32View = new Float32Array(this.buffer);
    this.i32View = new Int32Array(this.buffer);
  }

  /** Bytes of linear memory in use by the instance (it only grows). */
  get memoryBytes(): number {
    return this.memory.buffer.byteLength;
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
    if (ptr === 0) throw new this.errors.error(`out of WASM memory allocating ${what} ${this.errors.outOfMemory(bytes, this.memory.buffer.byteLength)}`);
    return ptr;
  }

  /** Copies `data` into a fresh arena allocation and returns its pointer. */
  upload(data: ArrayLike<number>, kind: "f32" | "i32" = "f32"): number {
    const ptr = this.alloc(data.length);
    (kind === "f32" ? this.f32 : this.i32).set(data, ptr >> 2);
    return ptr;
  }

  /** Copies int8 values into a fresh arena allocation (4-byte granular) and returns its pointer. */
  uploadI8(q: Int8Array): number {
    const ptr = this.alloc(Math.ceil(q.length / 4), "int8 tensor");
    this.writeI8(ptr, q);
    return ptr;
  }

  /** Writes `data` at `ptr` (f32). */
  write(ptr: number, data: ArrayLike<number>): void {
    this.f32.set(data, ptr >> 2);
  }

  /** Copies int8 values to byte address `ptr` (an int8 weight matrix). */
  writeI8(ptr: number, data: Int8Array): void {
    new Int8Array(this.f32.buffer, ptr, data.length).set(data);
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
    const m = this.wasm.mem_mark();
    try {
      return fn();
    } finally {
      this.wasm.mem_reset(m);
    }
  }
}

/** Decodes an AssemblyScript string (UTF-16, byte length in the header word before it). */
function readAsString(memory: WebAssembly.Memory | undefined, ptr: number): string {
  if (!memory || ptr === 0) return "?";
  const bytes = new Uint32Array(memory.buffer, ptr - 4, 1)[0];
  return String.fromCharCode(...new Uint16Array(memory.buffer, ptr, bytes >>> 1));
}
