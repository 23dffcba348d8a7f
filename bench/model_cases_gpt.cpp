// Decoder cases (GPT-2 style, Pre-LN, causal): every LayerNorm foldable, variants ln, folded, none.
#include "model_cases.hpp"

#include <lnfold/models/gpt2.hpp>

namespace lnfold_bench {
namespace {

using namespace lnfold;

template <class Net>
std::unique_ptr<case_base> gpt_case(std::string_view variant, std::size_t batch, std::size_t tokens, std::size_t vocab) {
    auto c = make_inference<Net>(variant, Layout::sequence(batch, tokens));
    if (c) {
        c->tokens = random_tokens(batch * tokens, vocab, 7);
        c->input_shape = {batch, tokens};
    }
    return c;
}

using GptD768 = Gpt<768, 12, 4, 8192, 128>;  // GPT-2 small widths, 4 layers, vocabulary 8192, untied head
using GptD256 = Gpt<256, 4, 4, 512, 128>;    // examples/fold_report's GPT
using Gpt2S = models::Gpt2Small<>;           // 12 layers, d 768, vocabulary 50257, context 1024, head tied to wte

}  // namespace

void add_gpt_cases(std::vector<case_entry>& out) {
    out.push_back({"gpt_d768_l4", "inference", "ln,folded,none",
                   "GPT-2-style decoder d=768, 12 heads, 4 layers, vocab 8192, 128 tokens, batch 1",
                   [](std::string_view v) { return gpt_case<GptD768>(v, 1, 128, 8192); }});
    out.push_back({"gpt2_small_t256", "inference", "ln,folded,none",
                   "GPT-2 small (12 layers, d 768, 12 heads, vocab 50257, tied head), 256 tokens, batch 1",
                   [](std::string_view v) { return gpt_case<Gpt2S>(v, 1, 256, 50257); }});
    out.push_back({"gpt2_small_t1024", "inference", "ln,folded,none",
                   "GPT-2 small (12 layers, d 768, 12 heads, vocab 50257, tied head), 1024 tokens, batch 1",
                   [](std::string_view v) { return gpt_case<Gpt2S>(v, 1, 1024, 50257); }});
    out.push_back({"gpt_d256_l4", "inference", "ln,folded,none",
                   "GPT decoder d=256, 4 heads, 4 layers, vocab 512, 128 tokens, batch 1",
                   [](std::string_view v) { return gpt_case<GptD256>(v, 1, 128, 512); }});
}

}  // namespace lnfold_bench
