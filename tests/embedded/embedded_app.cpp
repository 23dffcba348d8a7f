// An app as an embedded user builds it (-fno-exceptions -fno-rtti -Os, any ISA): a GPT and an MLP forward after one
// warm-up call each, with every heap call of the process counted from then on (support/heap_counter.hpp).
//   embedded_app OUTPUT [REFERENCE]
// writes the two models' outputs to OUTPUT (one value per line, %.9e), and with REFERENCE (the same app's OUTPUT
// from another build, e.g. x86-64) compares them: each model's largest difference over its largest reference value
// must be at most 1e-5. Exit 0 when no heap call was made after warm-up and every comparison holds.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <vector>

#include "heap_counter.hpp"

#include <lnfold/lnfold.hpp>

using namespace lnfold;

namespace {

constexpr std::size_t Vocab = 256, Context = 64, D = 128, Heads = 4, Layers = 4;
using Block = Seq<Residual<Seq<Named<"ln_1", LayerNorm<D>>, Named<"attn", SelfAttention<D, Heads, /*Causal=*/true>>>>,
                  Residual<Seq<Named<"ln_2", LayerNorm<D>>, Named<"c_fc", Linear<D, 4 * D>>, GELUTanh,
                               Named<"c_proj", Linear<4 * D, D>>>>>;
using Gpt = Seq<Named<"wte", Embedding<Vocab, D>>, Named<"wpe", PositionEmbedding<Context, D>>,
                Named<"h", Repeat<Layers, Block>>, Named<"ln_f", LayerNorm<D>>,
                Named<"lm_head", Linear<D, Vocab, /*Bias=*/false>>>;
using Mlp = Seq<Named<"fc1", Linear<784, 256>>, Named<"ln1", LayerNorm<256>>, ReLU, Named<"fc2", Linear<256, 128>>,
                Named<"ln2", LayerNorm<128>>, ReLU, Named<"head", Linear<128, 10>>>;

struct run_result {
    std::vector<float> gpt, mlp;
    std::uint64_t heap_calls = 0;
};

run_result run_models() {
    Model<Gpt> gpt(/*seed=*/42, init_scheme::normal);
    Model<Mlp> mlp(/*seed=*/42);
    const std::size_t batch = 2, length = 48, images = 16;
    std::vector<std::int32_t> ids(batch * length);
    std::vector<float> pixels(images * 784);
    random_stream rng(7);
    for (auto& id : ids) id = static_cast<std::int32_t>(rng.below(Vocab));
    for (float& p : pixels) p = static_cast<float>(rng.uniform());
    const std::span<const std::int32_t> tokens(ids);
    const std::span<const float> features(pixels);

    gpt.forward(tokens, Layout::sequence(batch, length));  // warm-up: sizes every buffer
    mlp.forward(features, Layout::rows(images));
    run_result r;
    r.gpt.reserve(batch * length * Vocab);
    r.mlp.reserve(images * 10);
    const std::uint64_t before = heap_counter::calls();
    const tensor_view<float> logits = gpt.forward(tokens, Layout::sequence(batch, length));
    r.gpt.insert(r.gpt.end(), logits.data, logits.data + logits.size());
    const tensor_view<float> classes = mlp.forward(features, Layout::rows(images));
    r.mlp.insert(r.mlp.end(), classes.data, classes.data + classes.size());
    r.heap_calls = heap_counter::calls() - before;
    return r;
}

bool write_values(const char* path, const run_result& r) {
    std::FILE* f = std::fopen(path, "w");
    if (f == nullptr) return false;
    for (float v : r.gpt) std::fprintf(f, "%.9e\n", static_cast<double>(v));
    for (float v : r.mlp) std::fprintf(f, "%.9e\n", static_cast<double>(v));
    return std::fclose(f) == 0;
}

// Largest |value - reference| over largest |reference| of one model's outputs (those at `offset`).
double relative_difference(const std::vector<float>& values, const std::vector<double>& reference, std::size_t offset) {
    double largest = 0, difference = 0;
    for (std::size_t i = 0; i < values.size(); ++i) {
        const double ref = reference[offset + i];
        largest = std::fmax(largest, std::fabs(ref));
        const double d = std::fabs(static_cast<double>(values[i]) - ref);
        difference = std::isnan(d) ? INFINITY : std::fmax(difference, d);
    }
    return difference / largest;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2 || argc > 3) {
        std::fprintf(stderr, "usage: embedded_app OUTPUT [REFERENCE]\n");
        return 2;
    }
    const run_result r = run_models();
    std::printf("embedded_app: %s, GEMM on %s; heap calls after warm-up: %llu\n", build_summary().c_str(),
                kernels::gemm_backend_name(), static_cast<unsigned long long>(r.heap_calls));
    if (!write_values(argv[1], r)) {
        std::fprintf(stderr, "embedded_app: cannot write %s\n", argv[1]);
        return 2;
    }
    bool ok = r.heap_calls == 0;
    if (argc == 3) {
        std::vector<double> reference;
        std::FILE* f = std::fopen(argv[2], "r");
        double v = 0;
        while (f != nullptr && std::fscanf(f, "%lf", &v) == 1) reference.push_back(v);
        if (f != nullptr) std::fclose(f);
        if (reference.size() != r.gpt.size() + r.mlp.size()) {
            std::fprintf(stderr, "embedded_app: %s holds %zu values, expected %zu\n", argv[2], reference.size(),
                         r.gpt.size() + r.mlp.size());
            return 1;
        }
        const double gpt = relative_difference(r.gpt, reference, 0);
        const double mlp = relative_difference(r.mlp, reference, r.gpt.size());
        std::printf("embedded_app: against %s: GPT %.3g, MLP %.3g (largest difference / largest value; limit 1e-5)\n",
                    argv[2], gpt, mlp);
        ok = ok && gpt <= 1e-5 && mlp <= 1e-5;
    }
    std::printf("embedded_app: %s\n", ok ? "OK" : "FAILED");
    return ok ? 0 : 1;
}
