// The harness itself (harness.ts): checkOp passes within tolerance and fails outside it or on NaN, with
// the worst element and the largest difference in the message; readFixture checks the fixture's header.
import { describe, expect, it } from "vitest";
import { checkOp, readFixture } from "./harness.js";

describe("checkOp", () => {
  it("passes within atol + rtol*|ref| and fails just outside, naming the worst element", () => {
    const ref = [1, -2, 100, 0];
    expect(() => checkOp("within", [1 + 1e-6, -2, 100 + 1e-3, 1e-6], ref, 1e-6, 1e-5)).not.toThrow();
    expect(() => checkOp("outside", [1, -2, 100 + 2e-3, 0], ref, 1e-6, 1e-5)).toThrow(/outside: NOT OK at \[2\]: 100\.002 vs reference 100 .*largest \|difference\| 0\.001999.*first values: 1 vs 1, -2 vs -2/);
    expect(() => checkOp("nan", [1, NaN, 100, 0], ref, 1, 1)).toThrow(/nan: NOT OK at \[1\]: NaN vs reference -2/);
    expect(() => checkOp("inf", [1, -2, Infinity, 0], ref, 1, 1)).toThrow(/NOT OK at \[2\]/);
    expect(() => checkOp("length", [1], ref, 1)).toThrow(/length: length 1 != reference 4/);
  });
});

describe("readFixture", () => {
  it("reads a fixture with its header, and rejects the wrong generator naming the file", () => {
    const fx = readFixture<{ cases: unknown[] }>("elementwise.json", "test/ref/elementwise.py");
    expect([fx.magic, fx.version, fx.generator]).toEqual(["todm-fixture", 1, "test/ref/elementwise.py"]);
    expect(fx.cases.length).toBeGreaterThan(0);
    expect(() => readFixture("elementwise.json", "test/ref/rnnt.py")).toThrow(/fixtures\/elementwise\.json: not a version-1 todm fixture from test\/ref\/rnnt\.py/);
  });
});
