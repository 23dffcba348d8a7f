// A 3-layer MLP with a LayerNorm after each hidden Linear, on a batch of 28x28 "images" as feature rows.
#include <vector>

#include <lnfold/lnfold.hpp>

#include "example_report.hpp"
#include "timing.hpp"

using namespace lnfold;

using Mlp = Seq<Named<"fc1", Linear<784, 256>>, Named<"ln1", LayerNorm<256>>, ReLU,
                Named<"fc2", Linear<256, 128>>, Named<"ln2", LayerNorm<128>>, ReLU,
                Named<"head", Linear<128, 10>>>;

int main() {
    Model<Mlp> model(/*seed=*/42);
    const std::size_t batch = 64;
    std::vector<float> pixels(batch * 784);
    random_stream rng(7);
    for (float& p : pixels) p = static_cast<float>(rng.uniform());

    tensor_view<float> logits;
    model.forward(std::span<const float>(pixels), Layout::rows(batch));  // warm-up: sizes the caches
    const double ms = time_ms([&] { logits = model.forward(std::span<const float>(pixels), Layout::rows(batch)); });
    print_report("mlp", model, logits, ms);
}
