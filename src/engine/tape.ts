// The host side of the autograd tape: a thin, typed wrapper over the engine's `t_*` exports.
//
// The tape itself lives in WASM (assembly/tape/tape.ts). This class only starts and ends a step (arena
// mark and reset), turns arrays into tensors, and turns the null handle of an exhausted arena into an
// error that names the knob to turn. Handles are numbers (pointers to tensor headers in WASM memory).
//
//   const tape = new Tape(engine);
//   tape.begin();
//   const x = tape.input(values, true);
//   const y = tape.sum(tape.tanh(x, n), n);
//   tape.backward(y);
//   const dx = tape.gradOf(x);   // a fresh Float32Array
//   tape.end();                  // frees every activation of the step

import { EngineError, type Engine } from "./engine.js";

export type T = number; // a tensor handle

export class Tape {
  private stepMark = -1;

  constructor(readonly engine: Engine, readonly capacity = 1 << 14) {}

  /** Starts a step: everything allocated until end() is freed by end(). */
  begin(): void {
    if (this.stepMark >= 0) throw new EngineError("tape.begin() called twice without end()");
    this.stepMark = this.engine.mark();
    this.engine.wasm.tape_begin(this.capacity);
  }

  /** Ends the step and frees its activations, tape and scratch. */
  end(): void {
    if (this.stepMark < 0) return;
    this.engine.reset(this.stepMark);
    this.stepMark = -1;
  }

  private ok(t: number, what: string): T {
    if (t === 0) {
      throw new EngineError(`out of WASM memory in ${what}: reduce the batch size (max frames per batch) or the model size`);
    }
    return t;
  }

  /** A tensor holding a copy of `values`; with `requiresGrad` it gets a zeroed gradient. */
  input(values: ArrayLike<number>, requiresGrad = false): T {
    const t = this.ok(this.engine.wasm.tensor_new(values.length, requiresGrad ? 1 : 0), "tensor");
    this.engine.write(this.engine.wasm.tensor_data(t), values);
    return t;
  }

  /** A header over existing memory, e.g. a parameter and its slot in the gradient region (0: none). */
  wrap(dataPtr: number, gradPtr: number, numel: number): T {
    return this.ok(this.engine.wasm.tensor_wrap(dataPtr, gradPtr, numel), "tensor header");
  }

  /** int32 values in the arena (ids for embedding); returns the pointer. */
  ints(values: ArrayLike<number>): number {
    return this.engine.upload(values, "i32");
  }

  numel(t: T): number {
    return this.engine.wasm.tensor_numel(t);
  }

  /** A fresh copy of a tensor's values. */
  dataOf(t: T): Float32Array {
    return this.engine.read(this.engine.wasm.tensor_data(t), this.numel(t));
  }

  /** A fresh copy of a tensor's gradient (throws when it has none). */
  gradOf(t: T): Float32Array {
    const g = this.engine.wasm.tensor_grad(t);
    if (g === 0) throw new EngineError("this tensor has no gradient (created without requiresGrad)");
    return this.engine.read(g, this.numel(t));
  }

  /** Runs the whole backward pass, seeding d(loss) = 1. */
  backward(loss: T): void {
    this.engine.wasm.tape_backward(loss);
  }

  get length(): number {
    return this.engine.wasm.tape_length();
  }

  // ---- ops: each records itself on the tape ----
  linear(x: T, w: T, b: T | 0, rows: number, inC: number, outC: number, ldw = inC): T {
    return this.ok(this.engine.wasm.t_linear(x, w, b, rows, inC, outC, ldw), "linear");
  }
  /** SiLU(x · w[:outC, :inC]^T + b) ⊙ mask, one op (assembly/tape/tape_fused.ts); b and mask (dropout) may be 0. */
  linearSilu(x: T, w: T, b: T | 0, mask: T | 0, rows: number, inC: number, outC: number, ldw = inC): T {
    return this.ok(this.engine.wasm.t_linear_silu(x, w, b, mask, rows, inC, outC, ldw), "linear_silu");
  }
  /** res + alpha · mask ⊙ (x · w[:outC, :inC]^T + b), one op (assembly/tape/tape_fused.ts); res is [rows, outC]. */
  linearResidual(res: T, x: T, w: T, b: T | 0, mask: T | 0, alpha: number, rows: number, inC: number, outC: number, ldw = inC): T {
    return this.ok(this.engine.wasm.t_linear_residual(res, x, w, b, mask, alpha, rows, inC, outC, ldw), "linear_residual");
  }
  add(a: T, b: T, n: number): T { return this.ok(this.engine.wasm.t_add(a, b, n), "add"); }
  mul(a: T, b: T, n: number): T { return this.ok(this.engine.wasm.t_mul(a, b, n), "mul"); }
  scale(a: T, s: number, n: number): T { return this.ok(this.engine.wasm.t_scale(a, s, n), "scale"); }
  relu(a: T, n: number): T { return this.ok(this.engine.wasm.t_relu(a, n), "relu"); }
  silu(a: T, n: number): T { return this.ok(this.engine.wasm.t_silu(a, n), "silu"); }
  sigmoid(a: T, n: number): T { return this.ok(this.engine.wasm.t_sigmoid(a, n), "sigmoid"); }
  tanh(a: T, n: number): T { return this.ok(this.engine.wasm.t_tanh(a, n), "tanh"); }
  gelu(a: T, n: number): T { return this.ok(this.engine.wasm.t_gelu(a, n), "gelu"); }
  layernorm(a: T, w: T | 0, b: T | 0, rows: number, C: number, eps = 1e-5): T {
    return this.ok(this.engine.wasm.t_layernorm(a, w, b, rows, C, eps), "layernorm");
  }
  rmsnorm(a: T, w: T | 0, rows: number, C: number, eps = 1e-6): T {
    return this.ok(this.engine.wasm.t_rmsnorm(a, w, rows, C, eps), "rmsnorm");
  }
  softmax(a: T, rows: number, C: number): T { return this.ok(this.engine.wasm.t_softmax(a, rows, C), "softmax"); }
  logSoftmax(a: T, rows: number, C: number): T {
    return this.ok(this.engine.wasm.t_log_softmax(a, rows, C), "log_softmax");
  }
  dropout(a: T, n: number, p: number, seed: number): T {
    return this.ok(this.engine.wasm.t_dropout(a, n, p, seed >>> 0), "dropout");
  }
  embedding(table: T, idsPtr: number, rows: number, C: number, ldt = C): T {
    return this.ok(this.engine.wasm.t_embedding(table, idsPtr, rows, C, ldt), "embedding");
  }
  sum(a: T, n: number): T { return this.ok(this.engine.wasm.t_sum(a, n), "sum"); }
  /** Columns [c0, c1) of a [rows, C] tensor. */
  sliceCols(a: T, rows: number, C: number, c0: number, c1: number): T {
    return this.ok(this.engine.wasm.t_slice_cols(a, rows, C, c0, c1), "slice_cols");
  }
  /** Depthwise convolution over time of x [B, T, C] with w [C, K] and b [C] (or 0). */
  dwconv1d(x: T, w: T, b: T | 0, B: number, T_: number, C: number, K: number, causal: boolean): T {
    return this.ok(this.engine.wasm.t_dwconv1d(x, w, b, B, T_, C, K, causal ? 1 : 0), "dwconv1d");
  }

  /**
   * The MH-SSM layer on the leading `C` channels (heads·P): `dirs` holds the tensors s, c_re, c_im, d of
   * each direction (one for causal, two for bidirectional); `consts` the data pointers of a_re, a_im,
   * log_dt_min, log_dt_max. `lensPtr` (i32 [B]) or 0.
   */
  mhssm(u: T, dirs: { s: T; cRe: T; cIm: T; d: T }[], consts: [number, number, number, number],
        B: number, T_: number, C: number, stateSize: number, P: number, lensPtr = 0): T {
    const pb = this.ints([
      ...[0, 1].flatMap((i) => (dirs[i] ? [dirs[i].s, dirs[i].cRe, dirs[i].cIm, dirs[i].d] : [0, 0, 0, 0])),
      ...consts,
    ]);
    return this.ok(this.engine.wasm.t_mhssm(u, pb, B, T_, C, stateSize / 2, P, lensPtr, dirs.length > 1 ? 1 : 0), "mhssm");
  }
}
