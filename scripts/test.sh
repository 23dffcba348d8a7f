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

# The pure-Eigen matrix products (kernels/gemm.hpp without oneDNN and OpenBLAS) must keep passing: where the build
# above found either, the tests that exercise products run again in a second build with both off.
if grep -q -E '^LNFOLD_(OPENBLAS|ONEDNN)_LIBRARY:FILEPATH=/' build/CMakeCache.txt; then
  eigen_tests=(test_gemm test_layers_dense test_layers_attention test_layers_conv2d test_thread_invariance
               test_parity_gradients test_models_gpt2 test_models_vit test_no_allocation)
  cmake -S . -B build-eigen -DCMAKE_BUILD_TYPE=Release -DLNFOLD_BLAS=OFF -DLNFOLD_ONEDNN=OFF -DLNFOLD_BUILD_BENCH=OFF \
        -DLNFOLD_BUILD_EXAMPLES=OFF
  cmake --build build-eigen -j"$jobs" --target "${eigen_tests[@]}"
  ctest --test-dir build-eigen --output-on-failure -j"$jobs" -R "^($(IFS='|'; echo "${eigen_tests[*]}"))\$"
fi

# clang, without OpenMP (Debian's clang has no OpenMP runtime unless libomp-dev is installed, which this script
# does not install): the strict-warnings program (-Wall -Wextra -Wpedantic -Wshadow -Wconversion -Werror on lnfold's
# headers), the README's snippet, the exception-free error reports and the embedded app.
clang_tests=(test_strict_warnings readme_usage error_report error_handler embedded_app)
cmake -S . -B build-clang -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER=clang++ -DLNFOLD_OPENMP=OFF \
      -DLNFOLD_BUILD_BENCH=OFF -DLNFOLD_BUILD_EXAMPLES=OFF
cmake --build build-clang -j"$jobs" --target test_strict_warnings readme_usage error_report_exceptions \
      error_report_no_exceptions embedded_app
ctest --test-dir build-clang --output-on-failure -j"$jobs" -R "^($(IFS='|'; echo "${clang_tests[*]}"))\$"
