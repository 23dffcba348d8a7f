#!/usr/bin/env python3
"""Writes the seed corpus of the safetensors fuzzer (fuzz/corpus/): small valid files of every readable dtype and
the model the fuzzer loads into, plus one file per validation rule broken. Plain Python 3, no packages.
Usage: python3 fuzz/make_corpus.py   (the torch fixtures of tests/io/fixtures are copied in as well)

With --inspect DIR it writes the seeds of the inspection fuzzer (fuzz/inspect_fuzzer.cpp) into DIR instead: small
GPT-2 and ViT checkpoints as lnfold-fold reads them (names and shapes; U8 data keeps them small), with and without
the Hugging Face prefixes, and the hostile shapes of issue 24. scripts/fuzz.sh inspect generates them; they are not
checked in."""
import json
import os
import shutil
import struct
import sys

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


def gpt2(prefix="", layers=2, d=8, vocab=11, context=6, mlp=None):
    t = [(prefix + "wte.weight", "U8", [vocab, d]), (prefix + "wpe.weight", "U8", [context, d])]
    for i in range(layers):
        t += [(prefix + "h.%d.ln_1.weight" % i, "U8", [d]), (prefix + "h.%d.mlp.c_fc.weight" % i, "U8", [d, mlp or 4 * d])]
    return valid(t)


def vit(prefix="", layers=2, d=8, patch=4, rows=17, classes=3, position_shape=None, projection_shape=None):
    t = [(prefix + "embeddings.patch_embeddings.projection.weight", "U8", projection_shape or [d, 3, patch, patch]),
         (prefix + "embeddings.position_embeddings", "U8", position_shape or [1, rows, d])]
    for i in range(layers):
        t += [(prefix + "encoder.layer.%d.layernorm_before.weight" % i, "U8", [d]),
              (prefix + "encoder.layer.%d.intermediate.dense.weight" % i, "U8", [4 * d, d])]
    t.append(("classifier.weight", "U8", [classes, d]))
    return valid(t)


def inspect_seeds(out):
    os.makedirs(out, exist_ok=True)
    seeds = {
        "gpt2": gpt2(),
        "gpt2_prefixed": gpt2("transformer.", layers=3),
        "gpt2_wrong_mlp": gpt2(mlp=12),
        "gpt2_no_blocks": gpt2(layers=0),
        "gpt2_huge_width": valid([("wte.weight", "U8", [0, 2 ** 62]), ("wpe.weight", "U8", [0, 2 ** 62]),
                                  ("h.0.ln_1.weight", "U8", [0]), ("h.0.mlp.c_fc.weight", "U8", [2 ** 62, 0])]),
        "vit": vit(),
        "vit_prefixed": vit("vit.", layers=1),
        "vit_not_square": vit(rows=16),
        # issue 24 #3: (1, 2^64 - 1, 0) used to hang the grid search.
        "vit_endless_grid": vit(position_shape=[1, 2 ** 64 - 1, 0], projection_shape=[0, 3, 16, 16], layers=0),
        "vit_grid_overflow": vit(position_shape=[1, (2 ** 32 - 1) ** 2 + 1, 0], projection_shape=[0, 3, 2 ** 33, 16],
                                 layers=0),
        "neither": valid([("w", "U8", [2, 2])]),
    }
    for name, data in seeds.items():
        with open(os.path.join(out, name + ".safetensors"), "wb") as f:
            f.write(data)
    print("wrote", len(seeds), "seeds to", out)


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--inspect":
        inspect_seeds(sys.argv[2])
        return
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
