// Linear and LayerScale forward against scalar long-double references written here from the definitions
// (torch.nn.Linear: y = x Wᵀ + b with W stored (Out, In); timm LayerScale: y = x ⊙ gamma), float and double,
// on odd sizes (1, 3, 17, 100) and typical ones (64, 768), over rows, sequences and images.
#include <cstddef>
#include <string>
#include <vector>

#include "layer_reference.hpp"

using namespace lnfold;
using namespace lnfold_layers_test;

namespace {

// y[r, o] = b[o] + Σ_i W[o, i] x[r, i];  scale = |b[o]| + Σ_i |W[o, i] x[r, i]|.
reference linear_reference(const std::vector<real>& x, std::size_t rows, std::size_t in, std::size_t out,
                           const std::vector<real>& w, const std::vector<real>* b) {
    reference ref(rows, out);
    for (std::size_t r = 0; r < rows; ++r)
        for (std::size_t o = 0; o < out; ++o) {
            real sum = b ? (*b)[o] : 0, mag = b ? std::fabs((*b)[o]) : 0;
            for (std::size_t i = 0; i < in; ++i) {
                const real term = w[o * in + i] * x[r * in + i];
                sum += term;
                mag += std::fabs(term);
            }
            ref.at(r, o) = sum;
            ref.scale_at(r, o) = mag;
        }
    return ref;
}

template <std::size_t In, std::size_t Out, bool Bias, class T>
void check_linear(const Layout& layout, std::uint64_t seed) {
    Model<Linear<In, Out, Bias>, T> m(seed);
    randomise(m, seed + 1);
    const std::size_t rows = layout.row_count();
    const auto x = random_values<T>(rows * In, seed + 2);
    const auto y = m.forward(std::span<const T>(x), layout);

    const auto w = param(m, "weight");
    REQUIRE(w.size() == In * Out);
    std::vector<real> b;
    if constexpr (Bias) b = param(m, "bias");
    const reference ref = linear_reference(widen(x), rows, In, Out, w, Bias ? &b : nullptr);
    CHECK(y.layout == layout);
    check_matches(y, ref, "Linear<" + std::to_string(In) + ", " + std::to_string(Out) + (Bias ? "" : ", no bias") +
                              "> on " + layout.describe());
}

template <class T>
void linear_suite() {
    // odd sizes
    check_linear<1, 1, true, T>(Layout::rows(1), 10);
    check_linear<1, 3, true, T>(Layout::rows(3), 11);
    check_linear<3, 17, true, T>(Layout::rows(17), 12);
    check_linear<17, 100, true, T>(Layout::rows(3), 13);
    check_linear<100, 1, true, T>(Layout::rows(17), 14);
    check_linear<100, 17, false, T>(Layout::sequence(2, 3), 15);
    check_linear<3, 1, false, T>(Layout::rows(1), 16);
    // typical sizes (few rows)
    check_linear<64, 64, true, T>(Layout::sequence(3, 17), 17);
    check_linear<768, 64, true, T>(Layout::rows(3), 18);
    check_linear<64, 768, true, T>(Layout::rows(3), 19);
    check_linear<768, 768, true, T>(Layout::rows(3), 20);
    check_linear<768, 3, false, T>(Layout::rows(1), 21);
    // a Linear also acts per pixel on an image (rows are pixels, the layout is kept)
    check_linear<3, 17, true, T>(Layout::image(2, 3, 5), 22);
}

template <std::size_t D, class T>
void check_layer_scale(const Layout& layout, std::uint64_t seed) {
    Model<LayerScale<D>, T> m(seed);
    // default gamma is the constant 0.1 (CaiT) — check it before randomising
    for (const T g : m.parameter("gamma")) REQUIRE(g == T(0.1));
    randomise(m, seed + 1);
    const std::size_t rows = layout.row_count();
    const auto x = random_values<T>(rows * D, seed + 2);
    const auto y = m.forward(std::span<const T>(x), layout);
    const auto gamma = param(m, "gamma");
    reference ref(rows, D);
    for (std::size_t r = 0; r < rows; ++r)
        for (std::size_t i = 0; i < D; ++i) {
            ref.at(r, i) = static_cast<real>(x[r * D + i]) * gamma[i];
            ref.scale_at(r, i) = std::fabs(ref.at(r, i));  // one rounding: relative error <= u
        }
    CHECK(y.layout == layout);
    check_matches(y, ref, "LayerScale<" + std::to_string(D) + "> on " + layout.describe());
}

template <class T>
void layer_scale_suite() {
    check_layer_scale<1, T>(Layout::rows(3), 30);
    check_layer_scale<3, T>(Layout::rows(1), 31);
    check_layer_scale<17, T>(Layout::sequence(2, 3), 32);
    check_layer_scale<100, T>(Layout::rows(17), 33);
    check_layer_scale<64, T>(Layout::image(1, 3, 2), 34);
    check_layer_scale<768, T>(Layout::rows(3), 35);
    check_layer_scale<768, T>(Layout::rows(100), 36);  // enough work for parallel_for_rows to use threads
}

}  // namespace

TEST_CASE("Linear forward matches y = x W^T + b", "[layers][linear]") {
    SECTION("float") { linear_suite<float>(); }
    SECTION("double") { linear_suite<double>(); }
}

TEST_CASE("Linear: a hand-computed case pins the (Out, In) weight layout", "[layers][linear]") {
    Model<Linear<3, 2>, double> m(0);
    const std::vector<double> w{1, 2, 3,      // row 0 = output 0
                                -1, 0, 0.5};  // row 1 = output 1
    std::copy(w.begin(), w.end(), m.parameter("weight").begin());
    m.parameter("bias")[0] = 10;
    m.parameter("bias")[1] = -10;
    const std::vector<double> x{1, 1, 1, 2, 0, -4};
    const auto y = m.forward(std::span<const double>(x), Layout::rows(2));
    REQUIRE(y.rows() == 2);
    REQUIRE(y.width == 2);
    CHECK(y(0, 0) == 16.0);   // 1 + 2 + 3 + 10
    CHECK(y(0, 1) == -10.5);  // -1 + 0.5 - 10
    CHECK(y(1, 0) == 0.0);    // 2 + 0 - 12 + 10
    CHECK(y(1, 1) == -14.0);  // -2 - 2 - 10
}

TEST_CASE("LayerScale forward matches y = x * gamma", "[layers][layer_scale]") {
    SECTION("float") { layer_scale_suite<float>(); }
    SECTION("double") { layer_scale_suite<double>(); }
}
