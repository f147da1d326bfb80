"""The Stateformer block of bench/block.ts in PyTorch, float32, one thread: forward and forward+backward
times (median of 7 after 2 warm-ups), printed as one JSON line. The MH-SSM heads run as S4D does, through
the convolution view with an FFT (the usual PyTorch way), with pairwise gating, as test/ref/stateformer.py.
Usage: /usr/bin/python3 bench/peers/block.py B T d ff heads N [serve]
With "serve" it prints {"ready": ...} after setup, then answers each stdin line "fwd" or "fwd_bwd" with
{"ms": one timed run}, so that bench/block.ts can alternate todm and torch run by run.
"""
import json
import math
import statistics
import sys
import time

import torch
import torch.nn.functional as F

torch.set_num_threads(1)
B, T, d, ff, H, N = map(int, sys.argv[1:7])
P, N2 = d // H, N // 2
torch.manual_seed(0)


def lin(o, i):
    return torch.nn.Parameter(torch.randn(o, i) / math.sqrt(i)), torch.nn.Parameter(torch.zeros(o))


class Block(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.ln = torch.nn.ModuleList([torch.nn.LayerNorm(d) for _ in range(4)])
        self.f1w1, self.f1b1 = lin(ff, d)
        self.f1w2, self.f1b2 = lin(d, ff)
        self.f2w1, self.f2b1 = lin(ff, d)
        self.f2w2, self.f2b2 = lin(d, ff)
        self.inw, self.inb = lin(d, d)
        self.outw, self.outb = lin(d, d)
        self.s = torch.nn.Parameter(torch.randn(d))
        self.c_re = torch.nn.Parameter(torch.randn(d, N2) * 0.7)
        self.c_im = torch.nn.Parameter(torch.randn(d, N2) * 0.7)
        self.dd = torch.nn.Parameter(torch.randn(d))
        lo, hi = math.log(1e-3), math.log(1e-1)
        step = (hi - lo) / H
        self.lo = torch.tensor([hi - (c // P + 1) * step for c in range(d)])
        self.hi = torch.tensor([hi - (c // P) * step for c in range(d)])
        self.a = torch.complex(torch.full((N2,), -0.5), math.pi * torch.arange(N2, dtype=torch.float32))

    def ff(self, x, w1, b1, w2, b2, ln):
        return F.linear(F.silu(F.linear(ln(x), w1, b1)), w2, b2)

    def forward(self, x):
        x = x + 0.5 * self.ff(x, self.f1w1, self.f1b1, self.f1w2, self.f1b2, self.ln[0])
        u = F.linear(self.ln[1](x), self.inw, self.inb)  # [B, T, d]
        dt = torch.exp(self.lo + (self.hi - self.lo) * torch.sigmoid(self.s))
        dtA = self.a[None, :] * dt[:, None]
        C = torch.complex(self.c_re, self.c_im) * (torch.exp(dtA) - 1) / self.a[None, :]
        k = 2 * torch.einsum("cn,cnl->cl", C, torch.exp(dtA[:, :, None] * torch.arange(T))).real  # [d, T]
        y = torch.fft.irfft(torch.fft.rfft(u.transpose(1, 2), n=2 * T) * torch.fft.rfft(k, n=2 * T), n=2 * T)[..., :T]
        y = y.transpose(1, 2) + self.dd * u
        pr = y.reshape(B, T, H // 2, 2, P)
        ya, yg = pr[:, :, :, 0], pr[:, :, :, 1]
        o = torch.stack([ya * torch.sigmoid(yg), yg * torch.sigmoid(ya)], 3).reshape(B, T, d)
        x = x + F.linear(o, self.outw, self.outb)
        x = x + 0.5 * self.ff(x, self.f2w1, self.f2b1, self.f2w2, self.f2b2, self.ln[2])
        return self.ln[3](x)


m = Block()
x0 = torch.randn(B, T, d)
dy = torch.randn(B, T, d)


def timed(fn, reps=7):
    fn()
    fn()
    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        ts.append((time.perf_counter() - t) * 1000)
    return statistics.median(ts)


def fwd():
    with torch.no_grad():
        m(x0)


def fwd_bwd():
    m.zero_grad(set_to_none=False)
    x = x0.clone().requires_grad_(True)
    (m(x) * dy).sum().backward()


def once(fn):
    t = time.perf_counter()
    fn()
    return (time.perf_counter() - t) * 1000
if len(sys.argv) > 7 and sys.argv[7] == "serve":
    print(json.dumps({"ready": True, "torch": torch.__version__, "threads": torch.get_num_threads()}), flush=True)
    for line in sys.stdin:
        cmd = line.strip()
        if cmd not in ("fwd", "fwd_bwd"):
            break
        print(json.dumps({"ms": once(fwd if cmd == "fwd" else fwd_bwd)}), flush=True)
else:
    print(json.dumps({"fwd_ms": timed(fwd), "fwd_bwd_ms": timed(fwd_bwd), "torch": torch.__version__}))
