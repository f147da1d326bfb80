"""Peer for bench/fbank.ts: torchaudio's Kaldi fbank on one thread, as x real time.

Usage: /usr/bin/python3 bench/peers/fbank.py SECONDS RATE   (prints one JSON line)
The same call the fixtures use: kaldi.fbank(wave[None], num_mel_bins=80, dither=0.0, sample_frequency=RATE)
on float32 noise in [-0.5, 0.5]. Median of 7 timed calls after 2 warm-up calls.
"""
import json
import statistics
import sys
import time

import torch
from torchaudio.compliance import kaldi

torch.set_num_threads(1)
seconds, rate = float(sys.argv[1]), int(sys.argv[2])
wave = (torch.rand(1, int(seconds * rate), generator=torch.Generator().manual_seed(1)) - 0.5).float()
call = lambda: kaldi.fbank(wave, num_mel_bins=80, dither=0.0, sample_frequency=rate)
for _ in range(2):
    call()
times = []
for _ in range(7):
    t0 = time.perf_counter()
    call()
    times.append(time.perf_counter() - t0)
ms = statistics.median(times) * 1e3
print(json.dumps({"ms": ms, "x_realtime": seconds * 1e3 / ms}))
