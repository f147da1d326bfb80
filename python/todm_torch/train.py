"""`torchrun --nproc_per_node=N -m todm_torch.train --init MODEL --train M.jsonl --valid V.jsonl --out RUN_DIR`:
todm's Supernet recipe trained with PyTorch DistributedDataParallel (gloo on CPUs; README "Scaling out").

What it is: the loop of src/train/loop.ts over todm_torch's model. Every rank plans the same epoch
(make_batches, seeded as todm seeds it), and each batch is sharded by rank as todm shards it over its
threads (balanced by frames: ranks hold unequal numbers of utterances). Each rank computes the features
of its own utterances (torchaudio's Kaldi fbank), SpecAugment seeded by the utterance's row in the whole
batch, and one SupernetStep (supernet.py) whose loss is weighted by world_size / B, so that DDP's
all-reduced mean of the ranks' gradients is the one-process gradient of the whole batch. The sums of
the losses are all-reduced; a step with a non-finite loss or gradient is skipped on every rank; ScaledAdam
with Eden steps identically on every rank. Rank 0 writes RUN_DIR/config.json (the resolved todm training
configuration), log.jsonl (the fields of `todm train`'s), checkpoints (todm's format: `--resume`
continues them, and so does `todm train --resume`), best.safetensors and model.safetensors, which
`todm subnets --run`, `todm export`, `todm eval` and todm/infer read unchanged.
Without torchrun it runs as one process (world size 1).
What it is not: todm's data path in full (manifests with a char tokenizer only: no built-in corpus, no
BPE, no speed perturbation, no on-disk feature cache), the end-of-run subnet scoring (run `todm eval
--run` and `todm export` on RUN_DIR). Where CUDA is available each rank trains on its GPU (LOCAL_RANK)
with NCCL: written for it, but untested (the development machine has no GPU).
"""
import time

T0 = time.time()

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="torchrun --nproc_per_node=N -m todm_torch.train",
                                description="Train a todm Supernet with PyTorch DDP; the run directory is todm's.")
    p.add_argument("--init", help="where to start: a todm model file (`todm train --init-only` writes RUN/init.safetensors), "
                                  "a checkpoint (its weights), or a run directory holding init.safetensors and config.json")
    p.add_argument("--train", action="append", default=[], help="training manifest (JSONL); repeatable")
    p.add_argument("--valid", action="append", default=[], help="validation manifest (JSONL); repeatable")
    p.add_argument("--out", required=True, help="run directory")
    p.add_argument("--config", help="todm training configuration (JSON, todm's keys); default: the --init run directory's config.json")
    p.add_argument("--set", action="append", default=[], dest="overrides", metavar="KEY=VALUE", help="override an option, e.g. train.maxSteps=100")
    p.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in --out")
    p.add_argument("--steps", type=int, help="train.maxSteps")
    p.add_argument("--minutes", type=float, help="train.maxMinutes (wall clock from the start of this process)")
    p.add_argument("--seed", type=int, help="train.seed")
    p.add_argument("--threads", type=int, default=1, help="torch threads per process")
    p.add_argument("--cpu", action="store_true", help="train on the CPU even where CUDA is available (default: a GPU per rank if any)")
    p.add_argument("--feature-cache-mb", type=float, default=1024, help="features kept in memory per process (MB)")
    return p.parse_args(argv)


def elapsed():
    return time.time() - T0


def word_errors(ref, hyp):
    from .data import normalize_text
    r, h = normalize_text(ref).split(), normalize_text(hyp).split()
    d = list(range(len(h) + 1))
    for i in range(1, len(r) + 1):
        prev, d[0] = d[0], i
        for j in range(1, len(h) + 1):
            cur = min(d[j] + 1, d[j - 1] + 1, prev + (r[i - 1] != h[j - 1]))
            prev, d[j] = d[j], cur
    return d[len(h)], len(r)


def audio_frames(path):
    """Feature frames of an audio file from its header: 1 + (n - 400) // 160 at 16 kHz (0 if n < 400)."""
    import torchaudio
    info = torchaudio.info(path)
    n = info.num_frames if info.sample_rate == 16000 else math.ceil(info.num_frames * 16000 / info.sample_rate)
    return 0 if n < 400 else 1 + (n - 400) // 160


class FeatureCache:
    """Features by utterance index, computed on first use and kept up to a byte budget."""

    def __init__(self, utts, budget_bytes):
        self.utts, self.budget, self.used, self.store = utts, budget_bytes, 0, {}

    def get(self, i):
        from .data import features_of
        x = self.store.get(i)
        if x is None:
            x = features_of(self.utts[i]["audio"])
            if self.used + x.nbytes <= self.budget:
                self.store[i] = x
                self.used += x.nbytes
        return x


def main(argv=None):
    """The command; bad input (a model file, a manifest line, an option) exits 2 with one line naming it."""
    from .config import ConfigError
    from .data import ManifestError
    from .safetensors import ModelFileError
    try:
        _main(argv)
    except (ConfigError, ManifestError, ModelFileError) as e:
        print(f"todm_torch.train: {e}", file=sys.stderr, flush=True)
        sys.exit(2)


def _main(argv=None):
    a = parse_args(argv)
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    import numpy as np
    import torch
    import torch.distributed as dist

    from .checkpoint import list_checkpoints, load_checkpoint, optimizer_offsets, save_checkpoint, save_model
    from .config import (ConfigError, check_supported, end_of_run_notes, list_subnets, load_train_config, merge_config, subnet_name,
                         validation_subnets)
    from .data import collate, frames_for, hash_seed, load_manifest, make_batches, shard_rows, spec_augment_
    from .model import TodmModel, parse_metadata
    from .optim import ScaledAdam, eden
    from .safetensors import ModelFileError, read_safetensors, write_file_atomic
    from .supernet import SupernetStep, plan_at

    torch.set_num_threads(a.threads)
    world, rank = int(os.environ.get("WORLD_SIZE", "1")), int(os.environ.get("RANK", "0"))
    cuda = torch.cuda.is_available() and not a.cpu
    device = torch.device(f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}" if cuda else "cpu")
    if cuda:
        torch.cuda.set_device(device)
    if world > 1:
        dist.init_process_group("nccl" if cuda else "gloo")
    lead = rank == 0

    def log(line):
        if lead:
            print(line, flush=True)

    def fail(msg):
        print(f"todm_torch.train: {msg}", file=sys.stderr, flush=True)
        sys.exit(2)

    try:
        # ---- where the run starts ----
        ckpts = list_checkpoints(a.out) if a.resume else []
        if a.resume and not ckpts:
            fail(f"--resume: no checkpoint in {a.out}/checkpoints")
        base_config, pos, opt_state = a.config, None, None
        if ckpts:
            model, tok, pos, otensors, ojson, saved_cfg = load_checkpoint(ckpts[-1])
            opt_state = (otensors, ojson)
            log(f"resuming from {ckpts[-1]} (step {pos['step']})")
        else:
            if not a.init:
                fail("--init is required (a todm model file: `todm train --init-only --out D` writes D/init.safetensors)")
            init = a.init
            if os.path.isdir(init):
                if base_config is None and os.path.exists(os.path.join(init, "config.json")):
                    base_config = os.path.join(init, "config.json")
                init = next((os.path.join(init, f) for f in ("init.safetensors", "model.safetensors") if os.path.exists(os.path.join(init, f))), None)
                if init is None:
                    fail(f"--init {a.init}: no init.safetensors or model.safetensors in it")
            tensors, meta = read_safetensors(init)
            cfg_m, tok = parse_metadata(meta, init)
            model = TodmModel(cfg_m, tensors, source=init)
            saved_cfg = None
            if os.path.exists(os.path.join(a.out, "log.jsonl")):
                fail(f"{a.out} already holds a run (log.jsonl): --resume it or choose another --out")
        cfg = load_train_config(base_config, [])
        if saved_cfg is not None and base_config is None:
            cfg = merge_config(cfg, saved_cfg, f"{ckpts[-1]} (todm.train_config)")
        for o in a.overrides:
            from .config import parse_override
            cfg = merge_config(cfg, parse_override(o), f"--set {o}")
        if a.steps is not None:
            cfg["train"]["maxSteps"] = a.steps
        if a.minutes is not None:
            cfg["train"]["maxMinutes"] = a.minutes
        if a.seed is not None:
            cfg["train"]["seed"] = a.seed
        if a.train:
            cfg["data"]["train"] = a.train
        if a.valid:
            cfg["data"]["valid"] = a.valid
        cfg["model"] = {**cfg["model"], **model.cfg}
        check_supported(cfg, "the training configuration")
        for note in end_of_run_notes(cfg):
            print(f"todm_torch.train: note: {note}", file=sys.stderr, flush=True)
        if not cfg["data"]["train"]:
            fail("--train is required (todm_torch does not build todm's synthetic corpus: give its train.jsonl)")
        if not tok or tok.get("type") != "char":
            fail(f"the model's tokenizer is {tok and tok.get('type')}: todm_torch trains character tokenizers only")
    except (ConfigError, ModelFileError) as e:
        fail(str(e))

    os.makedirs(a.out, exist_ok=True)
    symbols = tok["symbols"]
    T, S, O = cfg["train"], cfg["supernet"], cfg["optim"]
    # ---- data ----
    train_utts, skipped, ledger = [], 0, {}
    for path in cfg["data"]["train"]:
        u, k = load_manifest(path, symbols, cfg["data"]["maxDuration"], cfg["data"]["strict"], ledger)
        train_utts += u
        skipped += k
    valid_utts = []
    for path in cfg["data"]["valid"]:
        valid_utts += load_manifest(path, symbols, cfg["data"]["maxDuration"], cfg["data"]["strict"], ledger)[0]
    if T["validUtterances"] > 0:
        valid_utts = valid_utts[:T["validUtterances"]]
    if not train_utts:
        fail("no training utterances left after skipping bad input")
    log(f"train: {len(train_utts)} utterances, {sum(u['duration'] for u in train_utts) / 3600:.2f} h "
        f"(skipped: {json.dumps(ledger) if ledger else 'none'}); valid: {len(valid_utts)}; {world} process(es)")
    plan_frames = [frames_for(u["duration"]) for u in train_utts]
    feat_frames = [audio_frames(u["audio"]) for u in train_utts]  # what todm's shards are balanced by
    cache = FeatureCache(train_utts, a.feature_cache_mb * 2**20)
    vcache = FeatureCache(valid_utts, float("inf"))

    # ---- model, optimizer, subnets ----
    model.to(device)
    opt = ScaledAdam(model.trainable(), lr=O["baseLr"], clipping_scale=O["clippingScale"])
    if opt_state:
        offsets, _ = optimizer_offsets(model)
        opt.load_regions(offsets, *opt_state, source=ckpts[-1])
    subnets = list_subnets(model.cfg, S)
    vsubs = validation_subnets(subnets, S["validate"]) if S["enabled"] else subnets[:1]
    step_module = SupernetStep(model)
    ddp_opts = {"device_ids": [device.index]} if cuda else {}
    net = torch.nn.parallel.DistributedDataParallel(step_module, broadcast_buffers=False, **ddp_opts) if world > 1 else step_module
    pos = pos or {"step": 0, "epoch": 0, "batchInEpoch": 0, "elapsedSec": 0.0, "bestWer": None, "bestStep": None}
    t0 = time.time() - pos["elapsedSec"]
    log_path = os.path.join(a.out, "log.jsonl")
    if lead:
        write_file_atomic(os.path.join(a.out, "config.json"), (json.dumps(cfg, indent=2) + "\n").encode())
        log(f"model {subnet_name(subnets[0]['spec'])}: {subnets[0]['params']} parameters; "
            f"{len(subnets)} subnet(s); validating {', '.join(s['name'] for s in vsubs)}")

    def write_log(rec):
        if lead:
            with open(log_path, "a") as f:
                f.write(json.dumps(rec) + "\n")

    vplan = make_batches([frames_for(u["duration"]) for u in valid_utts], cfg["batch"]["maxFrames"], 10, 0, 0) if valid_utts else []
    decode = lambda ids: "".join(symbols[i] for i in ids if i != 0)

    def validate():
        """Greedy WER of each validated subnet on rank 0 (the others wait): {name: WER} or None."""
        out = None
        if lead and valid_utts:
            model.eval()
            errors, words = [0] * len(vsubs), 0
            for idx in vplan:
                feats = [vcache.get(i) for i in idx]
                x, lens, _, _ = collate({i: f for i, f in zip(idx, feats)}, valid_utts, idx)
                for k, s in enumerate(vsubs):
                    for i, hyp in zip(idx, model.greedy(torch.from_numpy(x).to(device), torch.from_numpy(lens), s["spec"])):
                        e, n = word_errors(valid_utts[i]["text"], decode(hyp))
                        errors[k] += e
                        words += n if k == 0 else 0
            model.train()
            out = {s["name"]: 100.0 * errors[k] / words for k, s in enumerate(vsubs)} if words else None
        if world > 1:
            dist.barrier()
        return out

    def checkpoint():
        pos["elapsedSec"] = time.time() - t0
        if lead:
            return save_checkpoint(a.out, model, tok, opt, pos, cfg, T["keepCheckpoints"])

    budget = T["maxMinutes"] * 60 if T["maxMinutes"] > 0 else math.inf
    stopped, ema, audio_total, skipped_in_a_row, t_rate = "epochs", math.nan, 0.0, 0, time.time()
    model.train()
    while pos["epoch"] < T["epochs"] and stopped == "epochs":
        plan_e = make_batches(plan_frames, cfg["batch"]["maxFrames"], cfg["batch"]["buckets"], T["seed"], pos["epoch"])
        for idx in plan_e[pos["batchInEpoch"]:]:
            if T["maxSteps"] > 0 and pos["step"] >= T["maxSteps"]:
                stopped = "steps"
                break
            flag = torch.tensor([1.0 if time.time() - t0 >= budget else 0.0], device=device)
            if world > 1:
                dist.broadcast(flag, 0)  # rank 0's clock decides, so every rank stops at the same step
            if flag.item() > 0:
                stopped = "budget"
                break
            t_step = time.time()
            step = pos["step"]
            B = len(idx)
            flens = np.array([feat_frames[i] for i in idx], dtype=np.int32)
            rows = shard_rows(flens, world)[rank]
            plan = plan_at(cfg, subnets, step)
            lr = eden(step, pos["epoch"], O["baseLr"], O["lrBatches"], O["lrEpochs"], O["warmupBatches"], O["warmupStart"])
            opt.zero_grad()
            if rows:
                mine = [idx[r] for r in rows]
                feats = {i: cache.get(i).copy() for i in mine}
                if T["specAugment"]:
                    for r, i in zip(rows, mine):
                        spec_augment_(feats[i], hash_seed(T["seed"], step, r))
                x, lens, tokens, tlens = collate(feats, train_utts, mine)
                need = min(int(flens.max()), 7)  # parallel.ts shardBatch: T at least min(batch T, 7)
                if x.shape[1] < need:
                    x = np.pad(x, ((0, 0), (0, need - x.shape[1]), (0, 0)))
                loss, stats = net(torch.from_numpy(x).to(device), torch.from_numpy(lens), torch.from_numpy(tokens).to(device), torch.from_numpy(tlens),
                                  plan, hash_seed(T["seed"], step), rows, world / B)
            else:
                loss, stats = net(None, None, None, None, plan, 0, [], 0.0)
            finite = math.isfinite(float(loss))
            if world > 1:
                ok = torch.tensor([1.0 if finite else 0.0], device=device)
                dist.all_reduce(ok, op=dist.ReduceOp.MIN)
                finite = ok.item() > 0
            if finite:
                loss.backward()  # DDP all-reduces the gradients here
                finite = all(bool(torch.isfinite(p.grad).all()) for p in model.trainable() if p.grad is not None)
            if world > 1:
                stats = stats.to(device)
                dist.all_reduce(stats)
            pos["batchInEpoch"] += 1
            if not finite:
                skipped_in_a_row += 1
                if skipped_in_a_row >= 50:
                    fail("50 batches in a row had a non-finite loss or gradient: the data or the learning rate is broken")
                write_log({"type": "skip", "step": step, "epoch": pos["epoch"], "reason": "non-finite loss or gradient"})
                log(f"step {step}: non-finite loss or gradient, batch skipped")
                continue
            skipped_in_a_row = 0
            opt.lr = lr
            opt.step()
            pos["step"] += 1
            st = stats.cpu().tolist()
            sec = float(flens.sum()) / 100
            audio_total += sec
            loss_value = st[0] / B
            ema = loss_value if math.isnan(ema) else 0.95 * ema + 0.05 * loss_value
            members = [st[2 + 3 * k:5 + 3 * k] for k in range(len(plan["members"]))]
            rec = {"type": "step", "step": pos["step"], "epoch": pos["epoch"], "loss": loss_value, "lossPerFrame": st[0] / max(1.0, st[1])}
            if model.cfg.get("ctcWeight"):
                rec["ctcLoss"] = members[0][2] / B
            rec.update({"lr": lr, "utterances": B, "audioSec": sec, "stepMs": round(1000 * (time.time() - t_step)), "elapsedSec": time.time() - t0})
            if S["enabled"]:
                rec.update({"subnets": [m["name"] for m in plan["members"]], "dropout": [round(m["dropout"], 4) for m in plan["members"]],
                            "losses": [round(m[0] / B, 4) for m in members], "kd": [round(m[1] / B, 5) for m in members]})
                if model.cfg.get("ctcWeight"):
                    rec["ctcLosses"] = [round(m[2] / B, 4) for m in members]
            write_log(rec)
            if pos["step"] % 10 == 0 or pos["step"] == 1:
                rate = audio_total / max(1e-3, time.time() - t_rate)
                log(f"step {pos['step']} epoch {pos['epoch']} loss {ema:.3f} lr {lr:.2e} {rate:.1f} s audio/s "
                    f"{pos['step'] / max(1e-3, (time.time() - t_rate) / 60):.1f} updates/min {time.time() - t0:.0f}s")
            if T["validEvery"] > 0 and pos["step"] % T["validEvery"] == 0:
                wers = validate()
                if wers:
                    wer = wers[vsubs[0]["name"]]
                    write_log({"type": "valid", "step": pos["step"], "epoch": pos["epoch"], "wer": wer,
                               **({"subnets": wers} if S["enabled"] else {}), "elapsedSec": time.time() - t0})
                    log(f"step {pos['step']}: validation WER {wer:.2f}%" + (f" ({', '.join(f'{n} {w:.2f}%' for n, w in wers.items())})" if S["enabled"] else ""))
                    if pos["bestWer"] is None or wer < pos["bestWer"]:
                        pos["bestWer"], pos["bestStep"] = wer, pos["step"]
                        if lead:
                            save_model(os.path.join(a.out, "best.safetensors"), model, tok, {"step": pos["step"], "validWer": wer})
            if T["checkpointEvery"] > 0 and pos["step"] % T["checkpointEvery"] == 0:
                checkpoint()
        else:
            pos["epoch"] += 1
            pos["batchInEpoch"] = 0
    train_sec = time.time() - t0
    ck = checkpoint()
    log(f"stopped ({stopped}) at step {pos['step']}, epoch {pos['epoch']}, {train_sec:.1f} s; checkpoint {ck}")
    wers = validate()
    wer = wers[vsubs[0]["name"]] if wers else None
    if wers:
        write_log({"type": "valid", "step": pos["step"], "epoch": pos["epoch"], "wer": wer, **({"subnets": wers} if S["enabled"] else {}),
                   "elapsedSec": train_sec})
        log(f"final validation WER {wer:.2f}%" + (f"; subnets: {', '.join(f'{n} {w:.2f}%' for n, w in wers.items())}" if S["enabled"] else ""))
    if lead:
        path = os.path.join(a.out, "model.safetensors")
        save_model(path, model, tok, {"step": pos["step"], "validWer": wer, "trainSeconds": train_sec, "generator": "todm_torch.train",
                                      "processes": world})
        loop_sec = time.time() - t_rate
        write_log({"type": "summary", "steps": pos["step"], "epochs": pos["epoch"], "stoppedBy": stopped, "trainSeconds": train_sec,
                   "processes": world, "updatesPerMinute": pos["step"] / max(1e-9, loop_sec / 60), "audioSeconds": audio_total,
                   "finalValidWer": wer, "bestValidWer": pos["bestWer"]})
        log(f"wrote {path}")
    if world > 1:
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
