#pragma once
// What a safetensors file holds, read from its tensor names and shapes alone: GPT-2 or ViT, and the sizes.
// Only the number of attention heads is not in the shapes: it comes from --heads or the released models' widths.
// The shapes are the file's, so nothing here trusts them: every loop is bounded by the file's tensor count or a
// constant, and every product of sizes is checked (an overflow is a config_error naming the tensor).
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <lnfold/core/error.hpp>
#include <lnfold/io/safetensors.hpp>
#include <lnfold/models/gpt2.hpp>
#include <lnfold/models/vit.hpp>

#include "configurations.hpp"

namespace lnfold::fold_tool {

enum class family { gpt2, vit };

namespace detail {

// The tensor `name` of a file, with or without `prefix` (Hugging Face's base-model prefix), or nullptr.
inline const io::tensor_info* find(const io::safetensors_file& file, std::string_view prefix, std::string_view name) {
    if (const io::tensor_info* t = file.find(name)) return t;
    return file.find(std::string(prefix) + std::string(name));
}

// The tensor `name`, which must exist with `rank` dimensions.
inline const io::tensor_info& require(const io::safetensors_file& file, std::string_view prefix, std::string_view name,
                                      std::size_t rank, std::string_view role) {
    const io::tensor_info* t = find(file, prefix, name);
    if (t == nullptr)
        throw io_error(io::detail::quoted(file.source()) + " has no tensor " + io::detail::quoted(name) +
                       " (also looked for " + io::detail::quoted(std::string(prefix) + std::string(name)) + "), " +
                       std::string(role));
    if (t->shape.size() != rank)
        throw io_error(io::detail::quoted(file.source()) + ": tensor " + io::detail::quoted(t->name) +
                       " (" + std::string(role) + ") must have " + std::to_string(rank) + " dimensions, it has " +
                       io::shape_string(t->shape));
    return *t;
}

// Blocks "<head>0<tail>", "<head>1<tail>", ... present in the file, counted from 0 up to the first absent one.
// Each block is a different tensor, so there are at most as many as the file has tensors (find is a binary search:
// the count costs n log n).
inline std::size_t count_blocks(const io::safetensors_file& file, std::string_view prefix, std::string_view head,
                                std::string_view tail) {
    std::size_t n = 0;
    while (n < file.tensors().size() && find(file, prefix, std::string(head) + std::to_string(n) + std::string(tail))) ++n;
    return n;
}

// floor(sqrt(n)), exactly, for any n: digit by digit in base 4, 32 steps, no floating point and no overflow.
constexpr std::uint64_t integer_sqrt(std::uint64_t n) {
    std::uint64_t root = 0, bit = std::uint64_t{1} << 62;
    while (bit > n) bit >>= 2;
    for (; bit != 0; bit >>= 2) {
        if (n >= root + bit) {
            n -= root + bit;
            root = (root >> 1) + bit;
        } else {
            root >>= 1;
        }
    }
    return root;
}

// a x b from a file's shapes; an overflow is a config_error naming the tensor and what the product is.
inline std::size_t checked_product(const io::safetensors_file& file, const io::tensor_info& t, std::size_t a,
                                   std::size_t b, std::string_view what) {
    std::size_t product = 0;
    if (__builtin_mul_overflow(a, b, &product))
        throw config_error(io::detail::quoted(file.source()) + ": tensor " + io::detail::quoted(t.name) + " " +
                           io::shape_string(t.shape) + ": " + std::string(what) + " " + std::to_string(a) + " x " +
                           std::to_string(b) + " overflows size_t");
    return product;
}

// --heads, else the released models' heads for this width.
inline std::size_t heads_for(std::optional<std::size_t> flag, std::size_t dim,
                             std::initializer_list<std::pair<std::size_t, std::size_t>> released, std::string_view what) {
    std::size_t heads = 0;
    if (flag) {
        heads = *flag;
    } else {
        std::string widths;
        for (const auto& [width, h] : released) {
            if (width == dim) heads = h;
            widths += (widths.empty() ? "" : ", ") + std::to_string(width) + " -> " + std::to_string(h);
        }
        if (heads == 0)
            throw config_error("cannot tell the number of attention heads from the file: width " +
                               std::to_string(dim) + " is not one of the released " + std::string(what) +
                               " widths (" + widths + "); pass --heads N");
    }
    if (heads == 0 || dim % heads != 0)
        throw config_error("--heads " + std::to_string(heads) + " must divide the width " + std::to_string(dim));
    return heads;
}

}  // namespace detail

inline family family_of(const io::safetensors_file& file) {
    if (detail::find(file, models::gpt2_prefix, "wte.weight")) return family::gpt2;
    if (detail::find(file, models::vit_prefix, "embeddings.patch_embeddings.projection.weight")) return family::vit;
    std::string names;
    for (std::size_t i = 0; i < file.tensors().size() && i < 4; ++i)
        names += (i ? ", " : "") + io::detail::quoted(file.tensors()[i].name);
    throw io_error(io::detail::quoted(file.source()) +
                   " is neither a GPT-2 nor a ViT checkpoint: it has no 'wte.weight' (GPT-2, also under 'transformer.') "
                   "and no 'embeddings.patch_embeddings.projection.weight' (ViT, also under 'vit.'); its " +
                   std::to_string(file.tensors().size()) + " tensors" +
                   (names.empty() ? std::string() : " start with " + names));
}

// wte (V, D), wpe (T, D), h.N.* blocks; the MLP must be 4 x D wide (as in every released GPT-2).
inline gpt2_sizes gpt2_sizes_of(const io::safetensors_file& file, std::optional<std::size_t> heads) {
    const std::string_view p = models::gpt2_prefix;
    gpt2_sizes s;
    const auto& wte = detail::require(file, p, "wte.weight", 2, "the token embedding (vocabulary, d_model)");
    s.vocab = wte.shape[0];
    s.dim = wte.shape[1];
    s.context = detail::require(file, p, "wpe.weight", 2, "the position embedding (context, d_model)").shape[0];
    s.layers = detail::count_blocks(file, p, "h.", ".ln_1.weight");
    if (s.layers == 0)
        throw io_error(io::detail::quoted(file.source()) + " has 'wte.weight' but no block 'h.0.ln_1.weight'");
    const auto& fc = detail::require(file, p, "h.0.mlp.c_fc.weight", 2, "the first MLP layer (Conv1D: d_model, 4 d_model)");
    const std::size_t mlp = detail::checked_product(file, wte, 4, s.dim, "the MLP width 4 x d_model =");
    if (fc.shape != std::vector<std::size_t>{s.dim, mlp})
        throw config_error(io::detail::quoted(file.source()) + ": " + io::detail::quoted(fc.name) + " is " +
                           io::shape_string(fc.shape) + "; lnfold's GPT-2 has an MLP of 4 x d_model: (" +
                           std::to_string(s.dim) + ", " + std::to_string(mlp) + ")");
    s.heads = detail::heads_for(heads, s.dim, {{768, 12}, {1024, 16}, {1280, 20}, {1600, 25}}, "GPT-2");
    return s;
}

// projection (D, C, P, P), position_embeddings (1, (I/P)^2 + 1, D), encoder.layer.N.*, intermediate (Mlp, D),
// classifier (classes, D).
inline vit_sizes vit_sizes_of(const io::safetensors_file& file, std::optional<std::size_t> heads) {
    const std::string_view p = models::vit_prefix;
    vit_sizes s;
    const auto& projection = detail::require(file, p, "embeddings.patch_embeddings.projection.weight", 4,
                                             "the patch projection (hidden, channels, patch, patch)");
    s.dim = projection.shape[0];
    s.channels = projection.shape[1];
    s.patch = projection.shape[2];
    const auto& positions =
        detail::require(file, p, "embeddings.position_embeddings", 3, "the position embedding (1, patches + 1, hidden)");
    const std::size_t patches = positions.shape[1] > 0 ? positions.shape[1] - 1 : 0;
    // grid <= 2^32 - 1, so grid x grid cannot overflow.
    const std::size_t grid = static_cast<std::size_t>(detail::integer_sqrt(patches));
    if (grid * grid != patches || grid == 0)
        throw config_error(io::detail::quoted(file.source()) + ": " + io::detail::quoted(positions.name) +
                           " " + io::shape_string(positions.shape) + " does not hold a square grid of patches plus [CLS]");
    s.image = detail::checked_product(file, projection, grid, s.patch,
                                      "the image size (grid of " + io::detail::quoted(positions.name) + ") x patch =");
    s.layers = detail::count_blocks(file, p, "encoder.layer.", ".layernorm_before.weight");
    if (s.layers == 0)
        throw io_error(io::detail::quoted(file.source()) +
                       " has a patch projection but no layer 'encoder.layer.0.layernorm_before.weight'");
    s.mlp = detail::require(file, p, "encoder.layer.0.intermediate.dense.weight", 2, "the first MLP layer (mlp, hidden)")
                .shape[0];
    s.classes = detail::require(file, p, "classifier.weight", 2,
                                "the classification head (classes, hidden) of ViTForImageClassification")
                    .shape[0];
    s.heads = detail::heads_for(heads, s.dim, {{192, 3}, {384, 6}, {768, 12}, {1024, 16}, {1280, 16}}, "ViT");
    return s;
}

}  // namespace lnfold::fold_tool
