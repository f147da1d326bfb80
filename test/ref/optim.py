"""Writes test/fixtures/scaled_adam.json, adamw.json and eden.json: the ground truth for src/engine/optim.ts.

What it is: icefall's ScaledAdam and Eden (zipformer optim.py at commit 36e0420c, the refactored
version of December 2024), and torch.optim.AdamW, run with Debian's torch 1.13 on a handful of small
parameter tensors (a matrix, a 3-D tensor, scalars, bias vectors, a tensor below param_min_rms, a
tensor near param_max_rms) for 24 steps with deterministic gradients, spikes that make clipping
trigger, one infinite gradient (a clipping factor of 0) and one NaN gradient (which icefall lets
through to the weights: min(1.0, nan) is 1.0 in Python).
What it is not: a copy of icefall; the optimizer is imported from the file given on the command line
and run unchanged. The tests never run this script.

Run: /usr/bin/python3 test/ref/optim.py /work/ref-src/icefall_optim.py
(that file: `git show 36e0420c:egs/librispeech/ASR/zipformer/optim.py` in a clone of k2-fsa/icefall)

Gradients are not stored: they come from mulberry32 (the generator in test/helpers.ts, `rng`; its Python
twin is python/todm_torch/data.py's), so the fixture stays small. For step s, tensor i, element j (in the
order of the tensor list, row-major): g = f32((u*2-1) * gscale[i] * spike(s) + gbias[i]) with u the
next mulberry32 draw, spike(s) = SPIKE_FACTOR on SPIKE_STEPS else 1. A checksum of all gradients is
stored so the TypeScript side can prove it generates the same ones.
"""
import importlib.util
import json
import logging
import os
import sys
import types

import numpy as np
import torch

# mulberry32 of src/util/random.ts, bit for bit, from our PyTorch package (python/todm_torch/data.py)
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))
from todm_torch.data import mulberry32  # noqa: E402

FIXTURE_DIR = "test/fixtures"
GENERATOR = "test/ref/optim.py"
STEPS = 24
CHECKPOINTS = [1, 4, 12, 24]  # parameters are stored after these many steps
SPIKE_STEPS = [3, 13, 17, 21]  # steps (from 0) whose gradients are multiplied by SPIKE_FACTOR
SPIKE_FACTOR = 30.0

# name, shape, init scale, init bias, grad scale, grad bias
TENSORS = [
    ("weight", [8, 21], 0.1, 0.0, 1.0, 0.0),
    ("conv", [3, 4, 5], 5.1, 0.0, 0.5, 0.0),  # rms near 2.95: the param_max_rms cap bites
    ("scale", [], 0.5, 2.0, 1.0, 0.0),  # a 0-d scalar
    ("bias", [13], 0.05, 0.0, 0.2, 0.0),
    ("bias_a", [7], 0.05, 0.0, 1.0, 0.0),  # two tensors of one shape: icefall stacks them
    ("bias_b", [7], 0.05, 0.0, 1.0, 0.0),
    ("gain", [1], 0.01, 9.98, 0.3, -1.0),  # a [1] scalar pushed up against scalar_max = 10
    ("tiny", [2, 3], 1e-6, 0.0, 1.0, 0.0),  # rms below param_min_rms = 1e-5
]


def f32_list(a):
    # Shortest decimal that round-trips each float32; NaN (not valid JSON) is written as null.
    return [None if np.isnan(x) else float(repr(np.float32(x))) for x in np.asarray(a, dtype=np.float32).reshape(-1)]


def numel(shape):
    n = 1
    for d in shape:
        n *= d
    return n


def initial_params(seed):
    r = mulberry32(seed)
    out = []
    for _, shape, scale, bias, _, _ in TENSORS:
        vals = [(r() * 2 - 1) * scale + bias for _ in range(numel(shape))]
        out.append(np.array(vals, dtype=np.float32).reshape(shape))
    return out


class Gradients:
    def __init__(self, seed):
        self.r = mulberry32(seed)
        self.checksum = 0.0

    def next_step(self, s):
        spike = SPIKE_FACTOR if s in SPIKE_STEPS else 1.0
        out = []
        for _, shape, _, _, gscale, gbias in TENSORS:
            vals = np.array(
                [(self.r() * 2 - 1) * gscale * spike + gbias for _ in range(numel(shape))], dtype=np.float32
            )
            self.checksum += float(np.sum(vals.astype(np.float64)))
            out.append(vals.reshape(shape))
        return out


def load_icefall(path):
    # optim.py imports lhotse only for fix_random_seed, which the optimizer itself never calls.
    lhotse = types.ModuleType("lhotse")
    lhotse_utils = types.ModuleType("lhotse.utils")
    lhotse_utils.fix_random_seed = lambda seed: None
    lhotse.utils = lhotse_utils
    sys.modules["lhotse"] = lhotse
    sys.modules["lhotse.utils"] = lhotse_utils
    spec = importlib.util.spec_from_file_location("icefall_optim", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def run_scaled_adam(icefall, name, opts, eden=None, bad_grads=()):
    param_seed, grad_seed = 1234, 5678
    init = initial_params(param_seed)
    params = [torch.nn.Parameter(torch.tensor(p)) for p in init]
    opt = icefall.ScaledAdam(params, **opts)
    factors = []
    orig = opt._get_clipping_scale

    def recording(group, tuples):
        ans = orig(group, tuples)
        factors[-1] = float(ans)
        return ans

    opt._get_clipping_scale = recording
    sched = icefall.Eden(opt, **eden) if eden else None
    grads = Gradients(grad_seed)
    lrs, checkpoints = [], {}
    for s in range(STEPS):
        if sched:
            # lr for step s is eden(batch = s, epoch = s // 8); the public eden() takes the same pair.
            sched.step_epoch(s // 8)
            sched.step_batch(s)
        lrs.append(float(opt.param_groups[0]["lr"]))
        for p, g in zip(params, grads.next_step(s)):
            p.grad = torch.tensor(g)
        for bad_step, tensor, value in bad_grads:
            if s == bad_step:
                params[tensor].grad.view(-1)[0] = float(value)
        factors.append(1.0)  # step 0 never asks for a clipping scale
        opt.step()
        if s + 1 in CHECKPOINTS:
            checkpoints[str(s + 1)] = [f32_list(p.detach().numpy()) for p in params]
    return {
        "name": name,
        "opts": opts,
        "eden": eden,
        "bad_grads": [[step, tensor, str(value)] for step, tensor, value in bad_grads],
        "param_seed": param_seed,
        "grad_seed": grad_seed,
        "grad_checksum": grads.checksum,
        "initial": [f32_list(p) for p in init],
        "lrs": lrs,
        "clipping_factors": factors,
        "checkpoints": checkpoints,
    }


def run_adamw(name, opts):
    param_seed, grad_seed = 4321, 8765
    init = initial_params(param_seed)
    params = [torch.nn.Parameter(torch.tensor(p)) for p in init]
    opt = torch.optim.AdamW(params, **opts)
    grads = Gradients(grad_seed)
    checkpoints = {}
    for s in range(STEPS):
        for p, g in zip(params, grads.next_step(s)):
            p.grad = torch.tensor(g)
        opt.step()
        if s + 1 in CHECKPOINTS:
            checkpoints[str(s + 1)] = [f32_list(p.detach().numpy()) for p in params]
    return {
        "name": name,
        "opts": opts,
        "param_seed": param_seed,
        "grad_seed": grad_seed,
        "grad_checksum": grads.checksum,
        "initial": [f32_list(p) for p in init],
        "checkpoints": checkpoints,
    }


def eden_cases(icefall):
    settings = [
        dict(base_lr=0.045, lr_batches=300, lr_epochs=8, warmup_batches=100),
        dict(base_lr=0.04, lr_batches=5000, lr_epochs=6),  # icefall's defaults for warmup
        dict(base_lr=0.003, lr_batches=7.5, lr_epochs=3.5, warmup_batches=20.0, warmup_start=0.2),
    ]
    cases = []
    for st in settings:
        base_lr = st.pop("base_lr")
        p = torch.nn.Parameter(torch.zeros(2, 2))
        opt = icefall.ScaledAdam([p], lr=base_lr)
        sched = icefall.Eden(opt, **st)
        for batch in [0, 1, 7, 50, 99, 100, 101, 499, 500, 501, 1000, 5000, 123457]:
            for epoch in [0, 1, 3, 10]:
                sched.step_epoch(epoch)
                sched.step_batch(batch)
                cases.append({"base_lr": base_lr, **st, "batch": batch, "epoch": epoch, "lr": sched.get_last_lr()[0]})
    return cases


ICEFALL = "icefall egs/librispeech/ASR/zipformer/optim.py @ 36e0420c7e3e849a25b3d24dbf913c424f3d23c9"


def header(reference):
    return {
        "magic": "todm-fixture",
        "version": 1,
        "generator": GENERATOR,
        "torch": torch.__version__,
        "reference": reference,
    }


def tensor_table():
    return [{"name": n, "shape": shape} for n, shape, *_ in TENSORS]


def write(name, body):
    with open(f"{FIXTURE_DIR}/{name}", "w") as f:
        json.dump(body, f, separators=(",", ":"), allow_nan=False)
        f.write("\n")


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: /usr/bin/python3 test/ref/optim.py <path to icefall's zipformer/optim.py>")
    logging.disable(logging.WARNING)  # icefall logs its clipping quartiles as warnings
    torch.set_num_threads(1)
    icefall = load_icefall(sys.argv[1])
    runs = [
        # A NaN norm does NOT: icefall's min(1.0, nan) is 1.0, so the NaN reaches the weights.
        run_scaled_adam(icefall, "clip2_defaults", dict(lr=0.03, clipping_scale=2.0), bad_grads=[(22, 5, "nan")]),
        run_scaled_adam(icefall, "no_clip_betas", dict(lr=0.05, clipping_scale=None, betas=[0.8, 0.95])),
        run_scaled_adam(
            icefall,
            "period3_cup6",
            dict(
                lr=0.02,
                clipping_scale=1.5,
                size_update_period=3,
                clipping_update_period=6,
                scalar_lr_scale=0.2,
                param_max_rms=2.5,
                scalar_max=9.99,
                eps=1e-6,
            ),
            # An infinite norm gives a clipping factor of 0: icefall zeroes every gradient.
            bad_grads=[(19, 0, "inf")],
        ),
        run_scaled_adam(
            icefall,
            "period1_eden",
            dict(lr=0.045, clipping_scale=2.0, size_update_period=1, clipping_update_period=16, param_min_rms=2e-5),
            eden=dict(lr_batches=10, lr_epochs=2, warmup_batches=6),
        ),
    ]
    write("scaled_adam.json", {**header(ICEFALL), "tensors": tensor_table(), "steps": STEPS,
                               "spike_steps": SPIKE_STEPS, "spike_factor": SPIKE_FACTOR,
                               "gen": [t[2:] for t in TENSORS], "runs": runs})
    adamw = [
        run_adamw("lr1e-2_wd0.1", dict(lr=1e-2, betas=(0.9, 0.99), eps=1e-8, weight_decay=0.1)),
        run_adamw("torch_defaults", dict()),
    ]
    write("adamw.json", {**header("torch.optim.AdamW (single-tensor path)"), "tensors": tensor_table(), "steps": STEPS,
                         "spike_steps": SPIKE_STEPS, "spike_factor": SPIKE_FACTOR,
                         "gen": [t[2:] for t in TENSORS], "runs": adamw})
    write("eden.json", {**header(ICEFALL + ", class Eden"), "cases": eden_cases(icefall)})


if __name__ == "__main__":
    main()
