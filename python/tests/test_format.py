"""todm's file format in todm_torch: model files and checkpoints written here read back the same, and bad
input (a foreign format version, a config key this package does not know, features it does not mirror,
a missing or misshapen tensor, a truncated file, an unknown training option) is refused with a message
that names the file and the problem. The files come from test/fixtures (written by todm's format)."""
import json
import os
import shutil
import tempfile
import unittest

import numpy as np
import torch

from todm_torch.checkpoint import list_checkpoints, load_checkpoint, optimizer_offsets, save_checkpoint, save_model
from todm_torch.config import ConfigError, DEFAULT_TRAIN, layout, load_train_config, param_table
from todm_torch.model import TodmModel
from todm_torch.optim import ScaledAdam
from todm_torch.safetensors import ModelFileError, read_safetensors, write_safetensors

from .helpers import FIXTURES

MODEL = os.path.join(FIXTURES, "model_init.safetensors")


class TestFormat(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="todm-torch-")
        self.tensors, self.meta = read_safetensors(MODEL)

    def tearDown(self):
        shutil.rmtree(self.dir)

    def write(self, name, tensors=None, meta=None):
        path = os.path.join(self.dir, name)
        write_safetensors(path, self.tensors if tensors is None else tensors, self.meta if meta is None else meta)
        return path

    def refused(self, path, pattern):
        with self.assertRaises((ModelFileError, ConfigError)) as cm:
            TodmModel.from_file(path)
        self.assertIn(path, str(cm.exception))
        self.assertRegex(str(cm.exception), pattern)

    def test_unsupported_format_version(self):
        self.refused(self.write("v2.safetensors", meta={**self.meta, "todm.format_version": "2"}), r"todm.format_version '2' is not supported")

    def test_unknown_config_key(self):
        cfg = {**json.loads(self.meta["todm.config"]), "mysteryKnob": 3}
        self.refused(self.write("k.safetensors", meta={**self.meta, "todm.config": json.dumps(cfg)}), r"unknown model config key\(s\) mysteryKnob")

    def test_features_not_mirrored(self):
        cfg = {**json.loads(self.meta["todm.config"]), "loss": "pruned"}
        self.refused(self.write("p.safetensors", meta={**self.meta, "todm.config": json.dumps(cfg)}), r"pruned.*not mirrored")
        cfg = {**json.loads(self.meta["todm.config"]), "convKernel": 3}
        self.refused(self.write("c.safetensors", meta={**self.meta, "todm.config": json.dumps(cfg)}), r"convolution module is not mirrored")

    def test_missing_and_misshapen_tensors(self):
        t = dict(self.tensors)
        del t["joiner.out.bias"]
        self.refused(self.write("m.safetensors", tensors=t), r"tensor joiner.out.bias is missing")
        t = dict(self.tensors)
        t["joiner.out.bias"] = np.zeros(3, np.float32)
        self.refused(self.write("s.safetensors", tensors=t), r"joiner.out.bias is \[3\]")

    def test_not_todm_and_truncated(self):
        self.refused(self.write("n.safetensors", meta={}), r"no todm.format_version")
        path = self.write("t.safetensors")
        with open(path, "rb") as f:
            raw = f.read()
        with open(path, "wb") as f:
            f.write(raw[:len(raw) - 100])
        self.refused(path, r"past the end of the file")

    def test_unknown_training_option(self):
        path = os.path.join(self.dir, "train.json")
        with open(path, "w") as f:
            json.dump({"train": {"sede": 3}}, f)
        with self.assertRaisesRegex(ConfigError, r'train.json: unknown option "train.sede"'):
            load_train_config(path)
        with self.assertRaisesRegex(ConfigError, r'--set optim.baseLr="x": option "optim.baseLr" must be a float'):
            load_train_config(None, ['optim.baseLr="x"'])
        self.assertEqual(load_train_config(None, ["train.maxSteps=7"])["train"]["maxSteps"], 7)
        self.assertEqual(DEFAULT_TRAIN["train"]["maxSteps"], 0)  # the defaults are not modified

    def test_model_file_round_trip(self):
        """A model written here is the file read: the same tensors, bit for bit, in todm's order and metadata."""
        m = TodmModel.from_file(MODEL)
        tok = json.loads(self.meta["todm.tokenizer"])
        path = os.path.join(self.dir, "out.safetensors")
        save_model(path, m, tok, {"step": 0})
        t2, meta2 = read_safetensors(path)
        self.assertEqual(list(t2), [n for n, *_ in param_table(m.cfg)])
        for n, v in self.tensors.items():
            self.assertTrue(np.array_equal(t2[n], v), n)
        self.assertEqual(json.loads(meta2["todm.config"]), json.loads(self.meta["todm.config"]))
        self.assertEqual(meta2["todm.format_version"], "1")

    def test_checkpoint_round_trip(self):
        """A checkpoint after 5 steps resumes into the same optimizer state; its layout is todm's region."""
        torch.manual_seed(0)
        m = TodmModel.from_file(MODEL)
        tok = json.loads(self.meta["todm.tokenizer"])
        opt = ScaledAdam(m.trainable(), lr=0.045, clipping_scale=2.0)
        for _ in range(5):
            opt.zero_grad()
            for p in m.trainable():
                p.grad = torch.randn_like(p)
            opt.step()
        pos = {"step": 5, "epoch": 0, "batchInEpoch": 5, "elapsedSec": 1.5, "bestWer": None, "bestStep": None}
        for step in (3, 4, 5):
            save_checkpoint(self.dir, m, tok, opt, {**pos, "step": step}, DEFAULT_TRAIN, 2)
        self.assertEqual([os.path.basename(p) for p in list_checkpoints(self.dir)], ["step-00000004.safetensors", "step-00000005.safetensors"])
        m2, tok2, pos2, ot, oj, tc = load_checkpoint(list_checkpoints(self.dir)[-1])
        self.assertEqual(pos2, pos)
        self.assertEqual(tok2, tok)
        self.assertEqual(tc, DEFAULT_TRAIN)
        offs, region = optimizer_offsets(m)
        lay, trainable_floats = layout(m.cfg)
        self.assertEqual(ot["exp_avg"].size, region)
        self.assertLessEqual(region, trainable_floats)
        opt2 = ScaledAdam(m2.trainable(), lr=0.045, clipping_scale=2.0)
        opt2.load_regions(offs, ot, oj)
        self.assertEqual(opt2.step_count, 5)
        self.assertTrue(torch.equal(opt2.tensor_state, opt.tensor_state))
        for a, b in zip(opt.exp_avg + opt.exp_avg_sq, opt2.exp_avg + opt2.exp_avg_sq):
            self.assertTrue(torch.equal(a, b))
        self.assertTrue(np.array_equal(opt2.clipping.norms, opt.clipping.norms))
        for a, b in zip(m.trainable(), m2.trainable()):
            self.assertTrue(torch.equal(a, b))


if __name__ == "__main__":
    unittest.main()
