#pragma once
// Whole-network cases for the peer comparison with torch (bench/peer_models.py, scripts/bench_models.sh): each case
// is one lnfold model (one variant: LayerNorm, folded, no norm, CBWC twin) with its input, run one forward or one
// training step at a time through the C interface of bench/model_cases.cpp (liblnfold_model_cases).
//
// A case owns its input (token ids or float values, seeded), exposes its parameters by path (so the driver can copy
// them into the torch module of the same case and check that both compute the same function) and the output of
// its latest run (logits, or the loss of a training step).
//
// The cases live in several translation units (model_cases_gpt.cpp, model_cases_vit.cpp, model_cases_train.cpp),
// so that no one file instantiates every network.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <lnfold/lnfold.hpp>
#include <lnfold/train/loss.hpp>
#include <lnfold/train/optimizer.hpp>

#include "model_variants.hpp"

namespace lnfold_bench {

struct param_info {
    std::string path;
    float* data;
    std::size_t size;
    std::vector<std::size_t> shape;
};

struct case_base {
    virtual ~case_base() = default;
    virtual void run() = 0;  // one forward (inference) or one training step
    std::vector<param_info> params;

    // The input, as the driver builds the torch input from it: token ids (tokens non-empty) or float values.
    std::vector<std::int32_t> tokens, targets;
    std::vector<float> values;
    std::vector<std::size_t> input_shape;  // (batch, tokens), (batch, height, width, channels) NHWC, (batch, features)

    // The latest run: the output (rows x width floats, valid until the next run) and, for training, its loss.
    const float* out = nullptr;
    std::size_t out_rows = 0, out_width = 0;
    double loss = std::nan("");
};

using case_factory = std::unique_ptr<case_base> (*)(std::string_view variant);

struct case_entry {
    const char* name;
    const char* kind;      // "inference" or "training"
    const char* variants;  // comma-separated: ln, folded, none, cbwc
    const char* description;
    case_factory make;
};

// Each translation unit appends its cases.
void add_gpt_cases(std::vector<case_entry>& out);
void add_vit_cases(std::vector<case_entry>& out);
void add_train_cases(std::vector<case_entry>& out);

template <class M>
void collect_params(M& model, std::vector<param_info>& out) {
    out.clear();
    model.visit_parameters([&](auto p) {
        std::vector<std::size_t> shape(p.spec.shape.begin(), p.spec.shape.begin() + p.spec.rank);
        out.push_back({std::string(p.path), p.values.data(), p.values.size(), std::move(shape)});
    });
}

// Token ids in [0, vocab), seeded.
inline std::vector<std::int32_t> random_tokens(std::size_t n, std::size_t vocab, std::uint64_t seed) {
    lnfold::random_stream rng(seed);
    std::vector<std::int32_t> ids(n);
    for (auto& id : ids) id = static_cast<std::int32_t>(rng.below(vocab));
    return ids;
}

inline std::vector<float> random_values(std::size_t n, double lo, double hi, std::uint64_t seed) {
    lnfold::random_stream rng(seed);
    std::vector<float> v(n);
    for (auto& x : v) x = static_cast<float>(rng.uniform(lo, hi));
    return v;
}

// One model run forward on a fixed input. M is a Model<...>; it is held by pointer (a Model's move is a copy).
template <class M>
struct inference_case final : case_base {
    std::unique_ptr<M> model;
    lnfold::Layout layout;

    inference_case(std::unique_ptr<M> m, lnfold::Layout l) : model(std::move(m)), layout(l) { collect_params(*model, params); }

    void run() override {
        const lnfold::tensor_view<float> y = [&] {
            if constexpr (M::reads_tokens) return model->forward(std::span<const std::int32_t>(tokens), layout);
            else return model->forward(std::span<const float>(values), layout);
        }();
        out = y.data;
        out_width = y.width;
        out_rows = y.size() / y.width;
    }
};

// One training step: forward, softmax cross-entropy, zero_grad, backward, AdamW (lr 1e-3, betas 0.9 / 0.999,
// eps 1e-8, weight decay 0.01 on tensors of rank >= 2, as the torch side's two parameter groups).
template <class M>
struct training_case final : case_base {
    std::unique_ptr<M> model;
    lnfold::Layout layout;
    lnfold::AdamW<float> optimizer;
    std::vector<std::uint8_t> decay_mask;
    std::vector<float> grad;
    static constexpr double lr = 1e-3;

    training_case(std::unique_ptr<M> m, lnfold::Layout l)
        : model(std::move(m)), layout(l), optimizer(model->parameters().size(), {0.9, 0.999, 1e-8, 0.01}),
          decay_mask(lnfold::weight_decay_mask(*model)) {
        collect_params(*model, params);
    }

    void run() override {
        const lnfold::tensor_view<float> logits = [&] {
            if constexpr (M::reads_tokens) return model->forward(std::span<const std::int32_t>(tokens), layout);
            else return model->forward(std::span<const float>(values), layout);
        }();
        grad.resize(logits.size());
        loss = lnfold::softmax_cross_entropy(logits, std::span<const std::int32_t>(targets), std::span<float>(grad));
        out = logits.data;
        out_width = logits.width;
        out_rows = logits.size() / logits.width;
        model->zero_grad();
        model->backward(std::span<const float>(grad));
        optimizer.step(model->parameters(), model->gradients(), lr, std::span<const std::uint8_t>(decay_mask));
    }
};

// The three inference variants of a foldable network: ln (Model<Net>), folded (fold of that model: the same
// function), none (every LayerNorm removed, same seeded weights elsewhere: the ceiling). eps: every norm's eps.
// Foldable = false: no folded variant (it is not compiled).
template <class Net, bool Foldable = true>
std::unique_ptr<case_base> make_inference(std::string_view variant, lnfold::Layout layout, double eps = 1e-5) {
    using namespace lnfold;
    constexpr std::uint64_t seed = 1;
    if (variant == "ln") {
        auto m = std::make_unique<Model<Net>>(seed, init_scheme::pytorch);
        m->set_eps(eps);
        return std::make_unique<inference_case<Model<Net>>>(std::move(m), layout);
    }
    if (variant == "folded") {
        if constexpr (Foldable && foldable_count_v<Net> > 0) {
            std::unique_ptr<Model<folded_t<Net>>> f;
            {
                Model<Net> ln(seed, init_scheme::pytorch);
                ln.set_eps(eps);
                f.reset(new Model<folded_t<Net>>(fold(ln)));  // prvalue: no copy of the arenas
            }
            return std::make_unique<inference_case<Model<folded_t<Net>>>>(std::move(f), layout);
        } else {
            return nullptr;
        }
    }
    if (variant == "none") {
        auto m = std::make_unique<Model<without_norms_t<Net>>>(seed, init_scheme::pytorch);
        return std::make_unique<inference_case<Model<without_norms_t<Net>>>>(std::move(m), layout);
    }
    return nullptr;
}

}  // namespace lnfold_bench
