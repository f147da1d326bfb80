"""Writes test/fixtures/rnnt.json: torchaudio's RNN-T loss and its gradient on random cases.

What it is: the ground truth for assembly/transducer/rnnt.ts, made with torchaudio.functional.rnnt_loss
(reduction='none', clamp=-1, fused_log_softmax=True) on CPU, float32. The gradient stored is the
gradient of the SUM of the per-utterance losses with respect to the raw logits.
What it is not: a speed test (see bench/peers/rnnt.py). The tests never run this script.

Run: /usr/bin/python3 test/ref/rnnt.py   (torch 1.13, torchaudio 0.13)

torchaudio requires logits.size(1) == max(logit_lengths) and logits.size(2) == max(target_lengths) + 1,
so each case's padded shape is exactly its longest utterance; the other utterances are shorter.
Cases cover U = 0, T = 1, logits of magnitude 30, several blank indices and V = 2.
"""
import json
import random

import numpy as np
import torch
import torchaudio
import torchaudio.functional as F

OUT = "test/fixtures/rnnt.json"


def f32_list(a):
    # Shortest decimal that round-trips each float32 (numpy's repr of a float32 scalar).
    return [float(repr(np.float32(x))) for x in np.asarray(a, dtype=np.float32).reshape(-1)]


def make_case(rng, B, T, U, V, scale, blank, full_lengths=False):
    # Per-utterance lengths: the first utterance takes the full padded shape (torchaudio's rule),
    # the others are drawn at random (possibly shorter, possibly U = 0).
    logit_lengths = [T] + [T if full_lengths else rng.randint(1, T) for _ in range(B - 1)]
    target_lengths = [U] + [U if full_lengths else rng.randint(0, U) for _ in range(B - 1)]
    order = list(range(B))
    rng.shuffle(order)
    logit_lengths = [logit_lengths[i] for i in order]
    target_lengths = [target_lengths[i] for i in order]
    non_blank = [k for k in range(V) if k != blank]
    targets = [[rng.choice(non_blank) if u < target_lengths[b] else 0 for u in range(U)] for b in range(B)]
    logits = (np.array([rng.uniform(-1, 1) for _ in range(B * T * (U + 1) * V)]) * scale).astype(np.float32)
    z = torch.tensor(logits.reshape(B, T, U + 1, V), requires_grad=True)
    losses = F.rnnt_loss(
        z,
        torch.tensor(targets, dtype=torch.int32).reshape(B, U),
        torch.tensor(logit_lengths, dtype=torch.int32),
        torch.tensor(target_lengths, dtype=torch.int32),
        blank=blank,
        clamp=-1,
        reduction="none",
    )
    losses.sum().backward()
    return {
        "shape": [B, T, U + 1, V],
        "blank": blank,
        "scale": scale,
        "targets": [x for row in targets for x in row],
        "logit_lengths": logit_lengths,
        "target_lengths": target_lengths,
        "logits": f32_list(logits),
        "losses": f32_list(losses.detach().numpy()),
        "grad": f32_list(z.grad.numpy()),
    }


def main():
    rng = random.Random(20261126)
    torch.manual_seed(0)
    cases = []
    # Named edge cases first.
    cases.append(make_case(rng, 1, 1, 0, 5, 1.0, 0))  # T = 1, U = 0: one blank arc
    cases.append(make_case(rng, 2, 1, 0, 2, 1.0, 1))  # V = 2, blank last
    cases.append(make_case(rng, 3, 1, 3, 6, 1.0, 0))  # T = 1 with labels: all labels emitted at t = 0
    cases.append(make_case(rng, 2, 4, 0, 7, 1.0, 3))  # U = 0, blank in the middle
    cases.append(make_case(rng, 2, 5, 3, 9, 30.0, 0))  # magnitude 30
    cases.append(make_case(rng, 3, 6, 4, 11, 30.0, 10))  # magnitude 30, blank last
    cases.append(make_case(rng, 1, 13, 7, 29, 5.0, 0, full_lengths=True))  # longer lattice
    cases.append(make_case(rng, 1, 16, 6, 33, 2.0, 0, full_lengths=True))  # V not a multiple of 4
    # Random cases.
    while len(cases) < 64:
        B = rng.randint(1, 4)
        T = rng.randint(1, 8)
        U = rng.randint(0, 5)
        V = rng.randint(2, 13)
        scale = rng.choice([0.5, 1.0, 3.0, 10.0, 30.0])
        blank = rng.choice([0, V - 1, rng.randint(0, V - 1)])
        cases.append(make_case(rng, B, T, U, V, scale, blank))
    doc = {
        "magic": "todm-fixture",
        "version": 1,
        "generator": "test/ref/rnnt.py",
        "torch": torch.__version__,
        "torchaudio": torchaudio.__version__,
        "what": "torchaudio.functional.rnnt_loss(reduction='none', clamp=-1); grad of sum(losses) w.r.t. logits",
        "cases": cases,
    }
    with open(OUT, "w") as f:
        json.dump(doc, f, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {OUT}: {len(cases)} cases")


if __name__ == "__main__":
    main()
