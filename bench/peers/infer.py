"""Peer for bench/infer.ts: the PyTorch mirror of a todm model transcribing audio by greedy search, one thread.

Usage: /usr/bin/python3 bench/peers/infer.py MODEL.safetensors AUDIO.f32 REPS [SUBNET_JSON]
       prints one JSON line {"rtf", "ms", "cold_ms", "tokens", "rss_mb"}.

AUDIO.f32 is raw little-endian float32 samples at 16 kHz. One transcription = torchaudio's Kaldi fbank
(80 bins, dither 0, as todm's features) -> test/ref/todm_model.py TodmModel.encode (the SSM through its
FFT convolution view) -> greedy search at most one symbol per frame (icefall greedy_search_batch with
max_sym_per_frame 1, what todm's default is): per frame argmax of the joiner over the current
predictor output; a non-blank symbol steps the LSTM once. Under torch.inference_mode, float32,
torch.set_num_threads(1). rtf = median of REPS timed transcriptions (after one warm-up) / audio seconds.
cold_ms: from reading the model file to the first transcript of the first second of audio (torch
already imported, as a Node process has its runtime). rss_mb: the process's peak resident set (Linux
ru_maxrss), torch's runtime included.
"""
import json
import os
import resource
import statistics
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from torchaudio.compliance import kaldi

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "test", "ref"))
from todm_model import TodmModel  # noqa: E402

torch.set_num_threads(1)


def transcribe(m, wave, sub):
    c = m.cfg
    feats = kaldi.fbank(wave[None], num_mel_bins=c["featDim"], dither=0.0, sample_frequency=16000)
    enc, lens = m.encode(feats[None], [feats.shape[0]], sub)
    g = m.p
    e = enc[0, : int(lens[0])] @ g("joiner.enc.weight").T + g("joiner.enc.bias")
    L, H = c["predictorLayers"], c["predictorDim"]
    w = [g(f"predictor.lstm.{l}.{n}") for l in range(L) for n in ("w_ih", "w_hh", "b_ih", "b_hh")]
    state = (torch.zeros(L, 1, H), torch.zeros(L, 1, H))

    def step(token, state):
        x = F.embedding(torch.tensor([[token]]), g("predictor.embedding.weight"))
        out, h, cc = torch.lstm(x, state, w, True, L, 0.0, False, False, True)
        return out[0, 0] @ g("joiner.pred.weight").T + g("joiner.pred.bias"), (h, cc)

    q, state = step(0, state)  # blank as the start symbol, as in training
    tokens = []
    for t in range(e.shape[0]):
        logits = torch.tanh(e[t] + q) @ g("joiner.out.weight").T + g("joiner.out.bias")
        k = int(torch.argmax(logits))
        if k != 0:
            tokens.append(k)
            q, state = step(k, state)
    return tokens


def main():
    model_path, audio_path, reps = sys.argv[1], sys.argv[2], int(sys.argv[3])
    sub = json.loads(sys.argv[4]) if len(sys.argv) > 4 else None
    wave = torch.from_numpy(np.fromfile(audio_path, dtype="<f4").copy())
    with torch.inference_mode():
        t0 = time.perf_counter()
        m = TodmModel.from_file(model_path)
        m.eval()
        transcribe(m, wave[:16000], sub)
        cold_ms = (time.perf_counter() - t0) * 1e3
        tokens = transcribe(m, wave, sub)
        times = []
        for _ in range(reps):
            t0 = time.perf_counter()
            transcribe(m, wave, sub)
            times.append(time.perf_counter() - t0)
    ms = statistics.median(times) * 1e3
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"ms": ms, "rtf": ms / 1e3 / (len(wave) / 16000), "cold_ms": cold_ms, "tokens": tokens, "rss_mb": rss_mb}))


main()
