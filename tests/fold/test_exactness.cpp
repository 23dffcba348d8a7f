// fold() is exact: on every example architecture, for 50 seeds (random parameters, random input batches), the
// folded model reproduces the original outputs within 1e-5 relative in float and 1e-12 in double, and the
// RMSNorms that replaced LayerNorms read rows whose mean is zero to rounding.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "architectures.hpp"
#include "catch.hpp"

using namespace lnfold;
using namespace lnfold_test::arch;

namespace {

constexpr int seeds = 50;

// Every parameter uniform in [-1, 1] except norm gammas in [0.5, 1.5]: biases, betas and tables are all
// far from zero, so any mistake in what is centred shows.
template <class M>
void randomise(M& model, std::uint64_t seed) {
    random_stream rng(seed);
    model.visit_parameters([&](auto p) {
        const bool gamma = p.spec.init == init_kind::ones;
        for (auto& v : p.values) v = static_cast<typename M::value_type>(gamma ? rng.uniform(0.5, 1.5) : rng.uniform(-1, 1));
    });
}

template <class Net>
Layout input_layout(std::size_t n) {
    if constexpr (std::is_same_v<Net, Vit>) return Layout::image(n, Image, Image);
    else if constexpr (std::is_same_v<Net, ConvNext>) return Layout::image(n, 6, 4);
    else return Layout::rows(n + 2);
}

template <class T>
struct batch {
    std::vector<std::int32_t> ids;
    std::vector<T> values;
    Layout layout;
};

template <class Net, class T>
batch<T> random_batch(std::uint64_t seed) {
    random_stream rng(seed);
    batch<T> b;
    if constexpr (Model<Net, T>::reads_tokens) {
        const std::size_t n = 1 + rng.below(3), length = 1 + rng.below(lnfold_test::arch::T);
        b.layout = Layout::sequence(n, length);
        for (std::size_t i = 0; i < n * length; ++i) b.ids.push_back(static_cast<std::int32_t>(rng.below(V)));
    } else {
        b.layout = input_layout<Net>(1 + rng.below(3));
        const std::size_t count = b.layout.row_count() * Model<Net, T>::input_width;
        for (std::size_t i = 0; i < count; ++i) b.values.push_back(static_cast<T>(rng.uniform(-2, 3)));
    }
    return b;
}

template <class M, class T>
tensor_view<T> run(M& model, const batch<T>& b) {
    if constexpr (M::reads_tokens) return model.forward(std::span<const std::int32_t>(b.ids), b.layout);
    else return model.forward(std::span<const T>(b.values), b.layout);
}

// max |rowmean| / max(row rms) over the rows read by the RMSNorms that replaced foldable LayerNorms.
template <class Net, class M>
double worst_input_mean(const M& folded) {
    double worst = 0;
    for (const auto& v : fold_report<Net>()) {
        if (!v.foldable) continue;
        const auto& in = folded.state().inputs[static_cast<std::size_t>(v.node)];
        for (std::size_t r = 0; r < in.layout.row_count(); ++r) {
            double sum = 0, squares = 0;
            for (std::size_t i = 0; i < in.width; ++i) {
                const double x = in.data[r * in.width + i];
                sum += x;
                squares += x * x;
            }
            const double mean = sum / double(in.width), rms = std::sqrt(squares / double(in.width));
            worst = std::max(worst, std::abs(mean) / std::max(rms, 1e-300));
        }
    }
    return worst;
}

template <class Net, class T>
void check_exact(double tolerance, double mean_tolerance) {
    double worst = 0, worst_mean = 0;
    for (int seed = 0; seed < seeds; ++seed) {
        Model<Net, T> model;
        randomise(model, 1000 + seed);
        model.set_eps(1e-5 * (1 + seed % 3));
        const std::vector<T> before(model.parameters().begin(), model.parameters().end());
        auto folded = fold(model);
        const batch<T> b = random_batch<Net, T>(seed);
        const auto y = run(model, b);
        const std::vector<T> expected(y.span().begin(), y.span().end());
        const auto z = run(folded, b);
        double scale = 0, diff = 0;
        for (std::size_t i = 0; i < expected.size(); ++i) {
            scale = std::max(scale, std::abs(double(expected[i])));
            diff = std::max(diff, std::abs(double(expected[i]) - double(z.span()[i])));
        }
        worst = std::max(worst, diff / scale);
        worst_mean = std::max(worst_mean, worst_input_mean<Net>(folded));
        // fold() leaves the original untouched.
        CHECK(std::equal(before.begin(), before.end(), model.parameters().begin()));
    }
    INFO("max relative output difference " << worst << ", max |row mean| / rms at folded norms " << worst_mean);
    CHECK(worst <= tolerance);
    CHECK(worst_mean <= mean_tolerance);
}

}  // namespace

TEMPLATE_TEST_CASE("fold is exact on every example architecture", "", float, double) {
    const double tolerance = std::is_same_v<TestType, float> ? 1e-5 : 1e-12;
    const double mean_tolerance = std::is_same_v<TestType, float> ? 1e-5 : 1e-13;
    SECTION("Pre-LN GPT") { check_exact<Gpt, TestType>(tolerance, mean_tolerance); }
    SECTION("GPT with a tied head, untied by fold") { check_exact<GptTied<tie_fold::untie>, TestType>(tolerance, mean_tolerance); }
    SECTION("GPT with a tied head, rank-1 corrected") {
        check_exact<GptTied<tie_fold::correct>, TestType>(tolerance, mean_tolerance);
    }
    SECTION("Post-LN BERT") { check_exact<Bert, TestType>(tolerance, mean_tolerance); }
    SECTION("ViT") { check_exact<Vit, TestType>(tolerance, mean_tolerance); }
    SECTION("ConvNeXt-style") { check_exact<ConvNext, TestType>(tolerance, mean_tolerance); }
    SECTION("MLP") { check_exact<Mlp, TestType>(tolerance, mean_tolerance); }
    SECTION("LayerScale folded into its Linear") {
        check_exact<Seq<Linear<7, 9>, LayerScale<9>, LayerNorm<9>, Linear<9, 2>>, TestType>(tolerance, mean_tolerance);
    }
}

TEST_CASE("centring the wrong axis is caught by the same checks") {
    // A deliberately wrong conversion: centre each ROW of the Linear weight (over the input index) instead of
    // each column. The LayerNorm-turned-RMSNorm then reads rows with nonzero mean and the outputs change.
    using Net = Seq<Linear<7, 9>, LayerNorm<9>, Linear<9, 2>>;
    Model<Net, double> model;
    randomise(model, 5);
    Model<folded_t<Net>, double> wrong;
    std::copy(model.parameters().begin(), model.parameters().end(), wrong.parameters().begin());
    auto w = wrong.parameter("0.weight");
    for (std::size_t o = 0; o < 9; ++o) {
        double mean = 0;
        for (std::size_t i = 0; i < 7; ++i) mean += w[o * 7 + i] / 7;
        for (std::size_t i = 0; i < 7; ++i) w[o * 7 + i] -= mean;
    }
    auto right = fold(model);
    const batch<double> b = random_batch<Net, double>(3);
    const auto y = run(model, b);
    const std::vector<double> expected(y.span().begin(), y.span().end());
    double wrong_diff = 0, right_diff = 0;
    const auto z_wrong = run(wrong, b);
    for (std::size_t i = 0; i < expected.size(); ++i) wrong_diff = std::max(wrong_diff, std::abs(expected[i] - z_wrong.span()[i]));
    const auto z_right = run(right, b);
    for (std::size_t i = 0; i < expected.size(); ++i) right_diff = std::max(right_diff, std::abs(expected[i] - z_right.span()[i]));
    CHECK(wrong_diff > 1e-3);
    CHECK(right_diff < 1e-12);
    CHECK(worst_input_mean<Net>(wrong) > 1e-3);
}

TEST_CASE("a tied head reads the embedding table: logits = h Eᵀ") {
    using Net = Seq<Named<"wte", Embedding<7, 4>>, Named<"head", TiedHead<4, 7, "wte">>>;
    Model<Net, double> model(3);
    const std::vector<std::int32_t> ids{0, 6, 3};
    const auto y = model.forward(std::span<const std::int32_t>(ids), Layout::sequence(1, 3));
    const auto table = model.parameter("wte.weight");
    for (std::size_t r = 0; r < 3; ++r)
        for (std::size_t v = 0; v < 7; ++v) {
            double expected = 0;
            for (std::size_t i = 0; i < 4; ++i) expected += table[std::size_t(ids[r]) * 4 + i] * table[v * 4 + i];
            CHECK(y(r, v) == Approx(expected).epsilon(1e-14));
        }
}

TEMPLATE_TEST_CASE("explicit centring is exact, and so is folding the centred network", "", float, double) {
    const double tolerance = std::is_same_v<TestType, float> ? 1e-5 : 1e-12;
    using Centred = with_centering_t<Bloom>;
    double worst_centred = 0, worst_folded = 0;
    for (int seed = 0; seed < seeds; ++seed) {
        Model<Bloom, TestType> model;
        randomise(model, 7000 + seed);
        Model<Centred, TestType> centred;
        std::copy(model.parameters().begin(), model.parameters().end(), centred.parameters().begin());
        auto folded = fold(centred);
        const batch<TestType> b = random_batch<Bloom, TestType>(seed);
        const auto y = run(model, b);
        const std::vector<TestType> expected(y.span().begin(), y.span().end());
        double scale = 0;
        for (auto v : expected) scale = std::max(scale, std::abs(double(v)));
        const auto c = run(centred, b);
        for (std::size_t i = 0; i < expected.size(); ++i)
            worst_centred = std::max(worst_centred, std::abs(double(expected[i]) - double(c.span()[i])) / scale);
        const auto f = run(folded, b);
        for (std::size_t i = 0; i < expected.size(); ++i)
            worst_folded = std::max(worst_folded, std::abs(double(expected[i]) - double(f.span()[i])) / scale);
    }
    INFO("centred " << worst_centred << ", folded " << worst_folded);
    CHECK(worst_centred <= tolerance);
    CHECK(worst_folded <= tolerance);
    STATIC_REQUIRE(layernorm_count_v<folded_t<Centred>> == 0);
}
