// todm's inference build: the forward kernels a deployed recognizer runs, and nothing else.
//
// What it is: the entry of wasm/todm-infer-simd.wasm and wasm/todm-infer-relaxed.wasm (asconfig.json
// targets infer-simd / infer-relaxed), compiled from the same kernel files as the training engine
// (assembly/index.ts); only the names below are exported, so the optimiser drops every backward,
// the tape, the optimizers and the RNN-T loss. The host that drives these kernels is src/infer/.
// What it is not: a second copy of any kernel. `_naive` twins are tested through the training build.
// Shapes, layout and argument order: the legend at the top of assembly/index.ts.
// Its only import is env.abort (checked by test/infer.test.ts), so any WebAssembly runtime can host it.

export { mem_alloc, mem_mark, mem_reset, mem_zero_f32, mem_copy_f32 } from "./memory";
export { gemm } from "./ops/gemm";
// features
export {
  FBANK_MAX_BINS, fbank_setup, fbank_forward, fbank_num_frames, fbank_frame_length, fbank_frame_shift,
} from "./audio/fbank";
// encoder
export { conv2d_forward, conv2d_scratch_size } from "./ops/conv2d";
export { permute_bctf_to_btcf_forward, slice_cols_forward } from "./ops/tensor_ops";
export { relu_forward, silu_forward, sigmoid_forward } from "./ops/activation";
export { add_forward, mul_forward, scale_forward } from "./ops/elementwise";
export { layernorm_forward } from "./ops/norm";
export { linear_forward } from "./ops/linear";
export { silu_mask_forward, residual_bias_forward } from "./ops/linear_fused";
export { ssm_discretize_forward } from "./ssm/ssm_discretize";
export { ssm_scan_forward, ssm_step, ssm_scan_forward_scratch } from "./ssm/ssm";
export { ssm_gate_forward } from "./ssm/ssm_gate";
export { dwconv1d_forward } from "./ops/conv1d";
// predictor, joiner (the searches themselves run on the host: src/decode/decode.ts)
export { embedding_forward } from "./ops/embedding";
export { lstm_forward } from "./transducer/lstm";
export { pred_layernorm_forward } from "./transducer/pred_layernorm";
export { joiner_pairs_forward } from "./transducer/joiner";
// int8 model files: the encoder's linear layers on int8 weights (src/model/kernel_ops.ts)
export { gemm_i8_forward } from "./ops/gemm_i8";

/** 1 in the relaxed-SIMD build, 0 in the plain one: the host names the build it was handed. */
export function infer_build_relaxed(): i32 {
  return ASC_FEATURE_RELAXED_SIMD ? 1 : 0;
}
