"""The PyTorch mirror of a todm model, for the scripts of test/ref: a re-export of python/todm_torch.

What it is: the names test/ref/model_steps.py, test/ref/train_mirror.py and bench/peers/train.py import
(TodmModel, param_table, read_safetensors, write_safetensors, ...). The model itself lives once, in the
package python/todm_torch (model.py); this file only puts the package on the path.
What it is not: a second copy of the model.
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))

from todm_torch.config import head_dim, subsampled_bins, subsampled_length  # noqa: E402,F401
from todm_torch.config import param_table as _param_table  # noqa: E402
from todm_torch.model import TodmModel, rnnt_loss, rnnt_loss_dp, ssm_direction  # noqa: E402,F401
from todm_torch.safetensors import read_safetensors, write_safetensors  # noqa: E402,F401


def param_table(c):
    """(name, shape, trainable) in the order of src/model/config.ts paramTable."""
    return [(n, s, t) for n, s, t, _, _ in _param_table(c)]
