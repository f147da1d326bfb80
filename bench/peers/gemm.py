"""PyTorch peer for bench/gemm.ts: torch.mm on one thread (OpenBLAS), GFLOP/s per shape.

Usage: /usr/bin/python3 bench/peers/gemm.py 400x256x1024 400x1024x256 256x256x256   (M x K x N)
Prints one JSON line: {"400x256x1024": gflops, ...}, each the median of 15 timed runs after 3 warm-ups.
Run through ctx.python, which sets OPENBLAS_NUM_THREADS=1.
"""
import json
import statistics
import sys
import time

import torch


def gflops(M, K, N, reps=15, warmup=3):
    a = torch.randn(M, K)
    b = torch.randn(K, N)
    c = torch.empty(M, N)
    for _ in range(warmup):
        torch.mm(a, b, out=c)
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        torch.mm(a, b, out=c)
        times.append(time.perf_counter() - t0)
    return 2.0 * M * N * K / statistics.median(times) / 1e9


def main():
    torch.set_num_threads(1)
    out = {}
    for shape in sys.argv[1:]:
        M, K, N = (int(x) for x in shape.split("x"))
        out[shape] = gflops(M, K, N)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
