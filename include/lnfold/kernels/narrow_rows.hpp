#pragma once
// Narrow rows: the forward norm kernels for rows of exactly V vectors (V = 4 or 8; on AVX-512 also 12, 16, 24:
// float d = 64 .. 384; see with_width in layer_norm.hpp), with the row held in registers.
//
// A row is loaded once; its passes run on registers (the wide path, layer_norm.hpp, re-reads the row from L1 for
// each pass and loads gamma / beta per row); gamma and beta are loaded into registers once per thread's range.
// The arithmetic is the wide path's: shift x_0, four accumulators (vector k into accumulator k % 4, from zero)
// combined (a0 + a1) + (a2 + a3) and one horizontal sum; mean = x_0 + Σ(x - x_0)/n; centred squares; rstd by
// group_inverse_std (a true square root and division; squares that overflow on finite data are redone rescaled);
// the same output expressions. Each row is computed alone, so results are bit-identical for every thread count
// and number of rows, and equal to layer_norm_row / rms_norm_row on that row. y may be x (in place): the row is
// in registers before it is written.
//
//   narrow_layer_norm_rows<Arch, V, G, B>(x, rows, gamma, beta, eps, y, mean, rstd, stream)
//   narrow_rms_norm_rows<Arch, V, G, B>(x, rows, gamma, beta, eps, y, rrms, stream)
//   narrow_add_layer_norm_rows / narrow_add_rms_norm_rows: the same on sum = a + b (sum stored, then normalised)
#include <array>
#include <cstddef>
#include <cstdint>

#include <xsimd/xsimd.hpp>

#include "lnfold/core/parallel.hpp"
#include "lnfold/kernels/arch.hpp"
#include "lnfold/kernels/reduce.hpp"
#include "lnfold/kernels/streaming.hpp"

namespace lnfold::kernels::detail {

template <class T, class Arch, std::size_t V>
using row_regs = std::array<xsimd::batch<T, Arch>, V>;

// Calls f(k) for k = 0 .. V-1 with k a std::size_t (unrolled).
template <std::size_t V, class F>
LNFOLD_ALWAYS_INLINE void for_each_vector(F&& f) {
    unroll<V>([&](auto k) { f(std::size_t{k}); });
}

template <class T, class Arch, std::size_t V>
LNFOLD_ALWAYS_INLINE row_regs<T, Arch, V> load_regs(const T* p) {
    using B = xsimd::batch<T, Arch>;
    row_regs<T, Arch, V> v;
    for_each_vector<V>([&](std::size_t k) { v[k] = B::load_unaligned(p + k * B::size); });
    return v;
}

// Stores a row: streaming stores when `stream` and p is vector-aligned, else normal unaligned stores (the same
// values either way).
template <class T, class Arch, std::size_t V>
LNFOLD_ALWAYS_INLINE void store_regs(T* p, const row_regs<T, Arch, V>& v, bool stream) {
    using B = xsimd::batch<T, Arch>;
    if (stream && reinterpret_cast<std::uintptr_t>(p) % sizeof(B) == 0)
        for_each_vector<V>([&](std::size_t k) { stream_v(p + k * B::size, v[k]); });
    else
        for_each_vector<V>([&](std::size_t k) { v[k].store_unaligned(p + k * B::size); });
}

// Σ over the row of f(acc, v_k): vector k into accumulator k % 4 (from zero), combined (a0 + a1) + (a2 + a3), then
// the horizontal sum.
template <class T, class Arch, std::size_t V, class F>
LNFOLD_ALWAYS_INLINE T sum_regs(const row_regs<T, Arch, V>& v, F f) {
    static_assert(V % 4 == 0, "narrow rows are a multiple of four vectors");
    using B = xsimd::batch<T, Arch>;
    std::array<B, 4> a;
    a.fill(B(T(0)));
    for_each_vector<V>([&](std::size_t k) { a[k % 4] = f(a[k % 4], v[k]); });
    return hsum((a[0] + a[1]) + (a[2] + a[3]));
}

// gamma and beta of a narrow width in registers (absent ones are not loaded), and the output expression of the
// wide path (affine_output.hpp, written out here: through its lambdas the d = 256 LayerNorm measured 2-3%
// slower): y = c r gamma + beta with c = x - mean (LayerNorm) or x (RMSNorm), centred by the caller.
template <class T, class Arch, std::size_t V, bool HasGamma, bool HasBeta>
struct narrow_affine {
    using B = xsimd::batch<T, Arch>;
    row_regs<T, Arch, V> g, b;

    narrow_affine(const T* gamma, const T* beta) {
        if constexpr (HasGamma) g = load_regs<T, Arch, V>(gamma);
        if constexpr (HasBeta) b = load_regs<T, Arch, V>(beta);
    }

    LNFOLD_ALWAYS_INLINE row_regs<T, Arch, V> apply(const row_regs<T, Arch, V>& c, T r) const {
        row_regs<T, Arch, V> y;
        const B vr(r);
        for_each_vector<V>([&](std::size_t k) {
            if constexpr (HasGamma && HasBeta) y[k] = mul_add(c[k] * vr, g[k], b[k]);
            else if constexpr (HasGamma) y[k] = c[k] * vr * g[k];
            else if constexpr (HasBeta) y[k] = mul_add(c[k], vr, b[k]);
            else y[k] = c[k] * vr;
        });
        return y;
    }
};

// LayerNorm of one row held in v (x: the row in memory, read again only by the rare rescaled path; shift: x_0).
template <class T, class Arch, std::size_t V, bool G, bool B>
LNFOLD_ALWAYS_INLINE void layer_norm_regs(const row_regs<T, Arch, V>& v, const T* x, T shift, const narrow_affine<T, Arch, V, G, B>& p,
                     T eps, T* y, bool stream, T& mean, T& rstd) {
    using Bt = xsimd::batch<T, Arch>;
    constexpr std::size_t n = V * Bt::size;
    const T shifted = sum_regs(v, [=](auto acc, auto q) { return acc + (q - Bt(shift)); });
    mean = shift + shifted / T(n);
    row_regs<T, Arch, V> c;
    for_each_vector<V>([&](std::size_t k) { c[k] = v[k] - Bt(mean); });
    const T ss = sum_regs(c, [](auto acc, auto q) { return mul_add(q, q, acc); });
    rstd = group_inverse_std<Arch>(std::array<T, 1>{ss}, row_ptrs<T, 1>{x}, n, std::array<T, 1>{mean}, eps)[0];
    store_regs(y, p.apply(c, rstd), stream);
}

// RMSNorm of one row held in v; returns 1/rms.
template <class T, class Arch, std::size_t V, bool G, bool B>
LNFOLD_ALWAYS_INLINE T rms_norm_regs(const row_regs<T, Arch, V>& v, const T* x, const narrow_affine<T, Arch, V, G, B>& p, T eps, T* y,
                bool stream) {
    constexpr std::size_t n = V * xsimd::batch<T, Arch>::size;
    const T ss = sum_regs(v, [](auto acc, auto q) { return mul_add(q, q, acc); });
    const T rrms = group_inverse_std<Arch>(std::array<T, 1>{ss}, row_ptrs<T, 1>{x}, n, std::array<T, 1>{}, eps)[0];
    store_regs(y, p.apply(v, rrms), stream);
    return rrms;
}

// sum = a + b for one row, stored and returned in registers.
template <class T, class Arch, std::size_t V>
LNFOLD_ALWAYS_INLINE row_regs<T, Arch, V> add_regs(const T* a, const T* b, T* sum) {
    const row_regs<T, Arch, V> va = load_regs<T, Arch, V>(a), vb = load_regs<T, Arch, V>(b);
    row_regs<T, Arch, V> s;
    for_each_vector<V>([&](std::size_t k) { s[k] = va[k] + vb[k]; });
    store_regs(sum, s, false);
    return s;
}

// Calls row(r, affine) for every row, threads over rows, with gamma / beta loaded once per thread's range.
template <class T, class Arch, std::size_t V, bool G, bool B, class Row>
void for_each_narrow_row(std::size_t rows, const T* gamma, const T* beta, bool stream, Row&& row) {
    parallel_for_rows(rows, V * lanes_v<T, Arch>, [&](std::size_t begin, std::size_t end) {
        const narrow_affine<T, Arch, V, G, B> p(gamma, beta);
        for (std::size_t r = begin; r < end; ++r) row(r, p);
        if (stream) stream_fence();
    });
}

template <class Arch, std::size_t V, bool G, bool B, class T>
void narrow_layer_norm_rows(const T* x, std::size_t rows, const T* gamma, const T* beta, T eps, T* y, T* mean,
                            T* rstd, bool stream) {
    constexpr std::size_t n = V * lanes_v<T, Arch>;
    for_each_narrow_row<T, Arch, V, G, B>(rows, gamma, beta, stream, [&](std::size_t r, const auto& p) LNFOLD_ALWAYS_INLINE_LAMBDA {
        const T* xr = x + r * n;
        T m, s;
        layer_norm_regs(load_regs<T, Arch, V>(xr), xr, xr[0], p, eps, y + r * n, stream, m, s);
        if (mean) mean[r] = m;
        if (rstd) rstd[r] = s;
    });
}

template <class Arch, std::size_t V, bool G, bool B, class T>
void narrow_rms_norm_rows(const T* x, std::size_t rows, const T* gamma, const T* beta, T eps, T* y, T* rrms,
                          bool stream) {
    constexpr std::size_t n = V * lanes_v<T, Arch>;
    for_each_narrow_row<T, Arch, V, G, B>(rows, gamma, beta, stream, [&](std::size_t r, const auto& p) LNFOLD_ALWAYS_INLINE_LAMBDA {
        const T* xr = x + r * n;
        const T s = rms_norm_regs(load_regs<T, Arch, V>(xr), xr, p, eps, y + r * n, stream);
        if (rrms) rrms[r] = s;
    });
}

template <class Arch, std::size_t V, bool G, bool B, class T>
void narrow_add_layer_norm_rows(const T* a, const T* b, std::size_t rows, const T* gamma, const T* beta, T eps,
                                T* sum, T* y, T* mean, T* rstd, bool stream) {
    constexpr std::size_t n = V * lanes_v<T, Arch>;
    for_each_narrow_row<T, Arch, V, G, B>(rows, gamma, beta, stream, [&](std::size_t r, const auto& p) LNFOLD_ALWAYS_INLINE_LAMBDA {
        const T shift = a[r * n] + b[r * n];
        const row_regs<T, Arch, V> s = add_regs<T, Arch, V>(a + r * n, b + r * n, sum + r * n);
        T m, rs;
        layer_norm_regs(s, sum + r * n, shift, p, eps, y + r * n, stream, m, rs);
        if (mean) mean[r] = m;
        if (rstd) rstd[r] = rs;
    });
}

template <class Arch, std::size_t V, bool G, bool B, class T>
void narrow_add_rms_norm_rows(const T* a, const T* b, std::size_t rows, const T* gamma, const T* beta, T eps,
                              T* sum, T* y, T* rrms, bool stream) {
    constexpr std::size_t n = V * lanes_v<T, Arch>;
    for_each_narrow_row<T, Arch, V, G, B>(rows, gamma, beta, stream, [&](std::size_t r, const auto& p) LNFOLD_ALWAYS_INLINE_LAMBDA {
        const row_regs<T, Arch, V> s = add_regs<T, Arch, V>(a + r * n, b + r * n, sum + r * n);
        const T rs = rms_norm_regs(s, sum + r * n, p, eps, y + r * n, stream);
        if (rrms) rrms[r] = rs;
    });
}

}  // namespace lnfold::kernels::detail
