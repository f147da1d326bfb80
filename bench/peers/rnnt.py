"""Peer timings for bench/rnnt.ts: torchaudio's CPU rnnt_loss and a PyTorch joiner, one thread.

Usage: /usr/bin/python3 bench/peers/rnnt.py loss B T U V REPS
       /usr/bin/python3 bench/peers/rnnt.py joiner B T U DENC DPRED J V REPS
Prints one JSON line {"ms": median milliseconds of forward+backward}.
loss: torchaudio.functional.rnnt_loss(reduction='sum', clamp=-1, blank=0) then backward (torchaudio
computes the gradient inside the forward; backward only scales it).
joiner: Linear(DENC->J) on enc, Linear(DPRED->J) on pred, broadcast add, tanh, Linear(J->V), then
backward of sum(logits * G) for a fixed random G, as a training step would.
"""
import json
import sys
import time

import torch

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


def bench_loss(B, T, U, V, reps):
    import torchaudio.functional as F

    g = torch.Generator().manual_seed(0)
    logits = torch.randn(B, T, U + 1, V, generator=g).requires_grad_()
    targets = torch.randint(1, V, (B, U), generator=g, dtype=torch.int32)
    tl = torch.full((B,), T, dtype=torch.int32)
    ul = torch.full((B,), U, dtype=torch.int32)

    def step():
        logits.grad = None
        loss = F.rnnt_loss(logits, targets, tl, ul, blank=0, clamp=-1, reduction="sum")
        loss.backward()

    return median_ms(step, reps)


def bench_joiner(B, T, U, Denc, Dpred, J, V, reps):
    g = torch.Generator().manual_seed(0)
    enc = torch.randn(B, T, Denc, generator=g).requires_grad_()
    pred = torch.randn(B, U + 1, Dpred, generator=g).requires_grad_()
    lin_e, lin_p, lin_o = torch.nn.Linear(Denc, J), torch.nn.Linear(Dpred, J), torch.nn.Linear(J, V)
    G = torch.randn(B, T, U + 1, V, generator=g)

    def step():
        for p in [enc, pred, *lin_e.parameters(), *lin_p.parameters(), *lin_o.parameters()]:
            p.grad = None
        h = torch.tanh(lin_e(enc).unsqueeze(2) + lin_p(pred).unsqueeze(1))
        logits = lin_o(h)
        logits.backward(G)

    return median_ms(step, reps)


if __name__ == "__main__":
    kind, *a = sys.argv[1:]
    a = [int(x) for x in a]
    ms = bench_loss(*a) if kind == "loss" else bench_joiner(*a)
    print(json.dumps({"ms": ms, "torch": torch.__version__, "threads": torch.get_num_threads()}))
