// ScaledAdam's internal helpers: size_step against the same formula in f64, each of its three limits,
// and the blocked dot product against its f64 twin.
import { SLOT_HEADER, dot_f32, dot_f32_naive, size_step } from "../optim/scaled_adam_scale";

const P: i32 = 4;

/** A state slot of P ring entries: [param_rms, scale_exp_avg_sq, 0, 0, ring...]. */
function slot(rms: f32, avg: f32, ring0: f32): usize {
  const s = new StaticArray<f32>(SLOT_HEADER + P);
  s[0] = rms;
  s[1] = avg;
  for (let i = 0; i < P; i++) s[SLOT_HEADER + i] = ring0 + <f32>i * 0.25;
  return changetype<usize>(s);
}

/** size_step's formula in f64, without its limits. */
function reference(rms: f64, avg: f64, ring0: f64, size_lr: f64, beta2: f64, eps: f64, step: i32): f64 {
  const b = Math.pow(beta2, <f64>P);
  let sum = 0.0, sumsq = 0.0;
  for (let i = 0; i < P; i++) {
    const x = ring0 + <f64>i * 0.25;
    sum += x;
    sumsq += x * x;
  }
  const a = b * avg + (1 - b) * sumsq / <f64>P;
  return -size_lr * Math.sqrt(1 - Math.pow(b, <f64>((step + 1) / P))) * sum / (Math.sqrt(a) + eps);
}

describe("size_step", () => {
  it("follows the formula in the unclamped range, and updates scale_exp_avg_sq", () => {
    const s = slot(0.5, 0.02, 0.01);
    const got = size_step(s, 0.003, 0.98, 1e-8, 1e-5, 3.0, 7, P);
    const want = reference(0.5, 0.02, 0.01, 0.003, 0.98, 1e-8, 7);
    expect<f64>(Math.abs(<f64>got - want)).toBeLessThan(Math.abs(want) * 1e-5); // f32 sums of 4 terms
    const b = Math.pow(0.98, 4.0);
    expect<f64>(Math.abs(<f64>load<f32>(s + 4) - (b * 0.02 + (1 - b) * (0.01 * 0.01 + 0.26 * 0.26 + 0.51 * 0.51 + 0.76 * 0.76) / 4))).toBeLessThan(1e-7);
  });
  it("is clamped to +-0.1", () => {
    // A huge learning rate makes the raw step far larger than 0.1 in magnitude, both signs.
    expect<f32>(size_step(slot(0.5, 0, 1.0), 100, 0.98, 1e-8, 1e-5, 3.0, 3, P)).toBe(<f32>-0.1);
    expect<f32>(size_step(slot(0.5, 0, -2.0), 100, 0.98, 1e-8, 1e-5, 3.0, 3, P)).toBe(<f32>0.1);
  });
  it("is 0 below param_min_rms (it may not shrink further) and capped by param_max_rms", () => {
    expect<f32>(size_step(slot(1e-6, 0, 1.0), 100, 0.98, 1e-8, 1e-5, 3.0, 3, P)).toBe(0);
    const cap = size_step(slot(2.9, 0, -2.0), 100, 0.98, 1e-8, 1e-5, 3.0, 3, P);
    expect<f32>(cap).toBe((<f32>3.0 - <f32>2.9) / <f32>2.9);
  });
});

describe("dot_f32", () => {
  it("matches its f64 twin for lengths around the block size and odd tails", () => {
    const n = 700;
    const x = new StaticArray<f32>(n), y = new StaticArray<f32>(n);
    for (let i = 0; i < n; i++) {
      x[i] = <f32>Math.sin(<f64>i * 0.7);
      y[i] = <f32>Math.cos(<f64>i * 1.3);
    }
    const px = changetype<usize>(x), py = changetype<usize>(y);
    for (let len = 0; len < n; len += 37) {
      const got = dot_f32(px, py, len), want = dot_f32_naive(px, py, len);
      expect<f64>(Math.abs(got - want)).toBeLessThan(1e-5); // f32 sums within blocks of 256 terms <= 1
    }
  });
});
