"""Writes test/fixtures/model_init.safetensors and test/fixtures/model_steps.json: a tiny todm model, a
fixed batch, the PyTorch mirror's forward outputs, and the losses of 10 ScaledAdam steps on that batch;
and test/fixtures/model_bidir.safetensors, a smaller bidirectional model checked on the forward only.

What it is: the ground truth for test/model-mirror.test.ts (llm.c's `expected_losses`). The initial
weights are drawn here (seeded, torch's generator), in the families of src/model/params.ts but with
non-zero biases, non-trivial norms and a non-trivial feature normalisation so that every path is
exercised; they are written in our model format (safetensors with todm.format_version, todm.config
and a char todm.tokenizer). The batch (2 utterances of 60 and 47 frames, 8 and 5 tokens) is stored
in the JSON. The mirror is test/ref/todm_model.py; the optimizer is icefall's ScaledAdam, imported
from the file given on the command line and run unchanged (as test/ref/optim.py does), lr 0.045,
clipping_scale 2.0, other arguments icefall's defaults (= our ScaledAdamRegion defaults). No dropout,
no SpecAugment. The training loss is the batch mean of the per-utterance losses.
Stored: forward in float64 (per-utterance losses and the encoder output, for the Supernet and the
subnet L1-ff24-h2, and the per-tensor L2 norms of the Supernet's gradients of the mean loss), and
the 10 mean losses of the 10 steps run in float32 (the reference the test checks) and with the
model's forward and backward in float64 (the optimizer still on float32 masters: icefall keeps its
state in float32), to show how far torch's own f32 run drifts from exact arithmetic.
What it is not: run by the tests.

Run: /usr/bin/python3 test/ref/model_steps.py /work/ref-src/icefall_optim.py
"""
import json
import logging
import math
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from optim import load_icefall  # noqa: E402  (test/ref/optim.py)
from todm_model import TodmModel, param_table, read_safetensors, write_safetensors  # noqa: E402

GENERATOR = "test/ref/model_steps.py"
MODEL_FILE = "test/fixtures/model_init.safetensors"
BIDIR_FILE = "test/fixtures/model_bidir.safetensors"
JSON_FILE = "test/fixtures/model_steps.json"
STEPS = 10
LR = 0.045

CONFIG = {  # key order of src/model/config.ts ModelConfig
    "featDim": 16, "subsampleChannels": 4, "dModel": 32, "layers": 2, "ffDim": 64, "heads": 2, "stateSize": 8,
    "convKernel": 0, "causal": True, "predictorDim": 32, "predictorLayers": 1, "joinerDim": 32, "vocabSize": 10,
}
SUBNET = {"layers": 1, "ffDim": 24, "heads": 2}
# a second, smaller model: a bidirectional encoder (the reverse SSM within each utterance's length),
# 4 heads and a 2-layer predictor; forward and gradients only
BIDIR_CONFIG = {
    "featDim": 16, "subsampleChannels": 3, "dModel": 16, "layers": 1, "ffDim": 24, "heads": 4, "stateSize": 4,
    "convKernel": 0, "causal": False, "predictorDim": 16, "predictorLayers": 2, "joinerDim": 16, "vocabSize": 10,
}
BIDIR_SUBNET = {"layers": 1, "ffDim": 7, "heads": 2}
SYMBOLS = ["<blank>", " ", "A", "B", "C", "D", "E", "F", "G", "H"]
FEAT_LENS = [60, 47]
TOKENS = [[2, 3, 1, 4, 5, 9, 1, 6], [7, 8, 1, 2, 3]]


def head_ranges(heads, dt_min=1e-3, dt_max=1e-1):
    lo, hi = math.log(dt_min), math.log(dt_max)
    step = (hi - lo) / heads
    return [(hi - (h + 1) * step, hi - h * step) for h in range(heads)]


def initial_weights(c, gen):
    """{name: f32 array} in table order. Families as src/model/params.ts, biases and norms perturbed."""
    rand = lambda *s: torch.rand(*s, generator=gen, dtype=torch.float64)
    randn = lambda *s: torch.randn(*s, generator=gen, dtype=torch.float64)
    d, H = c["dModel"], c["heads"]
    P, N2 = d // H, c["stateSize"] // 2
    ranges = head_ranges(H)
    out = {}
    for name, shape, _ in param_table(c):
        leaf = name.rsplit(".", 1)[1]
        fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else 1
        if name.startswith("predictor.lstm"):
            v = (rand(*shape) * 2 - 1) / math.sqrt(c["predictorDim"])
        elif name == "predictor.embedding.weight":
            v = randn(*shape)
        elif name == "frontend.feat_mean":
            v = 0.3 * randn(*shape)
        elif name == "frontend.feat_istd":
            v = 0.7 + 0.6 * rand(*shape)
        elif leaf == "a_re":
            v = torch.full(shape, -0.5, dtype=torch.float64)
        elif leaf == "a_im":
            v = math.pi * torch.arange(N2, dtype=torch.float64)
        elif leaf in ("log_dt_min", "log_dt_max"):
            v = torch.tensor([ranges[ch // P][0 if leaf == "log_dt_min" else 1] for ch in range(d)], dtype=torch.float64)
        elif leaf == "s":
            q = torch.tensor([0.05 + 0.9 * ((ch % P) + 0.5) / P for ch in range(d)], dtype=torch.float64)
            v = torch.log(q / (1 - q)) + 0.3 * randn(d)
        elif leaf in ("c_re", "c_im"):
            v = randn(*shape) * math.sqrt(0.5)
        elif leaf == "d":
            v = randn(*shape)
        elif len(shape) > 1:  # linear and convolution weights: U(-1/sqrt(fan_in), 1/sqrt(fan_in))
            v = (rand(*shape) * 2 - 1) / math.sqrt(fan_in)
        elif name.endswith("norm.weight"):
            v = 1 + 0.1 * randn(*shape)
        else:  # biases, norm biases
            v = 0.1 * randn(*shape)
        out[name] = v.numpy().astype(np.float32)
    return out


def make_batch(c, gen):
    B, T, Fd = len(FEAT_LENS), max(FEAT_LENS), c["featDim"]
    feats = torch.randn(B, T, Fd, generator=gen, dtype=torch.float64).float()
    for b, n in enumerate(FEAT_LENS):
        feats[b, n:] = 0  # padding is zeros, as src/data/batching.ts collates
    U = max(len(t) for t in TOKENS)
    tokens = torch.tensor([t + [0] * (U - len(t)) for t in TOKENS], dtype=torch.int32)
    return feats, torch.tensor(FEAT_LENS, dtype=torch.int32), tokens, torch.tensor([len(t) for t in TOKENS], dtype=torch.int32)


def flat(t):
    return [float(repr(np.float32(x))) for x in t.detach().double().numpy().astype(np.float32).reshape(-1)]


def write_model(path, config, weights):
    meta = {
        "todm.format_version": "1",
        "todm.config": json.dumps(config, separators=(",", ":")),
        "todm.tokenizer": json.dumps({"type": "char", "version": 1, "symbols": SYMBOLS}, separators=(",", ":")),
        "todm.info": json.dumps({"magic": "todm-fixture", "version": 1, "generator": GENERATOR}),
    }
    write_safetensors(path, weights, meta)
    tensors, _ = read_safetensors(path)
    assert all(np.array_equal(tensors[k], v) for k, v in weights.items())


def forward_record(model, batch, sub):
    out = model(*batch, sub=sub)
    return out, {"subnet": sub or model.supernet(), "losses": [float(x) for x in out["losses"].detach()],
                 "enc_lens": [int(x) for x in out["enc_lens"]], "enc_frames": int(out["enc"].shape[1]),
                 "enc": flat(out["enc"])}


def train(icefall, dtype, batch):
    """10 steps; the optimizer always runs on float32 masters (icefall keeps its state in float32), the
    model's forward and backward in `dtype` on a copy of them."""
    masters = TodmModel.from_file(MODEL_FILE, torch.float32)
    model = masters if dtype == torch.float32 else TodmModel.from_file(MODEL_FILE, dtype)
    opt = icefall.ScaledAdam(masters.trainable(), lr=LR, clipping_scale=2.0)
    losses = []
    for _ in range(STEPS):
        opt.zero_grad()
        model.zero_grad()
        loss = model(*batch)["losses"].mean()
        loss.backward()
        if model is not masters:
            for p, q in zip(masters.trainable(), model.trainable()):
                p.grad = q.grad.float()
        opt.step()
        if model is not masters:
            with torch.no_grad():
                for p, q in zip(masters.trainable(), model.trainable()):
                    q.copy_(p.double())
        losses.append(float(loss))
    return losses


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: /usr/bin/python3 test/ref/model_steps.py <path to icefall's zipformer/optim.py>")
    logging.disable(logging.WARNING)
    torch.set_num_threads(1)
    icefall = load_icefall(sys.argv[1])
    gen = torch.Generator().manual_seed(20240913)
    weights = initial_weights(CONFIG, gen)
    write_model(MODEL_FILE, CONFIG, weights)
    batch = make_batch(CONFIG, gen)
    write_model(BIDIR_FILE, BIDIR_CONFIG, initial_weights(BIDIR_CONFIG, gen))

    m64 = TodmModel.from_file(MODEL_FILE, torch.float64)
    out, supernet = forward_record(m64, batch, None)
    out["losses"].mean().backward()
    grad_norms = {n: float(m64.p(n).grad.norm()) for n in m64.trainable_names}
    _, subnet = forward_record(m64, batch, SUBNET)
    b64 = TodmModel.from_file(BIDIR_FILE, torch.float64)
    bout, bidir = forward_record(b64, batch, None)
    bout["losses"].mean().backward()
    bidir_grad_norms = {n: float(b64.p(n).grad.norm()) for n in b64.trainable_names}
    _, bidir_subnet = forward_record(b64, batch, BIDIR_SUBNET)
    # torchaudio (f32) and our f64 lattice recursion must agree: the two loss paths check each other
    m32 = TodmModel.from_file(MODEL_FILE, torch.float32)
    l32 = m32(*batch)["losses"].detach().double()
    assert torch.allclose(l32, out["losses"].detach(), rtol=1e-4), (l32, out["losses"])

    steps32 = train(icefall, torch.float32, batch)
    steps64 = train(icefall, torch.float64, batch)
    feats, feat_lens, tokens, token_lens = batch
    doc = {
        "magic": "todm-fixture", "version": 1, "generator": GENERATOR, "torch": torch.__version__,
        "model_file": MODEL_FILE, "config": CONFIG,
        "optimizer": {"name": "icefall ScaledAdam (zipformer/optim.py @ 36e0420c)", "lr": LR, "clipping_scale": 2.0},
        "batch": {"B": len(FEAT_LENS), "T": int(feats.shape[1]), "F": CONFIG["featDim"], "U": int(tokens.shape[1]),
                  "feats": flat(feats), "featLens": FEAT_LENS, "tokens": [int(x) for x in tokens.reshape(-1)],
                  "tokenLens": [int(x) for x in token_lens]},
        "forward64": {"supernet": supernet, "subnet": subnet, "grad_norms": grad_norms},
        "bidirectional": {"model_file": BIDIR_FILE, "config": BIDIR_CONFIG,
                          "forward64": {"supernet": bidir, "subnet": bidir_subnet, "grad_norms": bidir_grad_norms}},
        "forward32_losses": [float(x) for x in l32],
        "steps": STEPS, "losses32": steps32, "losses64fwd": steps64,
    }
    with open(JSON_FILE, "w") as f:
        json.dump(doc, f, separators=(",", ":"))
        f.write("\n")
    print("losses32", steps32)
    print("losses64", steps64)
    print("max |f32 - f64| relative", max(abs(a - b) / abs(b) for a, b in zip(steps32, steps64)))


if __name__ == "__main__":
    main()
