"""Peer for bench/conv.ts: the same convolutions in PyTorch on one thread; prints one JSON line {case: ms}.

Usage: /usr/bin/python3 bench/peers/conv.py B T F C K   (run by bench/conv.ts through ctx.python)
"""
import json
import statistics
import sys
import time

import torch
import torch.nn.functional as F

torch.set_num_threads(1)
B, T, Fr, C, K = (int(a) for a in sys.argv[1:6])


def median_ms(fn, reps=5, warmup=1):
    for _ in range(warmup):
        fn()
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        ts.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(ts)


x = torch.randn(B, 1, T, Fr)
w1 = torch.randn(C, 1, 3, 3, requires_grad=True)
b1 = torch.randn(C, requires_grad=True)
w2 = (torch.randn(C, C, 3, 3) * 0.05).requires_grad_()
b2 = torch.randn(C, requires_grad=True)


def subsampling():
    # conv(1->C, 3x3, s2) then conv(C->C, 3x3, s2), causal in time; no ReLU (not part of these kernels).
    y1 = F.conv2d(F.pad(x, (0, 0, 2, 0)), w1, b1, stride=2)
    y2 = F.conv2d(F.pad(y1, (0, 0, 2, 0)), w2, b2, stride=2)
    y2.backward(torch.ones_like(y2))


def subsampling_forward():
    with torch.no_grad():
        y1 = F.conv2d(F.pad(x, (0, 0, 2, 0)), w1, b1, stride=2)
        F.conv2d(F.pad(y1, (0, 0, 2, 0)), w2, b2, stride=2)


Ts = (T + 2 - 3) // 2 + 1
Ts = (Ts + 2 - 3) // 2 + 1
xd = torch.randn(B, Ts, C, requires_grad=True)
wd = torch.randn(C, K, requires_grad=True)
bd = torch.randn(C, requires_grad=True)


def dwconv():
    # Our layout is [B, T, C]; torch's conv1d wants [B, C, T]: the transposes are part of the peer's cost.
    y = F.conv1d(F.pad(xd.transpose(1, 2), (K - 1, 0)), wd.unsqueeze(1), bd, groups=C).transpose(1, 2)
    y.backward(torch.ones_like(y))


print(json.dumps({
    "subsampling fwd": median_ms(subsampling_forward),
    "subsampling fwd+bwd": median_ms(subsampling),
    "dwconv1d fwd+bwd": median_ms(dwconv),
}))
