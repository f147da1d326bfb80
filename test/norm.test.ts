// layernorm (assembly/ops/norm.ts) and rmsnorm (assembly/ops/rmsnorm.ts): SIMD against the naive twins in
// both builds, every gradient (inp, weight, bias) against float64 central finite differences of a
// float64 forward written here, the no-affine variants, leading-slice weights, and PyTorch 1.13.
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import type { Engine } from "../src/index.js";
import { bothBuilds, engine, finiteDiff, randn, rng } from "./helpers.js";
import { checkOp } from "./harness.js";
import { elementwiseCases, f32 } from "./elementwise-fixture.js";

type Kernel = (...args: number[]) => void;
const k = (e: Engine, name: string): Kernel => (e.wasm as unknown as Record<string, Kernel>)[name];
type Norm = "layernorm" | "rmsnorm";

/** float64 layernorm / rmsnorm of x [R, C]; w, b may be null (no affine part). */
function ref64(op: Norm, x: ArrayLike<number>, w: ArrayLike<number> | null, b: ArrayLike<number> | null,
  R: number, C: number, eps: number): Float64Array {
  const y = new Float64Array(R * C);
  for (let r = 0; r < R; r++) {
    const row = Array.from({ length: C }, (_, j) => x[r * C + j]);
    const m = op === "layernorm" ? row.reduce((s, v) => s + v, 0) / C : 0;
    const v = row.reduce((s, xi) => s + (xi - m) ** 2, 0) / C;
    const rs = 1 / Math.sqrt(v + eps);
    row.forEach((xi, j) => (y[r * C + j] = (xi - m) * rs * (w ? w[j] : 1) + (b ? b[j] : 0)));
  }
  return y;
}

interface Bufs { x: Float32Array; w: Float32Array | null; b: Float32Array | null; dout: Float32Array; d0: Float32Array; dw0: Float32Array; db0: Float32Array }

/** Runs forward then backward; weights are passed as the leading C of a buffer of C + pad. */
function run(e: Engine, op: Norm, naive: boolean, t: Bufs, R: number, C: number, eps: number, pad = 0) {
  const sfx = naive ? "_naive" : "";
  return e.scoped(() => {
    const inp = e.upload(t.x), out = e.alloc(R * C), mean = e.alloc(R), rstd = e.alloc(R);
    const wide = (v: Float32Array | null, fill: number) => (v ? e.upload([...v, ...Array(pad).fill(fill)]) : 0);
    const w = wide(t.w, 7), b = wide(t.b, 7);
    const dw = t.w ? wide(t.dw0, 3) : 0, db = t.b ? wide(t.db0, 3) : 0;
    const dinp = e.upload(t.d0), g = e.upload(t.dout);
    if (op === "layernorm") {
      k(e, `layernorm_forward${sfx}`)(out, mean, rstd, inp, w, b, R, C, eps);
      k(e, `layernorm_backward${sfx}`)(dinp, dw, db, g, inp, w, mean, rstd, R, C);
    } else {
      k(e, `rmsnorm_forward${sfx}`)(out, rstd, inp, w, R, C, eps);
      k(e, `rmsnorm_backward${sfx}`)(dinp, dw, g, inp, w, rstd, R, C);
    }
    return {
      y: e.read(out, R * C), mean: e.read(mean, R), rstd: e.read(rstd, R), dx: e.read(dinp, R * C),
      dw: dw ? e.read(dw, C + pad) : null, db: db ? e.read(db, C + pad) : null,
    };
  });
}

function draw(op: Norm, R: number, C: number, seed: number, affine: boolean, offset: number, scale: number): Bufs {
  const r = rng(seed);
  const x = randn(R * C, r, scale).map((v, i) => v + offset * Math.sin(1 + Math.floor(i / C)));
  return {
    x, w: affine ? randn(C, r).map((v) => 1 + 0.5 * v) : null, b: affine && op === "layernorm" ? randn(C, r, 0.5) : null,
    dout: randn(R * C, r), d0: randn(R * C, r), dw0: randn(C, r), db0: randn(C, r),
  };
}

const shapes = fc.tuple(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 41 }));

for (const op of ["layernorm", "rmsnorm"] as const) {
  describe(`${op}`, () => {
    it("SIMD matches the naive twin (both builds), with and without affine, leading-slice weights", async () => {
      for (const e of await bothBuilds()) {
        fc.assert(
          fc.property(shapes, fc.integer(), fc.boolean(), fc.constantFrom(0, 3, 100), fc.integer({ min: 0, max: 5 }),
            ([R, C], seed, affine, offset, pad) => {
              const t = draw(op, R, C, seed, affine, offset, 2);
              const a = run(e, op, false, t, R, C, 1e-5, pad), n = run(e, op, true, t, R, C, 1e-5, pad);
              // Row statistics summed in 4 lanes vs one: a few ulp of rstd <= 1/sqrt(eps) and of outputs
              // of size ~3; the backward sums C products, relative to their scale rstd * C * |dout w|.
              checkOp(`${op} rstd`, a.rstd, n.rstd, 1e-6, 2e-6);
              checkOp(`${op} y`, a.y, n.y, 4e-6, 4e-6);
              const scale = Math.max(...Array.from(a.rstd));
              checkOp(`${op} dx`, a.dx, n.dx, 4e-6 * scale, 4e-6);
              if (a.dw) checkOp(`${op} dweight`, a.dw, n.dw!, 4e-6 * R, 4e-6);
              if (a.db) checkOp(`${op} dbias`, a.db, n.db!, 4e-6 * R, 4e-6);
              // The padding past C is never touched (a subnet's slice of a wider parameter).
              if (a.dw) expect(Array.from(a.dw.slice(C))).toEqual(Array(pad).fill(3));
            }),
          { numRuns: 60 },
        );
      }
    });

    it("every gradient matches float64 finite differences", async () => {
      const e = await engine();
      fc.assert(
        fc.property(shapes, fc.integer(), fc.boolean(), fc.constantFrom(0, 3, 100), fc.double({ min: 0.3, max: 3, noNaN: true }),
          ([R, C], seed, affine, offset, scale) => {
            const t = draw(op, R, C, seed, affine, offset, scale);
            // eps large enough that a row of C = 1 (variance 0) stays differentiable and well scaled.
            const eps = op === "layernorm" ? 1e-3 : 1e-5;
            const got = run(e, op, false, t, R, C, eps);
            const y64 = ref64(op, t.x, t.w, t.b, R, C, eps);
            // f32 statistics: a few ulp of |y| <= ~5. Rows offset by 100 (|mean| >> std): the saved f32
            // mean rounds to ulp(100)/2 = 3.8e-6, which every normalised value sees times rstd.
            const rsMax = Math.max(...Array.from(got.rstd));
            const meanErr = op === "layernorm" && offset > 0 ? 2 ** (Math.floor(Math.log2(offset)) - 23) : 0;
            checkOp(`${op} forward`, got.y, y64, 2e-6 + meanErr * rsMax * 2, 2e-6);
            const loss = (x: ArrayLike<number>, w: ArrayLike<number> | null, b: ArrayLike<number> | null) =>
              ref64(op, x, w, b, R, C, eps).reduce((s, yi, i) => s + t.dout[i] * yi, 0);
            // f32 gradient terms scale with rstd (up to 1/sqrt(eps) = 32) and C (sums over the row);
            // the mean's rounding enters norm (times rstd) and dinp (times rstd^2 |dout w| <= 4 rstd^2).
            // FD truncation in f64 is ~1e-9.
            const dx = finiteDiff((v) => loss(v, t.w, t.b), Float64Array.from(t.x), [...Array(R * C).keys()]);
            checkOp(`${op} dinp`, got.dx, Array.from(dx, (v, i) => v + t.d0[i]),
              2e-6 * rsMax + 4 * meanErr * rsMax * rsMax, 1e-5);
            if (t.w) {
              const dw = finiteDiff((v) => loss(t.x, v, t.b), Float64Array.from(t.w), [...Array(C).keys()]);
              checkOp(`${op} dweight`, got.dw!, Array.from(dw, (v, i) => v + t.dw0[i]),
                4e-6 * R + 4 * meanErr * rsMax * R, 1e-5);
            }
            if (t.b) {
              const db = finiteDiff((v) => loss(t.x, t.w, v), Float64Array.from(t.b), [...Array(C).keys()]);
              checkOp(`${op} dbias`, got.db!, Array.from(db, (v, i) => v + t.db0[i]), 4e-6 * R, 1e-5);
            }
          }),
        { numRuns: 60 },
      );
    });

    it("matches PyTorch 1.13 (test/fixtures/elementwise.json)", async () => {
      for (const e of await bothBuilds()) {
        for (const c of elementwiseCases(op)) {
          const R = c.R!, C = c.C!;
          const affine = "weight" in c;
          const t: Bufs = {
            x: f32(c, "x"), w: affine ? f32(c, "weight") : null, b: affine && op === "layernorm" ? f32(c, "bias") : null,
            dout: f32(c, "dout"), d0: new Float32Array(R * C), dw0: new Float32Array(C), db0: new Float32Array(C),
          };
          const got = run(e, op, false, t, R, C, c.eps!);
          // Both f32 with different summation orders; |y| and |dx| up to ~10: a few ulp.
          const tag = `${op} ${R}x${C} ${affine ? "affine" : "plain"} (${e.build})`;
          checkOp(`${tag} y`, got.y, f32(c, "y"), 2e-6, 2e-6);
          checkOp(`${tag} rstd`, got.rstd, f32(c, "rstd"), 1e-7, 2e-6);
          if (op === "layernorm") checkOp(`${tag} mean`, got.mean, f32(c, "mean"), 2e-6, 2e-6);
          checkOp(`${tag} dx`, got.dx, f32(c, "dx"), 4e-6, 4e-6);
          if (affine) checkOp(`${tag} dweight`, got.dw!, f32(c, "dweight"), 4e-6, 4e-6);
          if (affine && op === "layernorm") checkOp(`${tag} dbias`, got.db!, f32(c, "dbias"), 4e-6, 4e-6);
        }
      }
    });
  });
}
