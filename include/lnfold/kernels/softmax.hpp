#pragma once
// Softmax over the first `valid` entries of a row, in place; entries valid..width are set to 0 (a causal mask).
//
//   m = max_{j < valid} x_j;   p_j = exp(x_j - m) / Σ_{k < valid} exp(x_k - m)   (j < valid);   p_j = 0 (j >= valid)
//
// Three vector passes: (1) the max, (2) e_j = exp(x_j - m) stored in place and summed (two vector accumulators),
// (3) the scale by 1/Σ. Subtracting the max keeps exp <= 1, so huge values do not overflow; -inf entries give 0.
// The last valid mod W entries (W = lanes) go through one vector padded with -inf (exp(-inf) = 0: nothing added),
// so the same code serves the whole row. A NaN, or every valid entry
// -inf (or +inf), makes the valid part NaN; valid = 0 writes only zeros. scalar_arch: the same passes per element.
#include <cmath>
#include <cstddef>
#include <limits>

#include <xsimd/xsimd.hpp>

#include "lnfold/kernels/arch.hpp"
#include "lnfold/kernels/partial_vector.hpp"

namespace lnfold::kernels {

// Softmax of row[0, valid) in place, row[valid, width) = 0. Requires valid <= width.
template <class Arch = default_arch, class T>
void softmax_row(T* row, std::size_t valid, std::size_t width) {
    using A = arch_for_t<T, Arch>;
    constexpr T minus_inf = -std::numeric_limits<T>::infinity();
    T max = minus_inf, sum = T(0);
    if constexpr (has_simd_v<T, A>) {
        using B = xsimd::batch<T, A>;
        constexpr std::size_t W = B::size;
        B m(minus_inf);
        for (std::size_t j = 0; j < valid; j += W) {
            const std::size_t n = valid - j < W ? valid - j : W;
            m = xsimd::max(m, detail::load_filled<B>(row + j, n, minus_inf));
        }
        alignas(B) T lanes[W];  // the horizontal max (xsimd 8.1 has none), once per row
        m.store_aligned(lanes);
        for (T v : lanes) max = v > max || v != v ? v : max;
        B s0(T(0)), s1(T(0));
        std::size_t j = 0;
        for (; j + 2 * W <= valid; j += 2 * W) {
            const B e0 = xsimd::exp(B::load_unaligned(row + j) - B(max));
            const B e1 = xsimd::exp(B::load_unaligned(row + j + W) - B(max));
            e0.store_unaligned(row + j);
            e1.store_unaligned(row + j + W);
            s0 += e0;
            s1 += e1;
        }
        for (; j < valid; j += W) {
            const std::size_t n = valid - j < W ? valid - j : W;
            const B e = xsimd::exp(detail::load_filled<B>(row + j, n, minus_inf) - B(max));
            detail::store_first(row + j, e, n);
            s0 += e;
        }
        sum = xsimd::hadd(s0 + s1);
        const B inv(T(1) / sum);
        for (j = 0; j < valid; j += W) {
            const std::size_t n = valid - j < W ? valid - j : W;
            detail::store_first(row + j, B(detail::load_filled<B>(row + j, n, T(0)) * inv), n);
        }
    } else {
        for (std::size_t j = 0; j < valid; ++j) max = row[j] > max || row[j] != row[j] ? row[j] : max;
        for (std::size_t j = 0; j < valid; ++j) sum += row[j] = std::exp(row[j] - max);
        const T inv = T(1) / sum;
        for (std::size_t j = 0; j < valid; ++j) row[j] *= inv;
    }
    for (std::size_t j = valid; j < width; ++j) row[j] = T(0);
}

}  // namespace lnfold::kernels
