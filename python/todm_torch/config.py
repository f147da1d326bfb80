"""The model's configuration, its parameter table and layout, the Supernet's subnets, and the training
configuration: ports of src/model/config.ts, src/model/supernet.ts and src/train/config.ts.

What it is: `check_model_config` (the keys todm writes in `todm.config`, refusing unknown ones and the
features this package does not mirror), `param_table` (names, shapes, trainable, block, sliced dims: the
order of todm's parameter table), `layout` (todm's parameter region: trained tensors first, offsets
16-float aligned; the layout of the optimizer state in checkpoints), `count_params`, `list_subnets`,
`sample_sandwich`, `subnet_dropout`, `validation_subnets`, and DEFAULT_TRAIN with `merge_config`, which
refuses unknown keys as `todm train` does. test/torch.test.ts checks DEFAULT_TRAIN against todm's.
What it is not: the network (model.py) or the training loop (train.py).
"""
import copy
import json
import math

FORMAT_VERSION = "1"

DEFAULT_MODEL = {
    "featDim": 80, "subsampleChannels": 64, "dModel": 144, "layers": 6, "ffDim": 576, "heads": 4, "headDim": 0,
    "stateSize": 16, "convKernel": 0, "causal": True, "ssmDtMin": 1e-3, "ssmDtMax": 1e-1, "predictorDim": 256,
    "predictorLayers": 1, "joinerDim": 256, "vocabSize": 256, "ctcWeight": 0,
}
PRUNED_DEFAULTS = {"pruneRange": 5, "simpleLmScale": 0.25, "simpleAmScale": 0, "simpleLossScale": 0.5}
MODEL_KEYS = set(DEFAULT_MODEL) | {"loss"} | set(PRUNED_DEFAULTS)
REQUIRED_MODEL_KEYS = ["featDim", "subsampleChannels", "dModel", "layers", "ffDim", "heads", "stateSize", "convKernel",
                       "causal", "predictorDim", "predictorLayers", "joinerDim", "vocabSize"]

DEFAULT_SPACE = {
    "enabled": True, "layers": [], "ffDims": [], "heads": [], "random": 1, "sampleBias": 0,
    "kd": {"method": "alpha", "lambda": 0.5, "alphaNeg": -1, "alphaPos": 1, "clip": 5, "lattice": "band", "sizeGamma": 0},
    "dropout": {"rule": "adaptive", "gamma": 1}, "validate": [], "export": [],
}

DEFAULT_TRAIN = {
    # todm's defaults, mirrored as values (test/torch.test.ts): the pruned loss among them, which check_supported
    # refuses (initialise with `todm train --init-only --set model.loss=full`)
    "model": {**DEFAULT_MODEL, "ctcWeight": 0.3, **PRUNED_DEFAULTS, "loss": "pruned"},
    "data": {"train": [], "valid": [], "tokenizer": "char", "vocabSize": 256, "maxDuration": 20, "cacheDir": "data-cache",
             "featureCache": None, "corpus": "v2", "strict": False},
    "optim": {"name": "scaled_adam", "baseLr": 0.045, "lrBatches": 300, "lrEpochs": 8, "warmupBatches": 100, "warmupStart": 0.5,
              "clippingScale": 2.0, "adamwLr": 1e-3, "weightDecay": 1e-2},
    "batch": {"maxFrames": 6000, "buckets": 30},
    "train": {"seed": 1, "maxMinutes": 38, "maxSteps": 0, "epochs": 100, "dropout": 0.1, "specAugment": False,
              "validEvery": 200, "validUtterances": 200, "checkpointEvery": 100, "keepCheckpoints": 5, "loaderWorkers": 1,
              "threads": 2, "shareFrontend": True, "speedPerturb": False, "prunedWarmupSteps": None,
              "average": {"every": 10, "start": 0.7}},
    "supernet": copy.deepcopy(DEFAULT_SPACE),
    "lm": {"enabled": True, "order": 6, "maxMb": 4, "tuneUtterances": 200, "beam": 4, "grid": [0.1, 0.2, 0.3, 0.4, 0.5]},
}


class ConfigError(ValueError):
    """A configuration this package cannot train or read; the message names its source."""


# ---- the model ------------------------------------------------------------------------------------------

def head_dim(c):
    """Channels per MH-SSM head (config.ts headDimOf): headDim, 0 or absent = dModel / heads."""
    return c.get("headDim") or c["dModel"] // c["heads"]


def has_ctc_head(c):
    return (c.get("ctcWeight") or 0) > 0


def check_model_config(c, source="config"):
    """Refuses a model config this package does not know or does not mirror; returns it (a dict)."""
    if not isinstance(c, dict):
        raise ConfigError(f"{source}: todm.config must be a JSON object")
    unknown = sorted(set(c) - MODEL_KEYS)
    if unknown:
        raise ConfigError(f"{source}: unknown model config key(s) {', '.join(unknown)}: this todm_torch knows "
                          f"{', '.join(sorted(MODEL_KEYS))} (a newer todm? update python/todm_torch)")
    missing = [k for k in REQUIRED_MODEL_KEYS if k not in c]
    if missing:
        raise ConfigError(f"{source}: model config lacks {', '.join(missing)}")
    if c.get("loss", "full") == "pruned":
        raise ConfigError(f"{source}: model.loss \"pruned\" (the pruned RNN-T loss) is not mirrored in todm_torch; "
                          "train it with todm, or use model.loss \"full\"")
    if c.get("loss", "full") != "full":
        raise ConfigError(f"{source}: model.loss must be \"full\" or \"pruned\", got {c['loss']!r}")
    if c["convKernel"]:
        raise ConfigError(f"{source}: convKernel {c['convKernel']}: the convolution module is not mirrored in todm_torch (0 only)")
    if c["heads"] < 2 or c["heads"] % 2:
        raise ConfigError(f"{source}: heads must be even and >= 2, got {c['heads']}")
    if c["predictorLayers"] not in (1, 2):
        raise ConfigError(f"{source}: predictorLayers must be 1 or 2, got {c['predictorLayers']}")
    return c


def stride_two_rows(n, pad=0):
    return (n + pad - 3) // 2 + 1 if n + pad >= 3 else 0


def subsampled_bins(feat_dim):
    return stride_two_rows(stride_two_rows(feat_dim))


def subsampled_length(t, causal):
    pad = 2 if causal else 0
    return stride_two_rows(stride_two_rows(t, pad), pad)


def param_table(c):
    """[(name, shape, trainable, block or None, slice or None)] in the order of config.ts paramTable.
    slice: per dimension None, "ff" (cut to the subnet's ffDim) or "ssm" (cut to heads · headDim)."""
    d, cs, ff, half, P = c["dModel"], c["subsampleChannels"], c["ffDim"], c["stateSize"] // 2, c["predictorDim"]
    D = c["heads"] * head_dim(c)
    t = [("encoder.subsample.conv1.weight", [cs, 1, 3, 3], True, None, None), ("encoder.subsample.conv1.bias", [cs], True, None, None),
         ("encoder.subsample.conv2.weight", [cs, cs, 3, 3], True, None, None), ("encoder.subsample.conv2.bias", [cs], True, None, None),
         ("encoder.subsample.out.weight", [d, cs * subsampled_bins(c["featDim"])], True, None, None),
         ("encoder.subsample.out.bias", [d], True, None, None)]
    dirs = ["fwd"] if c["causal"] else ["fwd", "bwd"]
    for l in range(c["layers"]):
        p = f"encoder.blocks.{l}."
        add = lambda name, shape, sl=None, trainable=True: t.append((p + name, shape, trainable, l, sl))

        def ff_module(m):
            add(f"{m}.norm.weight", [d])
            add(f"{m}.norm.bias", [d])
            add(f"{m}.w1.weight", [ff, d], ["ff", None])
            add(f"{m}.w1.bias", [ff], ["ff"])
            add(f"{m}.w2.weight", [d, ff], [None, "ff"])
            add(f"{m}.w2.bias", [d])

        ff_module("ff1")
        add("ssm.norm.weight", [d])
        add("ssm.norm.bias", [d])
        add("ssm.in.weight", [D, d], ["ssm", None])
        add("ssm.in.bias", [D], ["ssm"])
        for dr in dirs:
            add(f"ssm.{dr}.s", [D], ["ssm"])
            add(f"ssm.{dr}.c_re", [D, half], ["ssm", None])
            add(f"ssm.{dr}.c_im", [D, half], ["ssm", None])
            add(f"ssm.{dr}.d", [D], ["ssm"])
        add("ssm.a_re", [half], None, False)
        add("ssm.a_im", [half], None, False)
        add("ssm.log_dt_min", [D], ["ssm"], False)
        add("ssm.log_dt_max", [D], ["ssm"], False)
        add("ssm.out.weight", [d, D], [None, "ssm"])
        add("ssm.out.bias", [d])
        ff_module("ff2")
        add("norm.weight", [d])
        add("norm.bias", [d])
    g = lambda name, shape, trainable=True: t.append((name, shape, trainable, None, None))
    g("predictor.embedding.weight", [c["vocabSize"], P])
    for l in range(c["predictorLayers"]):
        g(f"predictor.lstm.{l}.w_ih", [4 * P, P])
        g(f"predictor.lstm.{l}.w_hh", [4 * P, P])
        g(f"predictor.lstm.{l}.b_ih", [4 * P])
        g(f"predictor.lstm.{l}.b_hh", [4 * P])
    J, V = c["joinerDim"], c["vocabSize"]
    for name, shape in [("joiner.enc.weight", [J, d]), ("joiner.enc.bias", [J]), ("joiner.pred.weight", [J, P]),
                        ("joiner.pred.bias", [J]), ("joiner.out.weight", [V, J]), ("joiner.out.bias", [V])]:
        g(name, shape)
    if has_ctc_head(c):
        g("ctc.weight", [V, d])
        g("ctc.bias", [V])
    g("frontend.feat_mean", [c["featDim"]], False)
    g("frontend.feat_istd", [c["featDim"]], False)
    return t


def numel(shape):
    n = 1
    for s in shape:
        n *= s
    return n


def layout(c):
    """todm's parameter region (config.ts layoutParams): {name: (offset, numel)} with trained tensors first,
    offsets 16-float aligned; and the floats of the trained span (where optimizer regions end)."""
    table = param_table(c)
    ordered = [p for p in table if p[2]] + [p for p in table if not p[2]]
    out, off, trainable_floats = {}, 0, 0
    for name, shape, trainable, _, _ in ordered:
        if not trainable and trainable_floats == 0:
            trainable_floats = off
        out[name] = (off, numel(shape))
        off += -(-numel(shape) // 16) * 16
    return out, trainable_floats or off


def subnet_shape(entry, c, s):
    name, shape, _, block, sl = entry
    if block is not None and block >= s["layers"]:
        return None
    width = head_dim(c) * s["heads"]
    return [s["ffDim"] if (sl and sl[i] == "ff") else width if (sl and sl[i] == "ssm") else n for i, n in enumerate(shape)]


def count_params(c, s=None):
    """Trained parameters of a subnet (config.ts countParams), without the training-only CTC head."""
    s = s or supernet_spec(c)
    n = 0
    for e in param_table(c):
        if not e[2] or e[0].startswith("ctc.") or e[0].startswith("simple."):
            continue
        sh = subnet_shape(e, c, s)
        if sh:
            n += numel(sh)
    return n


def supernet_spec(c):
    return {"layers": c["layers"], "ffDim": c["ffDim"], "heads": c["heads"]}


def subnet_name(s):
    return f"L{s['layers']}-ff{s['ffDim']}-h{s['heads']}"


def parse_subnet_name(name):
    import re
    m = re.fullmatch(r"L(\d+)-ff(\d+)-h(\d+)", name)
    if not m:
        raise ConfigError(f'"{name}" is not a subnet name (expected e.g. L6-ff576-h4)')
    return {"layers": int(m[1]), "ffDim": int(m[2]), "heads": int(m[3])}


# ---- the Supernet (src/model/supernet.ts) ------------------------------------------------------------------

def js_round(x):
    return math.floor(x + 0.5)


def resolve_choices(m, s):
    uniq = lambda a: sorted(set(x for x in a if x >= 1))
    return {
        "layers": s["layers"] or uniq([js_round(m["layers"] / 3), js_round(2 * m["layers"] / 3), m["layers"]]),
        "ffDims": s["ffDims"] or uniq([js_round(m["ffDim"] / 4), js_round(m["ffDim"] / 2), m["ffDim"]]),
        "heads": s["heads"] or [2 * (i + 1) for i in range(m["heads"] // 2)],
    }


def list_subnets(m, s):
    """Every subnet of the space, largest first by parameters (ties: deeper, then wider): [{name, spec, params}]."""
    if not s["enabled"]:
        specs = [supernet_spec(m)]
    else:
        ch = resolve_choices(m, s)
        dedup = lambda a: list(dict.fromkeys(a))
        specs = [{"layers": L, "ffDim": f, "heads": h} for L in dedup(ch["layers"]) for f in dedup(ch["ffDims"]) for h in dedup(ch["heads"])]
    out = [{"name": subnet_name(sp), "spec": sp, "params": count_params(m, sp)} for sp in specs]
    out.sort(key=lambda x: (-x["params"], -x["spec"]["layers"], -x["spec"]["ffDim"], -x["spec"]["heads"]))
    return out


def sample_sandwich(subnets, random, uniform):
    """The largest, the smallest, and `random` distinct others drawn uniformly (supernet.ts sampleSandwich)."""
    if len(subnets) <= 2:
        return list(subnets)
    out = [subnets[0], subnets[-1]]
    middle = subnets[1:-1]
    for _ in range(random):
        if not middle:
            break
        out.append(middle.pop(math.floor(uniform() * len(middle))))
    return out


def subnet_dropout(rule, p_max, params, params_max):
    if rule["rule"] == "fixed":
        return p_max
    if rule["rule"] == "largest":
        return p_max if params >= params_max else 0.0
    return p_max * math.pow(params / params_max, rule["gamma"])


def kd_options(s):
    """The distillation settings of a step, or None (supernet.ts kdOptions)."""
    if not s["enabled"] or s["kd"]["method"] == "none" or not s["kd"]["lambda"] > 0:
        return None
    kl = s["kd"]["method"] == "kl"
    return {"lambda": s["kd"]["lambda"], "alphaNeg": 1 if kl else s["kd"]["alphaNeg"], "alphaPos": 1 if kl else s["kd"]["alphaPos"],
            "clip": s["kd"]["clip"]}


def validation_subnets(all_, names):
    if names:
        by = {s["name"]: s for s in all_}
        return [by[n] for n in names if n in by]
    if len(all_) <= 4:
        return list(all_)
    idx = [0, js_round((len(all_) - 1) / 3), js_round(2 * (len(all_) - 1) / 3), len(all_) - 1]
    return [all_[i] for i in dict.fromkeys(idx)]


# ---- the training configuration (src/train/config.ts) -------------------------------------------------------

def merge_config(base, patch, source, path=""):
    """Deep-merges patch into a copy of base, refusing keys base does not have (todm's mergeConfig)."""
    if not isinstance(patch, dict):
        raise ConfigError(f"{source}: {path or 'the config'} must be a JSON object")
    out = copy.deepcopy(base)
    for k, v in patch.items():
        key = f"{path}.{k}" if path else k
        if k not in out:
            raise ConfigError(f'{source}: unknown option "{key}" (todm_torch knows the options of `todm train --help`)')
        cur = out[k]
        if isinstance(cur, dict):
            out[k] = merge_config(cur, v, source, key)
        else:
            ok = cur is None or v is None or type(cur) is type(v) or (isinstance(cur, (int, float)) and isinstance(v, (int, float))
                                                                       and not isinstance(cur, bool) and not isinstance(v, bool))
            if not ok:
                raise ConfigError(f'{source}: option "{key}" must be {"an array" if isinstance(cur, list) else "a " + type(cur).__name__}, got {json.dumps(v)}')
            out[k] = v
    return out


def parse_override(s):
    """`key=value` (value as JSON when it parses, else a string) into a nested patch."""
    if "=" not in s or s.index("=") == 0:
        raise ConfigError(f"--set {s}: expected key=value, e.g. --set train.maxSteps=100")
    k, v = s.split("=", 1)
    try:
        value = json.loads(v)
    except json.JSONDecodeError:
        value = v
    root = node = {}
    keys = k.split(".")
    for i, key in enumerate(keys):
        if i == len(keys) - 1:
            node[key] = value
        else:
            node[key] = {}
            node = node[key]
    return root


def load_train_config(path=None, overrides=()):
    cfg = copy.deepcopy(DEFAULT_TRAIN)
    if path:
        try:
            with open(path, encoding="utf-8") as f:
                parsed = json.load(f)
        except FileNotFoundError:
            raise ConfigError(f"{path}: no such file") from None
        except json.JSONDecodeError as e:
            raise ConfigError(f"{path}: not valid JSON ({e})") from None
        cfg = merge_config(cfg, parsed, path)
    for o in overrides:
        cfg = merge_config(cfg, parse_override(o), f"--set {o}")
    return cfg


def check_supported(cfg, source):
    """Refuses the parts of todm's recipe that this package does not mirror (rather than silently ignoring them)."""
    bad = []
    if cfg["optim"]["name"] != "scaled_adam":
        bad.append(f'optim.name "{cfg["optim"]["name"]}" (ScaledAdam only)')
    if cfg["train"]["speedPerturb"]:
        bad.append("train.speedPerturb true (speed perturbation is not mirrored)")
    if cfg["model"].get("loss", "full") != "full":
        bad.append('model.loss "pruned" (the pruned RNN-T loss is not mirrored)')
    if cfg["supernet"]["kd"].get("sizeGamma", 0):
        bad.append(f'supernet.kd.sizeGamma {cfg["supernet"]["kd"]["sizeGamma"]} (one KD weight for every student)')
    if cfg["supernet"].get("sampleBias", 0):
        bad.append(f'supernet.sampleBias {cfg["supernet"]["sampleBias"]} (the sandwich is sampled uniformly)')
    if cfg["supernet"]["enabled"] and cfg["supernet"]["kd"]["method"] not in ("alpha", "kl", "none"):
        bad.append(f'supernet.kd.method {cfg["supernet"]["kd"]["method"]!r}')
    if bad:
        raise ConfigError(f"{source}: todm_torch does not support " + "; ".join(bad))


def end_of_run_notes(cfg):
    """What `todm train` does at the end of a run and todm_torch leaves to todm's commands (logged, not silent)."""
    notes = []
    if cfg["train"].get("average", {}).get("every", 0) > 0:
        notes.append("train.average: weight averaging is not mirrored; the run keeps its final weights "
                     "(`todm average --run OUT` averages checkpoints)")
    if cfg.get("lm", {}).get("enabled"):
        notes.append("lm: the run does not build its n-gram LM; `todm lm --text ... --model OUT` builds one")
    return notes
