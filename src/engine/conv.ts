// Shape arithmetic for the convolution kernels (assembly/ops/conv2d.ts, assembly/ops/conv1d.ts), shared by the
// model code that sizes activations and by the tests. No kernels here: they are called through
// `engine.wasm.conv2d_forward(...)` etc., with the im2col scratch sized by `conv2dScratchFloats`.

/** Output length of a convolution along one axis: floor((n + padLeft + padRight - k) / stride) + 1. */
export function convOutLength(n: number, k: number, stride: number, padLeft = 0, padRight = 0): number {
  const out = Math.floor((n + padLeft + padRight - k) / stride) + 1;
  if (!(out >= 1)) {
    throw new RangeError(`convolution: input length ${n} (+${padLeft}+${padRight} padding) is shorter than the kernel (${k})`);
  }
  return out;
}

export interface Conv2dDims {
  B: number;
  Cin: number;
  T: number;
  F: number;
  Cout: number;
  KT: number;
  KF: number;
  ST: number;
  SF: number;
  padTLeft: number;
  padTRight: number;
}

/** [T', F'] of conv2d_forward's output [B, Cout, T', F'] (padding only in time). */
export function conv2dOutShape(d: Conv2dDims): [number, number] {
  return [convOutLength(d.T, d.KT, d.ST, d.padTLeft, d.padTRight), convOutLength(d.F, d.KF, d.SF)];
}

/** Floats of im2col scratch conv2d_forward / conv2d_backward need (as the wasm conv2d_scratch_size). */
export function conv2dScratchFloats(d: Conv2dDims): number {
  const [To, Fo] = conv2dOutShape(d);
  return d.Cin * d.KT * d.KF * To * Fo;
}
