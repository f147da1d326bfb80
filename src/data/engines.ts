// The speech synthesis engines the synthetic corpus runs as separate programs: espeak-ng (GPL-3.0) and
// flite (BSD-style). Neither is a dependency of todm, and todm has no native code of its own: each is
// found on PATH (or through TODM_ESPEAK / TODM_FLITE), its version checked, and driven through a small
// `sh` loop per job slot so that Node does not fork itself once per sentence.
//
// What can go wrong, and what happens (each message names the engine, and the utterance and sentence):
// - the engine is missing, or `--version` fails: an error with the install command (espeak-ng), or
//   null from findEngine(..., {optional}) so that the caller can build without flite;
// - an unexpected version: a warning, not a refusal. Another version speaks as well, but not the same
//   bytes: the corpus then differs from the one RESULTS.md measured and the yardstick's checksum fails;
// - an utterance it cannot speak: a crash (non-zero status), a hang (killed by `timeout` after
//   `timeoutSec`), or empty output (no WAV, no samples, or silence): a SynthFailure; the build skips and
//   counts it.
// Not a TTS engine, and not a way to call engines other than these two.

import { spawn, spawnSync } from "node:child_process";
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { readWav } from "../audio/wav.js";

export type EngineName = "espeak-ng" | "flite";

/** The versions the shipped corpus and the yardstick's checksum were made with (Debian 12). */
export const EXPECTED_VERSION: Record<EngineName, RegExp> = { "espeak-ng": /\b1\.51\b/, flite: /flite-2\.2\b/ };

const ENV: Record<EngineName, string> = { "espeak-ng": "TODM_ESPEAK", flite: "TODM_FLITE" };

export interface EngineInfo {
  name: EngineName;
  bin: string;
  /** First line of `--version` (flite: the line that names it). */
  version: string;
  /** False when the version is not the expected one (a warning has been given). */
  expected: boolean;
}

/**
 * Finds an engine: TODM_ESPEAK / TODM_FLITE, else the name on PATH. Missing: throws with the install
 * command, or returns null with `optional`. An unexpected version is warned about through `warn`.
 */
export function findEngine(name: EngineName, opts: { optional: true; warn?: (l: string) => void }): EngineInfo | null;
export function findEngine(name: EngineName, opts?: { optional?: false; warn?: (l: string) => void }): EngineInfo;
export function findEngine(name: EngineName, opts: { optional?: boolean; warn?: (l: string) => void } = {}): EngineInfo | null {
  const bin = process.env[ENV[name]] || name;
  const r = spawnSync(bin, ["--version"], { encoding: "utf8", timeout: 10_000 });
  // flite 2.2 prints its version and exits with status 1.
  const answered = r.status === 0 || (name === "flite" && /flite-\d/.test(r.stdout ?? ""));
  if (r.error || !answered) {
    if (opts.optional) return null;
    const why = r.error?.message ?? `status ${r.status}${r.stderr ? `: ${r.stderr.trim()}` : ""}`;
    throw new Error(`synth needs ${name} (run as a separate program, not a dependency): \`apt-get install -y ${name}\` (or set ${ENV[name]} to its path). Tried "${bin} --version": ${why}`);
  }
  const lines = (r.stdout + r.stderr).split("\n").map((l) => l.trim()).filter(Boolean);
  const version = (name === "flite" ? lines.find((l) => /flite-/.test(l)) : lines[0]) ?? lines[0] ?? "(no version printed)";
  const expected = EXPECTED_VERSION[name].test(version);
  if (!expected) {
    (opts.warn ?? ((l: string) => console.warn(l)))(
      `warning: ${name} at "${bin}" is "${version}", not the version the shipped corpus was made with (${name === "flite" ? "flite 2.2" : "espeak-ng 1.51"}): ` +
        "it will build, but its audio differs, so results are not comparable with RESULTS.md and the yardstick's checksum will not match",
    );
  }
  return { name, bin, version, expected };
}

/** An utterance an engine could not speak. */
export class SynthFailure extends Error {
  constructor(readonly id: string, readonly engine: EngineName, readonly sentence: string, readonly reason: string) {
    super(`${engine} could not speak ${id} ("${sentence}"): ${reason}`);
  }
}

/** What one call of an engine is asked to do. */
export interface EngineJob {
  id: string;
  spoken: string;
  /** espeak-ng: "en-us+f3"; flite: a voice name ("kal16"). */
  voice: string;
  /** espeak-ng: words per minute and pitch 0..99. */
  speed?: number;
  pitch?: number;
  /** flite: duration_stretch and int_f0_target_mean (null: the voice's own). */
  stretch?: number;
  f0?: number | null;
}

export interface SpeakTiming {
  /** Waiting for the engine: its process start and its synthesis. */
  engineMs: number;
  /** Reading and parsing its WAV. */
  readMs: number;
}

// $0 is the engine, $1 the time limit in seconds. `timeout` kills a hung engine (status 124, or 137
// after the KILL one second later); the loop goes on with the next line.
const SCRIPTS: Record<EngineName, string> = {
  "espeak-ng": 'while read -r id voice speed pitch txt wav; do timeout -k 1 "$1" "$0" -v "$voice" -s "$speed" -p "$pitch" -f "$txt" -w "$wav" 2>"$wav.err"; echo "$? $id"; done',
  flite: 'while read -r id voice stretch f0 txt wav; do if [ "$f0" = "-" ]; then timeout -k 1 "$1" "$0" -voice "$voice" --setf duration_stretch="$stretch" -f "$txt" -o "$wav" 2>"$wav.err"; ' +
    'else timeout -k 1 "$1" "$0" -voice "$voice" --setf duration_stretch="$stretch" --setf int_f0_target_mean="$f0" -f "$txt" -o "$wav" 2>"$wav.err"; fi; echo "$? $id"; done',
};

/**
 * One job slot's engine: a `sh` loop that starts the engine once per line Node writes to it
 * (`<id> <args...> <text file> <wav file>`) and answers `<status> <id>`. Files live in `tmp`.
 */
export class EngineRunner {
  private readonly sh;
  private readonly waiting = new Map<string, (status: number) => void>();
  private buffered = "";

  constructor(readonly engine: EngineInfo, private readonly tmp: string, readonly timeoutSec = 30) {
    this.sh = spawn("sh", ["-c", SCRIPTS[engine.name], engine.bin, String(timeoutSec)], { stdio: ["pipe", "pipe", "inherit"] });
    this.sh.stdout.setEncoding("utf8");
    this.sh.stdout.on("data", (chunk: string) => {
      this.buffered += chunk;
      let nl;
      while ((nl = this.buffered.indexOf("\n")) >= 0) {
        const [status, id] = this.buffered.slice(0, nl).split(" ");
        this.buffered = this.buffered.slice(nl + 1);
        this.waiting.get(id)?.(Number(status));
        this.waiting.delete(id);
      }
    });
    this.sh.stdin.on("error", () => undefined); // a dead shell is reported through "close"
    // If the shell dies, every item still waiting fails (status 127) instead of hanging.
    this.sh.on("close", () => {
      for (const done of this.waiting.values()) done(127);
      this.waiting.clear();
    });
  }

  /** Speaks one job: the engine's samples at its own rate, or a SynthFailure. */
  async speak(job: EngineJob, timing?: SpeakTiming): Promise<{ samples: Float32Array; sampleRate: number }> {
    const txt = join(this.tmp, `${job.id}.txt`), wav = join(this.tmp, `${job.id}.wav`);
    const fail = (reason: string) => new SynthFailure(job.id, this.engine.name, job.spoken, `${reason} (voice ${job.voice})`);
    writeFileSync(txt, job.spoken + "\n");
    const args = this.engine.name === "espeak-ng"
      ? `${job.voice} ${job.speed} ${job.pitch}`
      : `${job.voice} ${job.stretch} ${job.f0 === null || job.f0 === undefined ? "-" : job.f0}`;
    const t0 = performance.now();
    const status = await new Promise<number>((res) => {
      this.waiting.set(job.id, res);
      this.sh.stdin.write(`${job.id} ${args} ${txt} ${wav}\n`);
    });
    const t1 = performance.now();
    try {
      if (status === 124 || status === 137) throw fail(`timed out after ${this.timeoutSec} s and was killed`);
      if (status !== 0) {
        const err = existsSync(`${wav}.err`) ? readFileSync(`${wav}.err`, "utf8").trim().slice(0, 300) : "";
        throw fail(`crashed (exit status ${status})${err ? `: ${err}` : ""}`);
      }
      if (!existsSync(wav)) throw fail("empty output (no WAV written)");
      let w;
      try {
        w = readWav(readFileSync(wav), `${this.engine.name} output for ${job.id}`);
      } catch (e) {
        throw fail(`empty or broken output (${(e as Error).message})`);
      }
      const x = w.samples;
      let peak = 0;
      for (let i = 0; i < x.length; i++) peak = Math.max(peak, Math.abs(x[i]));
      // Under 0.1 s, or nothing above -60 dBFS: no speech in it.
      if (x.length < w.sampleRate * 0.1 || peak < 1e-3) throw fail(`empty output (${(x.length / w.sampleRate).toFixed(2)} s, peak ${peak.toFixed(4)})`);
      if (timing) {
        timing.engineMs += t1 - t0;
        timing.readMs += performance.now() - t1;
      }
      return { samples: x, sampleRate: w.sampleRate };
    } finally {
      for (const f of [txt, wav, `${wav}.err`]) rmSync(f, { force: true });
    }
  }

  close(): void {
    this.sh.stdin.end();
  }
}
