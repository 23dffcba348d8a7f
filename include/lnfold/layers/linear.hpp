#pragma once
// Linear<In, Out, Bias>: y = W x + b, W stored (Out, In) row-major like torch.nn.Linear.
#include <array>
#include <cstddef>
#include <string>

#include "lnfold/core/matrix.hpp"
#include "lnfold/core/parallel.hpp"
#include "lnfold/layers/layer_base.hpp"

namespace lnfold {

template <std::size_t In, std::size_t Out, bool Bias = true>
struct Linear : layer_defaults {
    static_assert(In > 0 && Out > 0, "lnfold: Linear<In, Out> needs In > 0 and Out > 0");
    static constexpr layer_kind kind = layer_kind::linear;
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

    // Y (rows x Out) = X (rows x In) W^T (+ b), one product per fixed block of rows, blocks split over threads
    // (parallel_for_row_blocks: the same products, so the same bits, for every thread count).
    template <class T>
    static void forward(const layer_call<T>& c) {
        const std::size_t rows = c.in.row_count();
        const auto weight = map_matrix(c.params, Out, In);
        parallel_for_row_blocks(rows, In * Out, [&](std::size_t begin, std::size_t end) {
            const auto x = map_matrix(c.x + begin * In, end - begin, In);
            auto y = map_matrix(c.y + begin * Out, end - begin, Out);
            y.noalias() = x * weight.transpose();
            if constexpr (Bias) y.rowwise() += map_vector(c.params + param_offset<Linear>(1), Out);
        });
    }

    // dX (rows x In) = dY W (per block of rows, as forward);  dW (Out x In) += dYᵀ X;  db += column sums of dY.
    template <class T>
    static void backward(const layer_grad_call<T>& c) {
        const std::size_t rows = c.in.row_count();
        const auto dy = map_matrix(c.dy, rows, Out);
        if (c.dx) {
            const auto weight = map_matrix(c.params, Out, In);
            parallel_for_row_blocks(rows, In * Out, [&](std::size_t begin, std::size_t end) {
                map_matrix(c.dx + begin * In, end - begin, In).noalias() = map_matrix(c.dy + begin * Out, end - begin, Out) * weight;
            });
        }
        map_matrix(c.dparams, Out, In).noalias() += dy.transpose() * map_matrix(c.x, rows, In);
        if constexpr (Bias) map_matrix(c.dparams + param_offset<Linear>(1), 1, Out) += dy.colwise().sum();
    }
};

}  // namespace lnfold
