// No import cycles in src/, and only the CLI imports src/commands/ (issue 19): scripts/check-cycles.mjs
// over the real tree, and its parts checked against graphs and sources small enough to enumerate by hand.

import { describe, expect, it } from "vitest";
// @ts-expect-error: a plain .mjs script without declarations
import { ALLOWED_EDGES, findCycles, importsOf, layerViolations, srcGraph } from "../scripts/check-cycles.mjs";

describe("import cycles", () => {
  it("findCycles finds a cycle in a synthetic graph, and none in a DAG", () => {
    expect(findCycles({ a: ["b"], b: ["c"], c: ["a"], d: ["a"] })).toEqual([["a", "b", "c", "a"]]);
    expect(findCycles({ a: ["a"] })).toEqual([["a", "a"]]);
    expect(findCycles({ a: ["b", "c"], b: ["c"], c: [], d: ["a", "c"] })).toEqual([]);
    // two separate cycles are both reported
    expect(findCycles({ a: ["b"], b: ["a"], c: ["d"], d: ["c"] })).toHaveLength(2);
    // an allowed edge breaks the cycle it closes, and only that one
    expect(findCycles({ a: ["b"], b: ["a"] }, new Set(["b -> a"]))).toEqual([]);
    expect(findCycles({ a: ["b"], b: ["a", "c"], c: ["b"] }, new Set(["b -> a"]))).toEqual([["b", "c", "b"]]);
  });

  it("importsOf reads run-time imports (static, re-export, side effect, dynamic) and skips type-only ones", () => {
    const src = [
      `import { a } from "./a.js";`,
      `import type { B } from "./b.js";`,
      `import { type C, type D } from "./cd.js";`,
      `import { type E, f } from "./ef.js";`,
      `export { g } from "./g.js";`,
      `export type { H } from "./h.js";`,
      `export * from "./star.js";`,
      `import "./side.js";`,
      `const m = await import("./dyn.js");`,
      `import { readFileSync } from "node:fs";`,
      `// import { x } from "./comment.js";`,
    ].join("\n");
    expect(importsOf(src)).toEqual(["./a.js", "./ef.js", "./g.js", "./star.js", "./side.js", "./dyn.js"]);
    // with types: every relative specifier, in order
    expect(importsOf(src, true)).toEqual(["./a.js", "./b.js", "./cd.js", "./ef.js", "./g.js", "./h.js", "./star.js", "./side.js", "./dyn.js"]);
  });

  it("layerViolations flags a library file importing src/commands/, and nothing else", () => {
    const graph = {
      "src/cli.ts": ["src/commands/train.ts", "src/train/trainer.ts"],
      "src/commands/train.ts": ["src/commands/eval.ts", "src/train/trainer.ts"],
      "src/commands/eval.ts": [],
      "src/train/trainer.ts": ["src/commands/eval.ts", "src/model/model.ts"],
      "src/model/model.ts": [],
      "src/index.ts": ["src/commands/train.ts"],
    };
    expect(layerViolations(graph)).toEqual(["src/train/trainer.ts -> src/commands/eval.ts", "src/index.ts -> src/commands/train.ts"]);
    expect(layerViolations({ "src/cli.ts": ["src/commands/a.ts"], "src/commands/a.ts": ["src/train/b.ts"], "src/train/b.ts": [] })).toEqual([]);
  });

  it("only src/cli.ts and src/commands/ import src/commands/ (type-only imports included)", () => {
    expect(layerViolations(srcGraph(".", true))).toEqual([]);
  });

  it("src/ has none (allowed edges: none beyond the commented list in the script)", () => {
    const graph = srcGraph(".");
    expect(Object.keys(graph).length).toBeGreaterThan(50); // the walk found the tree
    expect(findCycles(graph, ALLOWED_EDGES)).toEqual([]);
  });
});
