// The SVG plot: ticks are nice and cover the range; points land where the axes say.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { linePlot, niceTicks } from "../src/util/plot.js";

describe("plot", () => {
  it("niceTicks are 1/2/5 steps inside [lo, hi], evenly spaced", () => {
    fc.assert(
      fc.property(fc.double({ min: -1e6, max: 1e6, noNaN: true }), fc.double({ min: 1e-3, max: 1e6, noNaN: true }), (lo, span) => {
        const t = niceTicks(lo, lo + span, 5);
        expect(t.length).toBeGreaterThanOrEqual(2);
        const step = t[1] - t[0];
        const mant = step / 10 ** Math.floor(Math.log10(step));
        expect([1, 2, 5, 10].some((m) => Math.abs(mant - m) < 1e-6)).toBe(true);
        for (const v of t) {
          expect(v).toBeGreaterThanOrEqual(lo - step * 1e-6);
          expect(v).toBeLessThanOrEqual(lo + span + step * 1e-6);
        }
      }),
    );
  });

  it("places the extreme points at the plot's corners (5% padding in y)", () => {
    const svg = linePlot([{ name: "loss", points: [[0, 0], [100, 10]], dots: true }], { title: "t", xLabel: "step", yLabel: "loss", width: 700, height: 400 });
    // plot area: x from 70 to 680, y from 40 to 350; y range [0 (clamped at 0), 10.5]
    const circles = [...svg.matchAll(/<circle cx="([\d.]+)" cy="([\d.]+)"/g)].map((m) => [Number(m[1]), Number(m[2])]);
    expect(circles[0][0]).toBeCloseTo(70, 0);
    expect(circles[1][0]).toBeCloseTo(680, 0);
    expect(circles[0][1]).toBeCloseTo(350, 0);
    expect(circles[1][1]).toBeCloseTo(350 - (10 / 10.5) * 310, 0);
    expect(svg.startsWith("<svg")).toBe(true);
  });
});
