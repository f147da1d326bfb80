// `npm run bench [-- --only NAME[,NAME]]`: runs the benchmarks and their peers in one process,
// merges the records into bench/results.json and rewrites BENCHMARKS.md from it.
//
// Each bench lives in bench/<name>.ts and exports `run(ctx): Promise<BenchRecord[]>`.

import { existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { createEngine, type Engine } from "../dist/index.js";
import { commitId, machineName, runPython, type BenchContext, type BenchRecord } from "./lib.js";

const BENCHES: Record<string, () => Promise<{ run(ctx: BenchContext): Promise<BenchRecord[]> }>> = {
  gemm: () => import("./gemm.js"),
  block: () => import("./block.js"),
  ssm: () => import("./ssm.js"),
  optim: () => import("./optim.js"),
  elementwise: () => import("./elementwise.js"),
  conv: () => import("./conv.js"),
  fbank: () => import("./fbank.js"),
  rnnt: () => import("./rnnt.js"),
  loader: () => import("./loader.js"),
  train: () => import("./train.js"),
  "train-threads": () => import("./train_threads.js"),
  web: () => import("./web.js"),
  kd: () => import("./kd.js"),
  "gemm-i8": () => import("./gemm_i8.js"),
  infer: () => import("./infer.js"),
  "infer-size": () => import("./infer_size.js"),
  ctc: () => import("./ctc.js"),
  pruned: () => import("./pruned.js"),
  lm: () => import("./lm.js"),
};

const RESULTS = "bench/results.json";

function writeAtomic(path: string, text: string): void {
  writeFileSync(`${path}.tmp`, text);
  renameSync(`${path}.tmp`, path);
}

function fmt(x: number | null | undefined): string {
  if (x === null || x === undefined || !Number.isFinite(x)) return "n/a";
  return Math.abs(x) >= 100 ? x.toFixed(0) : Math.abs(x) >= 10 ? x.toFixed(1) : x.toPrecision(3);
}

/** BENCHMARKS.md, written from results.json alone. */
function renderMarkdown(records: BenchRecord[]): string {
  const lines = [
    "# Benchmarks",
    "",
    "Written by `npm run bench` from bench/results.json; never edited by hand. Each figure is the median of",
    "at least 5 repetitions. A ratio is todm over the peer, oriented so that > 1 means todm is better.",
    "Peers run in the same process run, on one thread.",
    "",
  ];
  const benches = [...new Set(records.map((r) => r.bench))];
  for (const b of benches) {
    const rs = records.filter((r) => r.bench === b);
    const peers = [...new Set(rs.flatMap((r) => Object.keys(r.peers)))];
    lines.push(`## ${b}`, "");
    lines.push(`| case | metric | build | todm | ${peers.map((p) => `${p} | todm/${p}`).join(" | ")} |`);
    lines.push(`| --- | --- | --- | ---: | ${peers.map(() => "---: | ---:").join(" | ")} |`);
    for (const r of rs) {
      const cells = peers.map((p) => {
        const v = r.peers[p];
        const ratio = v && r.todm ? (r.higherIsBetter ? r.todm / v : v / r.todm) : null;
        return `${fmt(v)} | ${ratio === null ? "n/a" : ratio.toFixed(2) + "x"}`;
      });
      lines.push(`| ${r.case} | ${r.metric} | ${r.build} | ${fmt(r.todm)} | ${cells.join(" | ")} |`);
    }
    const notes = [...new Set(rs.map((r) => r.note).filter(Boolean))];
    if (notes.length) lines.push("", ...notes.map((n) => `- ${n}`));
    const m = [...new Set(rs.map((r) => `${r.machine}, commit ${r.commit}`))];
    lines.push("", `Measured on ${m.join("; ")}.`, "");
  }
  return lines.join("\n");
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  if (args.includes("--render")) {
    // BENCHMARKS.md from results.json alone (bench/ab.ts merges its records, then calls this).
    writeAtomic("BENCHMARKS.md", renderMarkdown(existsSync(RESULTS) ? JSON.parse(readFileSync(RESULTS, "utf8")) : []));
    return;
  }
  const onlyAt = args.indexOf("--only");
  const only = onlyAt >= 0 ? args[onlyAt + 1]?.split(",") ?? [] : Object.keys(BENCHES);
  for (const name of only) {
    if (!BENCHES[name]) throw new Error(`unknown bench "${name}"; known: ${Object.keys(BENCHES).join(", ")}`);
  }
  const engines: Engine[] = [];
  try {
    engines.push(await createEngine({ build: "relaxed-simd" }));
  } catch {
    /* no relaxed SIMD in this runtime */
  }
  engines.push(await createEngine({ build: "simd" }));
  const ctx: BenchContext = {
    engines,
    machine: machineName(),
    commit: commitId(),
    python: (script, a) => runPython(script, a, (s) => console.log(s)),
    log: (s) => console.log(s),
  };
  let records: BenchRecord[] = existsSync(RESULTS) ? JSON.parse(readFileSync(RESULTS, "utf8")) : [];
  for (const name of only) {
    console.log(`bench ${name}`);
    const mod = await BENCHES[name]();
    const fresh = await mod.run(ctx);
    // a rerun bench keeps its place in results.json (and so in BENCHMARKS.md); a new one goes last
    const at = records.findIndex((r) => r.bench === name);
    const rest = records.filter((r) => r.bench !== name);
    const pos = at < 0 ? rest.length : records.slice(0, at).filter((r) => r.bench !== name).length;
    records = [...rest.slice(0, pos), ...fresh, ...rest.slice(pos)];
    writeAtomic(RESULTS, JSON.stringify(records, null, 2) + "\n");
  }
  writeAtomic("BENCHMARKS.md", renderMarkdown(records));
  console.log("wrote bench/results.json and BENCHMARKS.md");
}

main().catch((e: Error) => {
  console.error(`bench: ${e.message}`);
  process.exit(1);
});
