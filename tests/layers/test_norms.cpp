// LayerNorm, RMSNorm (with and without bias) and Centering forward against long-double references written here
// from the definitions (torch.nn.LayerNorm: biased variance, eps inside the square root; RMSNorm as in
// torch.nn.RMSNorm, plus an optional bias):
//   LayerNorm: y = gamma (x - mean) / sqrt(var + eps) + beta,   var = mean((x - mean)^2)
//   RMSNorm:   y = gamma x / sqrt(mean(x^2) + eps) (+ beta)
//   Centering: y = x - mean(x)
// float and double, widths 1, 3, 17, 100, 64, 768; eps handling (default 1e-5, set_eps, validation); rows of mean
// 1000 and std 1 (where E[x^2] - mean^2 errs by ~1); NaN stays in its row.
//
// Tolerance scales (see layer_reference.hpp): a normalised value is computed at |gamma| (|xhat| + |mean| / std + 1)
// + |beta|, where std = sqrt(var + eps). The |mean| / std term is the conditioning of the centring: the mean of a
// row is itself only known to ~u |mean| (it must be rounded to T to be subtracted), and that error is divided by
// std. It matters only for the stress rows (|mean| / std = 1000); E[x^2] - mean^2 there errs by ~100% in float,
// far outside it.
#include <cmath>
#include <cstddef>
#include <limits>
#include <string>
#include <vector>

#include "layer_reference.hpp"

using namespace lnfold;
using namespace lnfold_layers_test;

namespace {

struct row_stats {
    real mean, var;
};
row_stats stats(const std::vector<real>& x, std::size_t r, std::size_t d) {
    real sum = 0;
    for (std::size_t i = 0; i < d; ++i) sum += x[r * d + i];
    const real mean = sum / real(d);
    real sq = 0;
    for (std::size_t i = 0; i < d; ++i) sq += (x[r * d + i] - mean) * (x[r * d + i] - mean);
    return {mean, sq / real(d)};
}

reference layer_norm_reference(const std::vector<real>& x, std::size_t rows, std::size_t d, const std::vector<real>& gamma,
                               const std::vector<real>& beta, real eps) {
    reference ref(rows, d);
    for (std::size_t r = 0; r < rows; ++r) {
        const row_stats s = stats(x, r, d);
        const real sd = std::sqrt(s.var + eps);
        for (std::size_t i = 0; i < d; ++i) {
            const real xhat = (x[r * d + i] - s.mean) / sd;
            ref.at(r, i) = gamma[i] * xhat + beta[i];
            ref.scale_at(r, i) = std::fabs(gamma[i]) * (std::fabs(xhat) + std::fabs(s.mean) / sd + 1) + std::fabs(beta[i]);
        }
    }
    return ref;
}

reference rms_norm_reference(const std::vector<real>& x, std::size_t rows, std::size_t d, const std::vector<real>& gamma,
                             const std::vector<real>* beta, real eps) {
    reference ref(rows, d);
    for (std::size_t r = 0; r < rows; ++r) {
        real sq = 0;
        for (std::size_t i = 0; i < d; ++i) sq += x[r * d + i] * x[r * d + i];
        const real rms = std::sqrt(sq / real(d) + eps);
        for (std::size_t i = 0; i < d; ++i) {
            const real xhat = x[r * d + i] / rms;
            ref.at(r, i) = gamma[i] * xhat + (beta ? (*beta)[i] : 0);
            ref.scale_at(r, i) = std::fabs(gamma[i]) * (std::fabs(xhat) + 1) + (beta ? std::fabs((*beta)[i]) : 0);
        }
    }
    return ref;
}

// Input rows: uniform in [-2, 2] shifted by a per-row offset in [-3, 3] (nonzero means, so LayerNorm's centring
// and RMSNorm's lack of it both matter).
template <class T>
std::vector<T> norm_input(std::size_t rows, std::size_t d, std::uint64_t seed) {
    rng r(seed);
    std::vector<T> x(rows * d);
    for (std::size_t row = 0; row < rows; ++row) {
        const double offset = r.uniform(-3, 3);
        for (std::size_t i = 0; i < d; ++i) x[row * d + i] = static_cast<T>(offset + r.uniform(-2, 2));
    }
    return x;
}

template <std::size_t D, class T>
void check_layer_norm(const Layout& layout, std::uint64_t seed, double eps = 0) {
    Model<LayerNorm<D>, T> m(seed);
    for (const T g : m.parameter("weight")) REQUIRE(g == T(1));  // torch's init: weight 1, bias 0
    for (const T b : m.parameter("bias")) REQUIRE(b == T(0));
    randomise(m, seed + 1);
    if (eps > 0) m.set_eps(eps);
    const std::size_t rows = layout.row_count();
    const auto x = norm_input<T>(rows, D, seed + 2);
    const auto y = m.forward(std::span<const T>(x), layout);
    const reference ref = layer_norm_reference(widen(x), rows, D, param(m, "weight"), param(m, "bias"), eps > 0 ? eps : 1e-5);
    CHECK(y.layout == layout);
    check_matches(y, ref, "LayerNorm<" + std::to_string(D) + "> on " + layout.describe());
}

template <std::size_t D, bool Bias, class T>
void check_rms_norm(const Layout& layout, std::uint64_t seed, double eps = 0) {
    Model<RMSNorm<D, Bias>, T> m(seed);
    for (const T g : m.parameter("weight")) REQUIRE(g == T(1));
    randomise(m, seed + 1);
    if (eps > 0) m.set_eps(eps);
    const std::size_t rows = layout.row_count();
    const auto x = norm_input<T>(rows, D, seed + 2);
    const auto y = m.forward(std::span<const T>(x), layout);
    std::vector<real> beta;
    if constexpr (Bias) beta = param(m, "bias");
    const reference ref = rms_norm_reference(widen(x), rows, D, param(m, "weight"), Bias ? &beta : nullptr, eps > 0 ? eps : 1e-5);
    CHECK(y.layout == layout);
    check_matches(y, ref, "RMSNorm<" + std::to_string(D) + (Bias ? ", bias" : "") + "> on " + layout.describe());
}

template <std::size_t D, class T>
void check_centering(const Layout& layout, std::uint64_t seed) {
    Model<Centering, T> m(seed);
    const std::size_t rows = layout.row_count();
    const auto x = norm_input<T>(rows, D, seed + 2);
    const auto y = m.forward(std::span<const T>(x), layout);  // the width comes from x.size() / rows
    const auto xr = widen(x);
    reference ref(rows, D);
    for (std::size_t r = 0; r < rows; ++r) {
        const row_stats s = stats(xr, r, D);
        real mean_abs = 0;
        for (std::size_t i = 0; i < D; ++i) mean_abs += std::fabs(xr[r * D + i]) / real(D);
        for (std::size_t i = 0; i < D; ++i) {
            ref.at(r, i) = xr[r * D + i] - s.mean;
            // the computed mean errs by up to ~sqrt(D) u mean|x| in practice, then one rounding of |x - mean|
            ref.scale_at(r, i) = std::fabs(xr[r * D + i] - s.mean) + mean_abs;
        }
    }
    CHECK(y.layout == layout);
    check_matches(y, ref, "Centering (width " + std::to_string(D) + ") on " + layout.describe());
}

template <class T>
void norm_suite() {
    check_layer_norm<1, T>(Layout::rows(3), 100);  // one feature: var = 0, y = beta
    check_layer_norm<3, T>(Layout::rows(17), 101);
    check_layer_norm<17, T>(Layout::sequence(2, 3), 102);
    check_layer_norm<100, T>(Layout::rows(3), 103);
    check_layer_norm<64, T>(Layout::image(1, 3, 3), 104);
    check_layer_norm<768, T>(Layout::rows(3), 105);
    check_layer_norm<768, T>(Layout::rows(100), 106);  // enough work for parallel_for_rows to use threads

    check_rms_norm<1, false, T>(Layout::rows(3), 110);
    check_rms_norm<3, false, T>(Layout::rows(17), 111);
    check_rms_norm<17, false, T>(Layout::sequence(2, 3), 112);
    check_rms_norm<100, false, T>(Layout::rows(3), 113);
    check_rms_norm<64, false, T>(Layout::image(1, 3, 3), 114);
    check_rms_norm<768, false, T>(Layout::rows(3), 115);
    check_rms_norm<1, true, T>(Layout::rows(3), 120);
    check_rms_norm<3, true, T>(Layout::rows(17), 121);
    check_rms_norm<17, true, T>(Layout::sequence(2, 3), 122);
    check_rms_norm<100, true, T>(Layout::rows(3), 123);
    check_rms_norm<64, true, T>(Layout::image(1, 3, 3), 124);
    check_rms_norm<768, true, T>(Layout::rows(3), 125);
    check_rms_norm<768, true, T>(Layout::rows(100), 126);  // threads

    check_centering<1, T>(Layout::rows(3), 130);  // a single feature centres to 0
    check_centering<3, T>(Layout::rows(17), 131);
    check_centering<17, T>(Layout::sequence(2, 3), 132);
    check_centering<100, T>(Layout::rows(3), 133);
    check_centering<64, T>(Layout::image(1, 3, 3), 134);
    check_centering<768, T>(Layout::rows(3), 135);
    check_centering<768, T>(Layout::rows(100), 136);  // threads
}

template <std::size_t D, class T>
void check_stress(std::uint64_t seed, double offset = 1000) {
    // rows of mean `offset`, std 1 (where E[x^2] - mean^2 cancels catastrophically: in float at 1000, in double
    // at 1e8, it errs by ~100%)
    const std::size_t rows = 3;
    rng r(seed);
    std::vector<T> x(rows * D);
    for (auto& v : x) v = static_cast<T>(offset + r.normal());
    const auto xr = widen(x);

    Model<LayerNorm<D>, T> ln(seed);
    randomise(ln, seed + 1);
    const auto y = ln.forward(std::span<const T>(x), Layout::rows(rows));
    check_matches(y, layer_norm_reference(xr, rows, D, param(ln, "weight"), param(ln, "bias"), 1e-5),
                  "LayerNorm<" + std::to_string(D) + "> on rows of mean " + std::to_string(offset) + ", std 1");

    // The normalised values (gamma 1, beta 0) have mean 0 and variance var / (var + eps) per row, to the same
    // conditioned tolerance as the elements: tol · |mean| / std = tol · offset.
    Model<LayerNorm<D>, T> plain(seed);
    const auto z = plain.forward(std::span<const T>(x), Layout::rows(rows));
    for (std::size_t row = 0; row < rows; ++row) {
        const row_stats s = stats(xr, row, D);
        real sum = 0, sq = 0;
        for (std::size_t i = 0; i < D; ++i) sum += z(row, i);
        const real mean = sum / real(D);
        for (std::size_t i = 0; i < D; ++i) sq += (z(row, i) - mean) * (z(row, i) - mean);
        INFO("LayerNorm<" << D << "> [" << type_label<T>() << "] stress row " << row << ": output mean " << double(mean)
                          << ", variance " << double(sq / real(D)) << " (expected " << double(s.var / (s.var + 1e-5)) << ")");
        CHECK(std::fabs(double(mean)) <= offset * tolerance<T>());
        CHECK(std::fabs(double(sq / real(D) - s.var / (s.var + 1e-5))) <= offset * tolerance<T>());
    }

    Model<RMSNorm<D, true>, T> rms(seed);
    randomise(rms, seed + 1);
    const auto w = rms.forward(std::span<const T>(x), Layout::rows(rows));
    const auto beta = param(rms, "bias");
    check_matches(w, rms_norm_reference(xr, rows, D, param(rms, "weight"), &beta, 1e-5),
                  "RMSNorm<" + std::to_string(D) + ", bias> on rows of mean " + std::to_string(offset) + ", std 1");
}

}  // namespace

TEST_CASE("LayerNorm, RMSNorm and Centering forward match their definitions", "[layers][norm]") {
    SECTION("float") { norm_suite<float>(); }
    SECTION("double") { norm_suite<double>(); }
}

TEST_CASE("LayerNorm and RMSNorm on rows of mean 1000 (and 1e8 in double) and std 1", "[layers][norm]") {
    SECTION("float") {
        check_stress<17, float>(140);
        check_stress<100, float>(141);
        check_stress<768, float>(142);
    }
    SECTION("double") {
        check_stress<17, double>(140);
        check_stress<100, double>(141);
        check_stress<768, double>(142);
        check_stress<768, double>(143, 1e8);  // double's own catastrophic-cancellation regime
    }
}

TEST_CASE("norm eps: default 1e-5 inside the square root, set_eps per model and per path, validated", "[layers][norm]") {
    SECTION("random rows with set_eps(0.1) and set_eps(2)") {
        check_layer_norm<17, double>(Layout::rows(5), 150, 0.1);
        check_rms_norm<17, false, double>(Layout::rows(5), 151, 0.1);
        check_rms_norm<17, true, double>(Layout::rows(5), 152, 2.0);
        check_layer_norm<100, float>(Layout::rows(5), 153, 0.1);
        check_rms_norm<100, true, float>(Layout::rows(5), 154, 0.1);
    }
    SECTION("small-variance rows, where eps dominates") {
        // x = ±1e-3 alternating: mean 0, var 1e-6, so y = gamma x / sqrt(1e-6 + eps) with eps inside the root:
        // eps = 1e-5 gives x / sqrt(1.1e-5); eps = 0.1 gives x / sqrt(0.100001).
        constexpr std::size_t D = 4;
        const std::vector<double> x{1e-3, -1e-3, 1e-3, -1e-3};
        Model<LayerNorm<D>, double> ln(0);
        Model<RMSNorm<D>, double> rms(0);
        for (const double eps : {1e-5, 0.1}) {
            if (eps != 1e-5) {
                ln.set_eps(eps);
                rms.set_eps(eps);
            }
            const double expected = 1e-3 / std::sqrt(1e-6 + eps);
            const auto a = ln.forward(std::span<const double>(x), Layout::rows(1));
            for (std::size_t i = 0; i < D; ++i) CHECK(std::fabs(a(0, i) - (i % 2 ? -expected : expected)) <= 1e-12 * expected);
            const auto b = rms.forward(std::span<const double>(x), Layout::rows(1));
            for (std::size_t i = 0; i < D; ++i) CHECK(std::fabs(b(0, i) - (i % 2 ? -expected : expected)) <= 1e-12 * expected);
        }
    }
    SECTION("a constant row normalises to beta (LayerNorm) and x / sqrt(x^2 + eps) (RMSNorm)") {
        Model<LayerNorm<5>, double> ln(0);
        randomise(ln, 7);
        const std::vector<double> x(10, 3.25);
        const auto y = ln.forward(std::span<const double>(x), Layout::rows(2));
        const auto beta = ln.parameter("bias");
        for (std::size_t r = 0; r < 2; ++r)
            for (std::size_t i = 0; i < 5; ++i) CHECK(y(r, i) == beta[i]);
        Model<RMSNorm<5>, float> rms(0);
        rms.set_eps(0.5);
        const std::vector<float> xf(5, 2.0f);
        const auto z = rms.forward(std::span<const float>(xf), Layout::rows(1));
        for (std::size_t i = 0; i < 5; ++i) CHECK(std::fabs(z(0, i) - 2.0 / std::sqrt(4.5)) <= 1e-6);
    }
    SECTION("per-path eps on a named norm") {
        Model<Seq<Named<"a", LayerNorm<17>>, Named<"b", RMSNorm<17, true>>>, double> m(0);
        randomise(m, 3);
        CHECK(m.eps("a") == 1e-5);
        CHECK(m.eps("b") == 1e-5);
        m.set_eps("a", 0.1);
        CHECK(m.eps("a") == 0.1);
        CHECK(m.eps("b") == 1e-5);
        const auto x = norm_input<double>(3, 17, 9);
        const auto y = m.forward(std::span<const double>(x), Layout::rows(3));
        const auto ln = layer_norm_reference(widen(x), 3, 17, param(m, "a.weight"), param(m, "a.bias"), 0.1);
        const auto beta = param(m, "b.bias");
        const auto ref = rms_norm_reference(ln.value, 3, 17, param(m, "b.weight"), &beta, 1e-5);
        check_matches(y, ref, "LayerNorm (eps 0.1) then RMSNorm (eps 1e-5)");
    }
    SECTION("eps must be a finite number > 0") {
        Model<LayerNorm<3>, float> m(0);
        CHECK_THROWS_AS(m.set_eps(0.0), config_error);
        CHECK_THROWS_AS(m.set_eps(-1e-5), config_error);
        CHECK_THROWS_AS(m.set_eps(std::numeric_limits<double>::quiet_NaN()), config_error);
        CHECK_THROWS_AS(m.set_eps(std::numeric_limits<double>::infinity()), config_error);
    }
}

TEST_CASE("NaN in a row gives NaN in that row only", "[layers][norm]") {
    std::vector<float> x = norm_input<float>(3, 17, 5);
    x[17 + 4] = std::numeric_limits<float>::quiet_NaN();  // row 1
    const auto check_rows = [&](const tensor_view<float>& y, const char* what) {
        INFO(what);
        for (std::size_t i = 0; i < 17; ++i) {
            CHECK(std::isfinite(y(0, i)));
            CHECK(std::isnan(y(1, i)));
            CHECK(std::isfinite(y(2, i)));
        }
    };
    Model<LayerNorm<17>, float> ln(0);
    check_rows(ln.forward(std::span<const float>(x), Layout::rows(3)), "LayerNorm");
    Model<RMSNorm<17, true>, float> rms(0);
    check_rows(rms.forward(std::span<const float>(x), Layout::rows(3)), "RMSNorm");
    Model<Centering, float> c(0);
    check_rows(c.forward(std::span<const float>(x), Layout::rows(3)), "Centering");
}
