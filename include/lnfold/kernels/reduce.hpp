#pragma once
// Row primitives every norm kernel is built from, in the style of xsimd's documentation examples: one template
// over the architecture, a vector body, a scalar tail.
//
// One row:
//   row_map<Arch>(n, out, f, p...)              out[i] = f(p[i]...)               (reads each p, writes out)
// A group of R rows of the same width (R row pointers), row j with its own accumulation make(j):
//   group_sum<Arch, Prefetch>(n, x, make, next)  s_j = the sum acc = make(j)(acc, x_j[i]) over i, prefetching
//                                                the rows `next` (e.g. make(j)(acc, v) = mul_add(v, v, acc))
//   group_add_sum<Arch>(n, a, b, sum, make)       sum_j[i] = a_j[i] + b_j[i] (stored), then as group_sum on sum_j
//   group_map<Arch>(n, out, x, make, s...)        out_j[i] = make(j)(x_j[i], s[i]...), each vector of the shared
//                                                rows s (gamma, beta) loaded once for the R rows
//
// f and make(j) are generic lambdas called with xsimd::batch<T, Arch> values in the vector body and with T in
// the scalar tail, so one expression serves both (use `using V = decltype(v); V(c)` to broadcast a constant);
// in the tail the accumulator of float is a double. Every multiply-add is written as mul_add.
// Sums use four vector accumulators (independent add chains, and a partly pairwise order), combined as
// (a0 + a1) + (a2 + a3), reduced with xsimd::hadd, then the scalar tail (two chains, in double for float) is
// added. The group forms interleave their R rows' loops, so that the rows' add chains and horizontal sums
// overlap. For every row the group forms do exactly the arithmetic of a group of one (same accumulators, same
// order), so a row's result never depends on how rows are grouped: not on the thread count, not on the number of
// rows. (Rows of a few vectors exactly go through the row pipeline, row_pipeline.hpp, built from these forms with
// R = 1.)
// Pointers need no alignment (load_unaligned / store_unaligned); any n >= 0 works, including n < lanes. An
// output may be one of the inputs exactly (same pointer), never a partly overlapping range.
#include <array>
#include <cmath>
#include <cstddef>
#include <limits>
#include <type_traits>
#include <utility>

#include "lnfold/core/x86_intrinsics.hpp"  // before xsimd includes <immintrin.h>
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

// Horizontal sums: the tree of xsimd::hadd, pair for pair (so the sums are those of xsimd::hadd bit for bit), in
// fewer and narrower operations. For 512 bits, xsimd adds the two 256-bit halves, then the 128-bit halves on full
// 256-bit registers, then two 256-bit hadds (4 shuffles and 2 adds on this width); here the halves are folded
// down to 128 bits and the last two levels are one in-lane shuffle and one move each:
//   float: q = (x_lo256 + x_hi256)_lo128 + (..)_hi128;  p_i = q_i + q_(i^1);  sum = p_0 + p_2
//   double: q = (x_lo256 + x_hi256)_lo128 + (..)_hi128;  sum = q_0 + q_1
// (a + b is b + a exactly, so the order of the operands within a pair does not matter). This takes 2 shuffles and
// the 256-bit width off the add / shuffle pipes, which bound rows of a few vectors (measured: docs/kernels.md).
// Other widths (SSE2, scalar batches) use xsimd::hadd itself.
// GCC 12 warns, wrongly, about an uninitialized value inside its own AVX-512 intrinsics (_mm256_undefined_pd in
// _mm512_extractf64x4_pd) once they are inlined; the pragma keeps that false positive out of users' -Wall builds.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
namespace hsum_detail {
#if defined(__AVX__)
inline float sum_of_4(__m128 q) {
    const __m128 p = _mm_add_ps(q, _mm_permute_ps(q, _MM_SHUFFLE(2, 3, 0, 1)));
    return _mm_cvtss_f32(_mm_add_ss(p, _mm_movehl_ps(p, p)));
}
inline double sum_of_2(__m128d q) { return _mm_cvtsd_f64(_mm_add_sd(q, _mm_unpackhi_pd(q, q))); }
inline float sum_of_8(__m256 h) { return sum_of_4(_mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1))); }
inline double sum_of_4(__m256d h) {
    return sum_of_2(_mm_add_pd(_mm256_castpd256_pd128(h), _mm256_extractf128_pd(h, 1)));
}
#endif
}  // namespace hsum_detail

template <class T, class Arch>
LNFOLD_ALWAYS_INLINE T hsum(const xsimd::batch<T, Arch>& b) {
#if defined(__AVX__)
    constexpr std::size_t bytes = sizeof(xsimd::batch<T, Arch>);
    constexpr bool is_float = std::is_same_v<T, float>;
#endif
#if defined(__AVX512F__)
    if constexpr (bytes == 64) {
        if constexpr (is_float) {
            const __m512 x = b;
            const __m256 hi = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(x), 1));  // AVX-512F only
            return hsum_detail::sum_of_8(_mm256_add_ps(_mm512_castps512_ps256(x), hi));
        } else {
            const __m512d x = b;
            return hsum_detail::sum_of_4(_mm256_add_pd(_mm512_castpd512_pd256(x), _mm512_extractf64x4_pd(x, 1)));
        }
    }
#endif
#if defined(__AVX__)
    if constexpr (bytes == 32) {
        if constexpr (is_float) return hsum_detail::sum_of_8(__m256(b));
        else return hsum_detail::sum_of_4(__m256d(b));
    }
#endif
    return hadd(b);
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

// The scalar path's accumulator: double for float (free on scalar code, and it keeps the scalar path of float
// as accurate as the vector path with its many lanes), T otherwise.
template <class T>
using scalar_acc_t = std::conditional_t<(sizeof(T) < sizeof(double)), double, T>;

// a·b + c, written out rather than left to the compiler: GCC fuses a*b + c into one FMA where it sees fit (GNU
// mode's default -ffp-contract=fast), and two inlined copies of the same expression may be fused differently,
// which would break the bit-exactness across groups and thread counts. With FMA in the instruction set this is
// one fused operation (the vfmadd intrinsic of the register's width, std::fma), else a product and a sum (nothing
// to fuse). "FMA in the instruction set" is x86's __FMA__ or ARM's __ARM_FEATURE_FMA (AArch64; NEON batches go
// through xsimd::fma, fused there): with x86's macro alone, AArch64's scalar path was a*b + c, fused in some
// inlined copies and not in others (a row's RMSNorm backward dx then depended on its group, test_norm_backward
// under qemu). Not xsimd::fma for x86 batches: xsimd 8.1 has no AVX-512 form and falls back to x * y + z, fused
// only if the compiler contracts it; a build that does not contract (sanitizer builds) would give the vector lanes
// and the scalar head / tail of the same row results an ulp apart (test_norm_groups' streaming check compares
// them). A scalar may accumulate in a wider type C (float products into a double sum: the product is exact there,
// so both forms agree).
template <class T, class Arch>
inline xsimd::batch<T, Arch> mul_add(const xsimd::batch<T, Arch>& a, const xsimd::batch<T, Arch>& b,
                                     const xsimd::batch<T, Arch>& c) {
#if defined(__FMA__)
    constexpr std::size_t bytes = sizeof(xsimd::batch<T, Arch>);
    constexpr bool is_float = std::is_same_v<T, float>, is_double = std::is_same_v<T, double>;
#if defined(__AVX512F__)
    if constexpr (is_float && bytes == 64) return _mm512_fmadd_ps(a, b, c);
    if constexpr (is_double && bytes == 64) return _mm512_fmadd_pd(a, b, c);
#endif
    if constexpr (is_float && bytes == 32) return _mm256_fmadd_ps(a, b, c);
    if constexpr (is_double && bytes == 32) return _mm256_fmadd_pd(a, b, c);
    if constexpr (is_float && bytes == 16) return _mm_fmadd_ps(a, b, c);
    if constexpr (is_double && bytes == 16) return _mm_fmadd_pd(a, b, c);
#endif
    return xsimd::fma(a, b, c);
}
template <class T, class C, class = std::enable_if_t<std::is_floating_point_v<T>>>
inline C mul_add(T a, T b, C c) {
#if defined(__FMA__) || defined(__ARM_FEATURE_FMA)  // x86 with FMA; AArch64 (and ARMv7 with VFPv4)
    return std::fma(C(a), C(b), c);
#else
    return C(a) * C(b) + c;
#endif
}

// Calls f(std::integral_constant<std::size_t, J>{}) for J = 0 .. R-1: the row loop of a group, always unrolled.
template <std::size_t R, class F>
LNFOLD_ALWAYS_INLINE void unroll(F&& f) {
    [&]<std::size_t... J>(std::index_sequence<J...>) LNFOLD_ALWAYS_INLINE_LAMBDA {
        (f(std::integral_constant<std::size_t, J>{}), ...);
    }(std::make_index_sequence<R>{});
}

// make(0), ..., make(R-1) as an array (the per-row functions of a group, held by value so their constants
// stay in registers while the loops store).
template <std::size_t R, class Make>
LNFOLD_ALWAYS_INLINE auto per_row(Make& make) {
    return [&]<std::size_t... J>(std::index_sequence<J...>) LNFOLD_ALWAYS_INLINE_LAMBDA {
        return std::array{make(J)...};
    }(std::make_index_sequence<R>{});
}

// Hint that the cache line holding p + i is read soon (the next group's rows). Issued once per 64-byte line:
// every call when a vector of Step elements covers a line, else only at line starts.
template <class T, std::size_t Step>
inline void prefetch_line(const T* p, std::size_t i) {
    constexpr std::size_t line = 64 / sizeof(T);
    if constexpr (Step >= line) __builtin_prefetch(p + i, 0, 3);
    else if (i % line == 0) __builtin_prefetch(p + i, 0, 3);
}

// out[i] = f(p[i]...) over [0, n).
template <class Arch, class T, class N, class F, class... P>
LNFOLD_ALWAYS_INLINE void row_map(N n, T* out, F&& fn, const P*... p) {
    const auto f = fn;  // a local copy: stores to out cannot alias its captures, so they stay in registers
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

template <class T, std::size_t R>
using row_ptrs = std::array<const T*, R>;
template <class T, std::size_t R>
using out_row_ptrs = std::array<T*, R>;

// Pointers to R consecutive rows of width dim starting at row r.
template <std::size_t R, class T>
std::array<T*, R> rows_at(T* base, std::size_t r, std::size_t dim) {
    std::array<T*, R> p;
    for (std::size_t j = 0; j < R; ++j) p[j] = base + (r + j) * dim;
    return p;
}

// out_j[i] = make(j)(x_j[i], s[i]...) for the R rows of a group, where the rows s (gamma, beta) are shared by all
// rows: each vector of s is loaded once and used for the R rows (row_map per row loads it R times, and at
// d = 1024 and more gamma and beta no longer stay in L1 next to x and y). Every element is computed by the same
// f as in row_map, vector lanes and scalar tail alike, so the output equals R calls of row_map exactly.
template <class Arch, class T, std::size_t R, class N, class Make, class... P>
LNFOLD_ALWAYS_INLINE void group_map(N n, const out_row_ptrs<T, R>& out_rows, const row_ptrs<T, R>& x_rows, Make&& make,
                                    const P*... shared) {
    const auto f = per_row<R>(make);
    const out_row_ptrs<T, R> out = out_rows;
    const row_ptrs<T, R> x = x_rows;
    std::size_t i = 0;
    if constexpr (has_simd_v<T, Arch>) {
        using B = xsimd::batch<T, Arch>;
        constexpr std::size_t W = B::size;
        const auto rows_at_vector = [&](std::size_t k, const auto&... s) LNFOLD_ALWAYS_INLINE_LAMBDA {
            unroll<R>([&](auto j) LNFOLD_ALWAYS_INLINE_LAMBDA {
                detail::store_v(out[j] + k, B(f[j](detail::load_v<B>(x[j] + k), s...)));
            });
        };
        const std::size_t vector_end = n / W * W;  // a constant for a fixed width: the tail below is then empty
        for (; i < vector_end; i += W) rows_at_vector(i, detail::load_v<B>(shared + i)...);
        i = vector_end;
    }
    unroll<R>([&](auto j) LNFOLD_ALWAYS_INLINE_LAMBDA {
        for (std::size_t k = i; k < n; ++k) out[j][k] = f[j](x[j][k], shared[k]...);
    });
}

// The scalar tail of a sum from element i on (the whole row on the scalar path), added to the vector total:
// two chains in scalar_acc_t (acc = f(acc, value), as in the vector part).
template <class T, class N, class F, class Load>
LNFOLD_ALWAYS_INLINE T tail_sum(std::size_t i, N n, T total, const F& f, Load&& load) {
    using S = scalar_acc_t<T>;
    S t0 = S(-0.0), t1 = S(-0.0);  // -0: with no tail, total + (t0 + t1) folds to total (see group_parts)
    for (; i + 2 <= n; i += 2) {
        t0 = f(t0, load(i));
        t1 = f(t1, load(i + 1));
    }
    if (i < n) t0 = f(t0, load(i));
    return total + static_cast<T>(t0 + t1);
}

// Whether n is a width fixed at compile time (a std::integral_constant, see with_width): such rows go through the
// row pipeline (row_pipeline.hpp).
template <class N>
inline constexpr bool is_fixed_width_v = !std::is_same_v<N, std::size_t>;

// part_j = the accumulation acc = f_j(acc, value(j, i)) over the vector part [0, n - n % W) of each of R rows, in
// four accumulators (vector k of the row goes to accumulator k % 4) combined (a0 + a1) + (a2 + a3), not yet
// reduced. value(j, i) gives the batch at element i of row j (a load, or the fused add). The rows' loops run
// interleaved, so that their add chains overlap; each accumulator sees the same additions as in a group of one.
// The accumulators start at -0, not +0: x + (-0) is x for every x, so the compiler drops the first additions
// (x + (+0) turns -0 into +0, so it must keep those); a row of 4 vectors: 4 adds fewer per pass.
template <class B, std::size_t R, class F, class Value>
LNFOLD_ALWAYS_INLINE std::array<B, R> group_parts(std::size_t n, const std::array<F, R>& f, Value&& value) {
    constexpr std::size_t W = B::size;
    std::array<B, R> part;
    std::array<std::array<B, 4>, R> a;
    unroll<R>([&](auto j) LNFOLD_ALWAYS_INLINE_LAMBDA { a[j].fill(B(typename B::value_type(-0.0))); });
    std::size_t i = 0;
    for (; i + 4 * W <= n; i += 4 * W)
        unroll<R>([&](auto j) LNFOLD_ALWAYS_INLINE_LAMBDA {
            unroll<4>([&](auto q) LNFOLD_ALWAYS_INLINE_LAMBDA { a[j][q] = f[j](a[j][q], value(j, i + q * W)); });
        });
    for (; i + W <= n; i += W)
        unroll<R>([&](auto j) LNFOLD_ALWAYS_INLINE_LAMBDA { a[j][0] = f[j](a[j][0], value(j, i)); });
    unroll<R>([&](auto j) LNFOLD_ALWAYS_INLINE_LAMBDA { part[j] = (a[j][0] + a[j][1]) + (a[j][2] + a[j][3]); });
    return part;
}

// The horizontal sums of R rows' combined accumulators.
template <class T, class B, std::size_t R>
LNFOLD_ALWAYS_INLINE std::array<T, R> reduce_rows(const std::array<B, R>& part) {
    std::array<T, R> total;
    for (std::size_t j = 0; j < R; ++j) total[j] = hsum(part[j]);
    return total;
}

// s_j = Σ_i make(j)(value.template operator()<V>(j, i)) for the R rows of a group, where value gives row j's V at
// element i (V: a batch in the vector part, T in the scalar tail): group_parts, the horizontal sums, then
// tail_sum. group_sum and group_add_sum are this with their values.
template <class Arch, class T, std::size_t R, class Make, class Value>
LNFOLD_ALWAYS_INLINE std::array<T, R> group_accumulate(std::size_t n, Make&& make, Value&& value) {
    const auto f = per_row<R>(make);
    std::array<T, R> total{};
    std::size_t i = 0;
    if constexpr (has_simd_v<T, Arch>) {
        using B = xsimd::batch<T, Arch>;
        const std::array<B, R> part = group_parts<B>(n, f, [&](auto j, std::size_t k) LNFOLD_ALWAYS_INLINE_LAMBDA {
            return value.template operator()<B>(j, k);
        });
        total = reduce_rows<T>(part);
        i = n / B::size * B::size;
    }
    unroll<R>([&](auto j) LNFOLD_ALWAYS_INLINE_LAMBDA {
        total[j] = tail_sum(i, n, total[j], f[j], [&](std::size_t k) LNFOLD_ALWAYS_INLINE_LAMBDA {
            return value.template operator()<T>(j, k);
        });
    });
    return total;
}

// s_j = Σ_i make(j)(x_j[i]) for the R rows of a group; with Prefetch, the rows `next` (the group after this
// one) are prefetched meanwhile, one line per vector of each (this pass reads from L1, so the line fill
// buffers are free).
template <class Arch, bool Prefetch, class T, std::size_t R, class Make>
LNFOLD_ALWAYS_INLINE std::array<T, R> group_sum(std::size_t n, const row_ptrs<T, R>& rows, Make&& make,
                                                const row_ptrs<T, R>& next_rows) {
    const row_ptrs<T, R> x = rows, next = next_rows;  // local copies: they stay in registers
    return group_accumulate<Arch, T, R>(n, make, [&]<class V>(auto j, std::size_t k) LNFOLD_ALWAYS_INLINE_LAMBDA {
        if constexpr (Prefetch && !std::is_same_v<V, T>) detail::prefetch_line<T, V::size>(next[j], k);
        return detail::load_v<V>(x[j] + k);
    });
}

// sum_j = a_j + b_j (stored) and s_j = Σ_i make(j)(sum_j[i]) in one pass: the fused residual add. Same
// accumulators and order as group_sum over the stored sums, so the result equals group_sum on sum_j exactly.
template <class Arch, class T, std::size_t R, class Make>
LNFOLD_ALWAYS_INLINE std::array<T, R> group_add_sum(std::size_t n, const row_ptrs<T, R>& a_rows,
                                                    const row_ptrs<T, R>& b_rows, const out_row_ptrs<T, R>& sum_rows,
                                                    Make&& make) {
    const row_ptrs<T, R> a = a_rows, b = b_rows;
    const out_row_ptrs<T, R> sum = sum_rows;
    return group_accumulate<Arch, T, R>(n, make, [&]<class V>(auto j, std::size_t k) LNFOLD_ALWAYS_INLINE_LAMBDA {
        const V s = detail::load_v<V>(a[j] + k) + detail::load_v<V>(b[j] + k);
        detail::store_v(sum[j] + k, s);
        return s;
    });
}

}  // namespace lnfold::kernels::detail
