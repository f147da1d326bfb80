// The parameter table: layout, subnet slicing and counts, checked against direct enumeration.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  DEFAULT_MODEL, countParams, layoutParams, paramTable, parseSubnetName, subnetName, subnetShape, validateConfig,
  type ModelConfig,
} from "../src/model/config.js";

describe("model config", () => {
  it("lays out every tensor once, 64-byte aligned, without overlap", () => {
    const { entries, total } = layoutParams(paramTable(DEFAULT_MODEL));
    let end = 0;
    for (const e of entries) {
      expect(e.offset % 16).toBe(0);
      expect(e.offset).toBeGreaterThanOrEqual(end);
      end = e.offset + e.numel;
    }
    expect(total).toBeGreaterThanOrEqual(end);
    expect(new Set(entries.map((e) => e.name)).size).toBe(entries.length);
  });

  it("counts a subnet's parameters as the sum of its sliced tensors (brute force over the table)", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 576 }), fc.constantFrom(2, 4), (layers, ffDim, heads) => {
        const s = { layers, ffDim, heads };
        let n = 0;
        for (const p of paramTable(DEFAULT_MODEL)) {
          if (p.trainable === false) continue;
          const blockKept = p.block === undefined || p.block < layers;
          if (!blockKept) continue;
          n += p.shape.reduce((acc, dim, i) => acc * (p.slice?.[i] === "ff" ? ffDim : p.slice?.[i] === "ssm" ? (DEFAULT_MODEL.dModel / 4) * heads : dim), 1);
        }
        expect(countParams(DEFAULT_MODEL, s)).toBe(n);
        expect(subnetShape(paramTable(DEFAULT_MODEL)[0], DEFAULT_MODEL, s)).toEqual([64, 1, 3, 3]);
      }),
    );
  });

  it("names subnets readably and parses the names back", () => {
    expect(subnetName({ layers: 12, ffDim: 1024, heads: 4 })).toBe("L12-ff1024-h4");
    expect(parseSubnetName("L3-ff256-h2")).toEqual({ layers: 3, ffDim: 256, heads: 2 });
    expect(() => parseSubnetName("big")).toThrow(/not a subnet name/);
  });

  it("rejects a bad config with a message naming the field", () => {
    const bad = (patch: Partial<ModelConfig>) => () => validateConfig({ ...DEFAULT_MODEL, ...patch }, "cfg.json");
    expect(bad({ heads: 3 })).toThrow(/cfg\.json: heads must be even/);
    expect(bad({ dModel: 146 })).toThrow(/dModel \(146\) must be divisible/);
    expect(bad({ stateSize: 15 })).toThrow(/stateSize must be even/);
    expect(bad({ layers: 2.5 })).toThrow(/layers must be a non-negative integer/);
    expect(() => validateConfig(DEFAULT_MODEL)).not.toThrow();
  });
});
