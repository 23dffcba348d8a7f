#pragma once
// LayerNorm<Dim>: y = gamma * (x - mean) / sqrt(var + eps) + beta per row (biased var, eps inside the sqrt).
#include <array>
#include <cmath>
#include <cstddef>
#include <string>

#include "lnfold/core/parallel.hpp"
#include "lnfold/layers/layer_base.hpp"

namespace lnfold {

template <std::size_t Dim>
struct LayerNorm : layer_defaults {
    static_assert(Dim > 0, "lnfold: LayerNorm<Dim> needs Dim > 0");
    static constexpr layer_kind kind = layer_kind::layer_norm;
    static constexpr fold_role role = fold_role::layer_norm;
    static constexpr std::size_t in_width = Dim;
    static constexpr std::size_t resolve_out(std::size_t) { return Dim; }
    static constexpr std::array params{param_spec{"weight", {Dim}, 1, init_kind::ones},
                                       param_spec{"bias", {Dim}, 1, init_kind::zeros}};
    static std::string type_name() { return "LayerNorm<" + std::to_string(Dim) + ">"; }

    // Saved for backward: mean and rstd per row.
    static std::size_t scratch_size(const Layout& in, std::size_t) { return 2 * in.row_count(); }

    template <class T>
    static void forward(const layer_call<T>& c) {
        const std::size_t rows = c.in.row_count();
        const T eps = static_cast<T>(c.settings.eps);
        const T* gamma = c.params;
        const T* beta = c.params + param_offset<LayerNorm>(1);
        T* mean_out = c.scratch;
        T* rstd_out = c.scratch + rows;
        parallel_for_rows(rows, Dim, [&](std::size_t begin, std::size_t end) {
            for (std::size_t r = begin; r < end; ++r) {
                const T* x = c.x + r * Dim;
                T* y = c.y + r * Dim;
                T sum = 0;
                for (std::size_t i = 0; i < Dim; ++i) sum += x[i];
                const T mean = sum / T(Dim);
                T squares = 0;
                for (std::size_t i = 0; i < Dim; ++i) squares += (x[i] - mean) * (x[i] - mean);
                const T rstd = T(1) / std::sqrt(squares / T(Dim) + eps);
                for (std::size_t i = 0; i < Dim; ++i) y[i] = (x[i] - mean) * rstd * gamma[i] + beta[i];
                mean_out[r] = mean;
                rstd_out[r] = rstd;
            }
        });
    }

    // With xhat = (x - mean) rstd and g = gamma ⊙ dy:
    //   dx = rstd (g - mean(g) - xhat mean(g ⊙ xhat));  dgamma += Σ_rows dy ⊙ xhat;  dbeta += Σ_rows dy.
    template <class T>
    static void backward(const layer_grad_call<T>& c) {
        const std::size_t rows = c.in.row_count();
        const T* gamma = c.params;
        const T* mean = c.scratch;
        const T* rstd = c.scratch + rows;
        T* dgamma = c.dparams;
        T* dbeta = c.dparams + param_offset<LayerNorm>(1);
        for (std::size_t r = 0; r < rows; ++r) {
            const T* x = c.x + r * Dim;
            const T* dy = c.dy + r * Dim;
            T g_sum = 0, gx_sum = 0;
            for (std::size_t i = 0; i < Dim; ++i) {
                const T xhat = (x[i] - mean[r]) * rstd[r];
                const T g = gamma[i] * dy[i];
                g_sum += g;
                gx_sum += g * xhat;
                dgamma[i] += dy[i] * xhat;
                dbeta[i] += dy[i];
            }
            if (!c.dx) continue;
            const T g_mean = g_sum / T(Dim), gx_mean = gx_sum / T(Dim);
            for (std::size_t i = 0; i < Dim; ++i) {
                const T xhat = (x[i] - mean[r]) * rstd[r];
                c.dx[r * Dim + i] = rstd[r] * (gamma[i] * dy[i] - g_mean - xhat * gx_mean);
            }
        }
    }
};

}  // namespace lnfold
