// The autograd tape: forward ops record themselves, one call runs the whole backward pass.
//
// What it is: a flat array of fixed-size records in the arena, each an @unmanaged class over its bytes
// (Record {op, out} in tape_core.ts, extended per op with named operands), written by
// the `t_*` wrappers below as they run each kernel's forward, and walked back by `tape_backward`,
// which dispatches each record to that kernel's backward. Kernels stay plain forward/backward pairs
// (llm.c); the tape only remembers which ran, on what (micrograd `engine.py`, tfjs `tape.ts`).
// What it is not: a graph optimiser or a scheduler. Ops run eagerly, in the order the host calls them.
//
// Tensors are 16-byte headers {data, grad, numel, flags} in the arena. Parameters are headers over the
// parameter and gradient regions (`tensor_wrap`), so their gradients accumulate straight into the
// gradient region, which has the parameters' layout and is zeroed by one call (mem_zero_f32).
// Activations (`tensor_new`) get data and a zeroed gradient in the arena; everything is freed by the
// host's arena reset after the step. A tensor whose grad is 0 needs none: backward kernels skip it.
// Each backward checks the sizes it was recorded with against the tensors' headers, and aborts with the
// op's name when they disagree.

import { mem_alloc } from "../memory";
import { linear_forward, linear_backward } from "../ops/linear";
import { add_forward, add_backward, mul_forward, mul_backward, scale_forward, scale_backward } from "../ops/elementwise";
import {
  relu_forward, relu_backward, silu_forward, silu_backward, sigmoid_forward, sigmoid_backward,
  tanh_forward, tanh_backward,
} from "../ops/activation";
import { gelu_forward, gelu_backward } from "../ops/gelu";
import { layernorm_forward, layernorm_backward } from "../ops/norm";
import { rmsnorm_forward, rmsnorm_backward } from "../ops/rmsnorm";
import { softmax_forward, softmax_backward, log_softmax_forward, log_softmax_backward } from "../ops/softmax";
import { dropout_forward, dropout_backward } from "../ops/dropout";
import { embedding_forward, embedding_backward } from "../ops/embedding";

import {
  data, grad, gptr, lazy, gfresh, numel, needs, tensor_new, push, rec, check, record, tape_length, Op, Record,
} from "./tape_core";
import { gemm } from "../ops/gemm";
import { model_backward } from "./tape_model";
import { fused_backward } from "./tape_fused";

export { tensor_new, tensor_wrap, tensor_data, tensor_grad, tensor_numel, tape_begin, tape_length, tape_truncate } from "./tape_core";
export { t_mhssm, t_conv2d, t_permute_bctf, t_dwconv1d, t_slice_cols } from "./tape_model";

// The records of this file's ops: each extends Record {op, out} with its operands, by name.
@unmanaged class LinearRec extends Record { inp: usize; w: usize; b: usize; BT: i32; C: i32; OC: i32; ldw: i32; }
/** add, mul */
@unmanaged class BinaryRec extends Record { a: usize; b: usize; n: i32; }
/** relu, silu, sigmoid, tanh, gelu, sum; scale with its factor s */
@unmanaged class UnaryRec extends Record { a: usize; n: i32; s: f32; }
@unmanaged class LayernormRec extends Record { a: usize; w: usize; b: usize; mean: usize; rstd: usize; R: i32; C: i32; }
@unmanaged class RmsnormRec extends Record { a: usize; w: usize; rstd: usize; R: i32; C: i32; }
/** softmax, log_softmax */
@unmanaged class RowsRec extends Record { a: usize; R: i32; C: i32; }
@unmanaged class DropoutRec extends Record { a: usize; mask: usize; n: i32; }
@unmanaged class EmbeddingRec extends Record { table: usize; ids: usize; R: i32; C: i32; ldt: i32; }

/** Runs every recorded op's backward, last first. Seeds the gradient of `loss` (numel 1) with 1. */
export function tape_backward(loss: usize): void { tape_backward_from(loss, 0); }

/**
 * Runs the backward of records [lo, tape_length()) only, last first (seeding `loss` as tape_backward):
 * a Supernet step back-propagates each member's ops after the shared frontend's, then truncates the
 * tape to lo (tape_truncate) and runs the frontend's records once at the end.
 */
export function tape_backward_from(loss: usize, lo: i32): void {
  if (loss != 0) {
    if (grad(loss) == 0) abort("tape_backward: the loss has no gradient (no input requires one)");
    for (let i = 0; i < numel(loss); i++) store<f32>(grad(loss) + (<usize>i << 2), 1.0);
  }
  for (let k = tape_length() - 1; k >= lo; k--) {
    const r = record(k);
    const op = rec<Record>(r).op;
    const out = rec<Record>(r).out;
    if (gptr(out) == 0 || lazy(out)) continue; // nothing flows back through this op
    switch (op) {
      case Op.LINEAR: {
        const q = rec<LinearRec>(r);
        const inp = q.inp, w = q.w, b = q.b, BT = q.BT, C = q.C, OC = q.OC, ldw = q.ldw;
        check(out, BT * OC, "linear backward: output size changed since forward");
        check(inp, BT * C, "linear backward: input size changed since forward");
        // dinp = dout · W overwrites a gradient nothing has written yet (beta = 0), else accumulates
        if (gptr(inp)) gemm(0, 0, BT, C, OC, 1, grad(out), OC, data(w), ldw, gfresh(inp, BT * C) ? 0 : 1, grad(inp), C);
        linear_backward(0, grad(w), b ? grad(b) : 0, grad(out), data(inp), data(w), BT, C, OC, ldw);
        break;
      }
      case Op.ADD: {
        const q = rec<BinaryRec>(r), a = q.a, b = q.b, n = q.n;
        check(a, n, "add backward: size mismatch"); check(b, n, "add backward: size mismatch");
        add_backward(grad(a), grad(b), grad(out), n);
        break;
      }
      case Op.MUL: {
        const q = rec<BinaryRec>(r), a = q.a, b = q.b, n = q.n;
        check(a, n, "mul backward: size mismatch"); check(b, n, "mul backward: size mismatch");
        mul_backward(grad(a), grad(b), grad(out), data(a), data(b), n);
        break;
      }
      case Op.SCALE: {
        const q = rec<UnaryRec>(r), a = q.a, n = q.n;
        check(a, n, "scale backward: size mismatch");
        scale_backward(grad(a), grad(out), q.s, n);
        break;
      }
      case Op.RELU: case Op.SILU: case Op.SIGMOID: case Op.TANH: case Op.GELU: {
        const q = rec<UnaryRec>(r), a = q.a, n = q.n;
        check(a, n, "activation backward: size mismatch");
        const da = grad(a);
        if (da == 0) break;
        if (op == Op.RELU) relu_backward(da, grad(out), data(a), n);
        else if (op == Op.SILU) silu_backward(da, grad(out), data(a), n);
        else if (op == Op.SIGMOID) sigmoid_backward(da, grad(out), data(out), n);
        else if (op == Op.TANH) tanh_backward(da, grad(out), data(out), n);
        else gelu_backward(da, grad(out), data(a), n, 0); // exact (erf) GELU
        break;
      }
      case Op.LAYERNORM: {
        const q = rec<LayernormRec>(r);
        const a = q.a, w = q.w, b = q.b, mean = q.mean, rstd = q.rstd, R = q.R, C = q.C;
        check(a, R * C, "layernorm backward: size mismatch");
        layernorm_backward(grad(a), grad(w), grad(b), grad(out), data(a), w ? data(w) : 0, mean, rstd, R, C);
        break;
      }
      case Op.RMSNORM: {
        const q = rec<RmsnormRec>(r), a = q.a, w = q.w, rstd = q.rstd, R = q.R, C = q.C;
        check(a, R * C, "rmsnorm backward: size mismatch");
        rmsnorm_backward(grad(a), grad(w), grad(out), data(a), w ? data(w) : 0, rstd, R, C);
        break;
      }
      case Op.SOFTMAX: case Op.LOG_SOFTMAX: {
        const q = rec<RowsRec>(r), a = q.a, R = q.R, C = q.C;
        check(a, R * C, "softmax backward: size mismatch");
        if (grad(a) == 0) break;
        if (op == Op.SOFTMAX) softmax_backward(grad(a), grad(out), data(out), R, C);
        else log_softmax_backward(grad(a), grad(out), data(out), R, C);
        break;
      }
      case Op.DROPOUT: {
        const q = rec<DropoutRec>(r), a = q.a, mask = q.mask, n = q.n;
        check(a, n, "dropout backward: size mismatch");
        if (grad(a) != 0) dropout_backward(grad(a), grad(out), mask, n);
        break;
      }
      case Op.EMBEDDING: {
        const q = rec<EmbeddingRec>(r), table = q.table, ids = q.ids, R = q.R, C = q.C, ldt = q.ldt;
        if (grad(table) != 0) embedding_backward(grad(table), grad(out), ids, R, C, ldt);
        break;
      }
      case Op.SUM: {
        const q = rec<UnaryRec>(r), a = q.a, n = q.n;
        check(a, n, "sum backward: size mismatch");
        const da = grad(a);
        if (da == 0) break;
        const g = load<f32>(grad(out));
        for (let i = 0; i < n; i++) store<f32>(da + (<usize>i << 2), load<f32>(da + (<usize>i << 2)) + g);
        break;
      }
      default:
        if (!model_backward(op, r) && !fused_backward(op, r)) abort("tape_backward: unknown op in the tape (corrupt tape?)");
    }
  }
}

// ---- recording wrappers: run the forward kernel, record, return the output tensor ----------------

/** out[BT,OC] = inp[BT,C] · w[:OC,:C]^T + b[:OC]; w stored with row stride ldw (leading slices). */
export function t_linear(inp: usize, w: usize, b: usize, BT: i32, C: i32, OC: i32, ldw: i32): usize {
  const out = tensor_new(BT * OC, needs(inp, w, b));
  linear_forward(data(out), data(inp), data(w), b ? data(b) : 0, BT, C, OC, ldw);
  const q = rec<LinearRec>(push(Op.LINEAR, out));
  q.inp = inp; q.w = w; q.b = b; q.BT = BT; q.C = C; q.OC = OC; q.ldw = ldw;
  return out;
}

function binary(op: Op, a: usize, b: usize, n: i32): usize {
  const out = tensor_new(n, needs(a, b));
  if (op == Op.ADD) add_forward(data(out), data(a), data(b), n);
  else mul_forward(data(out), data(a), data(b), n);
  const q = rec<BinaryRec>(push(op, out));
  q.a = a; q.b = b; q.n = n;
  return out;
}
export function t_add(a: usize, b: usize, n: i32): usize { return binary(Op.ADD, a, b, n); }
export function t_mul(a: usize, b: usize, n: i32): usize { return binary(Op.MUL, a, b, n); }

export function t_scale(a: usize, s: f32, n: i32): usize {
  const out = tensor_new(n, needs(a));
  scale_forward(data(out), data(a), s, n);
  const q = rec<UnaryRec>(push(Op.SCALE, out));
  q.a = a; q.n = n; q.s = s;
  return out;
}

function unary(op: Op, a: usize, n: i32): usize {
  const out = tensor_new(n, needs(a));
  const y = data(out), x = data(a);
  if (op == Op.RELU) relu_forward(y, x, n);
  else if (op == Op.SILU) silu_forward(y, x, n);
  else if (op == Op.SIGMOID) sigmoid_forward(y, x, n);
  else if (op == Op.TANH) tanh_forward(y, x, n);
  else gelu_forward(y, x, n, 0); // exact (erf) GELU, torch's default
  const q = rec<UnaryRec>(push(op, out));
  q.a = a; q.n = n;
  return out;
}
export function t_relu(a: usize, n: i32): usize { return unary(Op.RELU, a, n); }
export function t_silu(a: usize, n: i32): usize { return unary(Op.SILU, a, n); }
export function t_sigmoid(a: usize, n: i32): usize { return unary(Op.SIGMOID, a, n); }
export function t_tanh(a: usize, n: i32): usize { return unary(Op.TANH, a, n); }
export function t_gelu(a: usize, n: i32): usize { return unary(Op.GELU, a, n); }

/** LayerNorm over the last dim C of [R, C]; w and b (leading C of a bigger vector) may be 0. */
export function t_layernorm(a: usize, w: usize, b: usize, R: i32, C: i32, eps: f32): usize {
  const out = tensor_new(R * C, needs(a, w, b));
  const mean = mem_alloc(<usize>R << 2), rstd = mem_alloc(<usize>R << 2);
  layernorm_forward(data(out), mean, rstd, data(a), w ? data(w) : 0, b ? data(b) : 0, R, C, eps);
  const q = rec<LayernormRec>(push(Op.LAYERNORM, out));
  q.a = a; q.w = w; q.b = b; q.mean = mean; q.rstd = rstd; q.R = R; q.C = C;
  return out;
}

export function t_rmsnorm(a: usize, w: usize, R: i32, C: i32, eps: f32): usize {
  const out = tensor_new(R * C, needs(a, w));
  const rstd = mem_alloc(<usize>R << 2);
  rmsnorm_forward(data(out), rstd, data(a), w ? data(w) : 0, R, C, eps);
  const q = rec<RmsnormRec>(push(Op.RMSNORM, out));
  q.a = a; q.w = w; q.rstd = rstd; q.R = R; q.C = C;
  return out;
}

function softmaxes(op: Op, a: usize, R: i32, C: i32): usize {
  const out = tensor_new(R * C, needs(a));
  if (op == Op.SOFTMAX) softmax_forward(data(out), data(a), R, C);
  else log_softmax_forward(data(out), data(a), R, C);
  const q = rec<RowsRec>(push(op, out));
  q.a = a; q.R = R; q.C = C;
  return out;
}
export function t_softmax(a: usize, R: i32, C: i32): usize { return softmaxes(Op.SOFTMAX, a, R, C); }
export function t_log_softmax(a: usize, R: i32, C: i32): usize { return softmaxes(Op.LOG_SOFTMAX, a, R, C); }

/** Inverted dropout with keep-mask from (seed, index); p = 0 records nothing and returns `a` itself. */
export function t_dropout(a: usize, n: i32, p: f32, seed: u32): usize {
  if (p <= 0) return a;
  const out = tensor_new(n, needs(a));
  const mask = mem_alloc(<usize>n << 2);
  dropout_forward(data(out), mask, data(a), n, p, seed);
  const q = rec<DropoutRec>(push(Op.DROPOUT, out));
  q.a = a; q.mask = mask; q.n = n;
  return out;
}

/** Rows of `table` ([V, ldt], first C columns) picked by int32 `ids` (R of them). */
export function t_embedding(table: usize, ids: usize, R: i32, C: i32, ldt: i32): usize {
  const out = tensor_new(R * C, needs(table));
  embedding_forward(data(out), ids, data(table), R, C, ldt);
  const q = rec<EmbeddingRec>(push(Op.EMBEDDING, out));
  q.table = table; q.ids = ids; q.R = R; q.C = C; q.ldt = ldt;
  return out;
}

/** The sum of all n elements, a tensor of one element. */
export function t_sum(a: usize, n: i32): usize {
  const out = tensor_new(1, needs(a));
  let s: f64 = 0; // f64 accumulation: losses are sums of many terms
  for (let i = 0; i < n; i++) s += <f64>load<f32>(data(a) + (<usize>i << 2));
  store<f32>(data(out), <f32>s);
  const q = rec<UnaryRec>(push(Op.SUM, out));
  q.a = a; q.n = n;
  return out;
}
