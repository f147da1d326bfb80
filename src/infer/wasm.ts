// The one file of the inference API that touches WebAssembly: it compiles and instantiates the
// inference build (wasm/todm-infer-*.wasm, assembly/infer.ts) from whatever the caller hands over,
// and wraps the instance in a small host with the same memory helpers as the training Engine.
//
// What it is not: the training engine's loader (src/engine.ts, which reads files with node:fs).
// Everything here is browser-safe: no node: imports, no Buffer, no process. The module's only import
// is env.abort, turned into an InferError with the AssemblyScript file and line.
// Relaxed SIMD: the caller may give both builds; the relaxed one is used when the runtime validates
// it (Chromium does; Node 20 needs V8's flag, which src/infer/node.ts sets), else plain SIMD.

import type { instantiate } from "../../wasm/todm-infer-simd.js";

/** The inference build's exports, as asc declares them. */
export type InferExports = Awaited<ReturnType<typeof instantiate>>;

/** Where the WebAssembly comes from: its bytes, a URL to fetch, a fetch Response, or a compiled Module. */
export type WasmSource = Uint8Array | ArrayBuffer | URL | string | Response | Promise<Response> | WebAssembly.Module;

/** One build, or both (the relaxed-SIMD one is preferred where it validates). */
export type WasmOption = WasmSource | { simd: WasmSource; relaxed?: WasmSource };

export type InferBuildName = "simd" | "relaxed-simd";

export class InferError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "InferError";
  }
}

async function bytesOf(src: Uint8Array | ArrayBuffer | URL | string | Response | Promise<Response>): Promise<ArrayBuffer> {
  if (src instanceof Uint8Array) return src.buffer.slice(src.byteOffset, src.byteOffset + src.byteLength) as ArrayBuffer;
  if (src instanceof ArrayBuffer) return src;
  let res: Response;
  if (typeof src === "string" || src instanceof URL) {
    try {
      res = await fetch(src);
    } catch (e) {
      throw new InferError(`cannot fetch the inference WebAssembly from ${String(src)}: ${(e as Error).message}`);
    }
  } else {
    res = await src;
  }
  if (!res.ok) throw new InferError(`cannot fetch the inference WebAssembly (${res.url || "response"}): HTTP ${res.status}`);
  return res.arrayBuffer();
}

/** Compiles `src`; null when it is bytes this runtime does not validate (e.g. relaxed SIMD off). */
async function compile(src: WasmSource, what: string, mayFail: boolean): Promise<WebAssembly.Module | null> {
  if (src instanceof WebAssembly.Module) return src;
  const bytes = await bytesOf(src as Uint8Array | ArrayBuffer | URL | string | Response | Promise<Response>);
  if (!WebAssembly.validate(bytes)) {
    if (mayFail) return null;
    throw new InferError(`the ${what} build of the inference WebAssembly does not validate in this runtime (WebAssembly SIMD is required)`);
  }
  return WebAssembly.compile(bytes);
}

/** Picks and compiles the build: relaxed SIMD when given and valid here, else plain SIMD. */
export async function compileInfer(wasm: WasmOption): Promise<{ module: WebAssembly.Module; build: InferBuildName }> {
  if (wasm && typeof wasm === "object" && "simd" in wasm) {
    if (wasm.relaxed !== undefined) {
      const m = await compile(wasm.relaxed, "relaxed-simd", true);
      if (m) return { module: m, build: "relaxed-simd" };
    }
    return { module: (await compile(wasm.simd, "simd", false))!, build: "simd" };
  }
  if (wasm === undefined || wasm === null) throw new InferError("no inference WebAssembly given: pass { wasm } (bytes, a URL or a Response)");
  const module = (await compile(wasm as WasmSource, "given", false))!;
  return { module, build: "simd" };
}

/** An instance of the inference build and its memory helpers (the subset of src/engine.ts's Engine the host code uses). */
export class InferHost {
  readonly wasm: InferExports;
  private readonly memory: WebAssembly.Memory;
  private buffer: ArrayBuffer;
  private f32View: Float32Array;
  private i32View: Int32Array;

  private constructor(readonly build: InferBuildName, instance: WebAssembly.Instance) {
    this.wasm = instance.exports as unknown as InferExports;
    this.memory = instance.exports.memory as WebAssembly.Memory;
    this.buffer = this.memory.buffer;
    this.f32View = new Float32Array(this.buffer);
    this.i32View = new Int32Array(this.buffer);
  }

  static async instantiate(module: WebAssembly.Module, build: InferBuildName): Promise<InferHost> {
    let memory: WebAssembly.Memory | undefined;
    const imports = {
      env: {
        abort(msgPtr: number, filePtr: number, line: number, col: number): never {
          const text = (p: number) => readAsString(memory, p);
          throw new InferError(`inference abort: ${text(msgPtr)} at ${text(filePtr)}:${line}:${col}`);
        },
      },
    };
    const instance = await WebAssembly.instantiate(module, imports);
    memory = instance.exports.memory as WebAssembly.Memory;
    // a single build handed over may be either one: it says which
    const relaxed = (instance.exports.infer_build_relaxed as (() => number) | undefined)?.();
    return new InferHost(relaxed === 1 ? "relaxed-simd" : relaxed === 0 ? "simd" : build, instance);
  }

  /** Bytes of linear memory in use by the instance (it only grows). */
  get memoryBytes(): number {
    return this.memory.buffer.byteLength;
  }

  get f32(): Float32Array {
    if (this.memory.buffer !== this.buffer) this.refresh();
    return this.f32View;
  }

  get i32(): Int32Array {
    if (this.memory.buffer !== this.buffer) this.refresh();
    return this.i32View;
  }

  private refresh(): void {
    this.buffer = this.memory.buffer;
    this.f32View = new Float32Array(this.buffer);
    this.i32View = new Int32Array(this.buffer);
  }

  /** `n` f32 (or i32) slots in the arena, 64-byte aligned; throws when memory is exhausted. */
  alloc(n: number, what = "tensor"): number {
    const bytes = Math.max(0, Math.ceil(n)) * 4;
    const ptr = bytes >= 2 ** 31 ? 0 : this.wasm.mem_alloc(bytes);
    if (ptr === 0) throw new InferError(`out of WebAssembly memory allocating ${what} (${(bytes / 2 ** 20).toFixed(1)} MiB)`);
    return ptr;
  }

  upload(data: ArrayLike<number>, kind: "f32" | "i32" = "f32"): number {
    const ptr = this.alloc(data.length);
    (kind === "f32" ? this.f32 : this.i32).set(data, ptr >> 2);
    return ptr;
  }

  write(ptr: number, data: ArrayLike<number>): void {
    this.f32.set(data, ptr >> 2);
  }

  /** Copies int8 values to byte address `ptr` (an int8 weight matrix). */
  writeI8(ptr: number, data: Int8Array): void {
    if (this.memory.buffer !== this.buffer) this.refresh();
    new Int8Array(this.buffer, ptr, data.length).set(data);
  }

  read(ptr: number, n: number): Float32Array {
    return this.f32.slice(ptr >> 2, (ptr >> 2) + n);
  }

  readI32(ptr: number, n: number): Int32Array {
    return this.i32.slice(ptr >> 2, (ptr >> 2) + n);
  }

  scoped<R>(fn: () => R): R {
    const m = this.wasm.mem_mark();
    try {
      return fn();
    } finally {
      this.wasm.mem_reset(m);
    }
  }
}

/** Decodes an AssemblyScript string (UTF-16, byte length in the word before it). */
function readAsString(memory: WebAssembly.Memory | undefined, ptr: number): string {
  if (!memory || ptr === 0) return "?";
  const bytes = new Uint32Array(memory.buffer, ptr - 4, 1)[0];
  return String.fromCharCode(...new Uint16Array(memory.buffer, ptr, bytes >>> 1));
}
