// GroupNorm against an independent long-double reference of its definition (PyTorch's nn.GroupNorm on
// channels-last rows), its gradients against finite differences, and its place in the traits: set_eps reaches
// it, the fold analysis treats it as a breaker, decoding refuses it.
//
// Scales (layer_reference.hpp): y = xhat gamma + beta is computed at |gamma| (|xhat| + |mean| rstd + 1) + |beta|.
#include <cmath>
#include <cstddef>
#include <limits>
#include <utility>
#include <string>
#include <vector>

#include "layer_reference.hpp"
#include "require_error.hpp"
#include "../train/gradient_check.hpp"

using namespace lnfold;
using namespace lnfold_layers_test;

namespace {

// The definition, in long double: per sample b and group g, over tokens x (C / G) values.
reference group_norm_reference(const std::vector<real>& x, std::size_t batch, std::size_t tokens, std::size_t channels,
                               std::size_t groups, const std::vector<real>& gamma, const std::vector<real>& beta,
                               real eps) {
    reference ref(batch * tokens, channels);
    const std::size_t cg = channels / groups;
    for (std::size_t b = 0; b < batch; ++b)
        for (std::size_t g = 0; g < groups; ++g) {
            real sum = 0;
            for (std::size_t t = 0; t < tokens; ++t)
                for (std::size_t i = 0; i < cg; ++i) sum += x[(b * tokens + t) * channels + g * cg + i];
            const real n = static_cast<real>(tokens * cg), mean = sum / n;
            real squares = 0;
            for (std::size_t t = 0; t < tokens; ++t)
                for (std::size_t i = 0; i < cg; ++i) {
                    const real d = x[(b * tokens + t) * channels + g * cg + i] - mean;
                    squares += d * d;
                }
            const real rstd = 1 / std::sqrt(squares / n + eps);
            for (std::size_t t = 0; t < tokens; ++t)
                for (std::size_t i = 0; i < cg; ++i) {
                    const std::size_t c = g * cg + i, r = b * tokens + t;
                    const real xhat = (x[r * channels + c] - mean) * rstd;
                    ref.at(r, c) = xhat * gamma[c] + beta[c];
                    ref.scale_at(r, c) = std::fabs(gamma[c]) * (std::fabs(xhat) + std::fabs(mean) * rstd + 1) +
                                         std::fabs(beta[c]);
                }
        }
    return ref;
}

template <class T, std::size_t C, std::size_t G>
void check_forward(const Layout& layout, double centre, std::uint64_t seed) {
    using Net = Named<"gn", GroupNorm<C, G>>;
    Model<Net, T> model;
    randomise(model, seed);
    std::vector<T> x = random_values<T>(layout.row_count() * C, seed + 1, centre - 2, centre + 2);
    const auto y = model.forward(std::span<const T>(x), layout);
    const reference ref = group_norm_reference(widen(x), layout.batch, layout.tokens, C, G, param(model, "gn.weight"),
                                               param(model, "gn.bias"), static_cast<real>(static_cast<T>(1e-5)));
    check_matches(y, ref, "GroupNorm<" + std::to_string(C) + ", " + std::to_string(G) + "> on " + layout.describe() +
                              ", values around " + std::to_string(centre));
}

}  // namespace

TEST_CASE("GroupNorm matches its definition: groups over channels and every token of a sample", "[layers][norm]") {
    check_forward<float, 6, 3>(Layout::sequence(2, 5), 0, 1);
    check_forward<double, 6, 3>(Layout::sequence(2, 5), 0, 1);
    check_forward<float, 8, 1>(Layout::image(3, 3, 2), 0, 2);     // one group: all channels and pixels
    check_forward<double, 4, 4>(Layout::image(2, 2, 3), 0, 3);    // one channel per group (InstanceNorm)
    check_forward<float, 96, 32>(Layout::image(1, 4, 4), 0, 4);
    check_forward<double, 96, 32>(Layout::image(1, 4, 4), 0, 4);
    check_forward<float, 17, 17>(Layout::rows(3), 0, 5);          // a single token: one value per group, output beta
    check_forward<float, 6, 2>(Layout::sequence(2, 7), 1000, 6);  // far from zero
    check_forward<double, 6, 2>(Layout::sequence(2, 7), 1e8, 6);
}

TEST_CASE("GroupNorm: one group over a single token is LayerNorm; a shift per (sample, group) changes nothing",
          "[layers][norm]") {
    constexpr std::size_t C = 12;
    Model<Named<"n", GroupNorm<C, 1>>, double> group_norm;
    Model<Named<"n", LayerNorm<C>>, double> layer_norm;
    randomise(group_norm, 11);
    std::copy(group_norm.parameters().begin(), group_norm.parameters().end(), layer_norm.parameters().begin());
    const std::vector<double> x = random_values<double>(4 * C, 12);
    const auto a = group_norm.forward(std::span<const double>(x), Layout::rows(4));
    const std::vector<double> from_group_norm(a.span().begin(), a.span().end());
    const auto b = layer_norm.forward(std::span<const double>(x), Layout::rows(4));
    for (std::size_t i = 0; i < x.size(); ++i) CHECK(std::abs(from_group_norm[i] - b.span()[i]) < 1e-13);

    Model<Named<"n", GroupNorm<6, 3>>, double> grouped;
    randomise(grouped, 13);
    const Layout layout = Layout::sequence(2, 4);
    std::vector<double> y = random_values<double>(layout.row_count() * 6, 14);
    const auto before = grouped.forward(std::span<const double>(y), layout);
    const std::vector<double> expected(before.span().begin(), before.span().end());
    for (std::size_t r = 0; r < layout.row_count(); ++r)  // + (3 b + g) on every value of sample b, group g
        for (std::size_t c = 0; c < 6; ++c) y[r * 6 + c] += static_cast<double>(3 * (r / 4) + c / 2);
    const auto after = grouped.forward(std::span<const double>(y), layout);
    for (std::size_t i = 0; i < expected.size(); ++i) CHECK(std::abs(after.span()[i] - expected[i]) < 1e-12);
}

TEST_CASE("GroupNorm: huge values stay finite, NaN stays in its group", "[layers][norm]") {
    Model<Named<"gn", GroupNorm<4, 2>>, float> model;
    randomise(model, 21);
    std::vector<float> x = random_values<float>(2 * 3 * 4, 22, -1e30, 1e30);  // squares beyond float (not double)
    const auto y = model.forward(std::span<const float>(x), Layout::sequence(2, 3));
    const reference ref = group_norm_reference(widen(x), 2, 3, 4, 2, param(model, "gn.weight"), param(model, "gn.bias"),
                                               static_cast<real>(1e-5f));
    check_matches(y, ref, "GroupNorm on values up to 1e30");

    // double sums overflow: the sum of 40 values near 1.3e307, and squares of values near ±1e200
    Model<Named<"gn", GroupNorm<4, 2>>, double> wide;
    randomise(wide, 23);
    for (const auto& [lo, hi] : {std::pair{0.9e307, 1.7e307}, std::pair{-1e200, 1e200}}) {
        const std::vector<double> big = random_values<double>(20 * 4, 24, lo, hi);
        const auto z = wide.forward(std::span<const double>(big), Layout::sequence(1, 20));
        const reference wide_ref = group_norm_reference(widen(big), 1, 20, 4, 2, param(wide, "gn.weight"),
                                                        param(wide, "gn.bias"), 1e-5L);
        check_matches(z, wide_ref, "GroupNorm in double on values in [" + std::to_string(lo) + ", " +
                                       std::to_string(hi) + "]");
    }

    x[1] = std::numeric_limits<float>::quiet_NaN();  // sample 0, token 0, channel 1: group 0 of sample 0
    const auto z = model.forward(std::span<const float>(x), Layout::sequence(2, 3));
    for (std::size_t r = 0; r < 6; ++r)
        for (std::size_t c = 0; c < 4; ++c) {
            INFO("row " << r << ", channel " << c);
            CHECK(std::isnan(z(r, c)) == (r < 3 && c < 2));
        }
}

TEST_CASE("GroupNorm's eps is set through the Model like every norm's", "[layers][norm]") {
    Model<Seq<Linear<6, 6>, Named<"gn", GroupNorm<6, 2>>>, double> model;
    randomise(model, 31);
    CHECK(model.eps("gn") == 1e-5);
    model.set_eps("gn", 0.25);
    CHECK(model.eps("gn") == 0.25);
    const std::vector<double> x = random_values<double>(3 * 6, 32);
    const auto y = model.forward(std::span<const double>(x), Layout::sequence(1, 3));
    // the reference applies GroupNorm with eps 0.25 to the Linear's output, computed here in long double
    const auto w = param(model, "0.weight"), bias = param(model, "0.bias");
    std::vector<real> h(3 * 6);
    for (std::size_t r = 0; r < 3; ++r)
        for (std::size_t o = 0; o < 6; ++o) {
            real s = bias[o];
            for (std::size_t i = 0; i < 6; ++i) s += w[o * 6 + i] * x[r * 6 + i];
            h[r * 6 + o] = s;
        }
    check_matches(y, group_norm_reference(h, 1, 3, 6, 2, param(model, "gn.weight"), param(model, "gn.bias"), 0.25L),
                  "GroupNorm with eps 0.25");
    model.set_eps(1e-3);  // every norm
    CHECK(model.eps("gn") == 1e-3);
    require_error<config_error>([&] { model.set_eps("gn", 0.0); }, {"gn", "got 0"});
}

TEST_CASE("GroupNorm's backward matches finite differences", "[layers][norm][gradients]") {
    using Net = Seq<Linear<6, 6>, GroupNorm<6, 3>, Linear<6, 4>>;
    const auto report = lnfold_test::check_gradients<Net>(Layout::sequence(2, 5), 41);
    INFO("worst relative error " << report.worst_relative << " at " << report.worst_path);
    CHECK(report.probes > 0);
    CHECK(report.worst_relative < 1e-6);
    using Image = Seq<Linear<8, 8>, GroupNorm<8, 2>, Linear<8, 3>>;
    const auto image = lnfold_test::check_gradients<Image>(Layout::image(2, 3, 3), 42);
    INFO("image: worst relative error " << image.worst_relative << " at " << image.worst_path);
    CHECK(image.worst_relative < 1e-6);
}

TEST_CASE("GroupNorm in the fold analysis and in decoding", "[layers][norm][fold]") {
    using Net = Seq<Named<"fc", Linear<8, 8>>, Named<"gn", GroupNorm<8, 2>>, Named<"ln", LayerNorm<8>>>;
    STATIC_REQUIRE(layernorm_count_v<Net> == 1);
    STATIC_REQUIRE(foldable_count_v<Net> == 0);
    const std::string report = describe(fold_report<Net>()[0]);
    INFO(report);
    CHECK(report.find("passes through GroupNorm at gn") != std::string::npos);
    // fold keeps GroupNorm and its eps
    Model<Net, double> model;
    randomise(model, 51);
    model.set_eps("gn", 0.5);
    const auto folded = fold(model);
    CHECK(folded.eps("gn") == 0.5);
    using Text = Seq<Embedding<10, 8>, GroupNorm<8, 2>, Linear<8, 10>>;
    STATIC_REQUIRE(!decodable<Text>());
}

TEST_CASE("kernels::group_norm checks its arguments", "[layers][norm][errors]") {
    std::vector<float> x(12, 1.0f), y(12), gamma(4, 1.0f), beta(4, 0.0f), mean(2), rstd(2);
    const auto call = [&](std::size_t channels, std::size_t groups, float eps, const float* input) {
        kernels::group_norm(input, 1, 3, channels, groups, gamma.data(), beta.data(), eps, y.data(), mean.data(),
                            rstd.data());
    };
    require_error<config_error>([&] { call(4, 3, 1e-5f, x.data()); }, {"kernels::group_norm", "3 groups of 4 channels"});
    require_error<config_error>([&] { call(4, 0, 1e-5f, x.data()); }, {"kernels::group_norm", "must be > 0"});
    require_error<config_error>([&] { call(4, 2, 0.0f, x.data()); }, {"kernels::group_norm", "eps"});
    require_error<config_error>([&] { call(4, 2, 1e-5f, nullptr); }, {"kernels::group_norm", "null"});
    call(4, 2, 1e-5f, x.data());  // valid: a constant group gives beta
    CHECK(y[0] == 0.0f);
}
