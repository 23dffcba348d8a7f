// Encoder cases: ViT-S/16 (Pre-LN, every LayerNorm foldable: ln, folded, none) and a BERT-base-style Post-LN encoder
// (LayerNorm after each residual add: the control, whose block norms cannot be folded: ln, none).
#include "model_cases.hpp"

#include <lnfold/models/vit.hpp>

namespace lnfold_bench {
namespace {

using namespace lnfold;

template <class Net>
std::unique_ptr<case_base> vit_case(std::string_view variant, std::size_t batch) {
    constexpr std::size_t image = 224, channels = 3;
    auto c = make_inference<Net>(variant, Layout::image(batch, image, image), models::vit_eps);
    if (c) {
        c->values = random_values(batch * image * image * channels, -1.0, 1.0, 7);
        c->input_shape = {batch, image, image, channels};  // NHWC
    }
    return c;
}

// BERT-base-style encoder, Post-LN: x = LN(x + attn(x)); x = LN(x + mlp(x)), bidirectional attention, GELU (erf),
// eps 1e-12, word and position embeddings + LayerNorm (no token types, no pooler), output: the hidden states.
template <std::size_t D, std::size_t H, std::size_t Mlp>
using BertLayer = Seq<Residual<Named<"attention", SelfAttention<D, H>>>, Named<"attention_norm", LayerNorm<D>>,
                      Residual<Seq<Named<"intermediate", Linear<D, Mlp>>, GELU, Named<"output", Linear<Mlp, D>>>>,
                      Named<"output_norm", LayerNorm<D>>>;
constexpr std::size_t BertVocab = 30522, BertPositions = 512;
using Bert = Seq<Named<"word_embeddings", Embedding<BertVocab, 768>>,
                 Named<"position_embeddings", PositionEmbedding<BertPositions, 768>>,
                 Named<"embeddings_norm", LayerNorm<768>>, Named<"layer", Repeat<12, BertLayer<768, 12, 3072>>>>;

}  // namespace

void add_vit_cases(std::vector<case_entry>& out) {
    out.push_back({"vit_s16_b1", "inference", "ln,folded,none",
                   "ViT-S/16 (12 layers, d 384, 6 heads, 224 x 224, 197 tokens, 1000 classes), batch 1",
                   [](std::string_view v) { return vit_case<models::VitSmall>(v, 1); }});
    out.push_back({"vit_s16_b8", "inference", "ln,folded,none",
                   "ViT-S/16 (12 layers, d 384, 6 heads, 224 x 224, 197 tokens, 1000 classes), batch 8",
                   [](std::string_view v) { return vit_case<models::VitSmall>(v, 8); }});
    out.push_back({"bert_base_postln", "inference", "ln,none",
                   "BERT-base-style Post-LN encoder (12 layers, d 768, 12 heads, MLP 3072 GELU), 128 tokens, batch 1: "
                   "the control (LayerNorm after each residual add, not foldable)",
                   [](std::string_view v) -> std::unique_ptr<case_base> {
                       if (v == "folded") return nullptr;
                       auto c = make_inference<Bert, false>(v, Layout::sequence(1, 128), 1e-12);
                       if (c) {
                           c->tokens = random_tokens(128, BertVocab, 7);
                           c->input_shape = {1, 128};
                       }
                       return c;
                   }});
}

}  // namespace lnfold_bench
