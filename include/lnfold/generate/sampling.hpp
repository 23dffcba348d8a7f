#pragma once
// Token sampling for text generation: one token id from one row of logits z (vocabulary V), given the ids so far.
//
// sampler::choose applies, in this order (all arithmetic in double, whatever the logits' type):
//   1. Repetition penalty ρ (CTRL, Keskar et al. 2019, as Hugging Face's RepetitionPenaltyLogitsProcessor), once
//      per distinct id t in the history:  z_t <- z_t / ρ if z_t > 0,  z_t * ρ otherwise.  ρ = 1 is off.
//   2. Temperature τ = 0: greedy, argmax_t z_t (the lowest id on ties); steps 3-7 are skipped and nothing is drawn.
//   3. Otherwise the logits are scaled, z_t / τ.
//   4. Top-k: only the k largest logits are kept (all when k >= V; on ties at the k-th value, the lowest ids, so
//      exactly k are kept). They are selected on z, which dividing by τ > 0 does not reorder.
//   5. Softmax over the kept set K, shifted by the largest logit m = max_t z_t (which K always holds):
//        w_t = exp((z_t - m) / τ)  (w_t = 1 where z_t = m, which also covers m = +inf),   p_t = w_t / Σ_{s∈K} w_s.
//      -inf logits get w = 0; with +inf logits, the +inf tokens share all the probability equally.
//   6. Top-p (nucleus): K is ordered by descending p (ties: lower id first) and cut to its shortest prefix N with
//        Σ_{t∈N} p_t >= top_p,
//      which holds at least one token and never a token of probability 0. top_p = 1 is off (every token of
//      positive probability stays); then K keeps that order when top-k chose it, and is in id order otherwise
//      (the whole vocabulary: nothing to sort).
//   7. One u = uniform() in [0, 1) from random_stream(seed) (the stream runs on across calls, so samplers with equal
//      options and seed give equal sequences), and the token is the first t of N, in the order of step 6, with
//        u * Σ_{s∈N} w_s < Σ_{s∈N, s up to t} w_s,
//      i.e. drawn with probability w_t / Σ_{s∈N} w_s (renormalised over N). Portable: no std:: distributions.
//
// The constructor allocates all the work space (a few arrays of V entries); choose() allocates nothing (except
// for the message of an error it raises).
#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "lnfold/core/error.hpp"
#include "lnfold/core/random.hpp"

namespace lnfold {

struct sampling_options {
    double temperature = 1.0;           // τ >= 0, finite; 0 = greedy (argmax, lowest id on ties)
    std::optional<std::size_t> top_k;   // keep the k largest logits; nullopt = off; 0 is an error
    double top_p = 1.0;                 // nucleus: smallest set of most likely tokens with probability >= top_p;
                                        // in (0, 1]; 1 = off
    double repetition_penalty = 1.0;    // ρ > 0, finite, on every id already in the history; 1 = off
    std::uint64_t seed = 0;             // of the random_stream that draws one u per sampled token
};

namespace detail {
// The shortest text that reads back as v ("1.5", "-1", "nan", "inf").
inline std::string sampling_option_text(double v) {
    char text[32];
    return std::string(text, std::to_chars(text, text + sizeof text, v).ptr);
}
}  // namespace detail

// The first invalid option, as a config_error status that names it and says expected vs actual; ok when all are valid.
inline status check(const sampling_options& options) {
    const auto bad = [](const char* expectation, double actual) {
        return status::of<config_error>(std::string("lnfold: sampling_options: ") + expectation + ", got " +
                                        detail::sampling_option_text(actual));
    };
    if (!(options.temperature >= 0) || !std::isfinite(options.temperature))
        return bad("temperature must be finite and >= 0 (0 = greedy)", options.temperature);
    if (options.top_k && *options.top_k == 0)
        return status::of<config_error>("lnfold: sampling_options: top_k must be at least 1, got 0");
    if (!(options.top_p > 0 && options.top_p <= 1)) return bad("top_p must be in (0, 1]", options.top_p);
    if (!(options.repetition_penalty > 0) || !std::isfinite(options.repetition_penalty))
        return bad("repetition_penalty must be finite and > 0", options.repetition_penalty);
    return {};
}

// Chooses token ids from rows of logits of type T (float or double) over a fixed vocabulary, by the rules above.
template <class T>
class sampler {
    static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>, "sampler: logits are float or double");

public:
    // Raises check(options)'s config_error; a config_error too for a vocabulary of 0 or one too large for
    // std::int32_t ids.
    explicit sampler(const sampling_options& options, std::size_t vocabulary)
        : options_(options), stream_(options.seed), vocabulary_(checked_vocabulary(options, vocabulary)),
          logits_(vocabulary), weights_(vocabulary), order_(vocabulary), in_history_(vocabulary) {}

    // One token id in [0, vocabulary) from one row of `logits` (vocabulary values); `history` holds the ids so far
    // (prompt and generated), for the repetition penalty. Raises shape_error when logits.size() != vocabulary,
    // index_error for a history id outside [0, vocabulary), config_error for a NaN logit or when every logit is
    // -inf after the penalty; each before any state changes (no u is drawn).
    std::int32_t choose(std::span<const T> logits, std::span<const std::int32_t> history) {
        check_input(logits, history);
        const double max_logit = penalise(logits, history);
        if (options_.temperature == 0) return greedy();

        std::size_t kept = vocabulary_;
        for (std::size_t t = 0; t < vocabulary_; ++t) order_[t] = static_cast<std::int32_t>(t);
        if (options_.top_k && *options_.top_k < vocabulary_) {
            kept = *options_.top_k;
            std::nth_element(order_.begin(), order_.begin() + static_cast<std::ptrdiff_t>(kept - 1), order_.end(),
                             [&](std::int32_t a, std::int32_t b) { return ranks_before(logits_, a, b); });
        }
        const auto kept_tokens = std::span<std::int32_t>(order_).first(kept);
        for (const std::int32_t t : kept_tokens) {
            const double z = logits_[index(t)];
            weights_[index(t)] = z == max_logit ? 1.0 : std::exp((z - max_logit) / options_.temperature);
        }
        // The nucleus needs the descending order; so does a top-k set, which nth_element leaves in an order that
        // depends on the standard library. With neither, the whole vocabulary stays in id order: no sort of V ids
        // per token (about 3 ms for GPT-2's 50257), the same distribution.
        if (options_.top_p < 1 || kept < vocabulary_)
            std::sort(kept_tokens.begin(), kept_tokens.end(),
                      [&](std::int32_t a, std::int32_t b) { return ranks_before(weights_, a, b); });

        // Nucleus: the threshold is > 0, and the running sum in this order reaches the total (>= top_p * total) at the
        // last token of positive weight, so the cut keeps at least one token and none of weight 0.
        double total = 0;
        for (const std::int32_t t : kept_tokens) total += weights_[index(t)];
        const double nucleus_threshold = options_.top_p * total;
        std::size_t nucleus = 0;
        double nucleus_total = 0;
        while (nucleus_total < nucleus_threshold) nucleus_total += weights_[index(kept_tokens[nucleus++])];

        // The same running sums again, so the last token of the nucleus is reached exactly when the others fail.
        const double target = stream_.uniform() * nucleus_total;
        double running = 0;
        for (std::size_t i = 0; i + 1 < nucleus; ++i) {
            running += weights_[index(kept_tokens[i])];
            if (target < running) return kept_tokens[i];
        }
        return kept_tokens[nucleus - 1];
    }

    const sampling_options& options() const { return options_; }

private:
    static std::size_t checked_vocabulary(const sampling_options& options, std::size_t vocabulary) {
        check(options).raise_if_error();
        constexpr auto largest = static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max()) + 1;
        if (vocabulary == 0 || vocabulary > largest)
            raise<config_error>("lnfold: sampler: vocabulary must be in [1, " + std::to_string(largest) +
                                "] (ids are std::int32_t), got " + std::to_string(vocabulary));
        return vocabulary;
    }

    static std::size_t index(std::int32_t token) { return static_cast<std::size_t>(token); }

    // Descending value, then ascending id: the order of top-k's selection and of the nucleus.
    static bool ranks_before(const std::vector<double>& value, std::int32_t a, std::int32_t b) {
        const double va = value[index(a)], vb = value[index(b)];
        return va > vb || (va == vb && a < b);
    }

    void check_input(std::span<const T> logits, std::span<const std::int32_t> history) const {
        if (logits.size() != vocabulary_)
            raise<shape_error>("lnfold: sampler: expected " + std::to_string(vocabulary_) +
                               " logits (one per vocabulary entry), got " + std::to_string(logits.size()));
        for (std::size_t t = 0; t < vocabulary_; ++t)
            if (std::isnan(logits[t])) raise<config_error>("lnfold: sampler: logit " + std::to_string(t) + " is NaN");
        for (std::size_t i = 0; i < history.size(); ++i)
            if (history[i] < 0 || index(history[i]) >= vocabulary_)
                raise<index_error>("lnfold: sampler: history id " + std::to_string(history[i]) + " at position " +
                                   std::to_string(i) + " is outside the vocabulary [0, " + std::to_string(vocabulary_) +
                                   ")");
    }

    // logits_ = the logits with the repetition penalty applied once per distinct history id; returns their maximum.
    double penalise(std::span<const T> logits, std::span<const std::int32_t> history) {
        for (std::size_t t = 0; t < vocabulary_; ++t) logits_[t] = static_cast<double>(logits[t]);
        const double penalty = options_.repetition_penalty;
        if (penalty != 1) {
            for (const std::int32_t t : history) {
                if (in_history_[index(t)]) continue;
                in_history_[index(t)] = 1;
                double& z = logits_[index(t)];
                z = z > 0 ? z / penalty : z * penalty;
            }
            for (const std::int32_t t : history) in_history_[index(t)] = 0;
        }
        const double max_logit = *std::max_element(logits_.begin(), logits_.end());
        if (max_logit == -std::numeric_limits<double>::infinity())
            raise<config_error>("lnfold: sampler: every logit is -inf (after the repetition penalty), no token can be chosen");
        return max_logit;
    }

    // The first id of the largest penalised logit.
    std::int32_t greedy() const {
        return static_cast<std::int32_t>(std::max_element(logits_.begin(), logits_.end()) - logits_.begin());
    }

    sampling_options options_;
    random_stream stream_;
    std::size_t vocabulary_;
    std::vector<double> logits_;               // penalised logits, by id
    std::vector<double> weights_;              // w_t = exp((z_t - m) / τ), by id, for the kept ids
    std::vector<std::int32_t> order_;          // ids; the first ones are the kept set, in the nucleus order
    std::vector<unsigned char> in_history_;    // marks of the ids already penalised in this call (all 0 between calls)
};

}  // namespace lnfold
