// The op tests' harness: one comparison, `checkOp`, whatever the reference (the kernel's scalar `_naive`
// twin, float64 central finite differences of a float64 forward, or a PyTorch fixture), and one fixture
// reader, `readFixture`, which checks the fixture's magic number, version and generator script. In the
// manner of llm.c's `check_tensor` (test_gpt2.c): the first values, OK or NOT OK, the largest difference.
// Not here: the engine and seeded data (helpers.ts), kernel wrappers used only by tests (kernels.ts).
//
//   checkOp("softmax forward vs naive", got, ref, 2e-7, 2e-6);   // throws NOT OK ... unless within tolerance
//   const fx = readFixture<Conv>("conv.json", "test/ref/conv.py");
//   TODM_CHECK_LOG=1 npx vitest run test/softmax.test.ts         # also print every OK check

import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const FIRST = 5;

/**
 * Throws NOT OK, with the first values, the worst element and the largest difference, unless every
 * |got - ref| <= atol + rtol*|ref| (NaN or an infinite difference never passes). With TODM_CHECK_LOG set,
 * an OK check prints the same line.
 */
export function checkOp(name: string, got: ArrayLike<number>, ref: ArrayLike<number>, atol: number, rtol = 0): void {
  if (got.length !== ref.length) throw new Error(`${name}: length ${got.length} != reference ${ref.length}`);
  let worst = -1, worstExcess = 0, maxAbs = 0;
  for (let i = 0; i < got.length; i++) {
    const err = Math.abs(got[i] - ref[i]);
    const tol = atol + rtol * Math.abs(ref[i]);
    const excess = Number.isNaN(err) || !Number.isFinite(err) ? Infinity : err - tol;
    maxAbs = Number.isNaN(err) ? Infinity : Math.max(maxAbs, err);
    if (excess > worstExcess || (worst < 0 && excess > 0)) {
      worst = i;
      worstExcess = excess;
    }
  }
  const first = Array.from({ length: Math.min(FIRST, got.length) }, (_, i) => `${got[i]} vs ${ref[i]}`).join(", ");
  if (worst >= 0) {
    throw new Error(
      `${name}: NOT OK at [${worst}]: ${got[worst]} vs reference ${ref[worst]} ` +
        `(atol ${atol}, rtol ${rtol}; largest |difference| ${maxAbs}); first values: ${first}`,
    );
  }
  if (process.env.TODM_CHECK_LOG) console.log(`${name}: OK (${got.length} values, largest |difference| ${maxAbs.toExponential(2)}, atol ${atol}, rtol ${rtol}); first values: ${first}`);
}

/** The header every fixture of test/fixtures/*.json carries. */
export interface FixtureHeader {
  magic: string;
  version: number;
  generator: string;
}

/**
 * test/fixtures/<file>, a JSON fixture written by `generator` (a script in test/ref/); throws naming the
 * file unless it carries magic "todm-fixture", version 1 and that generator.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function readFixture<T = any>(file: string, generator: string): T & FixtureHeader {
  const path = fileURLToPath(new URL(`./fixtures/${file}`, import.meta.url));
  const doc = JSON.parse(readFileSync(path, "utf8"));
  if (doc.magic !== "todm-fixture" || doc.version !== 1 || doc.generator !== generator) {
    throw new Error(`${path}: not a version-1 todm fixture from ${generator} (magic ${doc.magic}, version ${doc.version}, generator ${doc.generator})`);
  }
  return doc;
}
