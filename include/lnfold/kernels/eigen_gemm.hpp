#pragma once
// Eigen's blocked matrix product without a heap call per product: C (m x n, row-major) += op(A) op(B), with the
// packing space Eigen needs (a kc x mc block of one operand and a kc x nc block of the other) taken from a buffer
// that each thread keeps and grows to the largest product it has run. Eigen's public product (`c.noalias() = a * b`)
// mallocs that space on every call above EIGEN_STACK_ALLOCATION_LIMIT (128 KiB), which is most products of a model.
//
// The block sizes are those Eigen's public product chooses (computeProductBlockingSizes with one thread), and the
// kernel is the same (general_matrix_matrix_product, the sequential path), so the results are Eigen's bit for bit.
// Both are Eigen internals, stable across 3.3.90-3.4.x; older Eigen takes the public product.
// lnfold's threads run the products of one call in blocks fixed by the shapes, each thread the same blocks on every
// call of the same shapes (core/parallel.hpp), so after one call per shape no thread grows its buffer again.
#include <cstddef>

#include "lnfold/core/aligned_buffer.hpp"
#include "lnfold/core/matrix.hpp"

#define LNFOLD_EIGEN_OWN_PACKING EIGEN_VERSION_AT_LEAST(3, 3, 90)

namespace lnfold::kernels::detail {

// Which operand layout a product reads: A (m x k) as stored, or stored transposed (k x m); likewise B (k x n).
enum class stored { as_is, transposed };

#if LNFOLD_EIGEN_OWN_PACKING
// This thread's packing space for products of T (kept until the thread ends).
template <class T>
T* packing_space(std::size_t count) {
    static thread_local aligned_buffer<T> space;
    return space.ensure(count, "a matrix product", [&] {
        return "Eigen's packing space (" + std::to_string(count) + " " + lnfold::detail::element_plural<T>() + ")";
    });
}

// Eigen's blocking (block sizes and block pointers) for one product, pointed at this thread's packing space.
template <class T>
class thread_packing : public Eigen::internal::level3_blocking<T, T> {
public:
    // rows, cols, depth of the product as Eigen's column-major kernel sees it (C transposed: rows = n, cols = m).
    thread_packing(Eigen::Index rows, Eigen::Index cols, Eigen::Index depth) {
        this->m_mc = rows;
        this->m_nc = cols;
        this->m_kc = depth;
        Eigen::internal::computeProductBlockingSizes<T, T, 1>(this->m_kc, this->m_mc, this->m_nc,
                                                                    Eigen::Index{1});
        // The kernel packs at most kc x min(mc, rows) and kc x min(nc, cols); B's block starts 64-byte aligned.
        const std::size_t kc = static_cast<std::size_t>(this->m_kc);
        const std::size_t a = kc * static_cast<std::size_t>(std::min(this->m_mc, rows));
        const std::size_t b = kc * static_cast<std::size_t>(std::min(this->m_nc, cols));
        constexpr std::size_t per_line = arena_alignment_bytes / sizeof(T);
        const std::size_t a_padded = (a + per_line - 1) / per_line * per_line;
        T* space = packing_space<T>(a_padded + b);
        this->m_blockA = space;
        this->m_blockB = space + a_padded;
    }
};
#endif

// C (m x n, leading dimension ldc) += op(A) op(B): op(A) is m x k (A stored m x k with lda, or k x m when
// transposed), op(B) k x n (B stored k x n with ldb, or n x k when transposed).
template <stored A, stored B, class T>
void eigen_product_add(std::size_t m, std::size_t n, std::size_t k, const T* a, std::size_t lda, const T* b,
                       std::size_t ldb, T* c, std::size_t ldc) {
    if (m == 0 || n == 0 || k == 0) return;
    const auto i = [](std::size_t v) { return static_cast<Eigen::Index>(v); };
#if LNFOLD_EIGEN_OWN_PACKING
    // One row or one column is a matrix-vector product: Eigen's own path, whose temporaries (a copy of a strided
    // vector at most) stay on the stack.
    if (m > 1 && n > 1) {
        constexpr int a_order = A == stored::as_is ? Eigen::RowMajor : Eigen::ColMajor;
        constexpr int b_order = B == stored::as_is ? Eigen::RowMajor : Eigen::ColMajor;
        thread_packing<T> packing(i(n), i(m), i(k));
        Eigen::internal::general_matrix_matrix_product<Eigen::Index, T, a_order, false, T, b_order, false, Eigen::RowMajor,
                                                       1>::run(i(m), i(n), i(k), a, i(lda), b, i(ldb), c, 1, i(ldc), T(1),
                                                               packing, nullptr);
        return;
    }
#endif
    auto out = map_strided(c, m, n, ldc);
    if constexpr (A == stored::as_is && B == stored::as_is)
        out.noalias() += map_strided(a, m, k, lda) * map_strided(b, k, n, ldb);
    else if constexpr (A == stored::as_is)
        out.noalias() += map_strided(a, m, k, lda) * map_strided(b, n, k, ldb).transpose();
    else if constexpr (B == stored::as_is)
        out.noalias() += map_strided(a, k, m, lda).transpose() * map_strided(b, k, n, ldb);
    else
        out.noalias() += map_strided(a, k, m, lda).transpose() * map_strided(b, n, k, ldb).transpose();
}

}  // namespace lnfold::kernels::detail
