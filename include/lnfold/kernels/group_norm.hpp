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
// Sums run in double. Where they overflow on finite data (|x| near the largest double), the group is computed
// again on x / m, m = max |x|, which leaves xhat = (x - mean) rstd unchanged. A NaN or Inf in a group makes that
// group's output and statistics NaN and touches no other group. (sample, group) pairs run on the threads; each
// pair's arithmetic is the same for every thread count, and the parameter gradients are summed in one fixed order.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <string>

#include "lnfold/core/error.hpp"
#include "lnfold/core/parallel.hpp"

namespace lnfold::kernels {

// The forward without argument checks (for the layer: its shapes are planned, the Model validated eps).
template <class T>
void group_norm_unchecked(const T* x, std::size_t batch, std::size_t tokens, std::size_t channels, std::size_t groups,
                          const T* gamma, const T* beta, T eps, T* y, T* mean, T* rstd) {
    const std::size_t cg = channels / groups;
    const double n = static_cast<double>(tokens * cg);
    parallel_for_rows(batch * groups, tokens * cg, [&](std::size_t begin, std::size_t end) {
        for (std::size_t pair = begin; pair < end; ++pair) {
            const std::size_t b = pair / groups, g = pair % groups;
            const std::size_t first = b * tokens * channels + g * cg;  // row t of the group: first + t * channels
            const auto each = [&](auto&& f) {  // f(index of the value, its channel) for every value of the group
                for (std::size_t t = 0; t < tokens; ++t)
                    for (std::size_t i = 0; i < cg; ++i) f(first + t * channels + i, g * cg + i);
            };
            double sum = 0, largest = 0;
            bool finite = true;
            each([&](std::size_t at, std::size_t) {
                const double v = x[at];
                sum += v;
                largest = std::max(largest, std::abs(v));
                finite = finite && std::isfinite(v);
            });
            if (!finite) {
                each([&](std::size_t at, std::size_t) { y[at] = std::numeric_limits<T>::quiet_NaN(); });
                mean[pair] = rstd[pair] = std::numeric_limits<T>::quiet_NaN();
                continue;
            }
            // The mean and 1/std of the values scaled by s (whose sum is scaled_sum); false when the squares overflow.
            double s = 1, mu = 0, inv_std = 0;
            const auto statistics = [&](double scaled_sum) {
                mu = scaled_sum / n;
                double squares = 0;
                each([&](std::size_t at, std::size_t) {
                    const double d = x[at] * s - mu;
                    squares += d * d;
                });
                inv_std = 1 / std::sqrt(squares / n + static_cast<double>(eps) * s * s);
                return std::isfinite(squares);
            };
            if (!std::isfinite(sum) || !statistics(sum)) {
                s = 1 / largest;
                double scaled_sum = 0;
                each([&](std::size_t at, std::size_t) { scaled_sum += x[at] * s; });
                statistics(scaled_sum);
            }
            each([&](std::size_t at, std::size_t c) {
                y[at] = static_cast<T>((x[at] * s - mu) * inv_std * gamma[c] + beta[c]);
            });
            mean[pair] = static_cast<T>(mu / s);
            rstd[pair] = static_cast<T>(inv_std * s);
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
// Sums in double; x - mean must be finite (it is unless |x| is near the largest double).
template <class T>
void group_norm_backward_unchecked(const T* x, const T* dy, std::size_t batch, std::size_t tokens,
                                   std::size_t channels, std::size_t groups, const T* gamma, const T* mean,
                                   const T* rstd, T* dx, T* dgamma, T* dbeta) {
    using A = double;
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
