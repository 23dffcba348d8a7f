#pragma once
// PositionEmbedding<MaxLen, Dim>: adds a learned (MaxLen, Dim) table by token position (GPT-2 wpe, ViT).
#include <algorithm>
#include <array>
#include <cstddef>
#include <string>

#include "lnfold/core/error.hpp"
#include "lnfold/layers/layer_base.hpp"

namespace lnfold {

template <std::size_t MaxLen, std::size_t Dim>
struct PositionEmbedding : layer_defaults {
    static_assert(MaxLen > 0 && Dim > 0, "lnfold: PositionEmbedding<MaxLen, Dim> needs MaxLen > 0 and Dim > 0");
    static constexpr std::string_view kind_name = "PositionEmbedding";
    static constexpr output_centring centring = output_centring::table_rows;
    static constexpr std::size_t max_positions = MaxLen;
    static constexpr fold_role role = fold_role::additive_source;
    static constexpr decode_support decoding = decode_support::positional;
    static constexpr std::size_t in_width = Dim;
    static constexpr std::size_t resolve_out(std::size_t) { return Dim; }
    static constexpr std::size_t max_length = MaxLen;
    static constexpr std::array params{param_spec{"weight", {MaxLen, Dim}, 2, init_kind::table, 1, 0.02}};
    static std::string type_name() {
        return "PositionEmbedding<" + std::to_string(MaxLen) + ", " + std::to_string(Dim) + ">";
    }

    static status check(const Layout& in, std::string_view path, const std::int32_t*) {
        if (in.tokens > MaxLen)
            return status::of<index_error>(layer_error_prefix(type_name(), path) + "sequence length must be at most " +
                                           std::to_string(MaxLen) + " (the position table), got " +
                                           std::to_string(in.tokens));
        return {};
    }

    // y[b, t] = x[b, t] + table[t]
    template <class T>
    static void forward(const layer_call<T>& c) {
        for (std::size_t b = 0; b < c.in.batch; ++b)
            for (std::size_t t = 0; t < c.in.tokens; ++t) {
                const std::size_t r = b * c.in.tokens + t;
                for (std::size_t i = 0; i < Dim; ++i) c.y[r * Dim + i] = c.x[r * Dim + i] + c.params[t * Dim + i];
            }
    }

    // Decoding: row first_row + r of a segment is its token at position past + r (the decoder keeps past + rows
    // within MaxLen):  y[first_row + r] = x[first_row + r] + table[past + r]
    static std::size_t decode_scratch_size(const Layout&, std::size_t, std::string_view, const auto&) { return 0; }
    template <class T>
    static void decode(const layer_call<T>& c) {
        for (std::size_t s = 0; s < c.decode->segment_count; ++s) {
            const decode_segment& seg = c.decode->segments[s];
            for (std::size_t r = 0; r < seg.rows; ++r) {
                const std::size_t row = seg.first_row + r, position = seg.past + r;
                for (std::size_t i = 0; i < Dim; ++i) c.y[row * Dim + i] = c.x[row * Dim + i] + c.params[position * Dim + i];
            }
        }
    }

    // dx = dy;  dtable[t] += Σ_b dy[b, t]
    template <class T>
    static void backward(const layer_grad_call<T>& c) {
        const std::size_t count = c.in.row_count() * Dim;
        if (c.dx) std::copy(c.dy, c.dy + count, c.dx);
        for (std::size_t b = 0; b < c.in.batch; ++b)
            for (std::size_t t = 0; t < c.in.tokens; ++t)
                for (std::size_t i = 0; i < Dim; ++i) c.dparams[t * Dim + i] += c.dy[(b * c.in.tokens + t) * Dim + i];
    }
};

}  // namespace lnfold
