// Losses against hand computations and finite differences.
#include <cmath>
#include <cstdint>
#include <vector>

#include "catch.hpp"

#include <lnfold/lnfold.hpp>
#include <lnfold/train/loss.hpp>

using namespace lnfold;

namespace {
tensor_view<double> view(const std::vector<double>& v, std::size_t rows, std::size_t width) {
    return {v.data(), Layout::rows(rows), width};
}
}  // namespace

TEST_CASE("cross-entropy of a hand-computed case") {
    // Row 0: logits (1, 2, 3), target 2: loss = log(e + e^2 + e^3) - 3.
    const std::vector<double> logits{1, 2, 3, 0, 0, 0};
    std::vector<double> grad(6);
    const std::vector<std::int32_t> targets{2, 0};
    const double loss = softmax_cross_entropy(view(logits, 2, 3), std::span<const std::int32_t>(targets), std::span<double>(grad));
    const double l0 = std::log(std::exp(1.0) + std::exp(2.0) + std::exp(3.0)) - 3.0, l1 = std::log(3.0);
    CHECK(loss == Approx((l0 + l1) / 2).epsilon(1e-14));
    const double s = std::exp(1.0) + std::exp(2.0) + std::exp(3.0);
    CHECK(grad[0] == Approx(std::exp(1.0) / s / 2).epsilon(1e-14));
    CHECK(grad[2] == Approx((std::exp(3.0) / s - 1) / 2).epsilon(1e-14));
    CHECK(grad[3] == Approx((1.0 / 3 - 1) / 2).epsilon(1e-14));
}

TEST_CASE("cross-entropy gradient matches central finite differences, with smoothing and ignored rows") {
    random_stream rng(4);
    const std::size_t rows = 5, classes = 7;
    std::vector<double> logits(rows * classes);
    for (double& z : logits) z = rng.uniform(-3, 3);
    const std::vector<std::int32_t> targets{3, -100, 0, 6, 2};
    const cross_entropy_options options{0.1, -100};
    std::vector<double> grad(rows * classes), scratch(rows * classes);
    softmax_cross_entropy(view(logits, rows, classes), std::span<const std::int32_t>(targets), std::span<double>(grad), options);
    const double h = 1e-6;
    for (std::size_t i = 0; i < logits.size(); ++i) {
        std::vector<double> plus = logits, minus = logits;
        plus[i] += h;
        minus[i] -= h;
        const double numeric =
            (softmax_cross_entropy(view(plus, rows, classes), std::span<const std::int32_t>(targets), std::span<double>(scratch), options) -
             softmax_cross_entropy(view(minus, rows, classes), std::span<const std::int32_t>(targets), std::span<double>(scratch), options)) /
            (2 * h);
        // Central differences in double with h = 1e-6: truncation ~h^2 = 1e-12, rounding ~1e-16 x |L| / h ~ 1e-10.
        // epsilon(0): Approx's default relative epsilon (1.2e-5) would otherwise accept far larger errors.
        CHECK(grad[i] == Approx(numeric).epsilon(0).margin(1e-9));
    }
    for (std::size_t c = 0; c < classes; ++c) CHECK(grad[classes + c] == 0.0);  // the ignored row
}

TEST_CASE("label smoothing follows torch's definition") {
    // loss = -(1 - s) log p_t - (s / K) sum_c log p_c
    const std::vector<double> logits{0.5, -1.0, 2.0, 0.0};
    std::vector<double> grad(4);
    const std::vector<std::int32_t> targets{1};
    const double s = 0.2;
    const double loss =
        softmax_cross_entropy(view(logits, 1, 4), std::span<const std::int32_t>(targets), std::span<double>(grad), {s, -100});
    double log_sum = 0;
    for (double z : logits) log_sum += std::exp(z);
    log_sum = std::log(log_sum);
    double sum_log_p = 0;
    for (double z : logits) sum_log_p += z - log_sum;
    CHECK(loss == Approx(-(1 - s) * (logits[1] - log_sum) - s / 4 * sum_log_p).epsilon(1e-14));
}

TEST_CASE("loss errors name sizes and bad targets") {
    const std::vector<double> logits(6);
    std::vector<double> grad(6);
    const std::vector<std::int32_t> one{0}, bad{0, 3};
    CHECK_THROWS_AS(softmax_cross_entropy(view(logits, 2, 3), std::span<const std::int32_t>(one), std::span<double>(grad)), shape_error);
    CHECK_THROWS_AS(softmax_cross_entropy(view(logits, 2, 3), std::span<const std::int32_t>(bad), std::span<double>(grad)), index_error);
}

TEST_CASE("mean squared error and its gradient") {
    const std::vector<double> y{1, 2, 3, 4};
    const std::vector<double> t{0, 2, 5, 4};
    std::vector<double> grad(4);
    CHECK(mean_squared_error(view(y, 2, 2), std::span<const double>(t), std::span<double>(grad)) == Approx(5.0 / 4).epsilon(1e-12));
    CHECK(grad == std::vector<double>{0.5, 0, -1, 0});
}
