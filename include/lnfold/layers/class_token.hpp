#pragma once
// ClassToken<Dim>: prepends one learned token to every sequence (ViT's [CLS]); tokens -> tokens + 1.
#include <array>
#include <cstddef>
#include <cstring>
#include <string>

#include "lnfold/core/checked_size.hpp"
#include "lnfold/layers/layer_base.hpp"

namespace lnfold {

template <std::size_t Dim>
struct ClassToken : layer_defaults {
    static_assert(Dim > 0, "lnfold: ClassToken<Dim> needs Dim > 0");
    static constexpr std::string_view kind_name = "ClassToken";
    static constexpr output_centring centring = output_centring::table_rows;
    static constexpr fold_role role = fold_role::additive_source;
    static constexpr std::size_t in_width = Dim;
    static constexpr std::size_t resolve_out(std::size_t) { return Dim; }
    static constexpr std::array params{param_spec{"weight", {1, 1, Dim}, 3, init_kind::table, 1, 0.02}};
    static std::string type_name() { return "ClassToken<" + std::to_string(Dim) + ">"; }

    static status check(const Layout& in, std::string_view path, const std::int32_t*) {
        status error;
        std::size_t tokens = 0;
        add_or_report(tokens, in.tokens, "tokens", 1, "class token", layer_context<ClassToken>{path, "the output"}, error);
        return error;
    }
    // The spatial grid (if any) is gone: the output is a plain sequence of tokens + 1.
    static Layout output_layout(const Layout& in, std::string_view) { return Layout::sequence(in.batch, in.tokens + 1); }

    // y[b, 0] = cls; y[b, 1 + t] = x[b, t]
    template <class T>
    static void forward(const layer_call<T>& c) {
        const std::size_t tokens = c.in.tokens;
        for (std::size_t b = 0; b < c.in.batch; ++b) {
            T* out = c.y + b * (tokens + 1) * Dim;
            std::memcpy(out, c.params, Dim * sizeof(T));
            std::memcpy(out + Dim, c.x + b * tokens * Dim, tokens * Dim * sizeof(T));
        }
    }

    // dx[b, t] = dy[b, 1 + t];  dcls += Σ_b dy[b, 0]
    template <class T>
    static void backward(const layer_grad_call<T>& c) {
        const std::size_t tokens = c.in.tokens;
        for (std::size_t b = 0; b < c.in.batch; ++b) {
            const T* dy = c.dy + b * (tokens + 1) * Dim;
            for (std::size_t i = 0; i < Dim; ++i) c.dparams[i] += dy[i];
            if (c.dx) std::memcpy(c.dx + b * tokens * Dim, dy + Dim, tokens * Dim * sizeof(T));
        }
    }
};

}  // namespace lnfold
