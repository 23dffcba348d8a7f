// Gradient checks: every layer's backward against central finite differences in double (relative error
// <= 1e-6 for smooth layers), each placed after a Linear so that its input gradient is checked through that
// Linear's weight gradient; then whole example networks.
#include "architectures.hpp"
#include "gradient_check.hpp"

using namespace lnfold;
using namespace lnfold_test;

namespace {
constexpr double smooth = 1e-6;

template <class Net>
void require_gradients(const Layout& layout, double bound = smooth, std::size_t vocab = 0) {
    const gradient_report r = check_gradients<Net>(layout, 17, 24, vocab);
    INFO("worst relative error " << r.worst_relative << " at " << r.worst_path << " over " << r.probes << " probes");
    CHECK(r.probes > 0);
    CHECK(r.worst_relative <= bound);
}
}  // namespace

TEST_CASE("Linear, with and without bias") {
    require_gradients<Seq<Linear<5, 7>, Linear<7, 3>>>(Layout::rows(4));
    require_gradients<Seq<Linear<5, 7, false>, Linear<7, 1, false>>>(Layout::sequence(2, 3));
}

TEST_CASE("LayerNorm and RMSNorm (with and without bias)") {
    require_gradients<Seq<Linear<4, 9>, LayerNorm<9>>>(Layout::rows(5));
    require_gradients<Seq<Linear<4, 9>, RMSNorm<9>>>(Layout::rows(5));
    require_gradients<Seq<Linear<4, 9>, RMSNorm<9, true>>>(Layout::rows(5));
    require_gradients<Seq<Linear<4, 1>, LayerNorm<1>, Linear<1, 2>>>(Layout::rows(3));
}

TEST_CASE("activations") {
    require_gradients<Seq<Linear<4, 6>, GELU, Linear<6, 2>>>(Layout::rows(5));
    require_gradients<Seq<Linear<4, 6>, GELUTanh, Linear<6, 2>>>(Layout::rows(5));
    require_gradients<Seq<Linear<4, 6>, SiLU, Linear<6, 2>>>(Layout::rows(5));
    // ReLU is piecewise linear: away from its kink the difference quotient is exact.
    require_gradients<Seq<Linear<4, 6>, ReLU, Linear<6, 2>>>(Layout::rows(5));
}

TEST_CASE("residual streams sum the gradients of their consumers") {
    require_gradients<Seq<Linear<3, 6>, Residual<Seq<LayerNorm<6>, Linear<6, 6>, GELU>>,
                          Repeat<2, Residual<Seq<RMSNorm<6, true>, Linear<6, 6>>>>, Linear<6, 2>>>(Layout::rows(4));
}

TEST_CASE("Conv2d: stride, padding, groups, depthwise") {
    require_gradients<Seq<Conv2d<3, 4, 3, 1, 1>, Conv2d<4, 4, 2, 2, 0, 2>, Conv2d<4, 4, 3, 1, 1, 4>, MeanPool, Linear<4, 2>>>(
        Layout::image(2, 5, 6));
}

TEST_CASE("sequence layers: embeddings, positions, class token, pooling, token readout") {
    require_gradients<Seq<Embedding<11, 6>, PositionEmbedding<5, 6>, Linear<6, 6>, MeanPool, Linear<6, 3>>>(
        Layout::sequence(2, 4), smooth, 11);
    require_gradients<Seq<Linear<3, 6>, ClassToken<6>, PositionEmbedding<5, 6>, TakeToken<0>, Linear<6, 2>>>(
        Layout::sequence(2, 4));
    require_gradients<Seq<Linear<3, 6>, ClassToken<6>, TakeToken<2>, Linear<6, 2>>>(Layout::sequence(2, 4));
}

TEST_CASE("Centering, LayerScale, Dropout (inference and training masks)") {
    require_gradients<Seq<Linear<3, 6>, Centering, LayerScale<6>, Linear<6, 2>>>(Layout::rows(4));
    require_gradients<Seq<Linear<3, 6>, Dropout<300>, Linear<6, 2>>>(Layout::rows(4));
    // Training mode: the mask is fixed for a given (seed, step), so finite differences see the same mask.
    const gradient_report r = check_gradients<Seq<Linear<3, 6>, Dropout<300>, Linear<6, 2>>>(Layout::rows(4), 3, 24, 0, true);
    CHECK(r.worst_relative <= smooth);
}

TEST_CASE("SelfAttention, causal and not") {
    require_gradients<Seq<Linear<3, 8>, SelfAttention<8, 2>, Linear<8, 2>>>(Layout::sequence(2, 5));
    require_gradients<Seq<Linear<3, 8>, SelfAttention<8, 4, true>, Linear<8, 2>>>(Layout::sequence(2, 5));
    require_gradients<Seq<Linear<3, 8>, SelfAttention<8, 1, true>>>(Layout::sequence(1, 1));
    // more tokens than one block of 64 query rows: dK and dV summed over blocks, causal blocks skipping keys
    require_gradients<Seq<Linear<3, 4>, SelfAttention<4, 2>, Linear<4, 2>>>(Layout::sequence(1, 70));
    require_gradients<Seq<Linear<3, 4>, SelfAttention<4, 2, true>, Linear<4, 2>>>(Layout::sequence(2, 130));
}

TEST_CASE("tied heads, including the rank-1 corrected one") {
    require_gradients<Seq<Named<"wte", Embedding<9, 6>>, Linear<6, 6>, Named<"head", TiedHead<6, 9, "wte">>>>(
        Layout::sequence(2, 3), smooth, 9);
    require_gradients<Seq<Named<"wte", Embedding<9, 6>>, Linear<6, 6>, Named<"head", TiedHeadCorrected<6, 9, "wte">>>>(
        Layout::sequence(2, 3), smooth, 9);
}

TEST_CASE("CBWC sources and centred outputs: gradients reach the free parameters V") {
    require_gradients<Seq<CBWC<Linear<4, 6>>, RMSNorm<6, true>, CBWC<Linear<6, 3>>>>(Layout::rows(5));
    require_gradients<Seq<CBWC<Conv2d<3, 4, 2>>, MeanPool, Linear<4, 2>>>(Layout::image(2, 4, 3));
    require_gradients<Seq<CBWC<Embedding<7, 5>>, CBWC<PositionEmbedding<4, 5>>, Linear<5, 2>>>(Layout::sequence(2, 4), smooth, 7);
    require_gradients<Seq<Linear<3, 5>, CBWC<ClassToken<5>>, CBWC<SelfAttention<5, 1>>, Linear<5, 2>>>(Layout::sequence(2, 3));
    require_gradients<Seq<Linear<3, 5>, CentredOutput<LayerScale<5>>, CentredOutput<LayerNorm<5>>, Linear<5, 2>>>(Layout::rows(4));
}

TEST_CASE("whole example networks") {
    using namespace lnfold_test::arch;
    require_gradients<Gpt>(Layout::sequence(2, 5), smooth, V);
    require_gradients<GptTied<tie_fold::untie>>(Layout::sequence(2, 5), smooth, V);
    require_gradients<cbwc_t<Gpt>>(Layout::sequence(2, 5), smooth, V);
    require_gradients<Vit>(Layout::image(2, Image, Image));
    require_gradients<Bert>(Layout::sequence(2, 4), smooth, V);
    require_gradients<cbwc_t<ConvNext>>(Layout::image(1, 4, 6));
}
