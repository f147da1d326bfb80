# Writes test/fixtures/resample.json: torchaudio.functional.resample (Kaiser-windowed sinc) applied to
# generated signals (a sine, a linear chirp, seeded white noise), in float64, for the rate pairs and
# filter settings that test/audio.test.ts checks src/audio/resample.ts against.
#
#   /usr/bin/python3 test/ref/resample.py
import json, math, torch, torchaudio

torch.manual_seed(0)
cases = []
def signal(kind, n, rate):
    t = torch.arange(n, dtype=torch.float64) / rate
    if kind == "sine":
        return 0.5 * torch.sin(2 * math.pi * 440.0 * t)
    if kind == "chirp":  # 100 Hz to 0.45 * rate over the signal
        f1 = 0.45 * rate
        dur = n / rate
        return 0.5 * torch.sin(2 * math.pi * (100.0 * t + (f1 - 100.0) * t * t / (2 * dur)))
    return 0.3 * torch.randn(n, dtype=torch.float64)

settings = {
    "todm-default": dict(lowpass_filter_width=16, rolloff=0.94, beta=8.555),
    "kaiser-best": dict(lowpass_filter_width=64, rolloff=0.9475937167399596, beta=14.769656459379492),
}
for (src, dst, kind, n, setting) in [
    (22050, 16000, "chirp", 1323, "todm-default"),
    (22050, 16000, "noise", 1103, "kaiser-best"),
    (8000, 16000, "sine", 800, "todm-default"),
    (8000, 16000, "noise", 397, "todm-default"),
    (44100, 16000, "chirp", 1764, "todm-default"),
    (48000, 16000, "noise", 961, "kaiser-best"),
    (16000, 8000, "chirp", 1601, "todm-default"),
    (11025, 16000, "noise", 13, "todm-default"),
]:
    x = signal(kind, n, src).to(torch.float32).to(torch.float64)  # the input as f32 would hold it
    s = settings[setting]
    y = torchaudio.functional.resample(x, src, dst, resampling_method="kaiser_window", **s)
    cases.append(dict(name=f"{kind} {src}->{dst} n={n} {setting}", from_rate=src, to_rate=dst,
                      options=dict(lowpassFilterWidth=s["lowpass_filter_width"], rolloff=s["rolloff"], beta=s["beta"]),
                      input=[round(v, 8) for v in x.tolist()], output=[round(v, 8) for v in y.tolist()]))

with open("test/fixtures/resample.json", "w") as f:
    json.dump(dict(magic="todm-fixture", version=1, generator="test/ref/resample.py",
                   torchaudio=torchaudio.__version__, cases=cases), f)
print("wrote test/fixtures/resample.json")
