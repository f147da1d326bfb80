"""Trains the PyTorch mirror of a todm model for a wall-clock budget: the side-by-side of `todm train`.

    node dist/cli.js train --out runs/mirror-init --init-only                 # the step-0 model of the default run
    /usr/bin/python3 test/ref/train_mirror.py --init runs/mirror-init/init.safetensors \\
        --train data-cache/synth-default/train.jsonl --valid data-cache/synth-default/valid.jsonl \\
        --minutes 25 --threads 2 --out runs/mirror
    node dist/cli.js eval --model runs/mirror --data data-cache/synth-default/test.jsonl --report mirror.json

What it is: the recipe of src/train/trainer.ts (DEFAULT_TRAIN) run on todm_torch's TodmModel (python/todm_torch/model.py), the model
test/model-mirror.test.ts checks against ours, stepped by icefall's ScaledAdam and Eden (imported from
icefall's optim.py and run unchanged, as test/ref/model_steps.py does):
  - the initial weights, feature statistics (frontend.feat_mean/istd), config and tokenizer come from
    INIT (a todm model file; `todm train --init-only` writes the one our run starts from);
  - features: 16 kHz audio (resampled with torchaudio's Kaiser sinc at our settings when it is not),
    torchaudio.compliance.kaldi.fbank, 80 bins, dither 0 (test/fbank.test.ts: ours matches it);
  - batches: makeBatches of src/data/batching.ts ported bit for bit (mulberry32, duration buckets, at
    most batch.maxFrames padded frames), so both runs see the same batches in the same order;
  - SpecAugment: src/engine/features.ts specAugment ported bit for bit (same seeds: hashSeed(seed, step, u)),
    on the unnormalised features, masked with the utterance mean;
  - dropout 0.1 at ours' three points (FF hidden, FF output, MH-SSM output): torch's own masks, not ours;
  - loss: the batch mean of per-utterance RNN-T losses; ScaledAdam(lr 0.045, clipping_scale 2.0) with
    Eden(lr_batches 300, lr_epochs 8, warmup 100 batches from 0.5); a batch with a non-finite loss or
    gradient is skipped, as ours does;
  - validation as ours: every 200 steps, greedy search (one symbol per frame) on the first 200 valid
    utterances, INSIDE the timed loop; best.safetensors on a new best; a final validation after it.
The budget is counted from the start of this script, so it includes reading audio and computing the
features of the whole corpus (done first, in `threads` processes). The output is a todm model file with
the same tensor names and order, and INIT's config and tokenizer, that `todm eval` scores with our decoder
and WER code. Also: log.jsonl (one line per step and per validation, the fields of ours).
What it is not: a general trainer (no checkpoints, no resume, no subnets), or bit-identical to ours
(dropout masks and float summation orders differ; `--no-dropout` with `--set train.dropout=0` on our side
gives the same first losses: 288.21811 / 307.46838 / 288.21817 against ours 288.21813 / 307.46843 /
288.21833 on the default run's first three batches, SpecAugment on; see docs/mirror.md).
"""
import time

T0 = time.time()  # the wall-clock budget starts here

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402

OPTIONS = [  # name, type, default, help (the defaults are those of src/train/config.ts DEFAULT_TRAIN)
    ("init", str, None, "todm model file with the initial weights, feature statistics, config and tokenizer"),
    ("train", str, None, "training manifest (JSONL)"),
    ("valid", str, None, "validation manifest (JSONL)"),
    ("out", str, "runs/mirror", "run directory: log.jsonl, model.safetensors, best.safetensors"),
    ("minutes", float, 25.0, "wall-clock budget from the start of the script (features included)"),
    ("max-steps", int, 0, "stop after this many steps (0 = none)"),
    ("threads", int, 2, "torch.set_num_threads, and processes for feature extraction"),
    ("blas-threads", int, 1, "OPENBLAS_NUM_THREADS (1 with torch threads 2 was fastest, NOTES.md)"),
    ("seed", int, 1, "batch order and SpecAugment (as train.seed); also torch's generator for dropout"),
    ("max-frames", int, 12000, "batch.maxFrames: cap on B x T_max padded feature frames"),
    ("buckets", int, 30, "batch.buckets"),
    ("max-duration", float, 20.0, "data.maxDuration: longer utterances are left out (seconds)"),
    ("epochs", int, 100, "train.epochs"),
    ("dropout", float, 0.1, "train.dropout at every dropout point of the encoder"),
    ("base-lr", float, 0.045, "optim.baseLr"),
    ("lr-batches", float, 300, "optim.lrBatches"),
    ("lr-epochs", float, 8, "optim.lrEpochs"),
    ("warmup-batches", float, 100, "optim.warmupBatches"),
    ("warmup-start", float, 0.5, "optim.warmupStart"),
    ("clipping-scale", float, 2.0, "optim.clippingScale"),
    ("valid-every", int, 200, "train.validEvery (0 = only at the end)"),
    ("valid-utterances", int, 200, "train.validUtterances (0 = all)"),
    ("icefall", str, "/work/ref-src/icefall_optim.py", "icefall's zipformer/optim.py (ScaledAdam, Eden)"),
]


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    for name, typ, default, help_ in OPTIONS:
        p.add_argument(f"--{name}", type=typ, default=default, required=default is None and name in ("init", "train"), help=help_)
    p.add_argument("--no-spec-augment", action="store_true", help="train.specAugment=false")
    p.add_argument("--no-dropout", action="store_true", help="same as --dropout 0 (to compare first losses with ours)")
    return p.parse_args(argv)


ARGS = parse_args() if __name__ == "__main__" else None
if ARGS is not None:
    # before torch (and its BLAS) is loaded; the feature processes inherit it
    os.environ["OPENBLAS_NUM_THREADS"] = str(ARGS.blas_threads)

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from optim import load_icefall  # noqa: E402  (test/ref/optim.py: icefall's optim.py, run unchanged)
from todm_model import TodmModel, param_table, read_safetensors, write_safetensors  # noqa: E402  (puts python/ on the path)


def elapsed():
    return time.time() - T0


# ---- data, batches, SpecAugment and the model: python/todm_torch (data.py, model.py) ---------------------------

from todm_torch.train import word_errors  # noqa: E402
from todm_torch.data import all_features, collate, frames_for, hash_seed, load_manifest, make_batches, normalize_text, spec_augment_  # noqa: E402,F401

TrainMirror = TodmModel  # dropout through its `p_drop`, greedy search for validation


# ---- the run -------------------------------------------------------------------------------------------

def save_model(path, model, meta, info, order):
    """A todm model file: the tensors in `order` (INIT's, i.e. our writer's), INIT's metadata, `info`."""
    assert sorted(order) == sorted(n for n, _, _ in param_table(model.cfg)), "INIT's tensors are not the model's"
    tensors = {name: model.p(name).detach().float().numpy() for name in order}
    write_safetensors(path + ".tmp", tensors, {**meta, "todm.info": json.dumps(info)})
    os.replace(path + ".tmp", path)


def main(a):
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    if a.no_dropout:
        a.dropout = 0.0
    os.makedirs(a.out, exist_ok=True)
    log_path = os.path.join(a.out, "log.jsonl")
    if os.path.exists(log_path):
        sys.exit(f"{a.out} already holds a run (log.jsonl): choose another --out")
    print("train_mirror: resolved options")
    print(json.dumps(vars(a), indent=2))
    tensors, meta = read_safetensors(a.init)
    if "todm.config" not in meta or "todm.tokenizer" not in meta:
        sys.exit(f"{a.init}: not a todm model file (no todm.config / todm.tokenizer metadata)")
    tok = json.loads(meta["todm.tokenizer"])
    if tok["type"] != "char":
        sys.exit(f"{a.init}: the mirror handles character tokenizers only (this one is {tok['type']})")
    symbols = tok["symbols"]
    train_utts, skipped = load_manifest(a.train, symbols, a.max_duration)
    valid_utts, vskipped = load_manifest(a.valid, symbols, a.max_duration) if a.valid else ([], 0)
    if a.valid_utterances > 0:
        valid_utts = valid_utts[:a.valid_utterances]
    hours = sum(u["duration"] for u in train_utts) / 3600
    print(f"train: {len(train_utts)} utterances, {hours:.2f} h; valid subset: {len(valid_utts)}; skipped (unencodable): {skipped + vskipped}")

    t = elapsed()
    feats = all_features([u["audio"] for u in train_utts + valid_utts], a.threads)
    vfeats = feats[len(train_utts):]
    feats = feats[:len(train_utts)]
    print(f"features of {len(feats) + len(vfeats)} utterances in {elapsed() - t:.1f} s ({a.threads} processes)")

    model = TrainMirror(json.loads(meta["todm.config"]), tensors)
    model.p_drop = a.dropout  # TodmModel.dropout: FF hidden, FF output, MH-SSM output
    icefall = load_icefall(a.icefall)
    import logging
    logging.disable(logging.WARNING)  # icefall logs its clipping statistics as warnings
    opt = icefall.ScaledAdam(model.trainable(), lr=a.base_lr, clipping_scale=a.clipping_scale)
    sched = icefall.Eden(opt, lr_batches=a.lr_batches, lr_epochs=a.lr_epochs, warmup_batches=a.warmup_batches,
                         warmup_start=a.warmup_start)
    frames = [frames_for(u["duration"]) for u in train_utts]
    vplan = make_batches([frames_for(u["duration"]) for u in valid_utts], a.max_frames, 10, 0, 0) if valid_utts else []
    base_meta = {k: meta[k] for k in ("todm.format_version", "todm.config", "todm.tokenizer")}
    order = list(tensors)  # INIT's tensor order (our writer's), kept in the files written
    decode = lambda ids: "".join(symbols[i] for i in ids if i != 0)

    def validate():
        if not valid_utts:
            return None
        model.eval()
        errors = words = 0
        for idx in vplan:
            x, lens, _, _ = collate(vfeats, valid_utts, idx)
            for i, hyp in zip(idx, model.greedy(torch.from_numpy(x), torch.from_numpy(lens))):
                e, n = word_errors(valid_utts[i]["text"], decode(hyp))
                errors += e
                words += n
        model.train()
        return 100.0 * errors / words if words else None

    def write_log(rec):
        with open(log_path, "a") as f:
            f.write(json.dumps(rec) + "\n")

    budget = a.minutes * 60 if a.minutes > 0 else math.inf
    step, epoch, audio_total, ema, best, skipped_in_a_row = 0, 0, 0.0, math.nan, None, 0
    t_rate = time.time()
    stopped = "epochs"
    model.train()
    print(f"training from {elapsed():.1f} s into the budget of {budget:.0f} s")
    while epoch < a.epochs and stopped == "epochs":
        for idx in make_batches(frames, a.max_frames, a.buckets, a.seed, epoch):
            if elapsed() >= budget:
                stopped = "budget"
                break
            if a.max_steps > 0 and step >= a.max_steps:
                stopped = "steps"
                break
            x, lens, tokens, tlens = collate(feats, train_utts, idx)
            if not a.no_spec_augment:
                for b in range(len(idx)):
                    spec_augment_(x[b, :lens[b]], hash_seed(a.seed, step, b))
            t_step = time.time()
            sched.step_epoch(epoch)
            sched.step_batch(step)
            lr = opt.param_groups[0]["lr"]
            opt.zero_grad()
            out = model(torch.from_numpy(x), torch.from_numpy(lens), torch.from_numpy(tokens), torch.from_numpy(tlens))
            loss = out["losses"].mean()
            loss_value = float(loss)
            finite = math.isfinite(loss_value)
            if finite:
                loss.backward()
                finite = all(bool(torch.isfinite(p.grad).all()) for p in model.trainable() if p.grad is not None)
            if not finite:
                skipped_in_a_row += 1
                if skipped_in_a_row >= 50:
                    sys.exit("50 batches in a row had a non-finite loss or gradient")
                write_log({"type": "skip", "step": step, "epoch": epoch})
                continue
            skipped_in_a_row = 0
            opt.step()
            step += 1
            sec = float(lens.sum()) / 100
            audio_total += sec
            frames2 = int(out["enc_lens"].sum())
            ema = loss_value if math.isnan(ema) else 0.95 * ema + 0.05 * loss_value
            write_log({"type": "step", "step": step, "epoch": epoch, "loss": loss_value,
                       "lossPerFrame": float(out["losses"].sum()) / frames2, "lr": lr, "utterances": len(idx),
                       "audioSec": sec, "stepMs": round(1000 * (time.time() - t_step)), "elapsedSec": elapsed(),
                       "cpuSec": time.process_time()})  # CPU seconds of this process (all its threads)
            if step % 10 == 0 or step == 1:
                rate = audio_total / max(1e-3, time.time() - t_rate)
                print(f"step {step} epoch {epoch} loss {ema:.3f} lr {lr:.2e} {rate:.1f} s audio/s "
                      f"{step / max(1e-3, time.time() - t_rate):.3f} steps/s {elapsed():.0f}s", flush=True)
            if a.valid_every > 0 and step % a.valid_every == 0:
                wer = validate()
                write_log({"type": "valid", "step": step, "epoch": epoch, "wer": wer, "elapsedSec": elapsed()})
                print(f"step {step}: validation WER {wer if wer is None else f'{wer:.2f}%'}", flush=True)
                if wer is not None and (best is None or wer < best):
                    best = wer
                    save_model(os.path.join(a.out, "best.safetensors"), model, base_meta,
                               {"step": step, "validWer": wer, "generator": "test/ref/train_mirror.py"}, order)
        else:
            epoch += 1
    train_sec = elapsed()
    loop_sec = time.time() - t_rate
    print(f"stopped ({stopped}) at step {step}, epoch {epoch}, {train_sec:.1f} s; "
          f"{audio_total / 3600:.2f} h of audio, {audio_total / max(1e-3, loop_sec):.1f} s audio/s and "
          f"{step / max(1e-3, loop_sec):.3f} steps/s in the training loop")
    wer = validate()
    if wer is not None:
        write_log({"type": "valid", "step": step, "epoch": epoch, "wer": wer, "elapsedSec": elapsed()})
        print(f"final validation WER {wer:.2f}%")
    path = os.path.join(a.out, "model.safetensors")
    save_model(path, model, base_meta, {"step": step, "validWer": wer, "trainSeconds": train_sec,
                                        "generator": "test/ref/train_mirror.py", "init": os.path.abspath(a.init)}, order)
    summary = {"type": "summary", "steps": step, "epochs": epoch, "stoppedBy": stopped, "trainSeconds": train_sec,
               "loopSeconds": loop_sec, "audioSeconds": audio_total, "threads": a.threads, "blasThreads": a.blas_threads,
               "finalValidWer": wer, "bestValidWer": best}
    write_log(summary)
    print(f"wrote {path}")


if __name__ == "__main__":
    main(ARGS)
