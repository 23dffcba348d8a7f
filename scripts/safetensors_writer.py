"""A safetensors writer independent of the C++ one (struct + json + tensor bytes, no safetensors package), shared by
scripts/make_io_fixtures.py and scripts/make_parity_fixtures.py (run with /usr/bin/python3: Debian's torch 1.13)."""
import json
import struct

import torch

DTYPES = {torch.float32: "F32", torch.float64: "F64", torch.float16: "F16", torch.bfloat16: "BF16",
          torch.bool: "BOOL", torch.int64: "I64"}


def tensor_bytes(t):
    t = t.contiguous()
    if t.dtype == torch.bfloat16:  # numpy has no bfloat16: reinterpret the bits
        t = t.view(torch.int16)
    return t.numpy().tobytes()  # little-endian on every machine torch runs on here


def write_safetensors(path, tensors, metadata):
    """8-byte little-endian header length, JSON header (padded with spaces to 8 bytes), raw little-endian data.
    tensors: (name, tensor) pairs in file order; metadata: a dict of strings, or None for no __metadata__."""
    header, blobs, offset = {}, [], 0
    if metadata is not None:
        header["__metadata__"] = metadata
    for name, t in tensors:
        data = tensor_bytes(t)
        header[name] = {"dtype": DTYPES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)
