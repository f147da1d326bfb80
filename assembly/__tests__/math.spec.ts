// log_add_exp against the naive formula where it is safe, and against the identities where it is not.
import { log_add_exp } from "../math";

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
