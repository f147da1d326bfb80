// exp_f32x4 and sigmoid_f32x4 (not exported from the engine) against f64 Math.exp, lane by lane.
import { exp_f32x4, sigmoid_f32x4 } from "../ssm/ssm_exp";

function lane(v: v128, i: i32): f32 {
  if (i == 0) return f32x4.extract_lane(v, 0);
  if (i == 1) return f32x4.extract_lane(v, 1);
  if (i == 2) return f32x4.extract_lane(v, 2);
  return f32x4.extract_lane(v, 3);
}

describe("exp_f32x4", () => {
  it("is within 4e-7 relative of exp over [-87, 88] (measured 1.1e-7, about 1 ulp)", () => {
    let worst: f64 = 0;
    for (let x: f32 = -87; x <= 87.5; x += 0.173) {
      const v = exp_f32x4(f32x4(x, x + 0.05, x + 0.1, x + 0.125));
      for (let i = 0; i < 4; i++) {
        const xi: f32 = i == 0 ? x : i == 1 ? x + <f32>0.05 : i == 2 ? x + <f32>0.1 : x + <f32>0.125;
        const ref = Math.exp(<f64>xi);
        const err = Math.abs(<f64>lane(v, i) - ref) / ref;
        if (err > worst) worst = err;
      }
    }
    expect<f64>(worst).toBeLessThan(4e-7);
  });
  it("saturates instead of overflowing or returning NaN for large |x|", () => {
    const v = exp_f32x4(f32x4(1000, -1000, Infinity, -Infinity));
    expect<f32>(lane(v, 0)).toBeGreaterThan(1e38); // clamped at exp(88)
    expect<f32>(lane(v, 1)).toBeLessThan(1e-37); // clamped at exp(-87)
    expect<f32>(lane(v, 1)).toBeGreaterThanOrEqual(0);
    expect<bool>(isFinite<f32>(lane(v, 2))).toBe(true);
    expect<f32>(lane(v, 3)).toBeGreaterThanOrEqual(0);
  });
});

describe("sigmoid_f32x4", () => {
  it("is within 1e-7 of 1/(1 + exp(-x)) over [-30, 30] and exact at the saturated ends", () => {
    let worst: f64 = 0;
    for (let x: f32 = -30; x <= 30; x += 0.37) {
      const v = sigmoid_f32x4(f32x4.splat(x));
      const ref = 1.0 / (1.0 + Math.exp(-<f64>x));
      const err = Math.abs(<f64>lane(v, 0) - ref);
      if (err > worst) worst = err;
    }
    expect<f64>(worst).toBeLessThan(1e-7); // measured 6.4e-8: f32 rounding near 1 (half an ulp of 1 is 6e-8)
    const ends = sigmoid_f32x4(f32x4(100, -100, 0, 1000));
    expect<f32>(lane(ends, 0)).toBe(1);
    expect<f32>(lane(ends, 1)).toBeLessThan(1e-37);
    expect<f32>(lane(ends, 2)).toBe(0.5);
    expect<f32>(lane(ends, 3)).toBe(1);
  });
});
