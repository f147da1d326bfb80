"""ScaledAdam and the Eden schedule, written from their formulas (icefall's zipformer optim.py semantics,
as assembly/optim/scaled_adam.ts and src/engine/optim.ts implement them), with todm's state layout.

What it is: `ScaledAdam(params, lr, clipping_scale, ...)` over a list of tensors (each its own group of
one: no stacking), with icefall's defaults; per step, with g = clip · grad, r = max(param_rms, min_rms),
bc2 = 1 - beta2^(step+1):
  v = beta2 v + (1 - beta2) g^2;  delta = -lr r g / (sqrt(v / (bc2 < 0.99 ? bc2 : 1)) + eps) + s p
  m = beta1 m + (1 - beta1) delta;  p += m
where param_rms = rms(p) at step 0 and every size_update_period (P) steps (at step % P == P - 1), and s
is the learned-scale step on those steps (step > 0): with ring = sum(p · g) of the last P steps,
beta2_P = beta2^P, k = (step + 1) / P:
  scale_v = beta2_P scale_v + (1 - beta2_P) mean(ring^2)
  s = -lr · scalar_lr_scale · sqrt(1 - beta2_P^k) · sum(ring) / (sqrt(scale_v) + eps),
  0 if param_rms < min_rms, clamped to [-0.1, 0.1] and to (max_rms - param_rms) / param_rms.
Scalars (numel 1): lr · scalar_lr_scale, r = 1, s = 0, clamped to ±scalar_max. Clipping: from step 1
the norm sqrt(Σ_t sum(grad_t^2) · w_t^2) (w = param_rms, or scalar_lr_scale for scalars) goes into a
ring of clipping_update_period entries; on steps that are multiples of the period the threshold becomes
clipping_scale · median (on steps 10, 20, 40 below the period: twice the median of the first `step`);
the factor is min(1, threshold / norm), 0 for an infinite norm (the gradients are then zeroed).
`state_regions(layout)` / `load_regions(...)` map the state to todm's checkpoint tensors (optim.exp_avg,
exp_avg_sq, tensor_state, clipping_norms) so that either engine resumes the other's checkpoints.
What it is not: a copy of icefall's code, or a torch.optim.Optimizer subclass (no param groups).
Checked against test/fixtures/scaled_adam.json and eden.json (icefall's own numbers), python/tests.
"""
import math

import numpy as np
import torch

DEFAULTS = dict(lr=3e-2, clipping_scale=None, betas=(0.9, 0.98), scalar_lr_scale=0.1, eps=1e-8, param_min_rms=1e-5,
                param_max_rms=3.0, scalar_max=10.0, size_update_period=4, clipping_update_period=100)


def eden(batch, epoch, base_lr, lr_batches, lr_epochs, warmup_batches=500, warmup_start=0.5):
    """icefall's Eden: base_lr · ((b² + B²)/B²)^-¼ · ((e² + E²)/E²)^-¼ · warm-up (linear from warmup_start)."""
    factor = ((batch ** 2 + lr_batches ** 2) / lr_batches ** 2) ** -0.25 * ((epoch ** 2 + lr_epochs ** 2) / lr_epochs ** 2) ** -0.25
    warmup = 1.0 if batch >= warmup_batches else warmup_start + (1 - warmup_start) * (batch / warmup_batches)
    return base_lr * factor * warmup


class ClippingHistory:
    """The median-of-recent-norms threshold (src/engine/optim.ts ClippingHistory)."""

    def __init__(self, clipping_scale, period):
        self.scale, self.period = clipping_scale, period
        self.norms = np.zeros(period, dtype=np.float32)
        self.threshold = None

    def factor(self, step, norm):
        self.norms[step % self.period] = norm
        early = step in (10, 20, 40) and step < self.period
        if step % self.period == 0 or early:
            s = np.sort(self.norms)  # NaN last, as torch's sort
            if early:
                s = s[-step:]
            median = float(s[min(len(s) - 1, (len(s) // 4) * 2)])
            if not math.isfinite(median):
                raise FloatingPointError("ScaledAdam: too many gradients were not finite (median grad norm is not finite)")
            self.threshold = self.scale * median * (2 if early else 1)
        if self.threshold is None:
            return 1.0
        ratio = float(np.float32(self.threshold) / np.float32(norm + 1e-20))
        return ratio if ratio < 1 else 1.0  # min(1.0, nan) is 1.0, as in Python


class ScaledAdam:
    def __init__(self, params, **opts):
        unknown = set(opts) - set(DEFAULTS)
        if unknown:
            raise TypeError(f"ScaledAdam: unknown option(s) {sorted(unknown)}")
        self.o = {**DEFAULTS, **opts}
        self.params = list(params)
        self.lr = self.o["lr"]
        self.step_count = 0
        P = self.o["size_update_period"]
        self.exp_avg = [torch.zeros_like(p, dtype=torch.float32) for p in self.params]
        self.exp_avg_sq = [torch.zeros_like(p, dtype=torch.float32) for p in self.params]
        # per tensor: [param_rms, scale_exp_avg_sq, sum of grad^2, last scale step, ring of P sum(p·g)]
        self.tensor_state = torch.zeros(len(self.params), 4 + P, dtype=torch.float32)
        c = self.o["clipping_scale"]
        self.clipping = ClippingHistory(c, self.o["clipping_update_period"]) if c is not None else None
        self.last_factor = 1.0

    def zero_grad(self):
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self):
        o, step, lr = self.o, self.step_count, self.lr
        P, (beta1, beta2), eps = o["size_update_period"], o["betas"], o["eps"]
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in self.params]
        st = self.tensor_state
        factor = 1.0
        if self.clipping is not None and step > 0:
            tot = 0.0
            for i, (p, g) in enumerate(zip(self.params, grads)):
                sumsq = float(torch.sum(g.double() ** 2))
                st[i, 2] = sumsq
                w = o["scalar_lr_scale"] if p.numel() == 1 else float(st[i, 0])
                tot += sumsq * w * w
            factor = self.clipping.factor(step, float(np.float32(math.sqrt(tot))))
        self.last_factor = factor
        if factor == 0:  # an infinite norm: icefall zeroes every gradient
            grads = [torch.zeros_like(g) for g in grads]
        bc2 = 1.0 - beta2 ** (step + 1)
        inv_bc2 = 1.0 / bc2 if bc2 < 0.99 else 1.0
        phase = step % P
        for i, (p, g) in enumerate(zip(self.params, grads)):
            g = g * factor if factor != 1.0 else g
            m, v = self.exp_avg[i], self.exp_avg_sq[i]
            v.mul_(beta2).addcmul_(g, g, value=1 - beta2)
            denom = (v * inv_bc2).sqrt_().add_(eps)
            if p.numel() == 1:
                delta = (-lr * o["scalar_lr_scale"]) * g / denom
                m.mul_(beta1).add_(delta, alpha=1 - beta1)
                p.add_(m).clamp_(-o["scalar_max"], o["scalar_max"])
                continue
            if step == 0 or phase == P - 1:
                st[i, 0] = float(torch.sqrt(torch.mean(p.double() ** 2)))
            st[i, 4 + phase] = float(torch.sum(p.double() * g.double()))
            s = 0.0
            if phase == P - 1 and step > 0:
                s = self._size_step(i, lr * o["scalar_lr_scale"], step)
                st[i, 3] = s
            r = max(float(st[i, 0]), o["param_min_rms"])
            delta = (-lr * r) * g / denom
            if s:
                delta = delta + s * p
            m.mul_(beta1).add_(delta, alpha=1 - beta1)
            p.add_(m)
        self.step_count += 1

    def _size_step(self, i, size_lr, step):
        o, st = self.o, self.tensor_state
        P, beta2 = o["size_update_period"], o["betas"][1]
        ring = st[i, 4:4 + P].double()
        b2p = beta2 ** P
        avg = float(st[i, 1]) * b2p + (1 - b2p) * float(torch.mean(ring ** 2))
        st[i, 1] = avg
        bc = 1.0 - b2p ** ((step + 1) / P)
        s = -size_lr * math.sqrt(bc) * float(ring.sum()) / (math.sqrt(avg) + o["eps"])
        rms = float(st[i, 0])
        if rms < o["param_min_rms"]:
            s = 0.0
        s = min(max(s, -0.1), 0.1)
        return min(s, (o["param_max_rms"] - rms) / rms)

    # ---- checkpoints in todm's layout ----
    def state_regions(self, offsets, region_floats):
        """todm's optimizer tensors: {exp_avg, exp_avg_sq: [region_floats], tensor_state: [n·(4+P)], clipping_norms}
        and its JSON; `offsets[i]` is tensor i's offset in todm's parameter region (config.layout)."""
        ea, es = np.zeros(region_floats, np.float32), np.zeros(region_floats, np.float32)
        for i, off in enumerate(offsets):
            n = self.params[i].numel()
            ea[off:off + n] = self.exp_avg[i].reshape(-1).cpu().numpy()
            es[off:off + n] = self.exp_avg_sq[i].reshape(-1).cpu().numpy()
        tensors = {"exp_avg": ea, "exp_avg_sq": es, "tensor_state": self.tensor_state.numpy().reshape(-1).copy()}
        if self.clipping is not None:
            tensors["clipping_norms"] = self.clipping.norms.copy()
        info = {"name": "scaled_adam", "step": self.step_count, "lr": self.lr,
                "clippingThreshold": None if self.clipping is None else self.clipping.threshold}
        return tensors, info

    def load_regions(self, offsets, tensors, info, source="checkpoint"):
        if info.get("name") != "scaled_adam":
            raise ValueError(f"{source}: the checkpoint's optimizer is {info.get('name')}, todm_torch runs scaled_adam")
        P = self.o["size_update_period"]
        ts = tensors["tensor_state"]
        if ts.size != len(self.params) * (4 + P):
            raise ValueError(f"{source}: optim.tensor_state has {ts.size} floats, expected {len(self.params) * (4 + P)}")
        for i, off in enumerate(offsets):
            n = self.params[i].numel()
            self.exp_avg[i].copy_(torch.from_numpy(tensors["exp_avg"][off:off + n].reshape(self.params[i].shape)))
            self.exp_avg_sq[i].copy_(torch.from_numpy(tensors["exp_avg_sq"][off:off + n].reshape(self.params[i].shape)))
        self.tensor_state.copy_(torch.from_numpy(ts.reshape(len(self.params), 4 + P)))
        self.step_count, self.lr = int(info["step"]), float(info["lr"])
        if self.clipping is not None and "clipping_norms" in tensors:
            self.clipping.norms[:] = tensors["clipping_norms"]
            self.clipping.threshold = info.get("clippingThreshold")
