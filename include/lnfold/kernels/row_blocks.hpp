#pragma once
// Row blocks: LayerNorm rows of the row pipeline's widths (row_pipeline.hpp: float d = 64 .. 384 on AVX-512) 16 at
// a time, with the 16 rows' statistics formed as one vector.
//
// On a row of a few vectors the horizontal sums and the scalar square root and divisions are a large part of the
// work: a row of 4 vectors spends 2 x 4 shuffles and 2 x 4 adds on its two horizontal sums, next to 12 vector adds
// and subtractions for the rest. A block sums its 16 rows' accumulators horizontally together (block_hsum: a
// transposed reduction, 31 shuffles and 15 adds for the 16 rows) and forms the 16 means and 1/std with one vector
// division and square root:
//   pass 1   each row's combined accumulators of its shifted sum; block_hsum → the vector of means
//   pass 2   the centred squares of each row with its mean (a broadcast load); block_hsum → the vector of 1/std
//   pass 3   the outputs, 4 rows at a time sharing the loads of gamma and beta (affine_output_rows)
// Bit-identity: lane j of block_hsum is hsum(part_j) bit for bit (the same pairs of the same tree), the vector
// mean and 1/std are the scalar formulas of shifted_mean and group_inverse_std lane by lane (IEEE division and
// square root are correctly rounded in both forms), and the rows' accumulators and outputs come from the same
// group_parts and affine_output expressions as in the pipeline. So a row's result is the same in a block, in the
// pipeline or alone, for every thread count and number of rows.
// Where: float on AVX-512 only (layer_norm_block_rows_v; the transposed reduction is written for 16 floats), and
// only for LayerNorm, with its two horizontal sums per row. RMSNorm (one horizontal sum per row) and the fused
// add + norm (whose rows are read back from the sums it just stored) gain nothing from blocks over the pipeline,
// so they stay in it (the measurements: docs/kernels.md).
//
//   layer_norm_block_rows_v<T, Arch>                       16 (AVX-512 float) or 1 (no blocks)
//   block_hsum<T, Arch>(part)                              lane j = hsum(part[j])
//   layer_norm_block<Arch, G, B>(n, src, ...)              one block
#include <array>
#include <cstddef>
#include <limits>
#include <type_traits>

#include "lnfold/core/x86_intrinsics.hpp"  // before xsimd includes <immintrin.h>
#include <xsimd/xsimd.hpp>

#include "lnfold/kernels/affine_output.hpp"
#include "lnfold/kernels/arch.hpp"
#include "lnfold/kernels/reduce.hpp"

// GCC 12 warns, wrongly, about uninitialized values inside its own AVX-512 intrinsics (_mm512_undefined_* in
// the shuffles and the gather) once they are inlined; as in reduce.hpp, the pragma keeps that false positive out of
// users' -Wall builds.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

namespace lnfold::kernels::detail {

template <class T, class Arch>
using block_parts = std::array<xsimd::batch<T, Arch>, xsimd::batch<T, Arch>::size>;

#if defined(__AVX512F__)
// The 16 horizontal sums of 16 float vectors, lane j = hsum(p[j]) exactly. hsum's tree for one vector x with
// 128-bit chunks c0..c3: h = (c0 + c2, c1 + c3) (the 256-bit halves), q = h0 + h1 (the 128-bit halves),
// p_i = q_i + q_(i^1), sum = p0 + p2. Here each level combines two vectors' partial sums into one vector:
//   level 1: rows 2k, 2k+1        → chunks [h0(2k), h1(2k), h0(2k+1), h1(2k+1)]         (8 vectors)
//   level 2: rows 4m .. 4m+3      → chunk c = q(4m + c)                                   (4 vectors)
//   level 3: rows 8t .. 8t+7      → chunk c = [p0(8t+c), p2(8t+c), p0(8t+4+c), p2(8t+4+c)] (2 vectors)
//   level 4: all rows             → lane 4c + k = sum(4k + c), then permuted to lane j = sum(j)
template <class Arch>
inline xsimd::batch<float, Arch> transposed_hsum_16(const block_parts<float, Arch>& p) {
    using V = xsimd::batch<float, Arch>;  // a __m512 (std::array<__m512, N> would drop its alignment attribute)
    std::array<V, 8> l1;
    for (std::size_t k = 0; k < 8; ++k)
        l1[k] = _mm512_add_ps(_mm512_shuffle_f32x4(p[2 * k], p[2 * k + 1], _MM_SHUFFLE(1, 0, 1, 0)),
                              _mm512_shuffle_f32x4(p[2 * k], p[2 * k + 1], _MM_SHUFFLE(3, 2, 3, 2)));
    std::array<V, 4> l2;
    for (std::size_t m = 0; m < 4; ++m)
        l2[m] = _mm512_add_ps(_mm512_shuffle_f32x4(l1[2 * m], l1[2 * m + 1], _MM_SHUFFLE(2, 0, 2, 0)),
                              _mm512_shuffle_f32x4(l1[2 * m], l1[2 * m + 1], _MM_SHUFFLE(3, 1, 3, 1)));
    std::array<V, 2> l3;
    for (std::size_t t = 0; t < 2; ++t)
        l3[t] = _mm512_add_ps(_mm512_shuffle_ps(l2[2 * t], l2[2 * t + 1], _MM_SHUFFLE(2, 0, 2, 0)),
                              _mm512_shuffle_ps(l2[2 * t], l2[2 * t + 1], _MM_SHUFFLE(3, 1, 3, 1)));
    const __m512 l4 = _mm512_add_ps(_mm512_shuffle_ps(l3[0], l3[1], _MM_SHUFFLE(2, 0, 2, 0)),
                                    _mm512_shuffle_ps(l3[0], l3[1], _MM_SHUFFLE(3, 1, 3, 1)));
    const __m512i row_order = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
    return V(_mm512_permutexvar_ps(row_order, l4));
}
#endif

// The rows of a block: 16 for float on AVX-512, else 1 (no blocks: the rows go through the pipeline).
template <class T, class Arch>
inline constexpr std::size_t layer_norm_block_rows_v =
#if defined(__AVX512F__)
    std::is_same_v<T, float> && has_simd_v<T, Arch> && lanes_v<T, Arch> == 16 ? 16 : 1;
#else
    1;
#endif

// lane j = hsum(part[j]) for the 16 rows of a block (blocks exist only for float on AVX-512).
template <class T, class Arch>
LNFOLD_ALWAYS_INLINE xsimd::batch<T, Arch> block_hsum([[maybe_unused]] const block_parts<T, Arch>& part) {
    static_assert(layer_norm_block_rows_v<T, Arch> == 16, "blocks are for float on AVX-512");
#if defined(__AVX512F__)
    return transposed_hsum_16<Arch>(part);
#endif
}

// A row's combined accumulators (group_parts of a group of one): acc = f(acc, v) over the row's vectors.
template <class V, class N, class F, class Value>
LNFOLD_ALWAYS_INLINE V row_part(N n, const F& f, Value&& value) {
    return group_parts<V>(n, std::array<F, 1>{f},
                          [&](auto, std::size_t k) LNFOLD_ALWAYS_INLINE_LAMBDA { return value(k); })[0];
}

// r_j = 1/sqrt(ss_j/n + eps) for the W rows of a block, as group_inverse_std computes it row by row; rows whose
// squares overflowed on finite data (ss_j = +inf) are redone rescaled (c_j: the centre of their squares).
template <class Arch, class T, std::size_t W>
LNFOLD_ALWAYS_INLINE void block_inverse_std(const xsimd::batch<T, Arch>& ss, std::size_t n, const T* src,
                                            const std::array<T, W>& c, T eps, std::array<T, W>& r) {
    using V = xsimd::batch<T, Arch>;
    const V rv = V(T(1)) / xsimd::sqrt(ss / V(T(n)) + V(eps));
    rv.store_unaligned(r.data());
    const auto overflowed = ss == V(std::numeric_limits<T>::infinity());
    if (any(overflowed)) [[unlikely]] {
        alignas(sizeof(V)) std::array<T, W> s;
        ss.store_aligned(s.data());
        for (std::size_t j = 0; j < W; ++j)
            if (s[j] == std::numeric_limits<T>::infinity()) r[j] = rstd_rescaled<Arch, T>(src + j * n, n, c[j], eps);
    }
}

// Tells the compiler that the statistics in a may have changed in memory, so that the rows read them from there
// (one broadcast load per row) instead of extracting the lanes of the vector just stored (GCC does, with some 70
// shuffles and moves for 16 rows of mean and 1/std). Emits no instruction.
template <class T, std::size_t W>
LNFOLD_ALWAYS_INLINE void reload_from_memory(std::array<T, W>& a) {
#if defined(__GNUC__) || defined(__clang__)
    asm("" : "+m"(a));
#else
    (void)a;
#endif
}

// The 4 entries of a from q on.
template <class T, std::size_t W>
LNFOLD_ALWAYS_INLINE std::array<T, 4> four_at(const std::array<T, W>& a, std::size_t q) {
    return {a[q], a[q + 1], a[q + 2], a[q + 3]};
}

// lane j = x[j * stride], j < 16: the first elements of a block's rows (their shifts), in one gather (built from
// scalars, the 16 lanes would cost some 20 shuffles).
template <class Arch, class T>
LNFOLD_ALWAYS_INLINE xsimd::batch<T, Arch> column_of([[maybe_unused]] const T* x, [[maybe_unused]] std::size_t stride) {
    static_assert(layer_norm_block_rows_v<T, Arch> == 16, "blocks are for float on AVX-512");
#if defined(__AVX512F__)
    const __m512i index = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                             _mm512_set1_epi32(static_cast<int>(stride)));
    return xsimd::batch<T, Arch>(_mm512_i32gather_ps(index, x, sizeof(float)));
#endif
}

// One block: the 16 rows of width n at src normalised into y; mean and rstd receive the 16 rows' statistics
// unless nullptr.
template <class Arch, bool G, bool B, class T, class N>
LNFOLD_ALWAYS_INLINE void layer_norm_block(N n, const T* src, const T* gamma, const T* beta, T eps, T* y, T* mean,
                                           T* rstd, bool stream) {
    using V = xsimd::batch<T, Arch>;
    constexpr std::size_t W = V::size;
    alignas(sizeof(V)) std::array<T, W> m, r;
    block_parts<T, Arch> part;
    const auto load = [](const T* row) LNFOLD_ALWAYS_INLINE_LAMBDA {
        return [=](std::size_t k) LNFOLD_ALWAYS_INLINE_LAMBDA { return detail::load_v<V>(row + k); };
    };
    // pass 1: mean_j = shift_j + Σ(x - shift_j)/n with shift_j = src_j[0]  (row_mean, shifted_mean)
    unroll<W>([&](auto j) LNFOLD_ALWAYS_INLINE_LAMBDA {
        const T* row = src + j * n;
        part[j] = row_part<V>(n, shifted_sum_step(row[0]), load(row));
    });
    (column_of<Arch>(src, n) + block_hsum<T, Arch>(part) / V(T(n))).store_aligned(m.data());
    reload_from_memory(m);
    // pass 2: the centred squares (row_inverse_std)
    unroll<W>([&](auto j) LNFOLD_ALWAYS_INLINE_LAMBDA {
        const T* row = src + j * n;
        part[j] = row_part<V>(n, centred_square_step(m[j]), load(row));
    });
    block_inverse_std<Arch>(block_hsum<T, Arch>(part), n, src, m, eps, r);
    reload_from_memory(r);
    unroll<W / 4>([&](auto quad) LNFOLD_ALWAYS_INLINE_LAMBDA {
        constexpr std::size_t q = 4 * quad;
        affine_output_rows<Arch, true, G, B>(n, rows_at<4>(src, q, n), rows_at<4>(y, q, n), four_at(m, q),
                                             four_at(r, q), gamma, beta, stream);
    });
    if (mean) V::load_aligned(m.data()).store_unaligned(mean);
    if (rstd) V::load_aligned(r.data()).store_unaligned(rstd);
}

}  // namespace lnfold::kernels::detail

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
