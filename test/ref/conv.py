"""Writes test/fixtures/conv.json: PyTorch references for conv2d_* and dwconv1d_*.

Usage: /usr/bin/python3 test/ref/conv.py   (torch 1.13; run from the repository root)

Inputs are drawn in float32 (so the engine sees exactly the same values), the references are computed
in float64 from those values. conv2d: F.conv2d after F.pad of the time axis (causal = KT-1 frames on
the left). dwconv1d: F.conv1d with groups=C on [B, C, T] (our layout is [B, T, C]), padding K-1 on the
left (causal) or (K-1)/2 on both sides. Gradients are torch.autograd's for the upstream grad `dout`.
"""
import json
import torch
import torch.nn.functional as F

torch.manual_seed(1234)


def f32(*shape):
    return torch.randn(*shape, dtype=torch.float32).double()


def flat(t):
    # 9 significant digits: exact for the float32 inputs, ~1e-9 relative for the float64 references.
    return [float(f"{v:.9g}") for v in t.detach().reshape(-1).tolist()]


def conv2d_case(name, B, Cin, T, Fr, Cout, KT, KF, ST, SF, pl, pr, bias=True):
    x = f32(B, Cin, T, Fr).requires_grad_()
    w = (f32(Cout, Cin, KT, KF) * 0.5).requires_grad_()
    b = f32(Cout).requires_grad_() if bias else None
    y = F.conv2d(F.pad(x, (0, 0, pl, pr)), w, b, stride=(ST, SF))
    g = f32(*y.shape)
    y.backward(g)
    case = dict(name=name, B=B, Cin=Cin, T=T, F=Fr, Cout=Cout, KT=KT, KF=KF, ST=ST, SF=SF,
                padT_left=pl, padT_right=pr, To=y.shape[2], Fo=y.shape[3],
                inp=flat(x), weight=flat(w), bias=flat(b) if bias else None, dout=flat(g), out=flat(y),
                dinp=flat(x.grad), dweight=flat(w.grad), dbias=flat(b.grad) if bias else None)
    return case


def dwconv1d_case(name, B, T, C, K, causal, bias=True):
    x = f32(B, T, C).requires_grad_()
    w = f32(C, K).requires_grad_()
    b = f32(C).requires_grad_() if bias else None
    pl, pr = (K - 1, 0) if causal else ((K - 1) // 2, (K - 1) // 2)
    xc = F.pad(x.transpose(1, 2), (pl, pr))  # [B, C, T + K - 1]
    y = F.conv1d(xc, w.unsqueeze(1), b, groups=C).transpose(1, 2)  # back to [B, T, C]
    g = f32(*y.shape)
    y.backward(g)
    return dict(name=name, B=B, T=T, C=C, K=K, causal=int(causal),
                inp=flat(x), weight=flat(w), bias=flat(b) if bias else None, dout=flat(g), out=flat(y),
                dinp=flat(x.grad), dweight=flat(w.grad), dbias=flat(b.grad) if bias else None)


def subsampling_case(name, B, T, Fr, C):
    """conv(1->C, 3x3, s2, causal), ReLU, conv(C->C, 3x3, s2, causal), then [B, C, T', F'] -> [B, T', C*F']
    (icefall's Conv2dSubsampling order: x.transpose(1, 2).reshape(B, T', C*F'))."""
    x = f32(B, 1, T, Fr)
    w1 = (f32(C, 1, 3, 3) * 0.5).requires_grad_()
    b1 = f32(C).requires_grad_()
    w2 = (f32(C, C, 3, 3) * 0.3).requires_grad_()
    b2 = f32(C).requires_grad_()
    y1 = F.relu(F.conv2d(F.pad(x, (0, 0, 2, 0)), w1, b1, stride=2))
    y2 = F.conv2d(F.pad(y1, (0, 0, 2, 0)), w2, b2, stride=2)
    y = y2.transpose(1, 2).reshape(B, y2.shape[2], C * y2.shape[3])
    g = f32(*y.shape)
    y.backward(g)
    return dict(name=name, B=B, T=T, F=Fr, C=C, To=y2.shape[2], Fo=y2.shape[3], inp=flat(x),
                w1=flat(w1), b1=flat(b1), w2=flat(w2), b2=flat(b2), dout=flat(g), out=flat(y),
                dw1=flat(w1.grad), db1=flat(b1.grad), dw2=flat(w2.grad), db2=flat(b2.grad))


fixture = {
    "magic": "todm-fixture",
    "version": 1,
    "generator": "test/ref/conv.py",
    "torch": torch.__version__,
    "conv2d": [
        conv2d_case("front conv1, no padding", 2, 1, 11, 13, 3, 3, 3, 2, 2, 0, 0),
        conv2d_case("front conv1, causal", 2, 1, 11, 13, 3, 3, 3, 2, 2, 2, 0),
        conv2d_case("front conv2, causal", 1, 3, 9, 7, 4, 3, 3, 2, 2, 2, 0),
        conv2d_case("front conv2, no padding, no bias", 1, 3, 8, 9, 5, 3, 3, 2, 2, 0, 0, bias=False),
        conv2d_case("stride 1, 2x4 kernel", 1, 2, 6, 9, 3, 2, 4, 1, 1, 1, 0),
    ],
    "subsampling": [subsampling_case("front end, causal", 2, 17, 15, 3)],
    "dwconv1d": [
        dwconv1d_case("K=3 symmetric", 2, 9, 6, 3, False),
        dwconv1d_case("K=5 causal, C=19 (SIMD block + tails)", 1, 7, 19, 5, True),
        dwconv1d_case("K=4 causal", 1, 6, 5, 4, True),
        dwconv1d_case("K=7 symmetric, K > T", 1, 5, 17, 7, False, bias=False),
        dwconv1d_case("K=1", 2, 3, 4, 1, False),
    ],
}

with open("test/fixtures/conv.json", "w") as fh:
    json.dump(fixture, fh, separators=(",", ":"))
    fh.write("\n")
