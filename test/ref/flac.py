# Writes two tiny FLAC fixtures with Debian's `flac` encoder (lossless), next to the WAV files they
# were encoded from, so test/audio.test.ts can check our FLAC path sample-exactly against the WAV path:
#   test/fixtures/tone-16k-mono.{wav,flac}    16 kHz, 16-bit, mono, 2,000 samples
#   test/fixtures/tone-8k-stereo.{wav,flac}   8 kHz, 24-bit, stereo, 1,001 samples
#
#   /usr/bin/python3 test/ref/flac.py        (needs `apt-get install flac`)
import math, random, subprocess, wave, struct

random.seed(1)
def write(path, rate, bits, channels, n):
    frames = bytearray()
    full = 2 ** (bits - 1) - 1
    for i in range(n):
        for c in range(channels):
            x = 0.4 * math.sin(2 * math.pi * (300 + 200 * c) * i / rate) + 0.05 * (random.random() - 0.5)
            v = int(round(x * full))
            frames += v.to_bytes(bits // 8, "little", signed=True)
    with wave.open(path, "wb") as w:
        w.setnchannels(channels); w.setsampwidth(bits // 8); w.setframerate(rate); w.writeframes(bytes(frames))
    subprocess.run(["flac", "--silent", "--force", "--no-padding", "-8", "--blocksize=512", path, "-o", path[:-4] + ".flac"], check=True)

write("test/fixtures/tone-16k-mono.wav", 16000, 16, 1, 2000)
write("test/fixtures/tone-8k-stereo.wav", 8000, 24, 2, 1001)
print("wrote test/fixtures/tone-*.{wav,flac}")
