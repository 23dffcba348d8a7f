#pragma once
// The three networks examples/train trains, each with LayerNorms (the ln variant); rms_t<> and cbwc_t<> of
// them give the RMSNorm baseline and the CBWC + RMSNorm twin.
#include <lnfold/lnfold.hpp>

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

}  // namespace train_models
