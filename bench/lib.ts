// The benchmark harness: timing, medians, machine facts, and the results file.
//
// Every bench module exports `run(ctx)` and returns records; run.ts merges them into
// bench/results.json (replacing the records of the benches that ran, keeping the others) and
// rewrites BENCHMARKS.md from the whole file. Figures are never edited by hand.

import { execSync, spawn, spawnSync, type ChildProcessWithoutNullStreams } from "node:child_process";
import { cpus, totalmem } from "node:os";
import type { Engine } from "../dist/index.js";
import type { Batch } from "../dist/data/batching.js";
import { mulberry32 } from "../dist/util/random.js";
import { createInterface } from "node:readline";

export interface BenchRecord {
  bench: string; // e.g. "gemm"
  case: string; // e.g. "400x256x1024"
  metric: string; // e.g. "GFLOP/s", "ms", "x realtime"
  higherIsBetter: boolean;
  todm: number | null;
  build: string; // "simd" | "relaxed-simd" | ...
  peers: Record<string, number | null>; // names contain tfjs, torch or torchaudio
  machine: string;
  commit: string;
  note?: string;
}

export interface BenchContext {
  /** Engines of both builds (relaxed first when the runtime has it). */
  engines: Engine[];
  machine: string;
  commit: string;
  /** Runs a Python peer script with Debian's torch on one thread; null when torch is missing. */
  python(script: string, args: string[]): unknown | null;
  log(line: string): void;
}

/** Median of `reps` timings (ms) of `fn`, after `warmup` untimed calls. */
export function timeMs(fn: () => void, reps = 7, warmup = 2): number {
  for (let i = 0; i < warmup; i++) fn();
  const t: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = process.hrtime.bigint();
    fn();
    t.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return median(t);
}

/** Async variant of timeMs. */
export async function timeMsAsync(fn: () => Promise<void>, reps = 7, warmup = 2): Promise<number> {
  for (let i = 0; i < warmup; i++) await fn();
  const t: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = process.hrtime.bigint();
    await fn();
    t.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return median(t);
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  return n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

export function machineName(): string {
  const c = cpus();
  return `${c[0]?.model.trim() ?? "unknown CPU"}, ${c.length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
}

export function commitId(): string {
  try {
    const id = execSync("git rev-parse --short HEAD", { encoding: "utf8" }).trim();
    const dirty = execSync("git status --porcelain --untracked-files=no", { encoding: "utf8" }).trim();
    return dirty ? `${id}-dirty` : id;
  } catch {
    return "unknown";
  }
}

/**
 * Runs `/usr/bin/python3 script args...` with torch and OpenBLAS pinned to one thread and parses the
 * last line of its stdout as JSON. Returns null (and logs why) when Python or torch is unavailable.
 */
export function runPython(script: string, args: string[], log: (s: string) => void): unknown | null {
  const env = { ...process.env, OMP_NUM_THREADS: "1", OPENBLAS_NUM_THREADS: "1", MKL_NUM_THREADS: "1" };
  const r = spawnSync("/usr/bin/python3", [script, ...args], { encoding: "utf8", env, maxBuffer: 64 << 20 });
  if (r.error || r.status !== 0) {
    log(`  peer ${script} unavailable: ${(r.error?.message ?? r.stderr ?? "").trim().split("\n").pop()}`);
    return null;
  }
  const lines = r.stdout.trim().split("\n");
  return JSON.parse(lines[lines.length - 1]);
}

/** A seeded synthetic training batch: B utterances of `frames` feature frames, 20-25 tokens each from V. */
export function syntheticTrainBatch(B: number, frames: number, F: number, V: number): Batch {
  const r = mulberry32(3);
  const tokenLens = Int32Array.from({ length: B }, (_, b) => 20 + (b % 6));
  const U = Math.max(...tokenLens);
  const tokens = new Int32Array(B * U);
  for (let b = 0; b < B; b++) for (let u = 0; u < tokenLens[b]; u++) tokens[b * U + u] = 1 + Math.floor(r() * (V - 1));
  const feats = Float32Array.from({ length: B * frames * F }, () => r() * 4 - 2);
  return { ids: Array.from({ length: B }, (_, i) => i), B, T: frames, F, U, feats, featLens: new Int32Array(B).fill(frames), tokens, tokenLens };
}

/**
 * A peer kept running in serve mode: one `/usr/bin/python3 script args...` process (torch and OpenBLAS on one
 * thread) that prints a JSON line when ready, then answers each command line on stdin with one JSON line.
 * Benchmarks that alternate todm and torch run by run use it, so that a busy machine hurts both alike.
 */
export class PythonPeer {
  private readonly lines: string[] = [];
  private waiting: ((line: string | null) => void) | null = null;
  private closed = false;

  private constructor(private readonly proc: ChildProcessWithoutNullStreams, private readonly script: string) {
    createInterface({ input: proc.stdout }).on("line", (l) => this.push(l));
    proc.on("close", () => {
      this.closed = true;
      this.push(null);
    });
  }

  private push(line: string | null): void {
    if (this.waiting) {
      const w = this.waiting;
      this.waiting = null;
      w(line);
    } else if (line !== null) this.lines.push(line);
  }

  private next(): Promise<string | null> {
    if (this.lines.length) return Promise.resolve(this.lines.shift()!);
    if (this.closed) return Promise.resolve(null);
    return new Promise((resolve) => (this.waiting = resolve));
  }

  /** Starts `script` in serve mode (one thread); null, logged, when it cannot. */
  static async start(script: string, args: string[], log: (s: string) => void): Promise<{ peer: PythonPeer; info: Record<string, unknown> } | null> {
    const env = { ...process.env, OMP_NUM_THREADS: "1", OPENBLAS_NUM_THREADS: "1", MKL_NUM_THREADS: "1" };
    const proc = spawn("/usr/bin/python3", [script, ...args], { env, stdio: ["pipe", "pipe", "pipe"] });
    let stderr = "";
    proc.stderr.on("data", (d) => (stderr += String(d)));
    proc.on("error", (err) => (stderr += err.message));
    const peer = new PythonPeer(proc, script);
    const first = await peer.next();
    if (first === null) {
      log(`  peer ${script} unavailable: ${stderr.trim().split("\n").pop()}`);
      return null;
    }
    return { peer, info: JSON.parse(first) };
  }

  async request<R>(cmd: string): Promise<R> {
    this.proc.stdin.write(`${cmd}\n`);
    const line = await this.next();
    if (line === null) throw new Error(`${this.script} exited while answering "${cmd}"`);
    return JSON.parse(line) as R;
  }

  close(): void {
    this.proc.stdin.end("quit\n");
  }
}
