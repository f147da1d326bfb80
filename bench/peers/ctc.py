"""Peer timing for bench/ctc.ts: PyTorch's CPU CTC loss forward+backward with its log-softmax, one thread.

Usage: /usr/bin/python3 bench/peers/ctc.py B T U V REPS
Prints one JSON line {"ms": median milliseconds}: F.ctc_loss(F.log_softmax(logits), blank=0,
reduction='sum', zero_infinity=True) on logits [B, T, V] (as [T, B, V]), then backward to the logits.
"""
import json
import sys
import time

import torch
import torch.nn.functional as F

torch.set_num_threads(1)


def median_ms(fn, reps, warmup=2):
    for _ in range(warmup):
        fn()
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        ts.append((time.perf_counter() - t0) * 1e3)
    ts.sort()
    n = len(ts)
    return ts[n // 2] if n % 2 else (ts[n // 2 - 1] + ts[n // 2]) / 2


def main():
    B, T, U, V, reps = (int(x) for x in sys.argv[1:6])
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(B, T, V, generator=g).requires_grad_()
    targets = torch.randint(1, V, (B, U), generator=g, dtype=torch.long)
    il = torch.full((B,), T, dtype=torch.long)
    tl = torch.full((B,), U, dtype=torch.long)

    def step():
        logits.grad = None
        lp = F.log_softmax(logits, dim=-1).transpose(0, 1)
        F.ctc_loss(lp, targets, il, tl, blank=0, reduction="sum", zero_infinity=True).backward()

    print(json.dumps({"ms": median_ms(step, reps)}))


if __name__ == "__main__":
    main()
