// Activations (ReLU, GELU (erf), GELUTanh, SiLU) and Dropout forward against long-double references written here
// from torch's definitions:
//   ReLU      y = max(x, 0)
//   GELU      y = x/2 (1 + erf(x / sqrt 2))                                     (torch approximate='none')
//   GELUTanh  y = x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))                 (torch approximate='tanh')
//   SiLU      y = x / (1 + exp(-x))
//   Dropout   inference: y = x; training: y = 0 with probability p = Permille/1000, else x / (1 - p)
// float and double, widths 1, 3, 17, 100, 64, 768 (the width comes from the input size), rows, sequences, images.
//
// Tolerance scales (see layer_reference.hpp): ReLU is exact. SiLU is relative (|y|: exp and one division, each
// relatively accurate). GELU and GELUTanh compute 1 + erf(.) / 1 + tanh(.), which cancels for negative x exactly
// as torch's own formula does, so their error is absolute in the erf/tanh term: scale |y| + |x| (and |x| |inner|
// for GELUTanh, whose tanh argument carries a relative rounding error).
#include <cmath>
#include <cstddef>
#include <limits>
#include <string>
#include <vector>

#include "layer_reference.hpp"

using namespace lnfold;
using namespace lnfold_layers_test;

namespace {

constexpr real sqrt_half = 0.707106781186547524400844362104849039L;
constexpr real sqrt_2_over_pi = 0.797884560802865355879892119868763737L;

struct relu_ref {
    static real value(real x) { return x > 0 ? x : real(0); }
    static real scale(real x) { return std::fabs(x); }
};
struct gelu_ref {
    static real value(real x) { return real(0.5) * x * (1 + std::erf(x * sqrt_half)); }
    static real scale(real x) { return std::fabs(value(x)) + std::fabs(x); }
};
struct gelu_tanh_ref {
    static real inner(real x) { return sqrt_2_over_pi * (x + real(0.044715) * x * x * x); }
    static real value(real x) { return real(0.5) * x * (1 + std::tanh(inner(x))); }
    static real scale(real x) { return std::fabs(value(x)) + std::fabs(x) * (1 + std::fabs(inner(x))); }
};
struct silu_ref {
    static real value(real x) { return x / (1 + std::exp(-x)); }
    static real scale(real x) { return std::fabs(value(x)); }
};

template <class Layer, class Ref, class T>
void check_activation(std::size_t width, const Layout& layout, std::uint64_t seed, double lo = -6, double hi = 6,
                      bool absolute_floor = false) {
    Model<Layer, T> m(seed);
    const std::size_t rows = layout.row_count();
    const auto x = random_values<T>(rows * width, seed, lo, hi);
    const auto y = m.forward(std::span<const T>(x), layout);
    reference ref(rows, width);
    for (std::size_t r = 0; r < rows; ++r)
        for (std::size_t i = 0; i < width; ++i) {
            const real v = x[r * width + i];
            ref.at(r, i) = Ref::value(v);
            // on the wide range, results below T's smallest normal may flush or round to 0: allow |x|-sized error
            ref.scale_at(r, i) = Ref::scale(v) + (absolute_floor ? std::fabs(v) : real(0));
        }
    CHECK(y.layout == layout);
    check_matches(y, ref, Layer::type_name() + " (width " + std::to_string(width) + ") on " + layout.describe() +
                              ", inputs in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
}

template <class Layer, class Ref, class T>
void activation_suite() {
    check_activation<Layer, Ref, T>(1, Layout::rows(1), 200);
    check_activation<Layer, Ref, T>(3, Layout::rows(17), 201);
    check_activation<Layer, Ref, T>(17, Layout::sequence(2, 3), 202);
    check_activation<Layer, Ref, T>(100, Layout::rows(3), 203);
    check_activation<Layer, Ref, T>(64, Layout::image(2, 3, 1), 204);
    check_activation<Layer, Ref, T>(768, Layout::rows(3), 205);
    check_activation<Layer, Ref, T>(768, Layout::sequence(2, 17), 207);  // enough work for threads
    // wide range: saturation, exp overflow in SiLU's exp(-x), erf/tanh -> ±1
    check_activation<Layer, Ref, T>(100, Layout::rows(17), 206, -120, 120, true);
}

template <class Layer, class T>
void check_special_values() {
    // NaN stays NaN; 0 -> 0; +inf -> +inf (x times a factor that tends to 1). At -inf only ReLU is checked: the
    // erf/tanh/exp forms evaluate -inf · 0 or -inf / inf there (NaN), as torch's own formulas do.
    Model<Layer, T> m(0);
    const T inf = std::numeric_limits<T>::infinity();
    const std::vector<T> x{std::numeric_limits<T>::quiet_NaN(), T(0), -inf, inf};
    const auto y = m.forward(std::span<const T>(x), Layout::rows(1));
    INFO(Layer::type_name() << " [" << type_label<T>() << "]");
    CHECK(std::isnan(y(0, 0)));
    CHECK(y(0, 1) == T(0));
    CHECK(y(0, 3) == inf);
    if constexpr (std::is_same_v<Layer, ReLU>) CHECK(y(0, 2) == T(0));
}

template <class T>
void all_activations() {
    activation_suite<ReLU, relu_ref, T>();
    activation_suite<GELU, gelu_ref, T>();
    activation_suite<GELUTanh, gelu_tanh_ref, T>();
    activation_suite<SiLU, silu_ref, T>();
    check_special_values<ReLU, T>();
    check_special_values<GELU, T>();
    check_special_values<GELUTanh, T>();
    check_special_values<SiLU, T>();
}

// Dropout --------------------------------------------------------------------------------------------------------

template <std::size_t Permille, class T>
void check_dropout_inference(std::size_t width, const Layout& layout, std::uint64_t seed) {
    Model<Dropout<Permille>, T> m(seed);
    const auto x = random_values<T>(layout.row_count() * width, seed);
    const auto y = m.forward(std::span<const T>(x), layout);
    INFO("Dropout<" << Permille << "> at inference [" << type_label<T>() << "], width " << width);
    CHECK(y.layout == layout);
    CHECK(equals_exactly(y, x));
}

// Inputs bounded away from 0, so a zero output means "dropped".
template <class T>
std::vector<T> nonzero_values(std::size_t n, std::uint64_t seed) {
    rng r(seed);
    std::vector<T> v(n);
    for (auto& x : v) x = static_cast<T>((r.uniform() < 0.5 ? -1 : 1) * r.uniform(0.5, 2));
    return v;
}

template <std::size_t Permille, class T>
void check_dropout_training(std::uint64_t seed) {
    constexpr std::size_t rows = 100, width = 768;  // 76800 elements
    const double p = Permille / 1000.0;
    const auto x = nonzero_values<T>(rows * width, seed);
    Model<Dropout<Permille>, T> m(0);
    m.set_training(true, seed);
    const auto y = m.forward(std::span<const T>(x), Layout::rows(rows));
    REQUIRE(y.size() == x.size());
    std::size_t dropped = 0;
    double worst = 0;
    for (std::size_t i = 0; i < x.size(); ++i) {
        if (y.data[i] == T(0)) {
            ++dropped;
            continue;
        }
        // kept: x / (1 - p), one or two roundings (the scale factor, the product): relative error <= 2u
        const real expected = static_cast<real>(x[i]) / (1 - static_cast<real>(p));
        worst = std::max(worst, double(std::fabs((static_cast<real>(y.data[i]) - expected) / expected)));
    }
    const double n = double(x.size()), fraction = double(dropped) / n;
    const double sigma = std::sqrt(p * (1 - p) / n);  // binomial standard deviation of the dropped fraction
    INFO("Dropout<" << Permille << "> training [" << type_label<T>() << "]: dropped " << dropped << " of " << n
                    << " (fraction " << fraction << ", expected " << p << " +- " << sigma << "), worst relative error "
                    << worst << " on kept elements");
    CHECK(std::fabs(fraction - p) <= 5 * sigma + 1e-12);  // 5 sigma: a false alarm every ~1.7 million runs
    CHECK(worst <= tolerance<T>());

    // The mask is a function of (seed, step, node, element): the same call again gives the same output, another
    // step or seed another mask; the values of x do not matter.
    const std::vector<T> first(y.data, y.data + y.size());
    const auto again = m.forward(std::span<const T>(x), Layout::rows(rows));
    CHECK(equals_exactly(again, first));
    const std::vector<T> ones(x.size(), T(1));
    const auto mask = m.forward(std::span<const T>(ones), Layout::rows(rows));
    bool same_mask = true;
    for (std::size_t i = 0; i < x.size(); ++i) same_mask = same_mask && ((mask.data[i] == T(0)) == (first[i] == T(0)));
    CHECK(same_mask);
    if constexpr (Permille > 0) {
        m.set_step(1);
        const auto stepped = m.forward(std::span<const T>(x), Layout::rows(rows));
        CHECK_FALSE(equals_exactly(stepped, first));
        m.set_step(0);
        m.set_training(true, seed + 1);
        const auto reseeded = m.forward(std::span<const T>(x), Layout::rows(rows));
        CHECK_FALSE(equals_exactly(reseeded, first));
    }
    // back to inference: identity again
    m.set_training(false);
    CHECK(equals_exactly(m.forward(std::span<const T>(x), Layout::rows(rows)), x));
}

template <class T>
void dropout_suite() {
    check_dropout_inference<100, T>(1, Layout::rows(3), 300);
    check_dropout_inference<100, T>(3, Layout::sequence(2, 3), 301);
    check_dropout_inference<500, T>(17, Layout::rows(17), 302);
    check_dropout_inference<500, T>(100, Layout::image(1, 2, 2), 303);
    check_dropout_inference<999, T>(64, Layout::rows(3), 304);
    check_dropout_inference<999, T>(768, Layout::rows(3), 305);
    check_dropout_training<0, T>(310);  // p = 0: identity even in training
    check_dropout_training<1, T>(311);
    check_dropout_training<100, T>(312);
    check_dropout_training<500, T>(313);
    check_dropout_training<900, T>(314);
    check_dropout_training<999, T>(315);
}

}  // namespace

TEST_CASE("activations match their definitions", "[layers][activation]") {
    SECTION("float") { all_activations<float>(); }
    SECTION("double") { all_activations<double>(); }
}

TEST_CASE("GELU and GELUTanh differ (the erf form is not the tanh approximation)", "[layers][activation]") {
    Model<GELU, double> exact(0);
    Model<GELUTanh, double> approx(0);
    const std::vector<double> x{1.5};
    const double a = exact.forward(std::span<const double>(x), Layout::rows(1))(0, 0);
    const double b = approx.forward(std::span<const double>(x), Layout::rows(1))(0, 0);
    // the two definitions at x = 1.5, evaluated with mpmath at 30 digits: 1.39978919809671... and 1.39957157698...
    CHECK(std::fabs(a - 1.3997891980967129) <= 1e-14);
    CHECK(std::fabs(b - 1.3995715769802329) <= 1e-14);
}

TEST_CASE("Dropout: identity at inference, p-fraction zeroed and 1/(1-p) scaling in training", "[layers][dropout]") {
    SECTION("float") { dropout_suite<float>(); }
    SECTION("double") { dropout_suite<double>(); }
}
