// The MH-SSM layer (assembly/ssm/ssm.ts, ssm_backward.ts, ssm_gate.ts, src/engine/ssm.ts) against independent
// references: the SSM's convolution view and a float64 recurrence written here, float64 central finite
// differences, the scalar twins, a PyTorch module (test/fixtures/mhssm.json), and itself run in chunks.
import { existsSync } from "node:fs";
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { bothBuilds, engine, finiteDiff, randn, rng } from "./helpers.js";
import { checkOp, readFixture } from "./harness.js";
import { mhssmBackwardRaw, mhssmForwardRaw, mhssmInit, mhssmParamCount, mhssmShapes, mhssmStateSize, type MhssmConfig, type MhssmParams, type MhssmPtrs } from "../src/index.js";
import type { Engine } from "../src/index.js";
import { mhssmBackward, mhssmForward, mhssmStream } from "./kernels.js";

// ---------- float64 references ----------

interface Disc { dAr: Float64Array; dAi: Float64Array; dBr: Float64Array; dBi: Float64Array } // [C, N2]

/** ZOH in float64 from the stored parameters (the forward equations of assembly/ssm/ssm.ts). */
function discretize64(s: ArrayLike<number>, lo: ArrayLike<number>, hi: ArrayLike<number>, aRe: ArrayLike<number>,
                      aIm: ArrayLike<number>, C: number, N2: number): Disc {
  const r: Disc = { dAr: new Float64Array(C * N2), dAi: new Float64Array(C * N2), dBr: new Float64Array(C * N2), dBi: new Float64Array(C * N2) };
  for (let c = 0; c < C; c++) {
    const dt = Math.exp(lo[c] + (hi[c] - lo[c]) / (1 + Math.exp(-s[c])));
    for (let n = 0; n < N2; n++) {
      const ar = aRe[n], ai = aIm[n], m = Math.exp(ar * dt);
      const er = m * Math.cos(ai * dt), ei = m * Math.sin(ai * dt);
      const den = ar * ar + ai * ai; // (dA - 1)/A
      r.dAr[c * N2 + n] = er;
      r.dAi[c * N2 + n] = ei;
      r.dBr[c * N2 + n] = ((er - 1) * ar + ei * ai) / den;
      r.dBi[c * N2 + n] = (ei * ar - (er - 1) * ai) / den;
    }
  }
  return r;
}

interface Dir64 { s: ArrayLike<number>; cRe: ArrayLike<number>; cIm: ArrayLike<number>; d: ArrayLike<number> }
interface Layer64 { C: number; N2: number; P: number; aRe: ArrayLike<number>; aIm: ArrayLike<number>; lo: ArrayLike<number>; hi: ArrayLike<number>; dirs: Dir64[] }

/** One direction by the recurrence x = dA·x + dB·u, y += 2·Re(C·x) + D·u, in float64 (not the h = x/dB form). */
function recurrence64(y: Float64Array, L: Layer64, p: Dir64, u: ArrayLike<number>, B: number, T: number, lens: number[] | undefined, reverse: boolean): void {
  const { C, N2 } = L;
  const z = discretize64(p.s, L.lo, L.hi, L.aRe, L.aIm, C, N2);
  for (let b = 0; b < B; b++) {
    const Tb = lens ? lens[b] : T;
    for (let c = 0; c < C; c++) {
      const xr = new Float64Array(N2), xi = new Float64Array(N2);
      for (let k = 0; k < Tb; k++) {
        const t = reverse ? Tb - 1 - k : k, i = (b * T + t) * C + c, ut = u[i];
        let acc = p.d[c] * ut;
        for (let n = 0; n < N2; n++) {
          const j = c * N2 + n;
          const nr = z.dAr[j] * xr[n] - z.dAi[j] * xi[n] + z.dBr[j] * ut;
          xi[n] = z.dAr[j] * xi[n] + z.dAi[j] * xr[n] + z.dBi[j] * ut;
          xr[n] = nr;
          acc += 2 * (p.cRe[j] * xr[n] - p.cIm[j] * xi[n]);
        }
        y[i] += acc;
      }
    }
  }
}

/** One direction by its convolution view: K_l = 2·Re(Σ_n C_n·dB_n·dA_n^l), y = K * u + D·u. */
function convolution64(y: Float64Array, L: Layer64, p: Dir64, u: ArrayLike<number>, B: number, T: number, lens: number[] | undefined, reverse: boolean): void {
  const { C, N2 } = L;
  const z = discretize64(p.s, L.lo, L.hi, L.aRe, L.aIm, C, N2);
  for (let c = 0; c < C; c++) {
    const K = new Float64Array(T);
    for (let n = 0; n < N2; n++) {
      const j = c * N2 + n;
      let pr = p.cRe[j] * z.dBr[j] - p.cIm[j] * z.dBi[j], pi = p.cRe[j] * z.dBi[j] + p.cIm[j] * z.dBr[j];
      for (let l = 0; l < T; l++) {
        K[l] += 2 * pr;
        [pr, pi] = [pr * z.dAr[j] - pi * z.dAi[j], pr * z.dAi[j] + pi * z.dAr[j]]; // · dA
      }
    }
    for (let b = 0; b < B; b++) {
      const Tb = lens ? lens[b] : T;
      for (let t = 0; t < Tb; t++) {
        let acc = p.d[c] * u[(b * T + t) * C + c];
        for (let l = 0; reverse ? t + l < Tb : l <= t; l++) acc += K[l] * u[(b * T + (reverse ? t + l : t - l)) * C + c];
        y[(b * T + t) * C + c] += acc;
      }
    }
  }
}

function gate64(y: ArrayLike<number>, rows: number, C: number, P: number): Float64Array {
  const out = new Float64Array(rows * C), sig = (x: number) => 1 / (1 + Math.exp(-x));
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < C; c++) {
      const h = Math.floor(c / P), partner = h ^ 1;
      out[r * C + c] = y[r * C + c] * sig(y[r * C + partner * P + (c % P)]);
    }
  }
  return out;
}

/** The whole layer in float64: out = gate(Σ_dir SSM_dir(u)). */
function layer64(L: Layer64, u: ArrayLike<number>, B: number, T: number, lens?: number[]): { y: Float64Array; out: Float64Array } {
  const y = new Float64Array(B * T * L.C);
  L.dirs.forEach((p, i) => recurrence64(y, L, p, u, B, T, lens, i === 1));
  return { y, out: gate64(y, B * T, L.C, L.P) };
}

function toLayer64(cfg: MhssmConfig, params: MhssmParams): Layer64 {
  const dirs = cfg.bidirectional ? ["fwd", "bwd"] : ["fwd"];
  return {
    C: cfg.heads * cfg.headDim, N2: cfg.stateSize / 2, P: cfg.headDim, aRe: params.a_re, aIm: params.a_im,
    lo: params.log_dt_min, hi: params.log_dt_max,
    dirs: dirs.map((d) => ({ s: params[`${d}.s`], cRe: params[`${d}.c_re`], cIm: params[`${d}.c_im`], d: params[`${d}.d`] })),
  };
}

/** Random parameters around the init: s spread, C and D scaled so that |y| stays O(1). */
function randomParams(cfg: MhssmConfig, seed: number): MhssmParams {
  const p = mhssmInit(cfg, seed), r = rng(seed + 17);
  for (const { name, trainable } of mhssmShapes(cfg)) {
    if (!trainable) continue;
    const v = p[name];
    for (let i = 0; i < v.length; i++) v[i] = name.endsWith(".s") ? v[i] + (r() - 0.5) : name.endsWith(".d") ? r() - 0.5 : v[i] * 0.5;
  }
  return p;
}

const maxAbs = (a: ArrayLike<number>) => Array.from(a).reduce((m, x) => Math.max(m, Math.abs(x)), 0);

// ---------- kernels directly: the scan against the convolution view ----------

describe("ssm scan forward", () => {
  it("equals the convolution view (float64), causal and reversed, awkward sizes, lengths, strided rows", async () => {
    const engines = await bothBuilds();
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: 13 }),
        fc.integer({ min: 1, max: 8 }), fc.integer({ min: 0, max: 3 }), fc.boolean(), fc.integer(),
        (B, T, C, N2, pad, naive, seed) => {
          const r = rng(seed);
          const cfg: MhssmConfig = { heads: 2, headDim: C, stateSize: 2 * N2, bidirectional: true };
          const params = randomParams(cfg, seed);
          const L = toLayer64(cfg, params);
          L.C = C; // the kernel's channel count (heads do not matter to the scan)
          const lens = Array.from({ length: B }, (_, b) => (b === 0 ? T : Math.floor(r() * (T + 1)))); // 0 included
          const ld = C + pad;
          const u = randn(B * T * C, r), uPadded = new Float32Array(B * T * ld);
          for (let i = 0; i < B * T; i++) uPadded.set(u.subarray(i * C, (i + 1) * C), i * ld);
          const ref = new Float64Array(B * T * C);
          convolution64(ref, L, L.dirs[0], u, B, T, lens, false);
          convolution64(ref, L, L.dirs[1], u, B, T, lens, true);
          for (const e of engines) {
            const got = e.scoped(() => {
              const up = e.upload(uPadded), lp = e.upload(lens, "i32");
              const y = e.upload(new Float32Array(B * T * ld).fill(NaN)); // overwritten where the scan writes
              const k = [params.a_re, params.a_im, params.log_dt_min.subarray(0, C), params.log_dt_max.subarray(0, C)].map((a) => e.upload(a));
              ["fwd", "bwd"].forEach((dir, i) => {
                const da = [0, 1, 2, 3].map(() => e.alloc(N2 * C));
                e.wasm.ssm_discretize_forward(da[0], da[1], da[2], da[3], e.upload(params[`${dir}.s`]),
                  e.upload(params[`${dir}.c_re`]), e.upload(params[`${dir}.c_im`]), k[0], k[1], k[2], k[3], C, N2);
                const scan = naive ? e.wasm.ssm_scan_forward_naive : e.wasm.ssm_scan_forward;
                scan(y, up, da[0], da[1], da[2], da[3], e.upload(params[`${dir}.d`]), lp, e.alloc(e.wasm.ssm_scan_forward_scratch(T)), B, T, C, N2, ld, ld, i, i);
              });
              const all = e.read(y, B * T * ld), out = new Float32Array(B * T * C);
              for (let i = 0; i < B * T; i++) out.set(all.subarray(i * ld, i * ld + C), i * C);
              return out;
            });
            // f32 recurrence over <= 40 steps, N2 <= 8 modes with |dA| < 1, params and u O(1): rounding
            // error measured at most 2.1e-7 of (1 + output scale) over 300 runs; 2e-6 leaves 10x margin.
            checkOp(`scan ${e.build} naive=${naive} B${B} T${T} C${C} N2${N2}`, got, ref, 2e-6 * (1 + maxAbs(ref)));
          }
        },
      ),
      { numRuns: 60 },
    );
  });

  it("stays accurate over long sequences (T = 2000, slow and fast heads, bidirectional)", async () => {
    const e = await engine();
    const cfg: MhssmConfig = { heads: 4, headDim: 5, stateSize: 16, bidirectional: true };
    const B = 1, T = 2000, C = 20;
    const params = randomParams(cfg, 21), u = randn(B * T * C, rng(4));
    const got = mhssmForward(e, cfg, params, u, B, T).y;
    const ref = layer64(toLayer64(cfg, params), u, B, T).y;
    // The slowest head (dt ~ 1e-3, |dA| ~ 0.9995) keeps ~2000 frames of memory: the f32 state sums that
    // many rounded terms. Measured worst 1.0e-6 of the output scale; 1e-5 leaves 10x margin.
    checkOp("long T", got, ref, 1e-5 * maxAbs(ref));
  });

  it("SIMD and naive twins agree (C = 4k+1..3 tails)", async () => {
    const e = await engine();
    for (const C of [1, 3, 4, 5, 7, 13]) {
      const B = 2, T = 9, N2 = 3;
      const r = rng(C);
      e.scoped(() => {
        const u = e.upload(randn(B * T * C, r));
        const da = [0.9, 0.3, 0.5, -0.4].map((v) => e.upload(randn(N2 * C, r, 0.5).map((x) => x * 0.5 + v * 0.5)));
        const d = e.upload(randn(C, r)), y1 = e.alloc(B * T * C), y2 = e.alloc(B * T * C);
        e.wasm.ssm_scan_forward(y1, u, da[0], da[1], da[2], da[3], d, 0, e.alloc(e.wasm.ssm_scan_forward_scratch(T)), B, T, C, N2, C, C, 1, 0);
        e.wasm.ssm_scan_forward_naive(y2, u, da[0], da[1], da[2], da[3], d, 0, 0, B, T, C, N2, C, C, 1, 0);
        // Same operations, other association (SIMD groups u - ai·hi first) and possibly FMA: 1e-5.
        checkOp(`simd vs naive C${C}`, e.read(y1, B * T * C), e.read(y2, B * T * C), 1e-5, 1e-5);
      });
    }
  });
});


// ---------- gating ----------

describe("ssm gate", () => {
  it("forward equals the float64 gate; backward equals central finite differences (both twins, strided rows)", async () => {
    const e = await engine();
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 9 }),
        fc.integer({ min: 0, max: 2 }), fc.boolean(), fc.constantFrom(1, 6, 40), fc.integer(),
        (rows, pairs, P, pad, naive, scale, seed) => {
          const r = rng(seed), C = 2 * pairs * P, ld = C + pad;
          const y = randn(rows * ld, r, scale); // |y| up to 40: the sigmoid's saturated tails too
          const dout = randn(rows * C, r);
          const yc = new Float64Array(rows * C);
          for (let i = 0; i < rows; i++) for (let c = 0; c < C; c++) yc[i * C + c] = y[i * ld + c];
          const dyInit = randn(rows * C, r); // the backward must accumulate onto this
          const [out, dy] = e.scoped(() => {
            const yp = e.upload(y), op = e.alloc(rows * ld), dp = e.upload(dyInit);
            (naive ? e.wasm.ssm_gate_forward_naive : e.wasm.ssm_gate_forward)(op, yp, rows, C, P, ld, ld);
            (naive ? e.wasm.ssm_gate_backward_naive : e.wasm.ssm_gate_backward)(dp, e.upload(dout), yp, rows, C, P, C, C, ld);
            const o = e.read(op, rows * ld), compact = new Float32Array(rows * C);
            for (let i = 0; i < rows; i++) compact.set(o.subarray(i * ld, i * ld + C), i * C);
            return [compact, e.read(dp, rows * C)];
          });
          // a·σ(b) in f32 with a polynomial exp (SIMD) or Mathf.exp: a few ulp of the result: 1e-6 rel.
          checkOp("gate forward", out, gate64(yc, rows, C, P), 1e-7, 1e-6);
          const loss = (x: Float64Array) => gate64(x, rows, C, P).reduce((acc, v, i) => acc + v * dout[i], 0);
          const fd = finiteDiff(loss, yc, Array.from(yc.keys()), 1e-6);
          const want = fd.map((g, i) => g + dyInit[i]);
          // f32 products of terms up to |y| = 40 vs float64 FD (h = 1e-6): measured worst 2.2e-6·(1 + |ref|)
          // over 400 runs (7.5e-8 at |y| <= 1); 1e-5 abs + 1e-5 rel leaves 4x margin.
          checkOp("gate backward", dy, want, 1e-5, 1e-5);
        },
      ),
      { numRuns: 100 },
    );
  });
});

// ---------- the whole layer: backward against finite differences ----------

function trainedNames(cfg: MhssmConfig): string[] {
  return mhssmShapes(cfg).filter((s) => s.trainable).map((s) => s.name);
}

describe("mhssm layer backward", () => {
  it("matches float64 central finite differences for every parameter and input (fast-check shapes)", async () => {
    const e = await engine();
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 2 }), fc.integer({ min: 1, max: 12 }), fc.constantFrom(2, 4),
        fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 4 }), fc.boolean(), fc.integer(),
        (B, T, H, P, N2, bidirectional, seed) => {
          const cfg: MhssmConfig = { heads: H, headDim: P, stateSize: 2 * N2, bidirectional };
          const C = H * P, r = rng(seed);
          const params = randomParams(cfg, seed);
          const lens = Array.from({ length: B }, (_, b) => (b === 0 ? T : 1 + Math.floor(r() * T)));
          const u = randn(B * T * C, r), dout = randn(B * T * C, r);
          const got = mhssmBackward(e, cfg, params, u, dout, B, T, { lens });
          // float64 loss Σ dout·out over a flat vector [trainable params..., u]
          const names = trainedNames(cfg);
          const sizes = names.map((n) => params[n].length);
          const flat = new Float64Array(sizes.reduce((a, b) => a + b, 0) + u.length);
          let off = 0;
          for (const n of names) { flat.set(params[n], off); off += params[n].length; }
          flat.set(u, off);
          const loss = (x: Float64Array) => {
            const p: Record<string, Float64Array | Float32Array> = { ...params };
            let o = 0;
            names.forEach((n, i) => { p[n] = x.subarray(o, o + sizes[i]); o += sizes[i]; });
            const out = layer64(toLayer64(cfg, p as MhssmParams), x.subarray(o), B, T, lens).out;
            let acc = 0;
            for (let i = 0; i < out.length; i++) acc += out[i] * dout[i];
            return acc;
          };
          const fd = finiteDiff(loss, flat, Array.from(flat.keys()), 1e-6);
          const mine = new Float64Array(flat.length);
          off = 0;
          for (const n of names) { mine.set(got.grads[n], off); off += sizes[names.indexOf(n)]; }
          mine.set(got.du, off);
          // f32 kernels (recurrence over <= 12 steps, f32 dA/W) against float64 FD (h = 1e-6: truncation
          // ~1e-12, cancellation ~1e-10). Errors scale with the largest gradient: measured at most 4.1e-7
          // of it over 200 runs; 5e-6 of it leaves 12x margin.
          const scale = maxAbs(fd);
          off = 0;
          for (const [i, n] of [...names, "u"].entries()) {
            const len = i < names.length ? sizes[i] : u.length;
            checkOp(`d${n} (B${B} T${T} H${H} P${P} N2${N2} bi=${bidirectional})`,
              mine.subarray(off, off + len), fd.subarray(off, off + len), 5e-6 * scale);
            off += len;
          }
        },
      ),
      { numRuns: 80 },
    );
  });

  it("SIMD and naive backward twins agree, and accumulate onto existing gradients", async () => {
    const e = await engine();
    for (const [C, reverse] of [[1, 0], [5, 1], [7, 0], [13, 1], [8, 1]]) {
      const B = 2, T = 11, N2 = 3;
      const res = [true, false].map((simd) => e.scoped(() => {
        const r2 = rng(99 + C);
        const u = e.upload(randn(B * T * C, r2)), dy = e.upload(randn(B * T * C, r2));
        const da = [0.9, 0.3, 0.5, -0.4].map((v) => e.upload(randn(N2 * C, r2, 0.25).map((x) => x + v * 0.5)));
        const d = e.upload(randn(C, r2));
        const init = randn(B * T * C + C + 4 * N2 * C, r2);
        const du = e.upload(init.subarray(0, B * T * C)), dd = e.upload(init.subarray(B * T * C, B * T * C + C));
        const g = [0, 1, 2, 3].map((j) => e.upload(init.subarray(B * T * C + C + j * N2 * C, B * T * C + C + (j + 1) * N2 * C)));
        const scratch = e.alloc(e.wasm.ssm_scan_backward_scratch(T));
        (simd ? e.wasm.ssm_scan_backward : e.wasm.ssm_scan_backward_naive)(du, dd, g[0], g[1], g[2], g[3], dy, u,
          da[0], da[1], da[2], da[3], d, 0, scratch, B, T, C, N2, C, C, C, reverse);
        return [e.read(du, B * T * C), e.read(dd, C), ...g.map((p) => e.read(p, N2 * C))];
      }));
      // Same sums in another association (and FMA in the relaxed build); values O(1..10): 1e-5 abs + rel.
      res[0].forEach((v, i) => checkOp(`backward twin ${i} C${C}`, v, res[1][i], 1e-5, 1e-5));
    }
  });
});

// ---------- streaming, slicing ----------

describe("mhssm streaming and subnets", () => {
  it("chunk-by-chunk streaming with a carried state equals the full-sequence causal forward", async () => {
    const e = await engine();
    // N/2 = 4 (mode pairs) with C = 20 (SIMD only); N/2 = 3 (a pair and a single) with C = 6 (a tail).
    for (const [cfg, chunks] of [
      [{ heads: 4, headDim: 5, stateSize: 8, bidirectional: false }, [1, 5, 13, 18]],
      [{ heads: 4, headDim: 5, stateSize: 8, bidirectional: false }, [37]],
      [{ heads: 2, headDim: 3, stateSize: 6, bidirectional: false }, [7, 7, 7, 7, 7, 2]],
      [{ heads: 2, headDim: 3, stateSize: 6, bidirectional: false }, [2, 1, 30, 4]],
    ] as [MhssmConfig, number[]][]) {
      const B = 2, T = 37, C = cfg.heads * cfg.headDim, r = rng(5);
      const params = randomParams(cfg, 3);
      const u = randn(B * T * C, r);
      const full = mhssmForward(e, cfg, params, u, B, T).out;
      const state = new Float32Array(mhssmStateSize(cfg, B));
      const got = new Float32Array(B * T * C);
      let t0 = 0;
      for (const n of chunks) {
        const part = new Float32Array(B * n * C);
        for (let b = 0; b < B; b++) part.set(u.subarray((b * T + t0) * C, (b * T + t0 + n) * C), b * n * C);
        const out = mhssmStream(e, cfg, params, state, part, B, n);
        for (let b = 0; b < B; b++) got.set(out.subarray(b * n * C, (b + 1) * n * C), (b * T + t0) * C);
        t0 += n;
      }
      // The brief's requirement: 1e-4 (the same f32 operations in the same order: expect ~0).
      checkOp(`stream chunks ${chunks}`, got, full, 1e-4);
    }
  });

  it("streams a subnet (the first 2 heads of 4) like its full-sequence forward", async () => {
    const e = await engine();
    const cfg: MhssmConfig = { heads: 4, headDim: 5, stateSize: 6, bidirectional: false };
    const B = 3, T = 11, C = 10, r = rng(77);
    const params = randomParams(cfg, 12), u = randn(B * T * C, r);
    const full = mhssmForward(e, cfg, params, u, B, T, { heads: 2 }).out;
    const state = new Float32Array(mhssmStateSize(cfg, B, 2)), got = new Float32Array(B * T * C);
    for (const [t0, n] of [[0, 4], [4, 7]]) {
      const part = new Float32Array(B * n * C);
      for (let b = 0; b < B; b++) part.set(u.subarray((b * T + t0) * C, (b * T + t0 + n) * C), b * n * C);
      const out = mhssmStream(e, cfg, params, state, part, B, n, { heads: 2 });
      for (let b = 0; b < B; b++) got.set(out.subarray(b * n * C, (b + 1) * n * C), (b * T + t0) * C);
    }
    checkOp("stream subnet", got, full, 1e-4); // the brief's 1e-4 (same operations: expect ~0)
  });

  it("the first k heads of a bigger layer (strided rows) equal a standalone k-head layer", async () => {
    const e = await engine();
    const big: MhssmConfig = { heads: 6, headDim: 5, stateSize: 6, bidirectional: true };
    const small: MhssmConfig = { ...big, heads: 4 };
    const B = 2, T = 9, Cb = 30, Cs = 20, r = rng(11);
    const pb = randomParams(big, 8), ps: MhssmParams = {};
    for (const { name, shape } of mhssmShapes(small)) {
      const n = shape.reduce((a, b) => a * b, 1);
      ps[name] = pb[name].slice(0, n); // every tensor is channel-major: the slice is a prefix
    }
    const uBig = randn(B * T * Cb, r), uSmall = new Float32Array(B * T * Cs);
    for (let i = 0; i < B * T; i++) uSmall.set(uBig.subarray(i * Cb, i * Cb + Cs), i * Cs);
    const dout = randn(B * T * Cs, r), lens = [T, 6];
    const fb = mhssmForward(e, big, pb, uBig, B, T, { heads: 4, ld: Cb, lens });
    const fs = mhssmForward(e, small, ps, uSmall, B, T, { lens });
    // Identical per-channel arithmetic except that channels 16..19 are a SIMD quad in one run and
    // a quad or tail in the other (other association): 1e-6.
    checkOp("slice out", fb.out, fs.out, 1e-6, 1e-6);
    const bb = mhssmBackward(e, big, pb, uBig, dout, B, T, { heads: 4, ld: Cb, lens });
    const bs = mhssmBackward(e, small, ps, uSmall, dout, B, T, { lens });
    for (const n of trainedNames(small)) checkOp(`slice d${n}`, bb.grads[n], bs.grads[n], 1e-5, 1e-5);
    const duBig = new Float32Array(B * T * Cs);
    for (let i = 0; i < B * T; i++) {
      duBig.set(bb.du.subarray(i * Cb, i * Cb + Cs), i * Cs);
      for (let c = Cs; c < Cb; c++) expect(bb.du[i * Cb + c]).toBe(0); // channels outside the slice untouched
    }
    checkOp("slice du", duBig, bs.du, 1e-5, 1e-5);
    // The subnet's trained size, counted from the standalone layer's table.
    const counted = mhssmShapes(small).filter((x) => x.trainable).reduce((a, x) => a + x.shape.reduce((p, q) => p * q, 1), 0);
    expect(mhssmParamCount(big, 4)).toBe(counted);
  });
});

describe("mhssm raw API (arena tensors)", () => {
  it("writes strided outputs (ldOut > k·P) and accumulates gradients across calls", async () => {
    const e = await engine();
    const cfg: MhssmConfig = { heads: 4, headDim: 3, stateSize: 4, bidirectional: true };
    const B = 2, T = 7, C = 12, ldOut = 15, r = rng(31);
    const params = randomParams(cfg, 6), u = randn(B * T * C, r), dout = randn(B * T * C, r);
    const ref = mhssmBackward(e, cfg, params, u, dout, B, T);
    const refOut = mhssmForward(e, cfg, params, u, B, T).out;
    e.scoped(() => {
      const p: MhssmPtrs = {}, g: MhssmPtrs = {};
      for (const { name, trainable } of mhssmShapes(cfg)) {
        p[name] = e.upload(params[name]);
        if (trainable) g[name] = e.upload(new Float32Array(params[name].length));
      }
      const strided = (a: Float32Array) => {
        const o = new Float32Array(B * T * ldOut).fill(7); // the padding must survive
        for (let i = 0; i < B * T; i++) o.set(a.subarray(i * C, (i + 1) * C), i * ldOut);
        return o;
      };
      const up = e.upload(u), y = e.alloc(B * T * ldOut), out = e.upload(strided(new Float32Array(B * T * C)));
      const dims = { B, T, ldOut };
      mhssmForwardRaw(e, cfg, p, out, y, up, dims);
      const du = e.upload(new Float32Array(B * T * C)), dp = e.upload(strided(dout));
      mhssmBackwardRaw(e, cfg, p, g, du, dp, y, up, dims);
      mhssmBackwardRaw(e, cfg, p, g, du, dp, y, up, dims); // accumulates: twice the gradient
      // The same kernels on the same values, only the row strides differ: bit-identical.
      checkOp("raw out (strided)", e.read(out, B * T * ldOut), strided(refOut), 0);
      // Two calls add (fwd + bwd) + (fwd + bwd) where the reference doubles one sum: f32 rounding, 1e-6.
      checkOp("raw du (two calls)", e.read(du, B * T * C), ref.du.map((x) => 2 * x), 1e-6, 1e-6);
      for (const n of trainedNames(cfg)) {
        checkOp(`raw d${n} (two calls)`, e.read(g[n], params[n].length), ref.grads[n].map((x) => 2 * x), 1e-6, 1e-6);
      }
    });
  });
});

// ---------- PyTorch ----------

interface FixtureCase {
  name: string; config: MhssmConfig; B: number; T: number; lens: number[];
  params: Record<string, number[]>; u: number[]; dout: number[]; y: number[]; out: number[]; du: number[];
  grads: Record<string, number[]>;
}

describe("mhssm against PyTorch (test/fixtures/mhssm.json from test/ref/mhssm.py)", () => {
  const path = new URL("./fixtures/mhssm.json", import.meta.url);
  const fx = existsSync(path) ? readFixture("mhssm.json", "test/ref/mhssm.py") : undefined;
  it("is a todm fixture", () => {
    expect(fx?.magic).toBe("todm-fixture");
    expect(fx?.version).toBe(1);
  });
  for (const c of (fx?.cases ?? []) as FixtureCase[]) {
    it(`${c.name}: forward, gradients, and the init's constants`, async () => {
      const e: Engine = await engine();
      const params: MhssmParams = {};
      for (const [k, v] of Object.entries(c.params)) params[k] = Float32Array.from(v);
      // Our init computes the same constants (S4D-Lin A, per-head dt ranges) independently: f32 rounding.
      const init = mhssmInit(c.config, 0);
      for (const k of ["a_re", "a_im", "log_dt_min", "log_dt_max"]) checkOp(`init ${k}`, init[k], c.params[k], 0, 1e-6);
      const f = mhssmForward(e, c.config, params, c.u, c.B, c.T, { lens: c.lens });
      const b = mhssmBackward(e, c.config, params, c.u, c.dout, c.B, c.T, { lens: c.lens });
      // f32 recurrence vs float64 FFT convolution, T <= 21 steps, N/2 <= 8 modes: measured <= 4.5e-7 of
      // each tensor's largest value (ds worst); 1e-5 of it leaves 20x margin.
      const check = (name: string, got: ArrayLike<number>, ref: number[]) => checkOp(`${c.name} ${name}`, got, ref, 1e-5 * maxAbs(ref));
      check("y", f.y, c.y);
      check("out", f.out, c.out);
      check("du", b.du, c.du);
      for (const k of Object.keys(c.grads)) check(`d${k}`, b.grads[k], c.grads[k]);
    });
  }
});
