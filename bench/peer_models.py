#!/usr/bin/env python3
"""Whole networks: lnfold against torch in one process, interleaved round-robin with one timer, at 1 and 2 threads;
writes a CSV, docs/performance.md and a chart. Run through scripts/bench_models.sh, which builds
liblnfold_model_cases and sets up the environment (OpenBLAS threads, core type):

    bash scripts/bench_models.sh                     # every case, 1 and 2 threads (about 6-8 minutes on 2 cores)
    bash scripts/bench_models.sh --quick             # smoke test: 1 thread, few rounds, small cases
    bash scripts/bench_models.sh --cases gpt_d768_l4,vit_s16_b1 --threads 1

lnfold's cases live in liblnfold_model_cases (bench/model_cases*.cpp, loaded with ctypes): one handle per (case,
variant) owning its model and input. The torch side is the same network written as plain torch modules (nn.Linear,
nn.LayerNorm, attention by hand: torch 1.13 has no F.scaled_dot_product_attention) with the parameter names of
lnfold's paths, so lnfold's weights (PyTorch-default initialisation, seeded) are copied into it and both compute the
same function on the same input; that is checked before timing (outputs, or the losses of two training steps), and a
mismatch is printed loudly, marked in the tables and makes the exit status 1.

Timing: per case and thread count, one warm-up call of every implementation, then R rounds; each round calls every
implementation once (lnfold's variants and torch; the first one rotates every round), each call timed with
time.perf_counter() around it (lnfold's call goes through ctypes: a microsecond, against milliseconds). R comes from a
time budget per case and thread count (--seconds), at least --min-rounds (3 for the slowest case). Reported: min and
median per implementation; ratios use medians.
"""
import argparse
import csv
import ctypes
import datetime
import gc
import os
import platform
import statistics
import subprocess
import sys
import time

import numpy as np

DEFAULT_CASES = ["gpt_d256_l4", "gpt_d768_l4", "gpt2_small_t256", "gpt2_small_t1024", "vit_s16_b1", "vit_s16_b8",
                 "bert_base_postln", "mlp_train", "chargpt_train"]
QUICK_CASES = ["gpt_d256_l4", "mlp_train", "chargpt_train"]
MIN_ROUNDS = {"gpt2_small_t1024": 3}  # ~5 s per lnfold forward on one core
TOLERANCE = 2e-3  # max |lnfold - torch| / max |torch| of outputs (float32, up to 12 layers)
LOSS_TOLERANCE = (1e-4, 1e-3)  # relative, step 1 (same weights) and step 2 (after one AdamW update)

torch = nn = F = None


# ---------------------------------------------------------------------------------------------------------------
# lnfold through ctypes

class Lib:
    def __init__(self, path):
        self.path = path
        L = self.L = ctypes.CDLL(path)
        sz, vp = ctypes.c_size_t, ctypes.c_void_p
        L.lnfold_cases_info.restype = ctypes.c_char_p
        L.lnfold_cases_list.restype = ctypes.c_char_p
        L.lnfold_cases_error.restype = ctypes.c_char_p
        L.lnfold_cases_set_threads.argtypes = [ctypes.c_int]
        L.lnfold_case_create.restype = vp
        L.lnfold_case_create.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
        L.lnfold_case_run.argtypes = [vp]
        L.lnfold_case_destroy.argtypes = [vp]
        L.lnfold_case_input.restype = vp
        L.lnfold_case_input.argtypes = [vp, ctypes.POINTER(ctypes.c_int), ctypes.POINTER(sz), ctypes.POINTER(sz)]
        L.lnfold_case_targets.restype = ctypes.POINTER(ctypes.c_int32)
        L.lnfold_case_targets.argtypes = [vp, ctypes.POINTER(sz)]
        L.lnfold_case_param_count.restype = sz
        L.lnfold_case_param_count.argtypes = [vp]
        L.lnfold_case_param.restype = ctypes.c_char_p
        L.lnfold_case_param.argtypes = [vp, sz, ctypes.POINTER(ctypes.POINTER(ctypes.c_float)), ctypes.POINTER(sz),
                                        ctypes.POINTER(sz), ctypes.POINTER(sz)]
        L.lnfold_case_output.restype = ctypes.POINTER(ctypes.c_float)
        L.lnfold_case_output.argtypes = [vp, ctypes.POINTER(sz), ctypes.POINTER(sz)]
        L.lnfold_case_loss.restype = ctypes.c_double
        L.lnfold_case_loss.argtypes = [vp]
        self.info = L.lnfold_cases_info().decode()
        self.cases = {}
        for line in L.lnfold_cases_list().decode().splitlines():
            name, kind, variants, description = line.split("\t")
            self.cases[name] = {"kind": kind, "variants": variants.split(","), "description": description}

    def set_threads(self, n):
        self.L.lnfold_cases_set_threads(n)


class LnfoldCase:
    def __init__(self, lib, name, variant):
        self.lib, self.name, self.variant = lib, name, variant
        self.h = lib.L.lnfold_case_create(name.encode(), variant.encode())
        if not self.h:
            raise RuntimeError(f"lnfold case {name}/{variant}: {lib.L.lnfold_cases_error().decode()}")
        self._run = lib.L.lnfold_case_run
        h = self.h
        self.run = lambda: self._run(h)  # timed: the return code is checked by checked_run (validation, warm-up)

    def checked_run(self):
        if self._run(self.h) != 0:
            raise RuntimeError(f"lnfold case {self.name}/{self.variant}: {self.lib.L.lnfold_cases_error().decode()}")

    def input(self):
        is_tokens, rank = ctypes.c_int(), ctypes.c_size_t()
        shape = (ctypes.c_size_t * 4)()
        ptr = self.lib.L.lnfold_case_input(self.h, ctypes.byref(is_tokens), shape, ctypes.byref(rank))
        dims = tuple(shape[i] for i in range(rank.value))
        ctype = ctypes.c_int32 if is_tokens.value else ctypes.c_float
        arr = np.ctypeslib.as_array(ctypes.cast(ptr, ctypes.POINTER(ctype)), shape=dims).copy()
        n = ctypes.c_size_t()
        t = self.lib.L.lnfold_case_targets(self.h, ctypes.byref(n))
        targets = np.ctypeslib.as_array(t, shape=(n.value,)).copy() if n.value else None
        return arr, bool(is_tokens.value), targets

    def params(self):
        out = {}
        for i in range(self.lib.L.lnfold_case_param_count(self.h)):
            data = ctypes.POINTER(ctypes.c_float)()
            size, rank = ctypes.c_size_t(), ctypes.c_size_t()
            shape = (ctypes.c_size_t * 4)()
            path = self.lib.L.lnfold_case_param(self.h, i, ctypes.byref(data), ctypes.byref(size), shape,
                                                ctypes.byref(rank)).decode()
            dims = tuple(shape[k] for k in range(rank.value))
            out[path] = np.ctypeslib.as_array(data, shape=(size.value,)).reshape(dims)
        return out

    def output(self):
        rows, width = ctypes.c_size_t(), ctypes.c_size_t()
        p = self.lib.L.lnfold_case_output(self.h, ctypes.byref(rows), ctypes.byref(width))
        if not p or rows.value == 0:
            return None
        return np.ctypeslib.as_array(p, shape=(rows.value, width.value)).copy()

    def loss(self):
        return self.lib.L.lnfold_case_loss(self.h)

    def close(self):
        if self.h:
            self.lib.L.lnfold_case_destroy(self.h)
            self.h = None


# ---------------------------------------------------------------------------------------------------------------
# torch: the same networks, parameter names = lnfold's paths

def torch_modules():
    class Holder(nn.Module):
        """A named container (gives parameter paths like intermediate.dense.weight)."""

        def __init__(self, **children):
            super().__init__()
            for k, v in children.items():
                setattr(self, k, v)

    class TableParam(nn.Module):
        def __init__(self, *shape):
            super().__init__()
            self.weight = nn.Parameter(torch.zeros(*shape))

    class Attention(nn.Module):
        """qkv linear, split heads, q k^T * scale, causal mask, softmax, @ v, proj (as lnfold's SelfAttention)."""

        def __init__(self, d, heads, causal, max_len=1024):
            super().__init__()
            self.qkv, self.proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
            self.heads, self.hd, self.causal = heads, d // heads, causal
            self.scale = 1.0 / (d // heads) ** 0.5
            if causal:
                self.register_buffer("mask", torch.ones(max_len, max_len, dtype=torch.bool).triu(1), persistent=False)

        def forward(self, x):
            B, T, D = x.shape
            q, k, v = self.qkv(x).split(D, dim=2)
            q = q.view(B, T, self.heads, self.hd).transpose(1, 2)
            k = k.view(B, T, self.heads, self.hd).transpose(1, 2)
            v = v.view(B, T, self.heads, self.hd).transpose(1, 2)
            att = (q @ k.transpose(-2, -1)) * self.scale
            if self.causal:
                att = att.masked_fill(self.mask[:T, :T], float("-inf"))
            att = att.softmax(dim=-1)
            y = (att @ v).transpose(1, 2).reshape(B, T, D)
            return self.proj(y)

    class GptBlock(nn.Module):
        def __init__(self, d, heads, ctx, nested_mlp, eps=1e-5):
            super().__init__()
            self.ln_1, self.ln_2 = nn.LayerNorm(d, eps=eps), nn.LayerNorm(d, eps=eps)
            self.attn = Attention(d, heads, True, ctx)
            fc, proj = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)
            if nested_mlp:  # models::Gpt2Block: h.N.mlp.c_fc
                self.mlp = Holder(c_fc=fc, c_proj=proj)
            else:           # bench Gpt / examples' char GPT: h.N.c_fc
                self.c_fc, self.c_proj = fc, proj
            self.nested = nested_mlp

        def forward(self, x):
            x = x + self.attn(self.ln_1(x))
            m = self.mlp if self.nested else self
            return x + m.c_proj(F.gelu(m.c_fc(self.ln_2(x)), approximate="tanh"))

    class Gpt(nn.Module):
        def __init__(self, vocab, ctx, d, heads, layers, tied=False, nested_mlp=False):
            super().__init__()
            self.wte, self.wpe = nn.Embedding(vocab, d), nn.Embedding(ctx, d)
            self.h = nn.ModuleList([GptBlock(d, heads, ctx, nested_mlp) for _ in range(layers)])
            self.ln_f = nn.LayerNorm(d)
            self.tied = tied
            if not tied:
                self.lm_head = nn.Linear(d, vocab, bias=False)

        def forward(self, idx):
            x = self.wte(idx) + self.wpe.weight[:idx.shape[1]]
            for block in self.h:
                x = block(x)
            x = self.ln_f(x)
            return F.linear(x, self.wte.weight) if self.tied else self.lm_head(x)

    class VitLayer(nn.Module):
        def __init__(self, d, heads, mlp, eps):
            super().__init__()
            self.layernorm_before, self.layernorm_after = nn.LayerNorm(d, eps=eps), nn.LayerNorm(d, eps=eps)
            self.attention = Attention(d, heads, False)
            self.intermediate = Holder(dense=nn.Linear(d, mlp))
            self.output = Holder(dense=nn.Linear(mlp, d))

        def forward(self, x):
            x = x + self.attention(self.layernorm_before(x))
            return x + self.output.dense(F.gelu(self.intermediate.dense(self.layernorm_after(x))))

    class Vit(nn.Module):
        def __init__(self, layers=12, d=384, heads=6, image=224, patch=16, classes=1000, eps=1e-12):
            super().__init__()
            tokens = (image // patch) ** 2 + 1
            self.embeddings = Holder(patch_embeddings=Holder(projection=nn.Conv2d(3, d, patch, stride=patch)),
                                     cls_token=TableParam(1, 1, d), position_embeddings=TableParam(tokens, d))
            self.encoder = Holder(layer=nn.ModuleList([VitLayer(d, heads, 4 * d, eps) for _ in range(layers)]))
            self.layernorm = nn.LayerNorm(d, eps=eps)
            self.classifier = nn.Linear(d, classes)

        def forward(self, pixels):  # NCHW
            e = self.embeddings
            x = e.patch_embeddings.projection(pixels).flatten(2).transpose(1, 2)
            x = torch.cat([e.cls_token.weight.expand(x.shape[0], -1, -1), x], dim=1) + e.position_embeddings.weight
            for layer in self.encoder.layer:
                x = layer(x)
            return self.classifier(self.layernorm(x)[:, 0])

    class BertLayer(nn.Module):
        def __init__(self, d, heads, mlp, eps):
            super().__init__()
            self.attention = Attention(d, heads, False)
            self.attention_norm, self.output_norm = nn.LayerNorm(d, eps=eps), nn.LayerNorm(d, eps=eps)
            self.intermediate, self.output = nn.Linear(d, mlp), nn.Linear(mlp, d)

        def forward(self, x):
            x = self.attention_norm(x + self.attention(x))
            return self.output_norm(x + self.output(F.gelu(self.intermediate(x))))

    class Bert(nn.Module):
        def __init__(self, vocab=30522, positions=512, d=768, heads=12, layers=12, mlp=3072, eps=1e-12):
            super().__init__()
            self.word_embeddings, self.position_embeddings = nn.Embedding(vocab, d), nn.Embedding(positions, d)
            self.embeddings_norm = nn.LayerNorm(d, eps=eps)
            self.layer = nn.ModuleList([BertLayer(d, heads, mlp, eps) for _ in range(layers)])

        def forward(self, idx):
            x = self.embeddings_norm(self.word_embeddings(idx) + self.position_embeddings.weight[:idx.shape[1]])
            for layer in self.layer:
                x = layer(x)
            return x

    class Mlp(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1, self.ln1 = nn.Linear(784, 256), nn.LayerNorm(256)
            self.fc2, self.ln2 = nn.Linear(256, 128), nn.LayerNorm(128)
            self.head = nn.Linear(128, 10)

        def forward(self, x):
            return self.head(F.relu(self.ln2(self.fc2(F.relu(self.ln1(self.fc1(x)))))))

    return {
        "gpt_d256_l4": lambda: Gpt(512, 128, 256, 4, 4),
        "gpt_d768_l4": lambda: Gpt(8192, 128, 768, 12, 4),
        "gpt2_small_t256": lambda: Gpt(50257, 1024, 768, 12, 12, tied=True, nested_mlp=True),
        "gpt2_small_t1024": lambda: Gpt(50257, 1024, 768, 12, 12, tied=True, nested_mlp=True),
        "vit_s16_b1": lambda: Vit(),
        "vit_s16_b8": lambda: Vit(),
        "bert_base_postln": lambda: Bert(),
        "mlp_train": lambda: Mlp(),
        "chargpt_train": lambda: Gpt(256, 64, 64, 4, 2),
    }


def copy_params(module, params):
    """lnfold's tensors into the torch module by name; returns a list of problems (names or shapes that differ)."""
    problems = []
    named = dict(module.named_parameters())
    for k in sorted(set(named) - set(params)):
        problems.append(f"torch parameter {k} has no lnfold tensor")
    for k in sorted(set(params) - set(named)):
        problems.append(f"lnfold tensor {k} has no torch parameter")
    with torch.no_grad():
        for k, p in named.items():
            if k not in params:
                continue
            if tuple(p.shape) != params[k].shape:
                problems.append(f"{k}: torch shape {tuple(p.shape)}, lnfold {params[k].shape}")
                continue
            p.copy_(torch.from_numpy(params[k]))
    return problems


def torch_runner(name, kind, module, x_np, is_tokens, targets_np):
    """(run, result): run() is one forward (inference_mode) or one training step; result() the output / loss."""
    if is_tokens:
        x = torch.from_numpy(x_np.astype(np.int64))
    elif x_np.ndim == 4:  # NHWC -> NCHW, as torch's Conv2d reads
        x = torch.from_numpy(x_np).permute(0, 3, 1, 2).contiguous()
    else:
        x = torch.from_numpy(x_np)
    state = {}
    if kind == "inference":
        module.eval()

        def run():
            with torch.inference_mode():
                state["out"] = module(x)
        return run, lambda: state["out"].reshape(-1, state["out"].shape[-1]).numpy()
    module.train()
    y = torch.from_numpy(targets_np.astype(np.int64))
    decay = [p for p in module.parameters() if p.dim() >= 2]
    rest = [p for p in module.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": rest, "weight_decay": 0.0}],
                            lr=1e-3, betas=(0.9, 0.999), eps=1e-8)

    def step():
        logits = module(x)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        state["loss"] = loss
    return step, lambda: state["loss"].item()


# ---------------------------------------------------------------------------------------------------------------
# environment

def machine():
    info = {"cpu": platform.processor(), "cores": os.cpu_count(), "flags": ""}
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        for line in out.splitlines():
            k, _, v = line.partition(":")
            if k.strip() == "Model name":
                info["cpu"] = v.strip()
            if k.strip() == "Flags":
                flags = v.split()
                simd = [f for f in flags if f in ("sse4_2", "avx", "avx2", "fma") or f.startswith("avx512")
                        or f.startswith("amx")]
                info["flags"] = " ".join(simd) + ("" if any(f.startswith("avx512") for f in flags) else
                                                  " (no AVX-512)")
    except OSError:
        pass
    return info


def loaded_libraries(pattern_words):
    libs = []
    try:
        for line in open("/proc/self/maps"):
            parts = line.split()
            if len(parts) >= 6 and any(w in os.path.basename(parts[-1]) for w in pattern_words) and parts[-1] not in libs:
                libs.append(parts[-1])
    except OSError:
        pass
    return libs


class Blas:
    """torch's BLAS as loaded in this process; OpenBLAS's core name and config through ctypes when reachable."""

    def __init__(self):
        # OpenBLAS's own file first (Debian's libblas.so.3 / liblapack.so.3 alternatives also export its symbols)
        self.libs = sorted(loaded_libraries(("blas", "blis", "mkl", "dnnl", "lapack")),
                           key=lambda p: "openblas" not in os.path.basename(p))
        self.openblas = None
        self.corename = self.config = None
        for path in self.libs:
            try:
                lib = ctypes.CDLL(path)  # the loaded object again (dlopen of a loaded file returns it)
                lib.openblas_get_corename.restype = ctypes.c_char_p
                lib.openblas_get_config.restype = ctypes.c_char_p
            except (OSError, AttributeError):
                continue
            self.openblas, self.openblas_path = lib, path
            self.corename = lib.openblas_get_corename().decode()
            self.config = lib.openblas_get_config().decode()
            break

    def set_threads(self, n):
        if self.openblas is not None:
            self.openblas.openblas_set_num_threads(ctypes.c_int(n))

    def threads(self):
        return self.openblas.openblas_get_num_threads() if self.openblas is not None else None

    def describe(self):
        if self.openblas is None:
            return f"no OpenBLAS found among the loaded libraries ({', '.join(self.libs) or 'none'})"
        return f"OpenBLAS {self.config}; core (kernel) {self.corename}; {self.openblas_path}"


def thread_env():
    """The environment variables that change how the thread pools wait or spread (libgomp reads them at start-up;
    one libgomp serves lnfold and torch in this process)."""
    keys = sorted(k for k in os.environ if k.startswith(("OMP_", "GOMP_", "KMP_")) or k in (
        "OPENBLAS_THREAD_TIMEOUT", "OPENBLAS_VERBOSE"))
    return ", ".join(f"{k}={os.environ[k]}" for k in keys) or "no OMP_* / GOMP_* variable set (libgomp defaults: " \
        "threads spin-wait a while between parallel regions)"


def lnfold_blas(lib_path, blas=None):
    """The BLAS libraries liblnfold_model_cases links (ldd), and whether it is the OpenBLAS torch uses here."""
    try:
        out = subprocess.run(["ldd", lib_path], capture_output=True, text=True).stdout
    except OSError:
        return "unknown (no ldd)"
    hits = []
    for line in out.splitlines():
        if any(w in line for w in ("blas", "blis", "mkl", "dnnl", "lapack")):
            name, _, rest = line.partition("=>")
            path = rest.split("(")[0].strip()
            text = name.strip()
            if blas is not None and blas.openblas is not None and path and \
                    os.path.realpath(path) == os.path.realpath(blas.openblas_path):
                text += f" (the same OpenBLAS as torch's in this process: core {blas.corename})"
            hits.append(text)
    return ", ".join(hits) + " (linked)" if hits else "none linked: lnfold's GEMM is header code (Eigen)"


def torch_config():
    show = torch.__config__.show()
    keep = []
    for line in show.splitlines():
        s = line.strip()
        if s.startswith("- CPU capability usage") or s.startswith("- GCC") or "MKL-DNN" in s or "oneDNN" in s:
            keep.append(s.lstrip("- "))
        if s.startswith("- Build settings"):
            for item in s.split(","):
                item = item.strip()
                if item.startswith(("Build settings: BLAS_INFO", "BLAS_INFO", "LAPACK_INFO", "USE_OPENMP", "USE_MKLDNN")):
                    keep.append(item.replace("Build settings: ", ""))
    par = [l.strip() for l in torch.__config__.parallel_info().splitlines()
           if l.strip() and not l.strip().endswith(":") and "[not set]" not in l and "num_threads" not in l
           and "max_threads" not in l]
    return keep, par


# ---------------------------------------------------------------------------------------------------------------
# measurement

def rel_err(a, b):
    a, b = np.asarray(a, dtype=np.float64).ravel(), np.asarray(b, dtype=np.float64).ravel()
    if a.shape != b.shape:
        return float("inf")
    scale = max(np.max(np.abs(b)), 1e-6)
    return float(np.max(np.abs(a - b)) / scale)


def loud(msg):
    bar = "!" * 100
    text = f"\n{bar}\n!!! MISMATCH: {msg}\n{bar}\n"
    print(text, flush=True)
    print(text, file=sys.stderr, flush=True)


def validate(name, kind, variants, ln, tr, tresult):
    """Runs every implementation once (or twice: training); returns {variant: (status, detail)} and the seconds each
    first call took (used to size the rounds)."""
    checks, first = {}, {}
    if kind == "inference":
        t0 = time.perf_counter()
        tr()
        first["torch"] = time.perf_counter() - t0
        ref = tresult()
        ref_shape = None
        for v, c in variants.items():
            t0 = time.perf_counter()
            c.checked_run()
            first[v] = time.perf_counter() - t0
            out = c.output()
            finite = out is not None and bool(np.all(np.isfinite(out)))
            if v == "none":  # no torch twin: shape and finiteness
                ok = finite and ref_shape is not None and out.shape == ref_shape
                checks[v] = ("ok" if ok else "MISMATCH", f"shape {out.shape if out is not None else None}, "
                             f"{'finite' if finite else 'NOT FINITE'} (no torch twin)")
                if not ok:
                    loud(f"{name}/{v}: output shape {None if out is None else out.shape} vs {ref_shape}, finite={finite}")
                continue
            if ref_shape is None:
                ref_shape = out.shape if out is not None else None
            err = rel_err(out, ref) if out is not None else float("inf")
            ok = finite and err <= TOLERANCE
            checks[v] = ("ok" if ok else "MISMATCH", f"max |lnfold - torch| / max |torch| = {err:.2e}")
            if not ok:
                loud(f"{name}/{v}: lnfold and torch outputs differ: max rel err {err:.3e} > {TOLERANCE:g} "
                     f"(shapes {None if out is None else out.shape} / {ref.shape}, finite={finite})")
        return checks, first
    # training: step 1 sees the same weights on both sides, step 2 checks backward + AdamW
    losses = {}
    for step in (1, 2):
        t0 = time.perf_counter()
        tr()
        first.setdefault("torch", time.perf_counter() - t0)
        losses.setdefault("torch", []).append(tresult())
        for v, c in variants.items():
            t0 = time.perf_counter()
            c.checked_run()
            first.setdefault(v, time.perf_counter() - t0)
            losses.setdefault(v, []).append(c.loss())
    for v in variants:
        errs = [abs(a - b) / max(abs(b), 1e-12) for a, b in zip(losses[v], losses["torch"])]
        ok = all(np.isfinite(losses[v])) and errs[0] <= LOSS_TOLERANCE[0] and errs[1] <= LOSS_TOLERANCE[1]
        checks[v] = ("ok" if ok else "MISMATCH",
                     f"losses {losses[v][0]:.6f}, {losses[v][1]:.6f} vs torch {losses['torch'][0]:.6f}, "
                     f"{losses['torch'][1]:.6f} (rel {errs[0]:.1e}, {errs[1]:.1e})")
        if not ok:
            loud(f"{name}/{v}: training losses differ from torch: {checks[v][1]}")
    return checks, first


def cpu_sample():
    """(CPU seconds busy on the whole machine, CPU seconds of this process, wall seconds): the difference between
    two samples gives the load of everything else (other processes, the hypervisor's steal) in cores."""
    try:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:9]]
        busy = (sum(v) - v[3] - v[4]) / os.sysconf("SC_CLK_TCK")  # all but idle and iowait; steal counts as busy
    except (OSError, ValueError):
        busy = float("nan")
    t = os.times()
    return busy, t.user + t.system, time.monotonic()


def other_load(a, b):
    return max(0.0, ((b[0] - a[0]) - (b[1] - a[1])) / max(b[2] - a[2], 1e-9))


OTHER_LOAD_LIMIT = 0.1  # cores used by other processes while a case was timed, above which its row is flagged


def set_threads(lib, blas, n):
    lib.set_threads(n)
    torch.set_num_threads(n)
    blas.set_threads(n)
    got = (lib.L.lnfold_cases_set_threads(n), torch.get_num_threads(), blas.threads())
    if got[0] != n or got[1] != n or got[2] not in (None, n):
        print(f"   warning: asked for {n} threads, got lnfold {got[0]}, torch {got[1]}, OpenBLAS {got[2]}", flush=True)


def measure_case(args, lib, blas, name, results, checks_out):
    meta = lib.cases[name]
    kind = meta["kind"]
    print(f"\n== {name}: {meta['description']}", flush=True)
    t_setup = time.perf_counter()
    variants = {}
    for v in meta["variants"]:
        variants[v] = LnfoldCase(lib, name, v)
    ref = variants[meta["variants"][0]]  # ln
    x, is_tokens, targets = ref.input()
    module = TORCH_CASES[name]()
    problems = copy_params(module, ref.params())
    tr, tresult = torch_runner(name, kind, module, x, is_tokens, targets)
    set_threads(lib, blas, args.threads[0])
    if problems:
        loud(f"{name}: the torch module's parameters do not match lnfold's tensors:\n  " + "\n  ".join(problems[:20]))
        checks = {v: ("MISMATCH", "parameters differ: " + problems[0]) for v in variants}
        first = {}
    else:
        try:
            checks, first = validate(name, kind, variants, ref, tr, tresult)
        except RuntimeError as e:  # lnfold threw: nothing of this case is timed
            loud(f"{name}: {e}")
            checks, first = {v: ("MISMATCH", f"the run failed: {e}") for v in variants}, {}
    checks_out[name] = checks
    for v, (status, detail) in checks.items():
        print(f"   check {v:7s}: {status}: {detail}", flush=True)
    print(f"   setup and check: {time.perf_counter() - t_setup:.1f} s", flush=True)

    impls = [("lnfold", v, c.run) for v, c in variants.items()] + [("torch", meta["variants"][0], tr)]
    if args.variants:  # a diagnostic subset (e.g. lnfold alone, to see what torch's threads cost it)
        impls = [i for i in impls if (i[0] if i[0] == "torch" else i[1]) in args.variants]
    failed_check = any(d.startswith("the run failed") for _, d in checks.values())
    for ti, threads in enumerate([] if args.check_only or failed_check else args.threads):
        set_threads(lib, blas, threads)
        if ti > 0 or not first:  # warm-up (at the first thread count the checks were the warm-up)
            first = {}
            for who, v, fn in impls:
                t0 = time.perf_counter()
                fn()
                first[who if who == "torch" else v] = time.perf_counter() - t0
        round_s = sum(first.values())
        lo = MIN_ROUNDS.get(name, args.min_rounds) if not args.quick else min(args.min_rounds, MIN_ROUNDS.get(name, 99))
        rounds = max(lo, min(args.max_rounds, int(args.seconds / max(round_s, 1e-6))))
        times = {(who, v): [] for who, v, _ in impls}
        failed = set()
        gc.disable()
        t_start = time.perf_counter()
        sample = cpu_sample()
        for r in range(rounds):
            for k in range(len(impls)):
                who, v, fn = impls[(k + r) % len(impls)]
                t0 = time.perf_counter()
                rc = fn()
                times[(who, v)].append(time.perf_counter() - t0)
                if rc:  # lnfold's run returns -1 on an exception (torch's return None)
                    failed.add(v)
        load = other_load(sample, cpu_sample())
        gc.enable()
        for v in failed:
            loud(f"{name}/{v}: lnfold's run failed while timed: {lib.L.lnfold_cases_error().decode()}")
            checks[v] = ("MISMATCH", "the run failed while timed")
        line = []
        for (who, v), ts in times.items():
            ms = [t * 1e3 for t in ts]
            results.append({"case": name, "kind": kind, "threads": threads, "impl": who, "variant": v,
                            "rounds": rounds, "min_ms": min(ms), "median_ms": statistics.median(ms), "other_load": load,
                            "check": checks.get(v, ("", ""))[0] if who == "lnfold" else
                            ("ok" if all(s == "ok" for s, _ in checks.values()) else "MISMATCH")})
            line.append(f"{who}.{v} {statistics.median(ms):.2f} ({min(ms):.2f})")
        print(f"   {threads} thread{'s' if threads > 1 else ''}, {rounds} rounds, {time.perf_counter() - t_start:.0f} s, "
              f"other processes {load:.2f} cores{' (BUSY: not reliable)' if load > OTHER_LOAD_LIMIT else ''}: "
              "median (min) ms: " + ", ".join(line), flush=True)
    for c in variants.values():
        c.close()
    del module, tr, tresult
    gc.collect()


# ---------------------------------------------------------------------------------------------------------------
# report

def lookup(results, case, threads, impl, variant):
    for r in results:
        if r["case"] == case and r["threads"] == threads and r["impl"] == impl and r["variant"] == variant:
            return r
    return None


def cell(r):
    return f"{r['median_ms']:.2f} ({r['min_ms']:.2f})" if r else "–"


def ratio(a, b):
    return a["median_ms"] / b["median_ms"] if a and b else None


def pct(x):
    return "–" if x is None else f"{x:+.1f}%"


def busy(s):
    x = s["ln"]["other_load"]
    return f"**{x:.2f}**" if x > OTHER_LOAD_LIMIT else f"{x:.2f}"


def share(x):
    return "–" if x is None else f"{x:.0f}%"


def case_order(results):
    seen = []
    for r in results:
        if r["case"] not in seen:
            seen.append(r["case"])
    return seen


def summary(results, checks, threads):
    """Per case at one thread count: the numbers the tables and the reading use."""
    out = []
    for case in case_order(results):
        ln = lookup(results, case, threads, "lnfold", "ln")
        if ln is None:
            continue
        kind = ln["kind"]
        second = "cbwc" if kind == "training" else "folded"
        s = {"case": case, "kind": kind, "ln": ln, "second": lookup(results, case, threads, "lnfold", second),
             "none": lookup(results, case, threads, "lnfold", "none"),
             "torch": lookup(results, case, threads, "torch", "ln")}
        s["ratio_ln"] = ratio(s["torch"], ln)
        s["ratio_second"] = ratio(s["torch"], s["second"])
        s["fold_gain"] = (ln["median_ms"] / s["second"]["median_ms"] - 1) * 100 if s["second"] else None
        s["ceiling"] = (ln["median_ms"] / s["none"]["median_ms"] - 1) * 100 if s["none"] else None
        s["share"] = ((ln["median_ms"] - s["second"]["median_ms"]) / (ln["median_ms"] - s["none"]["median_ms"]) * 100
                      if s["second"] and s["none"] and ln["median_ms"] - s["none"]["median_ms"] > 0.03 * ln["median_ms"]
                      else None)
        c = checks.get(case, {})
        s["check"] = "ok" if c and all(st == "ok" for st, _ in c.values()) else ("**MISMATCH**" if c else "–")
        out.append(s)
    return out


def tables(results, checks, threads):
    rows = summary(results, checks, threads)
    inf = [s for s in rows if s["kind"] == "inference"]
    tr = [s for s in rows if s["kind"] == "training"]
    lines = []
    if inf:
        lines += ["| case | lnfold LN | lnfold folded | lnfold no-norm | torch (LN) | torch / lnfold LN | "
                  "torch / lnfold folded | fold gain vs LN | no-norm ceiling | fold share of ceiling | other load | check |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for s in inf:
            f = lambda x: "–" if x is None else f"{x:.2f}"
            lines.append(f"| {s['case']} | {cell(s['ln'])} | {cell(s['second'])} | {cell(s['none'])} | "
                         f"{cell(s['torch'])} | {f(s['ratio_ln'])} | {f(s['ratio_second'])} | {pct(s['fold_gain'])} | "
                         f"{pct(s['ceiling'])} | {share(s['share'])} | {busy(s)} | {s['check']} |")
    if tr:
        if lines:
            lines.append("")
        lines += ["| training step | lnfold LN | lnfold CBWC + RMSNorm | torch (LN) | torch / lnfold LN | "
                  "torch / lnfold CBWC | CBWC vs LN | other load | check |", "|---|---|---|---|---|---|---|---|---|"]
        for s in tr:
            f = lambda x: "–" if x is None else f"{x:.2f}"
            lines.append(f"| {s['case']} | {cell(s['ln'])} | {cell(s['second'])} | {cell(s['torch'])} | "
                         f"{f(s['ratio_ln'])} | {f(s['ratio_second'])} | {pct(s['fold_gain'])} | {busy(s)} | {s['check']} |")
    return lines


def reading(results, checks, thread_counts):
    lines = []
    for threads in thread_counts:
        rows = [s for s in summary(results, checks, threads) if s["ratio_ln"] is not None]
        if not rows:
            continue
        t = f"{threads} thread{'s' if threads > 1 else ''}"
        best = [max(x for x in (s["ratio_ln"], s["ratio_second"]) if x is not None) for s in rows]
        faster = sum(1 for b in best if b >= 1.0)
        goal = sum(1 for b in best if b >= 1.25)
        worst = min(rows, key=lambda s: s["ratio_ln"])
        top = max(rows, key=lambda s: s["ratio_ln"])
        lines.append(f"- {t}: lnfold (its faster of LN and folded / CBWC) is at least as fast as torch in {faster} of "
                     f"{len(rows)} cases, at the 1.25x goal in {goal}; torch / lnfold LN ranges from "
                     f"{worst['ratio_ln']:.2f} ({worst['case']}) to {top['ratio_ln']:.2f} ({top['case']}).")
        folds = [s for s in rows if s["kind"] == "inference" and s["fold_gain"] is not None]
        if folds:
            slower = [s for s in folds if s["fold_gain"] < -1.0]
            gains = [s["fold_gain"] for s in folds]
            ceil = [s["ceiling"] for s in folds if s["ceiling"] is not None]
            lines.append(f"  Folded vs LN: median gain {statistics.median(gains):+.1f}% (range {min(gains):+.1f}% .. "
                         f"{max(gains):+.1f}%) over {len(folds)} foldable cases; " +
                         ("folded is never slower than LN beyond 1%." if not slower else
                          "folded is slower than LN beyond 1% in " + ", ".join(
                              f"{s['case']} ({s['fold_gain']:+.1f}%)" for s in slower) + ".") +
                         (f" The no-norm ceiling (every LayerNorm removed) is {statistics.median(ceil):+.1f}% median "
                          f"(range {min(ceil):+.1f}% .. {max(ceil):+.1f}%): the most any norm change could gain."
                          if ceil else ""))
        ctrl = [s for s in rows if s["kind"] == "inference" and s["second"] is None and s["ceiling"] is not None]
        for s in ctrl:
            lines.append(f"  Control {s['case']} (Post-LN, not foldable): no-norm ceiling {s['ceiling']:+.1f}%, "
                         f"torch / lnfold {s['ratio_ln']:.2f}.")
        spread = [(s["ln"]["median_ms"] / s["ln"]["min_ms"] - 1) * 100 for s in rows]
        lines.append(f"  Timer spread (lnfold LN median / min - 1): median {statistics.median(spread):.1f}%, largest "
                     f"{max(spread):.1f}%; differences between variants smaller than that are noise.")
        trs = [s for s in rows if s["kind"] == "training" and s["fold_gain"] is not None]
        for s in trs:
            lines.append(f"  Training {s['case']}: CBWC + RMSNorm vs LN {s['fold_gain']:+.1f}%, torch / lnfold LN "
                         f"{s['ratio_ln']:.2f}.")
    if 1 in thread_counts and 2 in thread_counts:
        one = {s["case"]: s for s in summary(results, checks, 1)}
        scale = []
        for s in summary(results, checks, 2):
            o = one.get(s["case"])
            if o and s["ln"] and s["torch"] and o["ln"] and o["torch"]:
                scale.append((s["case"], o["ln"]["median_ms"] / s["ln"]["median_ms"],
                              o["torch"]["median_ms"] / s["torch"]["median_ms"]))
        busy_any = any(r["other_load"] > OTHER_LOAD_LIMIT for r in results)
        if scale:
            slow = [f"{c} ({t:.2f}x)" for c, _, t in scale if t < 1.0]
            lines.append(f"- 2 threads / 1 thread speedup (medians): lnfold LN median "
                         f"{statistics.median(x for _, x, _ in scale):.2f}x, torch median "
                         f"{statistics.median(t for _, _, t in scale):.2f}x" +
                         ("." if not slow else "; torch is slower at 2 threads than at 1 in " + ", ".join(slow) +
                          (": measured while other processes were busy (below), so not conclusive." if busy_any else
                           ": Debian's torch runs its element-wise ops on libgomp threads (spin-waiting between "
                          "regions, OMP_WAIT_POLICY unset) and its GEMMs on OpenBLAS's own pthreads, and on 2 cores "
                          "they take each other's core; OMP_WAIT_POLICY=passive (process-wide: it changes lnfold's "
                          "threads too) avoids that, see the environment line above.")))
    all_rows = [s for th in thread_counts for s in summary(results, checks, th) if s["ratio_ln"] is not None]
    if all_rows:
        missing = [f"{s['case']} at {th} thread{'s' if th > 1 else ''} ({s['ratio_ln']:.2f})"
                   for th in thread_counts for s in summary(results, checks, th)
                   if s["ratio_ln"] is not None and s["ratio_ln"] < 1.0]
        both = set(thread_counts) >= {1, 2}
        lines.append("- Target: every whole-network case at least as fast as torch at 1 and 2 threads: "
                     + ("" if both else "not decided by this run (it measured " +
                        ", ".join(map(str, thread_counts)) + " thread(s) only); at those, ")
                     + ("**met**" if not missing else "**not met**: torch / lnfold LN below 1.0 for " + ", ".join(missing))
                     + (" (including rows timed while the machine was busy: see Other processes)"
                        if any(r["other_load"] > OTHER_LOAD_LIMIT for r in results) else "") + ".")
    disturbed = sorted({f"{r['case']} at {r['threads']}" for r in results if r["other_load"] > OTHER_LOAD_LIMIT})
    lines.append("- Other processes: " + ("none measurable while the cases were timed (below "
                                          f"{OTHER_LOAD_LIMIT} core)." if not disturbed else
                                          f"**more than {OTHER_LOAD_LIMIT} core busy** while timing " +
                                          ", ".join(t + " thread(s)" for t in disturbed) +
                                          ": those rows are not reliable (on 2 cores, spin-waiting thread pools "
                                          "collapse when a core is taken), rerun on an idle machine."))
    bad = [f"{c}/{v}" for c, vs in checks.items() for v, (st, _) in vs.items() if st != "ok"]
    lines.append("- Checks: " + ("every lnfold variant computes torch's function on the same weights and input "
                                 "(no-norm variants: shape and finiteness only)." if not bad else
                                 "**MISMATCH** in " + ", ".join(bad) + ": their timings compare different functions."))
    return lines


def chart(results, checks, thread_counts, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib missing (apt-get install python3-matplotlib): no chart", flush=True)
        return False
    fig, axes = plt.subplots(1, len(thread_counts), figsize=(6 * len(thread_counts), 4.8), sharey=True, squeeze=False)
    for ax, threads in zip(axes[0], thread_counts):
        rows = [s for s in summary(results, checks, threads) if s["ratio_ln"] is not None]
        names = [s["case"] for s in rows]
        ys = np.arange(len(rows))
        ax.barh(ys - 0.2, [s["ratio_ln"] for s in rows], 0.4, label="lnfold LN")
        ax.barh(ys + 0.2, [s["ratio_second"] or 0 for s in rows], 0.4, label="lnfold folded (training: CBWC)")
        ax.axvline(1.0, color="k", lw=1)
        ax.axvline(1.25, color="k", lw=1, ls="--")
        ax.set_yticks(ys)
        ax.set_yticklabels(names)
        ax.invert_yaxis()
        ax.set_xlabel("torch time / lnfold time (median; > 1: lnfold faster)")
        ax.set_title(f"{threads} thread{'s' if threads > 1 else ''}")
    axes[0][0].legend(fontsize=8, loc="lower right")
    fig.suptitle(f"Whole networks, lnfold vs torch {torch.__version__} (dashed: the 1.25x goal)")
    fig.tight_layout()
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def write_outputs(args, lib, blas, env, results, checks, elapsed):
    os.makedirs(os.path.dirname(args.csv) or ".", exist_ok=True)
    with open(args.csv, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["case", "kind", "threads", "impl", "variant", "rounds", "min_ms",
                                          "median_ms", "other_load", "check"])
        w.writeheader()
        for r in results:
            w.writerow({**r, "min_ms": f"{r['min_ms']:.4f}", "median_ms": f"{r['median_ms']:.4f}",
                        "other_load": f"{r['other_load']:.3f}"})
    m = machine()
    tcfg, tpar = torch_config()
    have_chart = chart(results, checks, args.threads, args.img)
    doc_dir = os.path.dirname(os.path.abspath(args.doc))
    cmd = "bash scripts/bench_models.sh" + (" " + " ".join(args.passthrough) if args.passthrough else "")
    lines = ["# Performance: whole networks, lnfold vs torch", "",
             f"Generated by `{cmd}` on {datetime.date.today()} in {elapsed / 60:.1f} minutes "
             f"(every number below comes from that run; CSV: `{os.path.relpath(os.path.abspath(args.csv), doc_dir)}`). "
             f"Protocol: [bench/peer_models.py]({os.path.relpath(os.path.abspath(__file__), doc_dir)}); "
             "norm kernels: [benchmarks.md](benchmarks.md).",
             "", "## Machine, build, peer", "",
             f"- CPU: {m['cpu']}, {m['cores']} cores; SIMD flags: {m['flags'] or 'unknown'}",
             f"- lnfold: {lib.info}",
             f"- lnfold BLAS: {lnfold_blas(lib.path, blas)}",
             f"- threads: {', '.join(map(str, args.threads))} (lnfold: OpenMP omp_set_num_threads; torch: "
             f"torch.set_num_threads and openblas_set_num_threads, OPENBLAS_NUM_THREADS={env['OPENBLAS_NUM_THREADS']})",
             f"- torch {torch.__version__} (Python {sys.version.split()[0]}): " + "; ".join(tcfg),
             f"- torch parallel: " + "; ".join(tpar),
             f"- torch BLAS: {blas.describe()}",
             f"- OPENBLAS_CORETYPE: {env['coretype']}; OPENBLAS_L2_SIZE: {env['l2']}",
             f"- thread environment: {thread_env()}",
             "", "## Protocol", "",
             "One process. lnfold's cases come from liblnfold_model_cases (bench/model_cases*.cpp) through ctypes; "
             "torch runs the same networks written as plain modules (nn.Linear, nn.LayerNorm, attention by hand: "
             "qkv linear, split heads, q k^T scaled, causal mask, softmax, @ v, projection), in "
             "`torch.inference_mode()` for inference. Weights: PyTorch-default initialisation, seeded, drawn by lnfold "
             "and copied into the torch module by name, so both compute the same function on the same input (random "
             "token ids / pixels / labels); that is checked before timing: outputs within "
             f"{TOLERANCE:g} of torch's (relative to its largest value) for LN and folded, the losses of two training "
             "steps (relative 1e-4, then 1e-3 after one AdamW update) for LN and CBWC, shape and finiteness for no-norm "
             "(it has no torch twin). Batch 1 unless the case says otherwise, float32.",
             "",
             "Timing: per case and thread count, a warm-up call of each implementation, then R rounds; every round "
             "calls each implementation once (lnfold's variants and torch; the starting one rotates), each call "
             f"timed by one `time.perf_counter()`. R: a budget of {args.seconds:g} s per case and thread count, at "
             f"least {args.min_rounds} rounds ({', '.join(f'{k}: {v}' for k, v in MIN_ROUNDS.items())}), at most "
             f"{args.max_rounds}. Cells: median (min) ms; ratios: medians. Variants: LN (`Model<Net>`), folded "
             "(`fold(model)`: every foldable LayerNorm becomes an RMSNorm, same function), no-norm (every LayerNorm "
             "removed, bench/model_variants.hpp: the ceiling of any norm work), CBWC + RMSNorm (`cbwc_t<Net>`, the "
             "twin that trains like the LN model). fold gain vs LN = LN / folded - 1; no-norm ceiling = LN / no-norm "
             "- 1; fold share of ceiling = (LN - folded) / (LN - no-norm), shown when the ceiling is above 3% (below, it is mostly timer noise). "
             "Training step: forward, cross-entropy, zero grad, backward, AdamW (lr 1e-3, weight decay 0.01 on "
             "matrices and tables); no gradient clipping. Other load: the CPU cores other processes (and the "
             "hypervisor's steal time) used while the case was timed (/proc/stat less this process's CPU time); above "
             f"{OTHER_LOAD_LIMIT} it is in bold and that row is not reliable.",
             "", "Cases:", ""]
    for case in case_order(results):
        lines.append(f"- `{case}`: {lib.cases[case]['description']}")
    lines += ["", "## Reading", ""] + reading(results, checks, args.threads)
    if have_chart:
        lines += ["", f"![torch / lnfold]({os.path.relpath(os.path.abspath(args.img), doc_dir)})"]
    for threads in args.threads:
        lines += ["", f"## {threads} thread{'s' if threads > 1 else ''}", "",
                  "Milliseconds per forward (per training step), median (min)."] + [""] + tables(results, checks, threads)
    lines += ["", "## Checks", ""]
    for case, vs in checks.items():
        for v, (status, detail) in vs.items():
            lines.append(f"- {case} / {v}: {status}: {detail}")
    write_between_markers(args.doc, lines)


BEGIN = "<!-- generated by scripts/bench_models.sh: begin (text outside these markers is kept) -->"
END = "<!-- generated by scripts/bench_models.sh: end -->"


def write_between_markers(path, lines):
    """Writes the generated lines into path between BEGIN and END: a file that has both keeps everything outside
    them (hand-written sections before or after); otherwise the file becomes the generated text. Atomic (rename)."""
    body = "\n".join(lines) + "\n"
    text = f"{BEGIN}\n{body}{END}\n"
    try:
        old = open(path).read()
    except OSError:
        old = None
    if old and BEGIN in old and END in old and old.index(BEGIN) < old.index(END):
        text = old[:old.index(BEGIN)] + text.rstrip("\n") + old[old.index(END) + len(END):]
        if not text.endswith("\n"):
            text += "\n"
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


# ---------------------------------------------------------------------------------------------------------------

def main():
    global torch, nn, F, TORCH_CASES
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--lib", required=True, help="liblnfold_model_cases.so")
    p.add_argument("--cases", help="comma-separated case names (default: all; --list shows them)")
    p.add_argument("--threads", default=None, help="thread counts, e.g. 1,2 (default 1,2; --quick: 1)")
    p.add_argument("--seconds", type=float, default=None, help="time budget per case and thread count (default 10)")
    p.add_argument("--min-rounds", type=int, default=None, help="at least this many rounds (default 5; --quick: 3)")
    p.add_argument("--max-rounds", type=int, default=30)
    p.add_argument("--quick", action="store_true", help="smoke test: 1 thread, few rounds, small cases")
    p.add_argument("--list", action="store_true", help="list the cases and exit")
    p.add_argument("--variants", help="time only these, e.g. ln,folded or torch (diagnostics; default: all)")
    p.add_argument("--check-only", action="store_true", help="check lnfold against torch, time nothing, write nothing")
    p.add_argument("--csv", default=None, help="default docs/performance.csv (--quick: build-bench/performance_quick.csv)")
    p.add_argument("--doc", default=None, help="default docs/performance.md (--quick: build-bench/performance_quick.md)")
    p.add_argument("--img", default=None, help="default docs/img/performance.png (--quick: build-bench/performance_quick.png)")
    args = p.parse_args()
    args.passthrough = [a for a in sys.argv[1:] if not a.startswith("--lib") and not a.endswith(".so")]
    args.variants = args.variants.split(",") if args.variants else None
    args.threads = [int(t) for t in (args.threads or ("1" if args.quick else "1,2")).split(",")]
    args.seconds = args.seconds if args.seconds is not None else (2.0 if args.quick else 10.0)
    args.min_rounds = args.min_rounds if args.min_rounds is not None else (3 if args.quick else 5)
    out = "build-bench/performance_quick" if args.quick else None
    args.csv = args.csv or (out + ".csv" if out else "docs/performance.csv")
    args.doc = args.doc or (out + ".md" if out else "docs/performance.md")
    args.img = args.img or (out + ".png" if out else "docs/img/performance.png")

    # OpenBLAS reads OPENBLAS_NUM_THREADS when it loads (with torch): its pool must hold the largest count; the
    # count per run is then set with openblas_set_num_threads.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", str(max(args.threads)))
    env = {"OPENBLAS_NUM_THREADS": os.environ["OPENBLAS_NUM_THREADS"],
           "coretype": os.environ.get("LNFOLD_BENCH_OPENBLAS_CORETYPE_WAS", "") or "",
           "l2": os.environ.get("LNFOLD_BENCH_OPENBLAS_L2_SIZE_WAS", "") or ""}
    for key, var in (("coretype", "OPENBLAS_CORETYPE"), ("l2", "OPENBLAS_L2_SIZE")):
        now = os.environ.get(var)
        was = env[key]
        env[key] = (f"{now} (set for this run)" if now else
                    f"unset for this run (the environment had {was})" if was else "not set")

    lib = Lib(args.lib)
    if args.list:
        for name, m in lib.cases.items():
            print(f"{name:18s} {m['kind']:9s} {','.join(m['variants']):15s} {m['description']}")
        return 0
    cases = args.cases.split(",") if args.cases else (QUICK_CASES if args.quick else DEFAULT_CASES)
    unknown = [c for c in cases if c not in lib.cases]
    if unknown:
        print(f"unknown case(s) {unknown}; known: {', '.join(lib.cases)}", file=sys.stderr)
        return 2

    import torch as _torch
    import torch.nn as _nn
    import torch.nn.functional as _F
    torch, nn, F = _torch, _nn, _F
    TORCH_CASES = torch_modules()
    blas = Blas()
    m = machine()
    tcfg, tpar = torch_config()
    print(f"CPU: {m['cpu']} ({m['cores']} cores), SIMD flags: {m['flags']}", flush=True)
    print(f"lnfold: {lib.info}\nlnfold BLAS: {lnfold_blas(lib.path, blas)}", flush=True)
    print(f"torch {torch.__version__}: " + "; ".join(tcfg), flush=True)
    print("torch parallel: " + "; ".join(tpar), flush=True)
    print(f"torch BLAS: {blas.describe()}", flush=True)
    print(f"OPENBLAS_NUM_THREADS={env['OPENBLAS_NUM_THREADS']}, OPENBLAS_CORETYPE: {env['coretype']}, "
          f"OPENBLAS_L2_SIZE: {env['l2']}", flush=True)
    print(f"thread environment: {thread_env()}", flush=True)
    print(f"threads {args.threads}, cases {cases}, {args.seconds:g} s per case and thread count, rounds "
          f">= {args.min_rounds}", flush=True)

    a = cpu_sample()
    time.sleep(1.0)
    idle = other_load(a, cpu_sample())
    print(f"other processes before the run: {idle:.2f} cores" +
          (" -- the machine is BUSY: timings will not be reliable (rows are flagged)" if idle > OTHER_LOAD_LIMIT
           else ""), flush=True)
    torch.manual_seed(0)
    start = time.time()
    results, checks = [], {}
    for name in cases:
        measure_case(args, lib, blas, name, results, checks)
    elapsed = time.time() - start
    if args.check_only:
        bad = any(st != "ok" for vs in checks.values() for st, _ in vs.values())
        print(f"\nchecks {'FAILED' if bad else 'passed'} ({elapsed:.0f} s)")
        return 1 if bad else 0
    write_outputs(args, lib, blas, env, results, checks, elapsed)
    print(f"\nwrote {args.csv}, {args.doc}, {args.img} ({elapsed / 60:.1f} min)\n")
    for threads in args.threads:
        print(f"## {threads} thread{'s' if threads > 1 else ''}: median (min) ms")
        print("\n".join(tables(results, checks, threads)) + "\n")
    print("\n".join(reading(results, checks, args.threads)))
    bad = any(st != "ok" for vs in checks.values() for st, _ in vs.values())
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
