#!/usr/bin/env python3
"""lnfold's norm kernels against a copy kernel and against torch (and onnxruntime when installed), interleaved in
one process on the same buffers, then the whole-model timing (bench_models); writes a CSV, docs/benchmarks.md and a
bar chart. Run through scripts/bench.sh, which builds what it needs:

    bash scripts/bench.sh                  # default grid (below), 1 and 2 threads, plus the whole-model runs
    bash scripts/bench.sh --dram           # adds the DRAM case 131072 x 1024 (0.5 GiB per array)
    bash scripts/bench.sh --full --dram    # the full grid (rows 1..16384; long on 2 cores)

Timing: lnfold runs inside liblnfold_bench_kernels (C interface: `reps` calls back to back, best of `samples`),
so no Python overhead is counted for it; torch and onnxruntime are timed with the same reps/samples from Python
(their per-call dispatch cost is part of what they cost). Every round visits every case and implementation in
turn (round-robin); per case the minimum over rounds is reported, and the median. Buffers are float32, 4 KiB
aligned, filled before timing and reused, so no page fault is timed; torch's F.layer_norm allocates its output
(it has no out=), the torch RMSNorm written with out= does not.
"""
import argparse
import csv
import ctypes
import datetime
import os
import platform
import statistics
import subprocess
import sys
import time

import numpy as np

try:
    import torch
    import torch.nn.functional as F
except ImportError:  # lnfold and the copy kernels are still measured
    torch = None
try:
    import onnxruntime as ort
    from onnx import TensorProto, helper
except Exception:  # onnxruntime or onnx missing or broken: no ort columns
    ort = None

KERNELS = {"memcpy": 0, "copy_loop": 1, "stream2": 2, "layer_norm": 3, "rms_norm": 4, "rms_norm_bias": 5,
           "add_layer_norm": 6, "add_rms_norm": 7, "layer_norm_backward": 8, "rms_norm_backward": 9,
           "copy_streaming": 10, "stream2_streaming": 11}
DIMS = [64, 128, 192, 256, 384, 768, 1024, 2048, 4096, 8192, 50, 100, 1000, 4097]
ROWS_FULL = [1, 8, 197, 512, 1576, 4096, 16384]
ROWS_DEFAULT = [1, 8, 197, 4096]
DRAM = (131072, 1024)
EPS = 1e-5


def l2_bytes():
    """This core's L2 as `getconf LEVEL2_CACHE_SIZE` reports it (2 MiB where it does not): "in cache" = x and y fit."""
    try:
        out = subprocess.run(["getconf", "LEVEL2_CACHE_SIZE"], capture_output=True, text=True).stdout.strip()
        return int(out) if out.isdigit() and int(out) > 0 else 2 << 20
    except OSError:
        return 2 << 20


L2_BYTES = l2_bytes()
DRAM_BYTES = 256 << 20      # arrays > 256 MiB: out of every cache
# bytes per element counted for GB/s: read x + write y; add + norm reads 2 and writes 2; backward reads x, dy
# and writes dx
BYTES = {"copy": 8, "norm": 8, "add_norm": 16, "backward": 12}


class Buffers(ctypes.Structure):
    _fields_ = [(name, ctypes.c_void_p) for name in
                ("x", "b", "y", "s", "gamma", "beta", "mean", "rstd", "dy", "dx", "dgamma", "dbeta")]


def aligned(n, fill=None, seed=0):
    """A float32 array of n elements starting on a 4 KiB boundary, written (pre-touched)."""
    raw = np.empty(n + 1024, dtype=np.float32)
    offset = (-raw.ctypes.data % 4096) // 4
    a = raw[offset:offset + n]
    if fill is None:
        a[:] = np.random.default_rng(seed).standard_normal(n, dtype=np.float32)
    else:
        a[:] = fill
    return a


class Case:
    """All buffers of one shape, shared by lnfold (pointers) and torch (tensors on the same memory)."""

    def __init__(self, rows, dim):
        self.rows, self.dim = rows, dim
        n = rows * dim
        self.np = {"x": aligned(n, seed=1), "b": aligned(n, seed=2), "y": aligned(n, 0.0), "s": aligned(n, 0.0),
                   "gamma": aligned(dim, seed=3), "beta": aligned(dim, seed=4),
                   "mean": aligned(rows, 0.0), "rstd": aligned(rows, 1.0), "dy": aligned(n, seed=5),
                   "dx": aligned(n, 0.0), "dgamma": aligned(dim, 0.0), "dbeta": aligned(dim, 0.0)}
        self.np["gamma"][:] = self.np["gamma"] * 0.5 + 1.0
        self.bufs = Buffers(**{k: v.ctypes.data for k, v in self.np.items()})
        if torch is not None:
            self.t = {k: torch.from_numpy(v) for k, v in self.np.items()}
            for k in ("x", "b", "y", "s", "dy", "dx"):
                self.t[k] = self.t[k].view(rows, dim)
            self.t["tmp"] = torch.empty(rows, dim)
            self.t["ms"] = torch.empty(rows, 1)

    @property
    def elements(self):
        return self.rows * self.dim


def reps_for(seconds_per_call, target=0.002):
    return max(1, min(100000, int(target / max(seconds_per_call, 1e-9))))


def python_timer(fn):
    """Best seconds per call of fn: reps chosen from one timed call, best of 3 samples."""
    fn()
    t = time.perf_counter()
    fn()
    reps = reps_for(time.perf_counter() - t)
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        for _ in range(reps):
            fn()
        best = min(best, (time.perf_counter() - t) / reps)
    return best


class Lnfold:
    def __init__(self, path):
        self.lib = ctypes.CDLL(path)
        self.lib.lnfold_bench_info.restype = ctypes.c_char_p
        self.lib.lnfold_bench_set_threads.argtypes = [ctypes.c_int]
        self.lib.lnfold_bench_time.restype = ctypes.c_double
        self.lib.lnfold_bench_time.argtypes = [ctypes.c_int, ctypes.c_long, ctypes.c_long, ctypes.POINTER(Buffers),
                                               ctypes.c_long, ctypes.c_long]
        self.info = self.lib.lnfold_bench_info().decode()

    def set_threads(self, n):
        self.lib.lnfold_bench_set_threads(n)

    def time(self, kernel, case):
        k = KERNELS[kernel]
        if kernel == "layer_norm_backward":   # the statistics of this shape's forward
            self.lib.lnfold_bench_time(KERNELS["layer_norm"], case.rows, case.dim, ctypes.byref(case.bufs), 1, 1)
        if kernel == "rms_norm_backward":
            self.lib.lnfold_bench_time(KERNELS["rms_norm"], case.rows, case.dim, ctypes.byref(case.bufs), 1, 1)
        once = self.lib.lnfold_bench_time(k, case.rows, case.dim, ctypes.byref(case.bufs), 1, 1)
        return self.lib.lnfold_bench_time(k, case.rows, case.dim, ctypes.byref(case.bufs), reps_for(once), 3)


def torch_impls(case):
    """(family, name, fn) of the torch implementations of this shape."""
    if torch is None:
        return []
    t, d = case.t, case.dim
    x, b, y, s, w, bias, dy = t["x"], t["b"], t["y"], t["s"], t["gamma"], t["beta"], t["dy"]

    def rms_out(src):  # RMSNorm as torch ops, every output preallocated
        torch.mul(src, src, out=t["tmp"])
        torch.mean(t["tmp"], -1, keepdim=True, out=t["ms"])
        t["ms"].add_(EPS).rsqrt_()
        torch.mul(src, t["ms"], out=y)
        y.mul_(w)

    impls = [("copy", "torch.copy_", lambda: y.copy_(x)),
             ("layer_norm", "torch.layer_norm", lambda: F.layer_norm(x, (d,), w, bias, EPS)),
             ("rms_norm", "torch.rms(ops)", lambda: x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + EPS) * w),
             ("rms_norm", "torch.rms(ops,out=)", lambda: rms_out(x)),
             ("add_layer_norm", "torch.add+layer_norm", lambda: F.layer_norm(torch.add(x, b, out=s), (d,), w, bias, EPS)),
             ("add_rms_norm", "torch.add+rms(ops,out=)", lambda: rms_out(torch.add(x, b, out=s)))]
    if hasattr(F, "rms_norm"):
        impls.append(("rms_norm", "torch.rms_norm", lambda: F.rms_norm(x, (d,), w, EPS)))
    if hasattr(torch.ops.aten, "native_layer_norm_backward"):
        _, mean, rstd = torch.ops.aten.native_layer_norm(x, [d], w, bias, EPS)
        impls.append(("layer_norm_backward", "torch.layer_norm_backward",
                      lambda: torch.ops.aten.native_layer_norm_backward(dy, x, [d], mean, rstd, w, bias,
                                                                        [True, True, True])))
    xr = x.clone().requires_grad_(True)
    wr = w.clone().requires_grad_(True)
    br = bias.clone().requires_grad_(True)
    ln_graph = F.layer_norm(xr, (d,), wr, br, EPS)
    impls.append(("layer_norm_backward", "torch.autograd(layer_norm)",
                  lambda: torch.autograd.grad(ln_graph, (xr, wr, br), dy, retain_graph=True)))
    rms_graph = xr * torch.rsqrt(xr.pow(2).mean(-1, keepdim=True) + EPS) * wr
    impls.append(("rms_norm_backward", "torch.autograd(rms ops)",
                  lambda: torch.autograd.grad(rms_graph, (xr, wr), dy, retain_graph=True)))
    return impls


class OrtSessions:
    """onnxruntime LayerNormalization / RMSNormalization / SimplifiedLayerNormalization, outputs preallocated and
    bound (io_binding), as ../shared/peers/ort_norm_bench.py; every failure only drops that column."""

    OPS = [("layer_norm", "ort.LayerNormalization", "LayerNormalization", 17),
           ("rms_norm", "ort.RMSNormalization", "RMSNormalization", 23),
           ("rms_norm", "ort.SimplifiedLayerNorm", "SimplifiedLayerNormalization", 17)]

    def __init__(self, threads):
        self.threads = threads
        self.cache = {}
        self.errors = set()

    def model(self, op, opset, d, gamma, beta):
        x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", d])
        y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", d])
        g = helper.make_tensor("g", TensorProto.FLOAT, [d], gamma)
        inputs, inits = ["x", "g"], [g]
        if op == "LayerNormalization":
            inputs.append("b")
            inits.append(helper.make_tensor("b", TensorProto.FLOAT, [d], beta))
        node = helper.make_node(op, inputs, ["y"], axis=-1, epsilon=EPS)
        m = helper.make_model(helper.make_graph([node], "norm", [x], [y], inits),
                              opset_imports=[helper.make_opsetid("", opset)])
        m.ir_version = 10
        return m.SerializeToString()

    def impls(self, case):
        if ort is None:
            return []
        out = []
        for family, name, op, opset in self.OPS:
            if name in self.errors:
                continue
            try:
                key = (op, case.dim)
                if key not in self.cache:
                    so = ort.SessionOptions()
                    so.intra_op_num_threads = self.threads
                    so.inter_op_num_threads = 1
                    self.cache[key] = ort.InferenceSession(
                        self.model(op, opset, case.dim, case.np["gamma"].tolist(), case.np["beta"].tolist()), so,
                        providers=["CPUExecutionProvider"])
                session = self.cache[key]
                io = session.io_binding()
                xv = ort.OrtValue.ortvalue_from_numpy(case.np["x"].reshape(case.rows, case.dim))
                yv = ort.OrtValue.ortvalue_from_numpy(case.np["y"].reshape(case.rows, case.dim))
                io.bind_ortvalue_input("x", xv)
                io.bind_ortvalue_output("y", yv)
                session.run_with_iobinding(io)
                out.append((family, name, lambda s=session, b=io, keep=(xv, yv): s.run_with_iobinding(b)))
            except Exception as e:  # an op this onnxruntime lacks
                self.errors.add(name)
                print(f"  ({name} unavailable: {str(e)[:100]})", flush=True)
        return out


LNFOLD_IMPLS = [("copy", "memcpy", "memcpy"), ("copy", "copy_loop", "copy_loop"),
                ("copy", "copy_streaming", "copy_streaming"), ("stream2", "stream2", "stream2"),
                ("stream2", "stream2_streaming", "stream2_streaming"),
                ("layer_norm", "lnfold.layer_norm", "layer_norm"), ("rms_norm", "lnfold.rms_norm", "rms_norm"),
                ("rms_norm", "lnfold.rms_norm_bias", "rms_norm_bias"),
                ("add_layer_norm", "lnfold.add_layer_norm", "add_layer_norm"),
                ("add_rms_norm", "lnfold.add_rms_norm", "add_rms_norm"),
                ("layer_norm_backward", "lnfold.layer_norm_backward", "layer_norm_backward"),
                ("rms_norm_backward", "lnfold.rms_norm_backward", "rms_norm_backward")]


def bytes_per_element(family):
    if family in ("add_layer_norm", "add_rms_norm", "stream2"):
        return BYTES["add_norm"]
    if family.endswith("backward"):
        return BYTES["backward"]
    return BYTES["norm"]


def measure(args, lnfold):
    """Round-robin over threads x cases x implementations; returns {(threads, family, impl, rows, dim): [s, ...]}."""
    shapes = [(r, d) for r in args.rows for d in args.dims]
    if args.dram:
        shapes.append(DRAM)
    print(f"allocating {len(shapes)} shapes ...", flush=True)
    cases = [Case(r, d) for r, d in shapes]
    results = {}
    ort_by_threads = {t: OrtSessions(t) for t in args.threads}
    for rnd in range(args.rounds):
        start = time.time()
        for threads in args.threads:
            lnfold.set_threads(threads)
            if torch is not None:
                torch.set_num_threads(threads)
            for case in cases:
                for family, name, kernel in LNFOLD_IMPLS:
                    results.setdefault((threads, family, name, case.rows, case.dim), []).append(lnfold.time(kernel, case))
                for family, name, fn in torch_impls(case) + ort_by_threads[threads].impls(case):
                    results.setdefault((threads, family, name, case.rows, case.dim), []).append(python_timer(fn))
        print(f"round {rnd + 1}/{args.rounds}: {time.time() - start:.0f} s", flush=True)
    return results


def summarise(results):
    """Rows of the CSV: min and median per case, GB/s, % of copy, speedup over the torch baseline of the family."""
    best = {k: min(v) for k, v in results.items()}
    med = {k: statistics.median(v) for k, v in results.items()}
    rows = []
    for (threads, family, name, r, d), t in sorted(best.items()):
        copy = min(best.get((threads, "copy", impl, r, d), float("inf"))
                   for impl in ("memcpy", "copy_loop", "copy_streaming"))
        stream = min(best.get((threads, "stream2", impl, r, d), float("inf"))
                     for impl in ("stream2", "stream2_streaming"))
        reference = stream if family in ("add_layer_norm", "add_rms_norm", "stream2") else copy
        baseline = {"layer_norm": "torch.layer_norm", "rms_norm": "torch.rms(ops,out=)",
                    "add_layer_norm": "torch.add+layer_norm", "add_rms_norm": "torch.add+rms(ops,out=)",
                    "layer_norm_backward": "torch.layer_norm_backward",
                    "rms_norm_backward": "torch.autograd(rms ops)"}.get(family)
        torch_t = best.get((threads, family, baseline, r, d))
        rows.append({"threads": threads, "family": family, "impl": name, "rows": r, "dim": d,
                     "ns_per_row": t / r * 1e9, "ns_per_row_median": med[(threads, family, name, r, d)] / r * 1e9,
                     "gb_per_s": bytes_per_element(family) * r * d / t / 1e9,
                     "pct_of_copy": 100 * reference / t if family not in ("copy",) and reference < float("inf") else "",
                     "speedup_vs_torch": (torch_t / t) if (torch_t and name.startswith("lnfold")) else ""})
    return rows


def write_csv(path, rows):
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0].keys()))
        w.writeheader()
        w.writerows(rows)


def machine():
    cpu = platform.processor()
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "python": sys.version.split()[0],
            "torch": torch.__version__ if torch is not None else "not installed",
            "onnxruntime": ort.__version__ if ort is not None else "not installed"}


def run_models(args):
    if not args.models or not os.path.exists(args.models):
        return None, []
    cmd = [args.models, "--rounds", str(args.model_rounds), "--threads", ",".join(map(str, args.threads))]
    print("running", " ".join(cmd), flush=True)
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    comments = [l[2:] for l in out.splitlines() if l.startswith("# ")]
    table = list(csv.DictReader([l for l in out.splitlines() if not l.startswith("#")]))
    return comments, table


def fmt(v, digits=1):
    return "" if v == "" or v is None else f"{v:.{digits}f}"


def lookup(table, **key):
    for r in table:
        if all(r[k] == v for k, v in key.items()):
            return r
    return None


def family_table(rows, threads, family, impls, torch_names, shapes):
    out = ["| rows | d | " + " | ".join(f"{i} ns/row" for i in impls) + " | GB/s | % of copy | " +
           " | ".join(f"{t} ns/row" for t in torch_names) + " | speedup |",
           "|" + "---|" * (4 + len(impls) + len(torch_names) + 1)]
    for r, d in shapes:
        main = lookup(rows, threads=threads, family=family, impl=impls[0], rows=r, dim=d)
        if main is None:
            continue
        cells = [str(r), str(d)]
        cells += [fmt(lookup(rows, threads=threads, family=family, impl=i, rows=r, dim=d)["ns_per_row"])
                  if lookup(rows, threads=threads, family=family, impl=i, rows=r, dim=d) else "" for i in impls]
        cells += [fmt(main["gb_per_s"]), fmt(main["pct_of_copy"], 0)]
        for t in torch_names:
            tr = lookup(rows, threads=threads, family=family, impl=t, rows=r, dim=d)
            cells.append(fmt(tr["ns_per_row"]) if tr else "")
        cells.append(fmt(main["speedup_vs_torch"], 2) if main["speedup_vs_torch"] != "" else "")
        out.append("| " + " | ".join(cells) + " |")
    return out


def regime(r, d, arrays=2):
    size = 4 * r * d
    if size > DRAM_BYTES:
        return "dram"
    return "cache" if arrays * size <= L2_BYTES else "l3"


def verdict(ok):
    return "**met**" if ok else "**not met**"


def targets(rows):
    """Markdown lines: one per target, with the measured ratio, met or not, and the gap."""
    out = []
    one = [r for r in rows if r["threads"] == 1]

    def pct(impl, family, pred):
        return [(r["pct_of_copy"], r["rows"], r["dim"]) for r in one if r["impl"] == impl and r["family"] == family
                and r["pct_of_copy"] != "" and pred(r["rows"], r["dim"])]

    def report(title, values, goal, higher=True, unit="%"):
        if not values:
            out.append(f"- {title}: no measurement in this run.")
            return
        worst = min(values) if higher else max(values)
        med = statistics.median(v[0] for v in values)
        ok = worst[0] >= goal if higher else worst[0] <= goal
        gap = "" if ok else f" (gap: {abs(goal - worst[0]):.2f}{unit} at rows={worst[1]}, d={worst[2]})"
        out.append(f"- {title}: worst {worst[0]:.2f}{unit} (rows={worst[1]}, d={worst[2]}), median {med:.2f}{unit} "
                   f"over {len(values)} shapes; target {'>=' if higher else '<='} {goal}{unit}: {verdict(ok)}{gap}")

    in_cache = lambda r, d: 256 <= d <= 4096 and regime(r, d) == "cache" and r >= 8
    l2 = f"{L2_BYTES / (1 << 20):g} MiB, this core's L2"
    report(f"In cache (x + y <= {l2}, d in 256..4096, rows >= 8), LayerNorm % of copy",
           pct("lnfold.layer_norm", "layer_norm", in_cache), 75)
    report("In cache, RMSNorm % of copy", pct("lnfold.rms_norm", "rms_norm", in_cache), 85)
    report(f"In cache (a, b, sum, y <= {l2}), add + LayerNorm % of the 2-in/2-out stream kernel",
           pct("lnfold.add_layer_norm", "add_layer_norm",
               lambda r, d: 256 <= d <= 4096 and regime(r, d, 4) == "cache" and r >= 8), 75)
    report("In cache, add + RMSNorm % of the stream kernel",
           pct("lnfold.add_rms_norm", "add_rms_norm",
               lambda r, d: 256 <= d <= 4096 and regime(r, d, 4) == "cache" and r >= 8), 75)
    dram = lambda r, d: regime(r, d) == "dram"
    report("DRAM (131072 x 1024), LayerNorm % of copy", pct("lnfold.layer_norm", "layer_norm", dram), 90)
    report("DRAM, RMSNorm % of copy", pct("lnfold.rms_norm", "rms_norm", dram), 95)
    report("DRAM, add + LayerNorm % of the stream kernel", pct("lnfold.add_layer_norm", "add_layer_norm", dram), 90)
    for impl, family, name in (("lnfold.layer_norm", "layer_norm", "LayerNorm"), ("lnfold.rms_norm", "rms_norm", "RMSNorm")):
        times = [(100 / r["pct_of_copy"], r["rows"], r["dim"]) for r in one if r["impl"] == impl and
                 r["family"] == family and r["pct_of_copy"] != "" and r["dim"] == 64 and r["rows"] >= 8]
        report(f"d = 64, {name} time per row / copy time per row (rows >= 8)", times, 2.0, higher=False, unit="x")

    def speedups(impl, family, pred):
        return [(r["speedup_vs_torch"], r["rows"], r["dim"]) for r in one if r["impl"] == impl and
                r["family"] == family and r["speedup_vs_torch"] != "" and pred(r["rows"], r["dim"])]

    torch_version = torch.__version__ if torch is not None else "none"
    report(f"torch {torch_version} layer_norm, 1 thread, d <= 4096 (rows >= 8): speedup",
           speedups("lnfold.layer_norm", "layer_norm", lambda r, d: d <= 4096 and r >= 8), 3, unit="x")
    report(f"torch {torch_version} layer_norm, d = 64 (rows >= 8): speedup",
           speedups("lnfold.layer_norm", "layer_norm", lambda r, d: d == 64 and r >= 8), 4, unit="x")
    report(f"Backward: lnfold layer_norm backward vs torch {torch_version} native_layer_norm_backward (rows >= 8)",
           speedups("lnfold.layer_norm_backward", "layer_norm_backward", lambda r, d: r >= 8), 2, unit="x")
    if torch is not None and hasattr(F, "rms_norm"):
        rms = []
        for r in one:
            if r["impl"] == "lnfold.rms_norm" and r["rows"] >= 8:
                t = lookup(one, family="rms_norm", impl="torch.rms_norm", rows=r["rows"], dim=r["dim"])
                if t:
                    rms.append((t["ns_per_row"] / r["ns_per_row"], r["rows"], r["dim"]))
        report(f"torch {torch_version} F.rms_norm: speedup", rms, 4, unit="x")
    for impl, ort_name, goal in (("lnfold.layer_norm", "ort.LayerNormalization", 1.6),
                                 ("lnfold.rms_norm", "ort.RMSNormalization", 1.1)):
        sp = []
        for r in one:
            if r["impl"] == impl and r["rows"] >= 8:
                t = lookup(one, impl=ort_name, rows=r["rows"], dim=r["dim"])
                if t:
                    sp.append((t["ns_per_row"] / r["ns_per_row"], r["rows"], r["dim"]))
        if sp:
            report(f"onnxruntime {ort.__version__} {ort_name.split('.')[1]}: speedup", sp, goal, unit="x")
        else:
            out.append(f"- onnxruntime {ort_name.split('.')[1]} >= {goal}x: onnxruntime not installed here, "
                       "not measured (the same command measures it where it is).")
    return out


def thread_lines(rows, threads):
    if 2 not in threads or 1 not in threads:
        return ["(run with --threads 1,2 to measure threading)"]
    out, big, small = [], [], []
    for r in rows:
        if r["threads"] != 2 or not r["impl"].startswith("lnfold"):
            continue
        one = lookup(rows, threads=1, family=r["family"], impl=r["impl"], rows=r["rows"], dim=r["dim"])
        ratio = one["ns_per_row"] / r["ns_per_row"]
        (big if r["rows"] * r["dim"] >= 1 << 20 else small if r["rows"] * r["dim"] < 65536 else []).append(
            (ratio, r["impl"], r["rows"], r["dim"]))
    if big:
        worst = min(big)
        med = statistics.median(b[0] for b in big)
        out.append(f"- >= 1M elements: 2 threads / 1 thread speedup worst {worst[0]:.2f}x ({worst[1]}, {worst[2]} x "
                   f"{worst[3]}), median {med:.2f}x over {len(big)} cases; target >= 1.7x: {verdict(worst[0] >= 1.7)}")
    if small:
        worst = min(small)
        out.append(f"- below the threading threshold (< 65536 elements, one thread is used): 2-thread setting / "
                   f"1 thread worst {worst[0]:.2f}x ({worst[1]}, {worst[2]} x {worst[3]}) over {len(small)} cases; "
                   f"target: never slower (>= 0.95x allowing timer noise): {verdict(worst[0] >= 0.95)}")
    return out


def model_lines(comments, table):
    if not table:
        return ["(bench_models not run)"]
    out = [f"- {c}" for c in comments if not c.startswith("lnfold")]
    out += ["", "| model | threads | variant | min ms | median ms | share of the norm cost recovered |",
            "|---|---|---|---|---|---|"]
    models = sorted({(r["model"], int(r["threads"])) for r in table})
    for model, threads in models:
        by = {r["variant"]: r for r in table if r["model"] == model and int(r["threads"]) == threads}
        none, scalar = float(by["none"]["min_ms"]), float(by["scalar_ln"]["min_ms"])
        cost = scalar - none
        # the spread of the ceiling's own timings: a norm cost below it cannot be split into shares
        noise = float(by["none"]["median_ms"]) - none
        for v in ("none", "scalar_ln", "ln", "ln_fused", "folded", "folded_fused"):
            if v not in by:
                continue
            t = float(by[v]["min_ms"])
            share = "" if v in ("none", "scalar_ln") else \
                f"{100 * (scalar - t) / cost:.0f}%" if cost > max(noise, 0.01 * scalar) else "below noise"
            out.append(f"| {model} | {threads} | {v} | {t:.3f} | {float(by[v]['median_ms']):.3f} | {share} |")
        fused, folded_fused = float(by["ln_fused"]["min_ms"]), float(by["folded_fused"]["min_ms"])
        ln, folded = float(by["ln"]["min_ms"]), float(by["folded"]["min_ms"])
        out.append(f"| {model} | {threads} | norm cost (scalar_ln - none) | {cost:.3f} | | "
                   f"{100 * cost / scalar:.1f}% of the forward; spread of `none` (median - min) {noise:.3f} ms |")
        out.append(f"| {model} | {threads} | folded / unfolded (fused; separate adds) | "
                   f"{folded_fused / fused:.3f}; {folded / ln:.3f} | | "
                   f"{'folded never slower' if folded_fused <= fused * 1.01 and folded <= ln * 1.01 else 'folded slower'} (1% tolerance) |")
    return out


def chart(rows, path, shape_rows):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib missing: no chart", flush=True)
        return False
    series = [("copy", "copy_loop", "copy (vector loop)"), ("layer_norm", "lnfold.layer_norm", "lnfold LayerNorm"),
              ("rms_norm", "lnfold.rms_norm", "lnfold RMSNorm"), ("layer_norm", "torch.layer_norm", "torch layer_norm"),
              ("rms_norm", "torch.rms(ops,out=)", "torch RMSNorm (ops)")]
    dims = sorted({r["dim"] for r in rows if r["rows"] == shape_rows})
    fig, ax = plt.subplots(figsize=(12, 4.5))
    width = 0.8 / len(series)
    for k, (family, impl, label) in enumerate(series):
        vals = []
        for d in dims:
            r = lookup(rows, threads=1, family=family, impl=impl, rows=shape_rows, dim=d)
            vals.append(r["gb_per_s"] if r else 0)
        ax.bar([i + k * width for i in range(len(dims))], vals, width, label=label)
    ax.set_xticks([i + 0.4 - width / 2 for i in range(len(dims))])
    ax.set_xticklabels([str(d) for d in dims])
    ax.set_xlabel(f"row width d ({shape_rows} rows, float32, 1 thread)")
    ax.set_ylabel("GB/s (8 bytes per element)")
    ax.legend(ncol=3, fontsize=8)
    ax.set_title("LayerNorm / RMSNorm throughput: lnfold, torch, copy")
    fig.tight_layout()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fig.savefig(path, dpi=110)
    return True


def write_doc(args, lnfold, rows, comments, table):
    m = machine()
    shapes = sorted({(r["rows"], r["dim"]) for r in rows}, key=lambda s: (s[0], DIMS.index(s[1]) if s[1] in DIMS else 99))
    torch_ln = ["torch.layer_norm"] + (["ort.LayerNormalization"] if ort else [])
    torch_rms = ["torch.rms(ops)", "torch.rms(ops,out=)"] + (["torch.rms_norm"] if torch is not None and hasattr(F, "rms_norm") else []) + \
                (["ort.RMSNormalization", "ort.SimplifiedLayerNorm"] if ort else [])
    lines = ["# Benchmarks: lnfold's norm kernels, copy, torch" + (", onnxruntime" if ort else ""), "",
             f"Generated by `bash scripts/bench.sh {' '.join(args.passthrough)}` on {datetime.date.today()} "
             f"({args.rounds} rounds; the CSV is `{args.csv}`). Kernels: [kernels.md](kernels.md); targets: "
             "the \"Targets\" section below.", "",
             "## Machine and build", "",
             f"- CPU: {m['cpu']}, {m['cores']} cores (a VM; another job may have shared the 2 cores: every number is "
             "the minimum over interleaved rounds, the median is in the CSV)",
             f"- lnfold: {lnfold.info}", f"- threads: {', '.join(map(str, args.threads))} (OpenMP; torch.set_num_threads)",
             f"- peers: torch {m['torch']} (Python {m['python']}), onnxruntime {m['onnxruntime']}", "",
             "## Protocol", "",
             "One process: lnfold's kernels through liblnfold_bench_kernels (ctypes), torch and onnxruntime on the same "
             "numpy/torch buffers (float32, 4 KiB aligned, written before timing). lnfold's repetitions run in C "
             "(no Python call overhead); torch's and onnxruntime's in Python, which includes their per-call dispatch "
             "(a few microseconds: it dominates at rows = 1 and 8). Every round visits every shape and implementation "
             "in turn; the minimum over rounds is reported. GB/s counts 8 bytes per element (16 for add + norm, "
             "12 for the backward: x, dy read, dx written). % of copy: against the fastest of memcpy, a vectorised "
             "copy loop and that loop with streaming stores at the same shape (add + norm: against the faster of the "
             "2-in/2-out stream kernel and its streaming form). torch's F.layer_norm "
             "allocates its output on every call (there is no out=); `torch.rms(ops,out=)` preallocates everything. "
             f"Shapes of this run: rows {args.rows} x d {args.dims}" +
             (f", plus the DRAM case {DRAM[0]} x {DRAM[1]}" if args.dram else "") +
             ("" if args.full else f" (the default subset; `--full` runs rows {ROWS_FULL}, the full grid)") +
             ".", "",
             "## Targets", ""]
    lines += targets(rows)
    lines += ["", "### Threads", ""] + thread_lines(rows, args.threads)
    lines += ["", "## Whole model (bench_models)", "",
              "Batch 1, 128 tokens, forward only, float32, PyTorch-default initialisation; variants interleaved "
              f"round-robin over {args.model_rounds} rounds. `none`: every LayerNorm removed (the ceiling); "
              "`scalar_ln`: lnfold's LayerNorm as it was before the kernels (scalar loops); `ln`: the kernels, "
              "residual adds separate; `ln_fused`: add + norm fused (the default); `folded` / `folded_fused`: "
              "fold(model), LN -> RMSNorm with bias. Share recovered = (scalar_ln - variant) / (scalar_ln - none).", ""]
    lines += model_lines(comments, table)
    chart_name = os.path.relpath(args.img, os.path.dirname(args.doc))
    if chart(rows, args.img, 4096 if any(r["rows"] == 4096 for r in rows) else shapes[-1][0]):
        lines += ["", f"![throughput]({chart_name})"]
    for threads in args.threads:
        lines += ["", f"## Kernels, {threads} thread{'s' if threads > 1 else ''}", ""]
        for title, family, impls, peers in (
                ("LayerNorm (gamma, beta)", "layer_norm", ["lnfold.layer_norm"], torch_ln),
                ("RMSNorm (gamma; lnfold also with bias)", "rms_norm", ["lnfold.rms_norm", "lnfold.rms_norm_bias"], torch_rms),
                ("add + LayerNorm (writes the sum and the norm)", "add_layer_norm", ["lnfold.add_layer_norm"], ["torch.add+layer_norm"]),
                ("add + RMSNorm", "add_rms_norm", ["lnfold.add_rms_norm"], ["torch.add+rms(ops,out=)"]),
                ("LayerNorm backward (dx, dgamma, dbeta)", "layer_norm_backward", ["lnfold.layer_norm_backward"],
                 ["torch.layer_norm_backward", "torch.autograd(layer_norm)"]),
                ("RMSNorm backward", "rms_norm_backward", ["lnfold.rms_norm_backward"], ["torch.autograd(rms ops)"])):
            lines += ["", f"### {title}", ""] + family_table(rows, threads, family, impls, peers, shapes)
        lines += ["", "### Copy kernels (ns/row)", "", "| rows | d | memcpy | copy loop | copy, streaming stores | stream2 (2 in, 2 out) "
                  "| stream2, streaming stores | torch copy_ |", "|---|---|---|---|---|---|---|---|"]
        for r, d in shapes:
            cells = []
            for family, impl in (("copy", "memcpy"), ("copy", "copy_loop"), ("copy", "copy_streaming"),
                                 ("stream2", "stream2"), ("stream2", "stream2_streaming"), ("copy", "torch.copy_")):
                x = lookup(rows, threads=threads, family=family, impl=impl, rows=r, dim=d)
                cells.append(fmt(x["ns_per_row"]) if x else "")
            lines.append(f"| {r} | {d} | " + " | ".join(cells) + " |")
    os.makedirs(os.path.dirname(args.doc), exist_ok=True)
    with open(args.doc, "w") as f:
        f.write("\n".join(lines) + "\n")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--lib", required=True, help="liblnfold_bench_kernels.so")
    p.add_argument("--models", help="the bench_models executable (whole-model section)")
    p.add_argument("--full", action="store_true", help="the full grid of rows")
    p.add_argument("--dram", action="store_true", help=f"add the DRAM case {DRAM[0]} x {DRAM[1]}")
    p.add_argument("--threads", default="1,2", help="thread counts, e.g. 1,2")
    p.add_argument("--rounds", type=int, default=3, help="round-robin rounds over all cases")
    p.add_argument("--model-rounds", type=int, default=30, help="rounds of bench_models")
    p.add_argument("--csv", default="docs/benchmarks.csv")
    p.add_argument("--doc", default="docs/benchmarks.md")
    p.add_argument("--img", default="docs/img/benchmarks.png")
    p.add_argument("--rows", help="override the row counts, e.g. 197,4096")
    p.add_argument("--dims", help="override the widths, e.g. 64,768")
    args = p.parse_args()
    args.threads = [int(t) for t in args.threads.split(",")]
    args.rows = [int(r) for r in args.rows.split(",")] if args.rows else (ROWS_FULL if args.full else ROWS_DEFAULT)
    args.dims = [int(d) for d in args.dims.split(",")] if args.dims else DIMS
    args.passthrough = [f for f, on in (("--full", args.full), ("--dram", args.dram)) if on]
    lnfold = Lnfold(args.lib)
    m = machine()
    print(f"CPU: {m['cpu']} ({m['cores']} cores)\n{lnfold.info}\nthreads: {args.threads}\n"
          f"torch {m['torch']}, onnxruntime {m['onnxruntime']}", flush=True)
    results = measure(args, lnfold)
    rows = summarise(results)
    write_csv(args.csv, rows)
    comments, table = run_models(args)
    write_doc(args, lnfold, rows, comments or [], table)
    print(f"wrote {args.csv}, {args.doc}, {args.img}")
    for line in targets(rows):
        print(line)


if __name__ == "__main__":
    main()
