// Float64 reference math for the elementwise/activation/norm/softmax tests: independent of the
// kernels (no polynomial shared with assembly/math.ts), accurate to about 1e-14.

/** erfc(z) for z >= 0: 1 - erf via the all-positive series below 3, a continued fraction above. */
export function erfc64(z: number): number {
  if (z < 0) return 2 - erfc64(-z);
  if (z < 3) {
    // erf(z) = 2/sqrt(pi) exp(-z^2) sum_n 2^n z^(2n+1) / (1*3*...*(2n+1)): every term positive.
    let term = z, sum = z;
    for (let n = 1; n < 200 && term > 1e-17 * sum; n++) {
      term *= (2 * z * z) / (2 * n + 1);
      sum += term;
    }
    return 1 - (2 / Math.sqrt(Math.PI)) * Math.exp(-z * z) * sum;
  }
  // erfc(z) = exp(-z^2)/sqrt(pi) * 1/(z + (1/2)/(z + 1/(z + (3/2)/(z + 2/(z + ...))))), evaluated bottom-up.
  let f = z;
  for (let k = 80; k >= 1; k--) f = z + k / 2 / f;
  return Math.exp(-z * z) / Math.sqrt(Math.PI) / f;
}

/** The standard normal CDF. */
export function normalCdf64(x: number): number {
  return 0.5 * erfc64(-x / Math.SQRT2);
}

export function sigmoid64(x: number): number {
  return x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x));
}

export function gelu64(x: number): number {
  return x * normalCdf64(x);
}

export function geluTanh64(x: number): number {
  return 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)));
}

/** The spacing of f32 values at |v| (2^-149 for subnormals). */
export function ulpF32(v: number): number {
  const a = Math.abs(v);
  if (a < 2 ** -126) return 2 ** -149;
  return 2 ** (Math.floor(Math.log2(a)) - 23);
}

/** Largest error in f32 ulps of `got` against float64 values `ref` (both inf with the same sign: 0). */
export function maxUlp(got: ArrayLike<number>, ref: ArrayLike<number>): { ulps: number; at: number } {
  let ulps = 0, at = -1;
  for (let i = 0; i < got.length; i++) {
    const r = Math.fround(ref[i]) === Infinity || Math.fround(ref[i]) === -Infinity ? Math.fround(ref[i]) : ref[i];
    const e = got[i] === r ? 0 : Math.abs(got[i] - r) / ulpF32(r);
    if (!(e <= ulps)) {
      ulps = Number.isNaN(e) ? Infinity : e;
      at = i;
    }
  }
  return { ulps, at };
}
