// Activations (assembly/ops/activation.ts, gelu.ts) and the vector math under them (simd_math.ts):
// accuracy against float64 Math over wide ranges, SIMD against the naive twins in both builds,
// backward against float64 central finite differences of a float64 forward.
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import type { Engine } from "../src/index.js";
import { bothBuilds, engine, finiteDiff, randn, rng } from "./helpers.js";
import { checkOp } from "./harness.js";
import { elementwiseCases, f32 } from "./elementwise-fixture.js";
import { erfc64, gelu64, geluTanh64, maxUlp, normalCdf64, sigmoid64 } from "./ref64.js";

type Kernel = (...args: number[]) => void;
const k = (e: Engine, name: string): Kernel => (e.wasm as unknown as Record<string, Kernel>)[name];

interface Act {
  name: string; // kernel prefix
  extra: number[]; // trailing arguments (gelu's approximate flag)
  saved: "inp" | "out"; // what the backward takes
  f64: (x: number) => number;
  scale: number; // typical |x| for property tests
}

const ACTS: Act[] = [
  { name: "relu", extra: [], saved: "inp", f64: (x) => Math.max(x, 0), scale: 5 },
  { name: "sigmoid", extra: [], saved: "out", f64: sigmoid64, scale: 12 },
  { name: "tanh", extra: [], saved: "out", f64: Math.tanh, scale: 6 },
  { name: "silu", extra: [], saved: "inp", f64: (x) => x * sigmoid64(x), scale: 12 },
  { name: "exp", extra: [], saved: "out", f64: Math.exp, scale: 10 },
  { name: "gelu", extra: [0], saved: "inp", f64: gelu64, scale: 6 },
  { name: "gelu", extra: [1], saved: "inp", f64: geluTanh64, scale: 6 },
];
const label = (a: Act) => a.name + (a.extra.length ? `(approximate=${a.extra[0]})` : "");

/** Runs a unary forward kernel on x and returns a fresh copy of the output. */
function forward(e: Engine, fn: string, x: ArrayLike<number>, extra: number[] = []): Float32Array {
  return e.scoped(() => {
    const inp = e.upload(x), out = e.alloc(x.length);
    k(e, fn)(out, inp, x.length, ...extra);
    return e.read(out, x.length);
  });
}

/** A grid over [lo, hi] plus its f32-exact endpoints and the special values. */
function grid(lo: number, hi: number, n: number): Float32Array {
  const g = Array.from({ length: n }, (_, i) => lo + ((hi - lo) * i) / (n - 1));
  return Float32Array.from(g);
}

describe("vector math accuracy (simd_math.ts through exp/sigmoid/tanh/gelu forwards)", () => {
  it("exp: <= 2 ulp for normal results over [-87.3, 88.7], right subnormals, inf, 0 and NaN at the ends", async () => {
    for (const e of await bothBuilds()) {
      const x = grid(-87.3, 88.72, 200_001);
      const r = maxUlp(forward(e, "exp_forward", x), Array.from(x, Math.exp));
      // Range reduction + degree-6 polynomial (fit error 3e-9) + f32 Horner: measured about 1 ulp.
      expect(r.ulps, `${e.build} worst at x=${x[r.at]}`).toBeLessThanOrEqual(2);
      // Subnormal results: absolute error within 2 subnormal steps (2^-148).
      const sub = grid(-103.9, -87.4, 2001);
      const gotSub = forward(e, "exp_forward", sub);
      checkOp(`${e.build} exp subnormal results`, gotSub, Array.from(sub, Math.exp), 2 ** -148);
      const special = forward(e, "exp_forward", [88.72, 88.73, 89, 200, Infinity, -104, -1e9, -Infinity, NaN, 0]);
      expect(special[0]).toBeGreaterThan(3.3e38); // exp(88.72) = 3.35e38 is finite
      expect(Array.from(special.slice(1))).toEqual([Infinity, Infinity, Infinity, Infinity, 0, 0, 0, NaN, 1]);
    }
  });

  it("sigmoid and tanh: a few ulp, saturate without NaN over [-200, 200]", async () => {
    for (const e of await bothBuilds()) {
      const x = grid(-200, 200, 100_001);
      const sg = forward(e, "sigmoid_forward", x), th = forward(e, "tanh_forward", x);
      expect(sg.every(Number.isFinite) && th.every(Number.isFinite)).toBe(true);
      // sigmoid = 1/(1+exp(-x)): exp's 2 ulp plus one add and one divide; relative even in the lower tail.
      // Subnormal results (x < -87.3) are compared absolutely.
      const sgRef = Array.from(x, sigmoid64);
      const normal = x.map((_, i) => (sgRef[i] >= 2 ** -126 ? 1 : 0));
      expect(maxUlp(sg.filter((_, i) => normal[i]), sgRef.filter((_, i) => normal[i])).ulps).toBeLessThanOrEqual(4);
      sg.forEach((v, i) => normal[i] || expect(Math.abs(v - sgRef[i])).toBeLessThanOrEqual(2 ** -148));
      // tanh: the polynomial branch below 0.625 and 1 - 2/(exp(2|x|)+1) above: a few ulp.
      expect(maxUlp(th, Array.from(x, Math.tanh)).ulps).toBeLessThanOrEqual(4);
      const small = grid(-0.7, 0.7, 50_001); // relative accuracy near 0, across the branch switch
      expect(maxUlp(forward(e, "tanh_forward", small), Array.from(small, Math.tanh)).ulps).toBeLessThanOrEqual(3);
    }
  });

  it("gelu exact: relative error <= 6e-7 + 1.7e-7 x^2 below 0, <= 6e-7 above, from -13 to 9", async () => {
    // Check the float64 reference itself once, at values from Python's math.erfc.
    expect(erfc64(0.5)).toBeCloseTo(0.4795001221869535, 14);
    expect(erfc64(3.5) / 7.430983723414128e-7).toBeCloseTo(1, 12);
    for (const e of await bothBuilds()) {
      const x = grid(-13, 9, 220_001);
      const got = forward(e, "gelu_forward", x, [0]);
      const ref = Array.from(x, gelu64);
      // Below 0, Phi = t*exp(-z^2 + P(t))/2: the f32 roundings of z = |x|/sqrt2 and of z^2 move the
      // exponent by about 2 z^2 * 6e-8 (measured: 4.3e-7 + 1.6e-7 x^2 relative, 1.8e-5 at x = -13).
      // Above 0, x*(1 - erfc/2): the same erfc error near x = 0 (Phi ~ 1/2), a few ulp further out.
      x.forEach((v, i) => {
        const tol = Math.abs(ref[i]) * (v < 0 ? 6e-7 + 1.7e-7 * v * v : 6e-7);
        if (!(Math.abs(got[i] - ref[i]) <= tol)) throw new Error(`${e.build}: gelu(${v}) = ${got[i]} vs ${ref[i]}`);
      });
      // Far tails: finite, and exactly 0 or x once Phi leaves f32.
      const tails = forward(e, "gelu_forward", [-30, -1e6, 30, 1e6, -Infinity], [0]);
      expect(Array.from(tails.slice(0, 4))).toEqual([-0, -0, 30, 1e6]);
      expect(normalCdf64(-8)).toBeGreaterThan(0); // the reference does not underflow where we compare
    }
  });
});

describe("activations: SIMD kernels against their naive twins (both builds)", () => {
  for (const act of ACTS) {
    it(label(act), async () => {
      for (const e of await bothBuilds()) {
        fc.assert(
          fc.property(fc.integer({ min: 1, max: 67 }), fc.integer(), fc.double({ min: 0.01, max: 1, noNaN: true }),
            (n, seed, s) => {
              const r = rng(seed);
              const x = randn(n, r, act.scale * s), dout = randn(n, r), d0 = randn(n, r);
              e.scoped(() => {
                const inp = e.upload(x), o1 = e.alloc(n), o2 = e.alloc(n);
                k(e, `${act.name}_forward`)(o1, inp, n, ...act.extra);
                k(e, `${act.name}_forward_naive`)(o2, inp, n, ...act.extra);
                const y = e.read(o2, n);
                // Vector polynomials against musl's Mathf (gelu: the same erfc form in f64): a few ulp.
                checkOp(`${label(act)} forward`, e.read(o1, n), y, 1e-7, 1e-6);
                const saved = act.saved === "inp" ? inp : o2;
                const g = e.upload(dout), g1 = e.upload(d0), g2 = e.upload(d0);
                k(e, `${act.name}_backward`)(g1, g, saved, n, ...act.extra);
                k(e, `${act.name}_backward_naive`)(g2, g, saved, n, ...act.extra);
                // Accumulated onto d0 (|d0| <= 1); derivative terms of a few ulp each, FMA or not.
                checkOp(`${label(act)} backward`, e.read(g1, n), e.read(g2, n), 2e-7 * act.scale, 2e-6);
              });
            }),
          { numRuns: 60 },
        );
      }
    });
  }
});

describe("activations: backward against float64 finite differences", () => {
  for (const act of ACTS) {
    it(label(act), async () => {
      const e = await engine();
      fc.assert(
        fc.property(fc.integer({ min: 1, max: 23 }), fc.integer(), (n, seed) => {
          const r = rng(seed);
          const x = randn(n, r, act.scale);
          // relu's kink: keep points at least 1e-3 from 0 (the FD step is 1e-5); exactly 0 is checked below.
          if (act.name === "relu") x.forEach((v, i) => (x[i] = Math.abs(v) < 1e-3 ? 0.5 : v));
          const dout = randn(n, r), d0 = randn(n, r);
          const got = e.scoped(() => {
            const inp = e.upload(x), out = e.alloc(n), g = e.upload(dout), dinp = e.upload(d0);
            k(e, `${act.name}_forward`)(out, inp, n, ...act.extra);
            k(e, `${act.name}_backward`)(dinp, g, act.saved === "inp" ? inp : out, n, ...act.extra);
            return e.read(dinp, n);
          });
          const loss = (v: Float64Array) => v.reduce((s, xi, i) => s + dout[i] * act.f64(xi), 0);
          const fd = finiteDiff(loss, Float64Array.from(x), [...Array(n).keys()]);
          const ref = Array.from(fd, (v, i) => v + d0[i]);
          // f32 derivative (few ulp of values up to exp(10) = 2.2e4) vs FD truncation O(h^2 f''') ~ 1e-9.
          checkOp(`${label(act)} grad`, got, ref, 2e-6, 2e-6);
        }),
        { numRuns: 40 },
      );
    });
  }

  it("relu at exactly 0 passes no gradient (torch's convention)", async () => {
    const e = await engine();
    const got = e.scoped(() => {
      const dinp = e.upload([0, 0, 0]);
      k(e, "relu_backward")(dinp, e.upload([1, 1, 1]), e.upload([0, -0, 1e-30]), 3);
      return e.read(dinp, 3);
    });
    expect(Array.from(got)).toEqual([0, 0, 1]);
  });
});

describe("activations against PyTorch 1.13 (test/fixtures/elementwise.json)", () => {
  const cases: [string, string, number[]][] = [
    ["gelu", "gelu", [0]], ["gelu_tanh", "gelu", [1]], ["silu", "silu", []], ["sigmoid", "sigmoid", []],
    ["tanh", "tanh", []], ["relu", "relu", []], ["exp", "exp", []],
  ];
  for (const [op, kernel, extra] of cases) {
    it(op, async () => {
      const act = ACTS.find((a) => a.name === kernel && (a.extra[0] ?? 0) === (extra[0] ?? 0))!;
      for (const e of await bothBuilds()) {
        for (const c of elementwiseCases(op)) {
          const x = f32(c, "x"), dout = f32(c, "dout"), n = x.length;
          const [y, dx] = e.scoped(() => {
            const inp = e.upload(x), out = e.alloc(n), dinp = e.upload(new Float32Array(n));
            k(e, `${kernel}_forward`)(out, inp, n, ...extra);
            k(e, `${kernel}_backward`)(dinp, e.upload(dout), act.saved === "inp" ? inp : out, n, ...extra);
            return [e.read(out, n), e.read(dinp, n)];
          });
          // Against torch in float64 on the same inputs: our few-ulp f32 results, relative; gelu's lower
          // tail loses up to 1.7e-7 x^2 relative (x >= -10 here: 2e-5, see simd_math.ts). atol 1e-14:
          // torch's f64 gelu cancels too (1 + erf(x/sqrt2) is 0 below x = -8.3, 2% off at x = -8).
          checkOp(`${op} forward vs torch f64 (${e.build})`, y, c.y64 as number[], 1e-14, 2e-5);
          // atol 2e-7 in the backward: sigmoid and tanh take the saved f32 output, and 1 - y near
          // saturation keeps only ulp(1)/2 = 6e-8 absolute (times |dout| <= 3), as torch's f32 does.
          checkOp(`${op} backward vs torch f64 (${e.build})`, dx, c.dx64 as number[], 2e-7, 2e-5);
          // Against torch's f32 kernels: theirs are less exact. Its f32 gelu's erf has ~1e-7 absolute
          // error (3.7e-5 relative at x = -2.86), its tanh form rounds 1 + tanh(u) to 0 for x < -5.
          checkOp(`${op} forward vs torch f32 (${e.build})`, y, f32(c, "y"), 3e-7, 4e-6);
          checkOp(`${op} backward vs torch f32 (${e.build})`, dx, f32(c, "dx"), 3e-7, 4e-6);
        }
      }
    });
  }
});

describe("activations: extreme inputs", () => {
  it("gelu backward is exactly 0 / 1 far out and never NaN for finite x (both forms, both builds)", async () => {
    for (const e of await bothBuilds()) {
      const x = [-3e38, -1e20, -1e6, -150, 150, 1e6, 1e20, 3e38];
      for (const approximate of [0, 1]) {
        for (const fn of ["gelu_backward", "gelu_backward_naive"]) {
          const got = e.scoped(() => {
            const dinp = e.upload(new Float32Array(8));
            k(e, fn)(dinp, e.upload(new Float32Array(8).fill(1)), e.upload(x), 8, approximate);
            return e.read(dinp, 8);
          });
          expect(Array.from(got), `${fn}(approximate=${approximate}, ${e.build})`).toEqual([0, 0, 0, 0, 1, 1, 1, 1]);
        }
      }
    }
  });
});
