#pragma once
// LayerNorm forward over rows.
//
//   x, y: (rows, dim) row-major, contiguous;  gamma, beta: (dim) or nullptr;  mean, rstd: (rows) or nullptr.
//   mean_r = Σ_i x_ri / dim
//   rstd_r = 1 / sqrt(Σ_i (x_ri - mean_r)² / dim + eps)          (biased variance, eps inside the sqrt)
//   y_ri   = (x_ri - mean_r) · rstd_r · gamma_i + beta_i          (gamma = nullptr: 1; beta = nullptr: 0)
//
// Passes over a row (it stays in L1 between them): (1) shifted sum Σ(x - x_0), mean = x_0 + Σ/dim, which keeps
// the sum small on rows far from zero (mean 1000, std 1); (2) centred sum of squares — never E[x²] - mean²;
// (3) the output. If the squares overflow on finite data (|x| ~ 1e30 in float), pass 2 is redone scaled by
// 1/max|x - mean|. A NaN or Inf in a row makes that row's output NaN and touches no other row.
// Rows go in groups (group_rows): passes 1 and 2 of a group's rows run interleaved, so that their reductions,
// divisions and square roots overlap, and pass 2 prefetches the next group into L1; pass 3 then writes the
// group's rows together, each vector of gamma and beta loaded once for all of them (group_map; with streaming
// stores the rows are written one after the other). Rows of 4 or 8 vectors exactly
// (and 12, 16, 24 on AVX-512) go through the row pipeline instead (row_pipeline.hpp: each row's statistics two
// rows ahead of its output, same arithmetic; see with_width; in float on AVX-512, 16 rows at a time as row blocks,
// row_blocks.hpp). A row's arithmetic never depends on its group, so
// the result is bit-identical for every thread count and every number of rows. Large outputs are written with
// streaming stores (streaming.hpp; same values). y may be x (in place).
#include <array>
#include <cstddef>
#include <type_traits>

#include "lnfold/core/parallel.hpp"
#include "lnfold/kernels/affine_output.hpp"
#include "lnfold/kernels/arch.hpp"
#include "lnfold/kernels/row_pipeline.hpp"
#include "lnfold/kernels/reduce.hpp"
#include "lnfold/kernels/streaming.hpp"

namespace lnfold::kernels {

namespace detail {

// Rows per group: 4 where there are 32 vector registers (AVX-512: 4 rows x 4 accumulators), 2 otherwise, while
// a group's rows fit in group_bytes of L1; wider rows go one at a time. The budgets: 16 KiB for RMSNorm and
// add + norm; for LayerNorm, whose three passes over the group gain more from keeping it in L1, rows of up to
// 8 KiB (AVX-512: groups of 32 KiB; 2 rows: 16 KiB). Larger groups gain nothing, and with 2 rows per group
// (SSE2) rows above 8 KiB lose (the measurements: docs/kernels.md, "Why the kernels are shaped as they are").
template <class Arch>
inline constexpr std::size_t max_group_rows = std::is_base_of_v<xsimd::avx512f, Arch> ? 4 : 2;

inline constexpr std::size_t default_group_bytes = 16384;
template <class Arch>
inline constexpr std::size_t layer_norm_group_bytes = max_group_rows<Arch> * 8192;

template <class T, class Arch>
constexpr std::size_t group_rows(std::size_t dim, std::size_t group_bytes) {
    return max_group_rows<Arch> * dim * sizeof(T) <= group_bytes ? max_group_rows<Arch> : 1;
}

// Calls f(n) with n = std::integral_constant<std::size_t, dim> when a row is a width the row pipeline
// (row_pipeline.hpp) is compiled for, else with n = dim. Those widths: 4 and 8 vectors, and with 32 vector
// registers (AVX-512) also 12, 16 and 24 (float: 64, 128, 192, 256, 384); the width known at compile time
// unrolls the row loops completely. Other widths take the grouped passes below, which are faster than the
// pipeline on wide rows: gamma and beta are loaded once per group (docs/kernels.md).
template <class T, class Arch, class F>
void with_width(std::size_t dim, F&& f) {
    constexpr std::size_t W = lanes_v<T, Arch>;
    if constexpr (has_simd_v<T, Arch>) {
        if (dim == 4 * W) return f(std::integral_constant<std::size_t, 4 * W>{});
        if (dim == 8 * W) return f(std::integral_constant<std::size_t, 8 * W>{});
        if constexpr (std::is_base_of_v<xsimd::avx512f, Arch>) {
            if (dim == 12 * W) return f(std::integral_constant<std::size_t, 12 * W>{});
            if (dim == 16 * W) return f(std::integral_constant<std::size_t, 16 * W>{});
            if (dim == 24 * W) return f(std::integral_constant<std::size_t, 24 * W>{});
        }
    }
    f(dim);
}

// Calls group.template operator()<R>(r, next) for the groups covering [0, rows): R rows starting at row r, and
// `next` = the first row of the following group in the same thread's range (r itself for the last one, so that
// prefetching it is harmless). Threads split rows (parallel_for_rows); each thread cuts its range into groups of
// group_rows(dim) and single rows for the rest. stream: the kernel writes with streaming stores, and each thread
// fences them when its range is done.
template <class T, class Arch, std::size_t GroupBytes = default_group_bytes, class Group>
void for_each_group(std::size_t rows, std::size_t dim, bool stream, Group&& group) {
    auto run = [&]<std::size_t R>() {
        parallel_for_rows(rows, dim, [&](std::size_t begin, std::size_t end) {
            std::size_t r = begin;
            for (; r + R <= end; r += R) group.template operator()<R>(r, r + 2 * R <= end ? r + R : r);
            for (; r < end; ++r) group.template operator()<1>(r, r + 1 < end ? r + 1 : r);
            if (stream) stream_fence();
        });
    };
    if (group_rows<T, Arch>(dim, GroupBytes) > 1) run.template operator()<max_group_rows<Arch>>();
    else run.template operator()<1>();
}

// Passes 2 and 3 of a group whose means are known (pass 1 was a shifted sum over x, or the fused add); rstd
// receives 1/std per row.
template <class Arch, bool HasGamma, bool HasBeta, class T, std::size_t R, class N>
LNFOLD_ALWAYS_INLINE void layer_norm_finish_group(N n, const row_ptrs<T, R>& x, const out_row_ptrs<T, R>& y, const row_ptrs<T, R>& next,
                             const T* gamma, const T* beta, T eps, const std::array<T, R>& mean,
                             std::array<T, R>& rstd, bool stream) {
    const std::array<T, R> ss = group_sum<Arch, (R > 1)>(
        n, x,
        [&](std::size_t j) {
            const T m = mean[j];
            return [=](auto acc, auto v) {
                const auto d = v - decltype(v)(m);
                return mul_add(d, d, acc);
            };
        },
        next);
    rstd = group_inverse_std<Arch>(ss, x, n, mean, eps);
    affine_output_rows<Arch, true, HasGamma, HasBeta>(n, x, y, mean, rstd, gamma, beta, stream);
}

// LayerNorm of one group of R rows; mean / rstd receive its statistics.
template <class Arch, bool HasGamma, bool HasBeta, class T, std::size_t R, class N>
LNFOLD_ALWAYS_INLINE void layer_norm_group(N n, const row_ptrs<T, R>& x, const out_row_ptrs<T, R>& y, const row_ptrs<T, R>& next,
                      const T* gamma, const T* beta, T eps, std::array<T, R>& mean, std::array<T, R>& rstd,
                      bool stream) {
    std::array<T, R> shift;
    for (std::size_t j = 0; j < R; ++j) shift[j] = x[j][0];
    const std::array<T, R> shifted = group_sum<Arch, false>(
        n, x,
        [&](std::size_t j) {
            const T s = shift[j];
            return [=](auto acc, auto v) { return acc + (v - decltype(v)(s)); };
        },
        next);
    mean = shifted_mean(shift, shifted, n);
    layer_norm_finish_group<Arch, HasGamma, HasBeta>(n, x, y, next, gamma, beta, eps, mean, rstd, stream);
}

// Stores a group's statistics (stat = nullptr: not kept).
template <class T, std::size_t R>
void store_stats(T* stat, std::size_t r, const std::array<T, R>& values) {
    if (stat)
        for (std::size_t j = 0; j < R; ++j) stat[r + j] = values[j];
}

// Calls f.template operator()<HasGamma, HasBeta>() for the runtime presence of gamma and beta.
template <class F>
void with_affine(const void* gamma, const void* beta, F&& f) {
    if (gamma && beta) f.template operator()<true, true>();
    else if (gamma) f.template operator()<true, false>();
    else if (beta) f.template operator()<false, true>();
    else f.template operator()<false, false>();
}

// layer_norm_rows with the presence of gamma / beta fixed at compile time and no argument checks: the layers call
// it (their parameters exist, their eps is validated), so that only the variant they use is compiled.
template <class Arch, bool HasGamma, bool HasBeta, class T>
void layer_norm_rows_with(const T* x, std::size_t rows, std::size_t dim, const T* gamma, const T* beta, T eps, T* y,
                          T* mean, T* rstd) {
    const bool stream = use_streaming<T>(rows, dim);
    with_width<T, Arch>(dim, [&](auto width) {
        if constexpr (is_fixed_width_v<decltype(width)>) {
            pipelined_layer_norm_rows<Arch, HasGamma, HasBeta>(width, x, rows, gamma, beta, eps, y, mean, rstd, stream);
        } else {
            constexpr std::size_t budget = layer_norm_group_bytes<Arch>;
            for_each_group<T, Arch, budget>(rows, width, stream, [&]<std::size_t R>(std::size_t r, std::size_t next) {
                std::array<T, R> m, s;
                layer_norm_group<Arch, HasGamma, HasBeta>(width, rows_at<R>(x, r, dim), rows_at<R>(y, r, dim),
                                                          rows_at<R>(x, next, dim), gamma, beta, eps, m, s, stream);
                store_stats(mean, r, m);
                store_stats(rstd, r, s);
            });
        }
    });
}

}  // namespace detail

// One row (dim = n >= 1) on architecture Arch (or its scalar path). mean / rstd receive the statistics.
// Bit-identical to the same row inside layer_norm_rows.
template <class Arch, class T>
void layer_norm_row(const T* x, std::size_t n, nd<const T*> gamma, nd<const T*> beta, nd<T> eps, T* y, T& mean,
                    T& rstd) {
    detail::check_eps("layer_norm_row", eps);
    using A = arch_for_t<T, Arch>;
    detail::with_affine(gamma, beta, [&]<bool G, bool B>() {
        detail::with_width<T, A>(n, [&](auto width) {
            if constexpr (detail::is_fixed_width_v<decltype(width)>) {
                detail::pipelined_layer_norm_rows<A, G, B>(width, x, 1, gamma, beta, eps, y, &mean, &rstd, false);
            } else {
                std::array<T, 1> m, s;
                detail::layer_norm_group<A, G, B>(width, detail::row_ptrs<T, 1>{x}, detail::out_row_ptrs<T, 1>{y},
                                                  detail::row_ptrs<T, 1>{x}, gamma, beta, eps, m, s, false);
                mean = m[0];
                rstd = s[0];
            }
        });
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
        detail::layer_norm_rows_with<arch_for_t<T, Arch>, G, B>(x, rows, dim, gamma, beta, eps, y, mean, rstd);
    });
}

// The entry for layers: layer_norm_rows on the default architecture with gamma and beta (both present), without
// the argument checks (a layer's parameters exist, its rows are planned, the Model validated eps). mean and rstd
// (rows) receive the statistics.
template <class T>
void layer_norm_rows_unchecked(const T* x, std::size_t rows, std::size_t dim, const T* gamma, const T* beta, T eps,
                               T* y, T* mean, T* rstd) {
    detail::layer_norm_rows_with<arch_for_t<T, default_arch>, true, true>(x, rows, dim, gamma, beta, eps, y, mean,
                                                                          rstd);
}

}  // namespace lnfold::kernels
