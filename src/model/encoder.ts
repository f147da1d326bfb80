// The encoder, written once: the frontend (fbank normalisation, convolutional subsampling) and the
// Stateformer block, over a small ops interface (`EncoderOps`) that training and inference implement.
//
// A block is pre-norm and macaron (Conformer layout, attention replaced by the MH-SSM layer):
//   x = x + 1/2 · FF1(LN(x))
//   x = x + Out(MHSSM(In(LN(x))))           In: d -> k·P, Out: k·P -> d (the subnet's k heads)
//   x = x + Conv(LN(x))                     optional: pointwise 2d, GLU, depthwise K, SiLU, pointwise
//   x = x + 1/2 · FF2(LN(x))
//   y = LN(x)
// with FF(z) = W2 · drop_hidden(SiLU(W1 z + b1)) + b2, then drop_out; the convolution module is
// Conv(z) = PW2 · SiLU(DW_K(GLU(PW1 z))). The dropout points are named (`ffHidden`, `ffOut`, `ssmOut`,
// `convOut`) so that adaptive dropout can drive them per subnet; inference has none.
// Subnet slicing: W1 keeps its leading ffDim rows, W2 its leading ffDim columns (row stride ffDim of
// the Supernet), In its leading k·P rows, Out its leading k·P columns; nothing is copied.
// The implementations (what is not here):
//   - tape_ops.ts `TapeOps`: records on the autograd tape for training, batched and padded; W1 with its
//     SiLU and dropout, W2 and Out with their dropout, scale and residual add are fused tape ops
//     (assembly/tape/tape_fused.ts), and the GLU zeroes the frames past each utterance's end.
//   - kernel_ops.ts `KernelOps`: calls the forward kernels directly, one utterance chunk by chunk with
//     carried state (the inference build, todm/infer), int8 linears through gemm_i8_forward.
// Both give the same bits on f32 weights (test/infer.test.ts). Reference: test/ref/stateformer.py.

import { headDimOf, ssmWidth, strideTwoRows, subsampledBins, type ModelConfig, type SubnetSpec } from "./config.js";

export interface DropoutRates {
  ffHidden: number;
  ffOut: number;
  ssmOut: number;
  convOut: number;
}

export const NO_DROPOUT: DropoutRates = { ffHidden: 0, ffOut: 0, ssmOut: 0, convOut: 0 };

/** A named dropout point of the block. */
export type DropPoint = keyof DropoutRates;

/**
 * What the encoder needs from an implementation. X is an activation [rows, width] (the implementation
 * knows its rows: B·T on the tape, the chunk's new frames in inference); parameters are named as in
 * config.ts paramTable (`<name>.weight`, `<name>.bias`), linear weights [N rows of stride ldw].
 */
export interface EncoderOps<X> {
  /** (fbank - frontend.feat_mean) · frontend.feat_istd per bin: [rows, featDim]. */
  normalize(feats: Float32Array): X;
  /** ReLU of a 3x3 stride-2 convolution (`name`) of x [cin, rows, fin] (per utterance): [cs, rows', fin'];
   * null when no output row is complete yet (a stream). `stage` 0 or 1: which of the two. */
  subsampleConv(x: X, stage: 0 | 1, name: string, cin: number, fin: number): X | null;
  /** [c, rows, f] -> [rows, c·f]. */
  flattenChannels(x: X, c: number, f: number): X;
  layerNorm(x: X, name: string, d: number): X;
  /** x · W[:N, :K]^T + b[:N]. */
  linear(x: X, name: string, K: number, N: number, ldw: number): X;
  /** drop(SiLU(x · W^T + b)). */
  linearSilu(x: X, name: string, K: number, N: number, ldw: number, drop: DropPoint): X;
  /** res + alpha · drop(x · W^T + b). */
  linearResidual(res: X, x: X, name: string, K: number, N: number, ldw: number, alpha: number, drop: DropPoint): X;
  /** The MH-SSM of layer `layer` over u [rows, C] (heads of P channels) with its gate: [rows, C]. */
  mhssm(u: X, layer: number, C: number, P: number): X;
  /** SiLU(DW_K(GLU(a))) of layer `layer` (`name`: the depthwise convolution), a [rows, 2d]: [rows, d]. */
  gluDepthwiseSilu(a: X, layer: number, name: string, d: number, K: number): X;
  dropout(x: X, width: number, drop: DropPoint): X;
  add(x: X, y: X, width: number): X;
}

/**
 * The frontend: normalisation, two ReLU convolutions 3x3 stride 2 (time and frequency), their channels
 * flattened per frame and projected to dModel. Null when a stream has no complete frame yet.
 */
export function frontendForward<X>(ops: EncoderOps<X>, cfg: ModelConfig, feats: Float32Array): X | null {
  const cs = cfg.subsampleChannels, F1 = strideTwoRows(cfg.featDim), F2 = subsampledBins(cfg.featDim);
  const h1 = ops.subsampleConv(ops.normalize(feats), 0, "encoder.subsample.conv1", 1, cfg.featDim);
  if (h1 === null) return null;
  const h2 = ops.subsampleConv(h1, 1, "encoder.subsample.conv2", cs, F1);
  if (h2 === null) return null;
  return ops.linear(ops.flattenChannels(h2, cs, F2), "encoder.subsample.out", cs * F2, cfg.dModel, cs * F2);
}

/** x + 1/2 · FF(LN(x)). */
function feedForward<X>(ops: EncoderOps<X>, prefix: string, x: X, d: number, ff: number, ldFF: number): X {
  const z = ops.layerNorm(x, `${prefix}.norm`, d);
  const h = ops.linearSilu(z, `${prefix}.w1`, d, ff, d, "ffHidden");
  return ops.linearResidual(x, h, `${prefix}.w2`, ff, d, ldFF, 0.5, "ffOut");
}

/** Stateformer block l of subnet `sub`: x [rows, d] -> [rows, d]. */
export function stateformerBlock<X>(ops: EncoderOps<X>, cfg: ModelConfig, sub: SubnetSpec, l: number, x: X): X {
  const p = `encoder.blocks.${l}.`;
  const d = cfg.dModel, P = headDimOf(cfg), C = sub.heads * P;
  x = feedForward(ops, `${p}ff1`, x, d, sub.ffDim, cfg.ffDim);
  {
    // x = x + Out(MHSSM(In(LN(x))))
    const z = ops.layerNorm(x, `${p}ssm.norm`, d);
    const u = ops.linear(z, `${p}ssm.in`, d, C, d);
    x = ops.linearResidual(x, ops.mhssm(u, l, C, P), `${p}ssm.out`, C, d, ssmWidth(cfg), 1, "ssmOut");
  }
  if (cfg.convKernel) {
    // x = x + Conv(LN(x)): pointwise d -> 2d, GLU, depthwise K over time, SiLU, pointwise d -> d
    const z = ops.layerNorm(x, `${p}conv.norm`, d);
    const a = ops.linear(z, `${p}conv.pw1`, d, 2 * d, d);
    const c = ops.gluDepthwiseSilu(a, l, `${p}conv.dw`, d, cfg.convKernel);
    x = ops.add(x, ops.dropout(ops.linear(c, `${p}conv.pw2`, d, d, d), d, "convOut"), d);
  }
  x = feedForward(ops, `${p}ff2`, x, d, sub.ffDim, cfg.ffDim);
  return ops.layerNorm(x, `${p}norm`, d);
}

/** The subnet's first `sub.layers` blocks from the frontend's output h. */
export function blocksForward<X>(ops: EncoderOps<X>, cfg: ModelConfig, sub: SubnetSpec, h: X): X {
  for (let l = 0; l < sub.layers; l++) h = stateformerBlock(ops, cfg, sub, l, h);
  return h;
}
