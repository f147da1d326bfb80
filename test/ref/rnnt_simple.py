"""Writes test/fixtures/rnnt_simple.json: pruned RNN-T's smoothed "simple" loss in float64, from the formulas.

What it is: the ground truth for assembly/transducer/rnnt_simple.ts, written directly from
/work/shared/PAPERS.md ("Pruned RNN-T"): the trivial joiner logits am[t,v] + lm[u,v] materialised as a
T x U x V tensor (small cases only), their log-softmax, the lm-only and am-only log-softmaxes, the mix
(1-l-a)·joint + l·lm-only + a·am-only at the label and at the blank, the RNN-T recursion in a Python loop,
and torch autograd for the gradients (of the SUM of losses) with respect to am, lm and to the per-node
label/blank log-probs (the arc occupations, k2's px_grad/py_grad, taken as d log P).
The am-only term uses k2's unigram LM q (the mean of softmax(lm) over the batch's valid rows u <= U_b, plus
1e-20), differentiated through: am-only log-prob = am[t,v] + log q[v] - log sum_v' exp(am[t,v']) q[v'].
What it is not: k2 itself (not installed here); k2 averages q over padded rows too.

Run: /usr/bin/python3 test/ref/rnnt_simple.py   (torch 1.13, float64)
"""
import json
import random

import numpy as np
import torch

OUT = "test/fixtures/rnnt_simple.json"


def f32_list(a):
    return [float(repr(np.float32(x))) for x in np.asarray(a, dtype=np.float32).reshape(-1)]


def f64_list(a):
    return [float(x) for x in np.asarray(a, dtype=np.float64).reshape(-1)]


def lse(a, b):
    return torch.logaddexp(a, b)


def simple_loss(am, lm, targets, tl, ul, blank, l, a, logq):
    """am [T,V], lm [U1,V] float64 leaves for one utterance; returns (loss, px, py) with px, py leaves."""
    Tb, Ub = tl, ul
    am, lm = am[:Tb], lm[: Ub + 1]
    joint = torch.log_softmax(am[:, None, :] + lm[None, :, :], dim=2)  # [Tb, Ub+1, V]
    lmo = torch.log_softmax(lm, dim=1)[None, :, :]
    amo = (am + logq[None, :] - torch.logsumexp(am + logq[None, :], dim=1, keepdim=True))[:, None, :]
    mix = (1 - l - a) * joint + l * lmo + a * amo
    py = mix[:, :, blank].detach().clone().requires_grad_(True)
    ys = torch.tensor(targets[:Ub] + [0], dtype=torch.long)
    px = torch.gather(mix, 2, ys[None, :, None].expand(Tb, Ub + 1, 1))[:, :, 0].detach().clone().requires_grad_(True)
    # Path through px/py leaves for the occupations, and a second differentiable copy for am/lm gradients.
    def lattice(px, py):
        alpha = [[None] * (Ub + 1) for _ in range(Tb)]
        for t in range(Tb):
            for u in range(Ub + 1):
                if t == 0 and u == 0:
                    alpha[t][u] = torch.zeros((), dtype=torch.float64)
                    continue
                terms = []
                if t > 0:
                    terms.append(alpha[t - 1][u] + py[t - 1, u])
                if u > 0:
                    terms.append(alpha[t][u - 1] + px[t, u - 1])
                alpha[t][u] = terms[0] if len(terms) == 1 else lse(terms[0], terms[1])
        return -(alpha[Tb - 1][Ub] + py[Tb - 1, Ub])
    loss_leaf = lattice(px, py)
    pxg, pyg = torch.autograd.grad(-loss_leaf, [px, py], allow_unused=True)
    loss = lattice(torch.gather(mix, 2, ys[None, :, None].expand(Tb, Ub + 1, 1))[:, :, 0], mix[:, :, blank])
    pxg = torch.zeros_like(px) if pxg is None else pxg.clone()  # None when Ub = 0 (no label arc)
    pxg[:, Ub] = 0  # no label arc at u = Ub
    return loss, pxg, pyg


def make_case(rng, B, T, U, V, scale, blank, l, a, peaked=False):
    tl = [T] + [rng.randint(1, T) for _ in range(B - 1)]
    ul = [U] + [rng.randint(0, U) for _ in range(B - 1)]
    rng.shuffle(tl)
    rng.shuffle(ul)
    targets = [[rng.randrange(V) if u < ul[b] else 0 for u in range(U)] for b in range(B)]
    am = np.float32(np.array([[[rng.uniform(-scale, scale) for _ in range(V)] for _ in range(T)] for _ in range(B)]))
    lm = np.float32(np.array([[[rng.uniform(-scale, scale) for _ in range(V)] for _ in range(U + 1)] for _ in range(B)]))
    if peaked:  # am and lm peaked on different symbols: the GEMM normaliser underflows in f32
        am[:, :, 0] += 60
        lm[:, :, 1 % V] += 60
        am[:, :, 1 % V] -= 60
        lm[:, :, 0] -= 60
    amt = torch.tensor(am, dtype=torch.float64, requires_grad=True)
    lmt = torch.tensor(lm, dtype=torch.float64, requires_grad=True)
    losses, pxs, pys = [], np.zeros((B, T, U + 1)), np.zeros((B, T, U + 1))
    valid = torch.cat([torch.softmax(lmt[b, : ul[b] + 1], dim=1) for b in range(B)], dim=0)
    logq = torch.log(valid.mean(dim=0) + 1e-20)
    for b in range(B):
        loss, pxg, pyg = simple_loss(amt[b], lmt[b], targets[b], tl[b], ul[b], blank, l, a, logq)
        losses.append(loss)
        pxs[b, : tl[b], : ul[b] + 1] = pxg.numpy()
        pys[b, : tl[b], : ul[b] + 1] = pyg.numpy()
    total = torch.stack(losses).sum()
    dam, dlm = torch.autograd.grad(total, [amt, lmt])
    return {
        "B": B, "T": T, "U1": U + 1, "V": V, "blank": blank, "lm_scale": l, "am_scale": a, "scale": scale,
        "targets": [y for row in targets for y in row], "logit_lengths": tl, "target_lengths": ul,
        "am": f32_list(am), "lm": f32_list(lm),
        "losses": f64_list([x.item() for x in losses]), "dam": f64_list(dam), "dlm": f64_list(dlm),
        "px_grad": f64_list(pxs), "py_grad": f64_list(pys),
    }


def main():
    rng = random.Random(16)
    cases = []
    for (B, T, U, V, scale, l, a) in [
        (1, 1, 0, 2, 1.0, 0.0, 0.0), (2, 3, 2, 5, 1.0, 0.0, 0.0), (2, 4, 3, 7, 3.0, 0.25, 0.0),
        (3, 5, 3, 9, 2.0, 0.25, 0.1), (2, 6, 4, 29, 1.0, 0.25, 0.0), (2, 7, 5, 33, 5.0, 0.1, 0.2),
        (2, 4, 2, 4, 1.0, 0.5, 0.5), (1, 8, 6, 12, 2.0, 0.25, 0.0),
    ]:
        cases.append(make_case(rng, B, T, U, V, scale, rng.randrange(V) if V > 4 else 0, l, a))
    cases.append(make_case(rng, 2, 4, 3, 6, 1.0, 0, 0.25, 0.0, peaked=True))
    with open(OUT + ".tmp", "w") as f:
        json.dump({"magic": "todm-fixture", "version": 1, "generator": "test/ref/rnnt_simple.py", "cases": cases}, f)
    import os
    os.replace(OUT + ".tmp", OUT)
    print(f"wrote {OUT}: {len(cases)} cases")


if __name__ == "__main__":
    main()
