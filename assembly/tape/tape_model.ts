// The model's composite ops on the tape: each runs a family of kernels forward, records itself,
// and inverts them in `model_backward`. Primitive ops live in tape.ts; this file holds the ops whose
// kernels take many operands (the MH-SSM layer, convolutions, the LSTM, the joiner, the RNN-T loss).
//
// Each op's record is a class over the record's bytes (Record in tape_core.ts, named fields). Operands
// that do not fit a record travel in a small i32 block in the arena (`pb`), written by the host and
// kept until the step ends.

import { mem_alloc } from "../memory";
import { data, grad, needs, tensor_new, push, rec, check, Op, Record } from "./tape_core";
import { ssm_discretize_forward, ssm_discretize_backward } from "../ssm/ssm_discretize";
import { ssm_scan_forward, ssm_scan_forward_scratch } from "../ssm/ssm";
import { ssm_scan_backward, ssm_scan_backward_scratch } from "../ssm/ssm_backward";
import { ssm_gate_forward, ssm_gate_backward } from "../ssm/ssm_gate";
import { conv2d_forward, conv2d_backward, conv2d_scratch_size } from "../ops/conv2d";
import { dwconv1d_forward, dwconv1d_backward } from "../ops/conv1d";
import {
  permute_bctf_to_btcf_forward, permute_bctf_to_btcf_backward, slice_cols_forward, slice_cols_backward,
} from "../ops/tensor_ops";

@unmanaged class MhssmRec extends Record {
  u: usize; pb: usize; y: usize; B: i32; T: i32; C: i32; N2: i32; P: i32; lens: usize; dirs: i32;
}
/** Kernel sizes and strides as bytes (<= 255), time paddings as halves (<= 65535). */
@unmanaged class Conv2dRec extends Record {
  x: usize; w: usize; b: usize; col: usize; B: i32; Cin: i32; T: i32; F: i32; Cout: i32; ldw: i32;
  KT: u8; KF: u8; ST: u8; SF: u8; padL: u16; padR: u16;
}
@unmanaged class PermuteRec extends Record { x: usize; B: i32; C: i32; T: i32; F: i32; }
@unmanaged class Dwconv1dRec extends Record { x: usize; w: usize; b: usize; B: i32; T: i32; C: i32; K: i32; causal: i32; }
@unmanaged class SliceColsRec extends Record { x: usize; R: i32; C: i32; c0: i32; c1: i32; }

/** A zeroed arena buffer standing in for a gradient nobody needs (kernels that always write one). */
function sink(ptr: usize, n: i32): usize {
  if (ptr != 0) return ptr;
  const p = mem_alloc(<usize>n << 2);
  memory.fill(p, 0, <usize>n << 2);
  return p;
}

// @ts-ignore: decorator
@inline function pbi(pb: usize, k: i32): usize { return <usize>load<u32>(pb + (<usize>k << 2)); }

function ssm_discretize_into(pb: usize, dir: i32, C: i32, N2: i32): usize {
  const n = <usize>N2 * C;
  const da = mem_alloc(n << 4); // dA re, dA im, W re, W im: four [N2, C] blocks
  const base = dir * 4;
  ssm_discretize_forward(da, da + (n << 2), da + (n << 3), da + n * 12,
    data(pbi(pb, base)), data(pbi(pb, base + 1)), data(pbi(pb, base + 2)),
    pbi(pb, 8), pbi(pb, 9), pbi(pb, 10), pbi(pb, 11), C, N2);
  return da;
}

/**
 * The MH-SSM layer (assembly/ssm/): out[B,T,C] = gate(Σ_dir SSM_dir(u)), on the leading C = k·P
 * channels of the full layer's parameters. `pb` holds 12 u32: per direction (fwd, bwd) the tensor
 * handles of s, c_re, c_im, d, then the data pointers of the constants a_re, a_im, log_dt_min,
 * log_dt_max. `lens` (i32 [B]) or 0: frames per utterance, for the reverse direction.
 */
export function t_mhssm(u: usize, pb: usize, B: i32, T: i32, C: i32, N2: i32, P: i32, lens: usize, bidir: i32): usize {
  const dirs = bidir ? 2 : 1;
  const n = B * T * C;
  const out = tensor_new(n, needs(u, pbi(pb, 0), pbi(pb, 1)) | needs(pbi(pb, 2), pbi(pb, 3)));
  const y = mem_alloc(<usize>n << 2); // saved: the SSM output before gating
  const scratch = mem_alloc(<usize>ssm_scan_forward_scratch(T) << 2);
  for (let dir = 0; dir < dirs; dir++) {
    const n2c = <usize>N2 * C;
    const da = ssm_discretize_into(pb, dir, C, N2);
    ssm_scan_forward(y, data(u), da, da + (n2c << 2), da + (n2c << 3), da + n2c * 12, data(pbi(pb, dir * 4 + 3)),
      lens, scratch, B, T, C, N2, C, C, dir, dir);
  }
  ssm_gate_forward(data(out), y, B * T, C, P, C, C);
  const q = rec<MhssmRec>(push(Op.MHSSM, out));
  q.u = u; q.pb = pb; q.y = y; q.B = B; q.T = T; q.C = C; q.N2 = N2; q.P = P; q.lens = lens; q.dirs = dirs;
  return out;
}

function mhssm_backward(r: usize): void {
  const q = rec<MhssmRec>(r);
  const out = q.out, u = q.u, pb = q.pb, y = q.y, B = q.B, T = q.T, C = q.C, N2 = q.N2, P = q.P;
  const lens = q.lens, dirs = q.dirs;
  const n = B * T * C;
  check(u, n, "mhssm backward: input size changed since forward");
  // out = gate(y)  ->  dy
  const dy = mem_alloc(<usize>n << 2);
  memory.fill(dy, 0, <usize>n << 2);
  ssm_gate_backward(dy, grad(out), y, B * T, C, P, C, C, C);
  const scratch = mem_alloc(<usize>ssm_scan_backward_scratch(T) << 2);
  const n2c = <usize>N2 * C;
  const g = mem_alloc(n2c << 4); // adjoints of dA (re, im) and W (re, im)
  const du = sink(grad(u), n);
  for (let dir = 0; dir < dirs; dir++) {
    const base = dir * 4;
    const s = pbi(pb, base), cre = pbi(pb, base + 1), cim = pbi(pb, base + 2), d = pbi(pb, base + 3);
    // y += SSM_dir(u)  ->  du, dd, and the adjoints of the discretised dA and W
    const da = ssm_discretize_into(pb, dir, C, N2); // recomputed: cheaper than saving
    memory.fill(g, 0, n2c << 4);
    ssm_scan_backward(du, sink(grad(d), C), g, g + (n2c << 2), g + (n2c << 3), g + n2c * 12, dy, data(u),
      da, da + (n2c << 2), da + (n2c << 3), da + n2c * 12, data(d), lens, scratch, B, T, C, N2, C, C, C, dir);
    // dA, W = discretize(s, c)  ->  ds, dc_re, dc_im
    ssm_discretize_backward(sink(grad(s), C), sink(grad(cre), <i32>n2c), sink(grad(cim), <i32>n2c),
      g, g + (n2c << 2), g + (n2c << 3), g + n2c * 12,
      data(s), data(cre), data(cim), pbi(pb, 8), pbi(pb, 9), pbi(pb, 10), pbi(pb, 11), C, N2);
  }
}

/**
 * 2-D convolution, NCHW: x [B, Cin, T, F] -> [B, Cout, To, Fo], kernel KT x KF, stride ST x SF, padding
 * only in time (padT_left, padT_right; causal is padT_left = KT-1). w [Cout, Cin·KT·KF] with row stride
 * ldw (0 = dense) so a subnet can use leading input channels. b may be 0.
 */
export function t_conv2d(x: usize, w: usize, b: usize, B: i32, Cin: i32, T: i32, F: i32, Cout: i32,
                         KT: i32, KF: i32, ST: i32, SF: i32, padL: i32, padR: i32, ldw: i32): usize {
  const To = (T + padL + padR - KT) / ST + 1, Fo = (F - KF) / SF + 1;
  const out = tensor_new(B * Cout * To * Fo, needs(x, w, b));
  const col = mem_alloc(<usize>conv2d_scratch_size(Cin, T, F, KT, KF, ST, SF, padL, padR) << 2);
  conv2d_forward(data(out), data(x), data(w), b ? data(b) : 0, col, B, Cin, T, F, Cout, KT, KF, ST, SF, padL, padR, ldw);
  const q = rec<Conv2dRec>(push(Op.CONV2D, out));
  q.x = x; q.w = w; q.b = b; q.col = col; q.B = B; q.Cin = Cin; q.T = T; q.F = F; q.Cout = Cout; q.ldw = ldw;
  q.KT = <u8>KT; q.KF = <u8>KF; q.ST = <u8>ST; q.SF = <u8>SF; q.padL = <u16>padL; q.padR = <u16>padR;
  return out;
}

function conv2d_back(r: usize): void {
  const q = rec<Conv2dRec>(r);
  const out = q.out, x = q.x, w = q.w, b = q.b, col = q.col, B = q.B, Cin = q.Cin, T = q.T, F = q.F, Cout = q.Cout, ldw = q.ldw;
  const KT = <i32>q.KT, KF = <i32>q.KF, ST = <i32>q.ST, SF = <i32>q.SF, padL = <i32>q.padL, padR = <i32>q.padR;
  check(x, B * Cin * T * F, "conv2d backward: input size changed since forward");
  conv2d_backward(grad(x), grad(w), b ? grad(b) : 0, grad(out), data(x), data(w), col,
    B, Cin, T, F, Cout, KT, KF, ST, SF, padL, padR, ldw);
}

/** [B, C, T, F] -> [B, T, C·F] (the subsampling output, as icefall orders it). */
export function t_permute_bctf(x: usize, B: i32, C: i32, T: i32, F: i32): usize {
  const out = tensor_new(B * C * T * F, needs(x));
  permute_bctf_to_btcf_forward(data(out), data(x), B, C, T, F);
  const q = rec<PermuteRec>(push(Op.PERMUTE_BCTF, out));
  q.x = x; q.B = B; q.C = C; q.T = T; q.F = F;
  return out;
}

/** Depthwise convolution over time on [B, T, C]: w [C, K], b [C] or 0; causal: left padding K-1. */
export function t_dwconv1d(x: usize, w: usize, b: usize, B: i32, T: i32, C: i32, K: i32, causal: i32): usize {
  const out = tensor_new(B * T * C, needs(x, w, b));
  dwconv1d_forward(data(out), data(x), data(w), b ? data(b) : 0, B, T, C, K, causal);
  const q = rec<Dwconv1dRec>(push(Op.DWCONV1D, out));
  q.x = x; q.w = w; q.b = b; q.B = B; q.T = T; q.C = C; q.K = K; q.causal = causal;
  return out;
}

/** Columns [c0, c1) of x [R, C]: a compact [R, c1-c0]. */
export function t_slice_cols(x: usize, R: i32, C: i32, c0: i32, c1: i32): usize {
  const out = tensor_new(R * (c1 - c0), needs(x));
  slice_cols_forward(data(out), data(x), R, C, c0, c1);
  const q = rec<SliceColsRec>(push(Op.SLICE_COLS, out));
  q.x = x; q.R = R; q.C = C; q.c0 = c0; q.c1 = c1;
  return out;
}

/** Dispatches a model op's backward; false when `op` is not one of this file's. */
export function model_backward(op: Op, r: usize): bool {
  switch (op) {
    case Op.MHSSM: mhssm_backward(r); return true;
    case Op.CONV2D: conv2d_back(r); return true;
    case Op.PERMUTE_BCTF: {
      const q = rec<PermuteRec>(r);
      if (grad(q.x)) permute_bctf_to_btcf_backward(grad(q.x), grad(q.out), q.B, q.C, q.T, q.F);
      return true;
    }
    case Op.DWCONV1D: {
      const q = rec<Dwconv1dRec>(r);
      dwconv1d_backward(grad(q.x), grad(q.w), q.b ? grad(q.b) : 0, grad(q.out), data(q.x), data(q.w), q.B, q.T, q.C, q.K, q.causal);
      return true;
    }
    case Op.SLICE_COLS: {
      const q = rec<SliceColsRec>(r);
      if (grad(q.x)) slice_cols_backward(grad(q.x), grad(q.out), q.R, q.C, q.c0, q.c1);
      return true;
    }
    default: return false;
  }
}
