#!/usr/bin/env bash
# lnfold on other CPUs: cross-compiles a subset of the tests and the embedded app (tests/embedded) for aarch64,
# armv7 with NEON and armv7 soft-float (no FPU, no SIMD: lnfold's scalar path) with Debian's cross compilers, and
# runs them under qemu-user. The embedded app must make no heap call after warm-up and match the host build's
# outputs within 1e-5 (relative to each model's largest output).
#   bash scripts/test_cross.sh [HOST_EMBEDDED_OUTPUT]   (default: build/tests/embedded/embedded_app_output.txt,
#                                                        written by the host build's embedded_app test)
# Subsets (the whole suite under qemu would take hours): aarch64 runs the norm, activation and product kernels, fold
# exactness and GPT-2 against PyTorch's fixtures; armv7 runs the norm and product kernels. LNFOLD_CROSS_TARGETS="aarch64-linux-gnu"
# picks targets.
set -euo pipefail
cd "$(dirname "$0")/.."
reference="$(realpath "${1:-build/tests/embedded/embedded_app_output.txt}")"
[ -f "$reference" ] || { echo "lnfold: no host output at $reference: run the host build's tests first"; exit 2; }
bash scripts/install_deps.sh g++-aarch64-linux-gnu g++-arm-linux-gnueabihf g++-arm-linux-gnueabi qemu-user-static
jobs="$(nproc)"

# armv7 leaves out test_activations: its references are long double, which is double there, and NEON on armv7
# flushes subnormal results to zero (docs/embedded.md).
kernels="kernels/test_norm_forward.cpp;kernels/test_gemm.cpp"
declare -A tests=(
  [aarch64-linux-gnu]="$kernels;kernels/test_activations.cpp;kernels/test_norm_backward.cpp;fold/test_exactness.cpp;models/test_gpt2.cpp"
  [arm-linux-gnueabihf]="$kernels"
  [arm-linux-gnueabi]="$kernels"
)
for target in ${LNFOLD_CROSS_TARGETS:-aarch64-linux-gnu arm-linux-gnueabihf arm-linux-gnueabi}; do
  echo "lnfold: cross build for $target"
  cmake -S tests/cross -B "build-$target" -DCMAKE_BUILD_TYPE=Release \
        -DCMAKE_TOOLCHAIN_FILE="$PWD/cmake/toolchains/$target.cmake" \
        -DLNFOLD_CROSS_TESTS="${tests[$target]}" -DLNFOLD_EMBEDDED_REFERENCE="$reference" > /dev/null
  cmake --build "build-$target" -j"$jobs"
  ctest --test-dir "build-$target" --output-on-failure -j"$jobs"
done
