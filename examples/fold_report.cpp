// The fold report of five architectures, then an exact conversion of a GPT (exit status 1 when the folded model's
// logits differ by more than float rounding) and an interleaved timing of the LayerNorm model against its folded
// (RMSNorm) twin (skipped with --no-timing, as the test run does).
#include <algorithm>
#include <cstdint>
#include <cmath>
#include <cstdio>
#include <string_view>
#include <vector>

#include <lnfold/lnfold.hpp>

#include "timing.hpp"

using namespace lnfold;

constexpr std::size_t D = 256, Heads = 4, Vocab = 512, Context = 128;

using GptBlock = Seq<Residual<Seq<Named<"ln_1", LayerNorm<D>>, Named<"attn", SelfAttention<D, Heads, true>>>>,
                     Residual<Seq<Named<"ln_2", LayerNorm<D>>, Named<"c_fc", Linear<D, 4 * D>>, Named<"act", GELUTanh>,
                                  Named<"c_proj", Linear<4 * D, D>>>>>;
using Gpt = Seq<Named<"wte", Embedding<Vocab, D>>, Named<"wpe", PositionEmbedding<Context, D>>,
                Named<"h", Repeat<4, GptBlock>>, Named<"ln_f", LayerNorm<D>>,
                Named<"lm_head", TiedHead<D, Vocab, "wte">>>;  // tied to wte; fold unties it by default

using BertBlock = Seq<Residual<Named<"attention", SelfAttention<D, Heads>>>, Named<"attention_ln", LayerNorm<D>>,
                      Residual<Seq<Named<"intermediate", Linear<D, 4 * D>>, Named<"act", GELU>,
                                   Named<"output", Linear<4 * D, D>>>>,
                      Named<"output_ln", LayerNorm<D>>>;
using Bert = Seq<Named<"word_embeddings", Embedding<Vocab, D>>, Named<"position_embeddings", PositionEmbedding<Context, D>>,
                 Named<"embeddings_ln", LayerNorm<D>>, Named<"layer", Repeat<2, BertBlock>>, TakeToken<0>,
                 Named<"classifier", Linear<D, 2>>>;

using VitBlock = Seq<Residual<Seq<Named<"layernorm_before", LayerNorm<D>>, Named<"attention", SelfAttention<D, Heads>>>>,
                     Residual<Seq<Named<"layernorm_after", LayerNorm<D>>, Named<"intermediate", Linear<D, 4 * D>>,
                                  Named<"act", GELU>, Named<"output", Linear<4 * D, D>>>>>;
using Vit = Seq<Named<"patch_embeddings", Conv2d<3, D, 4, 4>>, Named<"cls_token", ClassToken<D>>,
                Named<"position_embeddings", PositionEmbedding<65, D>>, Named<"layer", Repeat<2, VitBlock>>,
                Named<"layernorm", LayerNorm<D>>, TakeToken<0>, Named<"classifier", Linear<D, 10>>>;

using ConvNextBlock = Residual<Seq<Named<"dwconv", Conv2d<96, 96, 7, 1, 3, 96>>, Named<"norm", LayerNorm<96>>,
                                   Named<"pwconv1", Linear<96, 384>>, Named<"act", GELU>,
                                   Named<"pwconv2", Linear<384, 96>>, Named<"gamma", LayerScale<96>>>>;
using ConvNext = Seq<Named<"stem", Conv2d<3, 96, 4, 4>>, Named<"stem_norm", LayerNorm<96>>,
                     Named<"stages", Repeat<2, ConvNextBlock>>, MeanPool, Named<"head_norm", LayerNorm<96>>,
                     Named<"head", Linear<96, 10>>>;

using Mlp = Seq<Named<"fc1", Linear<784, 256>>, Named<"ln1", LayerNorm<256>>, Named<"act1", ReLU>,
                Named<"fc2", Linear<256, 256>>, Named<"act2", GELU>, Named<"ln2", LayerNorm<256>>,
                Named<"head", Linear<256, 10>>>;

using Bloom = Seq<Named<"word_embeddings", Embedding<Vocab, D>>, Named<"word_embeddings_layernorm", LayerNorm<D>>,
                  Named<"h", Repeat<4, GptBlock>>, Named<"ln_f", LayerNorm<D>>, Named<"lm_head", Linear<D, Vocab, false>>>;

template <class Net>
void print_report(const char* title) {
    std::printf("== %s\n%s\n", title, format_fold_report<Net>().c_str());
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

// The fold is exact in real arithmetic; in float the two models round differently, by about 1e-6 of the largest
// logit here. 1e-4 (lnfold-fold's default tolerance) leaves two orders of magnitude.
constexpr double fold_tolerance = 1e-4;

int main(int argc, char** argv) {
    const bool timing = !(argc > 1 && std::string_view(argv[1]) == "--no-timing");
    print_report<Gpt>("GPT-2 style, Pre-LN, head tied to wte");
    print_report<Bert>("BERT style, Post-LN");
    print_report<Vit>("ViT");
    print_report<ConvNext>("ConvNeXt style (depthwise conv -> LN)");
    print_report<Mlp>("MLP");
    print_report<Bloom>("BLOOM style (embedding LayerNorm starts the stream)");
    std::printf("== BLOOM style with explicit centring\n%s%s\n", format_centering_plan<Bloom>().c_str(),
                format_fold_report<with_centering_t<Bloom>>().c_str());

    // Convert a GPT exactly and compare on a batch of token ids.
    Model<Gpt> model(1, init_scheme::normal);
    auto folded = fold(model);
    const std::size_t batch = 4, length = Context;
    std::vector<std::int32_t> ids(batch * length);
    random_stream rng(3);
    for (auto& id : ids) id = static_cast<std::int32_t>(rng.below(Vocab));
    const std::span<const std::int32_t> input(ids);
    const Layout layout = Layout::sequence(batch, length);
    const auto y = model.forward(input, layout);
    const std::vector<float> reference(y.span().begin(), y.span().end());
    const auto z = folded.forward(input, layout);
    double scale = 0, diff = 0;
    bool finite = true;  // std::max skips NaN: check it explicitly
    for (std::size_t i = 0; i < reference.size(); ++i) {
        finite = finite && std::isfinite(reference[i]) && std::isfinite(z.span()[i]);
        scale = std::max(scale, double(std::abs(reference[i])));
        diff = std::max(diff, double(std::abs(reference[i] - z.span()[i])));
    }
    const bool exact = finite && scale > 0 && diff / scale <= fold_tolerance;
    std::printf("== GPT (D=%zu, 4 blocks, batch %zu x %zu tokens), float\n", D, batch, length);
    std::printf("fold: max |difference| %.3g, relative to max |logit| %.3g (at most %.0e): %s\n", diff, diff / scale,
                fold_tolerance, exact ? "ok" : "FAILED");
    if (!exact) return 1;
    if (!timing) return 0;

    // Interleaved timing: LN model, folded model, LN model, ... so drift hits both alike.
    std::vector<double> ln_ms, folded_ms;
    for (int round = 0; round < 15; ++round) {
        ln_ms.push_back(time_ms([&] { model.forward(input, layout); }));
        folded_ms.push_back(time_ms([&] { folded.forward(input, layout); }));
    }
    const double a = median(ln_ms), b = median(folded_ms);
    std::printf("forward, median of 15 interleaved runs: LayerNorm model %.3f ms, folded model %.3f ms (%.1f%% %s)\n",
                a, b, 100.0 * std::abs(a - b) / a, b <= a ? "faster" : "slower");
    std::printf("%s\n", build_summary().c_str());
}
