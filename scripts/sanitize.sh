#!/usr/bin/env bash
# The whole test suite under AddressSanitizer + UndefinedBehaviorSanitizer, in its own build folder (build-asan/).
# Not part of scripts/test.sh (it builds everything again and runs several times slower).
#   bash scripts/sanitize.sh                 # every test
#   bash scripts/sanitize.sh -L io           # extra arguments go to ctest (here: only the io tests)
# Environment: CXX (default g++; clang++ works too), LNFOLD_JOBS (build/test parallelism, default nproc),
#              LNFOLD_ASAN_DIR (default build-asan), LNFOLD_ASAN_TARGETS (build only these targets, space separated).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dir=${LNFOLD_ASAN_DIR:-$root/build-asan}
jobs=${LNFOLD_JOBS:-$(nproc)}
flags="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"
cmake -S "$root" -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER="${CXX:-g++}" \
    -DCMAKE_CXX_FLAGS="$flags" -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined" \
    -DLNFOLD_BUILD_TESTS=ON -DLNFOLD_BUILD_EXAMPLES=OFF -DLNFOLD_BUILD_BENCH=OFF
if [[ -n "${LNFOLD_ASAN_TARGETS:-}" ]]; then
    # shellcheck disable=SC2086
    cmake --build "$dir" -j"$jobs" --target $LNFOLD_ASAN_TARGETS
else
    cmake --build "$dir" -j"$jobs"
fi
# detect_leaks needs ptrace; containers that forbid it can run with ASAN_OPTIONS=detect_leaks=0.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:strict_string_checks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
ctest --test-dir "$dir" --output-on-failure -j"$jobs" "$@"
