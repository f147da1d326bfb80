"""Peer for bench/optim.ts: optimizer steps over 10 M parameters in PyTorch on one thread.

Prints one JSON line {case: GB/s}, the bytes counted as in bench/optim.ts: an optimizer step reads
params, grads and both moment buffers and writes params and both moments (28 bytes per parameter);
a copy reads and writes (8 bytes per float). Cases: icefall's ScaledAdam (clipping_scale 2.0, mean
over 4 steps, one size_update_period), torch.optim.AdamW (single-tensor path), Tensor.copy_.

Usage: /usr/bin/python3 bench/peers/optim.py MATRICES ROWS COLS SCALARS [ICEFALL_OPTIM_PY]
(run by bench/optim.ts through ctx.python). Without the icefall path, the ScaledAdam case is null.
"""
import importlib.util
import json
import logging
import statistics
import sys
import time
import types

import torch

torch.set_num_threads(1)
MATRICES, ROWS, COLS, SCALARS = (int(a) for a in sys.argv[1:5])
ICEFALL = sys.argv[5] if len(sys.argv) > 5 else None


def median_s(fn, reps=5, warmup=1):
    for _ in range(warmup):
        fn()
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts)


def make_params():
    shapes = [(ROWS, COLS)] * MATRICES + [(COLS,)] * MATRICES + [()] * SCALARS
    params = [torch.nn.Parameter(torch.randn(s) * 0.1) for s in shapes]
    for p in params:
        p.grad = torch.randn(p.shape) * 0.01
    return params


def load_icefall(path):
    lhotse = types.ModuleType("lhotse")
    lhotse.utils = types.ModuleType("lhotse.utils")
    lhotse.utils.fix_random_seed = lambda seed: None
    sys.modules["lhotse"] = lhotse
    sys.modules["lhotse.utils"] = lhotse.utils
    spec = importlib.util.spec_from_file_location("icefall_optim", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def main():
    logging.disable(logging.WARNING)
    out = {}
    params = make_params()
    n = sum(p.numel() for p in params)
    step_bytes = 28 * n
    with torch.no_grad():
        if ICEFALL:
            icefall = load_icefall(ICEFALL)
            opt = icefall.ScaledAdam(params, lr=0.03, clipping_scale=2.0)

            def four_steps():
                for _ in range(4):
                    opt.step()

            out["scaled_adam"] = 4 * step_bytes / median_s(four_steps) / 1e9
        else:
            out["scaled_adam"] = None
        params = make_params()
        adamw = torch.optim.AdamW(params, lr=1e-3, weight_decay=0.01)
        out["adamw"] = step_bytes / median_s(adamw.step) / 1e9
        src = torch.randn(n)
        dst = torch.empty(n)
        out["copy"] = 8 * n / median_s(lambda: dst.copy_(src), reps=7) / 1e9
    print(json.dumps(out))


if __name__ == "__main__":
    main()
