#pragma once
// Linear<In, Out, Bias>: y = W x + b, W stored (Out, In) row-major like torch.nn.Linear.
#include <array>
#include <cstddef>
#include <string>

#include "lnfold/core/matrix.hpp"
#include "lnfold/kernels/gemm.hpp"
#include "lnfold/layers/layer_base.hpp"

namespace lnfold {

template <std::size_t In, std::size_t Out, bool Bias = true>
struct Linear : layer_defaults {
    static_assert(In > 0 && Out > 0, "lnfold: Linear<In, Out> needs In > 0 and Out > 0");
    static constexpr std::string_view kind_name = "Linear";
    static constexpr output_centring centring = output_centring::weight_columns;  // weight (Out, In), bias
    static constexpr decode_support decoding = decode_support::row_wise;
    static constexpr fold_role role = fold_role::source;
    static constexpr std::size_t in_width = In;
    static constexpr std::size_t resolve_out(std::size_t) { return Out; }
    static constexpr bool has_bias = Bias;

    static constexpr auto params = [] {
        constexpr param_spec weight{"weight", {Out, In}, 2, init_kind::fan_in_weight, In};
        if constexpr (Bias)
            return std::array{weight, param_spec{"bias", {Out}, 1, init_kind::fan_in_bias, In}};
        else
            return std::array{weight};
    }();
    static std::string type_name() { return "Linear<" + std::to_string(In) + ", " + std::to_string(Out) + ">"; }

    // Y (rows x Out) = X (rows x In) Wᵀ (+ b, the product's starting value): kernels::matmul_nt (fixed blocks, so
    // the same bits for every thread count).
    template <class T>
    static void forward(const layer_call<T>& c) {
        const T* bias = Bias ? c.params + param_offset<Linear>(Bias ? 1 : 0) : nullptr;
        kernels::matmul_nt(c.in.row_count(), Out, In, c.x, In, c.params, In, c.y, Out, bias);
    }

    // dX (rows x In) = dY W;  dW (Out x In) += dYᵀ X;  db += column sums of dY.
    template <class T>
    static void backward(const layer_grad_call<T>& c) {
        const std::size_t rows = c.in.row_count();
        if (c.dx) kernels::matmul_nn(rows, In, Out, c.dy, Out, c.params, In, c.dx, In);
        kernels::matmul_tn_add(Out, In, rows, c.dy, Out, c.x, In, c.dparams, In);
        if constexpr (Bias) map_matrix(c.dparams + param_offset<Linear>(1), 1, Out) += map_matrix(c.dy, rows, Out).colwise().sum();
    }
};

}  // namespace lnfold
