"""Writes test/fixtures/joiner.json: a torch RNN-T joiner's logits and gradients on random inputs.

What it is: the ground truth for assembly/transducer/joiner.ts / src/model/joiner.ts: Linear(Denc->J) on enc [B,T,Denc],
Linear(Dpred->J) on pred [B,U+1,Dpred], broadcast add, tanh, Linear(J->V); loss sum(logits * G).
Parameters are stored in the order of src/model/joiner.ts joinerParams (torch Linear layouts).
Run: /usr/bin/python3 test/ref/joiner.py   (torch 1.13). The tests never run this script.
"""
import json

import numpy as np
import torch

OUT = "test/fixtures/joiner.json"


def flat(t):
    return [float(repr(np.float32(x))) for x in t.detach().numpy().astype(np.float32).reshape(-1)]


def case(B, T, U1, Denc, Dpred, J, V, seed):
    torch.manual_seed(seed)
    lin_e, lin_p, lin_o = torch.nn.Linear(Denc, J), torch.nn.Linear(Dpred, J), torch.nn.Linear(J, V)
    enc = torch.randn(B, T, Denc, requires_grad=True)
    pred = torch.randn(B, U1, Dpred, requires_grad=True)
    logits = lin_o(torch.tanh(lin_e(enc).unsqueeze(2) + lin_p(pred).unsqueeze(1)))
    G = torch.randn(B, T, U1, V)
    (logits * G).sum().backward()
    params = [("enc.weight", lin_e.weight), ("enc.bias", lin_e.bias), ("pred.weight", lin_p.weight),
              ("pred.bias", lin_p.bias), ("out.weight", lin_o.weight), ("out.bias", lin_o.bias)]
    return {
        "B": B, "T": T, "U1": U1, "Denc": Denc, "Dpred": Dpred, "J": J, "V": V,
        "enc": flat(enc), "pred": flat(pred), "G": flat(G), "logits": flat(logits),
        "params": {k: flat(p) for k, p in params}, "grads": {k: flat(p.grad) for k, p in params},
        "denc": flat(enc.grad), "dpred": flat(pred.grad),
    }


def main():
    doc = {
        "magic": "todm-fixture", "version": 1, "generator": "test/ref/joiner.py", "torch": torch.__version__,
        "cases": [case(2, 3, 4, 5, 6, 7, 9, 1), case(1, 1, 1, 3, 2, 4, 5, 2), case(3, 5, 2, 8, 8, 16, 12, 3)],
    }
    with open(OUT, "w") as f:
        json.dump(doc, f, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
