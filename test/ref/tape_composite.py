"""Writes test/fixtures/tape_composite.json: a composite expression of the engine's primitive ops, its
value and PyTorch autograd's gradients, to check the AssemblyScript tape end to end.

Run with Debian's PyTorch:  /usr/bin/python3 test/ref/tape_composite.py
The weights are leading slices of bigger tensors (as a Supernet subnet uses them), so the fixture also
checks that gradients land in the right places of the full-size gradient region and nowhere else.
"""
import json
import sys

import torch
import torch.nn.functional as F

torch.manual_seed(1234)
R, C, OC, V = 5, 7, 6, 11          # rows, input width, output width, embedding rows
LDT, LDW, FULL_OC = 8, 9, 8          # full (Supernet) sizes of the sliced tensors

table = torch.randn(V, LDT, dtype=torch.float64)
ids = torch.tensor([3, 0, 10, 3, 7])
X = torch.randn(R, C, dtype=torch.float64)
W = torch.randn(FULL_OC, LDW, dtype=torch.float64) * 0.5
b = torch.randn(FULL_OC, dtype=torch.float64) * 0.1
lnw = 1 + 0.1 * torch.randn(FULL_OC, dtype=torch.float64)
lnb = 0.1 * torch.randn(FULL_OC, dtype=torch.float64)
rw = 1 + 0.1 * torch.randn(FULL_OC, dtype=torch.float64)
M1 = torch.randn(R, OC, dtype=torch.float64)
M2 = torch.randn(R, OC, dtype=torch.float64)
params = dict(table=table, X=X, W=W, b=b, lnw=lnw, lnb=lnb, rw=rw)
for p in params.values():
    p.requires_grad_(True)


def forward(table, X, W, b, lnw, lnb, rw):
    e = table[:, :C][ids]
    h = e + X
    z = h @ W[:OC, :C].T + b[:OC]
    g = F.gelu(z)                                   # exact (erf) form, torch's default
    n = F.layer_norm(g, (OC,), lnw[:OC], lnb[:OC], eps=1e-5)
    r = n * torch.rsqrt((n * n).mean(-1, keepdim=True) + 1e-6) * rw[:OC]   # RMSNorm, eps 1e-6
    a = F.silu(r) * torch.sigmoid(n) + torch.tanh(torch.relu(n))
    a2 = 0.5 * a
    return (F.log_softmax(a2, -1) * M1).sum() + (F.softmax(a2, -1) * M2).sum()


loss = forward(**params)
loss.backward()

flat = lambda t: [float(v) for v in t.detach().reshape(-1)]
fixture = {
    "magic": "todm-fixture", "version": 1, "generator": "test/ref/tape_composite.py",
    "torch": torch.__version__,
    "dims": dict(R=R, C=C, OC=OC, V=V, LDT=LDT, LDW=LDW, FULL_OC=FULL_OC),
    "ids": ids.tolist(),
    "inputs": {k: flat(v) for k, v in params.items()} | {"M1": flat(M1), "M2": flat(M2)},
    "loss": float(loss),
    "grads": {k: flat(v.grad) for k, v in params.items()},
}
json.dump(fixture, open(sys.argv[1] if len(sys.argv) > 1 else "test/fixtures/tape_composite.json", "w"))
print("loss", float(loss))
