#!/usr/bin/env bash
# Whole networks, lnfold against torch in one run : GPT-style decoders, GPT-2 small
# at 256 and 1024 tokens, ViT-S/16 at batch 1 and 8, a Post-LN BERT-style control, and two training steps; lnfold's
# LayerNorm, folded and no-norm variants and torch's same modules interleaved round-robin with one timer, at 1 and 2
# threads, min and median. Checks first that lnfold and torch compute the same function on the same weights.
# Writes docs/performance.csv, docs/performance.md, docs/img/performance.png and (when writing docs/) the GEMM
# backends' table docs/performance_gemm.csv (bench_gemm) and the loading and construction times (bench_load, on a
# 548 MB GPT-2-small checkpoint with random weights made in build-bench/); prints CPU, ISA, threads, compiler,
# flags and each BLAS in use (OpenBLAS's kernel by its core name).
#   bash scripts/bench_models.sh                          # every case, 1 and 2 threads (about 6-8 minutes on 2 cores)
#   bash scripts/bench_models.sh --quick                  # smoke test: 1 thread, few rounds, small cases; writes
#                                                         # build-bench/performance_quick.{md,csv,png}, not docs/
#   bash scripts/bench_models.sh --cases gpt_d768_l4,vit_s16_b1 --threads 1 --seconds 20
#   bash scripts/bench_models.sh --list                   # the cases
#   PYTHON=python3 bash scripts/bench_models.sh           # another interpreter with torch (then python3-torch is not
#                                                         # installed from Debian)
# Other options go to bench/peer_models.py (--min-rounds, --max-rounds, --csv, --doc, --img; --check-only: the
# lnfold = torch checks alone; --variants ln,torch: time a subset, for diagnostics).
# OMP_WAIT_POLICY / GOMP_SPINCOUNT pass through (one libgomp serves lnfold and torch here; the report prints them:
# on 2 cores Debian's torch runs 2 threads slower than 1 with the default spin-waiting, see docs/performance.md).
# OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE, which some machines set for older OpenBLAS builds, are unset for this one
# command only (the report says what they were and which OpenBLAS kernel ran). LNFOLD_BUILD_JOBS: parallel jobs of
# the build (default: nproc).
set -euo pipefail
cd "$(dirname "$0")/.."
extra=(python3-numpy python3-matplotlib)
if [ -z "${PYTHON:-}" ]; then
  extra+=(python3-torch libopenblas0-pthread)  # Debian's torch 1.13 for /usr/bin/python3; without OpenBLAS it runs
                                               # the reference BLAS, ~20x slower: no peer
fi
bash scripts/install_deps.sh "${extra[@]}"
cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DLNFOLD_BUILD_BENCH=ON -DLNFOLD_BUILD_TESTS=OFF \
  -DLNFOLD_BUILD_EXAMPLES=OFF > /dev/null
cmake --build build-bench -j"${LNFOLD_BUILD_JOBS:-$(nproc)}" --target lnfold_model_cases bench_gemm bench_load

export LNFOLD_BENCH_OPENBLAS_CORETYPE_WAS="${OPENBLAS_CORETYPE:-}"
export LNFOLD_BENCH_OPENBLAS_L2_SIZE_WAS="${OPENBLAS_L2_SIZE:-}"
unset OPENBLAS_CORETYPE OPENBLAS_L2_SIZE
# OpenBLAS sizes its thread pool from OPENBLAS_NUM_THREADS when it loads: peer_models.py sets it to the largest
# thread count of the run, then openblas_set_num_threads(n) per count.
unset OPENBLAS_NUM_THREADS
"${PYTHON:-/usr/bin/python3}" bench/peer_models.py --lib build-bench/bench/liblnfold_model_cases.so "$@"
# The matrix-product backends at the models' Linear shapes, one thread (docs/performance.md "GEMM backends"), with
# a run that writes docs/ (not --quick, --cases, --list, --check-only, --doc).
case " $* " in
  *" --quick "*|*" --cases "*|*" --list "*|*" --check-only "*|*" --doc "*) ;;
  *)
    echo "== bench_gemm: Eigen, OpenBLAS, BLIS, oneDNN and lnfold's matmul_nt at the models' Linear shapes, 1 thread"
    build-bench/bench/bench_gemm | tee docs/performance_gemm.csv
    "${PYTHON:-/usr/bin/python3}" bench/gemm_table.py docs/performance_gemm.csv > build-bench/performance_gemm.md
    "${PYTHON:-/usr/bin/python3}" bench/doc_section.py bench/gemm_table.py build-bench/performance_gemm.md \
      docs/performance.md
    # Loading a GPT-2-small checkpoint (random weights, made once) and constructing the model.
    checkpoint=build-bench/gpt2_small_random.safetensors
    [ -f "$checkpoint" ] || "${PYTHON:-/usr/bin/python3}" bench/make_gpt2_checkpoint.py "$checkpoint"
    echo "== bench_load: $checkpoint"
    build-bench/bench/bench_load "$checkpoint" 3 | tee build-bench/performance_load.md
    "${PYTHON:-/usr/bin/python3}" bench/doc_section.py bench/bench_load.cpp build-bench/performance_load.md \
      docs/performance.md ;;
esac
