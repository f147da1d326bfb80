# Peer for bench/loader.ts: torchaudio.load + torchaudio.functional.resample (to 16 kHz) +
# torchaudio.compliance.kaldi.fbank (80 bins) over a list of files, on one thread. Prints one JSON line:
# {"utt_per_s", "x_realtime"}, medians over REPS passes.
#
#   /usr/bin/python3 bench/peers/loader.py files.txt 5
import json, statistics, sys, time
import torch, torchaudio

torch.set_num_threads(1)
files = [l for l in open(sys.argv[1]).read().split("\n") if l]
reps = int(sys.argv[2]) if len(sys.argv) > 2 else 5

def one_pass():
    seconds = 0.0
    t0 = time.perf_counter()
    for f in files:
        x, sr = torchaudio.load(f)
        x = x.mean(0, keepdim=True)
        if sr != 16000:
            x = torchaudio.functional.resample(x, sr, 16000)
        seconds += x.shape[1] / 16000
        torchaudio.compliance.kaldi.fbank(x * 32768, num_mel_bins=80, sample_frequency=16000, dither=0.0)
    return time.perf_counter() - t0, seconds

one_pass()
runs = [one_pass() for _ in range(reps)]
t = statistics.median(r[0] for r in runs)
print(json.dumps({"utt_per_s": len(files) / t, "x_realtime": runs[0][1] / t}))
