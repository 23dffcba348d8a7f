// Optimizers against hand-computed steps (torch.optim's rules), schedules against their formulas, clipping.
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "require_error.hpp"
#include "catch.hpp"

#include <lnfold/lnfold.hpp>
#include <lnfold/train/loss.hpp>
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
    CHECK(constant(0) == Approx(0.125).epsilon(1e-12));
    CHECK(constant(3) == Approx(0.5).epsilon(1e-12));
    CHECK(constant(100) == 0.5);
    lr_schedule cosine{lr_schedule::kind::cosine, 1.0, 10, 110, 0.1};
    CHECK(cosine(9) == Approx(1.0).epsilon(1e-12));
    CHECK(cosine(10) == Approx(1.0).epsilon(1e-12));
    CHECK(cosine(60) == Approx(0.1 + 0.9 * 0.5).epsilon(1e-12));
    CHECK(cosine(35) == Approx(0.1 + 0.9 * 0.5 * (1 + std::cos(3.141592653589793 * 0.25))).epsilon(1e-12));
    CHECK(cosine(110) == Approx(0.1).epsilon(1e-12));
    CHECK(cosine(500) == Approx(0.1).epsilon(1e-12));
    lr_schedule broken{lr_schedule::kind::cosine, 1.0, 10, 10};
    CHECK_THROWS_AS(broken(20), config_error);
}

TEST_CASE("gradient clipping by global norm") {
    std::vector<double> g{3.0, 4.0};
    CHECK(clip_grad_norm(std::span<double>(g), 1.0) == Approx(5.0).epsilon(1e-12));
    CHECK(std::hypot(g[0], g[1]) == Approx(1.0).epsilon(1e-6));
    std::vector<double> small{0.3, 0.4};
    clip_grad_norm(std::span<double>(small), 1.0);
    CHECK(small == std::vector<double>{0.3, 0.4});
    CHECK_THROWS_AS(clip_grad_norm(std::span<double>(g), 0.0), config_error);
}

TEST_CASE("SGD without momentum: p -= lr (g + wd p), step by step, with no state carried between steps") {
    const std::vector<std::vector<double>> grads{{0.5, -0.25, 3.0}, {-1.0, 0.5, 0.0}, {0.125, 2.0, -4.0}};
    const double lrs[3] = {0.1, 0.05, 0.2};
    for (const double wd : {0.0, 0.01}) {
        INFO("weight decay " << wd);
        std::vector<double> p{1.0, -2.0, 0.75};
        std::vector<double> ref = p;  // scalar double reference
        SGD<double> sgd(3, {0.0, 0.0, wd, false});
        for (std::size_t step = 0; step < 3; ++step) {
            sgd.step(std::span<double>(p), std::span<const double>(grads[step]), lrs[step]);
            for (std::size_t i = 0; i < 3; ++i) {
                ref[i] -= lrs[step] * (grads[step][i] + wd * ref[i]);
                CHECK(p[i] == Approx(ref[i]).epsilon(1e-15));
            }
            // Without momentum a step depends on nothing but (p, g, lr): a fresh optimizer takes the same step.
            std::vector<double> q = p;
            SGD<double> fresh(3, {0.0, 0.0, wd, false});
            std::vector<double> again = p;
            fresh.step(std::span<double>(q), std::span<const double>(grads[step]), 0.3);
            sgd.step(std::span<double>(again), std::span<const double>(grads[step]), 0.3);
            CHECK(q == again);
        }
        CHECK(sgd.steps() == 6);
    }
    // Dampening has no effect without momentum (torch ignores it too).
    std::vector<double> a{1.0}, b{1.0};
    const std::vector<double> g{0.5}, h{-0.75};
    SGD<double> plain(1, {0.0, 0.0}), damped(1, {0.0, 0.9});
    for (const auto* grad : {&g, &h}) {
        plain.step(std::span<double>(a), std::span<const double>(*grad), 0.1);
        damped.step(std::span<double>(b), std::span<const double>(*grad), 0.1);
        CHECK(a == b);
    }
    CHECK(a[0] == Approx(1.0 - 0.1 * 0.5 + 0.1 * 0.75).epsilon(1e-15));
}

TEST_CASE("weight decay applies exactly where the mask says") {
    // Zero gradients isolate the decay: SGD p -= lr wd p, AdamW p *= 1 - lr wd (its moments stay 0, so its
    // update is 0 / (0 + eps) = 0). Undecayed elements must not move at all.
    const std::vector<double> start{1.5, -2.0, 0.25, 4.0, -0.5};
    const std::vector<double> zero(5, 0.0);
    const std::vector<std::uint8_t> mask{1, 0, 0, 1, 1};
    const double lr = 0.1, wd = 0.2;
    std::vector<double> p = start, q = start;
    SGD<double> sgd(5, {0.0, 0.0, wd, false});
    AdamW<double> adam(5, {0.9, 0.999, 1e-8, wd});
    for (int step = 1; step <= 3; ++step) {
        sgd.step(std::span<double>(p), std::span<const double>(zero), lr, std::span<const std::uint8_t>(mask));
        adam.step(std::span<double>(q), std::span<const double>(zero), lr, std::span<const std::uint8_t>(mask));
        for (std::size_t i = 0; i < 5; ++i) {
            INFO("step " << step << ", element " << i);
            if (mask[i]) {
                CHECK(p[i] == Approx(start[i] * std::pow(1 - lr * wd, step)).epsilon(1e-15));
                CHECK(q[i] == Approx(start[i] * std::pow(1 - lr * wd, step)).epsilon(1e-15));
            } else {
                CHECK(p[i] == start[i]);
                CHECK(q[i] == start[i]);
            }
        }
    }
    // No mask: every element decays.
    std::vector<double> r = start;
    SGD<double>(5, {0.0, 0.0, wd, false}).step(std::span<double>(r), std::span<const double>(zero), lr);
    for (std::size_t i = 0; i < 5; ++i) CHECK(r[i] == Approx(start[i] * (1 - lr * wd)).epsilon(1e-15));

    // On a model with weight_decay_mask: matrices decay; biases and norm gains do not.
    Model<Seq<Named<"fc", Linear<3, 4>>, Named<"ln", LayerNorm<4>>, Named<"out", Linear<4, 2>>>, double> model(5);
    model.visit_parameters([](auto t) {
        for (std::size_t i = 0; i < t.values.size(); ++i) t.values[i] = 0.5 + 0.125 * double(i);
    });
    model.zero_grad();
    AdamW<double> decayed(model.parameters().size(), {0.9, 0.999, 1e-8, wd});
    decayed.step(model.parameters(), model.gradients(), lr, weight_decay_mask(model));
    for (const char* path : {"fc.weight", "out.weight"})
        for (std::size_t i = 0; i < model.parameter(path).size(); ++i)
            CHECK(model.parameter(path)[i] == Approx((0.5 + 0.125 * double(i)) * (1 - lr * wd)).epsilon(1e-15));
    for (const char* path : {"fc.bias", "ln.weight", "ln.bias", "out.bias"})
        for (std::size_t i = 0; i < model.parameter(path).size(); ++i) CHECK(model.parameter(path)[i] == 0.5 + 0.125 * double(i));
}

TEST_CASE("AdamW on a float model keeps float state and follows the double formula within float rounding") {
    // The arena, the gradients and both moments are float; each step computes in double and rounds p, m and v
    // to float. Reference: the same recurrences in double without rounding, plus a first-order bound on what the
    // three roundings per step can add up to (u = 2^-24, float's unit roundoff):
    //   em_t = b1 em_{t-1} + u |m_t|,  ev_t = b2 ev_{t-1} + u v_t   (the error carried in the moments)
    //   ep_t = ep_{t-1} + u |p_t| + lr (em_t / c1) / (sqrt(v^_t) + eps) + lr |m^_t| (ev_t / c2) / (2 sqrt(v^_t) (sqrt(v^_t) + eps))
    // The test allows 2 ep_t (the slack covers second-order terms).
    using Net = Seq<Named<"fc", Linear<4, 3>>, Named<"ln", LayerNorm<3>>>;
    Model<Net, float> model(8);
    const std::size_t n = model.parameters().size();
    const adamw_options o{0.9, 0.99, 1e-8, 0.05};
    AdamW<float> adam(n, o);
    const auto mask = weight_decay_mask(model);
    const double lr = 0.01, u = std::ldexp(1.0, -24);
    std::vector<double> p(model.parameters().begin(), model.parameters().end()), m(n, 0.0), v(n, 0.0), em(n, 0.0),
        ev(n, 0.0), ep(n, 0.0);
    const std::vector<float> start(model.parameters().begin(), model.parameters().end());
    // Padding between tensors has a zero gradient (backward never writes there).
    std::vector<bool> is_parameter(n, false);
    model.visit_parameters([&](auto tensor) {
        for (std::size_t k = 0; k < tensor.values.size(); ++k)
            is_parameter[std::size_t(tensor.values.data() - model.parameters().data()) + k] = true;
    });
    random_stream rng(9);
    double worst = 0;  // largest |float - reference| / ep seen
    for (int t = 1; t <= 20; ++t) {
        auto g = model.gradients();
        for (std::size_t i = 0; i < n; ++i) g[i] = is_parameter[i] ? static_cast<float>(rng.uniform(-1, 1)) : 0.0f;
        adam.step(model.parameters(), model.gradients(), lr, mask);
        const double c1 = 1 - std::pow(o.beta1, t), c2 = 1 - std::pow(o.beta2, t);
        for (std::size_t i = 0; i < n; ++i) {
            const double gi = g[i];
            const double wd = mask[i] ? o.weight_decay : 0.0;
            p[i] *= 1 - lr * wd;
            m[i] = o.beta1 * m[i] + (1 - o.beta1) * gi;
            v[i] = o.beta2 * v[i] + (1 - o.beta2) * gi * gi;
            const double mh = m[i] / c1, vh = v[i] / c2, root = std::sqrt(vh);
            p[i] -= lr * mh / (root + o.eps);
            em[i] = o.beta1 * em[i] + u * std::abs(m[i]);
            ev[i] = o.beta2 * ev[i] + u * v[i];
            ep[i] = ep[i] + u * std::abs(p[i]) + lr * (em[i] / c1) / (root + o.eps) +
                    (root > 0 ? lr * std::abs(mh) * (ev[i] / c2) / (2 * root * (root + o.eps)) : 0.0);
            const double diff = std::abs(double(model.parameters()[i]) - p[i]);
            INFO("step " << t << ", element " << i << ": float " << model.parameters()[i] << ", double " << p[i]);
            REQUIRE(diff <= 2 * ep[i]);
            if (ep[i] > 0) worst = std::max(worst, diff / ep[i]);
        }
    }
    // The bound is not vacuous: every parameter moved by far more than it.
    for (std::size_t i = 0; i < n; ++i)
        if (is_parameter[i]) CHECK(std::abs(double(model.parameters()[i]) - double(start[i])) > 100 * 2 * ep[i]);
    INFO("worst error / bound " << worst);
    CHECK(worst <= 2);
}

TEST_CASE("an optimizer refuses parameters, gradients or a mask of another size") {
    std::vector<double> p(4, 1.0), g(4, 0.5), g3(3, 0.5);
    const std::vector<std::uint8_t> mask3(3, 1), mask4(4, 1);
    SGD<double> sgd(3);
    AdamW<double> adam(4);
    // Sizes in the message: parameters, gradients, state, mask (0: none).
    require_error<shape_error>([&] { sgd.step(std::span<double>(p), std::span<const double>(g), 0.1); },
                               {"SGD::step", "parameters, gradients, state and mask must have one size: 4, 4, 3, 0"});
    require_error<shape_error>([&] { adam.step(std::span<double>(p), std::span<const double>(g3), 0.1); },
                               {"AdamW::step", "must have one size: 4, 3, 4, 0"});
    require_error<shape_error>(
        [&] { adam.step(std::span<double>(p), std::span<const double>(g), 0.1, std::span<const std::uint8_t>(mask3)); },
        {"AdamW::step", "must have one size: 4, 4, 4, 3"});
    // Nothing was changed by the refused steps, and the right sizes work.
    CHECK(p == std::vector<double>(4, 1.0));
    CHECK(adam.steps() == 0);
    CHECK(sgd.steps() == 0);
    adam.step(std::span<double>(p), std::span<const double>(g), 0.1, std::span<const std::uint8_t>(mask4));
    CHECK(adam.steps() == 1);
    CHECK(p[0] < 1.0);
}

TEST_CASE("the padding between tensors in the arena stays zero through training steps") {
    // Tensors start on 64-byte boundaries: Linear<5, 3>'s weight (15 floats) is followed by 1 padding float, its
    // bias (3) by 13, and so on. Backward never writes there, and decay and updates of 0 stay 0.
    using Net = Seq<Named<"fc1", Linear<5, 3>>, Named<"ln", LayerNorm<3>>, GELU, Named<"fc2", Linear<3, 7>>>;
    Model<Net, float> model(3);
    const std::size_t n = model.parameters().size();
    std::vector<bool> is_parameter(n, false);
    std::size_t expected_padding = 0;
    model.visit_parameters([&](auto t) {
        for (std::size_t k = 0; k < t.values.size(); ++k)
            is_parameter[std::size_t(t.values.data() - model.parameters().data()) + k] = true;
        expected_padding += (16 - t.values.size() % 16) % 16;
    });
    std::size_t padding = 0;
    for (std::size_t i = 0; i < n; ++i) padding += !is_parameter[i];
    REQUIRE(padding == expected_padding);
    REQUIRE(padding > 0);

    random_stream rng(4);
    std::vector<float> x(6 * 5), target(6 * 7), grad(6 * 7);
    for (float& value : x) value = static_cast<float>(rng.uniform(-1, 1));
    for (float& value : target) value = static_cast<float>(rng.uniform(-1, 1));
    const std::vector<float> start(model.parameters().begin(), model.parameters().end());
    AdamW<float> adam(n, {0.9, 0.999, 1e-8, 0.1});  // no mask: decay runs over the padding as well
    SGD<float> sgd(n, {0.9, 0.1, 0.01, true});
    for (int step = 0; step < 6; ++step) {
        const auto y = model.forward(std::span<const float>(x), Layout::rows(6));
        mean_squared_error(y, std::span<const float>(target), std::span<float>(grad));
        model.zero_grad();
        model.backward(grad);
        clip_grad_norm(model.gradients(), 1.0);
        if (step % 2 == 0) adam.step(model.parameters(), model.gradients(), 1e-2);
        else sgd.step(model.parameters(), model.gradients(), 1e-2);
        for (std::size_t i = 0; i < n; ++i)
            if (!is_parameter[i]) {
                INFO("step " << step << ", arena element " << i);
                REQUIRE(model.gradients()[i] == 0.0f);
                REQUIRE(model.parameters()[i] == 0.0f);
                REQUIRE(!std::signbit(model.parameters()[i]));
            }
    }
    std::size_t moved = 0;
    for (std::size_t i = 0; i < n; ++i) moved += is_parameter[i] && model.parameters()[i] != start[i];
    CHECK(moved == n - padding);
}
