#!/usr/bin/env bash
# The README's demo command: installs what is missing, builds, then
#   1. prints the fold report of six architectures and converts a GPT exactly (examples/fold_report);
#   2. trains the MLP on Fashion-MNIST with LayerNorm, RMSNorm and CBWC + RMSNorm (about a minute on 2 cores).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install_deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build -j"$(nproc)" --target fold_report train
./build/examples/fold_report
echo
echo "== Training the MLP on Fashion-MNIST (3000 steps of 64, AdamW), one run per norm"
for norm in ln rms cbwc; do
  ./build/examples/train --model mlp --norm "$norm" --seed 1 --quiet --log "build/demo_mlp_${norm}.csv"
done
echo "(CSV logs in build/demo_mlp_*.csv; bash scripts/experiments.sh runs the full comparison)"
