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
// over its range does not (use parallel_for_row_blocks).
template <class Body>
void parallel_for_rows(std::size_t rows, std::size_t work_per_row, Body&& body) {
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

// Rows per block of parallel_for_row_blocks (a compile-time macro, like LNFOLD_PARALLEL_MIN_ELEMENTS). Each block is
// one Eigen product, which packs the weights again: larger blocks cost less on one thread (GPT-2 sized products,
// 256 rows: ~25% more than one whole product with 64-row blocks, ~7% with 128), smaller ones leave more blocks to
// share among threads (128 tokens are 2 blocks of 64).
#ifndef LNFOLD_PRODUCT_BLOCK_ROWS
#define LNFOLD_PRODUCT_BLOCK_ROWS 64
#endif
inline constexpr std::size_t product_block_rows = LNFOLD_PRODUCT_BLOCK_ROWS;
static_assert(product_block_rows > 0, "lnfold: LNFOLD_PRODUCT_BLOCK_ROWS must be > 0");

// Calls body(begin, end) once per block of product_block_rows consecutive rows ([0, B), [B, 2B), ..., the last
// one shorter), the blocks split over threads like parallel_for_rows splits rows (work_per_row as there).
// For layers that run a matrix product on each range: the arithmetic Eigen does for one row of a product depends
// on the product's row count (one row is a matrix-vector product, a small product takes a coefficient-wise path,
// and the micro-kernel a row goes through depends on its position among the rows), so products over the
// thread-count-dependent ranges of parallel_for_rows would change results in the last bits with the thread count.
// Here the products are the same for every thread count: their rows depend only on `rows`.
template <class Body>
void parallel_for_row_blocks(std::size_t rows, std::size_t work_per_row, Body&& body) {
    constexpr std::size_t block = product_block_rows;
    const std::size_t blocks = rows / block + (rows % block != 0);
    std::size_t work = 0;  // per block, saturated like parallel_for_rows' product
    if (__builtin_mul_overflow(block, work_per_row, &work)) work = static_cast<std::size_t>(-1);
    parallel_for_rows(blocks, work, [&](std::size_t first, std::size_t last) {
        for (std::size_t b = first; b < last; ++b) body(b * block, std::min(rows, (b + 1) * block));
    });
}

}  // namespace lnfold
