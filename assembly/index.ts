// todm's engine: every kernel the host can call, in one list.
//
// Layout of assembly/ (each folder's README.md says what lives there and what does not): ops/ the
// primitive ops (GEMM, linear, activations, norms, softmax, dropout, embedding, convolutions, layout),
// tape/ the autograd tape, ssm/ the MH-SSM layer, transducer/ the RNN-T loss, predictor LSTM, joiner,
// CTC and distillation, optim/ the optimizers, audio/ FFT and fbank. At the top: this entry, infer.ts
// (the inference build's entry), memory.ts (the arena) and math.ts (the one inline math file: madd4,
// exp4, sigmoid4, tanh4, the normal CDF, log_add_exp).
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
export * from "./ops/gemm";
export * from "./ops/elementwise";
export * from "./ops/activation";
export * from "./ops/gelu";
export * from "./ops/softmax";
export * from "./ops/norm";
export * from "./ops/rmsnorm";
export * from "./ops/dropout";
export * from "./ops/embedding";
export * from "./ops/linear";
export * from "./tape/tape";
export * from "./ssm/ssm";
export * from "./ssm/ssm_backward";
export * from "./ssm/ssm_gate";
export * from "./ssm/ssm_discretize";
export * from "./optim/scaled_adam";
export * from "./optim/adamw";
export * from "./ops/conv1d";
export * from "./ops/conv2d";
export * from "./ops/tensor_ops";
export * from "./audio/fft";
export * from "./audio/fbank";
export * from "./transducer/rnnt";
export * from "./transducer/lstm";
export * from "./transducer/pred_layernorm";
export * from "./transducer/joiner";
export * from "./transducer/kd";
export * from "./ops/gemm_i8";
export * from "./ops/linear_fused";
export { t_linear_silu, t_linear_residual } from "./tape/tape_fused";
export * from "./transducer/ctc";
export * from "./transducer/rnnt_pruned";
export * from "./audio/resample";
