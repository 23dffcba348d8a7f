#!/usr/bin/env bash
# Builds the libFuzzer target of the safetensors reader (clang, -fsanitize=fuzzer,address,undefined) and runs it for
# a bounded time. Not part of scripts/test.sh.
#   bash scripts/fuzz.sh [seconds=60] [extra libFuzzer flags...]
# New inputs go to build-fuzz/corpus (the committed seeds in fuzz/corpus are only read); a crash leaves its input
# as build-fuzz/crash-* — reproduce with: build-fuzz/safetensors_fuzzer build-fuzz/crash-...
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
seconds=${1:-60}
shift || true
out=${LNFOLD_FUZZ_DIR:-$root/build-fuzz}
cxx=${LNFOLD_FUZZ_CXX:-clang++}
command -v "$cxx" >/dev/null || { echo "fuzz.sh: $cxx not found (apt-get install clang)" >&2; exit 1; }
mkdir -p "$out/corpus"
eigen=$(pkg-config --cflags eigen3 2>/dev/null || echo -I/usr/include/eigen3)
echo "fuzz.sh: building $out/safetensors_fuzzer with $cxx"
# shellcheck disable=SC2086
"$cxx" -std=c++20 -O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
    -I"$root/include" $eigen "$root/fuzz/safetensors_fuzzer.cpp" -o "$out/safetensors_fuzzer"
echo "fuzz.sh: running for ${seconds}s"
UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1} \
"$out/safetensors_fuzzer" -max_total_time="$seconds" -max_len=8192 -timeout=10 -rss_limit_mb=2048 \
    -dict="$root/fuzz/safetensors.dict" -artifact_prefix="$out/" -print_final_stats=1 "$@" \
    "$out/corpus" "$root/fuzz/corpus"
