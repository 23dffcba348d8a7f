#!/usr/bin/env bash
# LN vs RMSNorm vs CBWC + RMSNorm on real data: trains every variant of the three example models for several
# seeds, then writes docs/experiments.md (results table) and docs/img/experiments_*.png (loss curves).
#   bash scripts/experiments.sh            # the full comparison (about 15 minutes on 2 cores)
#   bash scripts/experiments.sh --quick    # MLP only, 3 seeds (about 2 minutes)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install_deps.sh python3-matplotlib
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release > /dev/null
cmake --build build -j"$(nproc)" --target train

out=build/experiments
mkdir -p "$out"
run() {  # model steps seeds extra-args...
  local model=$1 steps=$2 seeds=$3
  shift 3
  for seed in $(seq 1 "$seeds"); do
    for norm in ln rms cbwc; do
      ./build/examples/train --model "$model" --norm "$norm" --seed "$seed" --steps "$steps" --quiet \
        --log "$out/${model}_${norm}_${seed}.csv" "$@"
    done
  done
}

if [ "${1:-}" = "--quick" ]; then
  run mlp 3000 3
else
  run mlp 3000 3
  run vit 1500 2 --eval-every 150
  run gpt 1500 2 --batch 16 --eval-every 150 --lr 2e-3
fi
/usr/bin/python3 scripts/summarise_experiments.py "$out" docs
