#pragma once
// The shared shape of elementwise activations: y_i = f(x_i), any width, threads over rows.
#include <cstddef>

#include "lnfold/core/parallel.hpp"
#include "lnfold/layers/layer_base.hpp"

namespace lnfold::detail {

// Activation is the spec type; it provides `static T apply(T)`.
template <class Activation>
struct elementwise : layer_defaults, width_preserving {
    static constexpr fold_role role = fold_role::breaker;

    template <class T>
    static void forward(const layer_call<T>& c) {
        const std::size_t width = c.in_width;
        parallel_for_rows(c.in.row_count(), width * 8, [&](std::size_t begin, std::size_t end) {
            for (std::size_t i = begin * width; i < end * width; ++i) c.y[i] = Activation::apply(c.x[i]);
        });
    }

    // dx_i = f'(x_i) dy_i
    template <class T>
    static void backward(const layer_grad_call<T>& c) {
        const std::size_t width = c.in_width;
        parallel_for_rows(c.in.row_count(), width * 8, [&](std::size_t begin, std::size_t end) {
            for (std::size_t i = begin * width; i < end * width; ++i) c.dx[i] = Activation::derivative(c.x[i]) * c.dy[i];
        });
    }
};

}  // namespace lnfold::detail
