// scripts/repro-issue18.sh, issue 18's whole reproduction: the commands it runs, in order, with a recording
// stand-in for the CLI (TODM=...), and every option it passes checked against the real CLI's --help, so that a
// renamed option breaks this test and not a session's experiment hours in. The experiment itself is
// test/repro.test.ts's.
import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

// The stand-in: appends its argv to calls.jsonl; `prepare manifest ... --out F.jsonl` writes F's three splits
// as the real one does, so that the script's "already split" check sees them.
const FAKE = `
import { appendFileSync, writeFileSync } from "node:fs";
const a = process.argv.slice(2);
appendFileSync(process.env.CALLS, JSON.stringify(a) + "\\n");
if (a[0] === "prepare") { const out = a[a.indexOf("--out") + 1].replace(/\\.jsonl$/, ""); for (const s of ["train", "valid", "test"]) writeFileSync(out + "." + s + ".jsonl", ""); }
`;

/** The long options a command's --help lists. */
const optionsOf = (cmd: string) => new Set([...execFileSync("node", ["dist/cli.js", cmd, "--help"], { encoding: "utf8" }).matchAll(/--[a-z][a-z0-9-]*/g)].map((m) => m[0]));

describe("scripts/repro-issue18.sh", () => {
  const dir = mkdtempSync(join(tmpdir(), "todm-repro18-"));
  const fake = join(dir, "fake.mjs"), calls = join(dir, "calls.jsonl"), kath = join(dir, "kathleen"), out = join(dir, "out"), cache = join(dir, "cache");
  writeFileSync(fake, FAKE);
  mkdirSync(kath);
  writeFileSync(join(kath, "manifest.jsonl"), "");
  const run = (args: string[], env: Record<string, string> = {}) =>
    spawnSync("bash", ["scripts/repro-issue18.sh", ...args], { encoding: "utf8", env: { ...process.env, TODM: fake, CALLS: calls, ...env } });
  const recorded = () => readFileSync(calls, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l) as string[]);
  const value = (a: string[], opt: string) => a[a.indexOf(opt) + 1];

  it("splits Kathleen once, then runs the synthetic main table, Kathleen from it, the ablations and levers, and both reports", () => {
    const r = run([kath, out, cache], { RESULTS: join(dir, "R.md") });
    expect(r.status, r.stderr).toBe(0);
    const c = recorded();
    expect(c.map((a) => a[0])).toEqual(["prepare", "repro", "repro", "repro", "repro", "repro"]);
    expect(c[0].slice(0, 3)).toEqual(["prepare", "manifest", join(kath, "manifest.jsonl")]);
    const [, main, k, rest, repSynth, repKath] = c;
    // 1: the synthetic Supernets and twins only; 3: the same experiment directory again, with the ablations and levers
    expect(main).toContain("--no-ablations");
    expect(value(main, "--out")).toBe(join(out, "synth"));
    expect(value(rest, "--out")).toBe(join(out, "synth"));
    expect(rest).toContain("--levers");
    expect(rest).not.toContain("--no-ablations");
    for (const a of [main, k, rest]) expect(a).toContain(`data.cacheDir=${cache}`);
    // 2: Kathleen fine-tuned from the synthetic runs, on the splits made in step 0, 600 updates
    expect(value(k, "--init-from-repro")).toBe(join(out, "synth"));
    expect(value(k, "--steps")).toBe("600");
    for (const s of ["train", "valid", "test"]) expect(value(k, `--${s}`)).toBe(join(out, "kathleen-data", `kathleen.${s}.jsonl`));
    // the reports: the experiments' own options, plus --results and --report-only
    expect(repSynth.filter((x) => x !== "--results" && x !== join(dir, "R.md") && x !== "--report-only")).toEqual(rest);
    expect(repKath.filter((x) => x !== "--results" && x !== join(dir, "R.md") && x !== "--report-only")).toEqual(k);
    // every option passed exists in the real CLI
    const repro = optionsOf("repro"), prepare = optionsOf("prepare");
    for (const a of c) for (const opt of a.filter((x) => x.startsWith("--"))) expect(a[0] === "prepare" ? prepare : repro, `${a[0]} ${opt}`).toContain(opt);
  });

  it("a second run splits nothing again; a missing corpus folder stops at once with its name", () => {
    writeFileSync(calls, "");
    expect(run([kath, out, cache]).status).toBe(0);
    expect(recorded().map((a) => a[0])).toEqual(["repro", "repro", "repro"]); // no RESULTS: no report calls
    const bad = run([join(dir, "nowhere"), out, cache]);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain(join(dir, "nowhere", "manifest.jsonl"));
  });
});
