#pragma once
// RMSNorm forward over rows, with or without bias.
//
//   x, y: (rows, dim) row-major, contiguous;  gamma, beta: (dim) or nullptr;  rrms: (rows) or nullptr.
//   rrms_r = 1 / sqrt(Σ_i x_ri² / dim + eps)
//   y_ri   = x_ri · rrms_r · gamma_i + beta_i        (gamma = nullptr: 1; beta = nullptr: no bias)
//
// The maths: norm_steps.hpp (squares that overflow on finite data are redone scaled by 1/max|x|; NaN or Inf in a
// row gives NaN in that row only). The schedules: norm_forward.hpp; bit-identical for every thread count, number
// of rows and schedule; y may be x (in place).
#include <cstddef>

#include "lnfold/kernels/arch.hpp"
#include "lnfold/kernels/norm_forward.hpp"

namespace lnfold::kernels {

// One row (n >= 1) on Arch (or its scalar path); returns 1/rms. Bit-identical to the same row in rms_norm_rows.
template <class Arch, class T>
T rms_norm_row(const T* x, std::size_t n, nd<const T*> gamma, nd<const T*> beta, nd<T> eps, T* y) {
    detail::check_eps("rms_norm_row", eps);
    T rrms = T(0);
    detail::with_affine(gamma, beta, [&]<bool G, bool B>() {
        detail::norm_rows<arch_for_t<T, Arch>, false, G, B>(detail::row_input<T>{x}, 1, n,
                                                            {gamma, beta, eps, y, nullptr, &rrms, false});
    });
    return rrms;
}

// RMSNorm over `rows` rows of width `dim` (beta = nullptr: RMSNorm without bias). Throws config_error unless
// eps > 0.
template <class Arch = default_arch, class T>
void rms_norm_rows(const T* x, std::size_t rows, std::size_t dim, nd<const T*> gamma, nd<const T*> beta,
                   nd<T> eps, T* y, nd<T*> rrms = nullptr) {
    detail::check_eps("rms_norm_rows", eps);
    detail::check_dim("rms_norm_rows", rows, dim);
    detail::check_pointer("rms_norm_rows", "x", x, rows);
    detail::check_pointer("rms_norm_rows", "y", y, rows);
    detail::with_affine(gamma, beta, [&]<bool G, bool B>() {
        detail::norm_rows<arch_for_t<T, Arch>, false, G, B>(detail::row_input<T>{x}, rows, dim,
                                                            {gamma, beta, eps, y, nullptr, rrms, false});
    });
}

// The entry for layers: rms_norm_rows on the default architecture with gamma, and beta when HasBeta, without the
// argument checks (as layer_norm_rows_unchecked). rrms (rows) receives 1/rms.
template <bool HasBeta, class T>
void rms_norm_rows_unchecked(const T* x, std::size_t rows, std::size_t dim, const T* gamma, const T* beta, T eps, T* y,
                             T* rrms) {
    detail::norm_rows<arch_for_t<T, default_arch>, false, true, HasBeta>(detail::row_input<T>{x}, rows, dim,
                                                                         {gamma, beta, eps, y, nullptr, rrms, false});
}

}  // namespace lnfold::kernels
