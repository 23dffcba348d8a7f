// Incremental decoding (generate/decoder.hpp) against the full forward pass over the same prefix: the logits of
// every token decoded with the key/value cache equal that token's row of Model::forward (double: 1e-12 of the
// largest logit, float: 1e-5), whether the tokens came as one prefill, a prefill and steps, or a batch of sequences
// of different lengths; and the decoder's errors.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <span>
#include <utility>
#include <vector>

#include "architectures.hpp"
#include "catch.hpp"
#include "require_error.hpp"

#include <lnfold/lnfold.hpp>
#include <lnfold/train/cbwc.hpp>

using namespace lnfold;
namespace arch = lnfold_test::arch;

namespace {

template <class T>
constexpr double tolerance = std::is_same_v<T, double> ? 1e-12 : 1e-5;

// max |a - b| / max |b| over one row.
template <class T>
double relative_difference(std::span<const T> a, std::span<const T> b) {
    REQUIRE(a.size() == b.size());
    double worst = 0, scale = 0;
    for (std::size_t i = 0; i < a.size(); ++i) {
        worst = std::max(worst, std::abs(double(a[i]) - double(b[i])));
        scale = std::max(scale, std::abs(double(b[i])));
    }
    return worst / scale;
}

std::vector<std::int32_t> random_ids(std::size_t count, std::size_t vocabulary, std::uint64_t seed) {
    random_stream rng(seed);
    std::vector<std::int32_t> ids(count);
    for (auto& id : ids) id = static_cast<std::int32_t>(rng.below(vocabulary));
    return ids;
}

// Row `row` of the full forward over `ids` (one sequence).
template <class Net, class T>
std::vector<T> full_forward_row(Model<Net, T>& model, std::span<const std::int32_t> ids, std::size_t row) {
    const auto y = model.forward(ids, Layout::sequence(1, ids.size()));
    const auto r = y.row(row);
    return {r.begin(), r.end()};
}

// Prefill `split` tokens of one sequence, step through the rest: every token's logits against the full forward.
template <class Net, class T>
void check_steps_match_forward(std::uint64_t seed, std::size_t split) {
    Model<Net, T> model(seed);
    Model<Net, T> reference = model;
    const std::size_t length = arch::T;
    const std::vector<std::int32_t> ids = random_ids(length, arch::V, seed + 7);
    auto state = model.decoder(1, length);
    const auto prompt = state.prefill(std::span<const std::int32_t>(ids).first(split));
    REQUIRE(prompt.rows() == split);
    for (std::size_t t = 0; t < split; ++t) {
        const auto expected = full_forward_row(reference, std::span<const std::int32_t>(ids).first(t + 1), t);
        CHECK(relative_difference(prompt.row(t), std::span<const T>(expected)) <= tolerance<T>);
    }
    for (std::size_t t = split; t < length; ++t) {
        const auto logits = state.step(std::span<const std::int32_t>(ids).subspan(t, 1));
        REQUIRE(logits.rows() == 1);
        const auto expected = full_forward_row(reference, std::span<const std::int32_t>(ids).first(t + 1), t);
        CHECK(relative_difference(logits.row(0), std::span<const T>(expected)) <= tolerance<T>);
        CHECK(state.length(0) == t + 1);
    }
}

}  // namespace

TEMPLATE_TEST_CASE("decoding with the cache equals the full forward, token by token", "[decoder]", float, double) {
    using T = TestType;
    for (std::uint64_t seed = 1; seed <= 3; ++seed) {
        for (const std::size_t split : {std::size_t(1), std::size_t(4), std::size_t(arch::T)}) {
            check_steps_match_forward<arch::Gpt, T>(seed, split);
            check_steps_match_forward<arch::GptNoFinalLn, T>(seed, split);
            check_steps_match_forward<arch::GptTied<tie_fold::untie>, T>(seed, split);
            check_steps_match_forward<arch::Bloom, T>(seed, split);
            check_steps_match_forward<rms_t<arch::Gpt>, T>(seed, split);
            check_steps_match_forward<cbwc_t<arch::Gpt>, T>(seed, split);  // CBWC<SelfAttention>, CBWC<PositionEmbedding>
        }
    }
}

TEMPLATE_TEST_CASE("a folded model decodes like its LayerNorm original", "[decoder]", float, double) {
    using T = TestType;
    Model<arch::Gpt, T> model(5);
    const auto folded = fold(model);
    const std::vector<std::int32_t> ids = random_ids(arch::T, arch::V, 11);
    auto original = model.decoder(1, arch::T);
    auto cheaper = folded.decoder(1, arch::T);
    original.prefill(std::span<const std::int32_t>(ids).first(2));
    cheaper.prefill(std::span<const std::int32_t>(ids).first(2));
    for (std::size_t t = 2; t < arch::T; ++t) {
        const auto a = original.step(std::span<const std::int32_t>(ids).subspan(t, 1));
        const auto b = cheaper.step(std::span<const std::int32_t>(ids).subspan(t, 1));
        CHECK(relative_difference(b.row(0), a.row(0)) <= (std::is_same_v<T, double> ? 1e-11 : 2e-5));
    }
}

TEST_CASE("prefill and steps equal one prefill of the whole sequence", "[decoder]") {
    Model<arch::Gpt, double> model(2);
    const std::vector<std::int32_t> ids = random_ids(2 * arch::T, arch::V, 3);  // two sequences, one after the other
    auto whole = model.decoder(2, arch::T);
    const auto all = whole.prefill(ids, 2);
    REQUIRE(all.rows() == 2 * arch::T);

    auto parts = model.decoder(2, arch::T);
    std::vector<std::int32_t> first;
    for (std::size_t b = 0; b < 2; ++b)
        for (std::size_t t = 0; t < 3; ++t) first.push_back(ids[b * arch::T + t]);
    const auto head = parts.prefill(first, 2);
    for (std::size_t b = 0; b < 2; ++b)
        for (std::size_t t = 0; t < 3; ++t)
            CHECK(relative_difference(head.row(b * 3 + t), all.row(b * arch::T + t)) <= 1e-12);
    for (std::size_t t = 3; t < arch::T; ++t) {
        const std::int32_t next[2] = {ids[t], ids[arch::T + t]};
        const auto logits = parts.step(next);
        for (std::size_t b = 0; b < 2; ++b)
            CHECK(relative_difference(logits.row(b), all.row(b * arch::T + t)) <= 1e-12);
    }
    CHECK(relative_difference(parts.last_logits(1), all.row(2 * arch::T - 1)) <= 1e-12);

    // a prefill continues the sequences too
    auto chunks = model.decoder(2, arch::T);
    chunks.prefill(first, 2);
    std::vector<std::int32_t> rest;
    for (std::size_t b = 0; b < 2; ++b)
        for (std::size_t t = 3; t < arch::T; ++t) rest.push_back(ids[b * arch::T + t]);
    const auto tail = chunks.prefill(rest, 2);
    for (std::size_t b = 0; b < 2; ++b)
        for (std::size_t t = 3; t < arch::T; ++t)
            CHECK(relative_difference(tail.row(b * (arch::T - 3) + t - 3), all.row(b * arch::T + t)) <= 1e-12);
}

TEST_CASE("a batch of sequences of different lengths decodes as each sequence alone", "[decoder]") {
    Model<arch::GptTied<tie_fold::untie>, double> model(4);
    const std::vector<std::size_t> lengths = {2, 6, 4};
    std::vector<std::vector<std::int32_t>> sequences;
    for (std::size_t b = 0; b < lengths.size(); ++b) sequences.push_back(random_ids(arch::T, arch::V, 20 + b));

    std::vector<std::span<const std::int32_t>> prompts;
    for (std::size_t b = 0; b < lengths.size(); ++b) prompts.emplace_back(sequences[b].data(), lengths[b]);
    auto batch = model.decoder(4, arch::T);
    const auto packed = batch.prefill(prompts);
    REQUIRE(packed.rows() == 12);

    for (std::size_t b = 0; b < lengths.size(); ++b) {
        auto alone = model.decoder(1, arch::T);
        const auto own = alone.prefill(prompts[b]);
        std::size_t first_row = 0;
        for (std::size_t c = 0; c < b; ++c) first_row += lengths[c];
        for (std::size_t t = 0; t < lengths[b]; ++t)
            CHECK(relative_difference(packed.row(first_row + t), own.row(t)) <= 1e-12);
    }
    // three steps: each sequence continues from its own length
    std::vector<decoder<arch::GptTied<tie_fold::untie>, double>> alone;
    for (std::size_t b = 0; b < lengths.size(); ++b) {
        alone.push_back(model.decoder(1, arch::T));
        alone.back().prefill(prompts[b]);
    }
    for (std::size_t s = 0; s < 3; ++s) {
        std::vector<std::int32_t> next;
        for (std::size_t b = 0; b < lengths.size(); ++b) next.push_back(sequences[b][lengths[b] + s]);
        const auto logits = batch.step(next);
        for (std::size_t b = 0; b < lengths.size(); ++b) {
            const auto own = alone[b].step(std::span<const std::int32_t>(&next[b], 1));
            CHECK(relative_difference(logits.row(b), own.row(0)) <= 1e-12);
            CHECK(batch.length(b) == lengths[b] + s + 1);
        }
    }
}

TEST_CASE("the decoder's errors say what is wrong", "[decoder][errors]") {
    Model<arch::Gpt, float> model(1);
    require_error<shape_error>([&] { (void)model.decoder(1, arch::T + 1); },
                               {"max_length 10 exceeds the 9 positions of the PositionEmbedding at 'wpe'"});
    require_error<shape_error>([&] { (void)model.decoder(0, 4); }, {"max_batch and max_length must be at least 1"});

    auto state = model.decoder(2, 4);
    const std::int32_t one[1] = {3};
    require_error<config_error>([&] { state.step(one); }, {"no sequence yet; call prefill first"});
    const std::int32_t bad[2] = {3, std::int32_t(arch::V)};
    require_error<index_error>([&] { state.prefill(bad, 2); }, {"token id at row 1 must be in [0, 23), got 23"});
    CHECK(state.batch() == 0);  // a failed call leaves nothing behind

    const std::int32_t three[3] = {1, 2, 3};
    require_error<shape_error>([&] { state.prefill(three, 3); }, {"the batch must hold 1 to 2 sequences (max_batch), got 3"});
    state.prefill(three);
    require_error<shape_error>([&] { state.prefill(three, 2); }, {"3 ids must split into 2 sequences"});
    const std::int32_t two[2] = {4, 5};
    require_error<shape_error>([&] { state.step(two); }, {"expected one id per sequence (1), got 2"});
    state.step(one);
    require_error<shape_error>(
        [&] { state.step(one); },
        {"sequence 0 holds 4 of 4 positions (max_length) and cannot take 1 more; reset() the decoder"});
    CHECK(state.length(0) == 4);
    state.reset();
    CHECK(state.batch() == 0);
    state.prefill(two, 2);  // after reset: new sequences
    CHECK(state.length(1) == 1);
    require_error<index_error>([&] { (void)state.last_logits(2); }, {"sequence 2 has no logits"});
    require_error<index_error>([&] { (void)state.length(2); }, {"sequence 2 is outside the 2 slots (max_batch)"});
    const std::span<const std::int32_t> with_empty[2] = {std::span<const std::int32_t>(two), {}};
    state.step(two);
    const std::vector<float> latest(state.last_logits(1).begin(), state.last_logits(1).end());
    require_error<shape_error>([&] { state.prefill(with_empty); }, {"prompt 1 is empty"});
    CHECK(std::equal(latest.begin(), latest.end(), state.last_logits(1).begin()));  // a check before any change
    CHECK(state.length(1) == 2);

    auto moved = std::move(state);
    CHECK(moved.length(1) == 2);
    require_error<config_error>([&] { state.step(two); }, {"no sequence yet"});  // NOLINT: use after move, on purpose
    require_error<shape_error>([&] { state.prefill(two, 2); }, {"the batch must hold 1 to 0 sequences"});
}

TEMPLATE_TEST_CASE("a prefill for generation returns each sequence's last logits only", "[decoder]", float, double) {
    using T = TestType;
    Model<arch::GptTied<tie_fold::untie>, T> model(14);
    const std::vector<std::int32_t> ids = random_ids(12, arch::V, 15);
    auto every = model.decoder(3, arch::T);
    auto last = model.decoder(3, arch::T);
    const auto all_rows = every.prefill(ids, 3);  // three sequences of four tokens
    const auto last_rows = last.prefill(ids, 3, logits_rows::last);
    REQUIRE(last_rows.rows() == 3);
    for (std::size_t b = 0; b < 3; ++b) {
        CHECK(relative_difference(last_rows.row(b), all_rows.row(4 * b + 3)) <= tolerance<T>);
        CHECK(relative_difference(last.last_logits(b), every.last_logits(b)) <= tolerance<T>);
    }
    const std::int32_t next[3] = {1, 2, 3};  // the caches hold every prompt token either way
    const auto a = every.step(next), b = last.step(next);
    for (std::size_t s = 0; s < 3; ++s) CHECK(relative_difference(b.row(s), a.row(s)) <= tolerance<T>);

    every.reset();
    last.reset();
    const std::span<const std::int32_t> ragged[2] = {std::span<const std::int32_t>(ids).first(5),
                                                     std::span<const std::int32_t>(ids).subspan(5, 2)};
    const auto packed = every.prefill(ragged);
    const auto ends = last.prefill(ragged, logits_rows::last);
    REQUIRE(ends.rows() == 2);
    CHECK(relative_difference(ends.row(0), packed.row(4)) <= tolerance<T>);
    CHECK(relative_difference(ends.row(1), packed.row(6)) <= tolerance<T>);
    CHECK(relative_difference(last.last_logits(1), packed.row(6)) <= tolerance<T>);
}

TEST_CASE("a prefill longer than one block of query rows, then more", "[decoder]") {
    using Long = Seq<Named<"wte", Embedding<arch::V, arch::D>>, Named<"wpe", PositionEmbedding<160, arch::D>>,
                     Named<"h", Repeat<1, arch::GptBlock>>, Named<"ln_f", LayerNorm<arch::D>>,
                     Named<"lm_head", Linear<arch::D, arch::V, false>>>;
    Model<Long, double> model(12);
    Model<Long, double> reference = model;
    const std::vector<std::int32_t> ids = random_ids(150, arch::V, 13);
    const auto all = reference.forward(std::span<const std::int32_t>(ids), Layout::sequence(1, ids.size()));
    auto state = model.decoder(1, 160);
    const auto first = state.prefill(std::span<const std::int32_t>(ids).first(70));   // blocks of 64 and 6 rows
    for (std::size_t t = 0; t < 70; ++t) CHECK(relative_difference(first.row(t), all.row(t)) <= 1e-12);
    const auto second = state.prefill(std::span<const std::int32_t>(ids).subspan(70, 79));  // past 70: 64 + 15
    for (std::size_t t = 0; t < 79; ++t) CHECK(relative_difference(second.row(t), all.row(70 + t)) <= 1e-12);
    const auto last = state.step(std::span<const std::int32_t>(ids).subspan(149, 1));
    CHECK(relative_difference(last.row(0), all.row(149)) <= 1e-12);
}

TEST_CASE("only causal token networks decode", "[decoder]") {
    STATIC_REQUIRE(decodable<arch::Gpt>());
    STATIC_REQUIRE(decodable<folded_t<arch::Gpt>>());
    STATIC_REQUIRE(decodable<cbwc_t<arch::Gpt>>());
    STATIC_REQUIRE(decodable<rms_t<arch::Gpt>>());
    STATIC_REQUIRE_FALSE(decodable<arch::Bert>());  // non-causal attention, pooled token
    STATIC_REQUIRE_FALSE(decodable<arch::Vit>());   // images, class token
}
