#pragma once
// GroupNorm over the tokens of each sample (PyTorch's nn.GroupNorm, with the channels last):
//
//   x, y: (batch, tokens, C) row-major;  the C channels form G groups of cg = C / G consecutive channels;
//   for sample b and group g, over its n = tokens x cg values:
//     mean_bg = Σ x / n
//     rstd_bg = 1 / sqrt(Σ (x - mean_bg)² / n + eps)                 (biased variance, eps inside the sqrt)
//     y       = (x - mean_bg) · rstd_bg · gamma_c + beta_c          (c the value's channel)
//   mean, rstd: (batch, G), kept for backward.
//
// Sums run in double for float and in long double for double. The centred squares never overflow on finite data:
// where m = max |x - mean| exceeds 1 they are summed as ((x - mean) / m)², which is at most 1 each, and
// rstd = 1 / (m sqrt(q + eps / m²)) with q their mean. A NaN or Inf in a group makes that group's output NaN and
// touches no other group. (sample, group) pairs run on the threads; each pair's arithmetic is the same for every
// thread count, and the parameter gradients are summed in one fixed order.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <string>
#include <type_traits>

#include "lnfold/core/error.hpp"
#include "lnfold/core/parallel.hpp"

namespace lnfold::kernels {

namespace detail {
template <class T>
using group_norm_acc_t = std::conditional_t<std::is_same_v<T, float>, double, long double>;
}  // namespace detail

// The forward without argument checks (for the layer: its shapes are planned, the Model validated eps).
template <class T>
void group_norm_unchecked(const T* x, std::size_t batch, std::size_t tokens, std::size_t channels, std::size_t groups,
                          const T* gamma, const T* beta, T eps, T* y, T* mean, T* rstd) {
    using A = detail::group_norm_acc_t<T>;
    const std::size_t cg = channels / groups;
    const A n = static_cast<A>(tokens * cg);
    parallel_for_rows(batch * groups, tokens * cg, [&](std::size_t begin, std::size_t end) {
        for (std::size_t pair = begin; pair < end; ++pair) {
            const std::size_t b = pair / groups, g = pair % groups;
            const T* xs = x + b * tokens * channels + g * cg;  // row t of the group: xs + t * channels
            T* ys = y + b * tokens * channels + g * cg;
            A sum = 0;
            for (std::size_t t = 0; t < tokens; ++t)
                for (std::size_t i = 0; i < cg; ++i) sum += xs[t * channels + i];
            const A mu = sum / n;
            A largest = 0;
            for (std::size_t t = 0; t < tokens; ++t)
                for (std::size_t i = 0; i < cg; ++i) largest = std::max(largest, std::abs(xs[t * channels + i] - mu));
            const A scale = largest > 1 ? 1 / largest : A(1);
            A squares = 0;
            for (std::size_t t = 0; t < tokens; ++t)
                for (std::size_t i = 0; i < cg; ++i) {
                    const A d = (xs[t * channels + i] - mu) * scale;
                    squares += d * d;
                }
            const A q = squares / n;
            const A inv_std = largest > 1 ? 1 / (largest * std::sqrt(q + static_cast<A>(eps) / (largest * largest)))
                                          : 1 / std::sqrt(q + static_cast<A>(eps));
            for (std::size_t t = 0; t < tokens; ++t)
                for (std::size_t i = 0; i < cg; ++i) {
                    const std::size_t c = g * cg + i;
                    ys[t * channels + i] = static_cast<T>((xs[t * channels + i] - mu) * inv_std * gamma[c] + beta[c]);
                }
            mean[pair] = static_cast<T>(mu);
            rstd[pair] = static_cast<T>(inv_std);
        }
    });
}

// The forward with its arguments checked: config_error unless every size is > 0, groups divides channels, eps is
// finite and > 0 and no pointer is null.
template <class T>
void group_norm(const T* x, std::size_t batch, std::size_t tokens, std::size_t channels, std::size_t groups,
                const T* gamma, const T* beta, T eps, T* y, T* mean, T* rstd) {
    const std::string at = "lnfold: kernels::group_norm: ";
    if (batch == 0 || tokens == 0 || channels == 0 || groups == 0)
        raise<config_error>(at + "batch, tokens, channels and groups must be > 0");
    if (channels % groups != 0)
        raise<config_error>(at + "groups must divide channels, got " + std::to_string(groups) + " groups of " +
                            std::to_string(channels) + " channels");
    if (!(eps > 0) || !std::isfinite(eps)) raise<config_error>(at + "eps must be a finite number > 0");
    if (!x || !gamma || !beta || !y || !mean || !rstd) raise<config_error>(at + "no pointer may be null");
    group_norm_unchecked(x, batch, tokens, channels, groups, gamma, beta, eps, y, mean, rstd);
}

// Backward, from x and the saved mean and rstd. With xhat = (x - mean) rstd and gy = gamma ⊙ dy, per (b, g):
//   dx = rstd (gy - mean(gy) - xhat mean(gy ⊙ xhat))         (means over the group's n values; dx may be null)
//   dgamma_c += Σ_{b,t} dy xhat;  dbeta_c += Σ_{b,t} dy      (in the order b, t: the same for every thread count)
template <class T>
void group_norm_backward_unchecked(const T* x, const T* dy, std::size_t batch, std::size_t tokens,
                                   std::size_t channels, std::size_t groups, const T* gamma, const T* mean,
                                   const T* rstd, T* dx, T* dgamma, T* dbeta) {
    using A = detail::group_norm_acc_t<T>;
    const std::size_t cg = channels / groups;
    const A n = static_cast<A>(tokens * cg);
    if (dx) {
        parallel_for_rows(batch * groups, 2 * tokens * cg, [&](std::size_t begin, std::size_t end) {
            for (std::size_t pair = begin; pair < end; ++pair) {
                const std::size_t b = pair / groups, g = pair % groups;
                const std::size_t first = b * tokens * channels + g * cg;
                const A mu = mean[pair], inv_std = rstd[pair];
                A sum_gy = 0, sum_gy_xhat = 0;
                for (std::size_t t = 0; t < tokens; ++t)
                    for (std::size_t i = 0; i < cg; ++i) {
                        const std::size_t at = first + t * channels + i;
                        const A gy = static_cast<A>(gamma[g * cg + i]) * dy[at];
                        sum_gy += gy;
                        sum_gy_xhat += gy * ((x[at] - mu) * inv_std);
                    }
                const A mean_gy = sum_gy / n, mean_gy_xhat = sum_gy_xhat / n;
                for (std::size_t t = 0; t < tokens; ++t)
                    for (std::size_t i = 0; i < cg; ++i) {
                        const std::size_t at = first + t * channels + i;
                        const A gy = static_cast<A>(gamma[g * cg + i]) * dy[at];
                        const A xhat = (x[at] - mu) * inv_std;
                        dx[at] = static_cast<T>(inv_std * (gy - mean_gy - xhat * mean_gy_xhat));
                    }
            }
        });
    }
    for (std::size_t b = 0; b < batch; ++b)
        for (std::size_t t = 0; t < tokens; ++t) {
            const std::size_t row = (b * tokens + t) * channels;
            for (std::size_t c = 0; c < channels; ++c) {
                const std::size_t pair = b * groups + c / cg;
                const T xhat = static_cast<T>((static_cast<A>(x[row + c]) - mean[pair]) * rstd[pair]);
                dgamma[c] += dy[row + c] * xhat;
                dbeta[c] += dy[row + c];
            }
        }
}

}  // namespace lnfold::kernels
