#pragma once
// GPT-2 (Hugging Face GPT2Model / GPT2LMHeadModel) as an lnfold network type, with the naming of its checkpoints.
//
//   using Net = models::Gpt2Small<>;                       // gpt2, 124M: Gpt2<12, 768, 12, 50257, 1024>
//   Model<Net> model;
//   models::load_gpt2(model, "model.safetensors");          // = io::load(model, file, models::gpt2_load_options())
//   Model<folded_t<Net>> folded = fold(model);               // every LayerNorm -> RMSNorm, same outputs
//
// The network, Pre-LN, every LayerNorm eps 1e-5 (lnfold's default), dropout omitted (inference):
//   x = wte[ids] + wpe[positions]                                       (rows = batch x tokens, width D)
//   h.N:  x = x + attn(ln_1(x));  x = x + mlp(ln_2(x))                    (N = 0 .. Layers - 1)
//         attn: causal self-attention, fused q | k | v, head h at columns h*D/H, scores scaled by 1/sqrt(D/H)
//         mlp:  c_fc (D -> 4D), gelu_new (GELUTanh), c_proj (4D -> D)
//   logits = ln_f(x) wteᵀ                                                (lm_head tied to wte: TiedHead)
//
// lnfold path -> Hugging Face name (all others are equal, e.g. wte.weight, h.3.ln_1.bias, ln_f.weight):
//   h.N.attn.qkv.weight  -> h.N.attn.c_attn.weight   Conv1D: stored (D, 3D) = transposed, columns q | k | v
//   h.N.attn.qkv.bias    -> h.N.attn.c_attn.bias
//   h.N.attn.proj.weight -> h.N.attn.c_proj.weight   Conv1D (D, D), transposed
//   h.N.attn.proj.bias   -> h.N.attn.c_proj.bias
//   h.N.mlp.c_fc.weight  (D, 4D) and h.N.mlp.c_proj.weight (4D, D) in the file: Conv1D, transposed
// Files: names with or without the "transformer." prefix (GPT2LMHeadModel / GPT2Model); the causal-mask buffers
// h.N.attn.bias and h.N.attn.masked_bias are skipped; lm_head.weight may be absent (tied) or present, and then
// must equal wte.weight.
// Folded models (folded_t<Gpt2<...>>) use the same names; their untied head adds lm_head.weight (tie_fold::untie),
// a corrected one lm_head.table_mean (tie_fold::correct). Neither carries the prefix, as in GPT2LMHeadModel.
#include <cstddef>
#include <string>
#include <string_view>

#include "lnfold/graph/model.hpp"
#include "lnfold/graph/named.hpp"
#include "lnfold/graph/repeat.hpp"
#include "lnfold/graph/residual.hpp"
#include "lnfold/graph/seq.hpp"
#include "lnfold/io/weights.hpp"
#include "lnfold/layers/embedding.hpp"
#include "lnfold/layers/gelu_tanh.hpp"
#include "lnfold/layers/layer_norm.hpp"
#include "lnfold/layers/linear.hpp"
#include "lnfold/layers/position_embedding.hpp"
#include "lnfold/layers/self_attention.hpp"
#include "lnfold/layers/tied_head.hpp"

namespace lnfold::models {

template <std::size_t Dim, std::size_t Heads>
using Gpt2Block =
    Seq<Residual<Seq<Named<"ln_1", LayerNorm<Dim>>, Named<"attn", SelfAttention<Dim, Heads, /*Causal=*/true>>>>,
        Residual<Seq<Named<"ln_2", LayerNorm<Dim>>,
                     Named<"mlp", Seq<Named<"c_fc", Linear<Dim, 4 * Dim>>, GELUTanh, Named<"c_proj", Linear<4 * Dim, Dim>>>>>>>;

// Layers blocks of width Dim with Heads heads, Vocab tokens, Context positions; Tie: what fold() does with the
// lm_head tied to wte (tie_fold::untie: a copy of the table, tie_fold::correct: a rank-1 correction).
template <std::size_t Layers, std::size_t Dim, std::size_t Heads, std::size_t Vocab, std::size_t Context,
          tie_fold Tie = tie_fold::untie>
using Gpt2 = Seq<Named<"wte", Embedding<Vocab, Dim>>, Named<"wpe", PositionEmbedding<Context, Dim>>,
                 Named<"h", Repeat<Layers, Gpt2Block<Dim, Heads>>>, Named<"ln_f", LayerNorm<Dim>>,
                 Named<"lm_head", TiedHead<Dim, Vocab, "wte", Tie>>>;

// The released sizes (Radford et al. 2019; Hugging Face gpt2, gpt2-medium, gpt2-large, gpt2-xl).
template <tie_fold Tie = tie_fold::untie>
using Gpt2Small = Gpt2<12, 768, 12, 50257, 1024, Tie>;
template <tie_fold Tie = tie_fold::untie>
using Gpt2Medium = Gpt2<24, 1024, 16, 50257, 1024, Tie>;
template <tie_fold Tie = tie_fold::untie>
using Gpt2Large = Gpt2<36, 1280, 20, 50257, 1024, Tie>;
template <tie_fold Tie = tie_fold::untie>
using Gpt2Xl = Gpt2<48, 1600, 25, 50257, 1024, Tie>;

inline constexpr double gpt2_eps = 1e-5;                 // layer_norm_epsilon of every released GPT-2
inline constexpr std::string_view gpt2_prefix = "transformer.";

namespace detail {

// "h.<digits>." at the start of name: the length of that block prefix, or 0.
inline std::size_t gpt2_block_prefix(std::string_view name) {
    if (!name.starts_with("h.")) return 0;
    std::size_t i = 2;
    while (i < name.size() && name[i] >= '0' && name[i] <= '9') ++i;
    return i > 2 && i < name.size() && name[i] == '.' ? i + 1 : 0;
}

// The Hugging Face name (without prefix) of an lnfold path.
inline std::string gpt2_file_name(std::string_view path) {
    const std::size_t block = gpt2_block_prefix(path);
    std::string name(path);
    if (block == 0) return name;
    const std::string_view rest = path.substr(block);
    if (rest.starts_with("attn.qkv.")) return name.replace(block, 8, "attn.c_attn");
    if (rest.starts_with("attn.proj.")) return name.replace(block, 9, "attn.c_proj");
    return name;
}

// Conv1D weights: stored (in, out).
inline bool gpt2_conv1d_weight(std::string_view path) {
    const std::size_t block = gpt2_block_prefix(path);
    if (block == 0) return false;
    const std::string_view rest = path.substr(block);
    return rest == "attn.qkv.weight" || rest == "attn.proj.weight" || rest == "mlp.c_fc.weight" ||
           rest == "mlp.c_proj.weight";
}

// The causal-mask buffers of GPT2Attention (not parameters).
inline bool gpt2_mask_buffer(std::string_view name) {
    const std::size_t block = gpt2_block_prefix(name);
    return block > 0 && (name.substr(block) == "attn.bias" || name.substr(block) == "attn.masked_bias");
}

}  // namespace detail

// Naming shared by load and save, `prefix` prepended to every name but the head's (lm_head.*).
inline io::tensor_naming gpt2_naming(std::string_view prefix = "") {
    io::tensor_naming naming;
    naming.rename = [prefix = std::string(prefix)](std::string_view path) {
        return path.starts_with("lm_head.") ? std::string(path) : prefix + detail::gpt2_file_name(path);
    };
    naming.transpose = detail::gpt2_conv1d_weight;
    return naming;
}

// Reads Hugging Face GPT-2 files: with or without "transformer.", mask buffers skipped, lm_head.weight checked
// against wte.weight when present. Strict otherwise: anything else missing, extra or mis-shaped is an error.
inline io::load_options gpt2_load_options() {
    io::load_options options;
    static_cast<io::tensor_naming&>(options) = gpt2_naming();
    options.prefix = std::string(gpt2_prefix);
    options.ignore = detail::gpt2_mask_buffer;
    options.copies["lm_head.weight"] = "wte.weight";
    return options;
}

// Writes Hugging Face names; prefix "" (the hub's gpt2 files) or "transformer." (GPT2LMHeadModel.save_pretrained).
inline io::save_options gpt2_save_options(std::string_view prefix = "") {
    io::save_options options;
    static_cast<io::tensor_naming&>(options) = gpt2_naming(prefix);
    return options;
}

// io::load with gpt2_load_options(), then every norm's eps set to gpt2_eps.
template <class Net, class T>
io::load_result load_gpt2(Model<Net, T>& model, const io::safetensors_file& file) {
    io::load_result result = io::load(model, file, gpt2_load_options());
    model.set_eps(gpt2_eps);
    return result;
}
template <class Net, class T>
io::load_result load_gpt2(Model<Net, T>& model, const std::string& path) {
    return load_gpt2(model, io::safetensors_file::open(path));
}

}  // namespace lnfold::models
