#pragma once
// Central finite differences against Model::backward, in double. The loss is L = Σ w ⊙ y with fixed random w,
// so dL/dy = w; each parameter tensor is probed at up to `probes` elements. Relative error:
// |analytic - numeric| / max(|analytic|, |numeric|, 1e-3 x the largest gradient).
#include <algorithm>
#include <numeric>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "catch.hpp"

#include <lnfold/lnfold.hpp>

namespace lnfold_test {

struct gradient_report {
    double worst_relative = 0;  // max over probes of |analytic - numeric| / max(|analytic|, |numeric|, floor)
    std::string worst_path;
    std::size_t probes = 0;
};

template <class Net>
struct gradient_case {
    lnfold::Model<Net, double> model;
    std::vector<double> x;
    std::vector<std::int32_t> ids;
    lnfold::Layout layout;
    std::vector<double> w;

    double loss() {
        const auto y = run();
        double l = 0;
        for (std::size_t i = 0; i < w.size(); ++i) l += w[i] * y.span()[i];
        return l;
    }
    lnfold::tensor_view<double> run() {
        if constexpr (lnfold::Model<Net, double>::reads_tokens)
            return model.forward(std::span<const std::int32_t>(ids), layout);
        else
            return model.forward(std::span<const double>(x), layout);
    }
};

// Randomises every parameter (norm gains near 1), builds x or ids for `layout`, checks every tensor.
template <class Net>
gradient_report check_gradients(const lnfold::Layout& layout, std::uint64_t seed, std::size_t probes = 24,
                                std::size_t vocab = 0, bool training = false) {
    gradient_case<Net> c;
    c.model.set_training(training, seed);
    lnfold::random_stream rng(seed);
    c.model.visit_parameters([&](auto p) {
        const bool gain = p.spec.init == lnfold::init_kind::ones;
        for (auto& v : p.values) v = gain ? rng.uniform(0.5, 1.5) : rng.uniform(-0.8, 0.8);
    });
    c.layout = layout;
    if constexpr (lnfold::Model<Net, double>::reads_tokens) {
        for (std::size_t i = 0; i < layout.row_count(); ++i) c.ids.push_back(static_cast<std::int32_t>(rng.below(vocab)));
    } else {
        c.x.resize(layout.row_count() * lnfold::Model<Net, double>::input_width);
        for (double& v : c.x) v = rng.uniform(-1.5, 1.5);
    }
    const auto y = c.run();
    c.w.resize(y.size());
    for (double& v : c.w) v = rng.uniform(-1, 1);
    c.model.zero_grad();
    c.model.backward(std::span<const double>(c.w));
    const std::vector<double> analytic(c.model.gradients().begin(), c.model.gradients().end());

    // Gradients far below the largest one (a key bias's gradient is exactly zero: softmax ignores a shift shared
    // by all keys) are dominated by the difference quotient's rounding noise, so the relative error's
    // denominator has a floor at 1e-3 of the largest gradient.
    double largest = 0;
    for (double a : analytic) largest = std::max(largest, std::abs(a));
    const double floor = std::max(1e-4, 1e-3 * largest);
    gradient_report report;
    const double h = 1e-5;
    auto params = c.model.parameters();
    c.model.visit_parameters([&](auto p) {
        const std::size_t offset = static_cast<std::size_t>(p.values.data() - params.data());
        // Probe k is element (k x step) mod n with step coprime to n: distinct elements spread over every residue
        // class, so every column of a (rows, width) tensor is reachable (a step of n / probes that shares a factor
        // with the width would probe only some columns, e.g. the even ones of a width-6 table).
        const std::size_t n = p.values.size();
        std::size_t step = std::max<std::size_t>(1, n / probes);
        while (std::gcd(step, n) != 1) ++step;
        for (std::size_t k = 0, i = 0; k < std::min(n, probes); ++k, i = (i + step) % n) {
            const double saved = params[offset + i];
            params[offset + i] = saved + h;
            const double up = c.loss();
            params[offset + i] = saved - h;
            const double down = c.loss();
            params[offset + i] = saved;
            const double numeric = (up - down) / (2 * h);
            const double a = analytic[offset + i];
            const double relative = std::abs(a - numeric) / std::max({std::abs(a), std::abs(numeric), floor});
            ++report.probes;
            if (relative > report.worst_relative) {
                report.worst_relative = relative;
                report.worst_path = std::string(p.path) + "[" + std::to_string(i) + "]";
            }
        }
    });
    return report;
}

}  // namespace lnfold_test
