// The engine's memory: one bump arena over the module's linear memory.
//
// The host owns the layout. It allocates long-lived regions first (parameters, gradients,
// optimizer moments), takes a mark, and resets to that mark after every step, so activations
// and scratch are freed in O(1) and the training step never calls a general allocator.
// Kernels that need scratch of their own (GEMM packing buffers) allocate it at module start,
// below any mark the host can take.
//
// Rules for every file in assembly/: no managed objects (no `new`, no arrays, no strings built
// at run time). Tensors are raw pointers into linear memory; only numbers cross the boundary.

const ALIGN: usize = 64; // one cache line; also keeps every v128 load aligned

let top: usize = (__heap_base + ALIGN - 1) & ~(ALIGN - 1);

/** Allocates `bytes` (rounded up to 64) and returns a 64-byte aligned pointer. Grows memory as needed. */
export function mem_alloc(bytes: usize): usize {
  const ptr = top;
  // Pointers stay below 2 GiB (maximumMemory is 32768 pages), so the host can treat them as i32.
  if (bytes >= 0x80000000 || ptr + bytes >= 0x80000000 - ALIGN) return 0;
  const end = (ptr + bytes + ALIGN - 1) & ~(ALIGN - 1);
  const have = (<usize>memory.size()) << 16;
  if (end > have) {
    const pages = <i32>((end - have + 0xffff) >> 16);
    if (memory.grow(pages) < 0) {
      return 0; // the host turns 0 into an out-of-memory error naming the request
    }
  }
  top = end;
  return ptr;
}

/** The current top of the arena, to hand back to mem_reset later. */
export function mem_mark(): usize {
  return top;
}

/** Frees everything allocated since `mark` was taken. */
export function mem_reset(mark: usize): void {
  top = mark;
}

/** Zeroes `n` floats at `ptr` (gradient regions: one call, as llm.c's gpt2_zero_grad). */
export function mem_zero_f32(ptr: usize, n: i32): void {
  memory.fill(ptr, 0, <usize>n << 2);
}

/** Copies `n` floats from `src` to `dst` (regions may overlap). */
export function mem_copy_f32(dst: usize, src: usize, n: i32): void {
  memory.copy(dst, src, <usize>n << 2);
}
