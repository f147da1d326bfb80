"""Fits the polynomial coefficients used by assembly/math.ts (run with /usr/bin/python3).

Not a test and not run by tests: it prints the coefficients that simd_math.ts carries, so that they
can be regenerated and checked. Each fit is a weighted least-squares fit on Chebyshev nodes followed
by Lawson iterations (reweighting towards the worst points), which approaches the minimax fit of
the RELATIVE error of the final function. Reference values come from float64 math.exp/tanh/erfc.

  exp(r)  = 1 + r + r^2 * P(r),        r in [-ln2/2, ln2/2],  P of degree 4 (exp of degree 6)
  tanh(x) = x + x^3 * P(x^2),          |x| <= 0.625,          P of degree 4 (odd, degree 11)
  erfc(z) = t * exp(-z^2 + P(t)),      t = 1/(1 + z/2), z in [0, 10], P of degree 9
            (the form of Numerical Recipes' erfcc, Press et al. 1992, section 6.2; coefficients ours)
"""
import math
import numpy as np


def lawson_fit(xs, basis, target, weight, iters=60):
    """min over c of max |weight * (basis @ c - target)| (approximately), via Lawson's IRLS."""
    A = basis * weight[:, None]
    b = target * weight
    w = np.ones_like(xs)
    for _ in range(iters):
        sw = np.sqrt(w)
        c, *_ = np.linalg.lstsq(A * sw[:, None], b * sw, rcond=None)
        err = np.abs(A @ c - b)
        w = w * err
        w /= w.sum()
    return c, np.max(np.abs(A @ c - b))


def cheb_nodes(a, b, n=4000):
    k = np.arange(n)
    return (a + b) / 2 + (b - a) / 2 * np.cos(np.pi * (k + 0.5) / n)


def fit_exp():
    r = cheb_nodes(-math.log(2) / 2, math.log(2) / 2)
    e = np.exp(r)
    # exp(r) - 1 - r = r^2 P(r): relative error of exp is r^2 (P - target) / exp(r).
    target = np.where(np.abs(r) > 1e-4, (e - 1 - r) / r**2, 0.5 + r / 6)
    basis = np.stack([r**k for k in range(5)], axis=1)
    c, err = lawson_fit(r, basis, target, r**2 / e)
    return c, err


def fit_tanh():
    x = cheb_nodes(1e-3, 0.625)
    z = x * x
    target = (np.tanh(x) - x) / x**3
    basis = np.stack([z**k for k in range(5)], axis=1)
    c, err = lawson_fit(x, basis, target, x**3 / np.tanh(x))
    return c, err


def fit_erfc():
    z = cheb_nodes(0.0, 10.0)
    t = 1 / (1 + z / 2)
    erfc = np.array([math.erfc(v) for v in z])
    target = np.log(erfc / t) + z * z
    basis = np.stack([t**k for k in range(10)], axis=1)
    # An absolute error d in the exponent is a relative error d in erfc.
    c, err = lawson_fit(z, basis, target, np.ones_like(z))
    return c, err


if __name__ == "__main__":
    for name, fit in [("exp P(r)", fit_exp), ("tanh P(x^2)", fit_tanh), ("erfc P(t)", fit_erfc)]:
        c, err = fit()
        print(f"{name}: max relative error {err:.3g} (float64)")
        for k, v in enumerate(c):
            print(f"  c{k} = {v:.9e}")
