#!/usr/bin/env bash
# The peer comparison: lnfold's norm kernels, a copy kernel and torch (onnxruntime too where it is
# installed) interleaved in one run at the benchmark shapes, then the whole-model timing; writes
# docs/benchmarks.csv, docs/benchmarks.md and docs/img/benchmarks.png, and prints the targets.
#   bash scripts/bench.sh                    # default subset of shapes, 1 and 2 threads (about 10 minutes on 2 cores)
#   bash scripts/bench.sh --dram             # plus the DRAM case 131072 x 1024
#   bash scripts/bench.sh --full --dram      # the full grid (rows 1 .. 16384)
#   PYTHON=python3 bash scripts/bench.sh     # another interpreter (e.g. one with torch 2.x and onnxruntime);
#                                            # then python3-torch is not installed from Debian
# Other options go to bench/peer_bench.py (--threads 1,2 --rounds 3 --model-rounds 30 --rows ... --dims ...).
# Whole networks against torch (GPT-2 small, ViT-S, training steps): scripts/bench_models.sh (docs/performance.md).
set -euo pipefail
cd "$(dirname "$0")/.."
extra=(python3-numpy python3-matplotlib)
if [ -z "${PYTHON:-}" ]; then
  extra+=(python3-torch)  # Debian's torch 1.13, for /usr/bin/python3
fi
bash scripts/install_deps.sh "${extra[@]}"
cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DLNFOLD_BUILD_BENCH=ON -DLNFOLD_BUILD_TESTS=OFF \
  -DLNFOLD_BUILD_EXAMPLES=OFF > /dev/null
cmake --build build-bench -j"$(nproc)" --target lnfold_bench_kernels bench_models
"${PYTHON:-/usr/bin/python3}" bench/peer_bench.py --lib build-bench/bench/liblnfold_bench_kernels.so \
  --models build-bench/bench/bench_models "$@"
