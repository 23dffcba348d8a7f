// A small Vision Transformer: 4x4 patches of a 32x32 RGB image, class token, 4 Pre-LN blocks, linear head.
#include <vector>

#include <lnfold/lnfold.hpp>

#include "example_report.hpp"
#include "timing.hpp"

using namespace lnfold;

constexpr std::size_t D = 192, Heads = 3, Patch = 4, Image = 32, Tokens = (Image / Patch) * (Image / Patch) + 1;

using Block = Seq<Residual<Seq<Named<"layernorm_before", LayerNorm<D>>, Named<"attention", SelfAttention<D, Heads>>>>,
                  Residual<Seq<Named<"layernorm_after", LayerNorm<D>>, Named<"intermediate", Linear<D, 4 * D>>, GELU,
                               Named<"output", Linear<4 * D, D>>>>>;
using Vit = Seq<Named<"patch_embeddings", Conv2d<3, D, Patch, Patch>>,  // NHWC image -> one row per patch
                Named<"cls_token", ClassToken<D>>, Named<"position_embeddings", PositionEmbedding<Tokens, D>>,
                Named<"layer", Repeat<4, Block>>, Named<"layernorm", LayerNorm<D>>, TakeToken<0>,
                Named<"classifier", Linear<D, 10>>>;

int main() {
    Model<Vit> model(/*seed=*/42, init_scheme::normal);
    const std::size_t batch = 8;
    std::vector<float> images(batch * Image * Image * 3);
    random_stream rng(7);
    for (float& p : images) p = static_cast<float>(rng.uniform(-1, 1));

    tensor_view<float> logits;
    model.forward(std::span<const float>(images), Layout::image(batch, Image, Image));
    const double ms =
        time_ms([&] { logits = model.forward(std::span<const float>(images), Layout::image(batch, Image, Image)); });
    print_report("vit", model, logits, ms);
}
