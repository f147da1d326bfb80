// exp4 and tanh4 (assembly/simd_exp.ts, inlined into the RNN-T loss, the joiner and the LSTM)
// against float64 Math.exp / Math.tanh. The loss's exported rnnt_exp_array is also tested from vitest.
import { exp4, tanh4 } from "../transducer/simd_exp";

function lane0(v: v128): f32 {
  return f32x4.extract_lane(v, 0);
}

describe("tanh4", () => {
  it("is within 3e-7 absolute of tanh over [-20, 20], odd, and exactly ±1 far out", () => {
    let worst: f64 = 0;
    for (let i = -4000; i <= 4000; i++) {
      const x: f32 = <f32>i * 0.005;
      const got = lane0(tanh4(f32x4.splat(x)));
      worst = Math.max(worst, Math.abs(<f64>got - Math.tanh(<f64>x)));
      expect<f32>(lane0(tanh4(f32x4.splat(-x)))).toBe(-got); // the sign is copied, so tanh4 is odd
    }
    expect<f64>(worst).toBeLessThan(3e-7); // 1 - 2/(e+1): the subtraction's rounding near |x| ~ 1 dominates
    expect<f32>(lane0(tanh4(f32x4.splat(50)))).toBe(1);
    expect<f32>(lane0(tanh4(f32x4.splat(-Infinity)))).toBe(-1);
    expect<f32>(lane0(tanh4(f32x4.splat(0)))).toBe(0);
  });
});

describe("exp4", () => {
  it("is within 3e-7 relative of exp over [-80, 80] and 0 below 2^-126", () => {
    let worst: f64 = 0;
    for (let i = -8000; i <= 8000; i++) {
      const x: f32 = <f32>i * 0.01;
      const ref = Math.exp(<f64>x);
      worst = Math.max(worst, Math.abs(<f64>lane0(exp4(f32x4.splat(x))) - ref) / ref);
    }
    expect<f64>(worst).toBeLessThan(3e-7); // Cephes expf: ~2 ulps
    expect<f32>(lane0(exp4(f32x4.splat(-Infinity)))).toBe(0);
    expect<f32>(lane0(exp4(f32x4.splat(-100)))).toBe(0);
    expect<f32>(lane0(exp4(f32x4.splat(0)))).toBe(1);
  });
});
