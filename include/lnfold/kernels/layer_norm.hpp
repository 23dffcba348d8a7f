#pragma once
// LayerNorm forward over rows.
//
//   x, y: (rows, dim) row-major, contiguous;  gamma, beta: (dim) or nullptr;  mean, rstd: (rows) or nullptr.
//   mean_r = Σ_i x_ri / dim
//   rstd_r = 1 / sqrt(Σ_i (x_ri - mean_r)² / dim + eps)          (biased variance, eps inside the sqrt)
//   y_ri   = (x_ri - mean_r) · rstd_r · gamma_i + beta_i          (gamma = nullptr: 1; beta = nullptr: 0)
//
// The maths: norm_steps.hpp (shifted sum for the mean, centred squares, overflow rescale; a NaN or Inf in a row
// makes that row NaN and touches no other row). The schedules: norm_forward.hpp. A row's result is bit-identical
// for every thread count, number of rows and schedule; large outputs are written with streaming stores
// (streaming.hpp; same values). y may be x (in place).
#include <cstddef>

#include "lnfold/kernels/arch.hpp"
#include "lnfold/kernels/norm_forward.hpp"

namespace lnfold::kernels {

// One row (dim = n >= 1) on architecture Arch (or its scalar path). mean / rstd receive the statistics.
// Bit-identical to the same row inside layer_norm_rows.
template <class Arch, class T>
void layer_norm_row(const T* x, std::size_t n, nd<const T*> gamma, nd<const T*> beta, nd<T> eps, T* y, T& mean,
                    T& rstd) {
    detail::check_eps("layer_norm_row", eps);
    detail::with_affine(gamma, beta, [&]<bool G, bool B>() {
        detail::norm_rows<arch_for_t<T, Arch>, true, G, B>(detail::row_input<T>{x}, 1, n,
                                                           {gamma, beta, eps, y, &mean, &rstd, false});
    });
}

// LayerNorm over `rows` rows of width `dim`. Arch defaults to the best enabled SIMD architecture; pass
// kernels::scalar_arch (or an xsimd arch) explicitly to choose. Throws config_error unless eps > 0.
template <class Arch = default_arch, class T>
void layer_norm_rows(const T* x, std::size_t rows, std::size_t dim, nd<const T*> gamma, nd<const T*> beta,
                     nd<T> eps, T* y, nd<T*> mean = nullptr, nd<T*> rstd = nullptr) {
    detail::check_eps("layer_norm_rows", eps);
    detail::check_dim("layer_norm_rows", rows, dim);
    detail::check_pointer("layer_norm_rows", "x", x, rows);
    detail::check_pointer("layer_norm_rows", "y", y, rows);
    detail::with_affine(gamma, beta, [&]<bool G, bool B>() {
        detail::norm_rows<arch_for_t<T, Arch>, true, G, B>(detail::row_input<T>{x}, rows, dim,
                                                           {gamma, beta, eps, y, mean, rstd, false});
    });
}

// The entry for layers: layer_norm_rows on the default architecture with gamma and beta (both present), without
// the argument checks (a layer's parameters exist, its rows are planned, the Model validated eps). mean and rstd
// (rows) receive the statistics.
template <class T>
void layer_norm_rows_unchecked(const T* x, std::size_t rows, std::size_t dim, const T* gamma, const T* beta, T eps,
                               T* y, T* mean, T* rstd) {
    detail::norm_rows<arch_for_t<T, default_arch>, true, true, true>(detail::row_input<T>{x}, rows, dim,
                                                                     {gamma, beta, eps, y, mean, rstd, false});
}

}  // namespace lnfold::kernels
