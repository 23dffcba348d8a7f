#!/usr/bin/env bash
# Text generation, lnfold against torch in one run (docs/generation.md "Speed"): GPT-2 small (12 layers, width 768,
# vocabulary 50257) and the char GPT of examples/train, one prefill of a random prompt, then greedy decoding steps
# with a key/value cache; lnfold's LayerNorm and folded models (bench/bench_generate.cpp) and the same network in
# plain torch with a preallocated cache (bench/peer_generate.py), alternated process by process, at 1 and 2 threads.
# Writes build-bench/generation.csv (every round) and prints the table of medians (tokens/s, lnfold / torch).
#   bash scripts/bench_generate.sh                     # about 4 minutes on 2 cores
#   ROUNDS=3 REPEATS=1 THREADS="1" bash scripts/bench_generate.sh   # shorter
# OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE are unset for this command only (the report prints which kernel ran).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install_deps.sh python3-torch libopenblas0-pthread
cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DLNFOLD_BUILD_BENCH=ON -DLNFOLD_BUILD_TESTS=OFF \
  -DLNFOLD_BUILD_EXAMPLES=OFF > /dev/null
cmake --build build-bench -j"${LNFOLD_BUILD_JOBS:-$(nproc)}" --target bench_generate
echo "OPENBLAS_CORETYPE was '${OPENBLAS_CORETYPE:-}', OPENBLAS_L2_SIZE was '${OPENBLAS_L2_SIZE:-}' (unset here)"
unset OPENBLAS_CORETYPE OPENBLAS_L2_SIZE OPENBLAS_NUM_THREADS
python=${PYTHON:-/usr/bin/python3}
rounds=${ROUNDS:-5}
out=build-bench/generation.csv
echo "peer,model,variant,threads,batch,prompt,tokens,prefill_ms,decode_ms" > "$out"
grep -m1 "model name" /proc/cpuinfo || true
echo "ISA: $(grep -o -w 'avx512f\|avx2\|fma' /proc/cpuinfo | sort -u | tr '\n' ' ')"
for repeat in $(seq "${REPEATS:-2}"); do
  for threads in ${THREADS:-1 2}; do
    for shape in "gpt2 128 128" "char 16 48"; do
      read -r model prompt tokens <<< "$shape"
      args=(--model "$model" --prompt "$prompt" --tokens "$tokens" --rounds "$rounds" --threads "$threads")
      build-bench/bench/bench_generate "${args[@]}" --variant ln >> "$out"
      build-bench/bench/bench_generate "${args[@]}" --variant folded >> "$out"
      "$python" bench/peer_generate.py "${args[@]}" >> "$out" 2> >(sort -u >&2)
    done
  done
done
"$python" - "$out" <<'PY'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1])))
groups = {}
for r in rows:
    groups.setdefault((r["model"], r["threads"], r["peer"] + " " + r["variant"]), []).append(r)
print("| model | threads | peer (rounds) | prompt | prefill tokens/s | decode tokens/s | decode vs torch |")
print("|---|---|---|---|---|---|---|")
for model in ("gpt2", "char"):
    for threads in sorted({k[1] for k in groups}):
        torch_rate = None
        for who in ("torch ln", "lnfold ln", "lnfold folded"):
            g = groups.get((model, threads, who))
            if not g: continue
            prompt, tokens = int(g[0]["prompt"]), int(g[0]["tokens"])
            prefill = statistics.median(prompt / (float(r["prefill_ms"]) / 1e3) for r in g)
            decode = statistics.median(tokens / (float(r["decode_ms"]) / 1e3) for r in g)
            if who == "torch ln": torch_rate = decode
            ratio = f"{decode / torch_rate:.2f}x" if torch_rate else ""
            name = {"torch ln": "torch", "lnfold ln": "lnfold LayerNorm", "lnfold folded": "lnfold folded"}[who]
            print(f"| {model} | {threads} | {name} ({len(g)}) | {prompt} | {prefill:.0f} | {decode:.1f} | {ratio} |")
PY
