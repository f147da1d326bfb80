// safetensors: read a file written by an independent Python writer; round-trip ours; refuse bad files.
import { mkdtempSync, readFileSync, writeFileSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { decodeSafetensors, encodeSafetensors, readSafetensors, writeFileAtomic } from "../src/io/safetensors.js";

const fixture = new URL("./fixtures/pytorch.safetensors", import.meta.url).pathname;

describe("safetensors", () => {
  it("reads a file written by test/ref/safetensors_fixture.py", () => {
    const f = readSafetensors(fixture);
    expect(f.metadata["todm.format_version"]).toBe("1");
    const w = f.tensors.get("encoder.w")!;
    expect(w.shape).toEqual([3, 4]);
    expect(Array.from(w.data as Float32Array)).toEqual(Array.from({ length: 12 }, (_, i) => Math.fround(i / 7)));
    expect(Array.from(f.tensors.get("ids")!.data as Int32Array)).toEqual([1, -2, 3]);
    expect(Array.from(f.tensors.get("q")!.data as Int8Array)).toEqual([-128, 0, 127, 5, 9]);
  });

  it("round-trips any tensors and metadata", () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 5 }), fc.integer({ min: 1, max: 4 })), { minLength: 1, maxLength: 4 }),
        fc.dictionary(fc.string(), fc.string()),
        (dims, meta) => {
          const ts = dims.map(([a, b], i) => ({
            name: `t${i}`, dtype: (i % 2 ? "I8" : "F32") as "I8" | "F32", shape: [a, b],
            data: i % 2 ? Int8Array.from({ length: a * b }, (_, k) => (k * 37) % 256 - 128) : Float32Array.from({ length: a * b }, (_, k) => k * 0.25 - 1),
          }));
          const bytes = encodeSafetensors(ts, meta);
          const back = decodeSafetensors(bytes);
          expect(back.metadata).toEqual(meta);
          for (const t of ts) {
            expect(back.tensors.get(t.name)!.shape).toEqual(t.shape);
            expect(Array.from(back.tensors.get(t.name)!.data as Float32Array)).toEqual(Array.from(t.data));
          }
        },
      ),
      { numRuns: 100 },
    );
  });

  it("refuses truncated and foreign files with a message naming the file", () => {
    const good = readFileSync(fixture);
    for (const cut of [0, 5, 8, 40, good.length - 1]) {
      expect(() => decodeSafetensors(good.subarray(0, cut), "m.safetensors")).toThrow(/m\.safetensors: .*(truncated|not a safetensors)/);
    }
    const wav = new TextEncoder().encode("RIFF\x24\x00\x00\x00WAVEfmt some audio bytes");
    expect(() => decodeSafetensors(wav, "a.wav")).toThrow(/a\.wav: not a safetensors file/);
    expect(() => readSafetensors("/nonexistent/model.safetensors")).toThrow(/model\.safetensors: cannot read: ENOENT/);
  });

  it("writes atomically: the target is either the old or the new file, no temp left behind", () => {
    const dir = mkdtempSync(join(tmpdir(), "todm-st-"));
    const path = join(dir, "m.safetensors");
    writeFileSync(path, "old");
    writeFileAtomic(path, encodeSafetensors([{ name: "x", dtype: "F32", shape: [1], data: new Float32Array([2]) }]));
    expect(readSafetensors(path).tensors.get("x")!.data[0]).toBe(2);
    expect(readdirSync(dir)).toEqual(["m.safetensors"]);
  });
});
