"""The todm model in PyTorch, built from a todm model file: the Supernet with leading-slice subnets.

What it is: an nn.Module (float32 by default, float64 on request) whose parameters are the tensors of
a todm safetensors file (names and shapes of src/model/config.ts paramTable, checked on load), taking
its ModelConfig from the `todm.config` metadata, and running the network of src/model/model.ts:
  global feature normalisation (x - feat_mean) * feat_istd on every frame, padding included;
  Conv2d(1->C, 3x3, stride 2) + ReLU, Conv2d(C->C, 3x3, stride 2) + ReLU, time padding (2, 0) when
  causal, none otherwise, no padding in frequency; permute to [B, T', C*F']; Linear to d;
  the first `layers` Stateformer blocks of src/model/encoder.ts (MH-SSM through its convolution view,
  per-utterance lengths; the subnet's leading ffDim units and heads);
  an LSTM predictor over [blank (id 0), labels]; the joiner out(tanh(enc(e) + pred(p)));
  the RNN-T loss per utterance (torchaudio rnnt_loss, blank 0, clamp -1, in float32; in float64,
  where torchaudio refuses, a log-space dynamic programme over the lattice, Graves 2012);
  with ctcWeight > 0 the auxiliary CTC head on the encoder output (torch's ctc_loss, zero_infinity).
Dropout at todm's three points (FF hidden after SiLU, FF output, MH-SSM output) through `self.drop`:
None, or a DropoutMasks that draws each utterance's masks from its own seed (so that a batch split over
ranks draws the masks of the whole batch, as todm's threads do; not todm's masks), or `p_drop` with
torch's own masks (the mirror of test/ref/train_mirror.py).
What it is not: the Supernet step (supernet.py), a trainer or a loader of foreign checkpoints.
The engine is checked against it (test/model-mirror.test.ts via test/ref/model_steps.py) and it
against the engine (test/torch.test.ts).

    m = TodmModel.from_file("model.safetensors")            # or dtype=torch.float64
    out = m(feats, feat_lens, tokens, token_lens)           # out["losses"] [B], out["enc"] [B, T', d]
    out["losses"].mean().backward()
"""
import json

import numpy as np
import torch
import torch.nn.functional as F

from .config import FORMAT_VERSION, check_model_config, head_dim, param_table, subsampled_length, supernet_spec
from .safetensors import ModelFileError, read_safetensors


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
    targets = targets[:, :max(Um, 1)].to(torch.int32).contiguous()
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
    vander = torch.exp(dtA[:, :, None] * torch.arange(T, dtype=u.dtype, device=u.device))
    k = 2 * torch.einsum("cn,cnl->cl", Cc, vander).real
    y = torch.fft.irfft(torch.fft.rfft(u.transpose(1, 2), n=2 * T) * torch.fft.rfft(k, n=2 * T), n=2 * T)[..., :T]
    return y.transpose(1, 2) + d * u


class DropoutMasks:
    """Inverted dropout with probability p whose masks are drawn per utterance: utterance b's generator is
    seeded with seeds[b], and each dropout point draws rand(valid frames, width) from it in call order.
    So the masks of an utterance do not depend on the other utterances of its batch, on its padding, or
    on the rank that holds it."""

    def __init__(self, p, seeds):
        self.p = float(p)
        self.gens = [torch.Generator().manual_seed(int(s)) for s in seeds]

    def __call__(self, x, lens):
        if self.p <= 0:
            return x
        B, T, W = x.shape
        keep = torch.ones(B, T, W, dtype=x.dtype)
        for b in range(B):
            n = int(lens[b])
            if n > 0:
                keep[b, :n] = (torch.rand(n, W, generator=self.gens[b]) >= self.p).to(x.dtype)
        return x * keep.to(x.device) * (1.0 / (1.0 - self.p))


class TodmModel(torch.nn.Module):
    # torch's own dropout masks at todm's three points in training mode (the mirror's); 0 leaves the graph untouched
    p_drop = 0.0

    def __init__(self, cfg, tensors, dtype=torch.float32, source="model"):
        super().__init__()
        self.cfg = check_model_config(dict(cfg), source)
        self.dtype = dtype
        self.names = []
        self.trainable_names = []
        self.drop = None  # a DropoutMasks for the next forward, or None
        for name, shape, trainable, _, _ in param_table(self.cfg):
            if name not in tensors:
                raise ModelFileError(source, f"tensor {name} is missing")
            v = torch.tensor(np.asarray(tensors[name], dtype=np.float32)).to(dtype)
            if list(v.shape) != shape:
                raise ModelFileError(source, f"tensor {name} is {list(v.shape)}, todm.config implies {shape}")
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
        cfg, _ = parse_metadata(meta, path)
        if "todm.quant" in meta:
            raise ModelFileError(path, "an int8 export (todm.quant): train from a float model file")
        return cls(cfg, tensors, dtype, source=path)

    def p(self, name):
        return getattr(self, name.replace(".", "__"))

    def trainable(self):
        """Trained tensors in the parameter table's order."""
        return [self.p(n) for n in self.trainable_names]

    def supernet(self):
        return supernet_spec(self.cfg)

    def state_tensors(self):
        """{name: float32 numpy array} of every tensor, in the parameter table's order."""
        return {n: self.p(n).detach().float().cpu().numpy().copy() for n in self.names}

    def dropout(self, x, lens):
        if self.drop is not None:
            return self.drop(x, lens)
        return F.dropout(x, self.p_drop, True) if self.training and self.p_drop > 0 else x

    # ---- encoder ----
    def block(self, l, x, lens, sub):
        c = self.cfg
        d, P = c["dModel"], head_dim(c)
        ff, C = sub["ffDim"], sub["heads"] * P
        g = lambda n: self.p(f"encoder.blocks.{l}.{n}")

        def feed_forward(m, z):
            z = F.layer_norm(z, (d,), g(m + ".norm.weight"), g(m + ".norm.bias"), 1e-5)
            h = self.dropout(F.silu(z @ g(m + ".w1.weight")[:ff].T + g(m + ".w1.bias")[:ff]), lens)
            return self.dropout(h @ g(m + ".w2.weight")[:, :ff].T + g(m + ".w2.bias"), lens)

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
        t = torch.arange(T, device=x.device)[None, :]
        valid = t < lens[:, None].long().to(x.device)
        y = ssm_direction(u, *par("fwd"), lo, hi, a)
        if not c["causal"]:
            rev = torch.where(valid, lens[:, None].long().to(x.device) - 1 - t, t)[:, :, None].expand(B, T, C)
            y = y + torch.gather(ssm_direction(torch.gather(u, 1, rev), *par("bwd"), lo, hi, a), 1, rev)
        y = y * valid[:, :, None].to(y.dtype)
        # pairwise gating of heads (2i, 2i+1): [ya * sigmoid(yg), yg * sigmoid(ya)]
        pairs = y.reshape(B, T, C // (2 * P), 2, P)
        ya, yg = pairs[:, :, :, 0], pairs[:, :, :, 1]
        o = torch.stack([ya * torch.sigmoid(yg), yg * torch.sigmoid(ya)], 3).reshape(B, T, C)
        x = x + self.dropout(o @ g("ssm.out.weight")[:, :C].T + g("ssm.out.bias"), lens)
        # x = x + 1/2 FF2(LN x); y = LN x
        x = x + 0.5 * feed_forward("ff2", x)
        return F.layer_norm(x, (d,), g("norm.weight"), g("norm.bias"), 1e-5)

    def frontend(self, feats, feat_lens):
        """Normalisation and subsampling (no dropout, not elastic): (h [B, T', d], lens' [B] int32)."""
        c = self.cfg
        x = (feats.to(self.dtype) - self.p("frontend.feat_mean")) * self.p("frontend.feat_istd")
        pad = 2 if c["causal"] else 0
        h = x[:, None]
        for k in (1, 2):
            h = F.pad(h, (0, 0, pad, 0))
            h = F.relu(F.conv2d(h, self.p(f"encoder.subsample.conv{k}.weight"), self.p(f"encoder.subsample.conv{k}.bias"), stride=2))
        B, C, T2, F2 = h.shape
        h = h.permute(0, 2, 1, 3).reshape(B, T2, C * F2)
        h = h @ self.p("encoder.subsample.out.weight").T + self.p("encoder.subsample.out.bias")
        lens = torch.tensor([min(T2, subsampled_length(int(t), c["causal"])) for t in feat_lens], dtype=torch.int32, device=h.device)
        return h, lens

    def blocks(self, h, lens, sub=None):
        sub = sub or self.supernet()
        for l in range(sub["layers"]):
            h = self.block(l, h, lens, sub)
        return h

    def encode(self, feats, feat_lens, sub=None):
        """feats [B, T, F] (padded with anything), feat_lens [B] -> (enc [B, T', d], lens' [B])."""
        h, lens = self.frontend(feats, feat_lens)
        return self.blocks(h, lens, sub), lens

    # ---- transducer ----
    def lstm_weights(self):
        c = self.cfg
        return [self.p(f"predictor.lstm.{l}.{n}") for l in range(c["predictorLayers"]) for n in ("w_ih", "w_hh", "b_ih", "b_hh")]

    def predict(self, tokens):
        """tokens [B, U] -> predictor output [B, U+1, P] over [blank, tokens]."""
        c = self.cfg
        B = tokens.shape[0]
        ids = torch.cat([torch.zeros(B, 1, dtype=torch.long, device=tokens.device), tokens.long()], 1)
        x = F.embedding(ids, self.p("predictor.embedding.weight"))
        L, H = c["predictorLayers"], c["predictorDim"]
        h0 = torch.zeros(L, B, H, dtype=self.dtype, device=tokens.device)
        # torch's fused LSTM (what nn.LSTM calls), on our parameter tensors: gates i, f, g, o
        out, _, _ = torch.lstm(x, (h0, h0), self.lstm_weights(), True, L, 0.0, self.training, False, True)
        return out

    def join(self, enc, pred):
        g = self.p
        e = enc @ g("joiner.enc.weight").T + g("joiner.enc.bias")
        q = pred @ g("joiner.pred.weight").T + g("joiner.pred.bias")
        return torch.tanh(e[:, :, None] + q[:, None]) @ g("joiner.out.weight").T + g("joiner.out.bias")

    def ctc_losses(self, enc, lens, tokens, token_lens):
        """The auxiliary CTC head's per-utterance losses (0, without gradient, where the labels do not fit)."""
        logits = enc @ self.p("ctc.weight").T + self.p("ctc.bias")
        lp = torch.log_softmax(logits, -1).transpose(0, 1)
        tl = torch.as_tensor(token_lens, dtype=torch.long, device=enc.device)
        return F.ctc_loss(lp, tokens.long(), lens.long(), tl, blank=0, reduction="none", zero_infinity=True)

    def forward(self, feats, feat_lens, tokens, token_lens, sub=None):
        enc, lens = self.encode(feats, feat_lens, sub)
        logits = self.join(enc, self.predict(tokens))
        losses = rnnt_loss(logits, tokens, lens, torch.as_tensor(token_lens, dtype=torch.int32, device=logits.device))
        return {"losses": losses, "enc": enc, "enc_lens": lens, "logits": logits}

    @torch.no_grad()
    def greedy(self, feats, feat_lens, sub=None):
        """decode.ts greedySearch with maxSymPerFrame 1: token ids per utterance."""
        enc, lens = self.encode(feats, feat_lens, sub)
        g, c = self.p, self.cfg
        L, H = c["predictorLayers"], c["predictorDim"]
        w = self.lstm_weights()
        B = enc.shape[0]
        e = enc @ g("joiner.enc.weight").T + g("joiner.enc.bias")

        def step(ids, h, cc):
            x = F.embedding(ids[:, None], g("predictor.embedding.weight"))
            out, h, cc = torch.lstm(x, (h, cc), w, True, L, 0.0, False, False, True)
            return out[:, 0] @ g("joiner.pred.weight").T + g("joiner.pred.bias"), h, cc

        dev = enc.device
        h = torch.zeros(L, B, H, dtype=self.dtype, device=dev)
        cc = torch.zeros(L, B, H, dtype=self.dtype, device=dev)
        q, h, cc = step(torch.zeros(B, dtype=torch.long, device=dev), h, cc)
        hyps = [[] for _ in range(B)]
        for t in range(int(lens.max()) if B else 0):
            logits = torch.tanh(e[:, t] + q) @ g("joiner.out.weight").T + g("joiner.out.bias")
            k = logits.argmax(-1)
            emit = (k != 0) & (t < lens)
            if not bool(emit.any()):
                continue
            for b in torch.nonzero(emit)[:, 0].tolist():
                hyps[b].append(int(k[b]))
            q2, h2, c2 = step(k, h, cc)
            m = emit[:, None]
            q = torch.where(m, q2, q)
            h = torch.where(m[None], h2, h)
            cc = torch.where(m[None], c2, cc)
        return hyps


def parse_metadata(meta, path):
    """(model config, tokenizer dict or None) of a todm file; refuses other format versions."""
    if "todm.format_version" not in meta:
        raise ModelFileError(path, "not a todm model file (no todm.format_version metadata)")
    if meta["todm.format_version"] != FORMAT_VERSION:
        raise ModelFileError(path, f"todm.format_version {meta['todm.format_version']!r} is not supported "
                                   f"(todm_torch reads version {FORMAT_VERSION!r})")
    if "todm.config" not in meta:
        raise ModelFileError(path, "no todm.config metadata")
    try:
        cfg = json.loads(meta["todm.config"])
        tok = json.loads(meta["todm.tokenizer"]) if "todm.tokenizer" in meta else None
    except json.JSONDecodeError as e:
        raise ModelFileError(path, f"metadata is not JSON ({e})") from None
    check_model_config(cfg, path)
    return cfg, tok
