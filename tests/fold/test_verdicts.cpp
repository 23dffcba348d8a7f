// The fold verdicts of the example architectures, decided at compile time (docs/method.md §3, "typical verdicts").
#include <string>

#include "architectures.hpp"
#include "catch.hpp"

using namespace lnfold;
using namespace lnfold_test::arch;

namespace {
template <class Net>
constexpr bool all_foldable() {
    return foldable_count_v<Net> == layernorm_count_v<Net>;
}
template <class Net>
std::string line(std::size_t i) {
    return describe(fold_report<Net>()[i]);
}
}  // namespace

TEST_CASE("Pre-LN GPT and ViT: all 2L+1 LayerNorms foldable") {
    STATIC_REQUIRE(layernorm_count_v<Gpt> == 2 * L + 1);
    STATIC_REQUIRE(all_foldable<Gpt>());
    STATIC_REQUIRE(is_foldable_v<Gpt, 0>);
    STATIC_REQUIRE(is_foldable_v<Gpt, 2 * L>);
    STATIC_REQUIRE(layernorm_count_v<Vit> == 2 * L + 1);
    STATIC_REQUIRE(all_foldable<Vit>());
    CHECK(line<Gpt>(1) == "h.0.ln_2: foldable");
    CHECK(line<Vit>(2 * L) == "layernorm: foldable");
}

TEST_CASE("GPT without a final LayerNorm: no block LN folds, the stream reaches the head") {
    STATIC_REQUIRE(layernorm_count_v<GptNoFinalLn> == 2 * L);
    STATIC_REQUIRE(foldable_count_v<GptNoFinalLn> == 0);
    const auto& v = fold_report<GptNoFinalLn>()[0];
    CHECK(v.reason == fold_reason::locked_source);
    CHECK(v.consumer_path.view() == "lm_head");
    CHECK(line<GptNoFinalLn>(0).find("would change Linear at lm_head") != std::string::npos);
}

TEST_CASE("Post-LN BERT: only the embedding LayerNorm folds") {
    STATIC_REQUIRE(layernorm_count_v<Bert> == 1 + 2 * L);
    STATIC_REQUIRE(foldable_count_v<Bert> == 1);
    STATIC_REQUIRE(is_foldable_v<Bert, 0>);
    STATIC_REQUIRE(!is_foldable_v<Bert, 1>);
    CHECK(line<Bert>(1) == "layer.0.attention_ln: not foldable, its input is the affine output of LayerNorm at "
                           "embeddings_ln");
    CHECK(line<Bert>(2) == "layer.0.output_ln: not foldable, its input is the affine output of LayerNorm at "
                           "layer.0.attention_ln");
}

TEST_CASE("ConvNeXt-style: the stem LN folds, LNs after depthwise convolution or in the stream do not") {
    STATIC_REQUIRE(layernorm_count_v<ConvNext> == 1 + L + 1);
    STATIC_REQUIRE(is_foldable_v<ConvNext, 0>);
    STATIC_REQUIRE(!is_foldable_v<ConvNext, 1>);
    STATIC_REQUIRE(!is_foldable_v<ConvNext, L + 1>);
    STATIC_REQUIRE(foldable_count_v<ConvNext> == 1);
    CHECK(line<ConvNext>(1) == "stages.0.norm: not foldable, its input passes through Conv2d at stages.0.dwconv");
    CHECK(line<ConvNext>(L + 1) == "head_norm: not foldable, its input is the affine output of LayerNorm at stem_norm");
}

TEST_CASE("MLP: LN after a Linear (and inference Dropout) folds, after an activation it does not") {
    STATIC_REQUIRE(is_foldable_v<Mlp, 0>);
    STATIC_REQUIRE(is_foldable_v<Mlp, 1>);  // fc2 -> Dropout -> ln2: Dropout preserves at inference
    STATIC_REQUIRE(!is_foldable_v<Mlp, 2>);
    CHECK(line<Mlp>(2) == "ln3: not foldable, its input passes through ReLU at 8");
    using AfterGelu = Seq<Linear<4, 4>, GELU, LayerNorm<4>>;
    STATIC_REQUIRE(!is_foldable_v<AfterGelu, 0>);
    CHECK(describe(fold_report<AfterGelu>()[0]) == "2: not foldable, its input passes through GELU at 1");
}

TEST_CASE("edge cases: network input, LayerScale, Centering, RMSNorm output, shared sources") {
    // A LayerNorm reading the network input directly: nothing to centre.
    STATIC_REQUIRE(!is_foldable_v<Seq<LayerNorm<4>, Linear<4, 2>>, 0>);
    CHECK(fold_report<Seq<LayerNorm<4>, Linear<4, 2>>>()[0].reason == fold_reason::network_input);
    // a residual whose skip operand is the network input: the input reaches the LayerNorm uncentred
    using InputSkip = Seq<Residual<Seq<Linear<4, 4>, GELU, Linear<4, 4>>>, LayerNorm<4>>;
    STATIC_REQUIRE(foldable_count_v<InputSkip> == 0);
    CHECK(fold_report<InputSkip>()[0].reason == fold_reason::network_input);
    // LayerScale right after a Linear folds into it; after an activation it is a per-channel breaker.
    STATIC_REQUIRE(is_foldable_v<Seq<Linear<4, 4>, LayerScale<4>, LayerNorm<4>>, 0>);
    STATIC_REQUIRE(!is_foldable_v<Seq<Linear<4, 4>, ReLU, LayerScale<4>, LayerNorm<4>>, 0>);
    CHECK(fold_report<Seq<Linear<4, 4>, ReLU, LayerScale<4>, LayerNorm<4>>>()[0].reason == fold_reason::unfolded_scale);
    // An explicit Centering makes whatever precedes it harmless.
    STATIC_REQUIRE(is_foldable_v<Seq<Linear<4, 4>, GELU, Centering, LayerNorm<4>>, 0>);
    // An RMSNorm's affine output is a breaker.
    STATIC_REQUIRE(!is_foldable_v<Seq<Linear<4, 4>, RMSNorm<4, true>, LayerNorm<4>>, 0>);
    // A Linear whose output feeds the LN and, through a residual, the head: locked.
    using Shared = Seq<Linear<4, 4>, Residual<Seq<LayerNorm<4>, Linear<4, 4>, ReLU>>, Linear<4, 2>>;
    STATIC_REQUIRE(!is_foldable_v<Shared, 0>);
    // The same with a final LN before the head: the shift reaches only LayerNorms.
    using SharedThenLn = Seq<Linear<4, 4>, Residual<Seq<LayerNorm<4>, Linear<4, 4>>>, LayerNorm<4>, Linear<4, 2>>;
    STATIC_REQUIRE(is_foldable_v<SharedThenLn, 0>);
    STATIC_REQUIRE(is_foldable_v<SharedThenLn, 1>);
}

TEST_CASE("a tied head changes the verdict unless the tie is handled") {
    STATIC_REQUIRE(foldable_count_v<GptTied<tie_fold::untie>> == 2 * L + 1);
    STATIC_REQUIRE(foldable_count_v<GptTied<tie_fold::correct>> == 2 * L + 1);
    STATIC_REQUIRE(foldable_count_v<GptTied<tie_fold::keep>> == 0);
    const auto& v = fold_report<GptTied<tie_fold::keep>>()[0];
    CHECK(v.reason == fold_reason::tied_table);
    CHECK(describe(v) == "h.0.ln_1: not foldable, centring Embedding at wte would change TiedHead at lm_head, which "
                         "reads its table (declare the tie with tie_fold::untie or tie_fold::correct)");
    // The folded heads: an untied Linear with its own weight, or the corrected tied head.
    using Untied = folded_t<GptTied<tie_fold::untie>>;
    using Corrected = folded_t<GptTied<tie_fold::correct>>;
    STATIC_REQUIRE(Model<Untied>::parameter_count == Model<GptTied<tie_fold::untie>>::parameter_count + V * D);
    STATIC_REQUIRE(Model<Corrected>::parameter_count == Model<GptTied<tie_fold::correct>>::parameter_count + V);
    CHECK(Model<Untied>().parameter("lm_head.weight").size() == V * D);
    CHECK(Model<Corrected>().parameter("lm_head.table_mean").size() == V);
}

TEST_CASE("explicit centring: one Centering after an embedding LayerNorm unlocks the whole stream") {
    STATIC_REQUIRE(layernorm_count_v<Bloom> == 2 * L + 2);
    STATIC_REQUIRE(foldable_count_v<Bloom> == 1);  // only the embedding LayerNorm itself
    STATIC_REQUIRE(centering_plan<Bloom>().count == 1);
    CHECK(centering_plan<Bloom>().insertions[0].path.view() == "word_embeddings_layernorm");
    CHECK(centering_plan<Bloom>().insertions[0].layernorms == 2 * L + 1);
    CHECK(format_centering_plan<Bloom>().find("makes 5 LayerNorms foldable") != std::string::npos);
    using Centred = with_centering_t<Bloom>;
    STATIC_REQUIRE(foldable_count_v<Centred> == 2 * L + 2);
    STATIC_REQUIRE(std::is_same_v<typename Centred::template child<1>,
                                  Named<"word_embeddings_layernorm", CentredOutput<LayerNorm<D>>>>);
    // Nothing to insert where nothing is blocked, or where the blocked node's output reaches a non-LN consumer.
    STATIC_REQUIRE(std::is_same_v<with_centering_t<Gpt>, Gpt>);
    STATIC_REQUIRE(centering_plan<Bert>().count == 0);
}

TEST_CASE("type transforms replace exactly the foldable LayerNorms") {
    STATIC_REQUIRE(layernorm_count_v<folded_t<Gpt>> == 0);
    STATIC_REQUIRE(layernorm_count_v<rms_t<Bert>> == 0);
    STATIC_REQUIRE(layernorm_count_v<folded_t<Bert>> == 2 * L);
    STATIC_REQUIRE(layernorm_count_v<cbwc_t<Mlp>> == 1);
    STATIC_REQUIRE(std::is_same_v<folded_t<Seq<Linear<4, 4>, LayerNorm<4>>>, Seq<Centred<Linear<4, 4>>, RMSNorm<4, true>>>);
    STATIC_REQUIRE(std::is_same_v<cbwc_t<Seq<Linear<4, 4>, LayerNorm<4>>>, Seq<CBWC<Linear<4, 4>>, RMSNorm<4, true>>>);
    STATIC_REQUIRE(std::is_same_v<rms_t<Seq<Linear<4, 4>, LayerNorm<4>>>, Seq<Linear<4, 4>, RMSNorm<4, true>>>);
    // Copies of a Repeat that fold differently are unrolled, with the same parameter paths.
    using Mixed = Seq<Linear<4, 4>, Repeat<2, Seq<LayerNorm<4>, Linear<4, 4>, ReLU>>>;
    STATIC_REQUIRE(is_foldable_v<Mixed, 0>);
    STATIC_REQUIRE(!is_foldable_v<Mixed, 1>);
    STATIC_REQUIRE(std::is_same_v<folded_t<Mixed>, Seq<Centred<Linear<4, 4>>, Unrolled<Seq<RMSNorm<4, true>, Linear<4, 4>, ReLU>,
                                                                                     Seq<LayerNorm<4>, Linear<4, 4>, ReLU>>>>);
    STATIC_REQUIRE(graph_v<folded_t<Mixed>>.tensors[4].path == graph_v<Mixed>.tensors[4].path);
}

TEST_CASE("Deep networks: the analysis of a 48-block GPT (GPT-2 XL's depth) stays within the constexpr budget") {
    // One consumer table per graph and one forward walk per source: linear in the node count. A scan of every node
    // per visited node per LayerNorm exceeded GCC's constexpr operation limit at 12 blocks.
    using Deep = Seq<Named<"wte", Embedding<V, D>>, Named<"wpe", PositionEmbedding<T, D>>, Named<"h", Repeat<48, GptBlock>>,
                     Named<"ln_f", LayerNorm<D>>, Named<"lm_head", TiedHead<D, V, "wte">>>;
    using DeepNoFinalLn = Seq<Named<"wte", Embedding<V, D>>, Named<"wpe", PositionEmbedding<T, D>>,
                              Named<"h", Repeat<48, GptBlock>>, Named<"lm_head", Linear<D, V, false>>>;
    STATIC_REQUIRE(layernorm_count_v<Deep> == 97);
    STATIC_REQUIRE(foldable_count_v<Deep> == 97);
    STATIC_REQUIRE(foldable_count_v<DeepNoFinalLn> == 0);
    CHECK(line<DeepNoFinalLn>(95).find("would change Linear at lm_head") != std::string::npos);
}
