// The int8 linear layer on the engine: y[M,N] = x[M,K] · W[N,K]^T + bias with W int8 and one f32 scale
// per row of W (the layout of int8 model files, src/model/quant.ts), through assembly/gemm_i8.ts.
//
//   const y = engine.gemmI8(x, M, K, q, scale, bias, N);                  // activations quantised per row
//   const y2 = engine.gemmI8(x, M, K, q, scale, bias, N, "dequant");      // W dequantised, f32 gemm
//
// A convenience for tests, benchmarks and the inference engine's future int8 path: it copies its inputs
// into the arena and returns a fresh array. Not the inference engine's loader (src/infer/).

import { Engine } from "./engine.js";

declare module "./engine.js" {
  interface Engine {
    /**
     * y[M,N] = x[M,K] · (q[N,K] · scale[N])^T + bias[N] (bias null: none). "int8" (Default) quantises each
     * row of x to int8 and sums int8 products exactly in int32; "dequant" dequantises W and runs f32 gemm.
     */
    gemmI8(x: Float32Array, M: number, K: number, q: Int8Array, scale: Float32Array, bias: Float32Array | null, N: number, method?: "int8" | "dequant"): Float32Array;
    /** Copies int8 values into a fresh arena allocation (4-byte granular) and returns its pointer. */
    uploadI8(q: Int8Array): number;
  }
}

Engine.prototype.uploadI8 = function (this: Engine, q: Int8Array): number {
  const ptr = this.alloc(Math.ceil(q.length / 4), "int8 tensor");
  new Int8Array(this.f32.buffer, ptr, q.length).set(q);
  return ptr;
};

Engine.prototype.gemmI8 = function (this: Engine, x, M, K, q, scale, bias, N, method = "int8") {
  if (x.length !== M * K || q.length !== N * K || scale.length !== N || (bias && bias.length !== N)) {
    throw new Error(`gemmI8: x has ${x.length} values (M·K = ${M * K}), q ${q.length} (N·K = ${N * K}), scale ${scale.length}, bias ${bias?.length ?? "none"} (N = ${N})`);
  }
  return this.scoped(() => {
    const px = this.upload(x), pq = this.uploadI8(q), ps = this.upload(scale), pb = bias ? this.upload(bias) : 0;
    const y = this.alloc(M * N);
    if (method === "int8") this.wasm.gemm_i8_forward(y, this.alloc(Math.ceil((M * K) / 4)), this.alloc(M), px, pq, ps, pb, M, N, K, K, K, N);
    else this.wasm.gemm_i8_dequant_forward(y, this.alloc(N * K), px, pq, ps, pb, M, N, K, K, K, N);
    return this.read(y, M * N);
  });
};
