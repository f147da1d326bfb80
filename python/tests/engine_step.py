"""One Supernet step of todm_torch on a batch given as JSON, for test/torch.test.ts to compare with todm's
Model.sandwichStep on the same weights and batch. Run alone or under torchrun (gloo): the batch is
sharded by rank as todm shards it, the step runs under DistributedDataParallel, and rank 0 writes the
all-reduced gradients.

    /usr/bin/python3 python/tests/engine_step.py SPEC.json OUT.json
    torchrun --nproc_per_node=2 python/tests/engine_step.py SPEC.json OUT.json

SPEC: {model, seed (the step's dropout seed), step, train: {seed, dropout}, supernet, batch: {B, T, F, U,
feats, featLens, tokens, tokenLens}}. OUT: {members (names), stats (lossSum, frames, then per member the
RNN-T, KD and CTC sums), grads: {name: [...]}}. Not a test by itself: the comparison and its tolerances
are in test/torch.test.ts.
"""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from todm_torch.config import list_subnets  # noqa: E402
from todm_torch.data import shard, shard_rows  # noqa: E402
from todm_torch.model import TodmModel  # noqa: E402
from todm_torch.supernet import SupernetStep, plan_at  # noqa: E402


def main(spec_path, out_path):
    torch.set_num_threads(1)
    with open(spec_path) as f:
        spec = json.load(f)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    if world > 1:
        torch.distributed.init_process_group("gloo")
    model = TodmModel.from_file(spec["model"])
    cfg = {"model": model.cfg, "train": spec["train"], "supernet": spec["supernet"]}
    plan = plan_at(cfg, list_subnets(model.cfg, spec["supernet"]), spec["step"])
    b = spec["batch"]
    x = np.array(b["feats"], np.float32).reshape(b["B"], b["T"], b["F"])
    tok = np.array(b["tokens"], np.int32).reshape(b["B"], b["U"])
    lens, tlens = np.array(b["featLens"], np.int32), np.array(b["tokenLens"], np.int32)
    rows = shard_rows(lens, world)[rank]
    step = SupernetStep(model)
    net = torch.nn.parallel.DistributedDataParallel(step, broadcast_buffers=False) if world > 1 else step
    if rows:
        sx, sl, st, stl = shard(x, lens, tok, tlens, rows)
        loss, stats = net(torch.from_numpy(sx), torch.from_numpy(sl), torch.from_numpy(st), torch.from_numpy(stl), plan,
                          spec["seed"], rows, world / b["B"])
    else:
        loss, stats = net(None, None, None, None, plan, 0, [], 0.0)
    loss.backward()
    if world > 1:
        torch.distributed.all_reduce(stats)
    if rank == 0:
        out = {"members": [m["name"] for m in plan["members"]], "stats": stats.tolist(),
               "grads": {n: model.p(n).grad.reshape(-1).tolist() for n in model.trainable_names}}
        with open(out_path, "w") as f:
            json.dump(out, f)
    if world > 1:
        torch.distributed.destroy_process_group()


if __name__ == "__main__":
    main(*sys.argv[1:3])
