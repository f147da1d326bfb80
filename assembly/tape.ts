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

import { mem_alloc } from "./memory";
import { linear_forward, linear_backward } from "./linear";
import { add_forward, add_backward, mul_forward, mul_backward, scale_forward, scale_backward } from "./elementwise";
import {
  relu_forward, relu_backward, silu_forward, silu_backward, sigmoid_forward, sigmoid_backward,
  tanh_forward, tanh_backward,
} from "./activation";
import { gelu_forward, gelu_backward } from "./gelu";
import { layernorm_forward, layernorm_backward } from "./norm";
import { rmsnorm_forward, rmsnorm_backward } from "./rmsnorm";
import { softmax_forward, softmax_backward, log_softmax_forward, log_softmax_backward } from "./softmax";
import { dropout_forward, dropout_backward } from "./dropout";
import { embedding_forward, embedding_backward } from "./embedding";

// ---- tensors -------------------------------------------------------------------------------------

const HDR: usize = 16;

// @ts-ignore: decorator
@inline function data(t: usize): usize { return load<u32>(t); }
// @ts-ignore: decorator
@inline function grad(t: usize): usize { return t == 0 ? 0 : <usize>load<u32>(t, 4); }
// @ts-ignore: decorator
@inline function numel(t: usize): i32 { return load<i32>(t, 8); }

/** A new activation of `n` floats in the arena; with_grad != 0 also gives it a zeroed gradient. */
export function tensor_new(n: i32, with_grad: i32): usize {
  const t = mem_alloc(HDR);
  const d = mem_alloc(<usize>n << 2);
  let g: usize = 0;
  if (with_grad) {
    g = mem_alloc(<usize>n << 2);
    memory.fill(g, 0, <usize>n << 2);
  }
  if (t == 0 || d == 0 || (with_grad && g == 0)) return 0; // out of memory: the host reports it
  store<u32>(t, <u32>d);
  store<u32>(t, <u32>g, 4);
  store<i32>(t, n, 8);
  store<i32>(t, 0, 12);
  return t;
}

/** A header over existing memory: parameters (data in the parameter region, grad in the gradient region). */
export function tensor_wrap(d: usize, g: usize, n: i32): usize {
  const t = mem_alloc(HDR);
  if (t == 0) return 0;
  store<u32>(t, <u32>d);
  store<u32>(t, <u32>g, 4);
  store<i32>(t, n, 8);
  store<i32>(t, 0, 12);
  return t;
}

export function tensor_data(t: usize): usize { return data(t); }
export function tensor_grad(t: usize): usize { return grad(t); }
export function tensor_numel(t: usize): i32 { return numel(t); }

/** The output of an op needs a gradient when any input has one. */
// @ts-ignore: decorator
@inline function needs(a: usize, b: usize = 0, c: usize = 0): i32 {
  return <i32>(grad(a) != 0 || grad(b) != 0 || grad(c) != 0);
}

// ---- the tape ------------------------------------------------------------------------------------

const SLOTS: i32 = 16; // one record: op id + 15 operands (tensors, ints, floats as bits)
let recs: usize = 0;
let count: i32 = 0;
let cap: i32 = 0;

/** Starts an empty tape able to hold `capacity` records, in the arena (after the host's step mark). */
export function tape_begin(capacity: i32): void {
  recs = mem_alloc(<usize>capacity * SLOTS * 4);
  cap = recs == 0 ? 0 : capacity;
  count = 0;
}

export function tape_length(): i32 { return count; }

function push(op: i32): usize {
  if (count >= cap) abort("tape full: raise the capacity given to tape_begin");
  const r = recs + (<usize>count * SLOTS << 2);
  store<i32>(r, op);
  count++;
  return r;
}
// @ts-ignore: decorator
@inline function seti(r: usize, k: i32, v: i32): void { store<i32>(r + (<usize>k << 2), v); }
// @ts-ignore: decorator
@inline function setf(r: usize, k: i32, v: f32): void { store<f32>(r + (<usize>k << 2), v); }
// @ts-ignore: decorator
@inline function geti(r: usize, k: i32): i32 { return load<i32>(r + (<usize>k << 2)); }
// @ts-ignore: decorator
@inline function getu(r: usize, k: i32): usize { return <usize>load<u32>(r + (<usize>k << 2)); }
// @ts-ignore: decorator
@inline function getf(r: usize, k: i32): f32 { return load<f32>(r + (<usize>k << 2)); }

function check(t: usize, n: i32, what: string): void {
  if (t != 0 && numel(t) < n) abort(what);
}

const OP_LINEAR = 1, OP_ADD = 2, OP_MUL = 3, OP_SCALE = 4, OP_RELU = 5, OP_SILU = 6, OP_SIGMOID = 7,
  OP_TANH = 8, OP_GELU = 9, OP_LAYERNORM = 10, OP_RMSNORM = 11, OP_SOFTMAX = 12, OP_LOG_SOFTMAX = 13,
  OP_DROPOUT = 14, OP_EMBEDDING = 15, OP_SUM = 16;

/** Runs every recorded op's backward, last first. Seeds the gradient of `loss` (numel 1) with 1. */
export function tape_backward(loss: usize): void {
  if (loss != 0) {
    if (grad(loss) == 0) abort("tape_backward: the loss has no gradient (no input requires one)");
    for (let i = 0; i < numel(loss); i++) store<f32>(grad(loss) + (<usize>i << 2), 1.0);
  }
  for (let k = count - 1; k >= 0; k--) {
    const r = recs + (<usize>k * SLOTS << 2);
    const op = geti(r, 0);
    const out = getu(r, 1);
    if (grad(out) == 0) continue; // nothing flows back through this op
    switch (op) {
      case OP_LINEAR: {
        const inp = getu(r, 2), w = getu(r, 3), b = getu(r, 4);
        const BT = geti(r, 5), C = geti(r, 6), OC = geti(r, 7), ldw = geti(r, 8);
        check(out, BT * OC, "linear backward: output size changed since forward");
        check(inp, BT * C, "linear backward: input size changed since forward");
        linear_backward(grad(inp), grad(w), b ? grad(b) : 0, grad(out), data(inp), data(w), BT, C, OC, ldw);
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
        abort("tape_backward: unknown op in the tape (corrupt tape?)");
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
