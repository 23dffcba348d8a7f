#pragma once
// Threads over rows (never inside a row), with a work threshold so that small inputs stay on one thread.
#include <algorithm>
#include <cstddef>

#include "lnfold/config.hpp"
#if LNFOLD_HAS_OPENMP
#include <omp.h>
#endif

namespace lnfold {

// Threads lnfold may use (OpenMP's setting, 1 without OpenMP).
inline int max_threads() {
#if LNFOLD_HAS_OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

// Calls body(begin, end) over contiguous row ranges covering [0, rows), one per thread. Uses several threads only
// when rows * work_per_row >= LNFOLD_PARALLEL_MIN_ELEMENTS; each row is handled by exactly one call. The ranges
// depend on the thread count: a body whose arithmetic for a row does not depend on the range it gets (the norm
// kernels, activations, adds) gives the same results for every thread count; a body that runs a matrix product
// over its range does not (kernels/gemm.hpp splits products into blocks fixed by their shapes).
template <class Body>
void parallel_for_rows(std::size_t rows, [[maybe_unused]] std::size_t work_per_row, Body&& body) {
    if (rows == 0) return;
#if LNFOLD_HAS_OPENMP
    std::size_t work = 0;  // rows * work_per_row, saturated (a huge product only means "enough work for threads")
    if (__builtin_mul_overflow(rows, std::max<std::size_t>(work_per_row, 1), &work)) work = static_cast<std::size_t>(-1);
    const int threads = static_cast<int>(std::min<std::size_t>(
        static_cast<std::size_t>(max_threads()), std::min(rows, work / LNFOLD_PARALLEL_MIN_ELEMENTS)));
    if (threads > 1 && !omp_in_parallel()) {
#pragma omp parallel num_threads(threads)
        {
            const std::size_t t = static_cast<std::size_t>(omp_get_thread_num());
            const std::size_t n = static_cast<std::size_t>(omp_get_num_threads());
            const std::size_t begin = rows * t / n, end = rows * (t + 1) / n;
            if (begin < end) body(begin, end);
        }
        return;
    }
#endif
    body(std::size_t{0}, rows);
}

}  // namespace lnfold
