// The MH-SSM scan, backward half: the reverse-mode scan.
//
// What it is: the exact gradient of ssm_scan_forward (ssm.ts holds the design and the forward
// equations). What it is not: the discretisation's gradient (ssm_discretize.ts), the gating's
// backward (ssm_gate.ts).
// Reference: our own derivation, written below; checked in test/ssm.test.ts against float64 central
// finite differences and against PyTorch autograd of an independent FFT-convolution module.
//
// Memory: the forward saves no states. For each sequence and 4 channels the backward gathers the
// columns of u and dy into contiguous scratch; for each pair of modes it re-runs the recurrence over
// the Tb frames into scratch (16 floats per frame), then walks the frames backwards (28·T + 16 floats
// of per-call scratch in all). So the backward costs about two forward scans, and the B·T·C·N floats
// of states (13 MB for B=8, T=100, C=256, N=16, per direction) are never stored.
//
// Notation (complex numbers as (re, im) pairs; for a real loss L and a complex z, the adjoint is
// ḡ_z = dL/dRe z + i·dL/dIm z). For a holomorphic z = f(w): ḡ_w += ḡ_z·conj(f'(w)); for real w:
// dL/dw += Re(conj(ḡ_z)·f'(w)). Steps k = 0..Tb-1 in scan order (frame t = reverse ? Tb-1-k : k), g_k = dy.
//
// Scan (forward: h_k = dA·h_{k-1} + u_k, y_k += 2·Re(W·h_k), y_k += D·u_k):
//   λ_k = ḡ_{h_k} = 2·g_k·conj(W) + conj(dA)·λ_{k+1}           (λ_Tb = 0)
//   du_k  += Re(λ_k) + D·g_k                                     (u enters h_k's real part with weight 1)
//   ḡ_W   += Σ_k 2·g_k·conj(h_k)                                 (2·Re(W·h) = 2(Wr·hr - Wi·hi))
//   ḡ_dA  += Σ_k λ_k·conj(h_{k-1})                               (h_{-1} = initial state = 0)
//   dD    += Σ_k g_k·u_k
// ḡ_dA and ḡ_W go to ssm_discretize_backward (ssm_discretize.ts), which turns them into ds, dc_re, dc_im.

import { madd4 } from "../math";
/** Number of valid frames of sequence b (as in ssm.ts). */
// @ts-ignore: decorator
@inline
function ssm_frames(lens: usize, b: i32, T: i32): i32 {
  if (lens == 0) return T;
  const n = load<i32>(lens + (<usize>b << 2));
  return n < 0 ? 0 : n > T ? T : n;
}

/** Inverts skip_forward ("y[t] += d·u[t]") for channels [c0, c1): du += d·g, dd += Σ_t g·u (t < Tb). */
function skip_backward(dub: usize, dd: usize, dyb: usize, ub: usize, d: usize, c0: i32, c1: i32, Tb: i32,
                       ld_du: i32, ld_dy: i32, ld_u: i32): void {
  for (let c = c0; c < c1; c++) {
    const o = <usize>c << 2;
    const dc = load<f32>(d + o);
    let acc: f32 = 0;
    for (let t = 0; t < Tb; t++) {
      const g = load<f32>(dyb + ((<usize>t * ld_dy) << 2) + o);
      acc += g * load<f32>(ub + ((<usize>t * ld_u) << 2) + o);
      const p = dub + ((<usize>t * ld_du) << 2) + o;
      store<f32>(p, load<f32>(p) + dc * g);
    }
    store<f32>(dd + o, load<f32>(dd + o) + acc);
  }
}

/**
 * Reverse-mode scan of mode m (byte offset of (n, c) in the [N2, C] tensors) of 4 channels over the
 * gathered columns (ucol, gcol: inputs; ducol: += Re(λ)), in step order. hs: 8·Tb floats. The
 * adjoints of dA and W are added at g_da_re/im + m, g_w_re/im + m. See the header for the equations.
 */
function mode_backward(ducol: usize, gcol: usize, ucol: usize, hs: usize, Tb: i32, m: usize,
                       da_re: usize, da_im: usize, w_re: usize, w_im: usize,
                       g_da_re: usize, g_da_im: usize, g_w_re: usize, g_w_im: usize): void {
  const ar = v128.load(da_re + m), ai = v128.load(da_im + m);
  // Recompute h_k (forward: "h = dA·h + u") and accumulate ḡ_W = Σ 2·g·conj(h).
  let hr = f32x4.splat(0), hi = f32x4.splat(0);
  let gwr = f32x4.splat(0), gwi = f32x4.splat(0);
  for (let k = 0; k < Tb; k++) {
    const off = <usize>k << 4;
    const nr = madd4(ar, hr, f32x4.sub(v128.load(ucol + off), f32x4.mul(ai, hi)));
    hi = madd4(ar, hi, f32x4.mul(ai, hr));
    hr = nr;
    v128.store(hs + (off << 1), hr);
    v128.store(hs + (off << 1), hi, 16);
    const g = v128.load(gcol + off);
    gwr = madd4(g, hr, gwr);
    gwi = madd4(g, hi, gwi);
  }
  // λ_k = 2·g·conj(W) + conj(dA)·λ_{k+1}, walking k down.
  const w2r = f32x4.mul(f32x4.splat(2), v128.load(w_re + m)), w2i = f32x4.mul(f32x4.splat(2), v128.load(w_im + m));
  let lr = f32x4.splat(0), li = f32x4.splat(0);
  let gar = f32x4.splat(0), gai = f32x4.splat(0);
  let pr = Tb > 1 ? v128.load(hs + (<usize>(Tb - 2) << 5)) : f32x4.splat(0); // h_{k-1}
  let pi = Tb > 1 ? v128.load(hs + (<usize>(Tb - 2) << 5), 16) : f32x4.splat(0);
  for (let k = Tb - 1; k >= 0; k--) {
    const off = <usize>k << 4;
    const g = v128.load(gcol + off);
    const nr = madd4(ar, lr, madd4(ai, li, f32x4.mul(w2r, g))); // Re(conj(dA)·λ) + 2g·Wr
    li = f32x4.sub(f32x4.sub(f32x4.mul(ar, li), f32x4.mul(ai, lr)), f32x4.mul(w2i, g)); // Im(conj(dA)·λ) - 2g·Wi
    lr = nr;
    v128.store(ducol + off, f32x4.add(v128.load(ducol + off), lr)); // du_k += Re(λ_k)
    // ḡ_dA += λ_k·conj(h_{k-1}) (h_{-1} = 0: the last iteration adds 0)
    gar = madd4(lr, pr, madd4(li, pi, gar));
    gai = madd4(li, pr, f32x4.sub(gai, f32x4.mul(lr, pi)));
    const prev = k >= 2 ? hs + (<usize>(k - 2) << 5) : 0;
    pr = prev ? v128.load(prev) : f32x4.splat(0);
    pi = prev ? v128.load(prev, 16) : f32x4.splat(0);
  }
  const two = f32x4.splat(2);
  v128.store(g_w_re + m, madd4(two, gwr, v128.load(g_w_re + m)));
  v128.store(g_w_im + m, f32x4.sub(v128.load(g_w_im + m), f32x4.mul(two, gwi)));
  v128.store(g_da_re + m, f32x4.add(v128.load(g_da_re + m), gar));
  v128.store(g_da_im + m, f32x4.add(v128.load(g_da_im + m), gai));
}

/**
 * mode_backward for modes m0 and m1 at once: shared loads of u, g and du, and two independent
 * dependency chains per step. hs: 16·(Tb + 1) floats, [h_{k-1} of m0 (re, im), of m1 (re, im)] at k.
 */
function modes_pair_backward(ducol: usize, gcol: usize, ucol: usize, hs: usize, Tb: i32, m0: usize, m1: usize,
                             da_re: usize, da_im: usize, w_re: usize, w_im: usize,
                             g_da_re: usize, g_da_im: usize, g_w_re: usize, g_w_im: usize): void {
  const ar0 = v128.load(da_re + m0), ai0 = v128.load(da_im + m0), ar1 = v128.load(da_re + m1), ai1 = v128.load(da_im + m1);
  // Recompute h_k (forward: "h = dA·h + u") and accumulate ḡ_W = Σ 2·g·conj(h).
  let hr0 = f32x4.splat(0), hi0 = f32x4.splat(0), hr1 = f32x4.splat(0), hi1 = f32x4.splat(0);
  let gwr0 = f32x4.splat(0), gwi0 = f32x4.splat(0), gwr1 = f32x4.splat(0), gwi1 = f32x4.splat(0);
  v128.store(hs, hr0); // h_{-1} = 0
  v128.store(hs, hr0, 16);
  v128.store(hs, hr0, 32);
  v128.store(hs, hr0, 48);
  for (let k = 0; k < Tb; k++) {
    const off = <usize>k << 4, u = v128.load(ucol + off);
    const nr0 = madd4(ar0, hr0, f32x4.sub(u, f32x4.mul(ai0, hi0)));
    const nr1 = madd4(ar1, hr1, f32x4.sub(u, f32x4.mul(ai1, hi1)));
    hi0 = madd4(ar0, hi0, f32x4.mul(ai0, hr0));
    hi1 = madd4(ar1, hi1, f32x4.mul(ai1, hr1));
    hr0 = nr0;
    hr1 = nr1;
    const hp = hs + ((<usize>k + 1) << 6);
    v128.store(hp, hr0);
    v128.store(hp, hi0, 16);
    v128.store(hp, hr1, 32);
    v128.store(hp, hi1, 48);
    const g = v128.load(gcol + off);
    gwr0 = madd4(g, hr0, gwr0);
    gwi0 = madd4(g, hi0, gwi0);
    gwr1 = madd4(g, hr1, gwr1);
    gwi1 = madd4(g, hi1, gwi1);
  }
  const two = f32x4.splat(2);
  v128.store(g_w_re + m0, madd4(two, gwr0, v128.load(g_w_re + m0)));
  v128.store(g_w_im + m0, f32x4.sub(v128.load(g_w_im + m0), f32x4.mul(two, gwi0)));
  v128.store(g_w_re + m1, madd4(two, gwr1, v128.load(g_w_re + m1)));
  v128.store(g_w_im + m1, f32x4.sub(v128.load(g_w_im + m1), f32x4.mul(two, gwi1)));
  // λ_k = 2·g·conj(W) + conj(dA)·λ_{k+1}, walking k down; du_k += Re(λ_k); ḡ_dA += λ_k·conj(h_{k-1}).
  const w2r0 = f32x4.mul(two, v128.load(w_re + m0)), w2i0 = f32x4.mul(two, v128.load(w_im + m0));
  const w2r1 = f32x4.mul(two, v128.load(w_re + m1)), w2i1 = f32x4.mul(two, v128.load(w_im + m1));
  let lr0 = f32x4.splat(0), li0 = f32x4.splat(0), lr1 = f32x4.splat(0), li1 = f32x4.splat(0);
  let gar0 = f32x4.splat(0), gai0 = f32x4.splat(0), gar1 = f32x4.splat(0), gai1 = f32x4.splat(0);
  for (let k = Tb - 1; k >= 0; k--) {
    const off = <usize>k << 4, g = v128.load(gcol + off);
    const nr0 = madd4(ar0, lr0, madd4(ai0, li0, f32x4.mul(w2r0, g)));
    const nr1 = madd4(ar1, lr1, madd4(ai1, li1, f32x4.mul(w2r1, g)));
    li0 = f32x4.sub(f32x4.sub(f32x4.mul(ar0, li0), f32x4.mul(ai0, lr0)), f32x4.mul(w2i0, g));
    li1 = f32x4.sub(f32x4.sub(f32x4.mul(ar1, li1), f32x4.mul(ai1, lr1)), f32x4.mul(w2i1, g));
    lr0 = nr0;
    lr1 = nr1;
    v128.store(ducol + off, f32x4.add(v128.load(ducol + off), f32x4.add(lr0, lr1)));
    const hp = hs + (<usize>k << 6); // h_{k-1}
    const pr0 = v128.load(hp), pi0 = v128.load(hp, 16), pr1 = v128.load(hp, 32), pi1 = v128.load(hp, 48);
    gar0 = madd4(lr0, pr0, madd4(li0, pi0, gar0));
    gai0 = madd4(li0, pr0, f32x4.sub(gai0, f32x4.mul(lr0, pi0)));
    gar1 = madd4(lr1, pr1, madd4(li1, pi1, gar1));
    gai1 = madd4(li1, pr1, f32x4.sub(gai1, f32x4.mul(lr1, pi1)));
  }
  v128.store(g_da_re + m0, f32x4.add(v128.load(g_da_re + m0), gar0));
  v128.store(g_da_im + m0, f32x4.add(v128.load(g_da_im + m0), gai0));
  v128.store(g_da_re + m1, f32x4.add(v128.load(g_da_re + m1), gar1));
  v128.store(g_da_im + m1, f32x4.add(v128.load(g_da_im + m1), gai1));
}

/**
 * Channels c..c+3 of one sequence: gathers the columns of u and dy into contiguous scratch (see
 * scan_quad in ssm.ts for why), inverts the skip path, runs every mode backwards, scatters du.
 * scratch: 28·T + 16 floats (ucol, gcol, ducol 4·T each, hs 16·(T + 1)).
 */
function scan_quad_backward(dub: usize, dd: usize, dyb: usize, ub: usize, c: i32, d: usize,
                            da_re: usize, da_im: usize, w_re: usize, w_im: usize,
                            g_da_re: usize, g_da_im: usize, g_w_re: usize, g_w_im: usize,
                            Tb: i32, T: i32, C: i32, N2: i32, ld_du: i32, ld_dy: i32, ld_u: i32, reverse: i32, scratch: usize): void {
  const q = <usize>c << 2, T16 = <usize>T << 4;
  const ucol = scratch, gcol = scratch + T16, ducol = scratch + 2 * T16, hs = scratch + 3 * T16;
  const dv = v128.load(d + q);
  let ddacc = f32x4.splat(0);
  for (let k = 0; k < Tb; k++) { // inverts "y_t += D·u_t": du = D·g, dD += g·u
    const t = reverse ? Tb - 1 - k : k;
    const u = v128.load(ub + ((<usize>t * ld_u) << 2) + q), g = v128.load(dyb + ((<usize>t * ld_dy) << 2) + q);
    v128.store(ucol + (<usize>k << 4), u);
    v128.store(gcol + (<usize>k << 4), g);
    v128.store(ducol + (<usize>k << 4), f32x4.mul(dv, g));
    ddacc = madd4(g, u, ddacc);
  }
  v128.store(dd + q, f32x4.add(v128.load(dd + q), ddacc));
  let n = 0;
  for (; n + 1 < N2; n += 2) {
    const m0 = ((<usize>n * C) << 2) + q;
    modes_pair_backward(ducol, gcol, ucol, hs, Tb, m0, m0 + (<usize>C << 2), da_re, da_im, w_re, w_im, g_da_re, g_da_im, g_w_re, g_w_im);
  }
  if (n < N2) {
    mode_backward(ducol, gcol, ucol, hs, Tb, ((<usize>n * C) << 2) + q, da_re, da_im, w_re, w_im, g_da_re, g_da_im, g_w_re, g_w_im);
  }
  for (let k = 0; k < Tb; k++) {
    const t = reverse ? Tb - 1 - k : k;
    const p = dub + ((<usize>t * ld_du) << 2) + q;
    v128.store(p, f32x4.add(v128.load(p), v128.load(ducol + (<usize>k << 4))));
  }
}

/** mode_backward for one channel, scalar and strided (naive twin and C % 4 tail). scratch: 2·Tb floats. */
function scan_lane_backward(duq: usize, dyq: usize, uq: usize, ld_du: i32, ld_dy: i32, ld_u: i32, Tb: i32, reverse: i32,
                            ar: f32, ai: f32, wr: f32, wi: f32,
                            gda_re: usize, gda_im: usize, gw_re: usize, gw_im: usize, scratch: usize): void {
  let hr: f32 = 0, hi: f32 = 0, gwr: f32 = 0, gwi: f32 = 0;
  for (let k = 0; k < Tb; k++) {
    const t = reverse ? Tb - 1 - k : k;
    const u = load<f32>(uq + ((<usize>t * ld_u) << 2));
    const nr = ar * hr - ai * hi + u;
    hi = ar * hi + ai * hr;
    hr = nr;
    store<f32>(scratch + (<usize>k << 3), hr);
    store<f32>(scratch + (<usize>k << 3), hi, 4);
    const g = load<f32>(dyq + ((<usize>t * ld_dy) << 2));
    gwr += g * hr;
    gwi += g * hi;
  }
  let lr: f32 = 0, li: f32 = 0, gar: f32 = 0, gai: f32 = 0;
  for (let k = Tb - 1; k >= 0; k--) {
    const t = reverse ? Tb - 1 - k : k;
    const g = load<f32>(dyq + ((<usize>t * ld_dy) << 2));
    const nr = ar * lr + ai * li + 2 * wr * g;
    li = ar * li - ai * lr - 2 * wi * g;
    lr = nr;
    const dp = duq + ((<usize>t * ld_du) << 2);
    store<f32>(dp, load<f32>(dp) + lr);
    if (k > 0) {
      const pr = load<f32>(scratch + (<usize>(k - 1) << 3)), pi = load<f32>(scratch + (<usize>(k - 1) << 3), 4);
      gar += lr * pr + li * pi;
      gai += li * pr - lr * pi;
    }
  }
  store<f32>(gw_re, load<f32>(gw_re) + 2 * gwr);
  store<f32>(gw_im, load<f32>(gw_im) - 2 * gwi);
  store<f32>(gda_re, load<f32>(gda_re) + gar);
  store<f32>(gda_im, load<f32>(gda_im) + gai);
}

function scan_backward(du: usize, dd: usize, g_da_re: usize, g_da_im: usize, g_w_re: usize, g_w_im: usize,
                       dy: usize, u: usize, da_re: usize, da_im: usize, w_re: usize, w_im: usize, d: usize,
                       lens: usize, scratch: usize, B: i32, T: i32, C: i32, N2: i32,
                       ld_du: i32, ld_dy: i32, ld_u: i32, reverse: i32, simd: bool): void {
  const C4 = simd ? C & ~3 : 0;
  for (let b = 0; b < B; b++) {
    const Tb = ssm_frames(lens, b, T);
    const dub = du + ((<usize>b * T * ld_du) << 2), dyb = dy + ((<usize>b * T * ld_dy) << 2);
    const ub = u + ((<usize>b * T * ld_u) << 2);
    for (let c = 0; c < C4; c += 4) {
      scan_quad_backward(dub, dd, dyb, ub, c, d, da_re, da_im, w_re, w_im, g_da_re, g_da_im, g_w_re, g_w_im,
        Tb, T, C, N2, ld_du, ld_dy, ld_u, reverse, scratch);
    }
    if (C4 == C) continue;
    skip_backward(dub, dd, dyb, ub, d, C4, C, Tb, ld_du, ld_dy, ld_u);
    for (let n = 0; n < N2; n++) {
      const row = (<usize>n * C) << 2;
      for (let c = C4; c < C; c++) {
        const o = row + (<usize>c << 2), q = <usize>c << 2;
        scan_lane_backward(dub + q, dyb + q, ub + q, ld_du, ld_dy, ld_u, Tb, reverse,
          load<f32>(da_re + o), load<f32>(da_im + o), load<f32>(w_re + o), load<f32>(w_im + o),
          g_da_re + o, g_da_im + o, g_w_re + o, g_w_im + o, scratch);
      }
    }
  }
}

/**
 * Reverse-mode scan of ssm_scan_forward (same u, dA, W, d, lens, B, T, C, N2, reverse). Accumulates
 * du [B, T, C] (row stride ld_du), dd [C], and the adjoints of the discretised tensors, ḡ_dA and ḡ_W
 * [N2, C] each (re and im), which ssm_discretize_backward turns into ds, dc_re, dc_im.
 * scratch: 28·T + 16 floats, 16-byte aligned (per-call: gathered columns and recomputed states).
 */
export function ssm_scan_backward(du: usize, dd: usize, g_da_re: usize, g_da_im: usize, g_w_re: usize, g_w_im: usize,
                                  dy: usize, u: usize, da_re: usize, da_im: usize, w_re: usize, w_im: usize, d: usize,
                                  lens: usize, scratch: usize, B: i32, T: i32, C: i32, N2: i32,
                                  ld_du: i32, ld_dy: i32, ld_u: i32, reverse: i32): void {
  scan_backward(du, dd, g_da_re, g_da_im, g_w_re, g_w_im, dy, u, da_re, da_im, w_re, w_im, d, lens, scratch,
    B, T, C, N2, ld_du, ld_dy, ld_u, reverse, true);
}

/** The scalar twin of ssm_scan_backward (same arguments; it uses 2·T floats of the scratch). */
export function ssm_scan_backward_naive(du: usize, dd: usize, g_da_re: usize, g_da_im: usize, g_w_re: usize, g_w_im: usize,
                                        dy: usize, u: usize, da_re: usize, da_im: usize, w_re: usize, w_im: usize, d: usize,
                                        lens: usize, scratch: usize, B: i32, T: i32, C: i32, N2: i32,
                                        ld_du: i32, ld_dy: i32, ld_u: i32, reverse: i32): void {
  scan_backward(du, dd, g_da_re, g_da_im, g_w_re, g_w_im, dy, u, da_re, da_im, w_re, w_im, d, lens, scratch,
    B, T, C, N2, ld_du, ld_dy, ld_u, reverse, false);
}

/** Floats of per-call scratch that ssm_scan_backward needs for T frames. */
export function ssm_scan_backward_scratch(T: i32): i32 {
  return 28 * T + 16;
}
