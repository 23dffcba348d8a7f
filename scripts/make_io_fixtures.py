#!/usr/bin/python3
"""Writes the safetensors fixtures of tests/io/fixtures/ with Debian's torch 1.13 (run with /usr/bin/python3).

The files are written by hand (struct + json + tensor bytes), without the safetensors package, so the C++ reader is
checked against an independent writer and against torch's own float conversions:

  torch_dtypes.safetensors  F32 / F64 / F16 / BF16 tensors; for every F16 / BF16 tensor `<name>.src` holds the F32
                            values torch converted from and `<name>.f64` holds torch's widening of the result to
                            F64 (what lnfold's reader must produce bit for bit).
  torch_mlp.safetensors     a torch model Linear(4, 8) -> LayerNorm(8) -> GELU -> Linear(8, 3) in float64, its first
                            weight stored in GPT-2 Conv1D layout (in, out) under Hugging Face-like names
                            (fc, ln, head), plus an input batch and torch's output.

Usage: /usr/bin/python3 scripts/make_io_fixtures.py [output_dir]   (default: tests/io/fixtures)
"""
import os
import sys

import torch

from safetensors_writer import write_safetensors

def dtype_fixture(path):
    g = torch.Generator().manual_seed(6)
    tensors = [("f32.matrix", torch.randn(3, 4, generator=g)),
               ("f64.scalar", torch.tensor(3.141592653589793, dtype=torch.float64)),
               ("f32.empty", torch.zeros(0, 5))]
    # Values across F16's range: normal, subnormal (< 6.1e-5), ties, overflow, infinities and NaN.
    special = torch.tensor([0.0, -0.0, 1.0, -2.5, 65504.0, 65519.0, 65520.0, 1e6, 6.1e-5, 5.96e-8, 2.98e-8, 3e-8,
                            1e-8, -1e-6, 1.0009765625, 1.00048828125, 1.00146484375, 1 / 3,
                            float("inf"), float("-inf"), float("nan")], dtype=torch.float32)
    scales = torch.tensor([1e-7, 1e-5, 1e-3, 1.0, 1e2, 1e4, 3e38], dtype=torch.float32)
    random = torch.randn(7, 9, generator=g) * scales[:, None]
    src = torch.cat([special, random.flatten(), (torch.rand(12, generator=g) - 0.5) * 2.0 ** -20])
    for name, dtype in (("f16.values", torch.float16), ("bf16.values", torch.bfloat16)):
        converted = src.to(dtype)
        tensors += [(name, converted), (name + ".src", src), (name + ".f64", converted.to(torch.float64))]
    shaped = torch.randn(2, 3, 2, generator=g)
    tensors += [("bf16.shaped", shaped.to(torch.bfloat16)), ("bf16.shaped.f64", shaped.to(torch.bfloat16).double())]
    write_safetensors(path, tensors, {"format": "pt", "generator": "scripts/make_io_fixtures.py"})


def mlp_fixture(path):
    torch.manual_seed(6)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.LayerNorm(8), torch.nn.GELU(), torch.nn.Linear(8, 3))
    model = model.double()
    with torch.no_grad():  # non-trivial norm affine parameters
        model[1].weight.uniform_(0.5, 1.5)
        model[1].bias.uniform_(-0.5, 0.5)
    x = torch.randn(5, 4, dtype=torch.float64)
    with torch.no_grad():
        y = model(x)
    tensors = [("fc.weight", model[0].weight.detach().t().contiguous()),  # Conv1D layout (in, out)
               ("fc.bias", model[0].bias.detach()),
               ("ln.weight", model[1].weight.detach()),
               ("ln.bias", model[1].bias.detach()),
               ("head.weight", model[3].weight.detach()),
               ("head.bias", model[3].bias.detach()),
               ("input", x), ("output", y)]
    write_safetensors(path, tensors, {"format": "pt", "torch": torch.__version__})


if __name__ == "__main__":
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "tests", "io", "fixtures")
    os.makedirs(out, exist_ok=True)
    dtype_fixture(os.path.join(out, "torch_dtypes.safetensors"))
    mlp_fixture(os.path.join(out, "torch_mlp.safetensors"))
    print("wrote", os.path.join(out, "torch_dtypes.safetensors"), "and", os.path.join(out, "torch_mlp.safetensors"))
