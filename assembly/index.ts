// todm's engine: every kernel the host can call, in one list.
//
// Shape legend, shared by every kernel's doc comment:
//   B batch, T frames, U labels+1, V vocab incl. blank, C channels, H heads, N state size, K kernel width,
//   M/N/K also name GEMM dimensions where the comment says so.
// Layout: row-major f32, the last dimension contiguous. `ld*` is a leading-dimension stride in
// elements, so a subnet can read the leading slice of a larger weight without a copy.
// Argument order: outputs, then what the forward saves for the backward, then inputs and weights,
// then dimensions and strides. Gradients carry a `d` prefix. Backward kernels accumulate (+=) into
// gradients and never zero them; zeroing is one explicit call (mem_zero_f32).
//
// Two builds of this file: plain SIMD and relaxed SIMD (ASC_FEATURE_RELAXED_SIMD selects FMA).

export * from "./memory";
export * from "./gemm";
export * from "./elementwise";
export * from "./activation";
export * from "./gelu";
export * from "./softmax";
export * from "./norm";
export * from "./rmsnorm";
export * from "./dropout";
export * from "./embedding";
export * from "./linear";
export * from "./tape";
export * from "./ssm";
export * from "./ssm_backward";
export * from "./ssm_gate";
export * from "./ssm_discretize";
export * from "./scaled_adam";
export * from "./adamw";
export * from "./conv1d";
export * from "./conv2d";
export * from "./tensor_ops";
export * from "./fft";
export * from "./fbank";
export * from "./rnnt";
export * from "./lstm";
export * from "./embedding";
export * from "./pred_layernorm";
export * from "./joiner";
export * from "./kd";
export * from "./gemm_i8";
export * from "./linear_fused";
export * from "./tape_fused";
export * from "./ctc";
export * from "./audio/resample";
