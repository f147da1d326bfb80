import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // Property tests over WASM kernels are CPU-bound; two cores, so two forks.
    pool: "forks",
    maxWorkers: 2,
    testTimeout: 120_000,
    // dist/ is compiled once here, never from inside a test file (see the file).
    globalSetup: ["test/setup/build-dist.ts"],
  },
});
