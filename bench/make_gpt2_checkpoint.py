#!/usr/bin/env python3
"""A GPT-2-small-sized checkpoint with random weights for bench_load: Hugging Face names in the hub layout (no
prefix, Conv1D weights (in, out), the F32 attn.bias mask buffers), float32, 548 MB. Needs torch (Debian's
python3-torch) and scripts/safetensors_writer.py.

    python3 bench/make_gpt2_checkpoint.py OUT.safetensors
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts"))
import torch  # noqa: E402
from safetensors_writer import write_safetensors  # noqa: E402

LAYERS, DIM, VOCAB, CONTEXT = 12, 768, 50257, 1024


def main():
    g = torch.Generator().manual_seed(0)

    def normal(*shape, std=0.02):
        return torch.randn(*shape, generator=g) * std

    tensors = [("wte.weight", normal(VOCAB, DIM)), ("wpe.weight", normal(CONTEXT, DIM, std=0.01))]
    mask = torch.tril(torch.ones(CONTEXT, CONTEXT)).view(1, 1, CONTEXT, CONTEXT)
    for i in range(LAYERS):
        p = f"h.{i}."
        tensors += [(p + "ln_1.weight", 1 + normal(DIM, std=0.1)), (p + "ln_1.bias", normal(DIM)),
                    (p + "attn.bias", mask),
                    (p + "attn.c_attn.weight", normal(DIM, 3 * DIM)), (p + "attn.c_attn.bias", normal(3 * DIM)),
                    (p + "attn.c_proj.weight", normal(DIM, DIM)), (p + "attn.c_proj.bias", normal(DIM)),
                    (p + "ln_2.weight", 1 + normal(DIM, std=0.1)), (p + "ln_2.bias", normal(DIM)),
                    (p + "mlp.c_fc.weight", normal(DIM, 4 * DIM)), (p + "mlp.c_fc.bias", normal(4 * DIM)),
                    (p + "mlp.c_proj.weight", normal(4 * DIM, DIM)), (p + "mlp.c_proj.bias", normal(DIM))]
    tensors += [("ln_f.weight", 1 + normal(DIM, std=0.1)), ("ln_f.bias", normal(DIM))]
    write_safetensors(sys.argv[1], tensors, {"format": "pt"})


if __name__ == "__main__":
    main()
