"""Writes test/fixtures/mhssm.json: an independent PyTorch MH-SSM layer, its output and its autograd gradients.

Usage (Debian's torch; the `python3` first on PATH has no torch):
    /usr/bin/python3 test/ref/mhssm.py

The layer is the one of assembly/ssm/ssm.ts, computed differently: each direction is the S4D convolution view
(kernel K_l = 2·Re(sum_n C_n·dB_n·dA_n^l) from a Vandermonde product, applied with an FFT, as in
state-spaces/s4 models/s4/s4d.py), in float64 (complex128), with per-sequence flips for the reverse
direction of padded sequences; then pairwise head gating. Parameters are drawn in float32 so that the
engine reads exactly the same values. Gradients come from autograd for a fixed upstream gradient dout.
"""
import json
import math
import os

import torch

torch.manual_seed(1234)
torch.set_num_threads(1)


def head_ranges(heads, dt_min, dt_max):
    """[log dt_min, log dt_max] per head: [dt_min, dt_max] split evenly in log space, head 0 the largest steps."""
    lo, hi = math.log(dt_min), math.log(dt_max)
    step = (hi - lo) / heads
    return [(hi - (h + 1) * step, hi - h * step) for h in range(heads)]


class S4DDirection(torch.nn.Module):
    def __init__(self, C, N2, lo, hi, a):
        super().__init__()
        self.s = torch.nn.Parameter(torch.randn(C, dtype=torch.float32).double())
        self.c_re = torch.nn.Parameter((0.5 * torch.randn(C, N2, dtype=torch.float32)).double())
        self.c_im = torch.nn.Parameter((0.5 * torch.randn(C, N2, dtype=torch.float32)).double())
        self.d = torch.nn.Parameter(torch.randn(C, dtype=torch.float32).double())
        self.lo, self.hi, self.a = lo, hi, a

    def kernel(self, L):
        dt = torch.exp(self.lo + (self.hi - self.lo) * torch.sigmoid(self.s))  # [C]
        dtA = self.a[None, :] * dt[:, None]  # [C, N2]
        dB = (torch.exp(dtA) - 1) / self.a[None, :]
        C = torch.complex(self.c_re, self.c_im) * dB
        vander = torch.exp(dtA[:, :, None] * torch.arange(L, dtype=torch.float64))  # [C, N2, L]
        return 2 * torch.einsum("cn,cnl->cl", C, vander).real  # [C, L]

    def forward(self, u):  # u [T, C], one sequence, causal
        T = u.shape[0]
        k = self.kernel(T)
        y = torch.fft.irfft(torch.fft.rfft(u.T, n=2 * T) * torch.fft.rfft(k, n=2 * T), n=2 * T)[:, :T]
        return y.T + self.d * u


class MHSSM(torch.nn.Module):
    def __init__(self, heads, P, N, bidirectional, dt_min=1e-3, dt_max=1e-1):
        super().__init__()
        C, N2 = heads * P, N // 2
        self.heads, self.P = heads, P
        ranges = head_ranges(heads, dt_min, dt_max)
        # constants, rounded to float32 as the engine stores them
        self.lo = torch.tensor([ranges[c // P][0] for c in range(C)], dtype=torch.float32).double()
        self.hi = torch.tensor([ranges[c // P][1] for c in range(C)], dtype=torch.float32).double()
        a_re = torch.full((N2,), -0.5, dtype=torch.float32).double()
        a_im = (math.pi * torch.arange(N2, dtype=torch.float32)).double()
        self.a_re, self.a_im = a_re, a_im
        a = torch.complex(a_re, a_im)
        names = ["fwd", "bwd"] if bidirectional else ["fwd"]
        self.dirs = torch.nn.ModuleDict({n: S4DDirection(C, N2, self.lo, self.hi, a) for n in names})

    def forward(self, u, lens):  # u [B, T, C]
        B, T, C = u.shape
        rows = []
        for b in range(B):
            n = int(lens[b])
            ub = u[b, :n]
            y = self.dirs["fwd"](ub)
            if "bwd" in self.dirs:
                y = y + self.dirs["bwd"](ub.flip(0)).flip(0)
            rows.append(torch.cat([y, torch.zeros(T - n, C, dtype=u.dtype)], 0))
        y = torch.stack(rows)  # [B, T, C], zero past each length
        pairs = y.reshape(B, T, self.heads // 2, 2, self.P)
        a, g = pairs[:, :, :, 0], pairs[:, :, :, 1]
        out = torch.stack([a * torch.sigmoid(g), g * torch.sigmoid(a)], 3).reshape(B, T, C)
        return y, out


def flat(t):
    """9 significant digits: round-trips float32 inputs exactly, and is far below the test's tolerances."""
    return [float(f"{x:.9g}") for x in t.detach().reshape(-1).tolist()]


def case(name, heads, P, N, bidirectional, B, T, lens):
    layer = MHSSM(heads, P, N, bidirectional)
    C = heads * P
    u = torch.randn(B, T, C, dtype=torch.float32).double().requires_grad_(True)
    dout = torch.randn(B, T, C, dtype=torch.float32).double()
    y, out = layer(u, lens)
    (out * dout).sum().backward()
    params = {"a_re": flat(layer.a_re), "a_im": flat(layer.a_im), "log_dt_min": flat(layer.lo), "log_dt_max": flat(layer.hi)}
    grads = {}
    for dname, d in layer.dirs.items():
        for p in ["s", "c_re", "c_im", "d"]:
            params[f"{dname}.{p}"] = flat(getattr(d, p))
            grads[f"{dname}.{p}"] = flat(getattr(d, p).grad)
    return {
        "name": name,
        "config": {"heads": heads, "headDim": P, "stateSize": N, "bidirectional": bidirectional, "dtMin": 1e-3, "dtMax": 1e-1},
        "B": B, "T": T, "lens": lens,
        "params": params, "u": flat(u), "dout": flat(dout),
        "y": flat(y), "out": flat(out), "du": flat(u.grad), "grads": grads,
    }


def main():
    cases = [
        case("bidirectional_tail", 6, 3, 8, True, 2, 13, [13, 9]),
        case("causal", 4, 4, 16, False, 2, 21, [21, 21]),
    ]
    fixture = {"magic": "todm-fixture", "version": 1, "generator": "test/ref/mhssm.py",
               "torch": torch.__version__, "cases": cases}
    path = os.path.join(os.path.dirname(__file__), "..", "fixtures", "mhssm.json")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(fixture, f, separators=(",", ":"))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
