"""Writes test/fixtures/alpha_div.json: AlphaNet's adaptive alpha-divergence over RNN-T lattices.

What it is: the ground truth for assembly/transducer/kd.ts. Per lattice node, AlphaNet's f-divergence between
the teacher p and the student q (facebookresearch/AlphaNet loss_ops.py, f_divergence: w = p/q, w^alpha
clipped at `clip`, alpha ~ 1 the unclipped KL limit, alpha ~ 0 the log limit with w clipped), averaged
over each utterance's valid nodes (t < T_b, u <= U_b); per utterance the larger of D(alpha-) and
D(alpha+) (AdaptiveLossSoft: alpha- wins only when strictly larger). The gradient stored is autograd
through AlphaNet's stop-gradient surrogate -sum_i sg(q_i) sg(rho_i) log q_i of the chosen alpha,
weighted by scale_b / |N_b| and summed over utterances: NOT the exact derivative where clipping is on.
Everything is float64 from the float32 inputs stored in the fixture. Cases are redrawn until each
utterance's two divergences differ by a clear margin, so float32 cannot flip the branch.
What it is not: a speed test (bench/peers/kd.py). The tests never run this script.

Run: /usr/bin/python3 test/ref/alpha_div.py   (torch 1.13)
"""
import json
import random

import numpy as np
import torch

OUT = "test/fixtures/alpha_div.json"


def f32_list(a):
    return [float(repr(np.float32(x))) for x in np.asarray(a, dtype=np.float32).reshape(-1)]


def node_divergence(z, lp, alpha, clip):
    """Per row of z [N, V] (student logits, float64, requires grad) and lp [N, V] (teacher log-probs):
    (the clipped divergence, the surrogate whose gradient AlphaNet back-propagates, clip-active count)."""
    log_q = torch.log_softmax(z, dim=-1)  # the only path the gradient takes
    q = log_q.exp().detach()
    p = torch.softmax(lp, dim=-1)  # AlphaNet applies softmax to the teacher's logits; lp are log-probs
    w = p / q
    if abs(alpha) < 1e-3:
        w_c = w.clamp(0, clip)
        active = int((w > clip).sum())
        div = (q * -w_c.log()).sum(-1)
        rho = w_c.log() - 1.0
    elif abs(alpha - 1.0) < 1e-3:
        active = 0
        div = (q * w * w.log()).sum(-1)
        rho = w
    else:
        wa = w.pow(alpha)
        active = int((wa > clip).sum())
        wa_c = wa.clamp(0, clip)
        k = 1.0 / (alpha * (alpha - 1.0))
        div = (q * (wa_c * k - k)).sum(-1)
        rho = wa_c / alpha + k
    surrogate = -(q * rho * log_q).sum(-1)
    return div, surrogate, active


def make_case(name, seed, B, T, U1, V, tlens, ulens, scales, alpha_neg, alpha_pos, clip, s_scale, t_scale):
    for attempt in range(1000):
        rng = np.random.default_rng(seed * 1000 + attempt)
        student = (rng.standard_normal((B, T, U1, V)) * s_scale).astype(np.float32)
        t_logits = rng.standard_normal((B, T, U1, V)) * t_scale
        teacher = torch.log_softmax(torch.tensor(t_logits), dim=-1).numpy().astype(np.float32)
        z = torch.tensor(student, dtype=torch.float64, requires_grad=True)
        lp_all = torch.tensor(teacher, dtype=torch.float64)
        total = torch.zeros((), dtype=torch.float64)
        info = []
        ok = True
        for b in range(B):
            zb = z[b, : tlens[b], : ulens[b] + 1].reshape(-1, V)
            lpb = lp_all[b, : tlens[b], : ulens[b] + 1].reshape(-1, V)
            if zb.shape[0] == 0:
                info.append({"dneg": 0.0, "dpos": 0.0, "chosen": "pos", "clip_active": 0})
                continue
            dn, sn, an = node_divergence(zb, lpb, alpha_neg, clip)
            dp, sp, ap = node_divergence(zb, lpb, alpha_pos, clip)
            dn, dp = float(dn.mean()), float(dp.mean())
            use_neg = dn > dp
            if alpha_neg != alpha_pos and abs(dn - dp) < 1e-3 * max(1.0, abs(dn), abs(dp)):
                ok = False  # too close to call in float32: redraw
            total = total + scales[b] * (sn if use_neg else sp).mean()
            info.append({"dneg": dn, "dpos": dp, "chosen": "neg" if use_neg else "pos", "clip_active": an if use_neg else ap})
        if ok:
            break
    else:
        raise RuntimeError(f"{name}: no draw with clear branch margins")
    total.backward()
    losses = [i["dneg"] if i["chosen"] == "neg" else i["dpos"] for i in info]
    return {
        "name": name,
        "dims": {"B": B, "T": T, "U1": U1, "V": V},
        "alpha_neg": alpha_neg,
        "alpha_pos": alpha_pos,
        "clip": clip,
        "tlens": tlens,
        "ulens": ulens,
        "scales": scales,
        "student": f32_list(student),
        "teacher": f32_list(teacher),
        "losses": losses,
        "utterances": info,
        "grad": [float(x) for x in z.grad.numpy().reshape(-1)],
    }


def main():
    torch.manual_seed(0)
    random.seed(0)
    cases = [
        # name, seed, B, T, U1, V, tlens, ulens, scales, alpha-, alpha+, clip, student scale, teacher scale
        make_case("default V=5", 1, 3, 4, 3, 5, [4, 2, 3], [2, 0, 1], [1.0, 0.5, 2.0], -1.0, 1.0, 5.0, 2.0, 2.0),
        make_case("default V=29", 2, 3, 3, 4, 29, [3, 1, 2], [1, 3, 0], [1.0, 1.0, 0.25], -1.0, 1.0, 5.0, 0.7, 1.0),
        make_case("default V=29 sharp teacher", 8, 2, 3, 2, 29, [2, 3], [1, 1], [1.0, 0.5], -1.0, 1.0, 5.0, 1.5, 3.0),
        make_case("default V=33 sharp student", 3, 2, 2, 3, 33, [2, 1], [2, 1], [0.7, 1.3], -1.0, 1.0, 5.0, 4.0, 1.0),
        make_case("V=2", 4, 3, 3, 2, 2, [3, 2, 1], [1, 0, 1], [1.0, 2.0, 1.0], -1.0, 1.0, 5.0, 2.0, 2.0),
        make_case("alpha 0 and 1", 5, 3, 3, 3, 7, [3, 2, 3], [2, 1, 0], [1.0, 1.0, 1.0], 0.0, 1.0, 5.0, 2.0, 2.0),
        make_case("alpha -2 and 0.5", 6, 3, 3, 3, 13, [3, 3, 1], [2, 0, 2], [1.0, 0.5, 1.5], -2.0, 0.5, 5.0, 1.5, 1.5),
        make_case("plain KL", 7, 3, 3, 3, 6, [3, 1, 2], [2, 2, 0], [1.0, 1.0, 3.0], 1.0, 1.0, 5.0, 2.0, 2.0),
    ]
    chosen = [u["chosen"] for c in cases if c["alpha_neg"] != c["alpha_pos"] for u in c["utterances"]]
    clipped = sum(u["clip_active"] for c in cases for u in c["utterances"])
    assert "neg" in chosen and "pos" in chosen, "both branches must be exercised"
    assert clipped > 0, "some clipping must be active in a chosen branch"
    fixture = {
        "magic": "todm-fixture",
        "version": 1,
        "generator": "test/ref/alpha_div.py",
        "torch": torch.__version__,
        "cases": cases,
    }
    with open(OUT, "w") as f:
        json.dump(fixture, f, separators=(",", ":"))
    for c in cases:
        print(c["name"], [(round(u["dneg"], 4), round(u["dpos"], 4), u["chosen"], u["clip_active"]) for u in c["utterances"]])


if __name__ == "__main__":
    main()
