// Seq / Residual / Repeat / Named compute what calling their layers one after another computes, and give
// the parameter counts and paths one expects.
#include <algorithm>
#include <cstddef>
#include <string>
#include <vector>

#include "catch.hpp"
#include "chain.hpp"

using namespace lnfold;
using namespace lnfold_test;

namespace {

constexpr std::size_t D = 12;
using Mlp = Seq<Linear<5, D>, LayerNorm<D>, ReLU, Linear<D, 3>>;
using Block = Residual<Seq<Named<"ln", LayerNorm<D>>, Named<"fc", Linear<D, D>>, GELU>>;
using Deep = Seq<Named<"in", Linear<5, D>>, Named<"blocks", Repeat<3, Block>>, Named<"out", RMSNorm<D, true>>>;

}  // namespace

TEST_CASE("Seq equals its layers called by hand, with positional paths") {
    Model<Mlp, double> model(3);
    const rows_value x{random_values(4 * 5, 11), Layout::rows(4), 5};
    const auto y = model.forward(std::span<const double>(x.data), x.layout);

    rows_value h = run_alone<Linear<5, D>>(model, "0", x);
    h = run_alone<LayerNorm<D>>(model, "1", h);
    h = run_alone<ReLU>(model, "2", h);
    h = run_alone<Linear<D, 3>>(model, "3", h);
    CHECK(y.width == 3);
    CHECK(y.layout == Layout::rows(4));
    CHECK(max_abs_difference(y.span(), h.data) == 0.0);

    std::vector<std::string> paths;
    model.visit_parameters([&](auto p) { paths.emplace_back(p.path); });
    CHECK(paths == std::vector<std::string>{"0.weight", "0.bias", "1.weight", "1.bias", "3.weight", "3.bias"});
    STATIC_REQUIRE(Model<Mlp, double>::parameter_count == 5 * D + D + 2 * D + 3 * D + 3);
}

TEST_CASE("Repeat and Residual equal the blocks called by hand; Named gives the paths") {
    Model<Deep, double> model(5);
    const rows_value x{random_values(3 * 7 * 5, 12), Layout::sequence(3, 7), 5};
    const auto y = model.forward(std::span<const double>(x.data), x.layout);

    rows_value h = run_alone<Linear<5, D>>(model, "in", x);
    for (int copy = 0; copy < 3; ++copy) {
        const std::string prefix = "blocks." + std::to_string(copy);
        rows_value branch = run_alone<LayerNorm<D>>(model, prefix + ".ln", h);
        branch = run_alone<Linear<D, D>>(model, prefix + ".fc", branch);
        branch = run_alone<GELU>(model, prefix, branch);
        h = add(h, branch);
    }
    h = run_alone<RMSNorm<D, true>>(model, "out", h);
    CHECK(y.layout == Layout::sequence(3, 7));
    CHECK(max_abs_difference(y.span(), h.data) == 0.0);

    std::vector<std::string> paths;
    model.visit_parameters([&](auto p) { paths.emplace_back(p.path); });
    REQUIRE(paths.size() == 2 + 3 * 4 + 2);
    CHECK(paths[0] == "in.weight");
    CHECK(paths[2] == "blocks.0.ln.weight");
    CHECK(paths[5] == "blocks.0.fc.bias");
    CHECK(paths[6] == "blocks.1.ln.weight");
    CHECK(paths.back() == "out.bias");
    STATIC_REQUIRE(Model<Deep, double>::parameter_count == (5 * D + D) + 3 * (2 * D + D * D + D) + 2 * D);
}

TEST_CASE("the copies of a Repeat hold different parameters and are seeded by path") {
    Model<Deep, double> a(9), b(9), c(10);
    const auto w0 = a.parameter("blocks.0.fc.weight");
    const auto w1 = a.parameter("blocks.1.fc.weight");
    CHECK(!std::equal(w0.begin(), w0.end(), w1.begin()));
    const auto same = b.parameter("blocks.1.fc.weight");
    CHECK(std::equal(w1.begin(), w1.end(), same.begin()));
    const auto other = c.parameter("blocks.1.fc.weight");
    CHECK(!std::equal(w1.begin(), w1.end(), other.begin()));
    // The same path in a different network gets the same values (an LN model and its RMSNorm twin).
    Model<Seq<Named<"in", Linear<5, D>>, ReLU>, double> small(9);
    const auto in_small = small.parameter("in.weight");
    const auto in_deep = a.parameter("in.weight");
    CHECK(std::equal(in_small.begin(), in_small.end(), in_deep.begin()));
}

TEST_CASE("the arena places every tensor 64-byte aligned and zero-pads between tensors") {
    Model<Deep, float> model(1);
    model.visit_parameters([&](auto p) {
        CHECK(reinterpret_cast<std::uintptr_t>(p.values.data()) % 64 == 0);
    });
    // Every arena element that no tensor owns is padding, and padding is exactly zero.
    using M = Model<Deep, float>;
    const auto arena = model.parameters();
    std::vector<char> owned(arena.size(), 0);
    for (std::size_t t = 0; t < M::tensor_count; ++t)
        std::fill_n(owned.begin() + static_cast<std::ptrdiff_t>(M::graph.tensors[t].offset),
                    M::graph.tensors[t].spec.numel(), char{1});
    std::size_t padding = 0, nonzero_padding = 0;
    for (std::size_t i = 0; i < arena.size(); ++i)
        if (!owned[i]) {
            ++padding;
            nonzero_padding += arena[i] != 0.0f;
        }
    CHECK(padding > 0);  // Deep has tensors whose sizes are not multiples of 16 floats: the check reads real padding
    CHECK(nonzero_padding == 0);
}

TEST_CASE("initialisation schemes: PyTorch bounds, normal std, ones and zeros for norms") {
    Model<Deep, double> pytorch(1, init_scheme::pytorch);
    for (double w : pytorch.parameter("in.weight")) CHECK(std::abs(w) <= 1 / std::sqrt(5.0));
    for (double w : pytorch.parameter("blocks.2.ln.weight")) CHECK(w == 1.0);
    for (double w : pytorch.parameter("blocks.2.ln.bias")) CHECK(w == 0.0);
    Model<Seq<Linear<400, 300>, ReLU>, double> normal(1, init_scheme::normal);
    double sum = 0, squares = 0;
    const auto w = normal.parameter("0.weight");
    for (double v : w) {
        sum += v;
        squares += v * v;
    }
    const double mean = sum / double(w.size()), std = std::sqrt(squares / double(w.size()) - mean * mean);
    CHECK(std::abs(mean) < 1e-3);
    CHECK(std == Approx(0.02).epsilon(0.02));
    for (double b : normal.parameter("0.bias")) CHECK(b == 0.0);
}

TEST_CASE("unnamed nested combinators get their position, fully named ones stay transparent") {
    using Nested = Seq<Linear<4, 4>, Residual<Seq<LayerNorm<4>, Linear<4, 4>>>, Repeat<2, Linear<4, 4>>>;
    std::vector<std::string> paths;
    Model<Nested, double>().visit_parameters([&](auto p) { paths.emplace_back(p.path); });
    CHECK(paths == std::vector<std::string>{"0.weight", "0.bias", "1.0.weight", "1.0.bias", "1.1.weight", "1.1.bias",
                                            "2.0.weight", "2.0.bias", "2.1.weight", "2.1.bias"});
    using Gpt2Block = Seq<Residual<Seq<Named<"ln_1", LayerNorm<4>>, Named<"attn", SelfAttention<4, 2>>>>,
                          Residual<Seq<Named<"ln_2", LayerNorm<4>>, Named<"c_fc", Linear<4, 8>>, GELU,
                                       Named<"c_proj", Linear<8, 4>>>>>;
    paths.clear();
    Model<Named<"h", Repeat<2, Gpt2Block>>, double>().visit_parameters([&](auto p) { paths.emplace_back(p.path); });
    CHECK(paths[0] == "h.0.ln_1.weight");
    CHECK(paths[2] == "h.0.attn.qkv.weight");
    CHECK(paths[6] == "h.0.ln_2.weight");
    CHECK(paths[8] == "h.0.c_fc.weight");
    CHECK(paths[12] == "h.1.ln_1.weight");
}
