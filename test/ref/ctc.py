"""Writes test/fixtures/ctc.json: PyTorch's CTC loss and its logits gradient on small awkward cases.

What it is: the ground truth for assembly/transducer/ctc.ts, made with
F.ctc_loss(log_softmax(logits), targets, input_lengths, target_lengths, blank=0, reduction='none',
zero_infinity=True) on CPU in float64 (then stored as float32 values), and the gradient of the SUM
of the per-utterance losses with respect to the raw logits [B, T, V]. What it is not: a speed test.
The tests never run this script.

Run: /usr/bin/python3 test/ref/ctc.py   (torch 1.13)

Cases: B 1..3, T 1..13, V 3..11, repeated labels (a a, a a a), U = 0, frames t >= T_b (padding),
an infeasible utterance (T_b < U_b + repeats: loss 0, gradient 0), logits of magnitude up to 8.
"""
import json
import random

import numpy as np
import torch
import torch.nn.functional as F

OUT = "test/fixtures/ctc.json"


def f32_list(a):
    return [float(repr(np.float32(x))) for x in np.asarray(a, dtype=np.float32).reshape(-1)]


def make_case(rng, name, T, V, utts, scale):
    """utts: list of (T_b, labels)."""
    B = len(utts)
    U = max(1, max(len(y) for _, y in utts))
    targets = [y + [0] * (U - len(y)) for _, y in utts]
    input_lengths = [tb for tb, _ in utts]
    target_lengths = [len(y) for _, y in utts]
    logits = np.array([rng.uniform(-1, 1) * scale for _ in range(B * T * V)], dtype=np.float32).reshape(B, T, V)
    z = torch.tensor(logits.astype(np.float64), requires_grad=True)
    lp = F.log_softmax(z, dim=-1).transpose(0, 1)  # [T, B, V]
    losses = F.ctc_loss(lp, torch.tensor(targets, dtype=torch.long), torch.tensor(input_lengths, dtype=torch.long),
                        torch.tensor(target_lengths, dtype=torch.long), blank=0, reduction="none", zero_infinity=True)
    losses.sum().backward()
    return {
        "name": name, "shape": [B, T, V], "U": U,
        "targets": [x for row in targets for x in row],
        "input_lengths": input_lengths, "target_lengths": target_lengths,
        "logits": f32_list(logits), "losses": f32_list(losses.detach().numpy()), "grad": f32_list(z.grad.numpy()),
    }


def main():
    rng = random.Random(20261126)
    cases = [
        make_case(rng, "B1 T1 V3 one label", 1, 3, [(1, [2])], 1.0),
        make_case(rng, "B1 T5 V3 U=0", 5, 3, [(5, [])], 1.0),
        make_case(rng, "B2 T7 V5 repeats and padding", 7, 5, [(7, [1, 1, 2]), (4, [3, 3])], 2.0),
        make_case(rng, "B3 T13 V11 mixed", 13, 11, [(13, [1, 4, 4, 7, 2, 9]), (9, [10]), (11, [5, 5, 5, 3])], 3.0),
        make_case(rng, "B3 T6 V7 infeasible middle", 6, 7, [(6, [1, 2, 3]), (3, [4, 4, 4]), (5, [])], 1.5),
        make_case(rng, "B2 T8 V4 exactly tight", 8, 4, [(5, [1, 1, 1]), (8, [3, 2, 3, 2, 3, 2, 3, 2])], 1.0),
        make_case(rng, "B1 T12 V9 large logits", 12, 9, [(12, [8, 1, 8, 1, 6])], 8.0),
    ]
    out = {"magic": "todm-fixture", "version": 1, "generator": "test/ref/ctc.py", "torch": torch.__version__, "cases": cases}
    with open(OUT, "w") as f:
        json.dump(out, f, separators=(",", ":"))
    for c in cases:
        print(c["name"], c["losses"])


if __name__ == "__main__":
    main()
