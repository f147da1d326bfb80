"""todm's data path in Python: manifests, text normalisation, Kaldi fbank, batches, SpecAugment, shards.

What it is: ports, bit for bit where it matters for determinism, of src/data/normalize.ts
(normalize_text), src/data/corpus.ts (load_manifest: the same utterances in the same order, unencodable
text skipped and counted), src/data/batching.ts (frames_for, make_batches with mulberry32, collate),
src/engine/features.ts specAugment (spec_augment_, seeded by hash_seed(seed, step, row) of
src/train/data.ts), and src/train/parallel.ts shardBatch (shard_batch: longest first to the rank with
the fewest frames, so ranks hold unequal numbers of utterances). Features are torchaudio's Kaldi fbank
(80 bins, dither 0, 16 kHz; resampled with torchaudio's Kaiser sinc at src/audio/resample.ts's settings),
which test/fbank.test.ts checks todm's engine.fbank against.
What it is not: the LibriSpeech reader, the built-in synthetic corpus, BPE, or speed perturbation.
"""
import math
import os
import unicodedata

import numpy as np


def mulberry32(seed):
    """src/util/random.ts: the same sequence of floats in [0, 1) for the same 32-bit seed."""
    state = [seed & 0xFFFFFFFF]

    def imul(a, b):
        return (a * b) & 0xFFFFFFFF

    def draw():
        state[0] = (state[0] + 0x6D2B79F5) & 0xFFFFFFFF
        t = state[0]
        t = imul(t ^ (t >> 15), t | 1)
        t = (t ^ ((t + imul(t ^ (t >> 7), t | 61)) & 0xFFFFFFFF)) & 0xFFFFFFFF
        return ((t ^ (t >> 14)) & 0xFFFFFFFF) / 4294967296.0

    return draw


def hash_seed(*xs):
    """src/train/data.ts hashSeed."""
    h = 0x811C9DC5
    for x in xs:
        h = ((h ^ (x & 0xFFFFFFFF)) * 0x01000193) & 0xFFFFFFFF
        h ^= h >> 13
    return h & 0xFFFFFFFF


def member_seed(seed, i):
    """Model.sandwichStep: member i > 0 mixes its index into the step seed (member 0 keeps it)."""
    if i == 0:
        return seed
    a = (((seed ^ 0x5BD1E995) & 0xFFFFFFFF) * 0x2C1B3C6D) & 0xFFFFFFFF
    return (a + ((i * 0x297A2D39) & 0xFFFFFFFF)) & 0xFFFFFFFF


# ---- text and manifests ------------------------------------------------------------------------------

def normalize_text(text):
    """src/data/normalize.ts normalizeText: NFKD without marks, upper case, non-word characters to spaces."""
    s = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.category(c).startswith("M"))
    for a in "\u2018\u2019\u02bc\u2032\u0060\u00b4":
        s = s.replace(a, "'")
    s = s.upper()
    chars = []
    for i, c in enumerate(s):
        if c == "." and 0 < i < len(s) - 1 and s[i - 1].isalpha() and s[i + 1].isalpha():
            continue  # U.S.A -> USA
        chars.append(c if (c.isalpha() or c.isdigit() or c == "'") else " ")
    words = []
    for raw in "".join(chars).split():
        w = raw.lstrip("'")
        core = w.rstrip("'")
        w = core + "'" if len(core) < len(w) and core.endswith("S") else core
        while "''" in w:
            w = w.replace("''", "'")
        if w:
            words.append(w)
    return " ".join(words)


class ManifestError(ValueError):
    pass


def load_manifest(path, symbols, max_duration, strict=False, ledger=None):
    """(utterances {audio, duration, text, tokens}, skipped) as src/data/manifest.ts and corpus.ts keep them,
    in the same order. Bad lines (not JSON, a missing or mistyped field, a missing audio file) and text the
    char tokenizer cannot encode are skipped and counted by kind in `ledger` (a dict), or raise
    ManifestError naming the file and line when `strict` (data.strict)."""
    import json
    ids = {s: i for i, s in enumerate(symbols)}
    base = os.path.dirname(os.path.abspath(path))
    ledger = {} if ledger is None else ledger
    utts, skipped = [], 0

    def skip(kind, n, what):
        nonlocal skipped
        if strict:
            raise ManifestError(f"{path}:{n}: {what}")
        ledger[kind] = ledger.get(kind, 0) + 1
        skipped += 1

    try:
        f = open(path, encoding="utf-8")
    except OSError as e:
        raise ManifestError(f"cannot read manifest {path}: {e}") from None
    with f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                o = json.loads(line)
            except json.JSONDecodeError as e:
                skip("bad-json", n, f"not valid JSON ({e})")
                continue
            if not isinstance(o, dict):
                skip("bad-json", n, "a manifest line must be a JSON object")
                continue
            audio, duration, raw = o.get("audio_filepath"), o.get("duration"), o.get("text")
            if not isinstance(audio, str) or not audio:
                skip("missing-field", n, 'missing or non-string field "audio_filepath"')
                continue
            if isinstance(duration, bool) or not isinstance(duration, (int, float)) or not math.isfinite(duration) or duration <= 0:
                skip("missing-field", n, 'missing or invalid field "duration" (a positive number of seconds)')
                continue
            if not isinstance(raw, str):
                skip("missing-field", n, 'missing or non-string field "text"')
                continue
            audio = audio if os.path.isabs(audio) else os.path.join(base, audio)
            if not os.path.exists(audio):
                skip("missing-audio", n, f"audio file {audio} does not exist")
                continue
            if duration > max_duration:
                continue
            text = normalize_text(raw)
            if not text or any(c not in ids for c in text):
                skip("unencodable-text", n, "text is empty after normalisation" if not text else "text has a character the tokenizer cannot encode")
                continue
            utts.append({"audio": audio, "duration": float(duration), "text": text, "tokens": [ids[c] for c in text]})
    return utts, skipped


# ---- features -------------------------------------------------------------------------------------------

def features_of(audio):
    """Kaldi fbank of one file at 16 kHz: float32 [frames, 80]."""
    import torch
    import torchaudio
    from torchaudio.compliance import kaldi
    wave, rate = torchaudio.load(audio)  # int16 / 32768, as src/audio/wav.ts
    x = wave.mean(0) if wave.shape[0] > 1 else wave[0]
    if rate != 16000:  # src/audio/resample.ts RESAMPLE_DEFAULTS
        x = torchaudio.functional.resample(x.double(), rate, 16000, lowpass_filter_width=16, rolloff=0.94,
                                           resampling_method="kaiser_window", beta=8.555).float()
    with torch.no_grad():
        return kaldi.fbank(x[None], num_mel_bins=80, dither=0.0, sample_frequency=16000).numpy()


def _worker_init():
    import torch
    torch.set_num_threads(1)


def all_features(paths, processes=1):
    """Features of every file, in `processes` forked workers (fork before the parent's torch thread pool starts)."""
    if processes <= 1 or len(paths) < 2:
        return [features_of(p) for p in paths]
    import multiprocessing as mp
    with mp.get_context("fork").Pool(processes, initializer=_worker_init) as pool:
        return pool.map(features_of, paths, chunksize=16)


# ---- batches -------------------------------------------------------------------------------------------

def frames_for(duration):
    """batching.ts framesFor at 16 kHz: 1 + floor((n - 400) / 160), 0 if n < 400."""
    n = math.floor(duration * 16000 + 0.5)
    return 0 if n < 400 else 1 + (n - 400) // 160


def shuffle_in_place(xs, r):
    for i in range(len(xs) - 1, 0, -1):
        j = int(r() * (i + 1))
        xs[i], xs[j] = xs[j], xs[i]


def make_batches(frames, max_frames, buckets, seed, epoch):
    """batching.ts makeBatches: the same batches, in the same order, for the same (seed, epoch)."""
    r = mulberry32((seed * 1_000_003 + epoch * 7919) % 2**32)
    n = len(frames)
    order = sorted(range(n), key=lambda i: (frames[i], i))
    nb = max(1, min(buckets, n))
    batches = []
    for k in range(nb):
        bucket = order[(k * n) // nb:((k + 1) * n) // nb]
        shuffle_in_place(bucket, r)
        cur, tmax = [], 0
        for i in bucket:
            t = max(tmax, frames[i])
            if cur and (len(cur) + 1) * t > max_frames:
                batches.append(cur)
                cur, tmax = [], 0
            cur.append(i)
            tmax = max(tmax, frames[i])
            if len(cur) == 1 and frames[i] > max_frames:
                batches.append(cur)
                cur, tmax = [], 0
        if cur:
            batches.append(cur)
    shuffle_in_place(batches, r)
    return batches


def spec_augment_(x, seed):
    """features.ts specAugment in place on one utterance's [frames, bins] (2 frequency masks up to 15 bins,
    2 time masks up to 5% of the frames, value: the mean of the utterance's features)."""
    frames, bins = x.shape
    u = mulberry32(seed)

    def draw(size, max_width):
        width = min(size, math.floor(u() * (max(0, math.floor(max_width)) + 1)))
        return math.floor(u() * (size - width + 1)), width

    freq = [draw(bins, 15) for _ in range(2)]
    time_ = [draw(frames, 0.05 * frames) for _ in range(2)]
    value = np.float32(x.astype(np.float64).sum() / x.size) if x.size else np.float32(0)
    for s, w in freq:
        x[:, s:s + w] = value
    for s, w in time_:
        x[s:s + w] = value


def collate(feats, utts, idx):
    """batching.ts collate: zero-padded feats [B, T, F], tokens [B, U] (0-padded), lengths."""
    B = len(idx)
    T = max(feats[i].shape[0] for i in idx)
    U = max(len(utts[i]["tokens"]) for i in idx)
    Fd = feats[idx[0]].shape[1]
    x = np.zeros((B, T, Fd), dtype=np.float32)
    tok = np.zeros((B, U), dtype=np.int32)
    for b, i in enumerate(idx):
        x[b, :feats[i].shape[0]] = feats[i]
        tok[b, :len(utts[i]["tokens"])] = utts[i]["tokens"]
    lens = np.array([feats[i].shape[0] for i in idx], dtype=np.int32)
    tlens = np.array([len(utts[i]["tokens"]) for i in idx], dtype=np.int32)
    return x, lens, tok, tlens


def shard_rows(feat_lens, n):
    """parallel.ts shardBatch's split: per rank, the batch rows it holds (in batch order). Longest first, each
    to the rank with the fewest frames so far (ties to the lower rank); a rank may hold none."""
    order = sorted(range(len(feat_lens)), key=lambda i: (-int(feat_lens[i]), i))
    members, load = [[] for _ in range(n)], [0] * n
    for i in order:
        r = min(range(n), key=lambda k: (load[k], k))
        members[r].append(i)
        load[r] += int(feat_lens[i])
    return [sorted(m) for m in members]


def shard(x, lens, tok, tlens, rows):
    """The rows' own padded batch: T and U shrink to its longest utterance (T to no less than min(T, 7))."""
    if not rows:
        return None
    T = max(min(x.shape[1], 7), *(int(lens[i]) for i in rows))
    U = max(0, *(int(tlens[i]) for i in rows))
    return (np.ascontiguousarray(x[rows, :T]), lens[rows].copy(), np.ascontiguousarray(tok[rows, :U]), tlens[rows].copy())
