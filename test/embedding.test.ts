// embedding (assembly/ops/embedding.ts): forward against a brute-force gather and the backward against a
// brute-force scatter-add written here (its float64 finite differences are exactly this scatter: the
// loss is linear in the table), with repeated ids, leading-slice tables (ldt > C), both builds.
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import type { Engine } from "../src/index.js";
import { EngineError } from "../src/index.js";
import { bothBuilds, engine, finiteDiff, randn, rng } from "./helpers.js";
import { checkOp } from "./harness.js";

type Kernel = (...args: number[]) => void;
const k = (e: Engine, name: string): Kernel => (e.wasm as unknown as Record<string, Kernel>)[name];

describe("embedding", () => {
  it("forward gathers and backward scatter-adds like brute force (both builds, naive twins too)", async () => {
    for (const e of await bothBuilds()) {
      fc.assert(
        fc.property(fc.integer({ min: 1, max: 9 }), fc.integer({ min: 1, max: 30 }), fc.integer({ min: 1, max: 37 }),
          fc.integer({ min: 0, max: 5 }), fc.integer(), (V, R, C, pad, seed) => {
            const r = rng(seed), ldt = C + pad;
            const table = randn(V * ldt, r), dout = randn(R * C, r), dt0 = randn(V * ldt, r);
            const ids = Int32Array.from({ length: R }, () => Math.floor(r() * V)); // repeats when R > V
            const gather = Float32Array.from({ length: R * C }, (_, i) => table[ids[Math.floor(i / C)] * ldt + (i % C)]);
            const scatter = Float64Array.from(dt0);
            ids.forEach((id, row) => { for (let j = 0; j < C; j++) scatter[id * ldt + j] += dout[row * C + j]; });
            for (const sfx of ["", "_naive"]) {
              const [out, dt] = e.scoped(() => {
                const pi = e.upload(ids, "i32"), pt = e.upload(table), out = e.alloc(R * C), dt = e.upload(dt0);
                k(e, `embedding_forward${sfx}`)(out, pi, pt, R, C, ldt);
                k(e, `embedding_backward${sfx}`)(dt, e.upload(dout), pi, R, C, ldt);
                return [e.read(out, R * C), e.read(dt, V * ldt)];
              });
              expect(Array.from(out)).toEqual(Array.from(gather)); // a copy: exact
              // Repeated ids add in row order in f32; the float64 sum differs by the f32 roundings
              // of up to R additions of terms <= 1 (atol R * 6e-8 * |partial sum| <= 30 * 6e-8 * 30).
              checkOp(`embedding_backward${sfx} vs float64 scatter`, dt, scatter, 6e-5);
              // Columns past C (the rest of a wider table) are untouched.
              for (let id = 0; id < V; id++) for (let j = C; j < ldt; j++) expect(dt[id * ldt + j]).toBe(dt0[id * ldt + j]);
            }
          }),
        { numRuns: 80 },
      );
    }
  });

  it("backward matches float64 finite differences of sum(dout * gather(table))", async () => {
    const e = await engine();
    const V = 4, R = 7, C = 5, ldt = 6;
    const r = rng(3);
    const table = randn(V * ldt, r), dout = randn(R * C, r);
    const ids = Int32Array.from([2, 0, 2, 3, 2, 0, 1]);
    const loss = (t: Float64Array) => {
      let s = 0;
      ids.forEach((id, row) => { for (let j = 0; j < C; j++) s += dout[row * C + j] * t[id * ldt + j]; });
      return s;
    };
    const fd = finiteDiff(loss, Float64Array.from(table), [...Array(V * ldt).keys()]);
    const got = e.scoped(() => {
      const dt = e.upload(new Float32Array(V * ldt));
      k(e, "embedding_backward")(dt, e.upload(dout), e.upload(ids, "i32"), R, C, ldt);
      return e.read(dt, V * ldt);
    });
    // f32 sums of at most 3 terms of size <= 1 against an exact-for-linear FD: 1e-6.
    checkOp("embedding_backward vs finite differences", got, fd, 1e-6);
  });

  it("a negative id aborts with an EngineError naming the kernel", async () => {
    const e = await engine();
    expect(() =>
      e.scoped(() => k(e, "embedding_forward")(e.alloc(4), e.upload([1, -1], "i32"), e.upload(new Float32Array(8)), 2, 2, 2)),
    ).toThrow(EngineError);
    expect(() =>
      e.scoped(() => k(e, "embedding_forward")(e.alloc(4), e.upload([-3], "i32"), e.upload(new Float32Array(8)), 1, 2, 2)),
    ).toThrow(/embedding: negative id/);
  });
});
