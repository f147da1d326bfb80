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

  it("draws interval bars at their points' x, spanning [lo, hi] on the y axis, and widens the y range to hold them", () => {
    const svg = linePlot([{ name: "wer", points: [[0, 5], [100, 6]], dots: true, bars: [[4, 7], [5, 10]] }], { title: "t", xLabel: "x", yLabel: "y", width: 700, height: 400 });
    // y range [4 - 0.3, 10 + 0.3] (5% of the span 6 on both sides): y = 350 - (v - 3.7) / 6.6 * 310, x from 70 to 680
    const Y = (v: number) => 350 - ((v - 3.7) / 6.6) * 310;
    const bars = [...svg.matchAll(/<path class="bar" d="M([\d.]+),([\d.]+)L([\d.]+),([\d.]+)/g)].map((m) => m.slice(1).map(Number));
    expect(bars.length).toBe(2);
    for (const [k, [x, lo, hi]] of ([[70, 4, 7], [680, 5, 10]] as const).entries()) {
      expect(bars[k][0]).toBeCloseTo(x, 0);
      expect(bars[k][2]).toBeCloseTo(x, 0);
      expect(bars[k][1]).toBeCloseTo(Y(lo), 0); // printed to 0.1 px
      expect(bars[k][3]).toBeCloseTo(Y(hi), 0);
    }
    const cy = [...svg.matchAll(/<circle cx="[\d.]+" cy="([\d.]+)"/g)].map((m) => Number(m[1]));
    expect(cy[0]).toBeCloseTo(Y(5), 0);
    expect(cy[1]).toBeCloseTo(Y(6), 0);
  });
});
