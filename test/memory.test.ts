// The arena, through the real exports: alignment, marks, growth, zeroing, and copies that survive growth.
import { describe, expect, it } from "vitest";
import { engine } from "./helpers.js";

describe("arena", () => {
  it("aligns to 64 bytes and frees back to a mark", async () => {
    const e = await engine();
    const m = e.mark();
    const a = e.alloc(1), b = e.alloc(17), c = e.alloc(1);
    expect([a % 64, b % 64, c % 64]).toEqual([0, 0, 0]);
    expect(b - a).toBe(64);
    expect(c - b).toBe(128); // 68 bytes round up to 128
    e.reset(m);
    expect(e.alloc(5)).toBe(a);
    e.reset(m);
  });
  it("grows memory; read() returns copies that survive growth; zeroing is one call", async () => {
    const e = await engine();
    e.scoped(() => {
      const p = e.upload([1, 2, 3, 4]);
      const copy = e.read(p, 4);
      e.alloc(64 << 20, "big"); // forces growth: the old ArrayBuffer is detached
      expect(Array.from(copy)).toEqual([1, 2, 3, 4]);
      expect(Array.from(e.read(p, 4))).toEqual([1, 2, 3, 4]);
      e.wasm.mem_zero_f32(p, 3);
      expect(Array.from(e.read(p, 4))).toEqual([0, 0, 0, 4]);
    });
  });
  it("refuses an allocation beyond 2 GiB with a message naming the knob", async () => {
    const e = await engine();
    e.scoped(() => {
      expect(() => e.alloc(600 << 20, "activations")).toThrow(/batch size/);
    });
  });
});
