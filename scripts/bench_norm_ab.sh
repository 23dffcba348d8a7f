#!/usr/bin/env bash
# Before / after of a change to the norm kernels, in one process: the kernels of a revision's include/ and of the
# working tree, compiled into one binary (bench/norm_ab.cpp, bench/norm_ab_side.cpp) and run interleaved, shape by
# shape; prints ns/row of each and before / after (> 1: the working tree is faster), and checks every output bit
# for bit (exit status 1 if any differs). Then the schedules of the forward norms against the default, in the
# working tree (bench/norm_schedules.cpp; docs/kernels.md "Schedules").
#   bash scripts/bench_norm_ab.sh                 # against HEAD, 30 rounds, 1 thread (about 2 minutes on 2 cores)
#   bash scripts/bench_norm_ab.sh main~3 60       # against another revision, 60 rounds
# Uses the system compiler (c++) with -O3 -march=native, as bench/; the binaries go to build-bench/norm_ab/.
set -euo pipefail
cd "$(dirname "$0")/.."
rev=${1:-HEAD}
rounds=${2:-30}
out=build-bench/norm_ab
rm -rf "$out" && mkdir -p "$out/before"
git archive "$rev" include | tar -x -C "$out/before"
flags=(-O3 -DNDEBUG -march=native -fopenmp -std=gnu++20 -isystem /usr/include/eigen3)
c++ "${flags[@]}" -I"$out/before/include" -DNORM_AB_NAMESPACE=lnfold_before -DNORM_AB_ENTRY=norm_ab_before \
  -c bench/norm_ab_side.cpp -o "$out/before.o" &
c++ "${flags[@]}" -Iinclude -DNORM_AB_NAMESPACE=lnfold_after -DNORM_AB_ENTRY=norm_ab_after \
  -c bench/norm_ab_side.cpp -o "$out/after.o"
c++ "${flags[@]}" -Iinclude bench/norm_schedules.cpp -o "$out/norm_schedules"
wait
c++ "${flags[@]}" bench/norm_ab.cpp "$out/before.o" "$out/after.o" -o "$out/norm_ab"
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores; c++ $(c++ -dumpfullversion); flags: ${flags[*]}"
echo "before: $rev ($(git rev-parse --short "$rev")), after: the working tree; OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}"
OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} "$out/norm_ab" "$rounds"
echo
OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} "$out/norm_schedules" "$rounds"
