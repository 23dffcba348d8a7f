#pragma once
// Fused residual add + LayerNorm / RMSNorm over rows: the sum is written and normalised with one read of a and
// b from memory (the sum row is then re-read from cache).
//
//   a, b, sum, y: (rows, dim) row-major, contiguous;  gamma, beta: (dim) or nullptr;  stats: (rows) or nullptr.
//   sum_ri = a_ri + b_ri
//   add_layer_norm_rows: y = LayerNorm(sum) as layer_norm_rows (mean, rstd saved)
//   add_rms_norm_rows:   y = RMSNorm(sum) as rms_norm_rows (rrms saved)
//
// LayerNorm passes: (1) sum = a + b stored while Σ(sum - sum_0) accumulates, (2) centred squares of sum,
// (3) output. RMSNorm: (1) sum stored while Σ sum² accumulates, (2) output. Pass 1 accumulates in the order of
// the unfused kernels' first pass and the other passes are theirs, so y and the statistics are bit-identical to
// layer_norm_rows / rms_norm_rows on the stored sum (and for every thread count). sum may be a or b (the in-place
// residual stream x += branch(x)); y may be sum. Rows go in groups as in layer_norm.hpp.
#include <array>
#include <cstddef>

#include "lnfold/core/parallel.hpp"
#include "lnfold/kernels/arch.hpp"
#include "lnfold/kernels/layer_norm.hpp"
#include "lnfold/kernels/reduce.hpp"
#include "lnfold/kernels/rms_norm.hpp"

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

namespace detail {

// add_layer_norm_rows / add_rms_norm_rows with the presence of gamma / beta fixed at compile time and no argument
// checks (for the layers, as layer_norm_rows_with).
template <class Arch, bool HasGamma, bool HasBeta, class T>
void add_layer_norm_rows_with(const T* a, const T* b, std::size_t rows, std::size_t dim, const T* gamma,
                              const T* beta, T eps, T* sum, T* y, T* mean, T* rstd) {
    const bool stream = use_streaming<T>(rows, dim);  // y only: sum is re-read by the later passes
    with_width<T, Arch>(dim, [&](auto width) {
        if constexpr (is_fixed_width_v<decltype(width)>) {
            pipelined_add_layer_norm_rows<Arch, HasGamma, HasBeta>(width, a, b, rows, gamma, beta, eps, sum, y, mean,
                                                                   rstd, stream);
        } else {
            for_each_group<T, Arch>(rows, width, stream, [&]<std::size_t R>(std::size_t r, std::size_t next) {
                const auto ar = rows_at<R>(a, r, dim);
                const auto br = rows_at<R>(b, r, dim);
                std::array<T, R> shift;
                for (std::size_t j = 0; j < R; ++j) shift[j] = ar[j][0] + br[j][0];
                const std::array<T, R> shifted =
                    group_add_sum<Arch>(width, ar, br, rows_at<R>(sum, r, dim), [&](std::size_t j) {
                        const T s = shift[j];
                        return [=](auto acc, auto v) { return acc + (v - decltype(v)(s)); };
                    });
                const std::array<T, R> m = shifted_mean(shift, shifted, dim);
                std::array<T, R> s;
                // pass 2 prefetches the next group's a rows (b is the branch output just computed, in cache)
                layer_norm_finish_group<Arch, HasGamma, HasBeta>(width, rows_at<R>(static_cast<const T*>(sum), r, dim),
                                                                 rows_at<R>(y, r, dim), rows_at<R>(a, next, dim),
                                                                 gamma, beta, eps, m, s, stream);
                store_stats(mean, r, m);
                store_stats(rstd, r, s);
            });
        }
    });
}

template <class Arch, bool HasGamma, bool HasBeta, class T>
void add_rms_norm_rows_with(const T* a, const T* b, std::size_t rows, std::size_t dim, const T* gamma, const T* beta,
                            T eps, T* sum, T* y, T* rrms) {
    const bool stream = use_streaming<T>(rows, dim);  // y only, as above
    with_width<T, Arch>(dim, [&](auto width) {
        if constexpr (is_fixed_width_v<decltype(width)>) {
            pipelined_add_rms_norm_rows<Arch, HasGamma, HasBeta>(width, a, b, rows, gamma, beta, eps, sum, y, rrms,
                                                                 stream);
        } else {
            for_each_group<T, Arch>(rows, width, stream, [&]<std::size_t R>(std::size_t r, std::size_t) {
                const std::array<T, R> ss = group_add_sum<Arch>(
                    width, rows_at<R>(a, r, dim), rows_at<R>(b, r, dim), rows_at<R>(sum, r, dim),
                    [](std::size_t) { return [](auto acc, auto v) { return mul_add(v, v, acc); }; });
                const std::array<T, R> s = rms_norm_finish_group<Arch, HasGamma, HasBeta>(
                    width, rows_at<R>(static_cast<const T*>(sum), r, dim), rows_at<R>(y, r, dim), ss, gamma, beta, eps,
                    stream);
                store_stats(rrms, r, s);
            });
        }
    });
}

}  // namespace detail

template <class Arch = default_arch, class T>
void add_layer_norm_rows(const T* a, const T* b, std::size_t rows, std::size_t dim, nd<const T*> gamma,
                         nd<const T*> beta, nd<T> eps, T* sum, T* y, nd<T*> mean = nullptr, nd<T*> rstd = nullptr) {
    detail::check_add_norm<T>("add_layer_norm_rows", a, b, rows, dim, eps, sum, y);
    detail::with_affine(gamma, beta, [&]<bool G, bool B>() {
        detail::add_layer_norm_rows_with<arch_for_t<T, Arch>, G, B>(a, b, rows, dim, gamma, beta, eps, sum, y, mean,
                                                                    rstd);
    });
}

template <class Arch = default_arch, class T>
void add_rms_norm_rows(const T* a, const T* b, std::size_t rows, std::size_t dim, nd<const T*> gamma,
                       nd<const T*> beta, nd<T> eps, T* sum, T* y, nd<T*> rrms = nullptr) {
    detail::check_add_norm<T>("add_rms_norm_rows", a, b, rows, dim, eps, sum, y);
    detail::with_affine(gamma, beta, [&]<bool G, bool B>() {
        detail::add_rms_norm_rows_with<arch_for_t<T, Arch>, G, B>(a, b, rows, dim, gamma, beta, eps, sum, y, rrms);
    });
}

// The entries for layers (the norms computing the residual sum they read): add_layer_norm_rows with gamma and
// beta, add_rms_norm_rows with gamma and (HasBeta) beta, on the default architecture, without the argument checks
// (as layer_norm_rows_unchecked).
template <class T>
void add_layer_norm_rows_unchecked(const T* a, const T* b, std::size_t rows, std::size_t dim, const T* gamma,
                                   const T* beta, T eps, T* sum, T* y, T* mean, T* rstd) {
    detail::add_layer_norm_rows_with<arch_for_t<T, default_arch>, true, true>(a, b, rows, dim, gamma, beta, eps, sum,
                                                                              y, mean, rstd);
}
template <bool HasBeta, class T>
void add_rms_norm_rows_unchecked(const T* a, const T* b, std::size_t rows, std::size_t dim, const T* gamma,
                                 const T* beta, T eps, T* sum, T* y, T* rrms) {
    detail::add_rms_norm_rows_with<arch_for_t<T, default_arch>, true, HasBeta>(a, b, rows, dim, gamma, beta, eps, sum,
                                                                               y, rrms);
}

}  // namespace lnfold::kernels
