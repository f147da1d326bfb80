// The MH-SSM discretisation: zero-order hold of each channel's diagonal SSM, and its gradient.
//
// What it is: the map from the trained parameters (s, C) and the constants (A, per-channel log dt
// range) to the tensors the scan runs on, dA and W = C·dB, and the exact reverse of that map.
// What it is not: the scan (ssm.ts, ssm_backward.ts). Reference: S4D (Gu et al. 2022) and
// state-spaces/s4 `models/s4/s4d.py` for ZOH; the bounded-sigmoid step size is ours (NOTES.md:
// the PyTorch calibration learned dt that way, keeping A fixed, to suit ScaledAdam).
// Forward:  dt = exp(lo + (hi - lo)·σ(s)),  dA = exp(A·dt),  dB = (dA - 1)/A,  W = C·dB.
// Backward (adjoints as in ssm_backward.ts: ḡ_z = dL/dRe z + i·dL/dIm z; for holomorphic z = f(w),
// ḡ_w += ḡ_z·conj(f'(w)); for real w, dL/dw += Re(conj(ḡ_z)·f'(w))):
//   ḡ_C   += ḡ_W·conj(dB)
//   ḡ_dB   = ḡ_W·conj(C)
//   ḡ_dA' = ḡ_dA + ḡ_dB·conj(1/A)                                (d dB/d dA = 1/A)
//   dL/ddt = Σ_n Re(conj(ḡ_dA'_n)·A_n·dA_n)                      (d dA/d dt = A·dA)
//   ds    += dL/ddt · dt·(hi - lo)·σ(s)·(1 - σ(s))
// Both are scalar and computed in f64 (C·N2 complex exponentials per call, about 0.07 ms for C = 256,
// N2 = 8: negligible beside the scan), stored in f32.

/**
 * Discretises the SSM of C channels: for n < N2, c < C (outputs n-major [N2, C], row stride C):
 *   dt = exp(lo[c] + (hi[c] - lo[c])·sigmoid(s[c])); dA[n,c] = exp(A_n·dt); W[n,c] = C[c,n]·(dA - 1)/A_n.
 * s, lo, hi [C]; c_re, c_im [C, N2] (row stride N2); a_re, a_im [N2], A_n != 0 (S4D-Lin: Re A = -0.5).
 * Computed in f64 (so dA - 1 does not cancel for small dt), stored f32.
 * Scalar on purpose: C·N2 complex exponentials per call, negligible beside the scan.
 */
export function ssm_discretize_forward(
  da_re: usize, da_im: usize, w_re: usize, w_im: usize,
  s: usize, c_re: usize, c_im: usize, a_re: usize, a_im: usize, lo: usize, hi: usize,
  C: i32, N2: i32,
): void {
  for (let c = 0; c < C; c++) {
    const lo_c = <f64>load<f32>(lo + (<usize>c << 2));
    const hi_c = <f64>load<f32>(hi + (<usize>c << 2));
    const sig = 1.0 / (1.0 + Math.exp(-<f64>load<f32>(s + (<usize>c << 2))));
    const dt = Math.exp(lo_c + (hi_c - lo_c) * sig);
    for (let n = 0; n < N2; n++) {
      const ar = <f64>load<f32>(a_re + (<usize>n << 2)), ai = <f64>load<f32>(a_im + (<usize>n << 2));
      const mag = Math.exp(ar * dt);
      const er = mag * Math.cos(ai * dt), ei = mag * Math.sin(ai * dt); // dA = exp(A·dt)
      // dB = (dA - 1)/A = (dA - 1)·conj(A)/|A|²
      const inv = 1.0 / (ar * ar + ai * ai);
      const br = ((er - 1) * ar + ei * ai) * inv, bi = (ei * ar - (er - 1) * ai) * inv;
      const cp = (<usize>c * N2 + n) << 2;
      const cr = <f64>load<f32>(c_re + cp), ci = <f64>load<f32>(c_im + cp);
      const o = (<usize>n * C + c) << 2;
      store<f32>(da_re + o, <f32>er);
      store<f32>(da_im + o, <f32>ei);
      store<f32>(w_re + o, <f32>(cr * br - ci * bi));
      store<f32>(w_im + o, <f32>(cr * bi + ci * br));
    }
  }
}

/**
 * Inverts ssm_discretize_forward ("dA = exp(A·dt); W = C·(dA - 1)/A"): given ḡ_dA, ḡ_W [N2, C] from
 * ssm_scan_backward, accumulates ds [C] and dc_re, dc_im [C, N2] (see the header's derivation).
 * Same s, c_re, c_im, a_re, a_im, lo, hi, C, N2 as the forward. f64 inside, scalar (C·N2 terms).
 */
export function ssm_discretize_backward(
  ds: usize, dc_re: usize, dc_im: usize, g_da_re: usize, g_da_im: usize, g_w_re: usize, g_w_im: usize,
  s: usize, c_re: usize, c_im: usize, a_re: usize, a_im: usize, lo: usize, hi: usize, C: i32, N2: i32,
): void {
  for (let c = 0; c < C; c++) {
    const lo_c = <f64>load<f32>(lo + (<usize>c << 2));
    const hi_c = <f64>load<f32>(hi + (<usize>c << 2));
    const sig = 1.0 / (1.0 + Math.exp(-<f64>load<f32>(s + (<usize>c << 2))));
    const dt = Math.exp(lo_c + (hi_c - lo_c) * sig);
    let gdt = 0.0;
    for (let n = 0; n < N2; n++) {
      const ar = <f64>load<f32>(a_re + (<usize>n << 2)), ai = <f64>load<f32>(a_im + (<usize>n << 2));
      const mag = Math.exp(ar * dt);
      const er = mag * Math.cos(ai * dt), ei = mag * Math.sin(ai * dt); // "dA = exp(A·dt)"
      const inv = 1.0 / (ar * ar + ai * ai);
      const br = ((er - 1) * ar + ei * ai) * inv, bi = (ei * ar - (er - 1) * ai) * inv; // "dB = (dA - 1)/A"
      const cp = (<usize>c * N2 + n) << 2;
      const cr = <f64>load<f32>(c_re + cp), ci = <f64>load<f32>(c_im + cp);
      const o = (<usize>n * C + c) << 2;
      const gwr = <f64>load<f32>(g_w_re + o), gwi = <f64>load<f32>(g_w_im + o);
      // ḡ_C += ḡ_W·conj(dB)   ("W = C·dB")
      store<f32>(dc_re + cp, load<f32>(dc_re + cp) + <f32>(gwr * br + gwi * bi));
      store<f32>(dc_im + cp, load<f32>(dc_im + cp) + <f32>(gwi * br - gwr * bi));
      // ḡ_dB = ḡ_W·conj(C); ḡ_dA' = ḡ_dA + ḡ_dB·conj(1/A), conj(1/A) = A/|A|²
      const gbr = gwr * cr + gwi * ci, gbi = gwi * cr - gwr * ci;
      const gar = <f64>load<f32>(g_da_re + o) + (gbr * ar - gbi * ai) * inv;
      const gai = <f64>load<f32>(g_da_im + o) + (gbr * ai + gbi * ar) * inv;
      // dL/ddt += Re(conj(ḡ_dA')·A·dA)
      const pr = ar * er - ai * ei, pi = ar * ei + ai * er;
      gdt += gar * pr + gai * pi;
    }
    // "dt = exp(lo + (hi - lo)·σ(s))"
    store<f32>(ds + (<usize>c << 2), load<f32>(ds + (<usize>c << 2)) + <f32>(gdt * dt * (hi_c - lo_c) * sig * (1 - sig)));
  }
}
