#pragma once
// lnfold::generate: text generation with a causal token network, one token at a time.
//
//   generate_options options;
//   options.max_new_tokens = 200;
//   options.sampling.temperature = 0.8;  options.sampling.top_k = 40;  options.sampling.seed = 7;
//   options.on_token = [](std::int32_t id) { std::putchar(id); };     // streams each token as it is chosen
//   std::vector<std::int32_t> continuation = lnfold::generate(model, prompt_ids, options);
//
// The prompt goes through the network as one prefill (decoder.hpp); each new token is chosen from the logits of the
// latest position (sampling.hpp: repetition penalty over prompt + generated ids, then greedy or temperature, top-k,
// top-p) and fed back as one decoding step. Generation ends after max_new_tokens tokens, or after stop_token.
// When the text reaches the decoder's max_length, the decoder starts again from the latest max_length / 2 tokens (one
// prefill; learned positions cannot shift, so this is what running the model on a cropped window gives), and goes on.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "lnfold/core/error.hpp"
#include "lnfold/generate/decoder.hpp"
#include "lnfold/generate/sampling.hpp"
#include "lnfold/graph/model.hpp"

namespace lnfold {

struct generate_options {
    std::size_t max_new_tokens = 64;
    sampling_options sampling{};
    std::optional<std::int32_t> stop_token;        // ends generation once emitted (it is included in the result)
    std::function<void(std::int32_t)> on_token;     // called with every new token, as soon as it is chosen
};

// Continues `prompt` (1 to state.max_length() ids) with up to options.max_new_tokens tokens in `state`, which must
// hold no sequence (a fresh decoder, or reset()). Returns the new ids.
template <class Net, class T>
std::vector<std::int32_t> generate(decoder<Net, T>& state, std::span<const std::int32_t> prompt,
                                   const generate_options& options) {
    const std::string at = "lnfold: generate: ";
    if (prompt.empty()) raise<shape_error>(at + "the prompt needs at least one token");
    if (state.batch() != 0)
        raise<config_error>(at + "the decoder already holds " + std::to_string(state.batch()) +
                            " sequences; reset() it first");
    if (prompt.size() > state.max_length())
        raise<shape_error>(at + "the prompt (" + std::to_string(prompt.size()) + " tokens) exceeds the decoder's " +
                           std::to_string(state.max_length()) + " positions");
    sampler<T> pick(options.sampling, Model<Net, T>::output_width);
    if (options.max_new_tokens == 0) return {};
    std::vector<std::int32_t> history(prompt.begin(), prompt.end());
    history.reserve(prompt.size() + std::min<std::size_t>(options.max_new_tokens, std::size_t(1) << 20));

    state.prefill(prompt, 1, logits_rows::last);
    for (std::size_t n = 0;; ++n) {
        const std::int32_t next = pick.choose(state.last_logits(0), std::span<const std::int32_t>(history));
        history.push_back(next);
        if (options.on_token) options.on_token(next);
        if (n + 1 == options.max_new_tokens || (options.stop_token && next == *options.stop_token)) break;
        if (state.length(0) < state.max_length()) {
            state.step(std::span<const std::int32_t>(&history.back(), 1));
        } else {  // full: start again from the latest half
            const std::size_t keep = std::max<std::size_t>(1, state.max_length() / 2);
            state.reset();
            state.prefill(std::span<const std::int32_t>(history).last(keep), 1, logits_rows::last);
        }
    }
    return {history.begin() + static_cast<std::ptrdiff_t>(prompt.size()), history.end()};
}

// The same with a decoder made for this call: one sequence of prompt + max_new_tokens positions, at most the
// network's context (decoder<Net, T>::context: its position tables).
template <class Net, class T>
std::vector<std::int32_t> generate(const Model<Net, T>& model, std::span<const std::int32_t> prompt,
                                   const generate_options& options) {
    const std::size_t wanted = options.max_new_tokens > std::numeric_limits<std::size_t>::max() - prompt.size()
                                   ? std::numeric_limits<std::size_t>::max()
                                   : prompt.size() + options.max_new_tokens;
    auto state = model.decoder(1, std::clamp<std::size_t>(wanted, 1, decoder<Net, T>::context));
    return generate(state, prompt, options);
}

}  // namespace lnfold
