// Training-step cases: the networks of examples/train (train_models.hpp), with LayerNorm (ln) and as the
// CBWC + RMSNorm twin (cbwc: cbwc_t<Net>, same parameter paths and starting values, trains like the LN model).
#include "model_cases.hpp"

#include <lnfold/train/cbwc.hpp>

#include "../examples/train_models.hpp"

namespace lnfold_bench {
namespace {

using namespace lnfold;

template <class Net>
std::unique_ptr<case_base> train_case(std::string_view variant, Layout layout) {
    constexpr std::uint64_t seed = 1;
    if (variant == "ln")
        return std::make_unique<training_case<Model<Net>>>(std::make_unique<Model<Net>>(seed, init_scheme::pytorch), layout);
    if (variant == "cbwc")
        return std::make_unique<training_case<Model<cbwc_t<Net>>>>(
            std::make_unique<Model<cbwc_t<Net>>>(seed, init_scheme::pytorch), layout);
    return nullptr;
}

}  // namespace

void add_train_cases(std::vector<case_entry>& out) {
    out.push_back({"mlp_train", "training", "ln,cbwc",
                   "Fashion-MNIST MLP (784-256-LN-ReLU-128-LN-ReLU-10) training step, batch 64 (random pixels and labels)",
                   [](std::string_view v) {
                       constexpr std::size_t batch = 64;
                       auto c = train_case<train_models::Mlp>(v, Layout::rows(batch));
                       if (c) {
                           c->values = random_values(batch * 784, 0.0, 1.0, 7);
                           c->targets = random_tokens(batch, 10, 8);
                           c->input_shape = {batch, 784};
                       }
                       return c;
                   }});
    out.push_back({"chargpt_train", "training", "ln,cbwc",
                   "char GPT of examples/train (d 64, 4 heads, 2 layers, vocab 256) training step, batch 64 x 64 tokens",
                   [](std::string_view v) {
                       constexpr std::size_t batch = 64, context = train_models::GptContext;
                       auto c = train_case<train_models::Gpt>(v, Layout::sequence(batch, context));
                       if (c) {
                           c->tokens = random_tokens(batch * context, train_models::GptVocab, 7);
                           c->targets = random_tokens(batch * context, train_models::GptVocab, 8);
                           c->input_shape = {batch, context};
                       }
                       return c;
                   }});
}

}  // namespace lnfold_bench
