#pragma once
// The example architectures of the fold tests, small enough to run many seeds.
#include <lnfold/lnfold.hpp>

namespace lnfold_test::arch {
using namespace lnfold;

constexpr std::size_t V = 23, T = 9, D = 16, H = 2, L = 2;

// GPT-2 style Pre-LN Transformer.
using GptBlock = Seq<Residual<Seq<Named<"ln_1", LayerNorm<D>>, Named<"attn", SelfAttention<D, H, true>>>>,
                     Residual<Seq<Named<"ln_2", LayerNorm<D>>, Named<"c_fc", Linear<D, 4 * D>>, Named<"act", GELUTanh>,
                                  Named<"c_proj", Linear<4 * D, D>>, Named<"drop", Dropout<100>>>>>;
using Gpt = Seq<Named<"wte", Embedding<V, D>>, Named<"wpe", PositionEmbedding<T, D>>, Named<"h", Repeat<L, GptBlock>>,
                Named<"ln_f", LayerNorm<D>>, Named<"lm_head", Linear<D, V, false>>>;
// The same without its final LayerNorm: the residual stream feeds the head directly.
using GptNoFinalLn = Seq<Named<"wte", Embedding<V, D>>, Named<"wpe", PositionEmbedding<T, D>>,
                         Named<"h", Repeat<L, GptBlock>>, Named<"lm_head", Linear<D, V, false>>>;

// GPT-2's head tied to the token embedding, with each way fold() can treat the tie.
template <tie_fold Tie>
using GptTied = Seq<Named<"wte", Embedding<V, D>>, Named<"wpe", PositionEmbedding<T, D>>,
                    Named<"h", Repeat<L, GptBlock>>, Named<"ln_f", LayerNorm<D>>,
                    Named<"lm_head", TiedHead<D, V, "wte", Tie>>>;

// BLOOM-style: an embedding LayerNorm starts the residual stream of Pre-LN blocks.
using Bloom = Seq<Named<"word_embeddings", Embedding<V, D>>, Named<"word_embeddings_layernorm", LayerNorm<D>>,
                  Named<"h", Repeat<L, GptBlock>>, Named<"ln_f", LayerNorm<D>>, Named<"lm_head", Linear<D, V, false>>>;

// BERT-style Post-LN encoder with an embedding LayerNorm and a pooled classifier.
using BertBlock = Seq<Residual<Named<"attention", SelfAttention<D, H>>>, Named<"attention_ln", LayerNorm<D>>,
                      Residual<Seq<Named<"intermediate", Linear<D, 2 * D>>, Named<"act", GELU>,
                                   Named<"output", Linear<2 * D, D>>>>,
                      Named<"output_ln", LayerNorm<D>>>;
using Bert = Seq<Named<"word_embeddings", Embedding<V, D>>, Named<"position_embeddings", PositionEmbedding<T, D>>,
                 Named<"embeddings_ln", LayerNorm<D>>, Named<"layer", Repeat<L, BertBlock>>, TakeToken<0>,
                 Named<"pooler", Linear<D, D>>, Named<"pooler_act", GELU>, Named<"classifier", Linear<D, 3>>>;

// ViT: patch-embedding convolution, class token, positions, Pre-LN blocks, final LN, class-token head.
constexpr std::size_t Image = 8, Patch = 4, Tokens = (Image / Patch) * (Image / Patch) + 1;
using VitBlock = Seq<Residual<Seq<Named<"layernorm_before", LayerNorm<D>>, Named<"attention", SelfAttention<D, H>>>>,
                     Residual<Seq<Named<"layernorm_after", LayerNorm<D>>, Named<"intermediate", Linear<D, 2 * D>>,
                                  Named<"act", GELU>, Named<"output", Linear<2 * D, D>>>>>;
using Vit = Seq<Named<"patch_embeddings", Conv2d<3, D, Patch, Patch>>, Named<"cls_token", ClassToken<D>>,
                Named<"position_embeddings", PositionEmbedding<Tokens, D>>, Named<"layer", Repeat<L, VitBlock>>,
                Named<"layernorm", LayerNorm<D>>, TakeToken<0>, Named<"classifier", Linear<D, 5>>>;

// ConvNeXt-style CNN: stem conv + LN, blocks of depthwise conv -> LN -> MLP -> LayerScale, pooled head.
using ConvNextBlock = Residual<Seq<Named<"dwconv", Conv2d<D, D, 3, 1, 1, D>>, Named<"norm", LayerNorm<D>>,
                                   Named<"pwconv1", Linear<D, 2 * D>>, Named<"act", GELU>,
                                   Named<"pwconv2", Linear<2 * D, D>>, Named<"gamma", LayerScale<D>>>>;
using ConvNext = Seq<Named<"stem", Conv2d<3, D, 2, 2>>, Named<"stem_norm", LayerNorm<D>>,
                     Named<"stages", Repeat<L, ConvNextBlock>>, MeanPool, Named<"head_norm", LayerNorm<D>>,
                     Named<"head", Linear<D, 4>>>;

// MLPs: LN right after a Linear (foldable) and after an activation (not).
using Mlp = Seq<Named<"fc1", Linear<12, D>>, Named<"ln1", LayerNorm<D>>, ReLU, Named<"fc2", Linear<D, D>>,
                Named<"drop", Dropout<200>>, Named<"ln2", LayerNorm<D>>, GELU, Named<"fc3", Linear<D, D>>, ReLU,
                Named<"ln3", LayerNorm<D>>, Named<"head", Linear<D, 3>>>;

}  // namespace lnfold_test::arch
