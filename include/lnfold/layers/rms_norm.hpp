#pragma once
// RMSNorm<Dim, Bias>: y = gamma * x / sqrt(mean(x^2) + eps) (+ beta). With Bias it is what a folded
// LayerNorm becomes: on zero-mean rows it equals LayerNorm with the same gamma, beta, eps (docs/method.md §1).
#include <array>
#include <cstddef>
#include <string>

#include "lnfold/kernels/add_norm.hpp"
#include "lnfold/kernels/norm_backward.hpp"
#include "lnfold/kernels/rms_norm.hpp"
#include "lnfold/layers/layer_base.hpp"

namespace lnfold {

template <std::size_t Dim, bool Bias = false>
struct RMSNorm : layer_defaults {
    static_assert(Dim > 0, "lnfold: RMSNorm<Dim> needs Dim > 0");
    static constexpr std::string_view kind_name = "RMSNorm";
    static constexpr bool has_eps = true;
    static constexpr decode_support decoding = decode_support::row_wise;
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
    static std::size_t scratch_size(const Layout& in, std::size_t, std::string_view) { return in.row_count(); }

    // It can compute the residual sum it reads (the fused add + norm, graph/residual.hpp).
    static constexpr bool fuses_residual_add = true;

    // x, y: (rows, Dim); scratch: 1/rms (rows). With c.residual, x = a + b is written first, in the same pass
    // (kernels::add_rms_norm_rows; bit-identical to adding, then kernels::rms_norm_rows), through the
    // kernels' entries for layers (with gamma, and beta when Bias; no argument checks, as in LayerNorm).
    template <class T>
    static void forward(const layer_call<T>& c) {
        const std::size_t rows = c.in.row_count();
        const T eps = static_cast<T>(c.settings.eps);
        const T* gamma = c.params;
        const T* beta = Bias ? c.params + param_offset<RMSNorm>(1) : nullptr;
        if (c.residual)
            kernels::add_rms_norm_rows_unchecked<Bias>(c.residual->a, c.residual->b, rows, Dim, gamma, beta, eps,
                                                       c.residual->sum, c.y, c.scratch);
        else
            kernels::rms_norm_rows_unchecked<Bias>(c.x, rows, Dim, gamma, beta, eps, c.y, c.scratch);
    }

    // With xhat = x rrms and g = gamma ⊙ dy:  dx = rrms (g - xhat mean(g ⊙ xhat));
    // dgamma += Σ_rows dy ⊙ xhat;  dbeta += Σ_rows dy.
    template <class T>
    static void backward(const layer_grad_call<T>& c) {
        kernels::rms_norm_backward_rows(c.x, c.dy, c.in.row_count(), Dim, c.params, c.scratch, c.dx, c.dparams,
                                        Bias ? c.dparams + param_offset<RMSNorm>(1) : nullptr);
    }
};

}  // namespace lnfold
