#!/usr/bin/env bash
# The README's demo command: installs what is missing, builds, then
#   1. prints the fold report of six architectures and converts a GPT exactly (examples/fold_report);
#   2. trains the MLP on Fashion-MNIST with LayerNorm, RMSNorm and CBWC + RMSNorm (about a minute on 2 cores);
#   3. trains the char GPT on the fortunes corpus (about a minute), saves it, and generates text with the LayerNorm
#      model and its folded twin: the same text, and the decode speed of each (examples/generate --both).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install_deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build -j"$(nproc)" --target fold_report train generate
./build/examples/fold_report
echo
echo "== Training the MLP on Fashion-MNIST (3000 steps of 64, AdamW), one run per norm"
for norm in ln rms cbwc; do
  ./build/examples/train --model mlp --norm "$norm" --seed 1 --quiet --log "build/demo_mlp_${norm}.csv"
done
echo "(CSV logs in build/demo_mlp_*.csv; bash scripts/experiments.sh runs the full comparison)"
echo
echo "== Training the char GPT on fortunes (3000 steps of 32 windows of 64 bytes), saved to build/demo_char_gpt.safetensors"
./build/examples/train --model gpt --norm ln --seed 1 --steps 3000 --batch 32 --eval-every 250 --quiet \
  --save build/demo_char_gpt.safetensors
echo
echo "== Generating 300 bytes with the LayerNorm model, then with the folded model (temperature 0.8, top-k 20, seed 1;"
echo "   one thread: a step of this small model is a few microseconds, too little to share)"
./build/examples/generate --weights build/demo_char_gpt.safetensors --prompt "The " --tokens 300 \
  --temperature 0.8 --top-k 20 --seed 1 --both --threads 1
