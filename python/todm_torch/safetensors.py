"""Reading and writing safetensors files with todm's metadata (docs/model-format.md), by hand.

What it is: a little-endian u64 header length, the JSON header (with `__metadata__`, padded with
spaces to 8 bytes), then the raw tensor bytes; tensors come back as numpy arrays. Writes are atomic
(a temporary file, then a rename). Debian's torch 1.13 has no safetensors package, so none is needed.
What it is not: a checker of the model inside (model.py and checkpoint.py check names, shapes and the
format version). Reference: src/io/safetensors.ts.
"""
import json
import os
import struct

import numpy as np

DTYPES = {"F32": np.float32, "F64": np.float64, "I32": np.int32, "I64": np.int64, "I8": np.int8, "U8": np.uint8}
NAMES = {np.dtype(v): k for k, v in DTYPES.items()}


class ModelFileError(ValueError):
    """A file that is not a todm model (or checkpoint) this package can use; the message names the file."""

    def __init__(self, path, problem):
        super().__init__(f"{path}: {problem}")
        self.path = path


def read_safetensors(path):
    """(tensors: {name: np.ndarray} in the file's order of offsets, metadata: {str: str})."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise ModelFileError(path, "no such file") from None
    if len(raw) < 8:
        raise ModelFileError(path, f"{len(raw)} bytes: too short for a safetensors header")
    (n,) = struct.unpack("<Q", raw[:8])
    if 8 + n > len(raw):
        raise ModelFileError(path, f"the header claims {n} bytes but the file has {len(raw) - 8} after its length")
    try:
        header = json.loads(raw[8:8 + n].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ModelFileError(path, f"the header is not JSON ({e})") from None
    meta = header.pop("__metadata__", {}) or {}
    base = 8 + n
    tensors = {}
    for name, h in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0]):
        lo, hi = h["data_offsets"]
        if h["dtype"] not in DTYPES:
            raise ModelFileError(path, f"tensor {name} has dtype {h['dtype']}, not one of {sorted(DTYPES)}")
        if base + hi > len(raw):
            raise ModelFileError(path, f"tensor {name} ends at byte {base + hi}, past the end of the file ({len(raw)})")
        a = np.frombuffer(raw[base + lo:base + hi], dtype=DTYPES[h["dtype"]])
        if a.size != int(np.prod(h["shape"], dtype=np.int64)):
            raise ModelFileError(path, f"tensor {name}: {a.size} values for shape {h['shape']}")
        tensors[name] = a.reshape(h["shape"]).copy()
    return tensors, meta


def encode_safetensors(tensors, metadata):
    """Bytes of a safetensors file: {name: np.ndarray} in the dict's order, back to back (the format allows no
    holes); the header is padded with spaces to 8 bytes, as todm pads it."""
    header, blobs, off = {"__metadata__": {k: str(v) for k, v in metadata.items()}}, [], 0
    for name, a in tensors.items():
        a = np.ascontiguousarray(a)
        if a.dtype not in NAMES:
            raise ValueError(f"tensor {name}: dtype {a.dtype} cannot be written")
        b = a.tobytes()
        header[name] = {"dtype": NAMES[a.dtype], "shape": list(a.shape), "data_offsets": [off, off + a.nbytes]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode("utf-8")
    h += b" " * ((8 - len(h) % 8) % 8)
    return struct.pack("<Q", len(h)) + h + b"".join(blobs)


def write_file_atomic(path, data):
    """Writes bytes to path through a temporary file and a rename: a reader never sees half a file."""
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def write_safetensors(path, tensors, metadata):
    write_file_atomic(path, encode_safetensors(tensors, metadata))
