#pragma once
// The shared shape of elementwise activations: y_i = f(x_i), any width, threads over rows; each thread's rows go
// through the vectorised kernel (kernels/activations.hpp), whose results do not depend on how rows are split.
#include <cstddef>

#include "lnfold/core/parallel.hpp"
#include "lnfold/kernels/activations.hpp"
#include "lnfold/layers/layer_base.hpp"

namespace lnfold {

// Activation is the spec type; kernels::activation_forward / activation_backward know its math. Its scalar
// `apply(x)` / `derivative(x)` stay as the plain definitions (references for the tests).
template <class Activation>
struct elementwise_layer : layer_defaults, width_preserving {
    static constexpr fold_role role = fold_role::breaker;
    static constexpr decode_support decoding = decode_support::row_wise;

    template <class T>
    static void forward(const layer_call<T>& c) {
        const std::size_t width = c.in_width;
        parallel_for_rows(c.in.row_count(), width * 8, [&](std::size_t begin, std::size_t end) {
            kernels::activation_forward<Activation>(c.x + begin * width, c.y + begin * width, (end - begin) * width);
        });
    }

    // dx_i = f'(x_i) dy_i
    template <class T>
    static void backward(const layer_grad_call<T>& c) {
        const std::size_t width = c.in_width;
        parallel_for_rows(c.in.row_count(), width * 8, [&](std::size_t begin, std::size_t end) {
            kernels::activation_backward<Activation>(c.x + begin * width, c.dy + begin * width, c.dx + begin * width,
                                                     (end - begin) * width);
        });
    }
};

}  // namespace lnfold
