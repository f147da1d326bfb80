// The CLI answers --help and selfcheck passes on this machine's chosen build and on plain SIMD.
import { execFileSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { runSelfcheck } from "../src/commands/selfcheck.js";
import { bothBuilds } from "./helpers.js";

describe("cli", () => {
  it("selfcheck passes on every build this runtime has", async () => {
    for (const e of await bothBuilds()) {
      const lines: string[] = [];
      expect(runSelfcheck(e, (l) => lines.push(l))).toBe(true);
      expect(lines[0]).toBe(`engine build: ${e.build}`);
      expect(lines.filter((l) => l.startsWith("OK")).length).toBeGreaterThanOrEqual(6);
    }
  });
  it("node dist/cli.js --help lists the commands", () => {
    const out = execFileSync("node", ["dist/cli.js", "--help"], { encoding: "utf8" });
    expect(out).toMatch(/Usage: todm/);
    expect(out).toMatch(/selfcheck/);
  });
});
