#pragma once
// LayerNorm forward over rows.
//
//   x, y: (rows, dim) row-major, contiguous;  gamma, beta: (dim) or nullptr;  mean, rstd: (rows) or nullptr.
//   mean_r = Σ_i x_ri / dim
//   rstd_r = 1 / sqrt(Σ_i (x_ri - mean_r)² / dim + eps)          (biased variance, eps inside the sqrt)
//   y_ri   = (x_ri - mean_r) · rstd_r · gamma_i + beta_i          (gamma = nullptr: 1; beta = nullptr: 0)
//
// Passes over a row (it stays in L1/L2 between them): (1) shifted sum Σ(x - x_0), mean = x_0 + Σ/dim, which keeps
// the sum small on rows far from zero (mean 1000, std 1); (2) centred sum of squares — never E[x²] - mean²;
// (3) the output. If the squares overflow on finite data (|x| ~ 1e30 in float), pass 2 is redone scaled by
// 1/max|x - mean|. A NaN or Inf in a row makes that row's output NaN and touches no other row.
// Rows are split over threads (parallel_for_rows); each row is computed by one thread in a fixed order, so the
// result is bit-identical for every thread count. y may be x (in place).
#include <cstddef>

#include "lnfold/core/parallel.hpp"
#include "lnfold/kernels/arch.hpp"
#include "lnfold/kernels/reduce.hpp"

namespace lnfold::kernels {

namespace detail {

// mean and 1/std of one row (passes 1 and 2).
template <class Arch, class T>
void layer_norm_stats(const T* x, std::size_t n, T eps, T& mean, T& rstd) {
    const T shift = x[0];
    const T shifted = row_sum<Arch, T>(
        n, [=](auto v) { return v - decltype(v)(shift); }, x);
    mean = shift + shifted / T(n);
    const T m = mean;
    const T ss = row_sum<Arch, T>(
        n,
        [=](auto v) {
            const auto d = v - decltype(v)(m);
            return d * d;
        },
        x);
    rstd = inverse_std<Arch, T>(ss, x, n, mean, eps);
}

// Pass 3: y = (x - mean) rstd gamma + beta, with gamma / beta present or not (chosen at compile time).
template <class Arch, bool HasGamma, bool HasBeta, class T>
void normalise_row(const T* x, std::size_t n, T mean, T rstd, const T* gamma, const T* beta, T* y) {
    if constexpr (HasGamma && HasBeta)
        row_map<Arch>(
            n, y, [=](auto v, auto g, auto b) { using V = decltype(v); return (v - V(mean)) * V(rstd) * g + b; }, x,
            gamma, beta);
    else if constexpr (HasGamma)
        row_map<Arch>(
            n, y, [=](auto v, auto g) { using V = decltype(v); return (v - V(mean)) * V(rstd) * g; }, x, gamma);
    else if constexpr (HasBeta)
        row_map<Arch>(
            n, y, [=](auto v, auto b) { using V = decltype(v); return (v - V(mean)) * V(rstd) + b; }, x, beta);
    else
        row_map<Arch>(
            n, y, [=](auto v) { using V = decltype(v); return (v - V(mean)) * V(rstd); }, x);
}

// Calls f.template operator()<HasGamma, HasBeta>() for the runtime presence of gamma and beta.
template <class F>
void with_affine(const void* gamma, const void* beta, F&& f) {
    if (gamma && beta) f.template operator()<true, true>();
    else if (gamma) f.template operator()<true, false>();
    else if (beta) f.template operator()<false, true>();
    else f.template operator()<false, false>();
}

}  // namespace detail

// One row (dim = n >= 1) on architecture Arch (or its scalar path). mean / rstd receive the statistics.
template <class Arch, class T>
void layer_norm_row(const T* x, std::size_t n, nd<const T*> gamma, nd<const T*> beta, nd<T> eps, T* y, T& mean,
                    T& rstd) {
    detail::check_eps("layer_norm_row", eps);
    using A = arch_for_t<T, Arch>;
    detail::layer_norm_stats<A>(x, n, eps, mean, rstd);
    detail::with_affine(gamma, beta, [&]<bool G, bool B>() {
        detail::normalise_row<A, G, B>(x, n, mean, rstd, gamma, beta, y);
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
    using A = arch_for_t<T, Arch>;
    detail::with_affine(gamma, beta, [&]<bool G, bool B>() {
        parallel_for_rows(rows, dim, [&](std::size_t begin, std::size_t end) {
            for (std::size_t r = begin; r < end; ++r) {
                const T* xr = x + r * dim;
                T m, s;
                detail::layer_norm_stats<A>(xr, dim, eps, m, s);
                detail::normalise_row<A, G, B>(xr, dim, m, s, gamma, beta, y + r * dim);
                if (mean) mean[r] = m;
                if (rstd) rstd[r] = s;
            }
        });
    });
}

}  // namespace lnfold::kernels
