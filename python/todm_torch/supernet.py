"""One Supernet training step in PyTorch: the sandwich of subnets, adaptive dropout and in-place
alpha-divergence distillation, as src/model/model.ts Model.sandwichStep and src/train/loop.ts planAt.

What it is: `plan_at(cfg, subnets, step)` (the step's members, drawn with mulberry32(hashSeed(seed, step,
0x5a4d)) as todm draws them, and their dropout under the configured rule) and `SupernetStep`, an
nn.Module whose one forward runs every member on the same batch and returns the loss to back-propagate
(so that DistributedDataParallel sees one forward and one backward per step):
  the frontend once (no dropout, not elastic), then per member i its first `layers` blocks with its own
  dropout (masks per utterance from hashSeed(memberSeed(seed, i), utterance index in the whole batch)),
  the joiner over the predictor output, and per utterance b
    loss_b = (1 - λ_i)·RNNT_b + λ_i·KD_b + w·CTC_b,   λ_0 = 0 (the largest learns from the labels)
  where KD_b is AlphaNet's adaptive alpha-divergence between the largest member's joiner distributions
  (detached) and member i's, with the gradient of AlphaNet's stop-gradient surrogate (kd_alpha), and w
  is model.ctcWeight (full weight for every member). The step's loss is loss_weight·Σ_i Σ_b loss_b.
`kd_alpha` is assembly/transducer/kd.ts's divergence (formulas in its header and /work/shared/PAPERS.md).
What it is not: the optimizer step, the data, or the pruned loss. Dropout masks are not todm's (they are
drawn per utterance, so that a batch split over ranks draws the masks of the whole batch).
"""
import math

import torch

from .config import kd_options, sample_sandwich, subnet_dropout, supernet_spec
from .data import hash_seed, member_seed, mulberry32
from .model import DropoutMasks, rnnt_loss


def plan_at(cfg, subnets, step):
    """The step's members [{spec, name, dropout}] and distillation options (loop.ts planAt)."""
    space, p_max = cfg["supernet"], cfg["train"]["dropout"]
    if not space["enabled"]:
        return {"members": [{"spec": supernet_spec(cfg["model"]), "name": subnets[0]["name"], "dropout": p_max}], "kd": None}
    picked = sample_sandwich(subnets, space["random"], mulberry32(hash_seed(cfg["train"]["seed"], step, 0x5A4D)))
    members = [{"spec": s["spec"], "name": s["name"], "dropout": subnet_dropout(space["dropout"], p_max, s["params"], subnets[0]["params"])}
               for s in picked]
    return {"members": members, "kd": kd_options(space) if len(members) > 1 else None}


def kd_alpha(z, teacher_logp, tlens, ulens, alpha_neg, alpha_pos, clip):
    """(KD_b, surrogate_b) per utterance for student logits z [B, T, U1, V] and teacher log-probs (detached):
    KD_b = max(D_α-(b), D_α+(b)), D_α(b) the mean over the nodes t < T_b, u <= U_b of AlphaNet's clipped
    f-divergence; surrogate_b the mean of -Σ_i sg(q_i)·sg(ρ_i)·log q_i of the chosen α, whose gradient
    is the one todm back-propagates (kd.ts). KD_b carries no gradient."""
    B, T, U1, V = z.shape
    logq = torch.log_softmax(z, -1)
    q = logq.detach().exp()
    logw = teacher_logp - logq.detach()
    dev = z.device
    t = torch.arange(T, device=dev)[None, :, None]
    u = torch.arange(U1, device=dev)[None, None, :]
    tl = torch.as_tensor(tlens, device=dev).long()
    ul = torch.as_tensor(ulens, device=dev).long()
    mask = ((t < tl[:, None, None]) & (u <= ul[:, None, None])).to(z.dtype)
    nodes = (tl * (ul + 1)).clamp(min=1).to(z.dtype)
    log_clip = math.log(clip)

    def branch(alpha):
        with torch.no_grad():
            if abs(alpha) < 1e-3:
                lwc = logw.clamp(max=log_clip)
                div, rho = -(q * lwc).sum(-1), lwc
            elif abs(alpha - 1) < 1e-3:
                p = teacher_logp.exp()
                div = torch.where(p > 0, p * logw, torch.zeros_like(p)).sum(-1)
                rho = logw.exp()
            else:
                wac = (alpha * logw).clamp(max=log_clip).exp()
                div = (q * (wac - 1)).sum(-1) / (alpha * (alpha - 1))
                rho = wac / alpha
            weight = q * rho
        sur = -(weight * logq).sum(-1)
        return (div * mask).sum((1, 2)) / nodes, (sur * mask).sum((1, 2)) / nodes

    dn, sn = branch(alpha_neg)
    if alpha_neg == alpha_pos:
        return dn, sn
    dp, sp = branch(alpha_pos)
    neg = dn > dp
    return torch.where(neg, dn, dp), torch.where(neg, sn, sp)


class SupernetStep(torch.nn.Module):
    """model.forward of a training step: `step(feats, lens, tokens, tlens, plan, seed, rows, loss_weight)`."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, feats, feat_lens, tokens, token_lens, plan, seed, rows, loss_weight):
        """rows: each utterance's index in the whole batch. Returns (loss to back-propagate, stats float64
        [2 + 3·members]: lossSum, frames, then per member the sums of its RNN-T, KD and CTC losses).
        feats None: this rank holds no utterance of the batch (idle)."""
        if feats is None:
            return self.idle(), torch.zeros(2 + 3 * len(plan["members"]), dtype=torch.float64)
        m = self.model
        c = m.cfg
        h, lens = m.frontend(feats, feat_lens)
        tl = torch.as_tensor(token_lens, dtype=torch.int32, device=h.device)
        pred = m.predict(tokens)
        kd = plan["kd"]
        ctc_w = c.get("ctcWeight") or 0
        total = h.new_zeros(())
        stats = [0.0, float(lens.sum())]
        teacher = None
        for i, mem in enumerate(plan["members"]):
            seeds = [hash_seed(member_seed(seed, i), int(r)) for r in rows]
            m.drop = DropoutMasks(mem["dropout"], seeds) if mem["dropout"] > 0 else None
            try:
                enc = m.blocks(h, lens, mem["spec"])
            finally:
                m.drop = None
            logits = m.join(enc, pred)
            rnnt = rnnt_loss(logits, tokens, lens, tl)
            lam = kd["lambda"] if (kd and i > 0) else 0.0
            per = (1 - lam) * rnnt
            kd_sum = 0.0
            if kd and i == 0:
                teacher = torch.log_softmax(logits.detach(), -1)
            elif kd:
                vals, sur = kd_alpha(logits, teacher, lens, tl, kd["alphaNeg"], kd["alphaPos"], kd["clip"])
                per = per + lam * (sur - sur.detach() + vals)
                kd_sum = float(vals.sum())
            ctc_sum = 0.0
            if ctc_w > 0:
                ctc = m.ctc_losses(enc, lens, tokens, tl)
                per = per + ctc_w * ctc
                ctc_sum = float(ctc.detach().sum())
            total = total + loss_weight * per.sum()
            if i == 0:
                stats[0] = float(rnnt.detach().sum())
                self.last_losses = rnnt.detach()
            stats += [float(rnnt.detach().sum()), kd_sum, ctc_sum]
        return total, torch.tensor(stats, dtype=torch.float64)

    def idle(self):
        """The loss of a rank without utterances this step: zero, but it touches every parameter, so that
        DDP's backward hooks fire on this rank too (its gradient contribution is 0). Call it through the
        DDP-wrapped forward (feats None), so that DDP prepares its backward as on the other ranks."""
        return sum((p * 0).sum() for p in self.model.parameters())
