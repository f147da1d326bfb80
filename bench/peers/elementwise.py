"""PyTorch peer for bench/elementwise.ts: the same elementwise/norm/softmax kernels, one thread.

Usage: /usr/bin/python3 bench/peers/elementwise.py CASE...   (case names as in bench/elementwise.ts)
Prints one JSON line {case: milliseconds}, each the median of 15 timed runs after 3 warm-ups.
Forwards run under no_grad and allocate their output (as torch does in use); backwards call the
aten backward kernels directly (gelu_backward, native_layer_norm_backward, ...), so autograd's
bookkeeping is not counted.
"""
import json
import statistics
import sys
import time

import torch
import torch.nn.functional as F

R, C = 4000, 256  # frames x channels: 1,024,000 values
RS, CS = 2000, 512  # rows x classes for the softmaxes


def median_ms(fn, reps=15, warmup=3):
    for _ in range(warmup):
        fn()
    t = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        t.append(time.perf_counter() - t0)
    return statistics.median(t) * 1e3


def cases():
    x = torch.randn(R, C) * 2
    g = torch.randn(R, C)
    w, b = torch.randn(C), torch.randn(C)
    _, mean, rstd = torch.ops.aten.native_layer_norm(x, [C], w, b, 1e-5)
    xs = torch.randn(RS, CS) * 5
    gs = torch.randn(RS, CS)
    sm, lsm = torch.softmax(xs, -1), torch.log_softmax(xs, -1)
    return {
        "gelu_forward": lambda: F.gelu(x),
        "gelu_backward": lambda: torch.ops.aten.gelu_backward(g, x),
        "gelu_tanh_forward": lambda: F.gelu(x, approximate="tanh"),
        "silu_forward": lambda: F.silu(x),
        "silu_backward": lambda: torch.ops.aten.silu_backward(g, x),
        "sigmoid_forward": lambda: torch.sigmoid(x),
        "tanh_forward": lambda: torch.tanh(x),
        "layernorm_forward": lambda: torch.ops.aten.native_layer_norm(x, [C], w, b, 1e-5),
        "layernorm_backward": lambda: torch.ops.aten.native_layer_norm_backward(
            g, x, [C], mean, rstd, w, b, [True, True, True]),
        "softmax_forward": lambda: torch.softmax(xs, -1),
        "softmax_backward": lambda: torch.ops.aten._softmax_backward_data(gs, sm, -1, torch.float32),
        "log_softmax_forward": lambda: torch.log_softmax(xs, -1),
        "log_softmax_backward": lambda: torch.ops.aten._log_softmax_backward_data(gs, lsm, -1, torch.float32),
        "dropout_forward": lambda: torch.ops.aten.native_dropout(x, 0.1, True),
    }


def main():
    torch.set_num_threads(1)
    table = cases()
    out = {}
    with torch.no_grad():
        for name in sys.argv[1:]:
            out[name] = median_ms(table[name]) if name in table else None
    print(json.dumps(out))


if __name__ == "__main__":
    main()
