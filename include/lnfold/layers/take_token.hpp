#pragma once
// TakeToken<Index>: row Index of every sample's sequence -> one row per sample (ViT's [CLS] readout).
#include <algorithm>
#include <cstddef>
#include <cstring>
#include <string>

#include "lnfold/core/error.hpp"
#include "lnfold/layers/layer_base.hpp"

namespace lnfold {

template <std::size_t Index>
struct TakeToken : layer_defaults, width_preserving {
    static constexpr std::string_view kind_name = "TakeToken";
    static constexpr fold_role role = fold_role::preserve;
    static std::string type_name() { return "TakeToken<" + std::to_string(Index) + ">"; }
    static status check(const Layout& in, std::string_view path, const std::int32_t*) {
        if (Index >= in.tokens)
            return status::of<index_error>(layer_error_prefix(type_name(), path) +
                                           "token index must be below the sequence length " +
                                           std::to_string(in.tokens) + ", got " + std::to_string(Index));
        return {};
    }
    static Layout output_layout(const Layout& in, std::string_view) { return Layout::rows(in.batch); }

    template <class T>
    static void forward(const layer_call<T>& c) {
        const std::size_t width = c.in_width;
        for (std::size_t b = 0; b < c.in.batch; ++b)
            std::memcpy(c.y + b * width, c.x + (b * c.in.tokens + Index) * width, width * sizeof(T));
    }

    // dx[b, Index] = dy[b], zero elsewhere
    template <class T>
    static void backward(const layer_grad_call<T>& c) {
        const std::size_t width = c.in_width;
        std::fill(c.dx, c.dx + c.in.row_count() * width, T(0));
        for (std::size_t b = 0; b < c.in.batch; ++b)
            std::memcpy(c.dx + (b * c.in.tokens + Index) * width, c.dy + b * width, width * sizeof(T));
    }
};

}  // namespace lnfold
