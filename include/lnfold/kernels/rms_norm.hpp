#pragma once
// RMSNorm forward over rows, with or without bias.
//
//   x, y: (rows, dim) row-major, contiguous;  gamma, beta: (dim) or nullptr;  rrms: (rows) or nullptr.
//   rrms_r = 1 / sqrt(Σ_i x_ri² / dim + eps)
//   y_ri   = x_ri · rrms_r · gamma_i + beta_i        (gamma = nullptr: 1; beta = nullptr: no bias)
//
// Two passes over a row: (1) sum of squares, (2) the output. Squares that overflow on finite data are redone
// scaled by 1/max|x|. NaN or Inf in a row gives NaN in that row only. Bit-identical for every thread count;
// y may be x (in place).
#include <cstddef>

#include "lnfold/core/parallel.hpp"
#include "lnfold/kernels/arch.hpp"
#include "lnfold/kernels/layer_norm.hpp"  // detail::normalise_row, detail::with_affine
#include "lnfold/kernels/reduce.hpp"

namespace lnfold::kernels {

namespace detail {

template <class Arch, class T>
T rms_norm_stat(const T* x, std::size_t n, T eps) {
    const T ss = row_sum<Arch, T>(n, [](auto v) { return v * v; }, x);
    return inverse_std<Arch, T>(ss, x, n, T(0), eps);
}

// y = x rrms gamma + beta (normalise_row with mean 0 would spend a subtraction per element).
template <class Arch, bool HasGamma, bool HasBeta, class T>
void scale_row(const T* x, std::size_t n, T rrms, const T* gamma, const T* beta, T* y) {
    if constexpr (HasGamma && HasBeta)
        row_map<Arch>(
            n, y, [=](auto v, auto g, auto b) { using V = decltype(v); return v * V(rrms) * g + b; }, x, gamma,
            beta);
    else if constexpr (HasGamma)
        row_map<Arch>(
            n, y, [=](auto v, auto g) { using V = decltype(v); return v * V(rrms) * g; }, x, gamma);
    else if constexpr (HasBeta)
        row_map<Arch>(
            n, y, [=](auto v, auto b) { using V = decltype(v); return v * V(rrms) + b; }, x, beta);
    else
        row_map<Arch>(
            n, y, [=](auto v) { using V = decltype(v); return v * V(rrms); }, x);
}

}  // namespace detail

// One row (n >= 1) on Arch (or its scalar path); returns 1/rms.
template <class Arch, class T>
T rms_norm_row(const T* x, std::size_t n, nd<const T*> gamma, nd<const T*> beta, nd<T> eps, T* y) {
    detail::check_eps("rms_norm_row", eps);
    using A = arch_for_t<T, Arch>;
    const T rrms = detail::rms_norm_stat<A>(x, n, eps);
    detail::with_affine(gamma, beta, [&]<bool G, bool B>() {
        detail::scale_row<A, G, B>(x, n, rrms, gamma, beta, y);
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
    using A = arch_for_t<T, Arch>;
    detail::with_affine(gamma, beta, [&]<bool G, bool B>() {
        parallel_for_rows(rows, dim, [&](std::size_t begin, std::size_t end) {
            for (std::size_t r = begin; r < end; ++r) {
                const T* xr = x + r * dim;
                const T s = detail::rms_norm_stat<A>(xr, dim, eps);
                detail::scale_row<A, G, B>(xr, dim, s, gamma, beta, y + r * dim);
                if (rrms) rrms[r] = s;
            }
        });
    });
}

}  // namespace lnfold::kernels
