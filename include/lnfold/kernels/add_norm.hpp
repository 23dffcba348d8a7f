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
// (3) output. RMSNorm: (1) sum stored while Σ sum² accumulates, (2) output. sum may be a or b (the in-place
// residual stream x += branch(x)); y may be sum. Results equal layer_norm_rows / rms_norm_rows on the stored sum
// up to the summation order of pass 1, and are bit-identical for every thread count.
#include <cstddef>

#include "lnfold/core/parallel.hpp"
#include "lnfold/kernels/arch.hpp"
#include "lnfold/kernels/layer_norm.hpp"
#include "lnfold/kernels/reduce.hpp"
#include "lnfold/kernels/rms_norm.hpp"

namespace lnfold::kernels {

template <class Arch = default_arch, class T>
void add_layer_norm_rows(const T* a, const T* b, std::size_t rows, std::size_t dim, nd<const T*> gamma,
                         nd<const T*> beta, nd<T> eps, T* sum, T* y, nd<T*> mean = nullptr, nd<T*> rstd = nullptr) {
    detail::check_eps("add_layer_norm_rows", eps);
    detail::check_dim("add_layer_norm_rows", rows, dim);
    detail::check_pointer("add_layer_norm_rows", "a", a, rows);
    detail::check_pointer("add_layer_norm_rows", "b", b, rows);
    detail::check_pointer("add_layer_norm_rows", "sum", sum, rows);
    detail::check_pointer("add_layer_norm_rows", "y", y, rows);
    using A = arch_for_t<T, Arch>;
    detail::with_affine(gamma, beta, [&]<bool G, bool B>() {
        parallel_for_rows(rows, dim, [&](std::size_t begin, std::size_t end) {
            for (std::size_t r = begin; r < end; ++r) {
                const T* ar = a + r * dim;
                const T* br = b + r * dim;
                T* sr = sum + r * dim;
                const T shift = ar[0] + br[0];
                const T shifted = detail::row_map_sum<A>(
                    dim, sr, [](auto u, auto v) { return u + v; },
                    [=](auto s) { return s - decltype(s)(shift); }, ar, br);
                const T m = shift + shifted / T(dim);
                const T ss = detail::row_sum<A, T>(
                    dim,
                    [=](auto v) {
                        const auto d = v - decltype(v)(m);
                        return d * d;
                    },
                    static_cast<const T*>(sr));
                const T s = detail::inverse_std<A, T>(ss, sr, dim, m, eps);
                detail::normalise_row<A, G, B>(sr, dim, m, s, gamma, beta, y + r * dim);
                if (mean) mean[r] = m;
                if (rstd) rstd[r] = s;
            }
        });
    });
}

template <class Arch = default_arch, class T>
void add_rms_norm_rows(const T* a, const T* b, std::size_t rows, std::size_t dim, nd<const T*> gamma,
                       nd<const T*> beta, nd<T> eps, T* sum, T* y, nd<T*> rrms = nullptr) {
    detail::check_eps("add_rms_norm_rows", eps);
    detail::check_dim("add_rms_norm_rows", rows, dim);
    detail::check_pointer("add_rms_norm_rows", "a", a, rows);
    detail::check_pointer("add_rms_norm_rows", "b", b, rows);
    detail::check_pointer("add_rms_norm_rows", "sum", sum, rows);
    detail::check_pointer("add_rms_norm_rows", "y", y, rows);
    using A = arch_for_t<T, Arch>;
    detail::with_affine(gamma, beta, [&]<bool G, bool B>() {
        parallel_for_rows(rows, dim, [&](std::size_t begin, std::size_t end) {
            for (std::size_t r = begin; r < end; ++r) {
                const T* ar = a + r * dim;
                const T* br = b + r * dim;
                T* sr = sum + r * dim;
                const T ss = detail::row_map_sum<A>(
                    dim, sr, [](auto u, auto v) { return u + v; }, [](auto s) { return s * s; }, ar, br);
                const T s = detail::inverse_std<A, T>(ss, sr, dim, T(0), eps);
                detail::scale_row<A, G, B>(sr, dim, s, gamma, beta, y + r * dim);
                if (rrms) rrms[r] = s;
            }
        });
    });
}

}  // namespace lnfold::kernels
