#pragma once
// The three networks examples/train trains, each with LayerNorms (the ln variant); rms_t<> and cbwc_t<> of
// them give the RMSNorm baseline and the CBWC + RMSNorm twin.
#include <string>
#include <string_view>

#include <lnfold/lnfold.hpp>
#include <lnfold/models/gpt2.hpp>

namespace train_models {
using namespace lnfold;

// Fashion-MNIST as feature rows (784 pixels).
using Mlp = Seq<Named<"fc1", Linear<784, 256>>, Named<"ln1", LayerNorm<256>>, ReLU,
                Named<"fc2", Linear<256, 128>>, Named<"ln2", LayerNorm<128>>, ReLU,
                Named<"head", Linear<128, 10>>>;

// Fashion-MNIST as 28x28x1 images: 4x4 patches (49 tokens + class token), 2 Pre-LN blocks.
constexpr std::size_t VitDim = 64;
using VitBlock = Seq<Residual<Seq<Named<"ln_1", LayerNorm<VitDim>>, Named<"attn", SelfAttention<VitDim, 4>>>>,
                     Residual<Seq<Named<"ln_2", LayerNorm<VitDim>>, Named<"fc", Linear<VitDim, 2 * VitDim>>, GELU,
                                  Named<"proj", Linear<2 * VitDim, VitDim>>>>>;
using Vit = Seq<Named<"patch", Conv2d<1, VitDim, 4, 4>>, Named<"cls", ClassToken<VitDim>>,
                Named<"pos", PositionEmbedding<50, VitDim>>, Named<"blocks", Repeat<2, VitBlock>>,
                Named<"ln_f", LayerNorm<VitDim>>, TakeToken<0>, Named<"head", Linear<VitDim, 10>>>;

// A character-level GPT over bytes: context 64, 2 Pre-LN blocks.
constexpr std::size_t GptDim = 64, GptContext = 64, GptVocab = 256;
using GptBlock = Seq<Residual<Seq<Named<"ln_1", LayerNorm<GptDim>>, Named<"attn", SelfAttention<GptDim, 4, true>>>>,
                     Residual<Seq<Named<"ln_2", LayerNorm<GptDim>>, Named<"c_fc", Linear<GptDim, 4 * GptDim>>, GELUTanh,
                                  Named<"c_proj", Linear<4 * GptDim, GptDim>>>>>;
using Gpt = Seq<Named<"wte", Embedding<GptVocab, GptDim>>, Named<"wpe", PositionEmbedding<GptContext, GptDim>>,
                Named<"h", Repeat<2, GptBlock>>, Named<"ln_f", LayerNorm<GptDim>>,
                Named<"lm_head", Linear<GptDim, GptVocab, false>>>;

// The char GPT's weights under GPT-2's file names and layouts (models/gpt2.hpp): its MLP layers sit directly in
// each block (h.N.c_fc, h.N.c_proj), where GPT-2 has them under mlp (h.N.mlp.c_fc); its head is an untied
// lm_head.weight. examples/train --save writes such a file, examples/generate reads it.
inline std::string gpt2_path_of(std::string_view path) {
    const std::size_t block = models::detail::gpt2_block_prefix(path);
    const std::string_view rest = path.substr(block);
    if (block > 0 && (rest.starts_with("c_fc.") || rest.starts_with("c_proj.")))
        return std::string(path.substr(0, block)) + "mlp." + std::string(rest);
    return std::string(path);
}
inline io::tensor_naming char_gpt_naming() {
    const io::tensor_naming gpt2 = models::gpt2_naming();
    io::tensor_naming naming;
    naming.rename = [gpt2](std::string_view path) { return gpt2.rename(gpt2_path_of(path)); };
    naming.transpose = [gpt2](std::string_view path) { return gpt2.transpose(gpt2_path_of(path)); };
    return naming;
}
inline io::save_options char_gpt_save_options() {
    io::save_options options;
    static_cast<io::tensor_naming&>(options) = char_gpt_naming();
    return options;
}
inline io::load_options char_gpt_load_options() {
    io::load_options options = models::gpt2_load_options();
    static_cast<io::tensor_naming&>(options) = char_gpt_naming();
    return options;
}

}  // namespace train_models
