#pragma once
// RMSNorm forward over rows, with or without bias.
//
//   x, y: (rows, dim) row-major, contiguous;  gamma, beta: (dim) or nullptr;  rrms: (rows) or nullptr.
//   rrms_r = 1 / sqrt(Σ_i x_ri² / dim + eps)
//   y_ri   = x_ri · rrms_r · gamma_i + beta_i        (gamma = nullptr: 1; beta = nullptr: no bias)
//
// Two passes over a row: (1) sum of squares, (2) the output. Squares that overflow on finite data are redone
// scaled by 1/max|x|. NaN or Inf in a row gives NaN in that row only. Rows go in groups as in layer_norm.hpp
// (pass 1 of a group's rows interleaved, then the group's outputs written together, sharing the loads of gamma and
// beta; no prefetch, see rms_norm_group); bit-identical for every thread count and number of rows; y may be x
// (in place).
#include <array>
#include <cstddef>

#include "lnfold/core/parallel.hpp"
#include "lnfold/kernels/arch.hpp"
#include "lnfold/kernels/layer_norm.hpp"  // the group driver
#include "lnfold/kernels/reduce.hpp"

namespace lnfold::kernels {

namespace detail {

// Pass 2 of a group whose sums of squares are known; returns 1/rms per row.
template <class Arch, bool HasGamma, bool HasBeta, class T, std::size_t R, class N>
LNFOLD_ALWAYS_INLINE std::array<T, R> rms_norm_finish_group(N n, const row_ptrs<T, R>& x, const out_row_ptrs<T, R>& y,
                                       const std::array<T, R>& ss, const T* gamma, const T* beta, T eps,
                                       bool stream) {
    const std::array<T, R> rrms = group_inverse_std<Arch>(ss, x, n, std::array<T, R>{}, eps);
    // Centre = false: y = x rrms gamma + beta (a centring by mean 0 would spend a subtraction per element)
    affine_output_rows<Arch, false, HasGamma, HasBeta>(n, x, y, std::array<T, R>{}, rrms, gamma, beta, stream);
    return rrms;
}

// RMSNorm of one group of R rows; returns 1/rms per row. (No prefetch: pass 1 is the only pass that reads x, so
// the group is read from where it is, as copy reads it. Nor are the output rows prefetched for writing during
// pass 1: that is slower, docs/kernels.md "Tried and not kept".)
template <class Arch, bool HasGamma, bool HasBeta, class T, std::size_t R, class N>
LNFOLD_ALWAYS_INLINE std::array<T, R> rms_norm_group(N n, const row_ptrs<T, R>& x, const out_row_ptrs<T, R>& y, const row_ptrs<T, R>& next,
                                const T* gamma, const T* beta, T eps, bool stream) {
    const std::array<T, R> ss =
        group_sum<Arch, false>(n, x, [](std::size_t) { return [](auto acc, auto v) { return mul_add(v, v, acc); }; }, next);
    return rms_norm_finish_group<Arch, HasGamma, HasBeta>(n, x, y, ss, gamma, beta, eps, stream);
}

// rms_norm_rows with the presence of gamma / beta fixed at compile time and no argument checks (for the layers,
// as layer_norm_rows_with).
template <class Arch, bool HasGamma, bool HasBeta, class T>
void rms_norm_rows_with(const T* x, std::size_t rows, std::size_t dim, const T* gamma, const T* beta, T eps, T* y,
                        T* rrms) {
    const bool stream = use_streaming<T>(rows, dim);
    with_width<T, Arch>(dim, [&](auto width) {
        if constexpr (is_fixed_width_v<decltype(width)>) {
            pipelined_rms_norm_rows<Arch, HasGamma, HasBeta>(width, x, rows, gamma, beta, eps, y, rrms, stream);
        } else {
            for_each_group<T, Arch>(rows, width, stream, [&]<std::size_t R>(std::size_t r, std::size_t next) {
                const std::array<T, R> s = rms_norm_group<Arch, HasGamma, HasBeta>(
                    width, rows_at<R>(x, r, dim), rows_at<R>(y, r, dim), rows_at<R>(x, next, dim), gamma, beta, eps,
                    stream);
                store_stats(rrms, r, s);
            });
        }
    });
}

}  // namespace detail

// One row (n >= 1) on Arch (or its scalar path); returns 1/rms. Bit-identical to the same row in rms_norm_rows.
template <class Arch, class T>
T rms_norm_row(const T* x, std::size_t n, nd<const T*> gamma, nd<const T*> beta, nd<T> eps, T* y) {
    detail::check_eps("rms_norm_row", eps);
    using A = arch_for_t<T, Arch>;
    T rrms = T(0);
    detail::with_affine(gamma, beta, [&]<bool G, bool B>() {
        detail::with_width<T, A>(n, [&](auto width) {
            if constexpr (detail::is_fixed_width_v<decltype(width)>)
                detail::pipelined_rms_norm_rows<A, G, B>(width, x, 1, gamma, beta, eps, y, &rrms, false);
            else
                rrms = detail::rms_norm_group<A, G, B>(width, detail::row_ptrs<T, 1>{x}, detail::out_row_ptrs<T, 1>{y},
                                                       detail::row_ptrs<T, 1>{x}, gamma, beta, eps, false)[0];
        });
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
        detail::rms_norm_rows_with<arch_for_t<T, Arch>, G, B>(x, rows, dim, gamma, beta, eps, y, rrms);
    });
}

// The entry for layers: rms_norm_rows on the default architecture with gamma, and beta when HasBeta, without the
// argument checks (as layer_norm_rows_unchecked). rrms (rows) receives 1/rms.
template <bool HasBeta, class T>
void rms_norm_rows_unchecked(const T* x, std::size_t rows, std::size_t dim, const T* gamma, const T* beta, T eps, T* y,
                             T* rrms) {
    detail::rms_norm_rows_with<arch_for_t<T, default_arch>, true, HasBeta>(x, rows, dim, gamma, beta, eps, y, rrms);
}

}  // namespace lnfold::kernels
