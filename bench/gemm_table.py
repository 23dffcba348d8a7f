#!/usr/bin/env python3
"""Prints bench_gemm's CSV as the "GEMM backends" section of docs/performance.md (scripts/bench_models.sh puts it
there with bench/doc_section.py): GFLOP/s per backend at each Linear shape of the benchmark models, one thread, and
each backend relative to OpenBLAS (the BLAS torch uses here).

    python3 bench/gemm_table.py docs/performance_gemm.csv > section.md
"""
import csv
import sys


def table(csv_path):
    comments, rows = [], []
    with open(csv_path) as f:
        for line in f:
            (comments if line.startswith("#") else rows).append(line)
    records = list(csv.DictReader(rows))
    backends = list(dict.fromkeys(r["backend"] for r in records))
    shapes = list(dict.fromkeys((r["model"], r["rows"], r["in"], r["out"]) for r in records))
    gflops = {((r["model"], r["rows"], r["in"], r["out"]), r["backend"]): float(r["gflops"]) for r in records}
    out = ["## GEMM backends", "",
           "Y (rows x out) = X (rows x in) Wᵀ in float, one thread, GFLOP/s (best of 9; bench/bench_gemm.cpp, run by "
           "`bash scripts/bench_models.sh`; CSV: `performance_gemm.csv`). `lnfold` is `kernels::matmul_nt` with the "
           "build's backend in its fixed column blocks. Libraries:", ""]
    out += ["- " + c.lstrip("# ").strip() for c in comments]
    out += ["", "| shape | rows | in | out | " + " | ".join(backends) + " |",
            "|---|---|---|---|" + "---|" * len(backends)]
    for s in shapes:
        out.append("| %s | %s | %s | %s | " % s + " | ".join("%.1f" % gflops[(s, b)] if (s, b) in gflops else "–"
                                                           for b in backends) + " |")
    if "openblas" in backends:
        out += ["", "Median over the shapes, relative to OpenBLAS: " + ", ".join(
            "%s %.2fx" % (b, sorted(gflops[(s, b)] / gflops[(s, "openblas")] for s in shapes
                                     if (s, b) in gflops and (s, "openblas") in gflops)[len(shapes) // 2])
            for b in backends if b != "openblas")]
    return out


def main():
    print("\n".join(table(sys.argv[1])))


if __name__ == "__main__":
    main()
