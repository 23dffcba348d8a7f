#pragma once
// Matrix products for the layers, row-major operands with leading dimensions (ld = elements between rows):
//   matmul_nt      C (m x n)  = A (m x k) Bᵀ, B (n x k)    forward of Linear-like layers (B: a weight, out x in)
//   matmul_nn      C (m x n)  = A (m x k) B,  B (k x n)    input gradients: dX = dY W
//   matmul_tn_add  C (m x n) += Aᵀ B, A (k x m), B (k x n) weight gradients: dW += dYᵀ X
// Each entry splits its work over threads in blocks fixed by the shapes alone (never by the thread count), and
// every block is one product of the same shape whatever thread runs it: results are the same bits for every
// thread count (tests/graph/test_thread_invariance.cpp). product_nt / product_nn / product_tn_add are the same
// products as one call on the calling thread.
// Backends, chosen at compile time (gemm_backend_name() says which), for products of at least blas_min_rows rows:
//   oneDNN    float, when LNFOLD_WITH_ONEDNN is 1 (CMake: LNFOLD_ONEDNN, on when libdnnl is found): dnnl_sgemm,
//             one thread per call (inside lnfold's parallel region by oneDNN's own rule, outside it with the
//             calling thread's OpenMP thread count set to 1 for the call); preferred to OpenBLAS for float, as
//             the faster at the models' shapes (docs/performance.md, "GEMM backends");
//   OpenBLAS  float (without oneDNN) and double, when LNFOLD_WITH_OPENBLAS is 1 (CMake: LNFOLD_BLAS, on when
//             OpenBLAS is found): cblas_?gemm, held to one thread while lnfold's threads run the blocks (its own
//             setting is restored afterwards);
//   Eigen     otherwise, and for fewer rows (there Eigen is faster than OpenBLAS's GEMM, see blas_min_rows);
//             its packing space is kept per thread (kernels/eigen_gemm.hpp), so that, like the rest of lnfold,
//             it allocates nothing once a shape has run.
// The arithmetic any of them does for one element depends on the product's shape (blocking, micro-kernel edges),
// which is why the blocks never follow the threads.
#include <algorithm>
#include <cstddef>
#include <string>
#include <type_traits>

#include "lnfold/core/error.hpp"
#include "lnfold/core/matrix.hpp"
#include "lnfold/core/parallel.hpp"
#include "lnfold/kernels/eigen_gemm.hpp"

#ifndef LNFOLD_WITH_OPENBLAS
#define LNFOLD_WITH_OPENBLAS 0
#endif
#if LNFOLD_WITH_OPENBLAS
#include <cblas.h>
#endif
#ifndef LNFOLD_WITH_ONEDNN
#define LNFOLD_WITH_ONEDNN 0
#endif
#if LNFOLD_WITH_ONEDNN
#include <dnnl.h>
#endif

// The narrowest column block (see detail::column_block); a macro so that tests can make small products split.
#ifndef LNFOLD_GEMM_MIN_COLUMN_BLOCK
#define LNFOLD_GEMM_MIN_COLUMN_BLOCK 128
#endif

namespace lnfold::kernels {

// "oneDNN (float), OpenBLAS (double)", "OpenBLAS", "Eigen", ...: the backend of float and of double products.
inline const char* gemm_backend_name() {
    if (LNFOLD_WITH_ONEDNN) return LNFOLD_WITH_OPENBLAS ? "oneDNN (float), OpenBLAS (double)" : "oneDNN (float), Eigen (double)";
    return LNFOLD_WITH_OPENBLAS ? "OpenBLAS" : "Eigen";
}

// Products with fewer rows go to Eigen whatever the backend: on few rows Eigen (at one row, its matrix-vector path)
// is faster than OpenBLAS's GEMM, and 16 rows is where the two break even (docs/kernels.md, "Why the kernels are
// shaped as they are").
inline constexpr std::size_t blas_min_rows = 16;

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
inline constexpr bool onednn_type_v = LNFOLD_WITH_ONEDNN && std::is_same_v<T, float>;
template <class T>
inline constexpr bool blas_type_v =
    LNFOLD_WITH_OPENBLAS && !onednn_type_v<T> && (std::is_same_v<T, float> || std::is_same_v<T, double>);

#if LNFOLD_WITH_ONEDNN
// dnnl_sgemm (row-major), on one thread: inside a parallel region oneDNN runs sequentially by itself; outside one,
// the calling thread's OpenMP thread count (what oneDNN reads) is 1 for the call.
inline void onednn_gemm(char trans_a, char trans_b, std::size_t m, std::size_t n, std::size_t k, const float* a,
                        std::size_t lda, const float* b, std::size_t ldb, float beta, float* c, std::size_t ldc) {
    const auto d = [](std::size_t v) { return static_cast<dnnl_dim_t>(v); };
    const auto call = [&] { return dnnl_sgemm(trans_a, trans_b, d(m), d(n), d(k), 1.0f, a, d(lda), b, d(ldb), beta, c, d(ldc)); };
    dnnl_status_t status;
#if LNFOLD_HAS_OPENMP
    if (!omp_in_parallel()) {
        const int previous = omp_get_max_threads();
        omp_set_num_threads(1);
        status = call();
        omp_set_num_threads(previous);
    } else {
        status = call();
    }
#else
    status = call();
#endif
    if (status != dnnl_success)
        raise<config_error>("lnfold: a matrix product (" + std::to_string(m) + " x " + std::to_string(k) + " by " +
                           std::to_string(k) + " x " + std::to_string(n) + ") failed in oneDNN's sgemm, status " +
                           std::to_string(static_cast<int>(status)));
}
#endif

// Columns of C per block: a sixth of n (so 1, 2, 3 or 6 threads share the blocks evenly) rounded up to 16, between
// LNFOLD_GEMM_MIN_COLUMN_BLOCK (128) and 512. Every block packs A again (OpenBLAS and Eigen pack both operands per
// call), so blocks stay wide: the narrower the blocks, the more often A is packed (the cost of 128-column blocks:
// docs/kernels.md, "Why the kernels are shaped as they are").
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

// Sets the m x n block of C (leading dimension ldc) to zero.
template <class T>
void zero_block(std::size_t m, std::size_t n, T* c, std::size_t ldc) {
    for (std::size_t r = 0; r < m; ++r) std::fill(c + r * ldc, c + r * ldc + n, T(0));
}

// Calls body(begin, end) for the blocks [0, block), [block, 2 block), ... of [0, size), shared among threads.
template <class Body>
void for_fixed_blocks(std::size_t size, std::size_t block, std::size_t work_per_block, Body&& body) {
    const std::size_t blocks = size / block + (size % block != 0);
    parallel_for_rows(blocks, work_per_block, [&](std::size_t first, std::size_t last) {
        for (std::size_t b = first; b < last; ++b) body(b * block, std::min(size, (b + 1) * block));
    });
}

}  // namespace detail

// One product on the calling thread: C (m x n) = A (m x k) Bᵀ (+ bias), B (n x k). With a bias, C starts as the
// bias in every row and the product is added to it (one pass over C instead of two: zeroing it, then adding the
// bias). For callers that run products inside their own parallel loop (attention's heads, with a blas_single_thread
// held around the loop).
template <class T>
void product_nt(std::size_t m, std::size_t n, std::size_t k, const T* a, std::size_t lda, const T* b, std::size_t ldb,
                T* c, std::size_t ldc, const T* bias = nullptr) {
    if (bias != nullptr)
        for (std::size_t r = 0; r < m; ++r) std::copy(bias, bias + n, c + r * ldc);
#if LNFOLD_WITH_ONEDNN
    if constexpr (detail::onednn_type_v<T>)
        if (m >= blas_min_rows && k > 0)
            return detail::onednn_gemm('N', 'T', m, n, k, a, lda, b, ldb, float(bias != nullptr), c, ldc);
#endif
#if LNFOLD_WITH_OPENBLAS
    if constexpr (detail::blas_type_v<T>)
        if (m >= blas_min_rows && k > 0)
            return detail::blas_gemm<T>(CblasNoTrans, CblasTrans, m, n, k, a, lda, b, ldb, T(bias != nullptr), c, ldc);
#endif
    if (bias == nullptr) detail::zero_block(m, n, c, ldc);
    detail::eigen_product_add<detail::stored::as_is, detail::stored::transposed>(m, n, k, a, lda, b, ldb, c, ldc);
}

// One product on the calling thread: C (m x n) = A (m x k) B, B (k x n).
template <class T>
void product_nn(std::size_t m, std::size_t n, std::size_t k, const T* a, std::size_t lda, const T* b, std::size_t ldb,
                T* c, std::size_t ldc) {
#if LNFOLD_WITH_ONEDNN
    if constexpr (detail::onednn_type_v<T>)
        if (m >= blas_min_rows && k > 0) return detail::onednn_gemm('N', 'N', m, n, k, a, lda, b, ldb, 0.0f, c, ldc);
#endif
#if LNFOLD_WITH_OPENBLAS
    if constexpr (detail::blas_type_v<T>)
        if (m >= blas_min_rows && k > 0) return detail::blas_gemm<T>(CblasNoTrans, CblasNoTrans, m, n, k, a, lda, b, ldb, T(0), c, ldc);
#endif
    detail::zero_block(m, n, c, ldc);
    detail::eigen_product_add<detail::stored::as_is, detail::stored::as_is>(m, n, k, a, lda, b, ldb, c, ldc);
}

// One product on the calling thread: C (m x n) += Aᵀ B, A (k x m), B (k x n).
template <class T>
void product_tn_add(std::size_t m, std::size_t n, std::size_t k, const T* a, std::size_t lda, const T* b, std::size_t ldb,
                    T* c, std::size_t ldc) {
#if LNFOLD_WITH_ONEDNN
    if constexpr (detail::onednn_type_v<T>)
        if (k >= blas_min_rows) return detail::onednn_gemm('T', 'N', m, n, k, a, lda, b, ldb, 1.0f, c, ldc);
#endif
#if LNFOLD_WITH_OPENBLAS
    if constexpr (detail::blas_type_v<T>)
        if (k >= blas_min_rows) return detail::blas_gemm<T>(CblasTrans, CblasNoTrans, m, n, k, a, lda, b, ldb, T(1), c, ldc);
#endif
    detail::eigen_product_add<detail::stored::transposed, detail::stored::as_is>(m, n, k, a, lda, b, ldb, c, ldc);
}

// C (m x n) = A (m x k) Bᵀ (+ bias, as in product_nt), B (n x k), over threads in fixed blocks of C's columns (each
// packs only its slice of B: the weights are read once).
template <class T>
void matmul_nt(std::size_t m, std::size_t n, std::size_t k, const T* a, std::size_t lda, const T* b, std::size_t ldb,
               T* c, std::size_t ldc, const T* bias = nullptr) {
    if (m == 0 || n == 0) return;
    [[maybe_unused]] const blas_single_thread hold;
    const std::size_t block = detail::column_block(n);
    detail::for_fixed_blocks(n, block, m * block * k, [&](std::size_t j0, std::size_t j1) {
        product_nt(m, j1 - j0, k, a, lda, b + j0 * ldb, ldb, c + j0, ldc, bias != nullptr ? bias + j0 : nullptr);
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
