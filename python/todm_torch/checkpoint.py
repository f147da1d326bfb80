"""todm model files and checkpoints from todm_torch (docs/model-format.md, src/train/checkpoint.ts).

What it is: `save_model` (every tensor in the parameter table's order, F32, with todm.format_version,
todm.config, todm.tokenizer and todm.info), `save_checkpoint` (a model file plus the optimizer state as
`optim.*` tensors laid out as todm's parameter region, todm.checkpoint {step, epoch, batchInEpoch,
elapsedSec, bestWer, bestStep, optimizer} and todm.train_config; written atomically as
RUN_DIR/checkpoints/step-<8 digits>.safetensors, the newest K kept), `list_checkpoints` and
`load_checkpoint`. A todm checkpoint resumes here and a todm_torch checkpoint resumes in `todm train
--resume`: the layouts are the same.
What it is not: a reader of other optimizers' state (AdamW) or of int8 exports.
"""
import json
import os
import re

from .config import FORMAT_VERSION, layout
from .model import TodmModel, parse_metadata
from .safetensors import ModelFileError, read_safetensors, write_safetensors


def model_metadata(model, tokenizer, info=None):
    meta = {"todm.format_version": FORMAT_VERSION, "todm.config": json.dumps(model.cfg, separators=(",", ":")),
            "todm.tokenizer": json.dumps(tokenizer, separators=(",", ":"))}
    if info is not None:
        meta["todm.info"] = json.dumps(info, separators=(",", ":"))
    return meta


def save_model(path, model, tokenizer, info=None):
    write_safetensors(path, model.state_tensors(), model_metadata(model, tokenizer, info))


def checkpoint_name(step):
    return f"step-{step:08d}.safetensors"


def list_checkpoints(run_dir):
    d = os.path.join(run_dir, "checkpoints")
    if not os.path.isdir(d):
        return []
    return [os.path.join(d, f) for f in sorted(os.listdir(d)) if re.fullmatch(r"step-\d{8}\.safetensors", f)]


def optimizer_offsets(model):
    """Each trained tensor's offset in todm's parameter region, and the region's trained floats."""
    offs, trainable_floats = layout(model.cfg)
    return [offs[n][0] for n in model.trainable_names], max(offs[n][0] + offs[n][1] for n in model.trainable_names)


def save_checkpoint(run_dir, model, tokenizer, opt, position, train_config, keep):
    d = os.path.join(run_dir, "checkpoints")
    os.makedirs(d, exist_ok=True)
    offsets, region = optimizer_offsets(model)
    otensors, ojson = opt.state_regions(offsets, region)
    tensors = model.state_tensors()
    for k, v in otensors.items():
        tensors[f"optim.{k}"] = v
    meta = model_metadata(model, tokenizer)
    meta["todm.checkpoint"] = json.dumps({**position, "optimizer": ojson})
    meta["todm.train_config"] = json.dumps(train_config)
    path = os.path.join(d, checkpoint_name(position["step"]))
    write_safetensors(path, tensors, meta)
    for old in list_checkpoints(run_dir)[:-keep] if keep > 0 else []:
        os.unlink(old)
    return path


def load_checkpoint(path):
    """(model, tokenizer, position, optimizer tensors, optimizer JSON, train config) of a checkpoint."""
    tensors, meta = read_safetensors(path)
    cfg, tok = parse_metadata(meta, path)
    if "todm.checkpoint" not in meta:
        raise ModelFileError(path, "not a checkpoint: no todm.checkpoint metadata (a model file? use --init)")
    ck = json.loads(meta["todm.checkpoint"])
    opt_json = ck.pop("optimizer")
    model = TodmModel(cfg, tensors, source=path)
    otensors = {k[6:]: v for k, v in tensors.items() if k.startswith("optim.")}
    return model, tok, ck, otensors, opt_json, json.loads(meta.get("todm.train_config", "null"))
