// lnfold::generate (generate/generate.hpp) against a loop written out here with the decoder and the sampler, and
// against full forward passes: greedy generation picks each token as the argmax of the full forward over the text
// so far; streaming, stop tokens, the window that restarts a full decoder, and errors.
#include <algorithm>
#include <cstdint>
#include <span>
#include <vector>

#include "architectures.hpp"
#include "catch.hpp"
#include "require_error.hpp"

#include <lnfold/generate/generate.hpp>
#include <lnfold/lnfold.hpp>

using namespace lnfold;
namespace arch = lnfold_test::arch;

namespace {

// The argmax of the last row of a full forward over `text`.
template <class Net, class T>
std::int32_t full_forward_argmax(Model<Net, T>& model, const std::vector<std::int32_t>& text) {
    const auto y = model.forward(std::span<const std::int32_t>(text), Layout::sequence(1, text.size()));
    const auto row = y.row(text.size() - 1);
    return static_cast<std::int32_t>(std::max_element(row.begin(), row.end()) - row.begin());
}

}  // namespace

TEST_CASE("greedy generation picks the argmax of the full forward over the text so far", "[generate]") {
    Model<arch::Gpt, double> model(6);
    Model<arch::Gpt, double> reference = model;
    const std::vector<std::int32_t> prompt = {3, 1, 4};
    generate_options options;
    options.max_new_tokens = arch::T - prompt.size();  // fills the context exactly
    options.sampling.temperature = 0;
    std::vector<std::int32_t> streamed;
    options.on_token = [&](std::int32_t id) { streamed.push_back(id); };
    const std::vector<std::int32_t> out = generate(model, prompt, options);
    REQUIRE(out.size() == options.max_new_tokens);
    CHECK(streamed == out);
    std::vector<std::int32_t> text = prompt;
    for (const std::int32_t id : out) {
        CHECK(id == full_forward_argmax(reference, text));
        text.push_back(id);
    }
}

TEST_CASE("generate equals the decoder and sampler driven by hand; sampling is seeded", "[generate]") {
    Model<arch::GptTied<tie_fold::untie>, float> model(8);
    const std::vector<std::int32_t> prompt = {5, 9};
    generate_options options;
    options.max_new_tokens = 6;
    options.sampling = {0.9, 5, 0.95, 1.3, 42};
    const std::vector<std::int32_t> out = generate(model, prompt, options);

    auto state = model.decoder(1, arch::T);
    sampler<float> pick(options.sampling, arch::V);
    std::vector<std::int32_t> history = prompt;
    state.prefill(prompt);
    for (std::size_t n = 0; n < options.max_new_tokens; ++n) {
        const std::int32_t next = pick.choose(state.last_logits(0), history);
        history.push_back(next);
        CHECK(next == out[n]);
        if (n + 1 < options.max_new_tokens) state.step(std::span<const std::int32_t>(&history.back(), 1));
    }
    CHECK(generate(model, prompt, options) == out);  // the same seed, the same tokens
    options.sampling.seed = 43;
    bool differs = false;
    for (std::uint64_t seed = 43; seed < 53 && !differs; ++seed) {
        options.sampling.seed = seed;
        differs = generate(model, prompt, options) != out;
    }
    CHECK(differs);
}

TEST_CASE("a stop token ends generation; a full decoder restarts from the latest half", "[generate]") {
    Model<arch::Gpt, double> model(9);
    Model<arch::Gpt, double> reference = model;
    const std::vector<std::int32_t> prompt = {2, 7};
    generate_options options;
    options.sampling.temperature = 0;
    options.max_new_tokens = 20;  // more than the 9 positions: the window restarts
    const std::vector<std::int32_t> out = generate(model, prompt, options);
    REQUIRE(out.size() == 20);
    // Each restart keeps the latest 4 tokens (max_length 9 / 2); the tokens after a restart are the argmax of the
    // forward over the window since that restart.
    std::vector<std::int32_t> text = prompt, window = prompt;
    for (const std::int32_t id : out) {
        CHECK(id == full_forward_argmax(reference, window));
        text.push_back(id);
        window.push_back(id);
        if (window.size() > arch::T) window.assign(text.end() - 4, text.end());
    }

    options.stop_token = out[3];
    const std::vector<std::int32_t> stopped = generate(model, prompt, options);
    const auto first = std::find(out.begin(), out.end(), out[3]);
    CHECK(stopped == std::vector<std::int32_t>(out.begin(), first + 1));
}

TEST_CASE("generate's errors", "[generate][errors]") {
    Model<arch::Gpt, float> model(1);
    generate_options options;
    require_error<shape_error>([&] { generate(model, std::span<const std::int32_t>(), options); },
                               {"the prompt needs at least one token"});
    const std::vector<std::int32_t> long_prompt(arch::T + 1, 1);
    require_error<shape_error>([&] { generate(model, long_prompt, options); },
                               {"the prompt (10 tokens) exceeds the decoder's 9 positions"});
    options.sampling.top_k = 0;
    const std::int32_t one[1] = {1};
    require_error<config_error>([&] { generate(model, one, options); }, {"top_k must be at least 1, got 0"});
    options.sampling.top_k.reset();
    auto state = model.decoder(1, 4);
    state.prefill(one);
    require_error<config_error>([&] { generate(state, one, options); }, {"already holds 1 sequences; reset() it first"});
    options.max_new_tokens = 0;
    state.reset();
    CHECK(generate(state, one, options).empty());
}
