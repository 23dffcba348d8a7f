#pragma once
// The maths of the forward norms, defined once as per-row steps; every schedule (row_groups.hpp, the default, and
// row_pipeline.hpp) is built from these and nothing else, so a row gets the same arithmetic, bit for bit,
// whichever schedule runs it.
//
//   LayerNorm:  mean = x_0 + Σ_i (x_i - x_0) / n                    shifted_sum(x_0), mean_from_shifted
//               rstd = 1 / sqrt(Σ_i (x_i - mean)² / n + eps)        centred_squares(mean), inverse_std
//               y_i  = (x_i - mean) · rstd · gamma_i + beta_i        affine_output<true, ...>(mean, rstd)
//   RMSNorm:    rrms = 1 / sqrt(Σ_i x_i² / n + eps)                 squares(), inverse_std
//               y_i  = x_i · rrms · gamma_i + beta_i                 affine_output<false, ...>(0, rrms)
//
// Why these forms: the shifted sum keeps the mean's sum small on rows far from zero (mean 1000, std 1); the
// variance is a centred sum of squares, never E[x²] - mean²; eps is inside the square root (biased variance, as
// PyTorch); the square root and division are exact IEEE operations (no approximate rsqrt). If the squares overflow
// on finite data (|x| ~ 1e30 in float), inverse_std redoes that row scaled by 1/max|x - c|. A NaN or Inf in a row
// gives NaN in that row only.
//
// The accumulation steps are generic lambdas acc = step(acc, v), called with xsimd batches in the vector body
// and with scalars (accumulator double for float) in the tail; reduce.hpp's group_sum / group_add_sum run them.
#include <array>
#include <cmath>
#include <cstddef>
#include <limits>

#include "lnfold/kernels/arch.hpp"
#include "lnfold/kernels/reduce.hpp"

namespace lnfold::kernels::detail {

// acc + (v - shift): the mean's sum, shifted by the row's first element.
template <class T>
LNFOLD_ALWAYS_INLINE auto shifted_sum(T shift) {
    return [=](auto acc, auto v) LNFOLD_ALWAYS_INLINE_LAMBDA { return acc + (v - decltype(v)(shift)); };
}

// acc + (v - mean)²: the variance's sum around the mean.
template <class T>
LNFOLD_ALWAYS_INLINE auto centred_squares(T mean) {
    return [=](auto acc, auto v) LNFOLD_ALWAYS_INLINE_LAMBDA {
        const auto d = v - decltype(v)(mean);
        return mul_add(d, d, acc);
    };
}

// acc + v²: RMSNorm's sum.
LNFOLD_ALWAYS_INLINE auto squares() {
    return [](auto acc, auto v) LNFOLD_ALWAYS_INLINE_LAMBDA { return mul_add(v, v, acc); };
}

// mean = shift + shifted / n.
template <class T>
LNFOLD_ALWAYS_INLINE T mean_from_shifted(T shift, T shifted, std::size_t n) {
    return shift + shifted / T(n);
}

// max_i |x[i] - c| (NaN if any is NaN): only for the rare rescaled path, so scalar.
template <class T>
T max_abs_deviation(const T* x, std::size_t n, T c) {
    T m = T(0);
    for (std::size_t i = 0; i < n; ++i) {
        const T d = x[i] - c;
        const T a = d < T(0) ? -d : d;
        if (!(a <= m)) m = a;  // keeps NaN once seen
    }
    return m;
}

// 1/sqrt(Σ(x - c)²/n + eps) when Σ(x - c)² overflowed although every x is finite:
// with s = 1/max|x - c|,  rstd = s / sqrt(Σ((x - c) s)²/n + eps s²).
template <class Arch, class T>
T inverse_std_rescaled(const T* x, std::size_t n, T c, T eps) {
    const T s = T(1) / max_abs_deviation(x, n, c);
    const row_ptrs<T, 1> row{x};
    const T ss = group_sum<Arch, false>(
        n, row,
        [=](std::size_t) LNFOLD_ALWAYS_INLINE_LAMBDA {
            return [=](auto acc, auto v) LNFOLD_ALWAYS_INLINE_LAMBDA {
                using V = decltype(v);
                const V d = (v - V(c)) * V(s);
                return mul_add(d, d, acc);
            };
        },
        row)[0];
    return s / std::sqrt(mul_add(eps * s, s, ss / T(n)));
}

// 1/sqrt(ss/n + eps) of a row x whose (centred at c: the mean, or 0) sum of squares is ss; ss = +inf means the
// squares overflowed on finite data, and the row is redone rescaled. NaN stays NaN.
template <class Arch, class T>
LNFOLD_ALWAYS_INLINE T inverse_std(T ss, const T* x, std::size_t n, T c, T eps) {
    if (ss == std::numeric_limits<T>::infinity()) [[unlikely]]
        return inverse_std_rescaled<Arch, T>(x, n, c, eps);
    return T(1) / std::sqrt(ss / T(n) + eps);
}

// The output expression y = c · r · gamma + beta of LayerNorm (Centre: c = x - mean, r = rstd) and of RMSNorm
// (c = x, r = rrms), for one row, called as f(v, g, b), f(v, g), f(v, b) or f(v) as gamma / beta are present
// (compile time):
//   gamma, beta: mul_add(c · r, gamma, beta);   gamma only: c · r · gamma;   beta only: mul_add(c, r, beta);
//   neither: c · r.
template <bool Centre, bool HasGamma, bool HasBeta, class T>
LNFOLD_ALWAYS_INLINE auto affine_output(T mean, T r) {
    const auto centred = [=](auto v) LNFOLD_ALWAYS_INLINE_LAMBDA {
        using V = decltype(v);
        if constexpr (Centre) return v - V(mean);
        else return v;
    };
    if constexpr (HasGamma && HasBeta)
        return [=](auto v, auto g, auto b) LNFOLD_ALWAYS_INLINE_LAMBDA {
            using V = decltype(v);
            return mul_add(centred(v) * V(r), g, b);
        };
    else if constexpr (HasGamma)
        return [=](auto v, auto g) LNFOLD_ALWAYS_INLINE_LAMBDA { using V = decltype(v); return centred(v) * V(r) * g; };
    else if constexpr (HasBeta)
        return [=](auto v, auto b) LNFOLD_ALWAYS_INLINE_LAMBDA {
            using V = decltype(v);
            return mul_add(centred(v), V(r), b);
        };
    else
        return [=](auto v) LNFOLD_ALWAYS_INLINE_LAMBDA { using V = decltype(v); return centred(v) * V(r); };
}

// Calls f(p...) with p the present ones of the rows gamma, beta (the arguments affine_output's expression takes
// after x).
template <bool HasGamma, bool HasBeta, class T, class F>
LNFOLD_ALWAYS_INLINE void with_affine_args(const T* gamma, const T* beta, F&& f) {
    if constexpr (HasGamma && HasBeta) f(gamma, beta);
    else if constexpr (HasGamma) f(gamma);
    else if constexpr (HasBeta) f(beta);
    else f();
}

}  // namespace lnfold::kernels::detail
