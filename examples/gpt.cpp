// A GPT-style Pre-LN Transformer (GPT-2 names), run on a batch of token ids.
#include <cstdint>
#include <vector>

#include <lnfold/lnfold.hpp>

#include "example_report.hpp"
#include "timing.hpp"

using namespace lnfold;

constexpr std::size_t Vocab = 256, Context = 64, D = 128, Heads = 4, Layers = 4;

using Block = Seq<Residual<Seq<Named<"ln_1", LayerNorm<D>>, Named<"attn", SelfAttention<D, Heads, /*Causal=*/true>>>>,
                  Residual<Seq<Named<"ln_2", LayerNorm<D>>, Named<"c_fc", Linear<D, 4 * D>>, GELUTanh,
                               Named<"c_proj", Linear<4 * D, D>>>>>;
using Gpt = Seq<Named<"wte", Embedding<Vocab, D>>, Named<"wpe", PositionEmbedding<Context, D>>,
                Named<"h", Repeat<Layers, Block>>, Named<"ln_f", LayerNorm<D>>,
                Named<"lm_head", Linear<D, Vocab, /*Bias=*/false>>>;

int main() {
    Model<Gpt> model(/*seed=*/42, init_scheme::normal);
    const std::size_t batch = 4, length = 48;  // any length up to Context
    std::vector<std::int32_t> ids(batch * length);
    random_stream rng(7);
    for (auto& id : ids) id = static_cast<std::int32_t>(rng.below(Vocab));

    tensor_view<float> logits;
    model.forward(std::span<const std::int32_t>(ids), Layout::sequence(batch, length));
    const double ms = time_ms(
        [&] { logits = model.forward(std::span<const std::int32_t>(ids), Layout::sequence(batch, length)); });
    print_report("gpt", model, logits, ms);
}
