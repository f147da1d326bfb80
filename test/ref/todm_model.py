"""The whole todm model in PyTorch, built from a todm model file: the mirror the engine is checked against.

What it is: an nn.Module (float32 by default, float64 on request) that reads a todm safetensors file
(parsed by hand: a little-endian u64 header length, the JSON header with its `__metadata__`, raw data;
Debian's torch 1.13 has no safetensors package), takes the ModelConfig from the `todm.config`
metadata, and runs the same network as src/model/model.ts Model.trainStep:
  global feature normalisation (x - feat_mean) * feat_istd on every frame, padding included;
  Conv2d(1->C, 3x3, stride 2) + ReLU, Conv2d(C->C, 3x3, stride 2) + ReLU, time padding (2, 0) when
  causal, none otherwise, no padding in frequency; permute to [B, T', C*F']; Linear to d;
  the first `layers` Stateformer blocks of src/model/encoder.ts (MH-SSM through its convolution view,
  as in test/ref/stateformer.py, with per-utterance lengths; leading-slice subnets);
  an LSTM predictor over [blank (id 0), labels]; the joiner out(tanh(enc(e) + pred(p)));
  the RNN-T loss per utterance (torchaudio rnnt_loss, blank 0, clamp -1, in float32; in float64,
  where torchaudio refuses, a log-space dynamic programme over the lattice, Graves 2012).
Lengths after subsampling are those of src/model/model.ts `subsampledLength`.
Dropout (`p_drop`, default 0) at ours' three dropout points, for test/ref/train_mirror.py.
What it is not: a trainer, a decoder or a loader of foreign checkpoints. Not imported by the tests
(they never run Python); used by test/ref/model_steps.py, test/ref/train_mirror.py and bench/peers/train.py.

    from todm_model import TodmModel
    m = TodmModel.from_file("model.safetensors")            # or dtype=torch.float64
    out = m(feats, feat_lens, tokens, token_lens)           # out["losses"] [B], out["enc"] [B, T', d]
    out["losses"].mean().backward()
"""
import json
import struct

import numpy as np
import torch
import torch.nn.functional as F

ST_DTYPES = {"F32": np.float32, "F64": np.float64, "I32": np.int32, "I64": np.int64, "I8": np.int8, "U8": np.uint8}


def read_safetensors(path):
    """(tensors: {name: np.ndarray}, metadata: {str: str}) from a safetensors file."""
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n].decode("utf-8"))
    meta = header.pop("__metadata__", {}) or {}
    base = 8 + n
    tensors = {}
    for name, h in header.items():
        lo, hi = h["data_offsets"]
        a = np.frombuffer(raw[base + lo:base + hi], dtype=ST_DTYPES[h["dtype"]]).reshape(h["shape"])
        tensors[name] = a.copy()
    return tensors, meta


def write_safetensors(path, tensors, metadata):
    """Writes {name: np.ndarray} (in the dict's order) with string metadata; header padded to 8 bytes."""
    names = {np.dtype(v): k for k, v in ST_DTYPES.items()}
    header, blobs, off = {"__metadata__": metadata}, [], 0
    for name, a in tensors.items():
        a = np.ascontiguousarray(a)
        b = a.tobytes()
        header[name] = {"dtype": names[a.dtype], "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode("utf-8")
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def subsampled_bins(feat_dim):
    f1 = (feat_dim - 3) // 2 + 1
    return (f1 - 3) // 2 + 1


def subsampled_length(t, causal):
    once = lambda n: (n - 1) // 2 + 1 if causal else (n - 3) // 2 + 1
    return max(0, once(max(0, once(t))))


def head_dim(c):
    """Channels per MH-SSM head (config.ts headDimOf): headDim, 0 or absent = dModel / heads."""
    return c.get("headDim") or c["dModel"] // c["heads"]


def param_table(c):
    """(name, shape, trainable) in the order of src/model/config.ts paramTable."""
    d, cs, ff, half, P = c["dModel"], c["subsampleChannels"], c["ffDim"], c["stateSize"] // 2, c["predictorDim"]
    D = c["heads"] * head_dim(c)  # the MH-SSM width (config.ts ssmWidth)
    t = [("encoder.subsample.conv1.weight", [cs, 1, 3, 3], True), ("encoder.subsample.conv1.bias", [cs], True),
         ("encoder.subsample.conv2.weight", [cs, cs, 3, 3], True), ("encoder.subsample.conv2.bias", [cs], True),
         ("encoder.subsample.out.weight", [d, cs * subsampled_bins(c["featDim"])], True),
         ("encoder.subsample.out.bias", [d], True)]
    dirs = ["fwd"] if c["causal"] else ["fwd", "bwd"]
    for l in range(c["layers"]):
        p = f"encoder.blocks.{l}."

        def ff_module(m):
            t.extend([(f"{p}{m}.norm.weight", [d], True), (f"{p}{m}.norm.bias", [d], True),
                      (f"{p}{m}.w1.weight", [ff, d], True), (f"{p}{m}.w1.bias", [ff], True),
                      (f"{p}{m}.w2.weight", [d, ff], True), (f"{p}{m}.w2.bias", [d], True)])

        ff_module("ff1")
        t.extend([(f"{p}ssm.norm.weight", [d], True), (f"{p}ssm.norm.bias", [d], True),
                  (f"{p}ssm.in.weight", [D, d], True), (f"{p}ssm.in.bias", [D], True)])
        for dr in dirs:
            t.extend([(f"{p}ssm.{dr}.s", [D], True), (f"{p}ssm.{dr}.c_re", [D, half], True),
                      (f"{p}ssm.{dr}.c_im", [D, half], True), (f"{p}ssm.{dr}.d", [D], True)])
        t.extend([(f"{p}ssm.a_re", [half], False), (f"{p}ssm.a_im", [half], False),
                  (f"{p}ssm.log_dt_min", [D], False), (f"{p}ssm.log_dt_max", [D], False),
                  (f"{p}ssm.out.weight", [d, D], True), (f"{p}ssm.out.bias", [d], True)])
        if c["convKernel"]:
            raise ValueError("the convolution module is not wired in the engine yet (convKernel must be 0)")
        ff_module("ff2")
        t.extend([(f"{p}norm.weight", [d], True), (f"{p}norm.bias", [d], True)])
    t.append(("predictor.embedding.weight", [c["vocabSize"], P], True))
    for l in range(c["predictorLayers"]):
        t.extend([(f"predictor.lstm.{l}.w_ih", [4 * P, P], True), (f"predictor.lstm.{l}.w_hh", [4 * P, P], True),
                  (f"predictor.lstm.{l}.b_ih", [4 * P], True), (f"predictor.lstm.{l}.b_hh", [4 * P], True)])
    J, V = c["joinerDim"], c["vocabSize"]
    t.extend([("joiner.enc.weight", [J, d], True), ("joiner.enc.bias", [J], True),
              ("joiner.pred.weight", [J, P], True), ("joiner.pred.bias", [J], True),
              ("joiner.out.weight", [V, J], True), ("joiner.out.bias", [V], True),
              ("frontend.feat_mean", [c["featDim"]], False), ("frontend.feat_istd", [c["featDim"]], False)])
    return t


def rnnt_loss_dp(logits, targets, logit_lengths, target_lengths):
    """-log P(y|x) per utterance by the forward (alpha) recursion in log space, any float dtype, autograd.
    alpha(t,u) = logaddexp(alpha(t-1,u) + blank(t-1,u), alpha(t,u-1) + emit(t,u-1)); loss = -(alpha(T-1,U) + blank(T-1,U))."""
    B, T, U1, _ = logits.shape
    logp = torch.log_softmax(logits, -1)
    blank = logp[..., 0]
    emit = torch.gather(logp[:, :, :U1 - 1], 3, targets.long()[:, None, :, None].expand(B, T, U1 - 1, 1))[..., 0]
    losses = []
    for b in range(B):
        Tb, Ub = int(logit_lengths[b]), int(target_lengths[b])
        prev = None
        for t in range(Tb):
            row = []
            for u in range(Ub + 1):
                cands = []
                if t > 0:
                    cands.append(prev[u] + blank[b, t - 1, u])
                if u > 0:
                    cands.append(row[u - 1] + emit[b, t, u - 1])
                row.append(torch.zeros((), dtype=logits.dtype) if not cands else torch.logsumexp(torch.stack(cands), 0))
            prev = row
        losses.append(-(prev[Ub] + blank[b, Tb - 1, Ub]))
    return torch.stack(losses)


def rnnt_loss(logits, targets, logit_lengths, target_lengths):
    """Per-utterance losses; torchaudio needs logits cut to max(lengths), and float32."""
    Tm, Um = int(logit_lengths.max()), int(target_lengths.max())
    logits = logits[:, :Tm, :Um + 1]
    targets = targets[:, :Um].to(torch.int32).contiguous()
    if logits.dtype == torch.float32:
        import torchaudio.functional as AF
        return AF.rnnt_loss(logits.contiguous(), targets, logit_lengths.to(torch.int32), target_lengths.to(torch.int32),
                            blank=0, clamp=-1, reduction="none")
    return rnnt_loss_dp(logits, targets, logit_lengths, target_lengths)


def ssm_direction(u, s, c_re, c_im, d, lo, hi, a):
    """One causal S4D direction on u [B, T, C] through its convolution kernel K_l = 2 Re(sum_n C_n dB_n dA_n^l)
    (FFT over 2T, so the circular convolution is a linear one)."""
    T = u.shape[1]
    dt = torch.exp(lo + (hi - lo) * torch.sigmoid(s))
    dtA = a[None, :] * dt[:, None]
    dB = (torch.exp(dtA) - 1) / a[None, :]
    Cc = torch.complex(c_re, c_im) * dB
    vander = torch.exp(dtA[:, :, None] * torch.arange(T, dtype=u.dtype))
    k = 2 * torch.einsum("cn,cnl->cl", Cc, vander).real
    y = torch.fft.irfft(torch.fft.rfft(u.transpose(1, 2), n=2 * T) * torch.fft.rfft(k, n=2 * T), n=2 * T)[..., :T]
    return y.transpose(1, 2) + d * u


class TodmModel(torch.nn.Module):
    # Dropout at ours' three points (FF hidden after SiLU, FF output before the 1/2, MH-SSM output after
    # Out), in training mode only; torch's masks, not ours. 0 (the default) leaves the graph untouched.
    p_drop = 0.0

    def __init__(self, cfg, tensors, dtype=torch.float32):
        super().__init__()
        self.cfg = dict(cfg)
        self.dtype = dtype
        self.names = []
        self.trainable_names = []
        for name, shape, trainable in param_table(cfg):
            if name not in tensors:
                raise ValueError(f"tensor {name} is missing")
            v = torch.tensor(np.asarray(tensors[name], dtype=np.float32)).to(dtype)
            if list(v.shape) != shape:
                raise ValueError(f"tensor {name} is {list(v.shape)}, expected {shape}")
            key = name.replace(".", "__")
            if trainable:
                self.register_parameter(key, torch.nn.Parameter(v))
                self.trainable_names.append(name)
            else:
                self.register_buffer(key, v)
            self.names.append(name)

    @classmethod
    def from_file(cls, path, dtype=torch.float32):
        tensors, meta = read_safetensors(path)
        if "todm.config" not in meta:
            raise ValueError(f"{path}: not a todm model (no todm.config metadata)")
        return cls(json.loads(meta["todm.config"]), tensors, dtype)

    def p(self, name):
        return getattr(self, name.replace(".", "__"))

    def trainable(self):
        """Trained tensors in the parameter table's order (what ScaledAdamRegion steps)."""
        return [self.p(n) for n in self.trainable_names]

    def supernet(self):
        c = self.cfg
        return {"layers": c["layers"], "ffDim": c["ffDim"], "heads": c["heads"]}

    def dropout(self, x):
        return F.dropout(x, self.p_drop, True) if self.training and self.p_drop > 0 else x

    # ---- encoder ----
    def block(self, l, x, lens, sub):
        c = self.cfg
        d, P = c["dModel"], head_dim(c)
        ff, C = sub["ffDim"], sub["heads"] * P
        g = lambda n: self.p(f"encoder.blocks.{l}.{n}")

        def feed_forward(m, z):
            z = F.layer_norm(z, (d,), g(m + ".norm.weight"), g(m + ".norm.bias"), 1e-5)
            h = self.dropout(F.silu(z @ g(m + ".w1.weight")[:ff].T + g(m + ".w1.bias")[:ff]))
            return self.dropout(h @ g(m + ".w2.weight")[:, :ff].T + g(m + ".w2.bias"))

        # x = x + 1/2 FF1(LN x)
        x = x + 0.5 * feed_forward("ff1", x)
        # x = x + Out(MHSSM(In(LN x)))
        z = F.layer_norm(x, (d,), g("ssm.norm.weight"), g("ssm.norm.bias"), 1e-5)
        u = z @ g("ssm.in.weight")[:C].T + g("ssm.in.bias")[:C]
        a = torch.complex(g("ssm.a_re"), g("ssm.a_im"))
        lo, hi = g("ssm.log_dt_min")[:C], g("ssm.log_dt_max")[:C]
        par = lambda dr: [g(f"ssm.{dr}.s")[:C], g(f"ssm.{dr}.c_re")[:C], g(f"ssm.{dr}.c_im")[:C], g(f"ssm.{dr}.d")[:C]]
        B, T = x.shape[:2]
        # Whole padded batch at once: a causal convolution's valid frames never see the padding after
        # them, and frames at or past an utterance's length are zeroed. The backward direction runs on
        # each utterance reversed within its length (index t -> len-1-t, an involution on valid frames).
        t = torch.arange(T)[None, :]
        valid = t < lens[:, None].long()
        y = ssm_direction(u, *par("fwd"), lo, hi, a)
        if not c["causal"]:
            rev = torch.where(valid, lens[:, None].long() - 1 - t, t)[:, :, None].expand(B, T, C)
            y = y + torch.gather(ssm_direction(torch.gather(u, 1, rev), *par("bwd"), lo, hi, a), 1, rev)
        y = y * valid[:, :, None].to(y.dtype)
        # pairwise gating of heads (2i, 2i+1): [ya * sigmoid(yg), yg * sigmoid(ya)]
        pairs = y.reshape(B, T, C // (2 * P), 2, P)
        ya, yg = pairs[:, :, :, 0], pairs[:, :, :, 1]
        o = torch.stack([ya * torch.sigmoid(yg), yg * torch.sigmoid(ya)], 3).reshape(B, T, C)
        x = x + self.dropout(o @ g("ssm.out.weight")[:, :C].T + g("ssm.out.bias"))
        # x = x + 1/2 FF2(LN x); y = LN x
        x = x + 0.5 * feed_forward("ff2", x)
        return F.layer_norm(x, (d,), g("norm.weight"), g("norm.bias"), 1e-5)

    def encode(self, feats, feat_lens, sub=None):
        """feats [B, T, F] (padded with anything), feat_lens [B] -> (enc [B, T', d], lens' [B])."""
        c, sub = self.cfg, sub or self.supernet()
        x = (feats.to(self.dtype) - self.p("frontend.feat_mean")) * self.p("frontend.feat_istd")
        pad = 2 if c["causal"] else 0
        h = x[:, None]
        for k in (1, 2):
            h = F.pad(h, (0, 0, pad, 0))
            h = F.relu(F.conv2d(h, self.p(f"encoder.subsample.conv{k}.weight"), self.p(f"encoder.subsample.conv{k}.bias"), stride=2))
        B, C, T2, F2 = h.shape
        h = h.permute(0, 2, 1, 3).reshape(B, T2, C * F2)
        h = h @ self.p("encoder.subsample.out.weight").T + self.p("encoder.subsample.out.bias")
        lens = torch.tensor([min(T2, subsampled_length(int(t), c["causal"])) for t in feat_lens], dtype=torch.int32)
        for l in range(sub["layers"]):
            h = self.block(l, h, lens, sub)
        return h, lens

    # ---- transducer ----
    def predict(self, tokens):
        """tokens [B, U] -> predictor output [B, U+1, P] over [blank, tokens]."""
        c = self.cfg
        B = tokens.shape[0]
        ids = torch.cat([torch.zeros(B, 1, dtype=torch.long), tokens.long()], 1)
        x = F.embedding(ids, self.p("predictor.embedding.weight"))
        L, H = c["predictorLayers"], c["predictorDim"]
        w = [self.p(f"predictor.lstm.{l}.{n}") for l in range(L) for n in ("w_ih", "w_hh", "b_ih", "b_hh")]
        h0 = torch.zeros(L, B, H, dtype=self.dtype)
        # torch's fused LSTM (what nn.LSTM calls), on our parameter tensors: gates i, f, g, o
        out, _, _ = torch.lstm(x, (h0, h0), w, True, L, 0.0, self.training, False, True)
        return out

    def join(self, enc, pred):
        g = self.p
        e = enc @ g("joiner.enc.weight").T + g("joiner.enc.bias")
        q = pred @ g("joiner.pred.weight").T + g("joiner.pred.bias")
        return torch.tanh(e[:, :, None] + q[:, None]) @ g("joiner.out.weight").T + g("joiner.out.bias")

    def forward(self, feats, feat_lens, tokens, token_lens, sub=None):
        enc, lens = self.encode(feats, feat_lens, sub)
        logits = self.join(enc, self.predict(tokens))
        losses = rnnt_loss(logits, tokens, lens, torch.as_tensor(token_lens, dtype=torch.int32))
        return {"losses": losses, "enc": enc, "enc_lens": lens}
