// Token sampling against simple, independent double references: option checks, reproducibility, greedy decoding,
// the top-k / top-p sets, empirical distributions, the repetition penalty, infinities and errors.
#include <lnfold/generate/sampling.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <string>
#include <vector>

#include "catch.hpp"
#include "require_error.hpp"

using namespace lnfold;

namespace {

std::vector<double> random_logits(random_stream& rng, std::size_t vocabulary, double spread) {
    std::vector<double> logits(vocabulary);
    for (double& z : logits) z = rng.uniform(-spread, spread);
    return logits;
}

template <class T, class U = double>
std::vector<T> as(const std::vector<U>& values) {
    return std::vector<T>(values.begin(), values.end());
}

// The reference for everything below: the rules written out plainly, in double.
std::vector<double> penalised(std::vector<double> logits, const std::vector<std::int32_t>& history, double penalty) {
    std::vector<bool> seen(logits.size());
    for (const std::int32_t t : history) seen[static_cast<std::size_t>(t)] = true;
    for (std::size_t t = 0; t < logits.size(); ++t)
        if (seen[t]) logits[t] = logits[t] > 0 ? logits[t] / penalty : logits[t] * penalty;
    return logits;
}

std::size_t argmax(const std::vector<double>& values) {
    std::size_t best = 0;
    for (std::size_t t = 1; t < values.size(); ++t)
        if (values[t] > values[best]) best = t;
    return best;
}

// softmax(logits / temperature) over the tokens with keep[t].
std::vector<double> softmax(const std::vector<double>& logits, double temperature, const std::vector<bool>& keep) {
    double top = -std::numeric_limits<double>::infinity();
    for (std::size_t t = 0; t < logits.size(); ++t)
        if (keep[t]) top = std::max(top, logits[t] / temperature);
    std::vector<double> p(logits.size(), 0.0);
    double sum = 0;
    for (std::size_t t = 0; t < logits.size(); ++t)
        if (keep[t]) sum += p[t] = std::exp(logits[t] / temperature - top);
    for (double& q : p) q /= sum;
    return p;
}

std::vector<double> softmax(const std::vector<double>& logits, double temperature) {
    return softmax(logits, temperature, std::vector<bool>(logits.size(), true));
}

// The tokens sampler may emit: top-k by counting the tokens ranked above each one (greater logit, or equal with a
// lower id), then the nucleus of the renormalised probabilities for top_p + slack (a token on the boundary within
// rounding counts as inside).
std::vector<bool> allowed_tokens(const std::vector<double>& logits, const sampling_options& options) {
    const std::size_t vocabulary = logits.size();
    std::vector<bool> keep(vocabulary, true);
    if (options.top_k)
        for (std::size_t t = 0; t < vocabulary; ++t) {
            std::size_t above = 0;
            for (std::size_t s = 0; s < vocabulary; ++s) above += logits[s] > logits[t] || (logits[s] == logits[t] && s < t);
            keep[t] = above < *options.top_k;
        }
    const std::vector<double> p = softmax(logits, options.temperature, keep);
    std::vector<std::size_t> order(vocabulary);
    std::iota(order.begin(), order.end(), std::size_t{0});
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return p[a] > p[b]; });
    std::vector<bool> nucleus(vocabulary, false);
    double cumulative = 0;
    for (const std::size_t t : order) {
        if (p[t] == 0) break;
        nucleus[t] = true;
        cumulative += p[t];
        if (cumulative >= options.top_p + 1e-9) break;
    }
    return nucleus;
}

template <class T>
std::vector<std::size_t> draw_counts(sampler<T>& s, const std::vector<T>& logits, const std::vector<std::int32_t>& history,
                                     std::size_t draws) {
    std::vector<std::size_t> counts(logits.size());
    for (std::size_t i = 0; i < draws; ++i) ++counts[static_cast<std::size_t>(s.choose(logits, history))];
    return counts;
}

// Every frequency within 5 standard errors of its probability (each bound fails by chance with probability < 1e-6).
void check_frequencies(const std::vector<std::size_t>& counts, const std::vector<double>& p) {
    const double n = double(std::accumulate(counts.begin(), counts.end(), std::size_t{0}));
    for (std::size_t t = 0; t < p.size(); ++t) {
        const double frequency = double(counts[t]) / n;
        INFO("token " << t << ": frequency " << frequency << ", probability " << p[t]);
        CHECK(std::abs(frequency - p[t]) < 5 * std::sqrt(p[t] * (1 - p[t]) / n) + 1e-12);
    }
}

}  // namespace

TEST_CASE("check names the first invalid sampling option") {
    CHECK(check(sampling_options{}).ok());
    const auto rejects = [](sampling_options options, std::string option, std::string actual) {
        const status s = check(options);
        INFO(option << " = " << actual << ": " << s.message());
        REQUIRE(!s.ok());
        CHECK(s.kind() == error_kind::config);
        CHECK(s.message().rfind("lnfold: sampling_options: " + option, 0) == 0);
        CHECK(s.message().find("got " + actual) != std::string::npos);
        require_error<config_error>([&] { sampler<float>(options, 10); }, {option, "got " + actual});
    };
    const double nan = std::numeric_limits<double>::quiet_NaN(), inf = std::numeric_limits<double>::infinity();
    sampling_options o;
    o.top_k = 0;
    rejects(o, "top_k", "0");
    CHECK(check(o).message() == "lnfold: sampling_options: top_k must be at least 1, got 0");
    for (const double p : {0.0, 1.5, -0.5, nan}) {
        o = {};
        o.top_p = p;
        rejects(o, "top_p", p == 0 ? "0" : p == 1.5 ? "1.5" : p < 0 ? "-0.5" : "nan");
    }
    for (const double t : {-1.0, nan, inf}) {
        o = {};
        o.temperature = t;
        rejects(o, "temperature", t < 0 ? "-1" : std::isnan(t) ? "nan" : "inf");
    }
    for (const double penalty : {0.0, -2.0, inf}) {
        o = {};
        o.repetition_penalty = penalty;
        rejects(o, "repetition_penalty", penalty == 0 ? "0" : penalty < 0 ? "-2" : "inf");
    }
    o = {};
    o.temperature = 0;
    o.top_k = 1;
    o.top_p = 1e-9;
    o.repetition_penalty = 0.5;
    CHECK(check(o).ok());
    require_error<config_error>([] { sampler<double>(sampling_options{}, 0); }, {"sampler", "vocabulary", "got 0"});
}

TEMPLATE_TEST_CASE("samplers with the same seed give the same tokens; other seeds others", "", float, double) {
    const std::size_t vocabulary = 50;
    const auto generate = [&](std::uint64_t seed) {
        sampling_options options;
        options.temperature = 0.8;
        options.top_k = 20;
        options.top_p = 0.9;
        options.repetition_penalty = 1.3;
        options.seed = seed;
        sampler<TestType> s(options, vocabulary);
        random_stream rng(7);  // the same logits for every seed
        std::vector<std::int32_t> history{3, 4};
        for (int step = 0; step < 200; ++step) {
            const std::vector<TestType> logits = as<TestType>(random_logits(rng, vocabulary, 3));
            const std::int32_t id = s.choose(logits, history);
            REQUIRE(id >= 0);
            REQUIRE(id < std::int32_t(vocabulary));
            history.push_back(id);
        }
        return history;
    };
    const std::vector<std::int32_t> first = generate(123);
    CHECK(first == generate(123));
    CHECK(first != generate(124));
    CHECK(first != generate(0));
}

TEMPLATE_TEST_CASE("temperature 0 and a tiny temperature choose the argmax", "", float, double) {
    const std::size_t vocabulary = 64;
    sampling_options greedy_options;
    greedy_options.temperature = 0;
    greedy_options.top_k = 3;  // ignored by greedy decoding, as top_p
    greedy_options.top_p = 0.2;
    sampling_options cold_options;
    cold_options.temperature = 1e-6;
    sampler<TestType> greedy(greedy_options, vocabulary), cold(cold_options, vocabulary);
    random_stream rng(11);
    for (int row = 0; row < 300; ++row) {
        const std::vector<TestType> logits = as<TestType>(random_logits(rng, vocabulary, 4));
        const std::vector<double> exact(logits.begin(), logits.end());
        CHECK(greedy.choose(logits, {}) == std::int32_t(argmax(exact)));
        CHECK(cold.choose(logits, {}) == std::int32_t(argmax(exact)));
    }
    const std::vector<TestType> ties{1, 3, 2, 3, 3};
    sampler<TestType> tied(greedy_options, ties.size());
    CHECK(tied.choose(ties, {}) == 1);  // the lowest id of the largest
}

TEMPLATE_TEST_CASE("top-k and top-p never emit a token outside the reference set", "", float, double) {
    const std::size_t vocabulary = 40;
    struct setting {
        std::optional<std::size_t> top_k;
        double top_p, temperature, penalty;
    };
    const setting settings[] = {
        {1, 1.0, 1.0, 1.0},     {2, 1.0, 1.0, 1.0},      {7, 1.0, 0.7, 1.0},    {39, 1.0, 1.0, 1.0},
        {100, 1.0, 1.0, 1.0},   {std::nullopt, 0.1, 1.0, 1.0}, {std::nullopt, 0.5, 1.0, 1.0},
        {std::nullopt, 0.9, 1.5, 1.0}, {std::nullopt, 0.99, 1.0, 1.0}, {10, 0.6, 1.0, 1.0},
        {5, 0.95, 0.5, 1.0},    {12, 0.8, 1.2, 1.7},     {std::nullopt, 0.7, 1.0, 0.6},
    };
    std::uint64_t seed = 1;
    for (const setting& c : settings) {
        sampling_options options;
        options.top_k = c.top_k;
        options.top_p = c.top_p;
        options.temperature = c.temperature;
        options.repetition_penalty = c.penalty;
        options.seed = seed++;
        INFO("top_k " << (c.top_k ? long(*c.top_k) : -1) << ", top_p " << c.top_p << ", temperature " << c.temperature
                      << ", penalty " << c.penalty);
        sampler<TestType> s(options, vocabulary);
        random_stream rng(seed * 1000);
        std::size_t outside = 0, emitted_kinds = 0;
        for (int row = 0; row < 60; ++row) {
            // Rows with repeated values too, to exercise the ties of top-k and of the nucleus order.
            std::vector<double> raw = random_logits(rng, vocabulary, 2);
            if (row % 3 == 0)
                for (double& z : raw) z = std::round(z * 2) / 2;
            const std::vector<TestType> logits = as<TestType>(raw);
            const std::vector<std::int32_t> history{std::int32_t(row % 40), 5, 17, 5};
            const std::vector<double> reference_logits = penalised(std::vector<double>(logits.begin(), logits.end()),
                                                                   history, c.penalty);
            const std::vector<bool> allowed = allowed_tokens(reference_logits, options);
            std::vector<bool> emitted(vocabulary);
            for (int draw = 0; draw < 60; ++draw) {
                const auto id = static_cast<std::size_t>(s.choose(logits, history));
                outside += !allowed[id];
                emitted[id] = true;
            }
            emitted_kinds += std::size_t(std::count(emitted.begin(), emitted.end(), true));
        }
        CHECK(outside == 0);
        if (c.top_k == std::size_t{1}) CHECK(emitted_kinds == 60);  // exactly the argmax
        else CHECK(emitted_kinds > 60);                             // really sampling
    }
}

TEMPLATE_TEST_CASE("draws follow softmax(logits / temperature)", "", float, double) {
    const std::vector<double> logits{1.0, 0.2, -0.5, 2.0, 0.0};
    for (const double temperature : {1.0, 2.0, 0.5}) {
        INFO("temperature " << temperature);
        sampling_options options;
        options.temperature = temperature;
        options.seed = 99;
        sampler<TestType> s(options, logits.size());
        const std::vector<TestType> typed = as<TestType>(logits);
        check_frequencies(draw_counts(s, typed, {}, 20000), softmax(as<double>(as<TestType>(logits)), temperature));
    }
}

TEST_CASE("top-k and top-p renormalise over the tokens they keep") {
    // p = (0.5, 0.3, 0.15, 0.05): top_p 0.75 keeps {0, 1}, drawn as 0.5 : 0.3.
    const std::vector<double> logits{std::log(0.5), std::log(0.3), std::log(0.15), std::log(0.05)};
    sampling_options nucleus;
    nucleus.top_p = 0.75;
    nucleus.seed = 5;
    sampler<double> by_p(nucleus, logits.size());
    check_frequencies(draw_counts(by_p, logits, {}, 20000), {0.625, 0.375, 0, 0});

    // Top-3 of 5 at temperature 2, permuted so that the kept ids are not the first ones.
    const std::vector<double> permuted{-1.0, 1.5, 0.3, -0.2, 0.9};
    sampling_options top3;
    top3.top_k = 3;
    top3.temperature = 2;
    top3.seed = 6;
    sampler<double> by_k(top3, permuted.size());
    check_frequencies(draw_counts(by_k, permuted, {}, 20000),
                      softmax(permuted, 2.0, std::vector<bool>{false, true, true, false, true}));

    // Ties at the k-th value: exactly k kept, the lowest ids first.
    const std::vector<double> tied{2, 5, 5, 5, 1};
    sampling_options top2;
    top2.top_k = 2;
    sampler<double> by_tie(top2, tied.size());
    check_frequencies(draw_counts(by_tie, tied, {}, 20000), {0, 0.5, 0.5, 0, 0});
}

TEMPLATE_TEST_CASE("the repetition penalty divides positive logits and multiplies the others, once per id", "", float,
                   double) {
    sampling_options greedy_options;
    greedy_options.temperature = 0;
    greedy_options.repetition_penalty = 2;
    sampler<TestType> greedy(greedy_options, 4);

    // 4 in the history behaves as 2, below 3.
    const std::vector<TestType> positive{4, 3, -1, -1.5};
    CHECK(greedy.choose(positive, {}) == 0);
    CHECK(greedy.choose(positive, std::vector<std::int32_t>{0}) == 1);
    // Once per distinct id: 4 -> 2, still above 1.5 (twice would give 1).
    const std::vector<TestType> close{4, 1.5, -1, -1.5};
    CHECK(greedy.choose(close, std::vector<std::int32_t>{0, 0, 0, 2}) == 0);
    // -1 in the history behaves as -2, below -1.5.
    const std::vector<TestType> negative{-1, -1.5, -3, -4};
    CHECK(greedy.choose(negative, {}) == 0);
    CHECK(greedy.choose(negative, std::vector<std::int32_t>{0}) == 1);
    CHECK(greedy.choose(negative, std::vector<std::int32_t>{1, 0}) == 0);  // both penalised: -2 > -3

    // Sampling: logits (4, -1, 0.5, 1) with history {0, 1, 0} are drawn as (2, -2, 0.5, 1).
    sampling_options sampled;
    sampled.repetition_penalty = 2;
    sampled.seed = 8;
    sampler<TestType> s(sampled, 4);
    check_frequencies(draw_counts(s, as<TestType>({4, -1, 0.5, 1}), {0, 1, 0}, 20000), softmax({2, -2, 0.5, 1}, 1.0));
    // A penalty below 1 favours the history: 1 -> 2 for penalty 0.5.
    sampled.repetition_penalty = 0.5;
    sampler<TestType> favouring(sampled, 4);
    check_frequencies(draw_counts(favouring, as<TestType>({0, 1, 0.5, 1}), {1}, 20000), softmax({0, 2, 0.5, 1}, 1.0));
}

TEMPLATE_TEST_CASE("infinite logits: +inf tokens share everything, -inf tokens are never chosen", "", float, double) {
    const TestType inf = std::numeric_limits<TestType>::infinity();
    sampling_options options;
    options.seed = 3;
    sampler<TestType> s(options, 5);
    check_frequencies(draw_counts(s, std::vector<TestType>{1, inf, 2, -inf, 0}, {}, 2000), {0, 1, 0, 0, 0});
    check_frequencies(draw_counts(s, std::vector<TestType>{inf, 3, inf, -inf, 0}, {}, 20000), {0.5, 0, 0.5, 0, 0});
    check_frequencies(draw_counts(s, std::vector<TestType>{-inf, -inf, 0, -inf, -inf}, {}, 2000), {0, 0, 1, 0, 0});
    check_frequencies(draw_counts(s, std::vector<TestType>{-inf, 1, -inf, 1, -inf}, {}, 20000), {0, 0.5, 0, 0.5, 0});

    options.temperature = 0;
    sampler<TestType> greedy(options, 3);
    CHECK(greedy.choose(std::vector<TestType>{-inf, -inf, -5}, {}) == 2);
    CHECK(greedy.choose(std::vector<TestType>{1, inf, inf}, {}) == 1);
}

TEMPLATE_TEST_CASE("choose rejects bad input before drawing", "", float, double) {
    sampling_options options;
    options.seed = 21;
    options.repetition_penalty = 1.2;
    sampler<TestType> s(options, 5), fresh(options, 5);
    const std::vector<TestType> logits{0.1f, 0.5f, -0.3f, 0.9f, 0.0f};
    require_error<shape_error>([&] { s.choose(std::vector<TestType>(4), {}); }, {"sampler", "expected 5 logits", "got 4"});
    require_error<shape_error>([&] { s.choose(std::vector<TestType>(6), {}); }, {"got 6"});
    require_error<index_error>([&] { s.choose(logits, std::vector<std::int32_t>{1, 5}); },
                               {"sampler", "history id 5", "position 1", "[0, 5)"});
    require_error<index_error>([&] { s.choose(logits, std::vector<std::int32_t>{-1}); }, {"history id -1"});
    std::vector<TestType> with_nan = logits;
    with_nan[3] = std::numeric_limits<TestType>::quiet_NaN();
    CHECK_THROWS_WITH(s.choose(with_nan, {}), "lnfold: sampler: logit 3 is NaN");
    CHECK_THROWS_AS(s.choose(with_nan, {}), config_error);
    const TestType inf = std::numeric_limits<TestType>::infinity();
    require_error<config_error>([&] { s.choose(std::vector<TestType>(5, -inf), {}); }, {"sampler", "every logit is -inf"});
    // Nothing was drawn or left marked: the sampler goes on exactly as a fresh one.
    const std::vector<std::int32_t> history{3, 0};
    for (int i = 0; i < 50; ++i) CHECK(s.choose(logits, history) == fresh.choose(logits, history));
}
