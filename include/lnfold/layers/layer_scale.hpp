#pragma once
// LayerScale<Dim>: y = gamma * x per channel (CaiT / timm). Before centring, fold multiplies gamma into the
// preceding linear layer (centring first would not commute with the per-channel scale).
#include <array>
#include <cstddef>
#include <string>

#include "lnfold/core/parallel.hpp"
#include "lnfold/layers/layer_base.hpp"

namespace lnfold {

template <std::size_t Dim>
struct LayerScale : layer_defaults {
    static_assert(Dim > 0, "lnfold: LayerScale<Dim> needs Dim > 0");
    static constexpr std::string_view kind_name = "LayerScale";
    static constexpr decode_support decoding = decode_support::row_wise;
    static constexpr fold_role role = fold_role::scale;
    static constexpr std::size_t in_width = Dim;
    static constexpr std::size_t resolve_out(std::size_t) { return Dim; }
    // timm names it "gamma"; initialised to 0.1 (CaiT's value for shallow networks).
    static constexpr std::array params{param_spec{"gamma", {Dim}, 1, init_kind::constant, 1, 0.1}};
    static std::string type_name() { return "LayerScale<" + std::to_string(Dim) + ">"; }

    template <class T>
    static void forward(const layer_call<T>& c) {
        parallel_for_rows(c.in.row_count(), Dim, [&](std::size_t begin, std::size_t end) {
            for (std::size_t r = begin; r < end; ++r)
                for (std::size_t i = 0; i < Dim; ++i) c.y[r * Dim + i] = c.x[r * Dim + i] * c.params[i];
        });
    }

    // dx = dy ⊙ gamma;  dgamma += Σ_rows dy ⊙ x
    template <class T>
    static void backward(const layer_grad_call<T>& c) {
        for (std::size_t r = 0; r < c.in.row_count(); ++r)
            for (std::size_t i = 0; i < Dim; ++i) {
                c.dparams[i] += c.dy[r * Dim + i] * c.x[r * Dim + i];
                if (c.dx) c.dx[r * Dim + i] = c.dy[r * Dim + i] * c.params[i];
            }
    }
};

}  // namespace lnfold
