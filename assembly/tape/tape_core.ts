// The tape's core: tensor headers (class Tensor) and the record buffer (class Record, the Op enum),
// shared by the op families of tape.ts (primitive ops), tape_model.ts (the model's composite ops) and
// tape_fused.ts (fused linear ops). Not exported from the engine, except through the re-exports in
// tape.ts. The host holds tensors as the addresses of their headers and never reads a header or a
// record itself (it calls tensor_data, tensor_grad, tensor_numel).

import { mem_alloc } from "../memory";

// ---- tensors -------------------------------------------------------------------------------------

/** A tensor's 16-byte header in the arena; the host holds its address as the tensor handle. */
@unmanaged class Tensor {
  data: usize; // numel floats
  grad: usize; // numel floats, or 0: no gradient
  numel: i32;
  flags: i32; // LAZY
}

// @ts-ignore: decorator
@inline export function data(t: usize): usize { return changetype<Tensor>(t).data; }
/** The gradient pointer of t as stored (0: none), without clearing a lazy one: for "has a gradient?". */
// @ts-ignore: decorator
@inline export function gptr(t: usize): usize { return t == 0 ? 0 : changetype<Tensor>(t).grad; }
/** The gradient of t to read or accumulate into (0: none): a lazy one (see LAZY) is cleared first. */
// @ts-ignore: decorator
@inline export function grad(t: usize): usize { return lazy(t) ? clear_lazy(t) : gptr(t); }
// @ts-ignore: decorator
@inline export function numel(t: usize): i32 { return changetype<Tensor>(t).numel; }

// Flags. LAZY: the gradient buffer is not cleared yet and stands for zeros. `grad(t)`
// clears it on first use, so every backward written as "accumulate into grad(x)" stays correct; a
// backward that overwrites all of it instead (a GEMM with beta = 0) asks `gfresh` first and skips the
// clearing; an op whose output gradient is still LAZY received nothing and is skipped by
// tape_backward. The host sees cleared gradients only (tensor_grad). This saves clearing each
// activation's gradient in the forward and reading those zeros back in the backward (measured ~1%
// of the encoder block's forward+backward).
const LAZY: i32 = 1;

/** A new activation of `n` floats in the arena; with_grad != 0 also gives it a gradient (zeros, lazily). */
export function tensor_new(n: i32, with_grad: i32): usize {
  const t = mem_alloc(offsetof<Tensor>());
  const d = mem_alloc(<usize>n << 2);
  let g: usize = 0;
  if (with_grad) g = mem_alloc(<usize>n << 2);
  if (t == 0 || d == 0 || (with_grad && g == 0)) return 0; // out of memory: the host reports it
  const h = changetype<Tensor>(t);
  h.data = d;
  h.grad = g;
  h.numel = n;
  h.flags = with_grad ? LAZY : 0;
  return t;
}

/** True when t has a gradient that nothing has written yet (it stands for zeros). */
// @ts-ignore: decorator
@inline export function lazy(t: usize): bool { return t != 0 && (changetype<Tensor>(t).flags & LAZY) != 0; }

/** Clears t's lazy gradient (memory and flag) and returns its pointer. */
function clear_lazy(t: usize): usize {
  const h = changetype<Tensor>(t);
  memory.fill(h.grad, 0, <usize>h.numel << 2);
  h.flags &= ~LAZY;
  return h.grad;
}

/**
 * True when t's gradient is lazy and has exactly n values: the caller then OVERWRITES all n (instead
 * of accumulating) and the gradient counts as written. False otherwise (accumulate into grad(t)).
 */
export function gfresh(t: usize, n: i32): bool {
  if (!lazy(t) || numel(t) != n) return false;
  changetype<Tensor>(t).flags &= ~LAZY;
  return true;
}

/** A header over existing memory: parameters (data in the parameter region, grad in the gradient region). */
export function tensor_wrap(d: usize, g: usize, n: i32): usize {
  const t = mem_alloc(offsetof<Tensor>());
  if (t == 0) return 0;
  const h = changetype<Tensor>(t);
  h.data = d;
  h.grad = g;
  h.numel = n;
  h.flags = 0;
  return t;
}

export function tensor_data(t: usize): usize { return data(t); }
/** The gradient pointer for the host: cleared first if still lazy, so the host reads or adds to zeros. */
export function tensor_grad(t: usize): usize { return grad(t); }
export function tensor_numel(t: usize): i32 { return numel(t); }

/** The output of an op needs a gradient when any input has one. */
// @ts-ignore: decorator
@inline export function needs(a: usize, b: usize = 0, c: usize = 0): i32 {
  return <i32>(gptr(a) != 0 || gptr(b) != 0 || gptr(c) != 0);
}

// ---- the tape ------------------------------------------------------------------------------------

/**
 * Every op the tape records, one id each, shared by the dispatch files (tape.ts: primitive ops,
 * tape_model.ts: the model's composite ops, tape_fused.ts: fused linear ops). Only this WASM module
 * reads the ids; the host never sees a record.
 */
export enum Op {
  LINEAR = 1, ADD = 2, MUL = 3, SCALE = 4, RELU = 5, SILU = 6, SIGMOID = 7, TANH = 8, GELU = 9,
  LAYERNORM = 10, RMSNORM = 11, SOFTMAX = 12, LOG_SOFTMAX = 13, DROPOUT = 14, EMBEDDING = 15, SUM = 16,
  MHSSM = 32, CONV2D = 33, PERMUTE_BCTF = 34, DWCONV1D = 35, SLICE_COLS = 36,
  LINEAR_SILU = 40, LINEAR_RESIDUAL = 41,
}

/**
 * The head of every record: the op and its output tensor. Each op lays its own class over the record's
 * bytes, extending this one with named fields (tensors and pointers as usize, sizes as i32, floats as
 * f32); `rec<T>` checks at compile time that the class fits in RECORD_BYTES.
 */
@unmanaged export class Record {
  op: i32;
  out: usize;
}

const RECORD_BYTES: i32 = 64;
let recs: usize = 0;
let count: i32 = 0;
let cap: i32 = 0;

/** Starts an empty tape able to hold `capacity` records, in the arena (after the host's step mark). */
export function tape_begin(capacity: i32): void {
  recs = mem_alloc(<usize>capacity * RECORD_BYTES);
  cap = recs == 0 ? 0 : capacity;
  count = 0;
}

export function tape_length(): i32 { return count; }

/** Forgets the records from n on (0 <= n <= length): the host frees their memory with an arena reset. */
export function tape_truncate(n: i32): void {
  if (n < 0 || n > count) abort("tape_truncate: n outside [0, tape_length()]");
  count = n;
}

/** The record at address r seen as T (a Record subclass); a compile error if T is larger than a record. */
// @ts-ignore: decorator
@inline export function rec<T>(r: usize): T {
  if (offsetof<T>() > <usize>RECORD_BYTES) ERROR("tape record class larger than RECORD_BYTES");
  return changetype<T>(r);
}

/** Appends a record of `op` with output `out`; the caller fills the rest of its fields through rec<T>. */
export function push(op: Op, out: usize): usize {
  if (count >= cap) abort("tape full: raise the capacity given to tape_begin");
  const r = recs + <usize>count * RECORD_BYTES;
  const h = changetype<Record>(r);
  h.op = op;
  h.out = out;
  count++;
  return r;
}

export function check(t: usize, n: i32, what: string): void {
  if (t != 0 && numel(t) < n) abort(what);
}

/** The address of the k-th record. */
// @ts-ignore: decorator
@inline export function record(k: i32): usize { return recs + <usize>k * RECORD_BYTES; }
