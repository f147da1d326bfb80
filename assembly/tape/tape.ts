// The autograd tape: forward ops record themselves, one call runs the whole backward pass.
//
// What it is: a flat array of fixed-size records in the arena, {op, tensors..., dims...}, written by
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
  data, grad, gptr, lazy, gfresh, numel, needs, tensor_new, push, seti, setf, geti, getu, getf, check, record, tape_length,
} from "./tape_core";
import { gemm } from "../ops/gemm";
import { model_backward } from "./tape_model";
import { fused_backward } from "./tape_fused";

export { tensor_new, tensor_wrap, tensor_data, tensor_grad, tensor_numel, tape_begin, tape_length, tape_truncate } from "./tape_core";
export * from "./tape_model";

const OP_LINEAR = 1, OP_ADD = 2, OP_MUL = 3, OP_SCALE = 4, OP_RELU = 5, OP_SILU = 6, OP_SIGMOID = 7,
  OP_TANH = 8, OP_GELU = 9, OP_LAYERNORM = 10, OP_RMSNORM = 11, OP_SOFTMAX = 12, OP_LOG_SOFTMAX = 13,
  OP_DROPOUT = 14, OP_EMBEDDING = 15, OP_SUM = 16;

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
    const op = geti(r, 0);
    const out = getu(r, 1);
    if (gptr(out) == 0 || lazy(out)) continue; // nothing flows back through this op
    switch (op) {
      case OP_LINEAR: {
        const inp = getu(r, 2), w = getu(r, 3), b = getu(r, 4);
        const BT = geti(r, 5), C = geti(r, 6), OC = geti(r, 7), ldw = geti(r, 8);
        check(out, BT * OC, "linear backward: output size changed since forward");
        check(inp, BT * C, "linear backward: input size changed since forward");
        // dinp = dout · W overwrites a gradient nothing has written yet (beta = 0), else accumulates
        if (gptr(inp)) gemm(0, 0, BT, C, OC, 1, grad(out), OC, data(w), ldw, gfresh(inp, BT * C) ? 0 : 1, grad(inp), C);
        linear_backward(0, grad(w), b ? grad(b) : 0, grad(out), data(inp), data(w), BT, C, OC, ldw);
        break;
      }
      case OP_ADD: {
        const a = getu(r, 2), b = getu(r, 3), n = geti(r, 4);
        check(a, n, "add backward: size mismatch"); check(b, n, "add backward: size mismatch");
        add_backward(grad(a), grad(b), grad(out), n);
        break;
      }
      case OP_MUL: {
        const a = getu(r, 2), b = getu(r, 3), n = geti(r, 4);
        check(a, n, "mul backward: size mismatch"); check(b, n, "mul backward: size mismatch");
        mul_backward(grad(a), grad(b), grad(out), data(a), data(b), n);
        break;
      }
      case OP_SCALE: {
        const a = getu(r, 2), n = geti(r, 3);
        check(a, n, "scale backward: size mismatch");
        scale_backward(grad(a), grad(out), getf(r, 4), n);
        break;
      }
      case OP_RELU: case OP_SILU: case OP_SIGMOID: case OP_TANH: case OP_GELU: {
        const a = getu(r, 2), n = geti(r, 3);
        check(a, n, "activation backward: size mismatch");
        const da = grad(a);
        if (da == 0) break;
        if (op == OP_RELU) relu_backward(da, grad(out), data(a), n);
        else if (op == OP_SILU) silu_backward(da, grad(out), data(a), n);
        else if (op == OP_SIGMOID) sigmoid_backward(da, grad(out), data(out), n);
        else if (op == OP_TANH) tanh_backward(da, grad(out), data(out), n);
        else gelu_backward(da, grad(out), data(a), n, 0); // exact (erf) GELU
        break;
      }
      case OP_LAYERNORM: {
        const a = getu(r, 2), w = getu(r, 3), b = getu(r, 4), mean = getu(r, 5), rstd = getu(r, 6);
        const R = geti(r, 7), C = geti(r, 8);
        check(a, R * C, "layernorm backward: size mismatch");
        layernorm_backward(grad(a), grad(w), grad(b), grad(out), data(a), w ? data(w) : 0, mean, rstd, R, C);
        break;
      }
      case OP_RMSNORM: {
        const a = getu(r, 2), w = getu(r, 3), rstd = getu(r, 4), R = geti(r, 5), C = geti(r, 6);
        check(a, R * C, "rmsnorm backward: size mismatch");
        rmsnorm_backward(grad(a), grad(w), grad(out), data(a), w ? data(w) : 0, rstd, R, C);
        break;
      }
      case OP_SOFTMAX: case OP_LOG_SOFTMAX: {
        const a = getu(r, 2), R = geti(r, 3), C = geti(r, 4);
        check(a, R * C, "softmax backward: size mismatch");
        if (grad(a) == 0) break;
        if (op == OP_SOFTMAX) softmax_backward(grad(a), grad(out), data(out), R, C);
        else log_softmax_backward(grad(a), grad(out), data(out), R, C);
        break;
      }
      case OP_DROPOUT: {
        const a = getu(r, 2), mask = getu(r, 3), n = geti(r, 4);
        check(a, n, "dropout backward: size mismatch");
        if (grad(a) != 0) dropout_backward(grad(a), grad(out), mask, n);
        break;
      }
      case OP_EMBEDDING: {
        const table = getu(r, 2), ids = getu(r, 3), R = geti(r, 4), C = geti(r, 5), ldt = geti(r, 6);
        if (grad(table) != 0) embedding_backward(grad(table), grad(out), ids, R, C, ldt);
        break;
      }
      case OP_SUM: {
        const a = getu(r, 2), n = geti(r, 3);
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
  const r = push(OP_LINEAR);
  seti(r, 1, <i32>out); seti(r, 2, <i32>inp); seti(r, 3, <i32>w); seti(r, 4, <i32>b);
  seti(r, 5, BT); seti(r, 6, C); seti(r, 7, OC); seti(r, 8, ldw);
  return out;
}

function binary(op: i32, a: usize, b: usize, n: i32): usize {
  const out = tensor_new(n, needs(a, b));
  if (op == OP_ADD) add_forward(data(out), data(a), data(b), n);
  else mul_forward(data(out), data(a), data(b), n);
  const r = push(op);
  seti(r, 1, <i32>out); seti(r, 2, <i32>a); seti(r, 3, <i32>b); seti(r, 4, n);
  return out;
}
export function t_add(a: usize, b: usize, n: i32): usize { return binary(OP_ADD, a, b, n); }
export function t_mul(a: usize, b: usize, n: i32): usize { return binary(OP_MUL, a, b, n); }

export function t_scale(a: usize, s: f32, n: i32): usize {
  const out = tensor_new(n, needs(a));
  scale_forward(data(out), data(a), s, n);
  const r = push(OP_SCALE);
  seti(r, 1, <i32>out); seti(r, 2, <i32>a); seti(r, 3, n); setf(r, 4, s);
  return out;
}

function unary(op: i32, a: usize, n: i32): usize {
  const out = tensor_new(n, needs(a));
  const y = data(out), x = data(a);
  if (op == OP_RELU) relu_forward(y, x, n);
  else if (op == OP_SILU) silu_forward(y, x, n);
  else if (op == OP_SIGMOID) sigmoid_forward(y, x, n);
  else if (op == OP_TANH) tanh_forward(y, x, n);
  else gelu_forward(y, x, n, 0); // exact (erf) GELU, torch's default
  const r = push(op);
  seti(r, 1, <i32>out); seti(r, 2, <i32>a); seti(r, 3, n);
  return out;
}
export function t_relu(a: usize, n: i32): usize { return unary(OP_RELU, a, n); }
export function t_silu(a: usize, n: i32): usize { return unary(OP_SILU, a, n); }
export function t_sigmoid(a: usize, n: i32): usize { return unary(OP_SIGMOID, a, n); }
export function t_tanh(a: usize, n: i32): usize { return unary(OP_TANH, a, n); }
export function t_gelu(a: usize, n: i32): usize { return unary(OP_GELU, a, n); }

/** LayerNorm over the last dim C of [R, C]; w and b (leading C of a bigger vector) may be 0. */
export function t_layernorm(a: usize, w: usize, b: usize, R: i32, C: i32, eps: f32): usize {
  const out = tensor_new(R * C, needs(a, w, b));
  const mean = mem_alloc(<usize>R << 2), rstd = mem_alloc(<usize>R << 2);
  layernorm_forward(data(out), mean, rstd, data(a), w ? data(w) : 0, b ? data(b) : 0, R, C, eps);
  const r = push(OP_LAYERNORM);
  seti(r, 1, <i32>out); seti(r, 2, <i32>a); seti(r, 3, <i32>w); seti(r, 4, <i32>b);
  seti(r, 5, <i32>mean); seti(r, 6, <i32>rstd); seti(r, 7, R); seti(r, 8, C);
  return out;
}

export function t_rmsnorm(a: usize, w: usize, R: i32, C: i32, eps: f32): usize {
  const out = tensor_new(R * C, needs(a, w));
  const rstd = mem_alloc(<usize>R << 2);
  rmsnorm_forward(data(out), rstd, data(a), w ? data(w) : 0, R, C, eps);
  const r = push(OP_RMSNORM);
  seti(r, 1, <i32>out); seti(r, 2, <i32>a); seti(r, 3, <i32>w); seti(r, 4, <i32>rstd);
  seti(r, 5, R); seti(r, 6, C);
  return out;
}

function softmaxes(op: i32, a: usize, R: i32, C: i32): usize {
  const out = tensor_new(R * C, needs(a));
  if (op == OP_SOFTMAX) softmax_forward(data(out), data(a), R, C);
  else log_softmax_forward(data(out), data(a), R, C);
  const r = push(op);
  seti(r, 1, <i32>out); seti(r, 2, <i32>a); seti(r, 3, R); seti(r, 4, C);
  return out;
}
export function t_softmax(a: usize, R: i32, C: i32): usize { return softmaxes(OP_SOFTMAX, a, R, C); }
export function t_log_softmax(a: usize, R: i32, C: i32): usize { return softmaxes(OP_LOG_SOFTMAX, a, R, C); }

/** Inverted dropout with keep-mask from (seed, index); p = 0 records nothing and returns `a` itself. */
export function t_dropout(a: usize, n: i32, p: f32, seed: u32): usize {
  if (p <= 0) return a;
  const out = tensor_new(n, needs(a));
  const mask = mem_alloc(<usize>n << 2);
  dropout_forward(data(out), mask, data(a), n, p, seed);
  const r = push(OP_DROPOUT);
  seti(r, 1, <i32>out); seti(r, 2, <i32>a); seti(r, 3, <i32>mask); seti(r, 4, n);
  return out;
}

/** Rows of `table` ([V, ldt], first C columns) picked by int32 `ids` (R of them). */
export function t_embedding(table: usize, ids: usize, R: i32, C: i32, ldt: i32): usize {
  const out = tensor_new(R * C, needs(table));
  embedding_forward(data(out), ids, data(table), R, C, ldt);
  const r = push(OP_EMBEDDING);
  seti(r, 1, <i32>out); seti(r, 2, <i32>table); seti(r, 3, <i32>ids); seti(r, 4, R); seti(r, 5, C); seti(r, 6, ldt);
  return out;
}

/** The sum of all n elements, a tensor of one element. */
export function t_sum(a: usize, n: i32): usize {
  const out = tensor_new(1, needs(a));
  let s: f64 = 0; // f64 accumulation: losses are sums of many terms
  for (let i = 0; i < n; i++) s += <f64>load<f32>(data(a) + (<usize>i << 2));
  store<f32>(data(out), <f32>s);
  const r = push(OP_SUM);
  seti(r, 1, <i32>out); seti(r, 2, <i32>a); seti(r, 3, n);
  return out;
}
