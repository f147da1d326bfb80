"""Writes test/fixtures/lstm.json: torch.nn.LSTM and a torch RNN-T predictor, outputs and gradients.

What it is: the ground truth for assembly/transducer/lstm.ts (one layer with a carried (h0, c0) state) and for
src/model/predictor.ts (Embedding -> 1 or 2 LSTM layers -> optional LayerNorm, zero initial state).
Every case's loss is sum(out * G) for a fixed random G; all gradients are of that loss.
Tensors are stored flat, row-major, with torch's own layouts (gates i, f, g, o).
Run: /usr/bin/python3 test/ref/lstm.py   (torch 1.13). The tests never run this script.
"""
import json

import numpy as np
import torch

OUT = "test/fixtures/lstm.json"


def flat(t):
    return [float(repr(np.float32(x))) for x in t.detach().numpy().astype(np.float32).reshape(-1)]


def lstm_case(B, T, In, H, seed):
    torch.manual_seed(seed)
    lstm = torch.nn.LSTM(In, H, num_layers=1, batch_first=True)
    x = torch.randn(B, T, In, requires_grad=True)
    h0 = torch.randn(1, B, H, requires_grad=True)
    c0 = torch.randn(1, B, H, requires_grad=True)
    out, (hn, cn) = lstm(x, (h0, c0))
    G = torch.randn(B, T, H)
    (out * G).sum().backward()
    return {
        "B": B, "T": T, "In": In, "H": H,
        "x": flat(x), "h0": flat(h0), "c0": flat(c0), "G": flat(G),
        "w_ih": flat(lstm.weight_ih_l0), "w_hh": flat(lstm.weight_hh_l0),
        "b_ih": flat(lstm.bias_ih_l0), "b_hh": flat(lstm.bias_hh_l0),
        "out": flat(out), "cn": flat(cn),
        "dx": flat(x.grad), "dh0": flat(h0.grad), "dc0": flat(c0.grad),
        "dw_ih": flat(lstm.weight_ih_l0.grad), "dw_hh": flat(lstm.weight_hh_l0.grad),
        "db_ih": flat(lstm.bias_ih_l0.grad), "db_hh": flat(lstm.bias_hh_l0.grad),
    }


def predictor_case(B, U1, V, E, H, layers, layer_norm, seed):
    torch.manual_seed(seed)
    emb = torch.nn.Embedding(V, E)
    lstm = torch.nn.LSTM(E, H, num_layers=layers, batch_first=True)
    ln = torch.nn.LayerNorm(H) if layer_norm else None
    if ln is not None:  # non-trivial affine parameters
        with torch.no_grad():
            ln.weight.copy_(1 + 0.3 * torch.randn(H))
            ln.bias.copy_(0.3 * torch.randn(H))
    ids = torch.randint(0, V, (B, U1))
    ids[:, 0] = 0  # the blank starts every predictor sequence
    out, _ = lstm(emb(ids))
    if ln is not None:
        out = ln(out)
    G = torch.randn(B, U1, H)
    (out * G).sum().backward()
    params = {"embedding": emb.weight}
    for l in range(layers):
        for n in ["w_ih", "w_hh", "b_ih", "b_hh"]:
            tn = {"w_ih": "weight_ih", "w_hh": "weight_hh", "b_ih": "bias_ih", "b_hh": "bias_hh"}[n]
            params[f"lstm{l}.{n}"] = getattr(lstm, f"{tn}_l{l}")
    if ln is not None:
        params["ln.gamma"] = ln.weight
        params["ln.beta"] = ln.bias
    return {
        "B": B, "U1": U1, "V": V, "E": E, "H": H, "layers": layers, "layer_norm": layer_norm,
        "ids": ids.reshape(-1).tolist(), "G": flat(G), "out": flat(out),
        "params": {k: flat(p) for k, p in params.items()},
        "grads": {k: flat(p.grad) for k, p in params.items()},
    }


def main():
    doc = {
        "magic": "todm-fixture",
        "version": 1,
        "generator": "test/ref/lstm.py",
        "torch": torch.__version__,
        "lstm": [lstm_case(3, 5, 7, 6, 1), lstm_case(1, 1, 3, 5, 2), lstm_case(2, 9, 4, 13, 3)],
        "predictor": [
            predictor_case(2, 4, 11, 8, 6, 2, True, 4),
            predictor_case(3, 5, 7, 5, 9, 1, False, 5),
            predictor_case(1, 3, 5, 4, 3, 2, False, 6),
        ],
    }
    with open(OUT, "w") as f:
        json.dump(doc, f, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
