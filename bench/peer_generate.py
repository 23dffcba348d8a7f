#!/usr/bin/env python3
"""Generation speed of torch, the peer of bench/bench_generate.cpp (scripts/bench_generate.sh runs both).

The same GPT-2 network written in plain torch (no transformers package): Pre-LN blocks, fused q|k|v, causal
attention scaled by 1/sqrt(head_dim), GELU (tanh), final LayerNorm, head tied to the token table. Incremental
decoding with a key/value cache preallocated for prompt + tokens positions (written in place, as lnfold's), one
prefill of the prompt, then greedy steps of one token; under torch.inference_mode(), torch.set_num_threads(T).
Random weights N(0, 0.02): a step's cost does not depend on them.

  peer_generate.py --model gpt2|char --prompt P --tokens N --rounds R --threads T

Prints one CSV line per round: peer,model,variant,threads,batch,prompt,tokens,prefill_ms,decode_ms
and, on stderr, torch's version and the BLAS it runs (OpenBLAS's kernel by its core name).
"""
import argparse
import ctypes
import math
import sys
import time

import torch
import torch.nn.functional as F

SIZES = {  # layers, width, heads, vocabulary, context
    "gpt2": (12, 768, 12, 50257, 1024),
    "char": (2, 64, 4, 256, 64),
}


class Gpt(torch.nn.Module):
    def __init__(self, layers, dim, heads, vocab, context):
        super().__init__()
        self.dim, self.heads, self.head_dim = dim, heads, dim // heads
        self.wte = torch.nn.Embedding(vocab, dim)
        self.wpe = torch.nn.Embedding(context, dim)
        self.blocks = torch.nn.ModuleList()
        for _ in range(layers):
            block = torch.nn.Module()
            block.ln_1, block.ln_2 = torch.nn.LayerNorm(dim), torch.nn.LayerNorm(dim)
            block.qkv, block.proj = torch.nn.Linear(dim, 3 * dim), torch.nn.Linear(dim, dim)
            block.fc, block.out = torch.nn.Linear(dim, 4 * dim), torch.nn.Linear(4 * dim, dim)
            self.blocks.append(block)
        self.ln_f = torch.nn.LayerNorm(dim)
        for name, p in self.named_parameters():
            if name.endswith("weight") and p.dim() == 2:
                torch.nn.init.normal_(p, std=0.02)

    def new_cache(self, length):
        shape = (len(self.blocks), 2, 1, self.heads, length, self.head_dim)
        return torch.zeros(shape)

    def forward(self, ids, past, cache):
        """ids: (1, n) new tokens at positions [past, past + n); cache written in place. Returns (n, vocab) logits."""
        n = ids.shape[1]
        x = self.wte(ids) + self.wpe(torch.arange(past, past + n))
        for i, b in enumerate(self.blocks):
            h = b.ln_1(x)
            q, k, v = b.qkv(h).split(self.dim, dim=2)
            q, k, v = (t.view(1, n, self.heads, self.head_dim).transpose(1, 2) for t in (q, k, v))
            cache[i, 0, :, :, past:past + n] = k
            cache[i, 1, :, :, past:past + n] = v
            keys, values = cache[i, 0, :, :, :past + n], cache[i, 1, :, :, :past + n]
            scores = q @ keys.transpose(-1, -2) / math.sqrt(self.head_dim)
            if n > 1:  # causal mask within the new rows
                mask = torch.ones(n, past + n, dtype=torch.bool).triu(past + 1)
                scores = scores.masked_fill(mask, float("-inf"))
            ctx = (scores.softmax(-1) @ values).transpose(1, 2).reshape(1, n, self.dim)
            x = x + b.proj(ctx)
            x = x + b.out(F.gelu(b.fc(b.ln_2(x)), approximate="tanh"))
        return F.linear(self.ln_f(x), self.wte.weight)[0]


def blas_report():
    for lib in ("libopenblas.so.0", "libopenblasp-r0.3.21.so", "libblas.so.3"):
        try:
            handle = ctypes.CDLL(lib)
            handle.openblas_get_corename.restype = ctypes.c_char_p
            return "OpenBLAS " + handle.openblas_get_corename().decode()
        except (OSError, AttributeError):
            continue
    return "no OpenBLAS found"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="gpt2", choices=sorted(SIZES))
    parser.add_argument("--prompt", type=int, default=128)
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(7)
    layers, dim, heads, vocab, context = SIZES[args.model]
    if args.prompt + args.tokens > context:
        sys.exit(f"peer_generate: prompt + tokens ({args.prompt + args.tokens}) exceed the context ({context})")
    model = Gpt(layers, dim, heads, vocab, context).eval()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {blas_report()}", file=sys.stderr)
    prompt = torch.randint(0, vocab, (1, args.prompt))
    cache = model.new_cache(args.prompt + args.tokens)
    with torch.inference_mode():
        for round in range(args.rounds + 1):  # round 0 warms up
            start = time.perf_counter()
            logits = model(prompt, 0, cache)
            next_id = int(logits[-1].argmax())
            prefilled = time.perf_counter()
            for t in range(args.tokens):
                logits = model(torch.tensor([[next_id]]), args.prompt + t, cache)
                next_id = int(logits[-1].argmax())
            end = time.perf_counter()
            if round == 0:
                continue
            print(f"torch,{args.model},ln,{args.threads},1,{args.prompt},{args.tokens},"
                  f"{(prefilled - start) * 1e3:.3f},{(end - prefilled) * 1e3:.3f}", flush=True)


if __name__ == "__main__":
    main()
