#!/usr/bin/env python3
"""Writes the seed corpus of the safetensors fuzzer (fuzz/corpus/): small valid files of every readable dtype and
the model the fuzzer loads into, plus one file per validation rule broken. Plain Python 3, no packages.
Usage: python3 fuzz/make_corpus.py   (the torch fixtures of tests/io/fixtures are copied in as well)"""
import json
import os
import shutil
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "corpus")
SIZES = {"F32": 4, "F64": 8, "F16": 2, "BF16": 2, "I32": 4, "U8": 1, "BOOL": 1, "I64": 8}


def pack(header, data, raw_header=None):
    text = raw_header if raw_header is not None else json.dumps(header, separators=(",", ":")).encode()
    return struct.pack("<Q", len(text)) + text + data


def valid(tensors, metadata=None, pad=True):
    header, data = {}, b""
    if metadata is not None:
        header["__metadata__"] = metadata
    for name, dtype, shape in tensors:
        n = 1
        for d in shape:
            n *= d
        size = n * SIZES[dtype]
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + size]}
        data += bytes((i * 37 + 11) % 256 for i in range(size))
    text = json.dumps(header, separators=(",", ":")).encode()
    if pad:
        text += b" " * (-len(text) % 8)
    return pack(None, data, text)


def main():
    os.makedirs(OUT, exist_ok=True)
    seeds = {
        "empty": valid([]),
        "f32": valid([("w", "F32", [2, 3])]),
        "mixed": valid([("a", "F64", []), ("b", "F32", [3]), ("c", "F16", [2, 2]), ("d", "BF16", [5]),
                        ("e", "I32", [1]), ("z", "F32", [0, 4])], {"format": "pt", "note": "caf\u00e9"}),
        "model": valid([("0.weight", "F32", [3, 2]), ("0.bias", "F16", [2]), ("1.weight", "BF16", [2]),
                        ("1.bias", "F64", [2]), ("extra", "U8", [3])]),
        "model_wrong_shape": valid([("0.weight", "F32", [2, 3]), ("1.bias", "F32", [3])]),
        # The fuzzer's second model, stored with every layout load_options knows (prefix "m.", q / k / v parts,
        # a (1, 2, 4) position table, a transposed weight, an ignored buffer, a tied copy that differs).
        "model_layouts": valid([("m.pos.weight", "F32", [1, 2, 4]), ("m.attn.q.weight", "F32", [4, 4]),
                                ("m.attn.k.weight", "F16", [4, 4]), ("m.attn.v.weight", "BF16", [4, 4]),
                                ("m.attn.q.bias", "F32", [4]), ("attn.k.bias", "F64", [4]), ("m.attn.v.bias", "F32", [4]),
                                ("m.attn.proj.weight", "F32", [4, 4]), ("m.attn.proj.bias", "F32", [4]),
                                ("m.mask", "U8", [2, 2]), ("copy", "F32", [1, 2, 4])]),
        "escapes": valid([("n\\u00e9\"\\\\x\\ud83d\\ude00", "F32", [1])]),
        "bad_trailing": valid([("w", "F32", [1])]) + b"\0",
        "bad_gap": pack({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
                         "b": {"dtype": "F32", "shape": [1], "data_offsets": [8, 12]}}, bytes(12)),
        "bad_overlap": pack({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                             "b": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}, bytes(8)),
        "bad_dtype": pack({"a": {"dtype": "F12", "shape": [1], "data_offsets": [0, 4]}}, bytes(4)),
        "bad_size": pack({"a": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 12]}}, bytes(12)),
        "bad_metadata": pack({"__metadata__": {"a": 1}}, b""),
        "bad_overflow": pack({"a": {"dtype": "F64", "shape": [4294967296, 4294967296], "data_offsets": [0, 0]}}, b""),
        "bad_length": struct.pack("<Q", 1000) + b"{}",
        "bad_short": b"\x02\0\0",
    }
    for name, data in seeds.items():
        with open(os.path.join(OUT, name + ".safetensors"), "wb") as f:
            f.write(data)
    fixtures = os.path.join(HERE, "..", "tests", "io", "fixtures")
    for name in ("torch_dtypes.safetensors", "torch_mlp.safetensors"):
        if os.path.exists(os.path.join(fixtures, name)):
            shutil.copy(os.path.join(fixtures, name), os.path.join(OUT, name))
    print("wrote", len(os.listdir(OUT)), "seeds to", OUT)


if __name__ == "__main__":
    main()
