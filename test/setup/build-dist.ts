// Vitest global setup: compile src/ to dist/ once, before any test file runs.
// Several tests run the compiled code (`node dist/cli.js`, worker threads that load dist/). tsc rewrites
// its outputs in place, so compiling from inside a test file while another file's subprocess imports
// dist/ could let that process read a half-written module ("runTrain is not a function"). Building
// here, once and before the workers start, keeps dist/ fixed for the whole run and current with src/.
import { execFileSync } from "node:child_process";

export default function setup(): void {
  execFileSync(process.execPath, ["node_modules/typescript/bin/tsc", "-p", "tsconfig.json"], { stdio: "inherit" });
}
