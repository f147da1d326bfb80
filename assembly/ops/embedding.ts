// Embedding lookup: a forward/backward pair gathering rows of a table by int32 ids, with scalar
// `_naive` twins.
//
// What it is not: a one-hot matmul, or padding handling (every id must be a valid row; a negative
// id aborts, an id >= V is the caller's bug: the kernel does not know V). Reference: torch
// nn.functional.embedding semantics, checked in test/embedding.test.ts against a brute-force gather
// and scatter-add written in the test.
// Shapes: ids [R] int32; table, dtable [V, ldt], of which the leading C columns are used (a subnet's
// slice of a wider table); out, dout [R, C], rows contiguous.

/** out[r, 0:C] = table[ids[r], 0:C]. */
export function embedding_forward(out: usize, ids: usize, table: usize, R: i32, C: i32, ldt: i32): void {
  for (let r = 0; r < R; r++) {
    const id = load<i32>(ids + (<usize>r << 2));
    assert(id >= 0, "embedding: negative id");
    memory.copy(out + ((<usize>r * C) << 2), table + ((<usize>id * ldt) << 2), <usize>C << 2);
  }
}

export function embedding_forward_naive(out: usize, ids: usize, table: usize, R: i32, C: i32, ldt: i32): void {
  for (let r = 0; r < R; r++) {
    const id = load<i32>(ids + (<usize>r << 2));
    assert(id >= 0, "embedding: negative id");
    for (let j = 0; j < C; j++) {
      store<f32>(out + ((<usize>r * C + j) << 2), load<f32>(table + ((<usize>id * ldt + j) << 2)));
    }
  }
}

/** Inverts `out[r] = table[ids[r]]`: dtable[ids[r], 0:C] += dout[r, 0:C]; repeated ids add up. */
export function embedding_backward(dtable: usize, dout: usize, ids: usize, R: i32, C: i32, ldt: i32): void {
  for (let r = 0; r < R; r++) {
    const id = load<i32>(ids + (<usize>r << 2));
    assert(id >= 0, "embedding: negative id");
    const d = dtable + ((<usize>id * ldt) << 2), g = dout + ((<usize>r * C) << 2);
    let j = 0;
    for (; j + 4 <= C; j += 4) {
      const o = <usize>j << 2;
      v128.store(d + o, f32x4.add(v128.load(d + o), v128.load(g + o)));
    }
    for (; j < C; j++) {
      const o = <usize>j << 2;
      store<f32>(d + o, load<f32>(d + o) + load<f32>(g + o));
    }
  }
}

export function embedding_backward_naive(dtable: usize, dout: usize, ids: usize, R: i32, C: i32, ldt: i32): void {
  for (let r = 0; r < R; r++) {
    const id = load<i32>(ids + (<usize>r << 2));
    assert(id >= 0, "embedding: negative id");
    for (let j = 0; j < C; j++) {
      const o = ((<usize>id * ldt + j) << 2);
      store<f32>(dtable + o, load<f32>(dtable + o) + load<f32>(dout + ((<usize>r * C + j) << 2)));
    }
  }
}
