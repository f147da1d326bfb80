"""Peer timing for bench/train.ts: one full training step of the PyTorch mirror of a todm model, one thread.

Usage: /usr/bin/python3 bench/peers/train.py MODEL.safetensors BATCH.safetensors REPS [ICEFALL_OPTIM_PY]
         prints one JSON line {"ms": median milliseconds per step, "stages": {...}, "losses": [...], ...};
       /usr/bin/python3 bench/peers/train.py MODEL.safetensors BATCH.safetensors serve [ICEFALL_OPTIM_PY]
         prints {"ready": ...} after setup, then answers each stdin line "step" with {"ms": one step},
         "stages" with {"stages": {...}} (one staged step), "quit" by exiting: bench/train.ts uses this
         to alternate torch and todm steps, so that both see the same load on a shared machine.

MODEL is a todm model file (bench/train.ts writes the engine's initial weights); BATCH a safetensors
file with feats F32 [B, T, F], feat_lens I32 [B], tokens I32 [B, U], token_lens I32 [B]. The model is
test/ref/todm_model.py in float32; a step is zero_grad, forward (subsampling, blocks, predictor,
joiner, torchaudio rnnt_loss), mean over the batch, backward, and icefall's ScaledAdam step
(clipping_scale 2.0) when its optim.py is given, else torch.optim.Adam as a stand-in (the JSON says
which). torch.set_num_threads(1) (TODM_PEER_THREADS=N asks for N: bench/train_threads.ts); bench/lib.ts runPython sets OPENBLAS_NUM_THREADS=1.
The stage times come from separate steps that time the forward of each stage, the whole backward and
the optimizer (torch has no per-stage backward timer without hooks).
"""
import json
import logging
import os
import sys
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "test", "ref"))
from todm_model import TodmModel, read_safetensors, rnnt_loss  # noqa: E402

torch.set_num_threads(int(os.environ.get("TODM_PEER_THREADS", "1")))  # bench/train_threads.ts asks for 2


def median(xs):
    s = sorted(xs)
    n = len(s)
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2


def main():
    model_path, batch_path, reps = sys.argv[1], sys.argv[2], sys.argv[3]
    icefall_path = sys.argv[4] if len(sys.argv) > 4 and os.path.exists(sys.argv[4]) else None
    logging.disable(logging.WARNING)
    model = TodmModel.from_file(model_path)
    t, _ = read_safetensors(batch_path)
    feats, feat_lens = torch.tensor(t["feats"]), torch.tensor(t["feat_lens"])
    tokens, token_lens = torch.tensor(t["tokens"]), torch.tensor(t["token_lens"])
    if icefall_path:
        from optim import load_icefall  # test/ref/optim.py

        opt = load_icefall(icefall_path).ScaledAdam(model.trainable(), lr=0.045, clipping_scale=2.0)
        opt_name = "icefall ScaledAdam"
    else:
        opt = torch.optim.Adam(model.trainable(), lr=1e-3)
        opt_name = "torch.optim.Adam (icefall optim.py not found)"
    losses = []

    def step():
        opt.zero_grad()
        loss = model(feats, feat_lens, tokens, token_lens)["losses"].mean()
        loss.backward()
        opt.step()
        losses.append(float(loss))

    def staged():
        """One step timed by stage: forward of each stage, the whole backward, the optimizer (ms)."""
        opt.zero_grad()
        t = [time.perf_counter()]
        enc, lens = model.encode(feats, feat_lens)
        t.append(time.perf_counter())
        pred = model.predict(tokens)
        t.append(time.perf_counter())
        logits = model.join(enc, pred)
        t.append(time.perf_counter())
        loss = rnnt_loss(logits, tokens, lens, token_lens).mean()
        t.append(time.perf_counter())
        loss.backward()
        t.append(time.perf_counter())
        opt.step()
        t.append(time.perf_counter())
        names = ["encoder_fwd", "predictor_fwd", "joiner_fwd", "loss_fwd", "backward", "optimizer"]
        return {k: (b - a) * 1e3 for k, a, b in zip(names, t, t[1:])}

    def timed():
        t0 = time.perf_counter()
        step()
        return (time.perf_counter() - t0) * 1e3

    info = {"optimizer": opt_name, "torch": torch.__version__, "threads": torch.get_num_threads()}
    if reps == "serve":
        print(json.dumps({"ready": True, **info}), flush=True)
        for line in sys.stdin:
            cmd = line.strip()
            if cmd == "step":
                print(json.dumps({"ms": timed(), "loss": losses[-1]}), flush=True)
            elif cmd == "stages":
                print(json.dumps({"stages": staged()}), flush=True)
            else:
                break
        return
    for _ in range(2):
        step()
    ts = [timed() for _ in range(int(reps))]
    stage_runs = [staged() for _ in range(int(reps))]
    stages = {k: median([r[k] for r in stage_runs]) for k in stage_runs[0]}
    print(json.dumps({"ms": median(ts), "stages": stages, "losses": losses[:3], **info}))


if __name__ == "__main__":
    main()
