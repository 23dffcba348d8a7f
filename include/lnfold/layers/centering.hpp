#pragma once
// Centering: y = x - mean(x) per row, the explicit zero-mean op (makes downstream LayerNorms foldable).
#include <cstddef>
#include <string>

#include "lnfold/core/parallel.hpp"
#include "lnfold/layers/layer_base.hpp"

namespace lnfold {

struct Centering : layer_defaults, width_preserving {
    static constexpr std::string_view kind_name = "Centering";
    static constexpr decode_support decoding = decode_support::row_wise;
    static constexpr fold_role role = fold_role::centering;
    static std::string type_name() { return "Centering"; }

    template <class T>
    static void forward(const layer_call<T>& c) {
        const std::size_t width = c.in_width;
        parallel_for_rows(c.in.row_count(), width, [&](std::size_t begin, std::size_t end) {
            for (std::size_t r = begin; r < end; ++r) {
                const T* x = c.x + r * width;
                T* y = c.y + r * width;
                T sum = 0;
                for (std::size_t i = 0; i < width; ++i) sum += x[i];
                const T mean = sum / T(width);
                for (std::size_t i = 0; i < width; ++i) y[i] = x[i] - mean;
            }
        });
    }

    // The centring projection is symmetric: dx = dy - mean(dy)
    template <class T>
    static void backward(const layer_grad_call<T>& c) {
        const std::size_t width = c.in_width;
        for (std::size_t r = 0; r < c.in.row_count(); ++r) {
            const T* dy = c.dy + r * width;
            T sum = 0;
            for (std::size_t i = 0; i < width; ++i) sum += dy[i];
            const T mean = sum / T(width);
            for (std::size_t i = 0; i < width; ++i) c.dx[r * width + i] = dy[i] - mean;
        }
    }
};

}  // namespace lnfold
