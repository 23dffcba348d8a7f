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

#include "lnfold/core/x86_intrinsics.hpp"  // before xsimd includes <immintrin.h>
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
        sum = hadd(s0 + s1);
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

// The two passes of softmax cross-entropy over one row of logits z[0, n), in double whatever T is (xsimd's double
// lanes, T converted on load; the last n mod W values go through one vector padded so that they add nothing):
//   sum_exp_shifted(z, n, shift)  = Σ_c exp(z_c - shift)                        (shift: the row's maximum)
//   softmax_minus(z, n, log_sum, off, scale, out): out_c = (exp(z_c - log_sum) - off) scale, as T; returns Σ_c z_c
// (the target's entry, where the target distribution is not `off`, is the caller's to correct).
template <class Arch = default_arch, class T>
double sum_exp_shifted(const T* z, std::size_t n, double shift) {
    using A = arch_for_t<double, Arch>;
    if constexpr (has_simd_v<double, A>) {
        using B = xsimd::batch<double, A>;
        constexpr std::size_t W = B::size;
        B sum(0.0);
        const B s(shift);
        for (std::size_t j = 0; j < n; j += W) {
            const std::size_t m = n - j < W ? n - j : W;
            alignas(B) double lanes[W];
            for (std::size_t l = 0; l < W; ++l) lanes[l] = l < m ? double(z[j + l]) : -std::numeric_limits<double>::infinity();
            sum += xsimd::exp(B::load_aligned(lanes) - s);
        }
        return hadd(sum);
    } else {
        double sum = 0;
        for (std::size_t j = 0; j < n; ++j) sum += std::exp(double(z[j]) - shift);
        return sum;
    }
}

template <class Arch = default_arch, class T>
double softmax_minus(const T* z, std::size_t n, double log_sum, double off, double scale, T* out) {
    using A = arch_for_t<double, Arch>;
    double total = 0;
    if constexpr (has_simd_v<double, A>) {
        using B = xsimd::batch<double, A>;
        constexpr std::size_t W = B::size;
        const B shift(log_sum), target(off), factor(scale);
        B sum(0.0);
        for (std::size_t j = 0; j < n; j += W) {
            const std::size_t m = n - j < W ? n - j : W;
            alignas(B) double lanes[W];
            for (std::size_t l = 0; l < W; ++l) lanes[l] = l < m ? double(z[j + l]) : 0.0;
            const B v = B::load_aligned(lanes);
            sum += v;
            ((xsimd::exp(v - shift) - target) * factor).store_aligned(lanes);
            for (std::size_t l = 0; l < m; ++l) out[j + l] = static_cast<T>(lanes[l]);
        }
        total = hadd(sum);
    } else {
        for (std::size_t j = 0; j < n; ++j) {
            total += double(z[j]);
            out[j] = static_cast<T>((std::exp(double(z[j]) - log_sum) - off) * scale);
        }
    }
    return total;
}

}  // namespace lnfold::kernels
