"""Writes test/fixtures/fbank.json: Kaldi fbank features from torchaudio for test/fbank.test.ts.

Usage (from the repository root, with Debian's torch/torchaudio):
    /usr/bin/python3 test/ref/fbank.py

Each case holds float32 samples in [-1, 1] and
    torchaudio.compliance.kaldi.fbank(wave[None], num_mel_bins=80, dither=0.0, sample_frequency=rate)
computed from exactly those float32 samples. Arrays are base64 of float32 little-endian, to keep the
fixture small and exact. Signals: chirps, white noise, silence around a chirp, a very quiet signal, a DC
offset, a full-scale square wave, the frame-boundary lengths 400, 401, 559, 560 at 16 kHz, and a real
spoken digit from the Free Spoken Digit Dataset (CC BY-SA 4.0; 8 kHz, also resampled to 16 kHz),
at 8, 11.025, 16, 22.05, 24, 32, 44.1 and 48 kHz. Lengths under one frame are not here: torchaudio asserts on them
(the test checks that todm returns 0 frames, as Kaldi's snip_edges does).
"""
import base64
import json
import wave

import numpy as np
import torch
import torchaudio
from torchaudio.compliance import kaldi

OUT = "test/fixtures/fbank.json"
FSDD = "/work/shared/data/fsdd/recordings/3_jackson_7.wav"
rs = np.random.RandomState(20261126)


def b64(a):
    return base64.b64encode(np.asarray(a, dtype="<f4").tobytes()).decode("ascii")


def chirp(n, rate, f0, f1, amp):
    t = np.arange(n) / rate
    dur = n / rate
    return amp * np.sin(2 * np.pi * (f0 * t + (f1 - f0) * t * t / (2 * dur)))


def noise(n, amp):
    return rs.uniform(-amp, amp, n)


def read_wav(path):
    w = wave.open(path)
    assert w.getsampwidth() == 2 and w.getnchannels() == 1
    x = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float64) / 32768.0
    return x, w.getframerate()


def cases():
    sine = lambda n, rate, f, amp: amp * np.sin(2 * np.pi * f * np.arange(n) / rate)
    speech8, r8 = read_wav(FSDD)
    assert r8 == 8000
    speech16 = torchaudio.functional.resample(torch.tensor(speech8, dtype=torch.float32), 8000, 16000).numpy()
    yield "chirp 16k", 16000, chirp(4000, 16000, 50, 7950, 0.5)
    yield "white noise 16k", 16000, noise(2400, 0.3)
    yield "silence, chirp, silence 16k", 16000, np.concatenate([np.zeros(800), chirp(1600, 16000, 300, 3000, 0.8), np.zeros(800)])
    yield "very quiet 16k", 16000, noise(2000, 1e-4) + sine(2000, 16000, 440, 1e-4)
    yield "dc offset 16k", 16000, 0.5 + sine(1600, 16000, 1000, 0.2)
    yield "square wave full scale 16k", 16000, np.sign(sine(1600, 16000, 250, 1.0) + 1e-9)
    for n in (400, 401, 559, 560):
        yield f"length {n} 16k", 16000, noise(n, 0.5) + sine(n, 16000, 1234, 0.3)
    yield "speech 16k (fsdd resampled)", 16000, speech16[:4800]
    yield "speech 8k (fsdd)", 8000, speech8[:3910]
    yield "white noise 8k", 8000, noise(1000, 0.3)
    yield "chirp 22.05k", 22050, chirp(3000, 22050, 100, 11000, 0.6)
    yield "noise 44.1k", 44100, noise(2000, 0.4) + sine(2000, 44100, 3000, 0.2)
    yield "noise 48k", 48000, noise(2000, 0.4) + sine(2000, 48000, 7000, 0.2)
    yield "noise 11.025k", 11025, noise(1500, 0.4) + sine(1500, 11025, 2000, 0.2)
    yield "chirp 24k", 24000, chirp(2000, 24000, 200, 11800, 0.5)
    yield "noise 32k", 32000, noise(1600, 0.4) + sine(1600, 32000, 5000, 0.2)


def main():
    out = []
    for name, rate, x in cases():
        wave32 = torch.tensor(np.asarray(x, dtype=np.float32))
        feats = kaldi.fbank(wave32[None], num_mel_bins=80, dither=0.0, sample_frequency=rate)
        out.append({
            "name": name, "sample_rate": rate, "n": int(wave32.numel()),
            "frames": int(feats.shape[0]), "bins": int(feats.shape[1]),
            "samples": b64(wave32.numpy()), "fbank": b64(feats.numpy()),
        })
    doc = {
        "magic": "todm-fixture", "version": 1, "generator": "test/ref/fbank.py",
        "reference": "torchaudio.compliance.kaldi.fbank(wave[None], num_mel_bins=80, dither=0.0, sample_frequency=rate)",
        "encoding": "base64 of float32 little-endian; fbank is frames x bins, row-major",
        "torch": torch.__version__, "torchaudio": torchaudio.__version__,
        "attribution": "The speech cases hold recordings/3_jackson_7.wav of the Free Spoken Digit Dataset "
        "(github.com/Jakobovski/free-spoken-digit-dataset), CC BY-SA 4.0 "
        "(creativecommons.org/licenses/by-sa/4.0/); the 16 kHz case is resampled by torchaudio.",
        "cases": out,
    }
    with open(OUT, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    print(f"wrote {OUT}: {len(out)} cases, {sum(c['frames'] for c in out)} frames")


if __name__ == "__main__":
    torch.set_num_threads(1)
    main()
