// add / mul / scale (assembly/ops/elementwise.ts): SIMD against the naive twins in both builds, the
// backward against float64 central finite differences, and the "0 = gradient not needed" pointers.
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import type { Engine } from "../src/index.js";
import { bothBuilds, engine, finiteDiff, randn, rng } from "./helpers.js";
import { checkOp } from "./harness.js";

type Kernel = (...args: number[]) => void;
const k = (e: Engine, name: string): Kernel => (e.wasm as unknown as Record<string, Kernel>)[name];

const sizes = fc.integer({ min: 1, max: 45 });

describe("elementwise: SIMD against the naive twins (both builds)", () => {
  it("add, mul, scale forward and backward, with accumulation and 0 gradient pointers", async () => {
    for (const e of await bothBuilds()) {
      fc.assert(
        fc.property(sizes, fc.integer(), fc.double({ min: -4, max: 4, noNaN: true }), fc.boolean(), fc.boolean(),
          (n, seed, s, wantA, wantB) => {
            const r = rng(seed);
            const a = randn(n, r, 3), b = randn(n, r, 3), g = randn(n, r), d0 = randn(n, r);
            e.scoped(() => {
              const pa = e.upload(a), pb = e.upload(b), pg = e.upload(g);
              const out = () => e.alloc(n);
              for (const op of ["add", "mul"]) {
                const o1 = out(), o2 = out();
                k(e, `${op}_forward`)(o1, pa, pb, n);
                k(e, `${op}_forward_naive`)(o2, pa, pb, n);
                // One rounding per element, the same operation: bit-identical.
                expect(Array.from(e.read(o1, n))).toEqual(Array.from(e.read(o2, n)));
                const da1 = wantA ? e.upload(d0) : 0, db1 = wantB ? e.upload(d0) : 0;
                const da2 = wantA ? e.upload(d0) : 0, db2 = wantB ? e.upload(d0) : 0;
                const extra = op === "mul" ? [pa, pb] : [];
                k(e, `${op}_backward`)(da1, db1, pg, ...extra, n);
                k(e, `${op}_backward_naive`)(da2, db2, pg, ...extra, n);
                // mul's backward is d0 + g*b, one FMA (relaxed build) or two roundings: 1 ulp of |d0| + |g b| <= 4.
                if (wantA) checkOp(`${op} da`, e.read(da1, n), e.read(da2, n), 5e-7, 0);
                if (wantB) checkOp(`${op} db`, e.read(db1, n), e.read(db2, n), 5e-7, 0);
              }
              const o1 = out(), o2 = out();
              k(e, "scale_forward")(o1, pa, s, n);
              k(e, "scale_forward_naive")(o2, pa, s, n);
              expect(Array.from(e.read(o1, n))).toEqual(Array.from(e.read(o2, n))); // one rounding each: identical
              const g1 = e.upload(d0), g2 = e.upload(d0);
              k(e, "scale_backward")(g1, pg, s, n);
              k(e, "scale_backward_naive")(g2, pg, s, n);
              checkOp("scale dinp", e.read(g1, n), e.read(g2, n), 5e-7, 0); // FMA or not: 1 ulp of <= 5
            });
          }),
        { numRuns: 80 },
      );
    }
  });

  it("forward may run in place (out = a)", async () => {
    const e = await engine();
    const a = randn(13, rng(1)), b = randn(13, rng(2));
    const got = e.scoped(() => {
      const pa = e.upload(a), pb = e.upload(b);
      k(e, "mul_forward")(pa, pa, pb, 13);
      return e.read(pa, 13);
    });
    expect(Array.from(got)).toEqual(Array.from(a, (v, i) => Math.fround(v * b[i])));
  });
});

describe("elementwise: backward against float64 finite differences", () => {
  it("add, mul, scale", async () => {
    const e = await engine();
    fc.assert(
      fc.property(sizes, fc.integer(), fc.double({ min: -4, max: 4, noNaN: true }), (n, seed, s) => {
        const r = rng(seed);
        const a = randn(n, r, 3), b = randn(n, r, 3), g = randn(n, r), d0 = randn(n, r);
        const all = [...Array(n).keys()];
        const sf = Math.fround(s); // the kernel takes s as f32
        const run = (op: string) =>
          e.scoped(() => {
            const da = e.upload(d0), db = e.upload(d0), pg = e.upload(g);
            if (op === "scale") k(e, "scale_backward")(da, pg, sf, n);
            else k(e, `${op}_backward`)(da, db, pg, ...(op === "mul" ? [e.upload(a), e.upload(b)] : []), n);
            return [e.read(da, n), e.read(db, n)];
          });
        const loss = (f: (x: number, y: number) => number, wrtA: boolean) => (v: Float64Array) =>
          v.reduce((acc, vi, i) => acc + g[i] * (wrtA ? f(vi, b[i]) : f(a[i], vi)), 0);
        const check = (name: string, got: Float32Array, fd: Float64Array) =>
          // f32 products of magnitude <= 9 added to d0 vs an FD of a bilinear loss (exact up to 1e-10).
          checkOp(name, got, Array.from(fd, (v, i) => v + d0[i]), 2e-6, 1e-6);
        for (const [op, f] of [["add", (x: number, y: number) => x + y], ["mul", (x: number, y: number) => x * y]] as const) {
          const [da, db] = run(op);
          check(`${op} da`, da, finiteDiff(loss(f, true), Float64Array.from(a), all));
          check(`${op} db`, db, finiteDiff(loss(f, false), Float64Array.from(b), all));
        }
        const [ds] = run("scale");
        check("scale dinp", ds, finiteDiff(loss((x) => sf * x, true), Float64Array.from(a), all));
      }),
      { numRuns: 50 },
    );
  });
});
