// Whole-model effect of the norm work : batch 1, forward only, float, for a small
// GPT and a GPT-2-small-like one, with 1 and 2 threads. Variants, interleaved round-robin (the starting variant
// rotates every round):
//   none           norms removed (without_norms_t): the ceiling
//   scalar_ln      the pre-kernel scalar LayerNorm (with_scalar_ln_t), adds separate
//   ln             LayerNorm on the kernels, adds separate (Model::set_fused_add_norm(false))
//   ln_fused       LayerNorm on the kernels, add + norm fused (the default)
//   folded         fold(model): RMSNorm with bias on the kernels, adds separate
//   folded_fused   fold(model), add + norm fused (the default)
// Prints CSV on stdout: model,threads,variant,rounds,min_ms,median_ms (and '#' comment lines: the build, and the
// largest difference between the LayerNorm model's and the folded model's logits).
//   bench_models [--rounds N] [--threads 1,2] [--model small|gpt2|all]
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include <lnfold/lnfold.hpp>

#include "model_variants.hpp"

#if LNFOLD_HAS_OPENMP
#include <omp.h>
#endif

#ifndef LNFOLD_BENCH_FLAGS
#define LNFOLD_BENCH_FLAGS "(unknown)"
#endif

namespace {

using namespace lnfold;
using lnfold_bench::Gpt;

struct variant {
    const char* name;
    std::function<void()> forward;
};

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    const std::size_t n = v.size();
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

void set_threads(int threads) {
#if LNFOLD_HAS_OPENMP
    omp_set_num_threads(threads);
#else
    (void)threads;
#endif
}

template <class Net, std::size_t Vocab, std::size_t Context>
void run_model(const char* label, const std::vector<int>& thread_counts, int rounds) {
    // PyTorch's default initialisation keeps the activations of the norm-free model O(1), like those of the
    // others (with GPT-2's N(0, 0.02) they would be ~100x smaller, and GELU's std::tanh is faster on small
    // arguments: a "ceiling" 20% below the others that has nothing to do with the norms).
    Model<Net> ln(1, init_scheme::pytorch);
    Model<lnfold_bench::without_norms_t<Net>> none(1, init_scheme::pytorch);
    Model<lnfold_bench::with_scalar_ln_t<Net>> scalar(1, init_scheme::pytorch);
    auto folded = fold(ln);
    Model<Net> ln_unfused = ln;
    ln_unfused.set_fused_add_norm(false);
    auto folded_unfused = folded;
    folded_unfused.set_fused_add_norm(false);

    std::vector<std::int32_t> ids(Context);
    random_stream rng(7);
    for (auto& id : ids) id = static_cast<std::int32_t>(rng.below(Vocab));
    const std::span<const std::int32_t> input(ids);
    const Layout layout = Layout::sequence(1, Context);

    {  // the folded model computes the same function
        const auto a = ln.forward(input, layout);
        const auto b = folded.forward(input, layout);
        double worst = 0, scale = 0;
        for (std::size_t i = 0; i < a.size(); ++i) {
            worst = std::max(worst, double(std::fabs(a.data[i] - b.data[i])));
            scale = std::max(scale, double(std::fabs(a.data[i])));
        }
        std::printf("# %s: max |logits(LN) - logits(folded)| = %.3g (max |logit| %.3g)\n", label, worst, scale);
    }

    std::vector<variant> variants{
        {"none", [&] { none.forward(input, layout); }},
        {"scalar_ln", [&] { scalar.forward(input, layout); }},
        {"ln", [&] { ln_unfused.forward(input, layout); }},
        {"ln_fused", [&] { ln.forward(input, layout); }},
        {"folded", [&] { folded_unfused.forward(input, layout); }},
        {"folded_fused", [&] { folded.forward(input, layout); }},
    };
    for (int threads : thread_counts) {
        set_threads(threads);
        for (auto& v : variants) v.forward();  // warm-up: buffers sized, caches touched
        std::vector<std::vector<double>> ms(variants.size());
        for (int r = 0; r < rounds; ++r)
            for (std::size_t k = 0; k < variants.size(); ++k) {
                const std::size_t i = (k + static_cast<std::size_t>(r)) % variants.size();
                const auto start = std::chrono::steady_clock::now();
                variants[i].forward();
                ms[i].push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
            }
        for (std::size_t i = 0; i < variants.size(); ++i)
            std::printf("%s,%d,%s,%d,%.4f,%.4f\n", label, threads, variants[i].name, rounds,
                        *std::min_element(ms[i].begin(), ms[i].end()), median(ms[i]));
        std::fflush(stdout);
    }
}

std::vector<int> parse_threads(const char* s) {
    std::vector<int> t;
    for (const char* p = s; *p;) {
        t.push_back(std::max(1, std::atoi(p)));
        while (*p && *p != ',') ++p;
        if (*p == ',') ++p;
    }
    return t;
}

}  // namespace

int main(int argc, char** argv) {
    int rounds = 30;
    std::vector<int> threads{1, 2};
    std::string which = "all";
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!std::strcmp(argv[i], "--rounds")) rounds = std::max(1, std::atoi(argv[i + 1]));
        else if (!std::strcmp(argv[i], "--threads")) threads = parse_threads(argv[i + 1]);
        else if (!std::strcmp(argv[i], "--model")) which = argv[i + 1];
    }
    std::printf("# %s, flags: %s\n", lnfold::build_summary().c_str(), LNFOLD_BENCH_FLAGS);
    std::printf("model,threads,variant,rounds,min_ms,median_ms\n");
    // small: d = 256, 4 heads, 4 layers, vocabulary 512, 128 tokens (examples/fold_report's GPT)
    if (which == "all" || which == "small") run_model<Gpt<256, 4, 4, 512, 128>, 512, 128>("gpt_d256_l4", threads, rounds);
    // GPT-2 small widths (d = 768, 12 heads, MLP 3072), 4 of its 12 layers, vocabulary 8192, 128 tokens
    if (which == "all" || which == "gpt2")
        run_model<Gpt<768, 12, 4, 8192, 128>, 8192, 128>("gpt2_d768_l4", threads, rounds);
    return 0;
}
