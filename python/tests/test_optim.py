"""ScaledAdam and Eden (todm_torch/optim.py) against icefall's numbers: test/fixtures/scaled_adam.json and
eden.json (made by test/ref/optim.py running icefall's optim.py unchanged), the fixtures engine.scaledAdam
is checked against in test/optim.test.ts; and ScaledAdam with todm's model on test/fixtures/model_steps.json."""
import math
import unittest

import numpy as np
import torch

from todm_torch.data import mulberry32
from todm_torch.model import TodmModel
from todm_torch.optim import ScaledAdam, eden

from .helpers import FIXTURES, fixture


class TestScaledAdam(unittest.TestCase):
    def test_runs_match_icefall(self):
        fix = fixture("scaled_adam.json")
        shapes = [t["shape"] for t in fix["tensors"]]
        for run in fix["runs"]:
            with self.subTest(run=run["name"]):
                params = [torch.nn.Parameter(torch.tensor(np.array(p, np.float32).reshape(s))) for p, s in zip(run["initial"], shapes)]
                opt = ScaledAdam(params, **{k: (tuple(v) if k == "betas" else v) for k, v in run["opts"].items()})
                r = mulberry32(run["grad_seed"])
                bad = {"inf": math.inf, "-inf": -math.inf, "nan": math.nan}
                for s in range(fix["steps"]):
                    spike = fix["spike_factor"] if s in fix["spike_steps"] else 1.0
                    for p, (_, _, gscale, gbias) in zip(params, fix["gen"]):
                        g = np.array([(r() * 2 - 1) * gscale * spike + gbias for _ in range(p.numel())], np.float32)
                        p.grad = torch.tensor(g.reshape(p.shape))
                    for step, t, v in run["bad_grads"]:
                        if step == s:
                            params[t].grad.view(-1)[0] = bad[v]
                    if run["eden"]:
                        e = run["eden"]
                        opt.lr = eden(s, s // 8, run["opts"]["lr"], e["lr_batches"], e["lr_epochs"], e["warmup_batches"])
                        self.assertLessEqual(abs(opt.lr - run["lrs"][s]), 1e-15 * run["lrs"][s])
                    opt.step()
                    # the factor is a ratio of f32 norms summed in another order: 1e-5 relative
                    self.assertLessEqual(abs(opt.last_factor - run["clipping_factors"][s]), 1e-5 * run["clipping_factors"][s], f"step {s}")
                    cp = run["checkpoints"].get(str(s + 1))
                    if cp:
                        for i, ref in enumerate(cp):
                            ref = np.array([np.nan if x is None else x for x in ref], np.float64)
                            got = params[i].detach().double().numpy().reshape(-1)
                            self.assertTrue(np.array_equal(np.isnan(ref), np.isnan(got)), f"NaNs of tensor {i} at step {s + 1}")
                            ok = ~np.isnan(ref)
                            # 1e-5 of the tensor's largest value (as test/optim.test.ts): sums in another order than torch's
                            scale = max(np.abs(ref[ok]).max() if ok.any() else 0, 1e-30)
                            err = np.abs(got[ok] - ref[ok]).max() if ok.any() else 0
                            self.assertLessEqual(err, 1e-5 * scale, f"tensor {fix['tensors'][i]['name']} step {s + 1}")

    def test_eden_matches_icefall(self):
        for c in fixture("eden.json")["cases"]:
            lr = eden(c["batch"], c["epoch"], c["base_lr"], c["lr_batches"], c["lr_epochs"], c.get("warmup_batches", 500), c.get("warmup_start", 0.5))
            self.assertLessEqual(abs(lr - c["lr"]), 1e-14 * c["lr"], str(c))

    def test_model_steps_match_icefall(self):
        """10 ScaledAdam steps of todm's tiny model on the fixture batch: the losses of icefall's optimizer."""
        fix = fixture("model_steps.json")
        torch.manual_seed(0)
        m = TodmModel.from_file(f"{FIXTURES}/model_init.safetensors")
        b = fix["batch"]
        feats = torch.tensor(np.array(b["feats"], np.float32).reshape(b["B"], b["T"], b["F"]))
        tokens = torch.tensor(np.array(b["tokens"], np.int32).reshape(b["B"], b["U"]))
        lens, tlens = torch.tensor(b["featLens"]), torch.tensor(b["tokenLens"])
        o = fix["optimizer"]
        opt = ScaledAdam(m.trainable(), lr=o["lr"], clipping_scale=o["clipping_scale"])
        for s, ref in enumerate(fix["losses32"]):
            opt.zero_grad()
            loss = m(feats, lens, tokens, tlens)["losses"].mean()
            loss.backward()
            opt.step()
            # torch f32 against torch f32 with one optimizer written twice: 1e-5 relative
            self.assertLessEqual(abs(float(loss) - ref), 1e-5 * abs(ref), f"step {s}")


if __name__ == "__main__":
    unittest.main()
