#!/usr/bin/env bash
# The README's demo command: installs what is missing, builds the examples, runs the flagship demo.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install_deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build -j"$(nproc)" --target gpt
./build/examples/gpt
