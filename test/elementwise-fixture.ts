// The cases of test/fixtures/elementwise.json (written by test/ref/elementwise.py), read by harness.ts.
import { readFixture } from "./harness.js";

export interface FixtureCase {
  op: string;
  n?: number;
  R?: number;
  C?: number;
  eps?: number;
  [field: string]: unknown;
}

let cached: FixtureCase[] | undefined;

/** The fixture's cases; a field `f` of a case is read as f32 with `f32(c, "f")`. */
export function elementwiseCases(op?: string): FixtureCase[] {
  if (!cached) {
    cached = readFixture<{ cases: FixtureCase[] }>("elementwise.json", "test/ref/elementwise.py").cases;
  }
  const out = op ? cached.filter((c) => c.op === op) : cached;
  if (out.length === 0) throw new Error(`fixture has no case for ${op}`);
  return out;
}

/** A numeric field of a case as the exact f32 values torch produced. */
export function f32(c: FixtureCase, field: string): Float32Array {
  const v = c[field];
  if (!Array.isArray(v)) throw new Error(`fixture case ${c.op} has no field ${field}`);
  return Float32Array.from(v as number[]);
}
