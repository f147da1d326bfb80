// `todm selfcheck`: proves on this machine that the chosen build loads, that its fast kernels agree
// with their scalar twins, and that the tape's gradients agree with finite differences of the
// engine's own forward. Returns false on any failure.

import type { Engine } from "../engine/engine.js";
import { Tape, type T } from "../engine/tape.js";

export function runSelfcheck(engine: Engine, log: (line: string) => void): boolean {
  log(`engine build: ${engine.build}`);
  let ok = true;
  const check = (name: string, err: number, tol: number) => {
    const pass = Number.isFinite(err) && err <= tol;
    ok &&= pass;
    log(`${pass ? "OK    " : "NOT OK"} ${name.padEnd(52)} max error ${err.toExponential(2)} (tolerance ${tol})`);
  };
  let seed = 12345;
  const rand = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32) * 2 - 1;

  engine.scoped(() => {
    // GEMM against its naive twin, on an awkward shape with a strided A.
    const M = 13, N = 7, K = 29, lda = 31;
    const pa = engine.upload(Array.from({ length: M * lda }, rand)), pb = engine.upload(Array.from({ length: K * N }, rand));
    const c1 = engine.alloc(M * N), c2 = engine.alloc(M * N);
    engine.wasm.gemm(0, 0, M, N, K, 1, pa, lda, pb, N, 0, c1, N);
    engine.wasm.gemm_naive(0, 0, M, N, K, 1, pa, lda, pb, N, 0, c2, N);
    // f32 sums of 29 products of magnitude <= 1 in another order (FMA or not): ~1e-6; 1e-4 leaves room.
    check("gemm vs gemm_naive (13x7x29, lda 31)", maxAbsDiff(engine.read(c1, M * N), engine.read(c2, M * N)), 1e-4);
  });

  // Gradients through the tape against central differences of the same f32 forward (h = 1e-2):
  // truncation ~h^2 and rounding ~1e-7/h, both ~1e-5 relative to the gradient's scale here (measured); 1e-3 is a loose bar
  // that still catches a wrong formula.
  const R = 3, C = 8, OC = 5;
  const x0 = Array.from({ length: R * C }, rand), w0 = Array.from({ length: OC * C }, rand), m0 = Array.from({ length: R * OC }, rand);
  const ops: [string, (t: Tape, x: T, w: T, m: T) => T][] = [
    ["linear", (t, x, w) => t.linear(x, w, 0, R, C, OC)],
    ["tanh(linear)", (t, x, w) => t.tanh(t.linear(x, w, 0, R, C, OC), R * OC)],
    ["gelu(linear)", (t, x, w) => t.gelu(t.linear(x, w, 0, R, C, OC), R * OC)],
    ["layernorm(linear)", (t, x, w) => t.layernorm(t.linear(x, w, 0, R, C, OC), 0, 0, R, OC)],
    ["log_softmax(linear)", (t, x, w) => t.logSoftmax(t.linear(x, w, 0, R, C, OC), R, OC)],
  ];
  for (const [name, f] of ops) {
    const tape = new Tape(engine);
    const loss = (x: number[]): { value: number; grad?: Float32Array } => {
      tape.begin();
      try {
        const tx = tape.input(x, true), tw = tape.input(w0), tm = tape.input(m0);
        const y = f(tape, tx, tw, tm);
        const l = tape.sum(tape.mul(y, tm, R * OC), R * OC);
        tape.backward(l);
        return { value: tape.dataOf(l)[0], grad: tape.gradOf(tx) };
      } finally {
        tape.end();
      }
    };
    const g = loss(x0).grad!;
    let err = 0, scale = 1e-3;
    const h = 1e-2;
    for (let i = 0; i < x0.length; i++) {
      const xp = [...x0], xm = [...x0];
      xp[i] += h;
      xm[i] -= h;
      const fd = (loss(xp).value - loss(xm).value) / (2 * h);
      err = Math.max(err, Math.abs(fd - g[i]));
      scale = Math.max(scale, Math.abs(fd));
    }
    check(`d/dx sum(${name} * m) vs finite differences`, err / scale, 1e-3);
  }
  return ok;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}
