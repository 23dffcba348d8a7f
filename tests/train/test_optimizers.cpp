// Optimizers against hand-computed steps (torch.optim's rules), schedules against their formulas, clipping.
#include <cmath>
#include <cstdint>
#include <vector>

#include "catch.hpp"

#include <lnfold/lnfold.hpp>
#include <lnfold/train/optimizer.hpp>
#include <lnfold/train/schedule.hpp>

using namespace lnfold;

TEST_CASE("SGD with momentum, dampening, weight decay and Nesterov, step by step") {
    std::vector<double> p{1.0, -2.0};
    const std::vector<double> g1{0.5, 0.25}, g2{-1.0, 0.5};
    SGD<double> sgd(2, {0.9, 0.1, 0.01, false});
    sgd.step(std::span<double>(p), std::span<const double>(g1), 0.1);
    // step 1: g = g1 + 0.01 p; b = g; p -= 0.1 b
    const double ga = 0.5 + 0.01 * 1.0, gb = 0.25 + 0.01 * -2.0;
    double pa = 1.0 - 0.1 * ga, pb = -2.0 - 0.1 * gb;
    CHECK(p[0] == Approx(pa).epsilon(1e-15));
    CHECK(p[1] == Approx(pb).epsilon(1e-15));
    sgd.step(std::span<double>(p), std::span<const double>(g2), 0.1);
    // step 2: g = g2 + 0.01 p; b = 0.9 b + 0.9 g
    const double ga2 = -1.0 + 0.01 * pa, gb2 = 0.5 + 0.01 * pb;
    const double ba = 0.9 * ga + 0.9 * ga2, bb = 0.9 * gb + 0.9 * gb2;
    CHECK(p[0] == Approx(pa - 0.1 * ba).epsilon(1e-15));
    CHECK(p[1] == Approx(pb - 0.1 * bb).epsilon(1e-15));

    std::vector<double> q{1.0};
    SGD<double> nesterov(1, {0.5, 0.0, 0.0, true});
    const std::vector<double> g{2.0};
    nesterov.step(std::span<double>(q), std::span<const double>(g), 0.1);  // b = 2; g' = 2 + 0.5 * 2 = 3
    CHECK(q[0] == Approx(1.0 - 0.3).epsilon(1e-15));
    nesterov.step(std::span<double>(q), std::span<const double>(g), 0.1);  // b = 0.5 * 2 + 2 = 3; g' = 2 + 1.5
    CHECK(q[0] == Approx(0.7 - 0.35).epsilon(1e-15));
}

TEST_CASE("AdamW: two steps by hand, decoupled decay only where the mask says") {
    std::vector<double> p{1.0, 1.0};
    const std::vector<double> g1{0.1, 0.1}, g2{-0.3, -0.3};
    const std::vector<std::uint8_t> mask{1, 0};
    const adamw_options o{0.9, 0.99, 1e-8, 0.1};
    AdamW<double> adam(2, o);
    const double lr = 0.01;
    adam.step(std::span<double>(p), std::span<const double>(g1), lr, std::span<const std::uint8_t>(mask));
    adam.step(std::span<double>(p), std::span<const double>(g2), lr, std::span<const std::uint8_t>(mask));
    for (int decayed = 0; decayed < 2; ++decayed) {
        const double wd = decayed == 0 ? 0.1 : 0.0;
        double x = 1.0, m = 0, v = 0;
        const double gs[2] = {0.1, -0.3};
        for (int t = 1; t <= 2; ++t) {
            x *= 1 - lr * wd;
            m = 0.9 * m + 0.1 * gs[t - 1];
            v = 0.99 * v + 0.01 * gs[t - 1] * gs[t - 1];
            x -= lr * (m / (1 - std::pow(0.9, t))) / (std::sqrt(v / (1 - std::pow(0.99, t))) + 1e-8);
        }
        CHECK(p[static_cast<std::size_t>(decayed)] == Approx(x).epsilon(1e-14));
    }
}

TEST_CASE("the weight-decay mask covers matrices and tables, not biases or norm gains") {
    Model<Seq<Linear<3, 4>, LayerNorm<4>>, double> model;
    const auto mask = weight_decay_mask(model);
    const auto* base = model.parameters().data();
    model.visit_parameters([&](auto p) {
        for (std::size_t i = 0; i < p.values.size(); ++i)
            CHECK(mask[std::size_t(p.values.data() - base) + i] == (p.spec.rank >= 2 ? 1 : 0));
    });
}

TEST_CASE("schedules follow their formulas") {
    lr_schedule constant{lr_schedule::kind::constant, 0.5, 4};
    CHECK(constant(0) == Approx(0.125));
    CHECK(constant(3) == Approx(0.5));
    CHECK(constant(100) == 0.5);
    lr_schedule cosine{lr_schedule::kind::cosine, 1.0, 10, 110, 0.1};
    CHECK(cosine(9) == Approx(1.0));
    CHECK(cosine(10) == Approx(1.0));
    CHECK(cosine(60) == Approx(0.1 + 0.9 * 0.5));
    CHECK(cosine(35) == Approx(0.1 + 0.9 * 0.5 * (1 + std::cos(3.141592653589793 * 0.25))));
    CHECK(cosine(110) == Approx(0.1));
    CHECK(cosine(500) == Approx(0.1));
    lr_schedule broken{lr_schedule::kind::cosine, 1.0, 10, 10};
    CHECK_THROWS_AS(broken(20), config_error);
}

TEST_CASE("gradient clipping by global norm") {
    std::vector<double> g{3.0, 4.0};
    CHECK(clip_grad_norm(std::span<double>(g), 1.0) == Approx(5.0));
    CHECK(std::hypot(g[0], g[1]) == Approx(1.0).epsilon(1e-6));
    std::vector<double> small{0.3, 0.4};
    clip_grad_norm(std::span<double>(small), 1.0);
    CHECK(small == std::vector<double>{0.3, 0.4});
    CHECK_THROWS_AS(clip_grad_norm(std::span<double>(g), 0.0), config_error);
}
