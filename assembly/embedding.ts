// Embedding lookup (the RNN-T predictor's input), forward and backward.
//
// What it is: out[r, :] = table[ids[r], :] for r < n. What it is not: a sparse-gradient or padding_idx
// embedding; every row's gradient is accumulated densely into dtable. Reference: torch.nn.Embedding.
// Scalar only (copies and adds of n·E values; no SIMD twin needed).

/** out [n, E] = table [Vocab, E] rows picked by ids [n] i32 (the caller checks 0 <= ids < Vocab). */
export function embedding_forward(out: usize, ids: usize, table: usize, n: i32, E: i32): void {
  for (let r = 0; r < n; r++) {
    const id = load<i32>(ids + (<usize>r << 2));
    memory.copy(out + ((<usize>r * E) << 2), table + ((<usize>id * E) << 2), <usize>E << 2);
  }
}

/** dtable [Vocab, E] += scatter of dout [n, E] by ids; inverts `out[r,:] = table[ids[r],:]`. */
export function embedding_backward(dtable: usize, ids: usize, dout: usize, n: i32, E: i32): void {
  for (let r = 0; r < n; r++) {
    const d = dtable + ((<usize>load<i32>(ids + (<usize>r << 2)) * E) << 2);
    const g = dout + ((<usize>r * E) << 2);
    for (let k = 0; k < E; k++) store<f32>(d + (<usize>k << 2), load<f32>(d + (<usize>k << 2)) + load<f32>(g + (<usize>k << 2)));
  }
}
