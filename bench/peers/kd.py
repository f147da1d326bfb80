"""Peer timing for bench/kd.ts: AlphaNet's adaptive alpha-divergence KD in PyTorch, one thread.

Usage: /usr/bin/python3 bench/peers/kd.py B T U1 V REPS
Prints one JSON line {"ms": median milliseconds of forward+backward}.
What it times: from student logits and teacher logits [B,T,U1,V] (every lattice node valid), AlphaNet's
f_divergence (facebookresearch/AlphaNet loss_ops.py: softmax of both, w = p/q, w^alpha clipped at 5,
alpha = 1 the KL limit) for alpha- = -1 and alpha+ = 1, the per-utterance mean over nodes, the larger
of the two per utterance, and the backward of the chosen surrogate -sum sg(q rho) log q into the
student logits: the same work as todm's log_softmax_forward (teacher) + kd_alpha_forward_backward.
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


def divergence(z, t, alpha, clip):
    """Per node: (the clipped divergence, AlphaNet's surrogate) for student logits z, teacher logits t."""
    log_q = torch.log_softmax(z, dim=-1)
    q = log_q.exp().detach()
    p = torch.softmax(t, dim=-1)
    w = p / q
    if abs(alpha - 1.0) < 1e-3:
        div, rho = (q * w * w.log()).sum(-1), w
    else:
        k = 1.0 / (alpha * (alpha - 1.0))
        wa = w.pow(alpha).clamp(0, clip)
        div, rho = (q * (wa * k - k)).sum(-1), wa / alpha + k
    return div, -(q * rho * log_q).sum(-1)


def main():
    B, T, U1, V, reps = (int(x) for x in sys.argv[1:])
    g = torch.Generator().manual_seed(0)
    z = torch.randn(B, T, U1, V, generator=g).requires_grad_()
    t = torch.randn(B, T, U1, V, generator=g) * 1.5
    scales = torch.ones(B)

    def step():
        z.grad = None
        dn, sn = divergence(z, t, -1.0, 5.0)
        dp, sp = divergence(z, t, 1.0, 5.0)
        use_neg = (dn.mean((1, 2)) > dp.mean((1, 2))).to(z.dtype)
        surrogate = use_neg * sn.mean((1, 2)) + (1 - use_neg) * sp.mean((1, 2))
        (scales * surrogate).sum().backward()

    print(json.dumps({"ms": median_ms(step, reps), "torch": torch.__version__, "threads": torch.get_num_threads()}))


if __name__ == "__main__":
    main()
