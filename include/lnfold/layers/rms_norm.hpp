#pragma once
// RMSNorm<Dim, Bias>: y = gamma * x / sqrt(mean(x^2) + eps) (+ beta). With Bias it is what a folded
// LayerNorm becomes: on zero-mean rows it equals LayerNorm with the same gamma, beta, eps (METHOD.md §1).
#include <array>
#include <cmath>
#include <cstddef>
#include <string>

#include "lnfold/core/parallel.hpp"
#include "lnfold/layers/layer_base.hpp"

namespace lnfold {

template <std::size_t Dim, bool Bias = false>
struct RMSNorm : layer_defaults {
    static_assert(Dim > 0, "lnfold: RMSNorm<Dim> needs Dim > 0");
    static constexpr layer_kind kind = layer_kind::rms_norm;
    static constexpr fold_role role = fold_role::rms_norm;
    static constexpr std::size_t in_width = Dim;
    static constexpr std::size_t resolve_out(std::size_t) { return Dim; }
    static constexpr bool has_bias = Bias;
    static constexpr auto params = [] {
        constexpr param_spec weight{"weight", {Dim}, 1, init_kind::ones};
        if constexpr (Bias)
            return std::array{weight, param_spec{"bias", {Dim}, 1, init_kind::zeros}};
        else
            return std::array{weight};
    }();
    static std::string type_name() {
        return "RMSNorm<" + std::to_string(Dim) + (Bias ? ", bias>" : ">");
    }

    // Saved for backward: 1/rms per row.
    static std::size_t scratch_size(const Layout& in, std::size_t) { return in.row_count(); }

    template <class T>
    static void forward(const layer_call<T>& c) {
        const std::size_t rows = c.in.row_count();
        const T eps = static_cast<T>(c.settings.eps);
        const T* gamma = c.params;
        parallel_for_rows(rows, Dim, [&](std::size_t begin, std::size_t end) {
            for (std::size_t r = begin; r < end; ++r) {
                const T* x = c.x + r * Dim;
                T* y = c.y + r * Dim;
                T squares = 0;
                for (std::size_t i = 0; i < Dim; ++i) squares += x[i] * x[i];
                const T rrms = T(1) / std::sqrt(squares / T(Dim) + eps);
                for (std::size_t i = 0; i < Dim; ++i) y[i] = x[i] * rrms * gamma[i];
                if constexpr (Bias)
                    for (std::size_t i = 0; i < Dim; ++i) y[i] += c.params[param_offset<RMSNorm>(1) + i];
                c.scratch[r] = rrms;
            }
        });
    }

    // With xhat = x rrms and g = gamma ⊙ dy:  dx = rrms (g - xhat mean(g ⊙ xhat));
    // dgamma += Σ_rows dy ⊙ xhat;  dbeta += Σ_rows dy.
    template <class T>
    static void backward(const layer_grad_call<T>& c) {
        const std::size_t rows = c.in.row_count();
        const T* gamma = c.params;
        T* dgamma = c.dparams;
        for (std::size_t r = 0; r < rows; ++r) {
            const T* x = c.x + r * Dim;
            const T* dy = c.dy + r * Dim;
            const T rrms = c.scratch[r];
            T gx_sum = 0;
            for (std::size_t i = 0; i < Dim; ++i) {
                gx_sum += gamma[i] * dy[i] * x[i] * rrms;
                dgamma[i] += dy[i] * x[i] * rrms;
            }
            if constexpr (Bias)
                for (std::size_t i = 0; i < Dim; ++i) c.dparams[param_offset<RMSNorm>(1) + i] += dy[i];
            if (!c.dx) continue;
            const T gx_mean = gx_sum / T(Dim);
            for (std::size_t i = 0; i < Dim; ++i) c.dx[r * Dim + i] = rrms * (gamma[i] * dy[i] - x[i] * rrms * gx_mean);
        }
    }
};

}  // namespace lnfold
