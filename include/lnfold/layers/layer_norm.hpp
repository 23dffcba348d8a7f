#pragma once
// LayerNorm<Dim>: y = gamma * (x - mean) / sqrt(var + eps) + beta per row (biased var, eps inside the sqrt).
#include <array>
#include <cstddef>
#include <string>

#include "lnfold/core/checked_size.hpp"
#include "lnfold/kernels/add_norm.hpp"
#include "lnfold/kernels/layer_norm.hpp"
#include "lnfold/kernels/norm_backward.hpp"
#include "lnfold/layers/layer_base.hpp"

namespace lnfold {

template <std::size_t Dim>
struct LayerNorm : layer_defaults {
    static_assert(Dim > 0, "lnfold: LayerNorm<Dim> needs Dim > 0");
    static constexpr std::string_view kind_name = "LayerNorm";
    static constexpr bool fold_candidate = true;
    static constexpr bool has_eps = true;
    static constexpr decode_support decoding = decode_support::row_wise;
    static constexpr fold_role role = fold_role::layer_norm;
    static constexpr std::size_t in_width = Dim;
    static constexpr std::size_t resolve_out(std::size_t) { return Dim; }
    static constexpr std::array params{param_spec{"weight", {Dim}, 1, init_kind::ones},
                                       param_spec{"bias", {Dim}, 1, init_kind::zeros}};
    static std::string type_name() { return "LayerNorm<" + std::to_string(Dim) + ">"; }

    // Saved for backward: mean and rstd per row.
    static std::size_t scratch_size(const Layout& in, std::size_t, std::string_view path) {
        return checked_mul(in.row_count(), "rows", 2, "statistics",
                           layer_context<LayerNorm>{path, "the saved mean and 1/std"});
    }

    // It can compute the residual sum it reads (the fused add + norm, graph/residual.hpp).
    static constexpr bool fuses_residual_add = true;

    // x, y: (rows, Dim); scratch: mean (rows), then rstd (rows). With c.residual, x = a + b is written first, in the
    // same pass (kernels::add_layer_norm_rows; bit-identical to adding, then kernels::layer_norm_rows). The
    // kernels' entries for layers skip the argument checks (the parameters exist, eps is validated by the Model).
    template <class T>
    static void forward(const layer_call<T>& c) {
        const std::size_t rows = c.in.row_count();
        const T eps = static_cast<T>(c.settings.eps);
        const T* gamma = c.params;
        const T* beta = c.params + param_offset<LayerNorm>(1);
        T* mean = c.scratch;
        T* rstd = c.scratch + rows;
        if (c.residual)
            kernels::add_layer_norm_rows_unchecked(c.residual->a, c.residual->b, rows, Dim, gamma, beta, eps,
                                                   c.residual->sum, c.y, mean, rstd);
        else
            kernels::layer_norm_rows_unchecked(c.x, rows, Dim, gamma, beta, eps, c.y, mean, rstd);
    }

    // With xhat = (x - mean) rstd and g = gamma ⊙ dy:
    //   dx = rstd (g - mean(g) - xhat mean(g ⊙ xhat));  dgamma += Σ_rows dy ⊙ xhat;  dbeta += Σ_rows dy.
    template <class T>
    static void backward(const layer_grad_call<T>& c) {
        const std::size_t rows = c.in.row_count();
        kernels::layer_norm_backward_rows(c.x, c.dy, rows, Dim, c.params, c.scratch, c.scratch + rows, c.dx,
                                          c.dparams, c.dparams + param_offset<LayerNorm>(1));
    }
};

}  // namespace lnfold
