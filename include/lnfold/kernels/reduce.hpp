#pragma once
// Row primitives every norm kernel is built from, in the style of xsimd's docs (test/doc/sum.hpp): one template
// over the architecture, a vector body, a scalar tail.
//
//   row_sum<Arch>(n, f, p...)            Σ_i f(p[i]...)                    (reads each p once)
//   row_map<Arch>(n, out, f, p...)       out[i] = f(p[i]...)               (reads each p, writes out)
//   row_map_sum<Arch>(n, out, f, g, p...) out[i] = f(p[i]...); returns Σ_i g(out[i])   (one pass)
//
// f and g are generic lambdas called with xsimd::batch<T, Arch> values in the vector body and with T in the
// scalar tail, so one expression serves both (use `using V = decltype(v); V(c)` to broadcast a constant).
// Sums use four vector accumulators (independent add chains, and a partly pairwise order), combined as
// (a0 + a1) + (a2 + a3), reduced with xsimd::hadd, then the scalar tail is added. Pointers need no alignment
// (load_unaligned / store_unaligned); any n >= 0 works, including n < lanes. `out` may be one of the inputs
// exactly (same pointer), never a partly overlapping range.
#include <cmath>
#include <cstddef>
#include <limits>
#include <type_traits>

#include <xsimd/xsimd.hpp>

#include "lnfold/kernels/arch.hpp"

namespace lnfold::kernels::detail {

// Loads one V (a batch or a scalar) from p; store_v stores one. Unaligned. (Always called qualified: an
// unqualified store(p, batch) would find xsimd::store by ADL, which is the aligned store.)
template <class V, class T>
inline V load_v(const T* p) {
    if constexpr (std::is_same_v<V, T>) return *p;
    else return V::load_unaligned(p);
}

template <class T, class V>
inline void store_v(T* p, const V& v) {
    if constexpr (std::is_same_v<V, T>) *p = v;
    else v.store_unaligned(p);
}

// Horizontal sum of one batch (xsimd::hadd). GCC 12 warns, wrongly, about an uninitialized value inside its
// own AVX-512 intrinsics (_mm256_undefined_pd in _mm512_extractf64x4_pd) once hadd is inlined; the pragma keeps
// that false positive out of users' -Wall builds.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
template <class T, class Arch>
inline T hsum(const xsimd::batch<T, Arch>& b) {
    return xsimd::hadd(b);
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

// The scalar path's accumulator: double for float (free on scalar code, and it keeps the scalar path of float
// as accurate as the vector path with its many lanes), T otherwise.
template <class T>
using scalar_acc_t = std::conditional_t<(sizeof(T) < sizeof(double)), double, T>;

// Σ_i f(p[i]...) over [0, n).
template <class Arch, class T, class F, class... P>
T row_sum(std::size_t n, F&& f, const P*... p) {
    std::size_t i = 0;
    T total = T(0);
    if constexpr (has_simd_v<T, Arch>) {
        using B = xsimd::batch<T, Arch>;
        constexpr std::size_t W = B::size;
        B a0(T(0)), a1(T(0)), a2(T(0)), a3(T(0));
        for (; i + 4 * W <= n; i += 4 * W) {
            a0 += f(detail::load_v<B>(p + i)...);
            a1 += f(detail::load_v<B>(p + i + W)...);
            a2 += f(detail::load_v<B>(p + i + 2 * W)...);
            a3 += f(detail::load_v<B>(p + i + 3 * W)...);
        }
        for (; i + W <= n; i += W) a0 += f(detail::load_v<B>(p + i)...);
        total = detail::hsum((a0 + a1) + (a2 + a3));
    }
    using S = scalar_acc_t<T>;
    S t0 = S(0), t1 = S(0);  // scalar tail (the whole row on the scalar path): two chains
    for (; i + 2 <= n; i += 2) {
        t0 += f(p[i]...);
        t1 += f(p[i + 1]...);
    }
    if (i < n) t0 += f(p[i]...);
    return total + static_cast<T>(t0 + t1);
}

// out[i] = f(p[i]...) over [0, n).
template <class Arch, class T, class F, class... P>
void row_map(std::size_t n, T* out, F&& f, const P*... p) {
    std::size_t i = 0;
    if constexpr (has_simd_v<T, Arch>) {
        using B = xsimd::batch<T, Arch>;
        constexpr std::size_t W = B::size;
        for (; i + 2 * W <= n; i += 2 * W) {
            const B r0 = f(detail::load_v<B>(p + i)...);
            const B r1 = f(detail::load_v<B>(p + i + W)...);
            detail::store_v(out + i, r0);
            detail::store_v(out + i + W, r1);
        }
        for (; i + W <= n; i += W) detail::store_v(out + i, B(f(detail::load_v<B>(p + i)...)));
    }
    for (; i < n; ++i) out[i] = f(p[i]...);
}

// out[i] = f(p[i]...), and returns Σ_i g(out[i]), in one pass (the fused residual add).
template <class Arch, class T, class F, class G, class... P>
T row_map_sum(std::size_t n, T* out, F&& f, G&& g, const P*... p) {
    std::size_t i = 0;
    T total = T(0);
    if constexpr (has_simd_v<T, Arch>) {
        using B = xsimd::batch<T, Arch>;
        constexpr std::size_t W = B::size;
        B a0(T(0)), a1(T(0)), a2(T(0)), a3(T(0));
        for (; i + 4 * W <= n; i += 4 * W) {
            const B r0 = f(detail::load_v<B>(p + i)...);
            const B r1 = f(detail::load_v<B>(p + i + W)...);
            const B r2 = f(detail::load_v<B>(p + i + 2 * W)...);
            const B r3 = f(detail::load_v<B>(p + i + 3 * W)...);
            detail::store_v(out + i, r0);
            detail::store_v(out + i + W, r1);
            detail::store_v(out + i + 2 * W, r2);
            detail::store_v(out + i + 3 * W, r3);
            a0 += g(r0);
            a1 += g(r1);
            a2 += g(r2);
            a3 += g(r3);
        }
        for (; i + W <= n; i += W) {
            const B r = f(detail::load_v<B>(p + i)...);
            detail::store_v(out + i, r);
            a0 += g(r);
        }
        total = detail::hsum((a0 + a1) + (a2 + a3));
    }
    using S = scalar_acc_t<T>;
    S t0 = S(0), t1 = S(0);
    for (; i + 2 <= n; i += 2) {
        const T r0 = f(p[i]...), r1 = f(p[i + 1]...);
        out[i] = r0;
        out[i + 1] = r1;
        t0 += g(r0);
        t1 += g(r1);
    }
    if (i < n) {
        const T r = f(p[i]...);
        out[i] = r;
        t0 += g(r);
    }
    return total + static_cast<T>(t0 + t1);
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

// 1/sqrt(Σ(x - c)²/n + eps) when Σ(x - c)² overflowed although every x is finite (|x| ~ 1e30 in float):
// with s = 1/max|x - c|,  rstd = s / sqrt(Σ((x - c) s)²/n + eps s²).
template <class Arch, class T>
T rstd_rescaled(const T* x, std::size_t n, T c, T eps) {
    const T m = max_abs_deviation(x, n, c);
    const T s = T(1) / m;
    const T ss = row_sum<Arch, T>(
        n,
        [=](auto v) {
            using V = decltype(v);
            const V d = (v - V(c)) * V(s);
            return d * d;
        },
        x);
    return s / std::sqrt(ss / T(n) + eps * s * s);
}

// 1/sqrt(ss/n + eps) computed once per row with std::sqrt (no approximate rsqrt); ss = +inf means the squares
// overflowed on finite data, which is redone rescaled. NaN stays NaN.
template <class Arch, class T>
T inverse_std(T ss, const T* x, std::size_t n, T c, T eps) {
    if (ss == std::numeric_limits<T>::infinity()) return rstd_rescaled<Arch, T>(x, n, c, eps);
    return T(1) / std::sqrt(ss / T(n) + eps);
}

}  // namespace lnfold::kernels::detail
