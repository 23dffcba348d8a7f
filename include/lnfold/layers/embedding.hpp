#pragma once
// Embedding<Vocab, Dim>: token ids -> rows of a (Vocab, Dim) table, like torch.nn.Embedding.
#include <array>
#include <cstddef>
#include <cstring>
#include <string>

#include "lnfold/core/error.hpp"
#include "lnfold/layers/layer_base.hpp"

namespace lnfold {

template <std::size_t Vocab, std::size_t Dim>
struct Embedding : layer_defaults {
    static_assert(Vocab > 0 && Dim > 0, "lnfold: Embedding<Vocab, Dim> needs Vocab > 0 and Dim > 0");
    static constexpr std::string_view kind_name = "Embedding";
    static constexpr output_centring centring = output_centring::table_rows;
    static constexpr decode_support decoding = decode_support::row_wise;
    static constexpr fold_role role = fold_role::source;
    static constexpr std::size_t in_width = 0;  // reads token ids, not activations
    static constexpr std::size_t resolve_out(std::size_t) { return Dim; }
    static constexpr bool reads_tokens = true;
    static constexpr std::size_t vocab = Vocab;
    static constexpr std::array params{param_spec{"weight", {Vocab, Dim}, 2, init_kind::table, 1, 1.0}};
    static std::string type_name() { return "Embedding<" + std::to_string(Vocab) + ", " + std::to_string(Dim) + ">"; }

    // Every token id in [0, Vocab).
    static status check(const Layout& in, std::string_view path, const std::int32_t* tokens) {
        const std::size_t rows = in.row_count();
        for (std::size_t r = 0; tokens != nullptr && r < rows; ++r)
            if (tokens[r] < 0 || static_cast<std::size_t>(tokens[r]) >= Vocab) [[unlikely]]
                return status::of<index_error>(layer_error_prefix(type_name(), path) + "token id at row " +
                                               std::to_string(r) + " must be in [0, " + std::to_string(Vocab) +
                                               "), got " + std::to_string(tokens[r]));
        return {};
    }

    // y[r] = table[id[r]] (ids checked by check)
    template <class T>
    static void forward(const layer_call<T>& c) {
        const std::size_t rows = c.in.row_count();
        for (std::size_t r = 0; r < rows; ++r)
            std::memcpy(c.y + r * Dim, c.params + static_cast<std::size_t>(c.tokens[r]) * Dim, Dim * sizeof(T));
    }

    // dtable[id[r]] += dy[r] (ids checked by check)
    template <class T>
    static void backward(const layer_grad_call<T>& c) {
        for (std::size_t r = 0; r < c.in.row_count(); ++r) {
            T* row = c.dparams + static_cast<std::size_t>(c.tokens[r]) * Dim;
            for (std::size_t i = 0; i < Dim; ++i) row[i] += c.dy[r * Dim + i];
        }
    }
};

}  // namespace lnfold
