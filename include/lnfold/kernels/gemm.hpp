#pragma once
// Matrix products for the layers, row-major operands with leading dimensions (ld = elements between rows):
//   matmul_nt      C (m x n)  = A (m x k) Bᵀ, B (n x k)    forward of Linear-like layers (B: a weight, out x in)
//   matmul_nn      C (m x n)  = A (m x k) B,  B (k x n)    input gradients: dX = dY W
//   matmul_tn_add  C (m x n) += Aᵀ B, A (k x m), B (k x n) weight gradients: dW += dYᵀ X
// Each entry splits its work over threads in blocks fixed by the shapes alone (never by the thread count), and
// every block is one product of the same shape whatever thread runs it: results are the same bits for every
// thread count (tests/graph/test_thread_invariance.cpp). product_nt / product_nn / product_tn_add are the same
// products as one call on the calling thread.
// Backends, chosen at compile time (gemm_backend_name() says which):
//   OpenBLAS  when LNFOLD_WITH_OPENBLAS is 1 (CMake: LNFOLD_BLAS, on when OpenBLAS is found; lnfold.pc adds it),
//             for float and double products of at least blas_min_rows rows: one cblas_?gemm per block, OpenBLAS
//             held to one thread while lnfold's threads run the blocks (its own setting is restored afterwards);
//   Eigen     otherwise, and for fewer rows (OpenBLAS's GEMM is ~5x slower than Eigen's matrix-vector path at
//             1-4 rows). An Eigen or OpenBLAS product's arithmetic for one element depends on the product's
//             shape (blocking, micro-kernel edges), which is why the blocks never follow the threads.
#include <algorithm>
#include <cstddef>
#include <type_traits>

#include "lnfold/core/matrix.hpp"
#include "lnfold/core/parallel.hpp"

#ifndef LNFOLD_WITH_OPENBLAS
#define LNFOLD_WITH_OPENBLAS 0
#endif
#if LNFOLD_WITH_OPENBLAS
#include <cblas.h>
#endif

// The narrowest column block (see detail::column_block); a macro so that tests can make small products split.
#ifndef LNFOLD_GEMM_MIN_COLUMN_BLOCK
#define LNFOLD_GEMM_MIN_COLUMN_BLOCK 128
#endif

namespace lnfold::kernels {

inline const char* gemm_backend_name() { return LNFOLD_WITH_OPENBLAS ? "OpenBLAS" : "Eigen"; }

// Products with fewer rows go to Eigen even with OpenBLAS (measured: 5 vs 30 GFLOP/s at one row, parity at 16).
inline constexpr std::size_t blas_min_rows = 16;

// A no-op epilogue: matmul_nt calls epilogue(row_begin, row_end, col_begin, col_end) once per finished block of C,
// while that block is still in cache (bias, activation).
struct no_epilogue {
    void operator()(std::size_t, std::size_t, std::size_t, std::size_t) const {}
};

// The bias epilogue: C[r][j] += v[j] for rows [r0, r1) and columns [j0, j1) of C (row stride ldc).
template <class T>
void add_row_vector(T* c, std::size_t ldc, std::size_t r0, std::size_t r1, std::size_t j0, std::size_t j1, const T* v) {
    for (std::size_t r = r0; r < r1; ++r) {
        T* row = c + r * ldc;
        for (std::size_t j = j0; j < j1; ++j) row[j] += v[j];
    }
}

// Holds OpenBLAS at one thread while it lives (lnfold runs the blocks of a product on its own threads), then
// restores the caller's setting. Inside a parallel region it does nothing: the region's owner holds one. Layers
// that call the products from inside their own parallel loops (attention's heads) hold one around the loop.
#if LNFOLD_WITH_OPENBLAS
class blas_single_thread {
public:
    blas_single_thread() {
#if LNFOLD_HAS_OPENMP
        if (omp_in_parallel()) return;
#endif
        previous_ = openblas_get_num_threads();
        if (previous_ != 1) openblas_set_num_threads(1);
    }
    ~blas_single_thread() {
        if (previous_ > 1) openblas_set_num_threads(previous_);
    }
    blas_single_thread(const blas_single_thread&) = delete;
    blas_single_thread& operator=(const blas_single_thread&) = delete;

private:
    int previous_ = 0;
};
#else
struct blas_single_thread {
    blas_single_thread() {}  // user-provided: a const instance needs no initialiser
};
#endif

namespace detail {

template <class T>
inline constexpr bool blas_type_v = LNFOLD_WITH_OPENBLAS && (std::is_same_v<T, float> || std::is_same_v<T, double>);

// Columns of C per block: a sixth of n (so 1, 2, 3 or 6 threads share the blocks evenly) rounded up to 16, between
// LNFOLD_GEMM_MIN_COLUMN_BLOCK (128) and 512. Every block packs A again (OpenBLAS and Eigen pack both operands per
// call), so blocks stay wide: at 128 rows and 768 columns on one thread, 128-column blocks cost ~5% over one call.
inline std::size_t column_block(std::size_t n) {
    constexpr std::size_t narrowest = LNFOLD_GEMM_MIN_COLUMN_BLOCK;
    static_assert(narrowest > 0, "lnfold: LNFOLD_GEMM_MIN_COLUMN_BLOCK must be > 0");
    const std::size_t sixth = (n + 5) / 6;
    return std::clamp<std::size_t>((sixth + 15) / 16 * 16, narrowest, std::max<std::size_t>(narrowest, 512));
}

#if LNFOLD_WITH_OPENBLAS
template <class T>
void blas_gemm(CBLAS_TRANSPOSE trans_a, CBLAS_TRANSPOSE trans_b, std::size_t m, std::size_t n, std::size_t k, const T* a,
               std::size_t lda, const T* b, std::size_t ldb, T beta, T* c, std::size_t ldc) {
    const auto i = [](std::size_t v) { return static_cast<blasint>(v); };
    if constexpr (std::is_same_v<T, float>)
        cblas_sgemm(CblasRowMajor, trans_a, trans_b, i(m), i(n), i(k), 1.0f, a, i(lda), b, i(ldb), beta, c, i(ldc));
    else
        cblas_dgemm(CblasRowMajor, trans_a, trans_b, i(m), i(n), i(k), 1.0, a, i(lda), b, i(ldb), beta, c, i(ldc));
}
#endif

// Calls body(begin, end) for the blocks [0, block), [block, 2 block), ... of [0, size), shared among threads.
template <class Body>
void for_fixed_blocks(std::size_t size, std::size_t block, std::size_t work_per_block, Body&& body) {
    const std::size_t blocks = size / block + (size % block != 0);
    parallel_for_rows(blocks, work_per_block, [&](std::size_t first, std::size_t last) {
        for (std::size_t b = first; b < last; ++b) body(b * block, std::min(size, (b + 1) * block));
    });
}

}  // namespace detail

// One product on the calling thread: C (m x n) = A (m x k) Bᵀ, B (n x k). For callers that run products inside
// their own parallel loop (attention's heads, with a blas_single_thread held around the loop).
template <class T>
void product_nt(std::size_t m, std::size_t n, std::size_t k, const T* a, std::size_t lda, const T* b, std::size_t ldb,
                T* c, std::size_t ldc) {
#if LNFOLD_WITH_OPENBLAS
    if constexpr (detail::blas_type_v<T>)
        if (m >= blas_min_rows && k > 0) return detail::blas_gemm<T>(CblasNoTrans, CblasTrans, m, n, k, a, lda, b, ldb, T(0), c, ldc);
#endif
    map_strided(c, m, n, ldc).noalias() = map_strided(a, m, k, lda) * map_strided(b, n, k, ldb).transpose();
}

// One product on the calling thread: C (m x n) = A (m x k) B, B (k x n).
template <class T>
void product_nn(std::size_t m, std::size_t n, std::size_t k, const T* a, std::size_t lda, const T* b, std::size_t ldb,
                T* c, std::size_t ldc) {
#if LNFOLD_WITH_OPENBLAS
    if constexpr (detail::blas_type_v<T>)
        if (m >= blas_min_rows && k > 0) return detail::blas_gemm<T>(CblasNoTrans, CblasNoTrans, m, n, k, a, lda, b, ldb, T(0), c, ldc);
#endif
    map_strided(c, m, n, ldc).noalias() = map_strided(a, m, k, lda) * map_strided(b, k, n, ldb);
}

// One product on the calling thread: C (m x n) += Aᵀ B, A (k x m), B (k x n).
template <class T>
void product_tn_add(std::size_t m, std::size_t n, std::size_t k, const T* a, std::size_t lda, const T* b, std::size_t ldb,
                    T* c, std::size_t ldc) {
#if LNFOLD_WITH_OPENBLAS
    if constexpr (detail::blas_type_v<T>)
        if (k >= blas_min_rows) return detail::blas_gemm<T>(CblasTrans, CblasNoTrans, m, n, k, a, lda, b, ldb, T(1), c, ldc);
#endif
    map_strided(c, m, n, ldc).noalias() += map_strided(a, k, m, lda).transpose() * map_strided(b, k, n, ldb);
}

// C (m x n) = A (m x k) Bᵀ, B (n x k), over threads in fixed blocks of C's columns (each packs only its slice of
// B: the weights are read once); epilogue(r0, r1, c0, c1) runs on each finished block while it is in cache.
template <class T, class Epilogue = no_epilogue>
void matmul_nt(std::size_t m, std::size_t n, std::size_t k, const T* a, std::size_t lda, const T* b, std::size_t ldb,
               T* c, std::size_t ldc, Epilogue&& epilogue = {}) {
    if (m == 0 || n == 0) return;
    [[maybe_unused]] const blas_single_thread hold;
    const std::size_t block = detail::column_block(n);
    detail::for_fixed_blocks(n, block, m * block * k, [&](std::size_t j0, std::size_t j1) {
        product_nt(m, j1 - j0, k, a, lda, b + j0 * ldb, ldb, c + j0, ldc);
        epilogue(std::size_t{0}, m, j0, j1);
    });
}

// C (m x n) = A (m x k) B, B (k x n), over threads in fixed blocks of C's columns.
template <class T>
void matmul_nn(std::size_t m, std::size_t n, std::size_t k, const T* a, std::size_t lda, const T* b, std::size_t ldb, T* c,
               std::size_t ldc) {
    if (m == 0 || n == 0) return;
    [[maybe_unused]] const blas_single_thread hold;
    const std::size_t block = detail::column_block(n);
    detail::for_fixed_blocks(n, block, m * block * k, [&](std::size_t j0, std::size_t j1) {
        product_nn(m, j1 - j0, k, a, lda, b + j0, ldb, c + j0, ldc);
    });
}

// C (m x n) += Aᵀ B, A (k x m), B (k x n), over threads in fixed blocks of C's rows.
template <class T>
void matmul_tn_add(std::size_t m, std::size_t n, std::size_t k, const T* a, std::size_t lda, const T* b, std::size_t ldb,
                   T* c, std::size_t ldc) {
    if (m == 0 || n == 0 || k == 0) return;
    [[maybe_unused]] const blas_single_thread hold;
    const std::size_t block = detail::column_block(m);
    detail::for_fixed_blocks(m, block, block * n * k, [&](std::size_t i0, std::size_t i1) {
        product_tn_add(i1 - i0, n, k, a + i0, lda, b, ldb, c + i0 * ldc, ldc);
    });
}

}  // namespace lnfold::kernels
