#pragma once
// Fused residual add + LayerNorm / RMSNorm over rows: the sum is written and normalised with one read of a and
// b from memory (the sum row is then re-read from cache).
//
//   a, b, sum, y: (rows, dim) row-major, contiguous;  gamma, beta: (dim) or nullptr;  stats: (rows) or nullptr.
//   sum_ri = a_ri + b_ri
//   add_layer_norm_rows: y = LayerNorm(sum) as layer_norm_rows (mean, rstd saved)
//   add_rms_norm_rows:   y = RMSNorm(sum) as rms_norm_rows (rrms saved)
//
// The first pass stores the sum while it accumulates (norm_operands.hpp added_input), in the order of the unfused
// kernels' first pass, and the other passes are theirs, so y and the statistics are bit-identical to
// layer_norm_rows / rms_norm_rows on the stored sum (and for every thread count). sum may be a or b (the in-place
// residual stream x += branch(x)); y may be sum.
#include <cstddef>

#include "lnfold/kernels/arch.hpp"
#include "lnfold/kernels/norm_forward.hpp"

namespace lnfold::kernels {

namespace detail {

template <class T>
void check_add_norm(const char* kernel, const T* a, const T* b, std::size_t rows, std::size_t dim, T eps, const T* sum,
                    const T* y) {
    check_eps(kernel, eps);
    check_dim(kernel, rows, dim);
    check_pointer(kernel, "a", a, rows);
    check_pointer(kernel, "b", b, rows);
    check_pointer(kernel, "sum", sum, rows);
    check_pointer(kernel, "y", y, rows);
}

}  // namespace detail

template <class Arch = default_arch, class T>
void add_layer_norm_rows(const T* a, const T* b, std::size_t rows, std::size_t dim, nd<const T*> gamma,
                         nd<const T*> beta, nd<T> eps, T* sum, T* y, nd<T*> mean = nullptr, nd<T*> rstd = nullptr) {
    detail::check_add_norm<T>("add_layer_norm_rows", a, b, rows, dim, eps, sum, y);
    detail::with_affine(gamma, beta, [&]<bool G, bool B>() {
        detail::norm_rows<arch_for_t<T, Arch>, true, G, B>(detail::added_input<T>{a, b, sum}, rows, dim,
                                                           {gamma, beta, eps, y, mean, rstd, false});
    });
}

template <class Arch = default_arch, class T>
void add_rms_norm_rows(const T* a, const T* b, std::size_t rows, std::size_t dim, nd<const T*> gamma,
                       nd<const T*> beta, nd<T> eps, T* sum, T* y, nd<T*> rrms = nullptr) {
    detail::check_add_norm<T>("add_rms_norm_rows", a, b, rows, dim, eps, sum, y);
    detail::with_affine(gamma, beta, [&]<bool G, bool B>() {
        detail::norm_rows<arch_for_t<T, Arch>, false, G, B>(detail::added_input<T>{a, b, sum}, rows, dim,
                                                            {gamma, beta, eps, y, nullptr, rrms, false});
    });
}

// The entries for layers (the norms computing the residual sum they read): add_layer_norm_rows with gamma and
// beta, add_rms_norm_rows with gamma and (HasBeta) beta, on the default architecture, without the argument checks
// (as layer_norm_rows_unchecked).
template <class T>
void add_layer_norm_rows_unchecked(const T* a, const T* b, std::size_t rows, std::size_t dim, const T* gamma,
                                   const T* beta, T eps, T* sum, T* y, T* mean, T* rstd) {
    detail::norm_rows<arch_for_t<T, default_arch>, true, true, true>(detail::added_input<T>{a, b, sum}, rows, dim,
                                                                     {gamma, beta, eps, y, mean, rstd, false});
}
template <bool HasBeta, class T>
void add_rms_norm_rows_unchecked(const T* a, const T* b, std::size_t rows, std::size_t dim, const T* gamma,
                                 const T* beta, T eps, T* sum, T* y, T* rrms) {
    detail::norm_rows<arch_for_t<T, default_arch>, false, true, HasBeta>(
        detail::added_input<T>{a, b, sum}, rows, dim, {gamma, beta, eps, y, nullptr, rrms, false});
}

}  // namespace lnfold::kernels
