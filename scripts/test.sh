#!/usr/bin/env bash
# The README's test command: installs what is missing, builds lnfold's tests and examples, runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install_deps.sh
jobs="$(nproc)"
# The benchmarks are not tests: scripts/bench.sh builds them (they took ~4.5 of the build's CPU minutes).
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DLNFOLD_BUILD_BENCH=OFF
cmake --build build -j"$jobs"
ctest --test-dir build --output-on-failure -j"$jobs"
