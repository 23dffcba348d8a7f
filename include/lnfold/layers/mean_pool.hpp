#pragma once
// MeanPool: the mean over the tokens (or pixels) of each sample -> one row per sample.
#include <cstddef>
#include <string>

#include "lnfold/layers/layer_base.hpp"

namespace lnfold {

struct MeanPool : layer_defaults, width_preserving {
    static constexpr std::string_view kind_name = "MeanPool";
    static constexpr fold_role role = fold_role::preserve;  // averaging zero-mean rows gives a zero-mean row
    static std::string type_name() { return "MeanPool"; }
    static Layout output_layout(const Layout& in, std::string_view) { return Layout::rows(in.batch); }

    // y[b] = (1/tokens) sum_t x[b, t]
    template <class T>
    static void forward(const layer_call<T>& c) {
        const std::size_t width = c.in_width, tokens = c.in.tokens;
        for (std::size_t b = 0; b < c.in.batch; ++b) {
            T* y = c.y + b * width;
            for (std::size_t i = 0; i < width; ++i) y[i] = T(0);
            for (std::size_t t = 0; t < tokens; ++t) {
                const T* x = c.x + (b * tokens + t) * width;
                for (std::size_t i = 0; i < width; ++i) y[i] += x[i];
            }
            for (std::size_t i = 0; i < width; ++i) y[i] /= T(tokens);
        }
    }

    // dx[b, t] = dy[b] / tokens
    template <class T>
    static void backward(const layer_grad_call<T>& c) {
        const std::size_t width = c.in_width, tokens = c.in.tokens;
        for (std::size_t b = 0; b < c.in.batch; ++b)
            for (std::size_t t = 0; t < tokens; ++t)
                for (std::size_t i = 0; i < width; ++i) c.dx[(b * tokens + t) * width + i] = c.dy[b * width + i] / T(tokens);
    }
};

}  // namespace lnfold
