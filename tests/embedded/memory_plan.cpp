// The memory plan of the example networks (docs/embedded.md): parameters, activations for a forward of a given
// batch (Model::activation_bytes, known before the first forward), and what training adds (gradient arena and the
// backward's buffers, measured after one step). Prints a Markdown table; exits 1 if a forward's buffers differ
// from its plan.
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include <lnfold/lnfold.hpp>

using namespace lnfold;

namespace {

namespace gpt {
constexpr std::size_t Vocab = 256, Context = 64, D = 128, Heads = 4, Layers = 4;
using Block = Seq<Residual<Seq<Named<"ln_1", LayerNorm<D>>, Named<"attn", SelfAttention<D, Heads, true>>>>,
                  Residual<Seq<Named<"ln_2", LayerNorm<D>>, Named<"c_fc", Linear<D, 4 * D>>, GELUTanh,
                               Named<"c_proj", Linear<4 * D, D>>>>>;
using Net = Seq<Named<"wte", Embedding<Vocab, D>>, Named<"wpe", PositionEmbedding<Context, D>>,
                Named<"h", Repeat<Layers, Block>>, Named<"ln_f", LayerNorm<D>>, Named<"lm_head", Linear<D, Vocab, false>>>;
}  // namespace gpt

namespace vit {
constexpr std::size_t D = 192, Heads = 3, Patch = 4, Image = 32, Tokens = (Image / Patch) * (Image / Patch) + 1;
using Block = Seq<Residual<Seq<Named<"layernorm_before", LayerNorm<D>>, Named<"attention", SelfAttention<D, Heads>>>>,
                  Residual<Seq<Named<"layernorm_after", LayerNorm<D>>, Named<"intermediate", Linear<D, 4 * D>>, GELU,
                               Named<"output", Linear<4 * D, D>>>>>;
using Net = Seq<Named<"patch_embeddings", Conv2d<3, D, Patch, Patch>>, Named<"cls_token", ClassToken<D>>,
                Named<"position_embeddings", PositionEmbedding<Tokens, D>>, Named<"layer", Repeat<4, Block>>,
                Named<"layernorm", LayerNorm<D>>, TakeToken<0>, Named<"classifier", Linear<D, 10>>>;
}  // namespace vit

using Mlp = Seq<Named<"fc1", Linear<784, 256>>, Named<"ln1", LayerNorm<256>>, ReLU, Named<"fc2", Linear<256, 128>>,
                Named<"ln2", LayerNorm<128>>, ReLU, Named<"head", Linear<128, 10>>>;

int failures = 0;

std::string kib(std::size_t bytes) {
    char text[32];
    std::snprintf(text, sizeof text, "%.1f", static_cast<double>(bytes) / 1024.0);
    return text;
}

// One row: the plan, then a forward and a training step to measure what they hold.
template <class Net, class Input>
void report(const char* name, const Layout& layout, const std::vector<Input>& input, std::size_t outputs_per_row) {
    Model<Net> model(1);
    const std::size_t planned = model.activation_bytes(layout).value();
    const tensor_view<float> y = model.forward(std::span<const Input>(input), layout);
    const model_memory inference = model.memory_report();
    if (inference.activations != planned || inference.gradients != 0) {
        std::printf("FAILED: %s: planned %zu activation bytes, the forward holds %zu\n", name, planned,
                    inference.activations);
        ++failures;
    }
    std::vector<float> dy(y.size(), 1.0f / static_cast<float>(y.size()));
    model.backward(std::span<const float>(dy));
    const model_memory training = model.memory_report();
    std::printf("| %s | %s | %s KiB | %s KiB | %s KiB | %s KiB |\n", name, layout.describe().c_str(),
                kib(inference.parameters).c_str(), kib(planned).c_str(), kib(inference.total()).c_str(),
                kib(training.gradients + training.backward).c_str());
    (void)outputs_per_row;
}

}  // namespace

int main() {
    std::printf("| network | input | parameters | activations (planned) | inference total | training adds |\n");
    std::printf("|---|---|---:|---:|---:|---:|\n");
    for (std::size_t batch : {1, 64})
        report<Mlp>("MLP 784-256-128-10", Layout::rows(batch), std::vector<float>(batch * 784, 0.5f), 10);
    for (std::size_t batch : {1, 8})
        report<vit::Net>("ViT (examples/vit)", Layout::image(batch, 32, 32), std::vector<float>(batch * 32 * 32 * 3, 0.5f),
                         10);
    for (std::size_t batch : {1, 4})
        report<gpt::Net>("GPT (examples/gpt)", Layout::sequence(batch, 64), std::vector<std::int32_t>(batch * 64, 3), 256);
    return failures == 0 ? 0 : 1;
}
