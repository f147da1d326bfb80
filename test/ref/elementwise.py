"""Writes test/fixtures/elementwise.json: PyTorch 1.13 forwards and autograd gradients for the
activations, norms and softmaxes of assembly/{activation,gelu,norm,rmsnorm,softmax}.ts.

Run with Debian's torch:  /usr/bin/python3 test/ref/elementwise.py
Every case holds its inputs, an upstream gradient `dout`, torch's output and torch's gradients
(pointwise cases also in float64 on the same inputs: y64, dx64),
all float32 values (written as the shortest decimals that round back to the same f32). RMSNorm is written here (torch 1.13 has no
nn.RMSNorm): y = x * rsqrt(mean(x^2) + eps) * weight.
"""
import json
import os

import torch

torch.manual_seed(20261126)
torch.set_num_threads(1)
OUT = os.path.join(os.path.dirname(__file__), "..", "fixtures", "elementwise.json")


def leaf(t):
    return t.detach().clone().float().requires_grad_(True)


def flat(t):
    # The shortest decimal that rounds back to the same f32 (Math.fround in the tests restores it).
    return [float(str(v)) for v in t.detach().reshape(-1).numpy().astype("float32")]


def f64(t):
    # 10 significant digits: far below the tests' float64 tolerances (rtol 2e-5, atol 1e-14).
    return [float("%.10g" % v) for v in t.detach().reshape(-1).tolist()]


def pointwise(name, fn, x):
    x = leaf(x)
    y = fn(x)
    dout = torch.randn_like(y)
    y.backward(dout)
    # The same function in float64 on the same f32 inputs: torch's own f32 kernels are not exact
    # (its f32 gelu uses an erf with ~1e-7 absolute error; the tanh form cancels in 1 + tanh(u)).
    x64 = x.detach().double().requires_grad_(True)
    y64 = fn(x64)
    y64.backward(dout.double())
    return {"op": name, "n": x.numel(), "x": flat(x), "dout": flat(dout), "y": flat(y), "dx": flat(x.grad),
            "y64": f64(y64), "dx64": f64(x64.grad)}


def main():
    cases = []
    # Activations: a spread of values, including the tails where saturation matters.
    x = torch.cat([torch.linspace(-10, 10, 41), torch.randn(40) * 3, torch.tensor([-30.0, -15.0, 15.0, 30.0])])
    x = x[(x.abs() > 1e-3)]  # relu's kink is tested separately
    cases.append(pointwise("gelu", lambda t: torch.nn.functional.gelu(t), x))
    cases.append(pointwise("gelu_tanh", lambda t: torch.nn.functional.gelu(t, approximate="tanh"), x))
    cases.append(pointwise("silu", torch.nn.functional.silu, x))
    cases.append(pointwise("sigmoid", torch.sigmoid, x))
    cases.append(pointwise("tanh", torch.tanh, x))
    cases.append(pointwise("relu", torch.relu, x))
    cases.append(pointwise("exp", torch.exp, x.clamp(max=20)))

    # LayerNorm, with and without the affine part; rows offset from 0 to exercise the centring.
    for R, C, affine in [(5, 13, True), (3, 7, False), (2, 64, True)]:
        x = leaf(torch.randn(R, C) * 2 + torch.randn(R, 1) * 5)
        w = leaf(torch.randn(C) * 0.5 + 1) if affine else None
        b = leaf(torch.randn(C) * 0.5) if affine else None
        eps = 1e-5
        y = torch.nn.functional.layer_norm(x, (C,), w, b, eps)
        mean = x.mean(-1)
        rstd = torch.rsqrt(x.var(-1, unbiased=False) + eps)
        dout = torch.randn_like(y)
        y.backward(dout)
        case = {"op": "layernorm", "R": R, "C": C, "eps": eps, "x": flat(x), "dout": flat(dout), "y": flat(y),
                "mean": flat(mean), "rstd": flat(rstd), "dx": flat(x.grad)}
        if affine:
            case.update({"weight": flat(w), "bias": flat(b), "dweight": flat(w.grad), "dbias": flat(b.grad)})
        cases.append(case)

    for R, C, affine in [(5, 13, True), (3, 7, False), (2, 64, True)]:
        x = leaf(torch.randn(R, C) * 2)
        w = leaf(torch.randn(C) * 0.5 + 1) if affine else None
        eps = 1e-6
        rstd = torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps)
        y = x * rstd * (w if affine else 1)
        dout = torch.randn_like(y)
        y.backward(dout)
        case = {"op": "rmsnorm", "R": R, "C": C, "eps": eps, "x": flat(x), "dout": flat(dout), "y": flat(y),
                "rstd": flat(rstd), "dx": flat(x.grad)}
        if affine:
            case.update({"weight": flat(w), "dweight": flat(w.grad)})
        cases.append(case)

    # Softmaxes: moderate rows, and rows of logits up to +-80 (exp(80) overflows a naive f32 softmax).
    for R, C, scale in [(4, 17, 3.0), (3, 9, 80.0), (2, 37, 40.0)]:
        x = torch.randn(R, C)
        x = x / x.abs().max() * scale
        for name, fn in [("softmax", torch.softmax), ("log_softmax", torch.log_softmax)]:
            xl = leaf(x)
            y = fn(xl, -1)
            dout = torch.randn_like(y)
            y.backward(dout)
            cases.append({"op": name, "R": R, "C": C, "x": flat(xl), "dout": flat(dout), "y": flat(y), "dx": flat(xl.grad)})

    doc = {"magic": "todm-fixture", "version": 1, "generator": "test/ref/elementwise.py",
           "torch": torch.__version__, "cases": cases}
    with open(OUT, "w") as f:
        json.dump(doc, f, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {OUT}: {len(cases)} cases")


if __name__ == "__main__":
    main()
