// The path of examples/train and examples/generate on a trained model: the char GPT (examples/train_models.hpp)
// trained briefly on the fortunes corpus (Debian package fortunes), saved under GPT-2's names and loaded back
// bit for bit, then folded: the folded model generates the same 200 greedy tokens, with logits within float
// rounding of the LayerNorm model's at every step.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <vector>

#include "catch.hpp"
#include "require_error.hpp"
#include "scratch_directory.hpp"

#include <lnfold/data/text_corpus.hpp>
#include <lnfold/lnfold.hpp>
#include <lnfold/train/loss.hpp>
#include <lnfold/train/optimizer.hpp>

#include "../../examples/train_models.hpp"

using namespace lnfold;
using train_models::Gpt;

namespace {

// 150 AdamW steps of 16 windows of 64 bytes: enough for the model to prefer letters and spaces (a loss near 2.6
// nats, from 5.5), so that greedy decoding follows a trained distribution rather than noise.
Model<Gpt, float> trained_char_gpt() {
    const data::text_corpus corpus = data::load_fortunes();
    std::vector<std::int32_t> text;
    for (const char c : corpus.text) text.push_back(static_cast<unsigned char>(c));
    Model<Gpt, float> model(1, init_scheme::pytorch);
    AdamW<float> optimizer(model.parameters().size());
    random_stream rng(5);
    const std::size_t batch = 16, context = train_models::GptContext;
    std::vector<std::int32_t> x(batch * context), y(batch * context);
    std::vector<float> grad;
    double first = 0, last = 0;
    for (int step = 0; step < 150; ++step) {
        for (std::size_t b = 0; b < batch; ++b) {
            const std::size_t start = rng.below(text.size() - context - 1);
            std::copy_n(text.begin() + static_cast<std::ptrdiff_t>(start), context, x.begin() + static_cast<std::ptrdiff_t>(b * context));
            std::copy_n(text.begin() + static_cast<std::ptrdiff_t>(start + 1), context, y.begin() + static_cast<std::ptrdiff_t>(b * context));
        }
        const auto logits = model.forward(std::span<const std::int32_t>(x), Layout::sequence(batch, context));
        grad.resize(logits.size());
        last = softmax_cross_entropy(logits, std::span<const std::int32_t>(y), std::span<float>(grad));
        if (step == 0) first = last;
        model.zero_grad();
        model.backward(std::span<const float>(grad));
        optimizer.step(model.parameters(), model.gradients(), 3e-3);
    }
    REQUIRE(last < first - 2);  // it did train
    return model;
}

std::int32_t argmax(std::span<const float> row) {
    return static_cast<std::int32_t>(std::max_element(row.begin(), row.end()) - row.begin());
}

}  // namespace

TEST_CASE("a trained char GPT: saved and loaded bit for bit, and its folded twin generates the same text", "[generate]") {
    const Model<Gpt, float> model = trained_char_gpt();

    // Save -> load under GPT-2's names (what train --save and generate do).
    const lnfold_test::scratch_directory dir("lnfold-generate");
    const std::string file = dir.path() + "/char_gpt.safetensors";
    io::save(model, file, train_models::char_gpt_save_options());
    const io::safetensors_file saved = io::safetensors_file::open(file);
    CHECK(saved.find("h.1.attn.c_attn.weight") != nullptr);
    CHECK(saved.find("h.0.mlp.c_fc.weight") != nullptr);
    Model<Gpt, float> loaded(uninitialized);
    io::load(loaded, file, train_models::char_gpt_load_options());
    REQUIRE(std::memcmp(loaded.parameters().data(), model.parameters().data(), Model<Gpt, float>::arena_size * sizeof(float)) == 0);

    // The wrong architecture: the message names the tensor.
    using OneBlock = Seq<Named<"wte", Embedding<256, 64>>, Named<"wpe", PositionEmbedding<64, 64>>,
                         Named<"h", Repeat<1, train_models::GptBlock>>, Named<"ln_f", LayerNorm<64>>,
                         Named<"lm_head", Linear<64, 256, false>>>;
    Model<OneBlock, float> shallower(uninitialized);
    require_error<io_error>([&] { io::load(shallower, file, train_models::char_gpt_load_options()); },
                            {"unexpected", "h.1."});
    using Wider = Seq<Named<"wte", Embedding<256, 32>>, Named<"wpe", PositionEmbedding<64, 32>>>;
    Model<Wider, float> wider(uninitialized);
    io::load_options loose = train_models::char_gpt_load_options();
    loose.strict = false;
    require_error<io_error>([&] { io::load(wider, file, loose); }, {"wte.weight", "(256, 32)", "(256, 64)"});

    // Fold, then 200 greedy tokens from both (the window restarts from the latest 32 bytes when the 64 are full).
    const auto folded = fold(loaded);
    auto original = loaded.decoder(1, train_models::GptContext);
    auto cheaper = folded.decoder(1, train_models::GptContext);
    std::vector<std::int32_t> text;
    for (const char c : std::string("The ")) text.push_back(static_cast<unsigned char>(c));
    original.prefill(text);
    cheaper.prefill(text);
    double worst = 0;
    std::size_t agree = 0;
    for (int n = 0; n < 200; ++n) {
        const auto a = original.last_logits(0), b = cheaper.last_logits(0);
        double largest = 0, difference = 0;
        for (std::size_t i = 0; i < a.size(); ++i) {
            largest = std::max(largest, std::abs(double(a[i])));
            difference = std::max(difference, std::abs(double(a[i]) - double(b[i])));
        }
        worst = std::max(worst, difference / largest);
        const std::int32_t next = argmax(a);
        agree += next == argmax(b);
        text.push_back(next);
        if (original.length(0) < train_models::GptContext) {
            original.step(std::span<const std::int32_t>(&text.back(), 1));
            cheaper.step(std::span<const std::int32_t>(&text.back(), 1));
        } else {
            original.reset();
            cheaper.reset();
            original.prefill(std::span<const std::int32_t>(text).last(32));
            cheaper.prefill(std::span<const std::int32_t>(text).last(32));
        }
    }
    CHECK(agree == 200);
    CHECK(worst < 2e-5);  // the fold's float rounding (fold tests: a few 1e-6 of the largest logit)
    INFO("largest logit difference, relative: " << worst);
    std::size_t letters = 0;
    for (std::size_t i = 4; i < text.size(); ++i) letters += std::isalpha(text[i]) || text[i] == ' ';
    CHECK(letters > 100);  // it writes mostly letters and spaces, as the corpus does
}
