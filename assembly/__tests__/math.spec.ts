// The inline math of assembly/math.ts, lane by lane, against scalar f64 Math.* (independent of the
// polynomials): exp4 over its whole range with its special values and underflow policy, sigmoid4,
// tanh4, madd4, and log_add_exp against the naive formula where it is safe and the identities where
// it is not. The exported ops built on them are tested from vitest (test/activation.test.ts).
import { exp4, log_add_exp, madd4, sigmoid4, tanh4 } from "../math";

function lane(v: v128, i: i32): f32 {
  if (i == 0) return f32x4.extract_lane(v, 0);
  if (i == 1) return f32x4.extract_lane(v, 1);
  if (i == 2) return f32x4.extract_lane(v, 2);
  return f32x4.extract_lane(v, 3);
}
function lane0(v: v128): f32 {
  return f32x4.extract_lane(v, 0);
}

describe("exp4", () => {
  it("is within 3e-7 relative of exp for normal results, every lane, over [-87.3, 88.7]", () => {
    let worst: f64 = 0;
    for (let x: f32 = -87.3; x <= 88.5; x += 0.0173) {
      const v = exp4(f32x4(x, x + 0.005, x + 0.01, x + 0.0125));
      for (let i = 0; i < 4; i++) {
        const xi: f32 = i == 0 ? x : i == 1 ? x + <f32>0.005 : i == 2 ? x + <f32>0.01 : x + <f32>0.0125;
        const ref = Math.exp(<f64>xi);
        const err = Math.abs(<f64>lane(v, i) - ref) / ref;
        if (err > worst) worst = err;
      }
    }
    expect<f64>(worst).toBeLessThan(3e-7); // about 1 ulp measured (2^-23 = 1.2e-7 is one ulp at the top of a binade)
  });
  it("grades subnormal results (x in [-103.9, -87.4]) within 2 subnormal steps, and gives 0 from -104 on", () => {
    for (let x: f32 = -103.9; x <= -87.4; x += 0.0097) {
      const err = Math.abs(<f64>lane0(exp4(f32x4.splat(x))) - Math.exp(<f64>x));
      expect<f64>(err).toBeLessThanOrEqual(2.0 ** -148);
    }
    const far = exp4(f32x4(-104, -1e9, -Infinity, -100));
    expect<f32>(lane(far, 0)).toBe(0);
    expect<f32>(lane(far, 1)).toBe(0);
    expect<f32>(lane(far, 2)).toBe(0); // exp(-inf) = 0 exactly
    expect<f32>(lane(far, 3)).toBeGreaterThan(0); // exp(-100) = 3.7e-44: subnormal, not flushed
  });
  it("overflows to +inf from 89 on, keeps exp(88.72) finite, passes NaN, and exp(0) = 1 exactly", () => {
    const v = exp4(f32x4(88.72, 89, 1000, Infinity));
    expect<f32>(lane(v, 0)).toBeGreaterThan(3.3e38);
    expect<bool>(isFinite<f32>(lane(v, 0))).toBe(true);
    expect<f32>(lane(v, 1)).toBe(Infinity);
    expect<f32>(lane(v, 2)).toBe(Infinity);
    expect<f32>(lane(v, 3)).toBe(Infinity);
    const w = exp4(f32x4(NaN, 0, -0.0, 1));
    expect<bool>(isNaN<f32>(lane(w, 0))).toBe(true); // NaN policy: NaN in, NaN out
    expect<f32>(lane(w, 1)).toBe(1);
    expect<f32>(lane(w, 2)).toBe(1);
  });
});

describe("sigmoid4", () => {
  it("is within 1e-7 of 1/(1 + exp(-x)) over [-30, 30] and exact at the saturated ends", () => {
    let worst: f64 = 0;
    for (let x: f32 = -30; x <= 30; x += 0.037) {
      const ref = 1.0 / (1.0 + Math.exp(-<f64>x));
      const err = Math.abs(<f64>lane0(sigmoid4(f32x4.splat(x))) - ref);
      if (err > worst) worst = err;
    }
    expect<f64>(worst).toBeLessThan(1e-7); // f32 rounding near 1 (half an ulp of 1 is 6e-8)
    const ends = sigmoid4(f32x4(100, Infinity, 0, -Infinity));
    expect<f32>(lane(ends, 0)).toBe(1);
    expect<f32>(lane(ends, 1)).toBe(1);
    expect<f32>(lane(ends, 2)).toBe(0.5);
    expect<f32>(lane(ends, 3)).toBe(0);
    expect<bool>(isNaN<f32>(lane0(sigmoid4(f32x4.splat(NaN))))).toBe(true);
  });
  it("keeps its relative accuracy in the lower tail, down to the subnormals", () => {
    let worst: f64 = 0;
    for (let x: f32 = -87.3; x <= -1; x += 0.0731) {
      const ref = 1.0 / (1.0 + Math.exp(-<f64>x));
      const err = Math.abs(<f64>lane0(sigmoid4(f32x4.splat(x))) - ref) / ref;
      if (err > worst) worst = err;
    }
    expect<f64>(worst).toBeLessThan(5e-7); // exp4's ulp, one add and one divide: a few ulp
    const sub = lane0(sigmoid4(f32x4.splat(-100)));
    expect<f64>(Math.abs(<f64>sub - Math.exp(-100.0))).toBeLessThanOrEqual(2.0 ** -148);
  });
});

describe("tanh4", () => {
  it("is within 3e-7 absolute of tanh over [-20, 20], odd, and exactly ±1 far out", () => {
    let worst: f64 = 0;
    for (let i = -4000; i <= 4000; i++) {
      const x: f32 = <f32>i * 0.005;
      const got = lane0(tanh4(f32x4.splat(x)));
      worst = Math.max(worst, Math.abs(<f64>got - Math.tanh(<f64>x)));
      expect<f32>(lane0(tanh4(f32x4.splat(-x)))).toBe(-got); // odd: the sign is copied, the polynomial is odd
    }
    expect<f64>(worst).toBeLessThan(3e-7);
    expect<f32>(lane0(tanh4(f32x4.splat(50)))).toBe(1);
    expect<f32>(lane0(tanh4(f32x4.splat(-Infinity)))).toBe(-1);
    expect<f32>(lane0(tanh4(f32x4.splat(0)))).toBe(0);
    expect<bool>(isNaN<f32>(lane0(tanh4(f32x4.splat(NaN))))).toBe(true);
  });
});

describe("madd4", () => {
  it("is a*b + c lane by lane (exact here in both builds)", () => {
    const v = madd4(f32x4(2, -3, 0.5, 1e10), f32x4(3, 4, 8, 0), f32x4(1, 2, -4, 7));
    expect<f32>(lane(v, 0)).toBe(7);
    expect<f32>(lane(v, 1)).toBe(-10);
    expect<f32>(lane(v, 2)).toBe(0);
    expect<f32>(lane(v, 3)).toBe(7);
  });
});

describe("log_add_exp", () => {
  it("equals log(exp(a)+exp(b)) for moderate values", () => {
    for (let i = -20; i <= 20; i++) {
      const a: f32 = <f32>i * 0.37;
      const j: i32 = 7 - i;
      const b: f32 = <f32>j * 0.21;
      const naive = <f32>Math.log(Math.exp(<f64>a) + Math.exp(<f64>b));
      expect<f32>(Mathf.abs(log_add_exp(a, b) - naive)).toBeLessThan(2e-6); // f32 log1p/exp: a few ulps
    }
  });
  it("does not overflow for large arguments", () => {
    expect<f32>(log_add_exp(1000, 1000)).toBeCloseTo(<f32>(1000 + Math.LN2), 3);
    expect<f32>(log_add_exp(-1000, 5)).toBe(5);
  });
  it("treats -inf as exp(-inf) = 0", () => {
    expect<f32>(log_add_exp(-Infinity, 3)).toBe(3);
    expect<f32>(log_add_exp(3, -Infinity)).toBe(3);
    expect<f32>(log_add_exp(-Infinity, -Infinity)).toBe(-Infinity);
  });
});
