// The encoder's fused linear ops on the tape: a linear layer and the element-wise work that follows
// it, recorded as one op (kernels: linear_fused.ts and gemm.ts).
//
//   t_linear_silu:     out = SiLU(inp · W^T + b) ⊙ mask                  (FF hidden layer + dropout)
//   t_linear_residual: out = x + alpha · mask ⊙ (inp · W^T + b)          (FF output + dropout + 1/2 + residual,
//                                                                          MH-SSM output + dropout + residual)
// Same math as the chains of primitive ops they replace (linear, silu, mul by the dropout mask,
// scale, add), with fewer passes over the activations: no tensor (and zeroed gradient) for each
// intermediate, the bias added (forward) and its gradient summed (backward) in the SiLU pass instead
// of passes of their own, SiLU's sigmoid saved instead of recomputed, the pre-activation's gradient
// written instead of accumulated into a zeroed buffer, and without a mask the residual's product
// accumulated by the GEMM straight onto x + alpha · b. mask: a tensor of the dropout mask (0 or 1/(1-p)), or 0.
// Weights are the leading OC x C slice of a [>= OC, ldw] matrix, as in t_linear.

import { mem_alloc } from "../memory";
import { gemm } from "../ops/gemm";
import { linear_forward } from "../ops/linear";
import { data, grad, gptr, gfresh, needs, tensor_new, push, rec, check, Op, Record } from "./tape_core";
import {
  silu_mask_forward, silu_mask_backward, residual_bias_forward, residual_mask_forward, residual_backward,
} from "../ops/linear_fused";

@unmanaged class LinearSiluRec extends Record {
  inp: usize; w: usize; b: usize; mask: usize; lin: usize; sig: usize; BT: i32; C: i32; OC: i32; ldw: i32;
}
@unmanaged class LinearResidualRec extends Record {
  x: usize; inp: usize; w: usize; b: usize; mask: usize; BT: i32; C: i32; OC: i32; ldw: i32; alpha: f32;
}

/** A zeroed arena buffer of n floats (a gradient the op keeps to itself). */
function zeroed(n: i32): usize {
  const p = mem_alloc(<usize>n << 2);
  memory.fill(p, 0, <usize>n << 2);
  return p;
}

/**
 * dinp[BT,C] += dpre · W and dW[0:OC, 0:C] += dpre^T · inp, skipping absent gradients: the products of
 * linear_backward (linear.ts); `alpha` scales dpre.
 */
function linear_products_backward(inp: usize, w: usize, dpre: usize, alpha: f32, BT: i32, C: i32, OC: i32, ldw: i32): void {
  // a gradient of inp that nothing has written yet is overwritten (beta = 0) instead of cleared and added to
  if (gptr(inp)) gemm(0, 0, BT, C, OC, alpha, dpre, OC, data(w), ldw, gfresh(inp, BT * C) ? 0 : 1, grad(inp), C);
  if (grad(w)) gemm(1, 0, OC, C, BT, alpha, dpre, OC, data(inp), C, 1, grad(w), ldw);
}

/** out[BT,OC] = SiLU(inp[BT,C] · w[:OC,:C]^T + b[:OC]) ⊙ mask; b and mask may be 0. */
export function t_linear_silu(inp: usize, w: usize, b: usize, mask: usize, BT: i32, C: i32, OC: i32, ldw: i32): usize {
  const n = BT * OC;
  const out = tensor_new(n, needs(inp, w, b));
  const lin = mem_alloc(<usize>n << 2), sig = mem_alloc(<usize>n << 2); // saved for the backward
  if (out == 0 || sig == 0) return 0;
  // lin = inp · W^T (beta = 0: no bias copied in first); the SiLU pass adds b as it reads lin
  gemm(0, 1, BT, OC, C, 1, data(inp), C, data(w), ldw, 0, lin, OC);
  silu_mask_forward(data(out), sig, lin, b ? data(b) : 0, mask ? data(mask) : 0, BT, OC);
  const q = rec<LinearSiluRec>(push(Op.LINEAR_SILU, out));
  q.inp = inp; q.w = w; q.b = b; q.mask = mask; q.lin = lin; q.sig = sig; q.BT = BT; q.C = C; q.OC = OC; q.ldw = ldw;
  return out;
}

function linear_silu_backward(r: usize): void {
  const q = rec<LinearSiluRec>(r);
  const out = q.out, inp = q.inp, w = q.w, b = q.b, mask = q.mask;
  const lin = q.lin, sig = q.sig, BT = q.BT, C = q.C, OC = q.OC, ldw = q.ldw;
  check(inp, BT * C, "linear_silu backward: input size changed since forward");
  check(mask, BT * OC, "linear_silu backward: mask size changed since forward");
  // out = x · σ(x) · mask, x = lin + b  ->  dlin (written, not accumulated: the op's own), db
  const dlin = mem_alloc(<usize>(BT * OC) << 2);
  silu_mask_backward(dlin, b ? grad(b) : 0, grad(out), lin, b ? data(b) : 0, sig, mask ? data(mask) : 0, BT, OC);
  // lin = inp · W^T  ->  dinp, dW
  linear_products_backward(inp, w, dlin, 1, BT, C, OC, ldw);
}

/** out[BT,OC] = x[BT,OC] + alpha · mask ⊙ (inp[BT,C] · w[:OC,:C]^T + b[:OC]); b and mask may be 0. */
export function t_linear_residual(x: usize, inp: usize, w: usize, b: usize, mask: usize, alpha: f32,
                                  BT: i32, C: i32, OC: i32, ldw: i32): usize {
  const n = BT * OC;
  const out = tensor_new(n, needs(x, inp, w) | needs(b));
  if (out == 0) return 0;
  let o: usize = 0; // the linear layer's output, saved when a mask needs it
  if (mask) {
    o = mem_alloc(<usize>n << 2);
    if (o == 0) return 0;
    linear_forward(o, data(inp), data(w), b ? data(b) : 0, BT, C, OC, ldw);
    residual_mask_forward(data(out), data(x), o, data(mask), alpha, n);
  } else {
    // out = x + alpha · b, then the GEMM adds alpha · inp · W^T onto it
    residual_bias_forward(data(out), data(x), b ? data(b) : 0, alpha, BT, OC);
    gemm(0, 1, BT, OC, C, alpha, data(inp), C, data(w), ldw, 1, data(out), OC);
  }
  const q = rec<LinearResidualRec>(push(Op.LINEAR_RESIDUAL, out));
  q.x = x; q.inp = inp; q.w = w; q.b = b; q.mask = mask; q.BT = BT; q.C = C; q.OC = OC; q.ldw = ldw; q.alpha = alpha;
  return out;
}

function linear_residual_backward(r: usize): void {
  const q = rec<LinearResidualRec>(r);
  const out = q.out, x = q.x, inp = q.inp, w = q.w, b = q.b, mask = q.mask;
  const BT = q.BT, C = q.C, OC = q.OC, ldw = q.ldw, alpha = q.alpha;
  check(x, BT * OC, "linear_residual backward: residual size changed since forward");
  check(inp, BT * C, "linear_residual backward: input size changed since forward");
  check(mask, BT * OC, "linear_residual backward: mask size changed since forward");
  const db = b ? grad(b) : 0;
  if (mask) {
    // out = x + alpha · mask · o  ->  dx, do (and db in the same pass); o = inp · W^T + b  ->  dinp, dW
    const dlin = zeroed(BT * OC);
    residual_backward(grad(x), dlin, db, grad(out), data(mask), alpha, BT, OC);
    linear_products_backward(inp, w, dlin, 1, BT, C, OC, ldw);
  } else {
    // out = x + alpha · (inp · W^T + b)  ->  dx, db; then the products take alpha · dout as they go
    residual_backward(grad(x), 0, db, grad(out), 0, alpha, BT, OC);
    linear_products_backward(inp, w, grad(out), alpha, BT, C, OC, ldw);
  }
}

/** Dispatches a fused op's backward; false when `op` is not one of this file's. */
export function fused_backward(op: Op, r: usize): bool {
  switch (op) {
    case Op.LINEAR_SILU: linear_silu_backward(r); return true;
    case Op.LINEAR_RESIDUAL: linear_residual_backward(r); return true;
    default: return false;
  }
}
