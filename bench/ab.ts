// `npm run bench:ab -- --base DIR [--only train,block,infer] [--rounds 5]`: the same benches of two
// checkouts, interleaved run by run in one session, so that both see the same machine. DIR is another
// checkout of todm, built (`npm run build`) at the commit to compare against, e.g. the commit before a
// refactor: `git worktree add ../base <commit> && (cd ../base && npm ci)`.
//
// Each round runs every bench once in each checkout, in an order that alternates from round to round
// (base first in odd rounds, this checkout first in even ones), each as its own `node dist-bench/run.js
// --only NAME` process. A round's figure is the todm figure of that run; the record kept is the median
// over rounds. The peers (torch, ...) of those runs are not kept: here the peer is the base checkout.
// Records go to bench/results.json as bench "ab-<name>" with peer "base <commit>", beside the others,
// and BENCHMARKS.md is rewritten from the file. This checkout's own records of the benches it ran are
// restored afterwards (the interleaved runs overwrite them).
// Not a test and not a profiler: a ratio of medians, with the per-round figures in the record's note.

import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { commitId, machineName, median, type BenchRecord } from "./lib.js";

function arg(name: string, dflt?: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : dflt;
}

const key = (r: BenchRecord) => `${r.bench}\u0000${r.case}\u0000${r.metric}\u0000${r.build}`;

/** Runs one bench in one checkout and returns the records it wrote for that bench. */
function runOnce(dir: string, bench: string): BenchRecord[] {
  const t0 = Date.now();
  const r = spawnSync(process.execPath, ["dist-bench/run.js", "--only", bench], { cwd: dir, encoding: "utf8", env: process.env });
  if (r.status !== 0) throw new Error(`bench ${bench} failed in ${dir}:\n${r.stdout}\n${r.stderr}`);
  const all: BenchRecord[] = JSON.parse(readFileSync(join(dir, "bench/results.json"), "utf8"));
  console.log(`  ${bench} in ${dir}: ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  return all.filter((x) => x.bench === bench);
}

function main(): void {
  const base = resolve(arg("base") ?? "");
  if (!arg("base") || !existsSync(join(base, "dist-bench/run.js")) && !existsSync(join(base, "bench/run.ts"))) {
    throw new Error("bench:ab needs --base DIR, a built checkout of todm to compare against");
  }
  const only = (arg("only", "train,block,infer") as string).split(",");
  const rounds = Number(arg("rounds", "5"));
  if (!Number.isInteger(rounds) || rounds < 1) throw new Error(`--rounds must be a positive integer, got ${arg("rounds")}`);
  // The base's bench code is compiled from its own sources, against its own dist/.
  execFileSync(process.execPath, ["node_modules/typescript/bin/tsc", "-p", "tsconfig.bench.json"], { cwd: base, stdio: "inherit" });
  const here = process.cwd();
  const mine = "bench/results.json";
  const saved = existsSync(mine) ? readFileSync(mine, "utf8") : "[]";
  const baseCommit = spawnSync("git", ["rev-parse", "--short", "HEAD"], { cwd: base, encoding: "utf8" }).stdout.trim() || base;
  const series = new Map<string, { rec: BenchRecord; base: number[]; head: number[] }>();
  try {
    for (let round = 0; round < rounds; round++) {
      console.log(`round ${round + 1} of ${rounds}`);
      for (const bench of only) {
        const order = round % 2 === 0 ? [base, here] : [here, base];
        for (const dir of order) {
          for (const rec of runOnce(dir, bench)) {
            if (rec.todm === null) continue;
            const k = key(rec);
            if (!series.has(k)) series.set(k, { rec, base: [], head: [] });
            (dir === base ? series.get(k)!.base : series.get(k)!.head).push(rec.todm);
          }
        }
      }
    }
  } finally {
    writeFileSync(mine, saved);
  }
  const peer = `base ${baseCommit}`;
  const fresh: BenchRecord[] = [];
  for (const { rec, base: b, head: h } of series.values()) {
    if (b.length === 0 || h.length === 0) continue;
    const fmt = (xs: number[]) => xs.map((x) => x.toPrecision(4)).join(", ");
    fresh.push({
      bench: `ab-${rec.bench}`, case: rec.case, metric: rec.metric, build: rec.build, higherIsBetter: rec.higherIsBetter,
      todm: median(h), peers: { [peer]: median(b) }, machine: machineName(), commit: commitId(),
      note: `${rounds} interleaved rounds against ${peer}; per round, this commit: ${fmt(h)}; base: ${fmt(b)}`,
    });
  }
  const records: BenchRecord[] = JSON.parse(saved);
  const benches = new Set(fresh.map((r) => r.bench));
  writeFileSync(mine, JSON.stringify(records.filter((r) => !benches.has(r.bench)).concat(fresh), null, 2) + "\n");
  for (const r of fresh) {
    const b = r.peers[peer]!;
    const ratio = r.higherIsBetter ? r.todm! / b : b / r.todm!;
    console.log(`${r.bench} | ${r.case} | ${r.metric} | ${r.build}: ${r.todm!.toPrecision(4)} vs ${b.toPrecision(4)} -> ${ratio.toFixed(3)}x`);
  }
  // BENCHMARKS.md is rewritten by run.ts from the merged file.
  execFileSync(process.execPath, ["dist-bench/run.js", "--render"], { stdio: "inherit" });
}

try {
  main();
} catch (e) {
  console.error(`bench:ab: ${(e as Error).message}`);
  process.exit(1);
}
