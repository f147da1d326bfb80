// Import cycles and layering in src/: reads every src/**/*.ts, takes the relative specifiers of its
// run-time imports (`import ... from`, `export ... from`, side-effect `import "..."`, dynamic
// `import("...")`; `import type` / `export type` are erased by tsc and do not count), and reports each
// cycle found. The layering rule: only src/cli.ts and src/commands/ may import src/commands/ (the CLI
// sits on the library, never under it); type-only imports count there too.
//
//   node scripts/check-cycles.mjs        # exit 1 and one line per cycle or layering breach, or "no import cycles"
//
// Run by npm test through test/cycles.test.ts, which also checks `findCycles` on small synthetic graphs.
// What it is not: a bundler's resolver. Specifiers are relative paths ending in .js (NodeNext style)
// mapped back to .ts; anything else (packages, node:) is outside the graph.

import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, normalize, relative } from "node:path";
import { fileURLToPath } from "node:url";

/** Edges allowed to close a cycle, each with the reason it is tolerated and who removes it. Empty. */
export const ALLOWED_EDGES = new Set([]);

const IMPORT_RE = /(?:^|[;\n])\s*(import|export)\s+(type\s+)?(?:[^'";]*?\s+from\s+)?["']([^"']+)["']|import\(\s*["']([^"']+)["']\s*\)/g;

/** The run-time relative specifiers of a TypeScript source (with `types`, the type-only ones too). */
export function importsOf(text, types = false) {
  const out = [];
  const code = text.replace(/\/\*[\s\S]*?\*\//g, "").replace(/(^|[^:])\/\/.*$/gm, "$1");
  for (const m of code.matchAll(IMPORT_RE)) {
    const spec = m[3] ?? m[4];
    if (!spec.startsWith(".")) continue; // a package
    if (types) {
      out.push(spec);
      continue;
    }
    if (m[2]) continue; // type-only
    // `import { type A, type B } from` is erased too when every name is a type
    const names = /\{([^}]*)\}/.exec(m[0]);
    if (names && !/\*|^\s*(import|export)\s+\w+\s*,/.test(m[0]) && names[1].split(",").every((n) => !n.trim() || /^type\s/.test(n.trim()))) continue;
    out.push(spec);
  }
  return out;
}

/** Every cycle's node list (first node repeated at the end), from a graph { node: [neighbours] }; one per strongly connected part. */
export function findCycles(graph, allowed = new Set()) {
  const index = new Map(), low = new Map(), onStack = new Set(), stack = [], cycles = [];
  let next = 0;
  const edges = (v) => (graph[v] ?? []).filter((w) => !allowed.has(`${v} -> ${w}`));
  const visit = (v) => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of edges(v)) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v), low.get(w)));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v), index.get(w)));
    }
    if (low.get(v) !== index.get(v)) return;
    const part = [];
    let w;
    do {
      w = stack.pop();
      onStack.delete(w);
      part.push(w);
    } while (w !== v);
    if (part.length > 1 || edges(v).includes(v)) cycles.push(pathWithin(new Set(part), v, edges));
  };
  for (const v of Object.keys(graph)) if (!index.has(v)) visit(v);
  return cycles;
}

/** A concrete cycle through `start` inside one strongly connected part (breadth-first back to start). */
function pathWithin(part, start, edges) {
  const prev = new Map([[start, null]]), queue = [start];
  while (queue.length) {
    const v = queue.shift();
    for (const w of edges(v)) {
      if (!part.has(w)) continue;
      if (w === start) {
        const path = [start];
        for (let x = v; x !== start; x = prev.get(x)) path.splice(1, 0, x);
        return [...path, start];
      }
      if (!prev.has(w)) {
        prev.set(w, v);
        queue.push(w);
      }
    }
  }
  return [start, start];
}

/**
 * The import graph of src/ (paths relative to the repository, e.g. "src/engine/engine.ts"): run-time
 * imports, or with `types` all of them.
 */
export function srcGraph(root, types = false) {
  const graph = {};
  const walk = (dir) => {
    for (const ent of readdirSync(join(root, dir), { withFileTypes: true })) {
      const p = join(dir, ent.name);
      if (ent.isDirectory()) walk(p);
      else if (p.endsWith(".ts") && !p.endsWith(".d.ts")) {
        graph[p] = importsOf(readFileSync(join(root, p), "utf8"), types)
          .map((s) => normalize(join(dirname(p), s)).replace(/\.js$/, ".ts"))
          .filter((t) => t.startsWith("src/"));
      }
    }
  };
  walk("src");
  return graph;
}

/** Edges "a -> b" that break the layering: b in src/commands/, a neither there nor src/cli.ts. */
export function layerViolations(graph) {
  const cli = (f) => f === "src/cli.ts" || f.startsWith("src/commands/");
  return Object.entries(graph).flatMap(([a, bs]) => (cli(a) ? [] : bs.filter((b) => b.startsWith("src/commands/")).map((b) => `${a} -> ${b}`)));
}

if (process.argv[1] && fileURLToPath(import.meta.url) === normalize(process.argv[1])) {
  const root = join(dirname(fileURLToPath(import.meta.url)), "..");
  const cycles = findCycles(srcGraph(root), ALLOWED_EDGES);
  const breaches = layerViolations(srcGraph(root, true));
  for (const c of cycles) console.log(`import cycle: ${c.join(" -> ")}`);
  for (const b of breaches) console.log(`layering: ${b} (only src/cli.ts and src/commands/ may import src/commands/)`);
  if (cycles.length === 0 && breaches.length === 0) console.log(`no import cycles in ${relative(process.cwd(), join(root, "src")) || "src"}/, layering kept`);
  process.exit(cycles.length || breaches.length ? 1 : 0);
}
