// A small SVG line plot with no dependencies: training loss and validation WER over steps, WER
// against model size. One or two y axes (left and right), linear or log x, optional point labels and
// interval bars.
// What it is not: a charting library. It draws lines, points, axes, ticks, a legend and a title.

export interface Series {
  name: string;
  points: [number, number][];
  axis?: "left" | "right";
  color?: string;
  dots?: boolean; // draw markers (and no line when `line` is false)
  line?: boolean;
  /** A small text beside each point (same order as `points`), e.g. a subnet's name. */
  labels?: string[];
  /** A vertical interval bar [lo, hi] at each point (same order as `points`), e.g. a 95% confidence interval. */
  bars?: [number, number][];
}

export interface PlotOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  yLabelRight?: string;
  logX?: boolean;
  /** Extra room on both ends of the x axis, as a fraction of the data's range (labelled dots at the edges). */
  padX?: number;
  width?: number;
  height?: number;
}

const PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"];

function esc(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

/** "Nice" tick values covering [lo, hi] (1, 2, 5 times a power of ten). */
export function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

function fmt(v: number): string {
  const a = Math.abs(v);
  if (a >= 1e6) return `${(v / 1e6).toPrecision(3)}M`;
  if (a >= 1e4) return `${(v / 1e3).toPrecision(3)}k`;
  return Number(v.toPrecision(4)).toString();
}

/** Renders the series as a standalone SVG document. */
export function linePlot(series: Series[], opts: PlotOptions): string {
  const W = opts.width ?? 720, H = opts.height ?? 420;
  const m = { l: 70, r: opts.yLabelRight ? 70 : 20, t: 40, b: 50 };
  const pw = W - m.l - m.r, ph = H - m.t - m.b;
  const tx = (x: number) => (opts.logX ? Math.log10(Math.max(x, 1e-12)) : x);
  const all = series.flatMap((s) => s.points).filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
  const xs = all.map(([x]) => tx(x));
  let x0 = Math.min(...xs, Infinity), x1 = Math.max(...xs, -Infinity);
  if (!Number.isFinite(x0)) { x0 = 0; x1 = 1; }
  if (x1 === x0) { x0 -= 0.5; x1 += 0.5; }
  if (opts.padX) {
    const d = (x1 - x0) * opts.padX;
    x0 -= d;
    x1 += d;
  }
  const range = (axis: "left" | "right") => {
    const ys = series.filter((s) => (s.axis ?? "left") === axis).flatMap((s) => [...s.points.map(([, y]) => y), ...(s.bars ?? []).flat()]).filter(Number.isFinite);
    let lo = Math.min(...ys, Infinity), hi = Math.max(...ys, -Infinity);
    if (!Number.isFinite(lo)) { lo = 0; hi = 1; }
    if (hi === lo) { lo -= 0.5; hi += 0.5; }
    const pad = (hi - lo) * 0.05;
    return [lo >= 0 ? Math.max(0, lo - pad) : lo - pad, hi + pad] as [number, number]; // never below 0 for non-negative data
  };
  const yl = range("left"), yr = range("right");
  const px = (x: number) => m.l + ((tx(x) - x0) / (x1 - x0)) * pw;
  const py = (y: number, axis: "left" | "right") => {
    const [lo, hi] = axis === "left" ? yl : yr;
    return m.t + ph - ((y - lo) / (hi - lo)) * ph;
  };
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="22" text-anchor="middle" font-size="15">${esc(opts.title)}</text>`,
    `<rect x="${m.l}" y="${m.t}" width="${pw}" height="${ph}" fill="none" stroke="#444"/>`,
  ];
  const xTicks = opts.logX
    ? niceTicks(x0, x1, 5).filter((v) => Number.isInteger(v)).map((v) => 10 ** v)
    : niceTicks(x0, x1, 6);
  for (const v of xTicks) {
    const X = px(v);
    if (X < m.l - 0.5 || X > m.l + pw + 0.5) continue;
    out.push(`<line x1="${X}" y1="${m.t}" x2="${X}" y2="${m.t + ph}" stroke="#eee"/>`);
    out.push(`<text x="${X}" y="${m.t + ph + 16}" text-anchor="middle">${fmt(v)}</text>`);
  }
  for (const [axis, [lo, hi]] of [["left", yl], ["right", yr]] as const) {
    if (axis === "right" && !opts.yLabelRight) continue;
    for (const v of niceTicks(lo, hi, 5)) {
      const Y = py(v, axis);
      if (Y < m.t - 0.5 || Y > m.t + ph + 0.5) continue;
      if (axis === "left") out.push(`<line x1="${m.l}" y1="${Y}" x2="${m.l + pw}" y2="${Y}" stroke="#eee"/>`);
      const X = axis === "left" ? m.l - 6 : m.l + pw + 6;
      out.push(`<text x="${X}" y="${Y + 4}" text-anchor="${axis === "left" ? "end" : "start"}">${fmt(v)}</text>`);
    }
  }
  out.push(`<text x="${m.l + pw / 2}" y="${H - 12}" text-anchor="middle">${esc(opts.xLabel)}</text>`);
  out.push(`<text transform="translate(16 ${m.t + ph / 2}) rotate(-90)" text-anchor="middle">${esc(opts.yLabel)}</text>`);
  if (opts.yLabelRight) {
    out.push(`<text transform="translate(${W - 14} ${m.t + ph / 2}) rotate(90)" text-anchor="middle">${esc(opts.yLabelRight)}</text>`);
  }
  series.forEach((s, i) => {
    const color = s.color ?? PALETTE[i % PALETTE.length];
    const axis = s.axis ?? "left";
    const pts = s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
    if (s.line !== false && pts.length > 1) {
      const d = pts.map(([x, y], k) => `${k ? "L" : "M"}${px(x).toFixed(1)},${py(y, axis).toFixed(1)}`).join("");
      out.push(`<path d="${d}" fill="none" stroke="${color}" stroke-width="1.5"/>`);
    }
    s.bars?.forEach(([lo, hi], k) => {
      const x = s.points[k]?.[0];
      if (x === undefined || !Number.isFinite(x) || !Number.isFinite(lo) || !Number.isFinite(hi)) return;
      const X = px(x).toFixed(1), y0 = py(lo, axis).toFixed(1), y1 = py(hi, axis).toFixed(1);
      out.push(`<path class="bar" d="M${X},${y0}L${X},${y1}M${(px(x) - 3).toFixed(1)},${y0}h6M${(px(x) - 3).toFixed(1)},${y1}h6" stroke="${color}" stroke-width="1"/>`);
    });
    if (s.dots || pts.length === 1) {
      for (const [x, y] of pts) out.push(`<circle cx="${px(x).toFixed(1)}" cy="${py(y, axis).toFixed(1)}" r="3" fill="${color}"/>`);
    }
    s.points.forEach(([x, y], k) => {
      const label = s.labels?.[k];
      if (label === undefined || !Number.isFinite(x) || !Number.isFinite(y)) return;
      out.push(`<text x="${(px(x) + 5).toFixed(1)}" y="${(py(y, axis) - 5).toFixed(1)}" font-size="9" fill="${color}">${esc(label)}</text>`);
    });
    const ly = m.t + 14 + i * 16;
    out.push(`<line x1="${m.l + 10}" y1="${ly - 4}" x2="${m.l + 28}" y2="${ly - 4}" stroke="${color}" stroke-width="2"/>`);
    out.push(`<text x="${m.l + 32}" y="${ly}">${esc(s.name)}${axis === "right" ? " (right axis)" : ""}</text>`);
  });
  out.push("</svg>");
  return out.join("\n") + "\n";
}
