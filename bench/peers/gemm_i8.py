"""PyTorch peer for bench/gemm_i8.ts: a linear layer y = x W^T + b on one thread, float32
(torch.nn.functional.linear, OpenBLAS) and dynamically quantised int8 (torch.ao.nn.quantized.dynamic.Linear:
activations quantised on the fly per tensor, weights int8 per channel; engine onednn, else qnnpack).

Usage: /usr/bin/python3 bench/peers/gemm_i8.py 400x144x576 25x144x576 1x256x1024   (M x K x N)
Prints one JSON line: {"400x144x576": {"f32": gops, "int8": gops}, ...}, GOP/s = 2MNK / median seconds of
15 timed runs after 3 warm-ups. Run through ctx.python, which sets OPENBLAS_NUM_THREADS=1.
"""
import json
import statistics
import sys
import time

import torch


def timed(fn, reps=15, warmup=3):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main():
    torch.set_num_threads(1)
    engines = torch.backends.quantized.supported_engines
    torch.backends.quantized.engine = "onednn" if "onednn" in engines else "qnnpack"
    out = {}
    for shape in sys.argv[1:]:
        M, K, N = map(int, shape.split("x"))
        x = torch.randn(M, K)
        lin = torch.nn.Linear(K, N)
        q = torch.ao.nn.quantized.dynamic.Linear(K, N, dtype=torch.qint8)
        q.set_weight_bias(torch.quantize_per_channel(lin.weight.detach(), (lin.weight.detach().abs().amax(1) / 127).double(),
                                                     torch.zeros(N, dtype=torch.long), 0, torch.qint8), lin.bias.detach())
        ops = 2.0 * M * N * K / 1e9
        with torch.no_grad():
            out[shape] = {
                "f32": ops / timed(lambda: torch.nn.functional.linear(x, lin.weight, lin.bias)),
                "int8": ops / timed(lambda: q(x)),
            }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
