// `npm test`: the vitest suite, then the as-pect specs, then one plain `N passed, N failed` line
// that CI can count. Exits non-zero when anything failed or when no test ran.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const out = join(mkdtempSync(join(tmpdir(), "todm-test-")), "vitest.json");
const vitest = spawnSync(
  "npx", ["vitest", "run", "--reporter=default", "--reporter=json", `--outputFile=${out}`, ...process.argv.slice(2)],
  { stdio: "inherit" },
);
let passed = 0, failed = 0, skipped = 0;
if (existsSync(out)) {
  const r = JSON.parse(readFileSync(out, "utf8"));
  passed += r.numPassedTests;
  failed += r.numFailedTests + (r.numRuntimeErrorTestSuites ?? 0);
  skipped += (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0); // e.g. the browser test without Chromium
} else {
  failed += 1;
}

const hasSpecs = existsSync("assembly/__tests__") && readdirSync("assembly/__tests__").some((f) => f.endsWith(".spec.ts"));
if (hasSpecs && process.argv.length <= 2) {
  const asp = spawnSync("npx", ["asp", "--config", "as-pect.config.cjs"], { encoding: "utf8" });
  process.stdout.write(asp.stdout ?? "");
  process.stderr.write(asp.stderr ?? "");
  // as-pect prints "[Tests]: <passed> / <total>" (with colour codes).
  const text = ((asp.stdout ?? "") + (asp.stderr ?? "")).replace(/\x1b\[[0-9;]*m/g, "");
  const m = /\[Tests\]:\s*(\d+)\s*\/\s*(\d+)/.exec(text);
  const aspPassed = m ? Number(m[1]) : 0;
  const aspFailed = m ? Number(m[2]) - aspPassed : 1;
  passed += aspPassed;
  failed += aspFailed;
  if (asp.status !== 0 && aspFailed === 0) failed += 1;
}
if (vitest.status !== 0 && failed === 0) failed += 1;
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ""}`);
process.exit(failed > 0 || passed === 0 ? 1 : 0);
