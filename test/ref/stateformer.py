"""Writes test/fixtures/stateformer.json: one Stateformer block (with and without the convolution module) (src/model/encoder.ts) in PyTorch, float64,
its output and autograd gradients, for the Supernet and for a subnet that uses leading slices.

Usage (Debian's torch): /usr/bin/python3 test/ref/stateformer.py

The block: x += 1/2 FF1(LN x); x += Out(MHSSM(In(LN x))); x += 1/2 FF2(LN x); y = LN x, with
FF(z) = W2 SiLU(W1 z + b1) + b2. The MH-SSM is computed through its convolution view (an FFT), as in
test/ref/mhssm.py, not through the recurrence the engine runs. Parameter names are the engine's.
"""
import json
import math

import torch
import torch.nn.functional as F

torch.manual_seed(7)
torch.set_num_threads(1)
f64 = torch.float64


def head_ranges(heads, dt_min=1e-3, dt_max=1e-1):
    lo, hi = math.log(dt_min), math.log(dt_max)
    step = (hi - lo) / heads
    return [(hi - (h + 1) * step, hi - h * step) for h in range(heads)]


def ssm_direction(u, s, c_re, c_im, d, lo, hi, a):
    """One causal S4D direction on u [T, C] through its convolution kernel (FFT)."""
    T = u.shape[0]
    dt = torch.exp(lo + (hi - lo) * torch.sigmoid(s))
    dtA = a[None, :] * dt[:, None]
    dB = (torch.exp(dtA) - 1) / a[None, :]
    Cc = torch.complex(c_re, c_im) * dB
    vander = torch.exp(dtA[:, :, None] * torch.arange(T, dtype=f64))
    k = 2 * torch.einsum("cn,cnl->cl", Cc, vander).real
    y = torch.fft.irfft(torch.fft.rfft(u.T, n=2 * T) * torch.fft.rfft(k, n=2 * T), n=2 * T)[:, :T]
    return y.T + d * u


def block(p, x, lens, cfg, sub):
    d, P = cfg["dModel"], cfg["dModel"] // cfg["heads"]
    ff, C = sub["ffDim"], sub["heads"] * P
    g = lambda n: p["encoder.blocks.0." + n]

    def feed_forward(m, z):
        z = F.layer_norm(z, (d,), g(m + ".norm.weight"), g(m + ".norm.bias"), 1e-5)
        h = F.silu(z @ g(m + ".w1.weight")[:ff].T + g(m + ".w1.bias")[:ff])
        return h @ g(m + ".w2.weight")[:, :ff].T + g(m + ".w2.bias")

    x = x + 0.5 * feed_forward("ff1", x)
    z = F.layer_norm(x, (d,), g("ssm.norm.weight"), g("ssm.norm.bias"), 1e-5)
    u = z @ g("ssm.in.weight")[:C].T + g("ssm.in.bias")[:C]
    a = torch.complex(g("ssm.a_re"), g("ssm.a_im"))
    lo, hi = g("ssm.log_dt_min")[:C], g("ssm.log_dt_max")[:C]
    B, T = x.shape[:2]
    rows = []
    for b in range(B):
        n = lens[b]
        ub = u[b, :n]
        par = lambda dr: [g(f"ssm.{dr}.s")[:C], g(f"ssm.{dr}.c_re")[:C], g(f"ssm.{dr}.c_im")[:C], g(f"ssm.{dr}.d")[:C]]
        y = ssm_direction(ub, *par("fwd"), lo, hi, a)
        if not cfg["causal"]:
            y = y + ssm_direction(ub.flip(0), *par("bwd"), lo, hi, a).flip(0)
        rows.append(torch.cat([y, torch.zeros(T - n, C, dtype=f64)], 0))
    y = torch.stack(rows)
    pairs = y.reshape(B, T, C // (2 * P), 2, P)
    ya, yg = pairs[:, :, :, 0], pairs[:, :, :, 1]
    o = torch.stack([ya * torch.sigmoid(yg), yg * torch.sigmoid(ya)], 3).reshape(B, T, C)
    x = x + o @ g("ssm.out.weight")[:, :C].T + g("ssm.out.bias")
    K = cfg.get("convKernel", 0)
    if K:
        z = F.layer_norm(x, (d,), g("conv.norm.weight"), g("conv.norm.bias"), 1e-5)
        a = z @ g("conv.pw1.weight").T + g("conv.pw1.bias")
        h = F.glu(a, dim=-1)
        mask = (torch.arange(T)[None, :] < torch.tensor(lens)[:, None]).to(f64)[:, :, None]
        h = (h * mask).transpose(1, 2)  # [B, d, T]
        h = F.pad(h, (K - 1, 0) if cfg["causal"] else ((K - 1) // 2, (K - 1) // 2))
        h = F.conv1d(h, g("conv.dw.weight")[:, None, :], g("conv.dw.bias"), groups=d).transpose(1, 2)
        x = x + F.silu(h) @ g("conv.pw2.weight").T + g("conv.pw2.bias")
    x = x + 0.5 * feed_forward("ff2", x)
    return F.layer_norm(x, (d,), g("norm.weight"), g("norm.bias"), 1e-5)


def make_params(cfg):
    d, ff, H = cfg["dModel"], cfg["ffDim"], cfg["heads"]
    P, N2 = d // H, cfg["stateSize"] // 2
    r = lambda *s, scale=1.0: (scale * torch.randn(*s, dtype=torch.float32)).to(f64)
    p = {}
    for m in ["ff1", "ff2"]:
        p[f"{m}.norm.weight"] = 1 + r(d, scale=0.1)
        p[f"{m}.norm.bias"] = r(d, scale=0.1)
        p[f"{m}.w1.weight"] = r(ff, d, scale=d ** -0.5)
        p[f"{m}.w1.bias"] = r(ff, scale=0.1)
        p[f"{m}.w2.weight"] = r(d, ff, scale=ff ** -0.5)
        p[f"{m}.w2.bias"] = r(d, scale=0.1)
    p["ssm.norm.weight"] = 1 + r(d, scale=0.1)
    p["ssm.norm.bias"] = r(d, scale=0.1)
    p["ssm.in.weight"] = r(d, d, scale=d ** -0.5)
    p["ssm.in.bias"] = r(d, scale=0.1)
    for dr in (["fwd"] if cfg["causal"] else ["fwd", "bwd"]):
        p[f"ssm.{dr}.s"] = r(d)
        p[f"ssm.{dr}.c_re"] = r(d, N2, scale=0.7)
        p[f"ssm.{dr}.c_im"] = r(d, N2, scale=0.7)
        p[f"ssm.{dr}.d"] = r(d)
    p["ssm.a_re"] = torch.full((N2,), -0.5, dtype=torch.float32).to(f64)
    p["ssm.a_im"] = (math.pi * torch.arange(N2, dtype=torch.float32)).to(f64)
    ranges = head_ranges(H)
    p["ssm.log_dt_min"] = torch.tensor([ranges[c // P][0] for c in range(d)], dtype=torch.float32).to(f64)
    p["ssm.log_dt_max"] = torch.tensor([ranges[c // P][1] for c in range(d)], dtype=torch.float32).to(f64)
    p["ssm.out.weight"] = r(d, d, scale=d ** -0.5)
    p["ssm.out.bias"] = r(d, scale=0.1)
    if cfg.get("convKernel", 0):
        K = cfg["convKernel"]
        p["conv.norm.weight"] = 1 + r(d, scale=0.1)
        p["conv.norm.bias"] = r(d, scale=0.1)
        p["conv.pw1.weight"] = r(2 * d, d, scale=d ** -0.5)
        p["conv.pw1.bias"] = r(2 * d, scale=0.1)
        p["conv.dw.weight"] = r(d, K, scale=K ** -0.5)
        p["conv.dw.bias"] = r(d, scale=0.1)
        p["conv.pw2.weight"] = r(d, d, scale=d ** -0.5)
        p["conv.pw2.bias"] = r(d, scale=0.1)
    p["norm.weight"] = 1 + r(d, scale=0.1)
    p["norm.bias"] = r(d, scale=0.1)
    return {"encoder.blocks.0." + k: v for k, v in p.items()}


def flat(t):
    return [float(f"{v:.9g}") for v in t.detach().reshape(-1).tolist()]


cases = []
for causal, conv in [(True, 0), (False, 0), (True, 3), (False, 5)]:
    cfg = dict(dModel=8, ffDim=12, heads=4, stateSize=4, causal=causal, convKernel=conv)
    params = make_params(cfg)
    B, T, lens = 2, 11, [11, 7]
    x0 = torch.randn(B, T, cfg["dModel"], dtype=torch.float32).to(f64)
    dout = torch.randn(B, T, cfg["dModel"], dtype=torch.float32).to(f64)
    for sub in [dict(layers=1, ffDim=12, heads=4), dict(layers=1, ffDim=5, heads=2)]:
        for v in params.values():
            v.requires_grad_(True)
            v.grad = None
        x = x0.clone().requires_grad_(True)
        y = block(params, x, lens, cfg, sub)
        (y * dout).sum().backward()
        cases.append(dict(
            name=f"{'causal' if causal else 'bidirectional'}{f' conv{conv}' if conv else ''} L1-ff{sub['ffDim']}-h{sub['heads']}",
            config=cfg, subnet=sub, B=B, T=T, lens=lens, x=flat(x0), dout=flat(dout), y=flat(y), dx=flat(x.grad),
            params={k: flat(v) for k, v in params.items()},
            grads={k: flat(v.grad if v.grad is not None else torch.zeros_like(v)) for k, v in params.items()},
        ))

json.dump(dict(magic="todm-fixture", version=1, generator="test/ref/stateformer.py", torch=torch.__version__, cases=cases),
          open("test/fixtures/stateformer.json", "w"))
print(len(cases), "cases")
