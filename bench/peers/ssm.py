"""PyTorch peer of bench/ssm.ts: the MH-SSM layer as S4D computes it (Vandermonde kernel, FFT convolution),
float32, pairwise head gating, forward + backward by autograd, on one thread. Prints one JSON line.

Usage: /usr/bin/python3 bench/peers/ssm.py B T C H N reps
"""
import json
import math
import sys
import time

import torch

torch.set_num_threads(1)


def direction(C, N2, heads):
    P = C // heads
    lo = torch.tensor([math.log(0.1) - (c // P + 1) * (math.log(100) / heads) for c in range(C)])
    hi = lo + math.log(100) / heads
    p = {
        "s": torch.zeros(C, requires_grad=True),
        "c_re": (0.7 * torch.randn(C, N2)).requires_grad_(True),
        "c_im": (0.7 * torch.randn(C, N2)).requires_grad_(True),
        "d": torch.randn(C, requires_grad=True),
    }
    return p, lo, hi


def ssm(u, p, lo, hi, a):  # u [B, T, C] -> [B, T, C], causal
    T = u.shape[1]
    dt = torch.exp(lo + (hi - lo) * torch.sigmoid(p["s"]))
    dtA = a[None, :] * dt[:, None]
    W = torch.complex(p["c_re"], p["c_im"]) * (torch.exp(dtA) - 1) / a[None, :]
    K = 2 * torch.einsum("cn,cnl->cl", W, torch.exp(dtA[:, :, None] * torch.arange(T))).real  # [C, T]
    uf = torch.fft.rfft(u.transpose(1, 2), n=2 * T)
    y = torch.fft.irfft(uf * torch.fft.rfft(K, n=2 * T), n=2 * T)[..., :T].transpose(1, 2)
    return y + p["d"] * u


def layer(u, dirs, a, heads):
    y = ssm(u, *dirs[0], a)
    if len(dirs) > 1:
        y = y + ssm(u.flip(1), *dirs[1], a).flip(1)
    B, T, C = y.shape
    pr = y.reshape(B, T, heads // 2, 2, C // heads)
    x, g = pr[:, :, :, 0], pr[:, :, :, 1]
    return torch.stack([x * torch.sigmoid(g), g * torch.sigmoid(x)], 3).reshape(B, T, C)


def median_ms(fn, reps, clock=time.perf_counter):
    """Median over reps calls after 2 warm-ups; clock = time.process_time gives CPU time (shared machines)."""
    fn()
    fn()
    ts = []
    for _ in range(reps):
        t0 = clock()
        fn()
        ts.append((clock() - t0) * 1e3)
    ts.sort()
    return ts[len(ts) // 2]


def main():
    B, T, C, H, N, reps = map(int, sys.argv[1:7])
    N2 = N // 2
    a = torch.complex(torch.full((N2,), -0.5), math.pi * torch.arange(N2, dtype=torch.float32))
    out = {}
    for name, ndirs in [("causal", 1), ("bidirectional", 2)]:
        dirs = [direction(C, N2, H) for _ in range(ndirs)]
        u = torch.randn(B, T, C, requires_grad=True)
        dout = torch.randn(B, T, C)

        def fwd():
            with torch.no_grad():
                layer(u, dirs, a, H)

        def fwd_bwd():
            layer(u, dirs, a, H).backward(dout)

        out[f"{name}_fwd_ms"] = median_ms(fwd, reps)
        out[f"{name}_fwd_bwd_ms"] = median_ms(fwd_bwd, reps)
        out[f"{name}_fwd_cpu_ms"] = median_ms(fwd, reps, time.process_time)
        out[f"{name}_fwd_bwd_cpu_ms"] = median_ms(fwd_bwd, reps, time.process_time)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
