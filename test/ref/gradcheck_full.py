"""Compares the per-tensor gradients that scripts/gradcheck-full.mjs wrote with PyTorch autograd through the
mirror (test/ref/todm_model.py) on the same batch: prints both losses and the tensors with the largest
relative difference |g_torch - g_todm| / |g_torch|.
Usage: /usr/bin/python3 test/ref/gradcheck_full.py MODEL.safetensors OURS.safetensors
"""
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(__file__))
from todm_model import TodmModel, read_safetensors  # noqa: E402

model_path, ours_path = sys.argv[1:3]
m = TodmModel.from_file(model_path)
t, _ = read_safetensors(ours_path)
T = lambda k: t[k] if isinstance(t[k], torch.Tensor) else torch.tensor(t[k])
out = m.forward(T("batch.feats"), T("batch.featLens").int(), T("batch.tokens").int(), T("batch.tokenLens").int())
print("torch losses", [round(float(v), 4) for v in out["losses"]])
print("todm  losses", [round(float(v), 4) for v in T("losses")])
out["losses"].sum().backward()
rows = []
for name, p in zip(m.trainable_names, m.trainable()):
    g = p.grad.reshape(-1) if p.grad is not None else torch.zeros(p.numel())
    rows.append((float((g - T(name).reshape(-1)).norm() / (g.norm() + 1e-12)), name))
rows.sort(reverse=True)
print(f"{len(rows)} tensors; largest relative differences:")
for r, n in rows[:8]:
    print(f"  {r:.2e}  {n}")
