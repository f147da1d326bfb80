"""Writes test/fixtures/linear.json: torch.nn.Linear applied with a leading slice of a bigger layer.

A Supernet subnet uses weight[:OC, :C] and bias[:OC] of a layer built as nn.Linear(C_max, OC_max).
For each case this script draws the input x [BT, C] and an output gradient g [BT, OC], runs
F.linear(x, W[:OC, :C], b[:OC]) in float64 on the float32 values, and back-propagates g, giving
out, dinp, dweight (OC x C) and dbias (OC). The full weight is stored so the test can pass the
row stride ldw = C_max. Inputs are multiples of 1/256 (exact in f32, short in JSON).

Usage: /usr/bin/python3 test/ref/linear.py   (torch 1.13; deterministic; no arguments)
"""
import json
import os

import torch
import torch.nn.functional as F

CASES = [
    # name, BT, C, OC, C_max, OC_max, bias
    ("tiny_bias", 5, 7, 3, 9, 4, True),
    ("slice_nobias", 13, 37, 19, 40, 24, False),
    ("slice_bias", 9, 33, 17, 40, 20, True),
]


def grid(*shape, gen):
    """Values k/256, k uniform in [-256, 256]: exact in f32."""
    return torch.randint(-256, 257, shape, generator=gen, dtype=torch.int64).double() / 256


def f9(t):
    return [float("%.9g" % v) for v in t.reshape(-1).tolist()]


def main():
    gen = torch.Generator().manual_seed(1234)
    cases = []
    for name, BT, C, OC, Cmax, OCmax, has_bias in CASES:
        layer = torch.nn.Linear(Cmax, OCmax, bias=has_bias).double()
        with torch.no_grad():  # replace the random init by exact grid values
            layer.weight.copy_(grid(OCmax, Cmax, gen=gen))
            if has_bias:
                layer.bias.copy_(grid(OCmax, gen=gen))
        x = grid(BT, C, gen=gen).requires_grad_(True)
        g = grid(BT, OC, gen=gen)
        w = layer.weight[:OC, :C]
        b = layer.bias[:OC] if has_bias else None
        out = F.linear(x, w, b)
        out.backward(g)
        cases.append({
            "name": name, "BT": BT, "C": C, "OC": OC, "C_max": Cmax, "OC_max": OCmax,
            "weight_full": f9(layer.weight.detach()),
            "bias_full": f9(layer.bias.detach()) if has_bias else None,
            "inp": f9(x.detach()), "dout": f9(g),
            "out": f9(out.detach()), "dinp": f9(x.grad),
            "dweight": f9(layer.weight.grad[:OC, :C]),
            "dbias": f9(layer.bias.grad[:OC]) if has_bias else None,
        })
    doc = {
        "magic": "todm-fixture", "version": 1, "generator": "test/ref/linear.py",
        "torch": torch.__version__, "cases": cases,
    }
    path = os.path.join(os.path.dirname(__file__), "..", "fixtures", "linear.json")
    with open(path, "w") as f:
        json.dump(doc, f, separators=(",", ":"))
        f.write("\n")
    print("wrote", os.path.normpath(path), os.path.getsize(path), "bytes")


if __name__ == "__main__":
    main()
