// as-pect: specs for AssemblyScript internals that are not exported (assembly/__tests__/*.spec.ts).
module.exports = {
  entries: ["assembly/__tests__/**/*.spec.ts"],
  include: ["assembly/__tests__/**/*.include.ts"],
  disclude: [/node_modules/],
  // Specs run with the incremental runtime; they must not call mem_alloc (the arena assumes it owns
  // the heap, which is true only in the stub-runtime builds). The arena is tested from vitest.

  async instantiate(memory, createImports, instantiate, binary) {
    return instantiate(binary, createImports({ env: { memory } }));
  },
  outputBinary: false,
};
