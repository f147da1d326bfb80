"""Times training steps of the PyTorch mirror (test/ref/train_mirror.py) for one thread setting: which of
torch threads x OPENBLAS_NUM_THREADS to give train_mirror.py. Run it once per setting, one after the other:

    for s in "1 1" "2 1" "2 2"; do set -- $s
      /usr/bin/python3 test/ref/mirror_threads.py --init runs/mirror-init/init.safetensors \\
          --train data-cache/synth-default/train.jsonl --threads $1 --blas-threads $2
    done

Prints one JSON line: the median wall and CPU seconds per step over the timed steps, and audio seconds per
wall second. The batches are the first ones of the default run's epoch 0 (same plan, SpecAugment and
dropout as train_mirror.py); one untimed warm-up step first. What it is not: a benchmark of bench/run.ts
(it measures no peer of ours), or a training run (it does step the optimizer, as the real loop does).
"""
import argparse
import os
import sys

p = argparse.ArgumentParser()
p.add_argument("--init", required=True)
p.add_argument("--train", required=True)
p.add_argument("--threads", type=int, default=2)
p.add_argument("--blas-threads", type=int, default=1)
p.add_argument("--steps", type=int, default=4, help="timed steps (after one warm-up step)")
a = p.parse_args()
os.environ["OPENBLAS_NUM_THREADS"] = str(a.blas_threads)  # before torch loads its BLAS

import json  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import torch  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import train_mirror as tm  # noqa: E402
from optim import load_icefall  # noqa: E402
from todm_model import read_safetensors  # noqa: E402

torch.set_num_threads(a.threads)
torch.manual_seed(1)
tensors, meta = read_safetensors(a.init)
symbols = json.loads(meta["todm.tokenizer"])["symbols"]
utts, _ = tm.load_manifest(a.train, symbols, 20.0)
plan = tm.make_batches([tm.frames_for(u["duration"]) for u in utts], 12000, 30, 1, 0)[:a.steps + 1]
feats = {i: tm.features_of(utts[i]["audio"]) for idx in plan for i in idx}
model = tm.TrainMirror(json.loads(meta["todm.config"]), tensors)
model.p_drop = 0.1
model.train()
import logging  # noqa: E402
logging.disable(logging.WARNING)
icefall = load_icefall("/work/ref-src/icefall_optim.py")
opt = icefall.ScaledAdam(model.trainable(), lr=0.045, clipping_scale=2.0)
walls, cpus, audio = [], [], 0.0
for step, idx in enumerate(plan):
    x, lens, tokens, tlens = tm.collate(feats, utts, idx)
    for b in range(len(idx)):
        tm.spec_augment_(x[b, :lens[b]], tm.hash_seed(1, step, b))
    w0, c0 = time.time(), time.process_time()
    opt.zero_grad()
    out = model(torch.from_numpy(x), torch.from_numpy(lens), torch.from_numpy(tokens), torch.from_numpy(tlens))
    out["losses"].mean().backward()
    opt.step()
    if step > 0:
        walls.append(time.time() - w0)
        cpus.append(time.process_time() - c0)
        audio += float(lens.sum()) / 100
print(json.dumps({"threads": a.threads, "blasThreads": a.blas_threads, "steps": len(walls),
                  "medianWallSec": round(statistics.median(walls), 3), "medianCpuSec": round(statistics.median(cpus), 3),
                  "audioSecPerSec": round(audio / sum(walls), 2), "load": os.getloadavg()[0]}))
