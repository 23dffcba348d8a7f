// What a Model holds: no gradient arena until training asks for one, and an activation plan known before the first
// forward (Model::activation_bytes) that equals what that forward allocates.
#include <cstdint>
#include <utility>
#include <vector>

#include "catch.hpp"

#include <lnfold/lnfold.hpp>

using namespace lnfold;

namespace {
constexpr std::size_t V = 32, T = 16, D = 32;
using Block = Seq<Residual<Seq<Named<"ln_1", LayerNorm<D>>, Named<"attn", SelfAttention<D, 4, true>>>>,
                  Residual<Seq<Named<"ln_2", LayerNorm<D>>, Named<"fc", Linear<D, 4 * D>>, GELU,
                               Named<"proj", Linear<4 * D, D>>>>>;
using Gpt = Seq<Named<"wte", Embedding<V, D>>, Named<"wpe", PositionEmbedding<T, D>>, Named<"h", Repeat<2, Block>>,
                Named<"ln_f", LayerNorm<D>>, Named<"head", Linear<D, V, false>>>;
using Vit = Seq<Conv2d<3, D, 4, 4>, ClassToken<D>, PositionEmbedding<17, D>, Repeat<1, Block>, RMSNorm<D, true>,
                TakeToken<0>, Linear<D, 10>>;
using Mlp = Seq<Named<"fc1", Linear<20, 64>>, Named<"ln", LayerNorm<64>>, ReLU, Named<"fc2", Linear<64, 3>>>;
}  // namespace

TEST_CASE("an inference-only model holds its parameters and its activation plan, nothing else") {
    Model<Gpt> model(1);
    const Layout layout = Layout::sequence(3, T);
    const std::size_t planned = model.activation_bytes(layout).value();
    CHECK(model.memory_report().activations == 0);  // planning allocates nothing
    std::vector<std::int32_t> ids(3 * T, 5);
    model.forward(std::span<const std::int32_t>(ids), layout);
    const model_memory m = model.memory_report();
    CHECK(m.parameters == Model<Gpt>::arena_size * sizeof(float));
    CHECK(m.gradients == 0);
    CHECK(m.backward == 0);
    CHECK(m.activations == planned);
    CHECK(m.total() == m.parameters + planned);
    CHECK(std::as_const(model).gradient("head.weight").empty());  // no arena to look into yet
    // A shorter sequence needs less and fits the same buffers.
    CHECK(model.activation_bytes(Layout::sequence(3, 5)).value() < planned);
    // Planning in between does not disturb the latest forward: backward still finds its token ids (the Embedding's
    // gradient rows are the ids' rows).
    std::vector<float> dy(3 * T * V, 1.0f);
    model.backward(std::span<const float>(dy));
    CHECK(std::as_const(model).gradient("wte.weight")[5 * D] != 0.0f);
    CHECK(std::as_const(model).gradient("wte.weight")[6 * D] == 0.0f);
}

TEST_CASE("the activation plan equals what the first forward allocates, for images and feature rows") {
    Model<Vit, double> vit(2);
    const std::size_t planned = vit.activation_bytes(Layout::image(2, 16, 16)).value();
    std::vector<double> pixels(2 * 16 * 16 * 3, 0.5);
    vit.forward(std::span<const double>(pixels), Layout::image(2, 16, 16));
    CHECK(vit.memory_report().activations == planned);

    Model<Mlp> mlp(3);
    const std::size_t mlp_planned = mlp.activation_bytes(Layout::rows(7)).value();
    // fc1 64 + ln 64 + its statistics 2 + relu 64 + fc2 3 values per row, each buffer padded to 16 floats
    CHECK(mlp_planned == (448 + 448 + 16 + 448 + 32) * sizeof(float));
    std::vector<float> x(7 * 20, 0.1f);
    mlp.forward(std::span<const float>(x), Layout::rows(7));
    CHECK(mlp.memory_report().activations == mlp_planned);
}

TEST_CASE("the activation plan reports a bad layout as forward does") {
    Model<Vit> vit(2);
    const result<std::size_t> plan = vit.activation_bytes(Layout::sequence(2, 4));
    REQUIRE(!plan.has_value());
    CHECK(plan.error().kind() == error_kind::shape);
    CHECK(plan.error().message().find("expected an image input") != std::string::npos);
    Model<Gpt> gpt(1);
    CHECK(gpt.activation_bytes(Layout::sequence(1, T + 1)).error().kind() == error_kind::index);
}

TEST_CASE("the gradient arena appears with the first backward and is as large as the parameters") {
    Model<Mlp> model(4);
    std::vector<float> x(5 * 20, 0.3f), dy(5 * 3, 1.0f);
    model.forward(std::span<const float>(x), Layout::rows(5));
    CHECK(model.memory_report().gradients == 0);
    model.backward(std::span<const float>(dy));
    const model_memory m = model.memory_report();
    CHECK(m.gradients == m.parameters);
    CHECK(m.backward > 0);
    // dL/d(fc2.bias) = sum of dy over the rows
    for (float g : model.gradient("fc2.bias")) CHECK(g == 5.0f);
    model.zero_grad();
    for (float g : model.gradients()) CHECK(g == 0.0f);
}
