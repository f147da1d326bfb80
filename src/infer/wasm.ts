// The inference API's loader: it turns whatever the caller hands over (bytes, a URL to fetch, a
// Response, a compiled Module) into the compiled inference build (wasm/todm-infer-*.wasm,
// assembly/infer.ts), and InferHost, the WasmHost of src/wasm/host.ts on that build.
//
// What it is not: the code that touches the instance (src/wasm/host.ts: views, arena, env.abort as
// an InferError with the AssemblyScript file and line) or the training engine's loader.
// Everything here is browser-safe: no node: imports, no Buffer, no process.
// Relaxed SIMD: the caller may give both builds; the relaxed one is used when the runtime validates
// it (Chromium does; Node 20 needs V8's flag, which src/infer/node.ts sets), else plain SIMD.

import type { instantiate as instantiateInfer } from "../../wasm/todm-infer-simd.js";
import { instantiate, WasmHost, type HostErrors } from "../wasm/host.js";

/** The inference build's exports, as asc declares them. */
export type InferExports = Awaited<ReturnType<typeof instantiateInfer>>;

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

const INFER_ERRORS: HostErrors = {
  error: InferError,
  abort: "inference abort",
  outOfMemory: (bytes) => `(${(bytes / 2 ** 20).toFixed(1)} MiB)`,
};

/** An instance of the inference build with the arena helpers of WasmHost, and which build it is. */
export class InferHost extends WasmHost<InferExports> {
  private constructor(readonly build: InferBuildName, instance: WebAssembly.Instance) {
    super(instance, INFER_ERRORS);
  }

  static async instantiate(module: WebAssembly.Module, build: InferBuildName): Promise<InferHost> {
    const instance = await instantiate(module, INFER_ERRORS);
    // a single build handed over may be either one: it says which
    const relaxed = (instance.exports.infer_build_relaxed as (() => number) | undefined)?.();
    return new InferHost(relaxed === 1 ? "relaxed-simd" : relaxed === 0 ? "simd" : build, instance);
  }
}
