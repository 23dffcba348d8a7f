#pragma once
// Test helpers: run one layer on its own (a leaf Model) with parameters copied from a path of a bigger model,
// so composed networks can be checked against "calling the layers by hand".
#include <algorithm>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include <lnfold/lnfold.hpp>

namespace lnfold_test {

struct rows_value {
    std::vector<double> data;
    lnfold::Layout layout;
    std::size_t width = 0;
};

// Runs Layer alone on x with the parameters found under `prefix` in `source`.
template <class Layer, class Source>
rows_value run_alone(const Source& source, const std::string& prefix, const rows_value& x) {
    lnfold::Model<Layer, double> leaf;
    leaf.visit_parameters([&](auto p) {
        const std::string path = prefix.empty() ? std::string(p.path) : prefix + "." + std::string(p.path);
        const auto from = source.parameter(path);
        std::copy(from.begin(), from.end(), p.values.begin());
    });
    const auto y = leaf.forward(std::span<const double>(x.data), x.layout);
    return {std::vector<double>(y.span().begin(), y.span().end()), y.layout, y.width};
}

inline rows_value add(const rows_value& a, const rows_value& b) {
    rows_value out = a;
    for (std::size_t i = 0; i < out.data.size(); ++i) out.data[i] += b.data[i];
    return out;
}

inline double max_abs_difference(std::span<const double> a, std::span<const double> b) {
    double m = a.size() == b.size() ? 0.0 : 1e300;
    for (std::size_t i = 0; i < std::min(a.size(), b.size()); ++i) m = std::max(m, std::abs(a[i] - b[i]));
    return m;
}

inline std::vector<double> random_values(std::size_t n, std::uint64_t seed, double lo = -1, double hi = 1) {
    lnfold::random_stream rng(seed);
    std::vector<double> v(n);
    for (double& x : v) x = rng.uniform(lo, hi);
    return v;
}

}  // namespace lnfold_test
