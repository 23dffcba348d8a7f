#pragma once
// Shared helpers of the per-layer forward tests: random inputs and parameters, and the comparison against an
// independent reference computed in long double.
//
// Tolerances. Every reference value comes with a `scale`: the magnitude the computation of that value works at
// (for a dot product, Σ|terms|; for a normalised value, |gamma| (|xhat| + |mean| / std + 1) + |beta|; for an
// elementwise function, |y| or |y| + |x|; each test file states its scales). A correct implementation in
// precision T errs by at most about n·u·scale (n the accumulation length, u = 2^-24 ≈ 6.0e-8 in float,
// 2^-53 ≈ 1.1e-16 in double), and in practice by ~sqrt(n)·u·scale (rounding errors of blocked / vectorised sums
// do not all point the same way):
//   double: tol = 1e-12. Even the worst case for the longest accumulation here (768) is 768·1.1e-16 ≈ 8.5e-14,
//           so 1e-12 is a hard bound with a 10x margin that any wrong index, missing bias or formula slip exceeds.
//   float:  tol = 1e-5 = ~170 u: covers sqrt(768)·u ≈ 1.7e-6 with a 6x margin (plus the few extra roundings of
//           each formula), while an actual mistake (wrong element, wrong eps, wrong scale factor, variance
//           divisor D - 1, E[x^2] - mean^2 on the stress rows) errs by far more than tol · scale.
// The check is |y - ref| <= tol · scale, reported as the worst ratio over all elements.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

#include "catch.hpp"

#include <lnfold/lnfold.hpp>

namespace lnfold_layers_test {

using real = long double;  // the reference's working precision

template <class T>
constexpr double tolerance() {
    return std::is_same_v<T, float> ? 1e-5 : 1e-12;
}

template <class T>
const char* type_label() {
    return std::is_same_v<T, float> ? "float" : "double";
}

// A deterministic generator of test data (independent of lnfold's own random_stream on purpose).
class rng {
public:
    explicit rng(std::uint64_t seed) : state_(seed * 0x2545F4914F6CDD1Dull + 0x9E3779B97F4A7C15ull) {}
    std::uint64_t next() {  // xorshift64*
        state_ ^= state_ >> 12;
        state_ ^= state_ << 25;
        state_ ^= state_ >> 27;
        return state_ * 0x2545F4914F6CDD1Dull;
    }
    double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }  // [0, 1)
    double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
    double normal() {
        const double u1 = 1.0 - uniform(), u2 = uniform();
        return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586476925 * u2);
    }
    std::size_t below(std::size_t n) { return static_cast<std::size_t>(next() % n); }

private:
    std::uint64_t state_;
};

template <class T>
std::vector<T> random_values(std::size_t n, std::uint64_t seed, double lo = -2, double hi = 2) {
    rng r(seed);
    std::vector<T> v(n);
    for (auto& x : v) x = static_cast<T>(r.uniform(lo, hi));
    return v;
}

// Fills every parameter of a model with random values so that biases, betas, gammas and tables are all
// nontrivial: weights uniform in ±2/sqrt(fan_in) (activations stay O(1) for any fan-in), biases and betas in
// ±1, gammas in ±1.5 (signs included), tables in ±1.
template <class M>
void randomise(M& model, std::uint64_t seed) {
    using T = typename M::value_type;
    rng r(seed);
    model.visit_parameters([&](auto p) {
        double bound = 1.0;
        switch (p.spec.init) {
            case lnfold::init_kind::fan_in_weight: bound = 2.0 / std::sqrt(static_cast<double>(p.spec.fan_in)); break;
            case lnfold::init_kind::ones:
            case lnfold::init_kind::constant: bound = 1.5; break;
            default: bound = 1.0; break;
        }
        for (auto& v : p.values) v = static_cast<T>(r.uniform(-bound, bound));
    });
}

// Reads a model parameter as long doubles (the reference never touches lnfold's arithmetic).
template <class M>
std::vector<real> param(M& model, std::string_view path) {
    const auto p = model.parameter(path);
    return std::vector<real>(p.begin(), p.end());
}

template <class T>
std::vector<real> widen(const std::vector<T>& v) {
    return std::vector<real>(v.begin(), v.end());
}

// The reference output: values and the scale each was computed at (see the tolerance note above).
struct reference {
    std::size_t rows = 0, width = 0;
    std::vector<real> value, scale;
    reference() = default;
    reference(std::size_t r, std::size_t w) : rows(r), width(w), value(r * w, 0), scale(r * w, 0) {}
    real& at(std::size_t r, std::size_t c) { return value[r * width + c]; }
    real& scale_at(std::size_t r, std::size_t c) { return scale[r * width + c]; }
};

struct comparison {
    double worst = 0;  // max |y - ref| / (tol · scale)
    std::size_t worst_row = 0, worst_col = 0;
    double actual = 0, expected = 0;
    bool shape_ok = true;
    std::string describe() const {
        std::ostringstream s;
        s.precision(17);
        s << "worst error / allowed = " << worst << " at (" << worst_row << ", " << worst_col << "): got " << actual
          << ", expected " << expected;
        return s.str();
    }
};

template <class T>
comparison compare(const lnfold::tensor_view<T>& y, const reference& ref) {
    comparison c;
    if (y.rows() != ref.rows || y.width != ref.width) {
        c.shape_ok = false;
        return c;
    }
    const double tol = tolerance<T>();
    for (std::size_t r = 0; r < ref.rows; ++r)
        for (std::size_t j = 0; j < ref.width; ++j) {
            const std::size_t i = r * ref.width + j;
            const double diff = std::fabs(static_cast<double>(static_cast<real>(y(r, j)) - ref.value[i]));
            const double allowed = tol * static_cast<double>(ref.scale[i]) + std::numeric_limits<double>::min();
            const double ratio = std::isnan(diff) ? std::numeric_limits<double>::infinity() : diff / allowed;
            if (ratio > c.worst || std::isnan(static_cast<double>(y(r, j)))) {
                c.worst = ratio;
                c.worst_row = r;
                c.worst_col = j;
                c.actual = static_cast<double>(y(r, j));
                c.expected = static_cast<double>(ref.value[i]);
            }
        }
    return c;
}

// CHECKs the whole output against the reference (one assertion, the worst element in the message).
template <class T>
void check_matches(const lnfold::tensor_view<T>& y, const reference& ref, const std::string& what) {
    const comparison c = compare(y, ref);
    INFO(what << " [" << type_label<T>() << "]: output " << y.rows() << " x " << y.width << ", reference "
              << ref.rows << " x " << ref.width << "; " << c.describe());
    CHECK(c.shape_ok);
    CHECK(c.worst <= 1.0);
}

// Exact equality of a whole output with a list of expected values (copies, identities).
template <class T>
bool equals_exactly(const lnfold::tensor_view<T>& y, const std::vector<T>& expected) {
    if (y.size() != expected.size()) return false;
    for (std::size_t i = 0; i < expected.size(); ++i)
        if (!(y.data[i] == expected[i]) && !(std::isnan(y.data[i]) && std::isnan(expected[i]))) return false;
    return true;
}

}  // namespace lnfold_layers_test
