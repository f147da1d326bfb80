"""Writes test/fixtures/pytorch.safetensors by hand from the format's specification (no safetensors
package: Debian's torch 1.13 does not ship it), so that the TypeScript reader is checked against an
independent writer. Run: /usr/bin/python3 test/ref/safetensors_fixture.py
"""
import json
import struct

import torch

tensors = {
    "encoder.w": torch.arange(12, dtype=torch.float32).reshape(3, 4) / 7,
    "ids": torch.tensor([[1, -2, 3]], dtype=torch.int32),
    "q": torch.tensor([-128, 0, 127, 5, 9], dtype=torch.int8),
}
meta = {"todm.format_version": "1", "note": "written by test/ref/safetensors_fixture.py"}
header, blobs, offset = {"__metadata__": meta}, [], 0
dtypes = {torch.float32: "F32", torch.int32: "I32", torch.int8: "I8"}
for name, t in tensors.items():
    raw = t.contiguous().numpy().tobytes()
    header[name] = {"dtype": dtypes[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
    blobs.append(raw)
    offset += len(raw)
h = json.dumps(header).encode()
with open("test/fixtures/pytorch.safetensors", "wb") as f:
    f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))
