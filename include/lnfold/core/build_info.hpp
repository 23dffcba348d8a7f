#pragma once
// What this build of lnfold runs with: SIMD architecture, matrix-product backend, threads, compiler and optimisation.
#include <string>

#include "lnfold/core/x86_intrinsics.hpp"  // before xsimd includes <immintrin.h>
#include <xsimd/xsimd.hpp>

#include "lnfold/config.hpp"
#include "lnfold/core/parallel.hpp"
#include "lnfold/kernels/arch.hpp"  // lnfold::simd_arch()
#include "lnfold/kernels/gemm.hpp"  // kernels::gemm_backend_name()

namespace lnfold {

inline std::string compiler_name() {
#if defined(__clang__)
    return "clang " + std::to_string(__clang_major__) + "." + std::to_string(__clang_minor__);
#elif defined(__GNUC__)
    return "gcc " + std::to_string(__GNUC__) + "." + std::to_string(__GNUC_MINOR__);
#else
    return "unknown compiler";
#endif
}

inline const char* build_type() {
#if defined(__OPTIMIZE__) && defined(NDEBUG)
    return "optimised (NDEBUG)";
#elif defined(__OPTIMIZE__)
    return "optimised, assertions on";
#else
    return "unoptimised (debug)";
#endif
}

// One line for logs and benchmark reports.
inline std::string build_summary() {
    return std::string("lnfold ") + version_string + ", SIMD " + simd_arch() + ", GEMM " + kernels::gemm_backend_name() + ", threads " +
           std::to_string(max_threads()) + (LNFOLD_HAS_OPENMP ? " (OpenMP)" : " (no OpenMP)") + ", " +
           compiler_name() + ", " + build_type();
}

}  // namespace lnfold
