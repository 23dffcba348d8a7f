// Exact training equivalence (docs/method.md §4): an LN model and its cbwc_t twin from the same raw parameters,
// trained 200 steps on the same batches with SGD + momentum and with AdamW, give identical losses and
// parameters (double <= 1e-9 relative, float <= 1e-4) where every LN is foldable. Where exactness is broken by
// design (training-mode dropout between a layer and its LN) the difference is nonzero.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "architectures.hpp"
#include "catch.hpp"

#include <lnfold/train/cbwc.hpp>
#include <lnfold/train/loss.hpp>
#include <lnfold/train/optimizer.hpp>

using namespace lnfold;
using namespace lnfold_test::arch;

namespace {

struct trajectory {
    std::vector<double> losses;
    std::vector<double> parameters;
};

// Next-token prediction on random sequences; the same (seed) batches for any network.
template <class Net, class T, class Optimizer>
trajectory train(Model<Net, T>& model, Optimizer& optimizer, int steps, double lr, bool dropout) {
    trajectory out;
    random_stream rng(99);
    const std::size_t batch = 3, length = 6;
    std::vector<std::int32_t> ids(batch * length), targets(batch * length);
    std::vector<T> grad;
    const auto mask = weight_decay_mask(model);
    model.set_training(dropout, 5);
    for (int step = 0; step < steps; ++step) {
        for (std::size_t i = 0; i < ids.size(); ++i) {
            ids[i] = static_cast<std::int32_t>(rng.below(V));
            targets[i] = static_cast<std::int32_t>((ids[i] * 7 + 3) % V);  // a learnable mapping
        }
        model.set_step(static_cast<std::uint64_t>(step));
        const auto logits = model.forward(std::span<const std::int32_t>(ids), Layout::sequence(batch, length));
        grad.resize(logits.size());
        out.losses.push_back(softmax_cross_entropy(logits, std::span<const std::int32_t>(targets), std::span<T>(grad)));
        model.zero_grad();
        model.backward(std::span<const T>(grad));
        optimizer.step(model.parameters(), model.gradients(), lr, std::span<const std::uint8_t>(mask));
    }
    out.parameters.assign(model.parameters().begin(), model.parameters().end());
    return out;
}

double max_relative(const std::vector<double>& a, const std::vector<double>& b) {
    double scale = 0, diff = 0;
    for (std::size_t i = 0; i < a.size(); ++i) {
        scale = std::max(scale, std::abs(a[i]));
        diff = std::max(diff, std::abs(a[i] - b[i]));
    }
    return diff / scale;
}

template <class T, class MakeOptimizer>
void check_equivalence(MakeOptimizer make, double lr, bool dropout, double& loss_gap, double& param_gap,
                       double& first_loss, double& last_loss) {
    Model<Gpt, T> model(11, init_scheme::normal);
    Model<cbwc_t<Gpt>, T> twin;
    std::copy(model.parameters().begin(), model.parameters().end(), twin.parameters().begin());
    auto opt_a = make(model.parameters().size());
    auto opt_b = make(twin.parameters().size());
    const trajectory a = train(model, opt_a, 200, lr, dropout);
    const trajectory b = train(twin, opt_b, 200, lr, dropout);
    loss_gap = max_relative(a.losses, b.losses);
    param_gap = max_relative(a.parameters, b.parameters);
    first_loss = a.losses.front();
    last_loss = a.losses.back();
}

}  // namespace

TEMPLATE_TEST_CASE("LN model and CBWC + RMSNorm twin train identically", "", float, double) {
    STATIC_REQUIRE(foldable_count_v<Gpt> == layernorm_count_v<Gpt>);
    const double tolerance = std::is_same_v<TestType, float> ? 1e-4 : 1e-9;
    double loss_gap = 0, param_gap = 0, first = 0, last = 0;
    SECTION("SGD with momentum") {
        check_equivalence<TestType>([](std::size_t n) { return SGD<TestType>(n, {0.9, 0.0, 1e-4, false}); }, 0.05, false, loss_gap, param_gap, first, last);
    }
    SECTION("AdamW") {
        check_equivalence<TestType>([](std::size_t n) { return AdamW<TestType>(n, {0.9, 0.999, 1e-8, 0.01}); }, 3e-3, false, loss_gap, param_gap, first, last);
    }
    INFO("loss " << first << " -> " << last << "; max relative gap: losses " << loss_gap << ", parameters " << param_gap);
    CHECK(last < 0.8 * first);  // it did learn
    CHECK(loss_gap <= tolerance);
    CHECK(param_gap <= tolerance);
}

TEST_CASE("training-mode dropout between a layer and its LN breaks the equivalence, as it should") {
    double loss_gap = 0, param_gap = 0, first = 0, last = 0;
    check_equivalence<double>([](std::size_t n) { return AdamW<double>(n); }, 3e-3, true, loss_gap, param_gap, first, last);
    INFO("max relative gap: losses " << loss_gap << ", parameters " << param_gap);
    CHECK(loss_gap > 1e-6);
}

TEST_CASE("a trained twin exports to the folded model of its LN counterpart") {
    Model<Gpt, double> model(3, init_scheme::normal);
    Model<cbwc_t<Gpt>, double> twin;
    std::copy(model.parameters().begin(), model.parameters().end(), twin.parameters().begin());
    auto opt = AdamW<double>(twin.parameters().size());
    train(twin, opt, 20, 3e-3, false);
    auto exported = export_folded<Gpt>(twin);
    std::vector<std::int32_t> ids{1, 5, 9, 2, 2, 7};
    const auto y = twin.forward(std::span<const std::int32_t>(ids), Layout::sequence(2, 3));
    const std::vector<double> expected(y.span().begin(), y.span().end());
    const auto z = exported.forward(std::span<const std::int32_t>(ids), Layout::sequence(2, 3));
    const std::vector<double> got(z.span().begin(), z.span().end());
    CHECK(max_relative(expected, got) < 1e-12);
}
