// Pruned RNN-T (Kuang et al. 2022; k2's rnnt_loss_smoothed, get_rnnt_prune_ranges, do_rnnt_pruning,
// rnnt_loss_pruned): the one list of its kernels, re-exported by assembly/index.ts. Host side:
// src/model/rnnt_pruned.ts. Order of use in a step: rnnt_simple_forward -> rnnt_simple_occupation ->
// rnnt_prune_ranges -> rnnt_pruned_joiner_forward -> rnnt_pruned_loss_forward, then the backwards.

export * from "./rnnt_simple";
export * from "./rnnt_prune_ranges";
export * from "./rnnt_pruned_joiner";
export * from "./rnnt_pruned_loss";
