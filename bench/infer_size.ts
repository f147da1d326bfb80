// Size of the inference WebAssembly (wasm/todm-infer-*.wasm, assembly/infer.ts), each build,
// uncompressed and gzipped (what a web server would send). Issue target: at most 200 KB per build
// uncompressed (also asserted in test/infer.test.ts). No peer: a size, not a speed.
import { readFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { inferWasmPath } from "../dist/infer/node.js";
import type { BenchContext, BenchRecord } from "./lib.js";

export async function run(ctx: BenchContext): Promise<BenchRecord[]> {
  const out: BenchRecord[] = [];
  for (const build of ["simd", "relaxed-simd"] as const) {
    const bytes = readFileSync(inferWasmPath(build));
    const gz = gzipSync(bytes, { level: 9 }).length;
    ctx.log(`  ${build}: ${bytes.length} bytes, ${gz} gzipped`);
    const rec = (c: string, kb: number): BenchRecord => ({
      bench: "infer-size", case: c, metric: "KB", higherIsBetter: false, todm: kb, build, peers: {},
      machine: ctx.machine, commit: ctx.commit, note: "KB = 1024 bytes; target <= 200 KB per build uncompressed",
    });
    out.push(rec("inference wasm, uncompressed", bytes.length / 1024), rec("inference wasm, gzip -9", gz / 1024));
  }
  return out;
}
