// Generation speed of lnfold (scripts/bench_generate.sh runs it beside bench/peer_generate.py, torch doing the same):
// one prefill of a prompt, then greedy decoding steps with the key/value cache, timed separately, round after round
// on one decoder (reset between rounds). Random weights (N(0, 0.02)): the cost of a step does not depend on them.
//   bench_generate --model gpt2|char --variant ln|folded --prompt P --tokens N --rounds R [--threads T]
// Prints one CSV line per round: peer,model,variant,threads,batch,prompt,tokens,prefill_ms,decode_ms
// (decode_ms: the N decoding steps, each one token; the argmax over the logits is included, as in the peer).
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string>
#include <vector>

#include <lnfold/lnfold.hpp>
#include <lnfold/models/gpt2.hpp>

using namespace lnfold;

namespace {

struct options {
    std::string model = "gpt2", variant = "ln";
    std::size_t prompt = 128, tokens = 128, rounds = 5, threads = 0;
};

// The char GPT of examples/train (train_models::Gpt): 2 blocks, width 64, 4 heads, 256 bytes, 64 positions.
using CharGpt = models::Gpt2<2, 64, 4, 256, 64>;

std::int32_t argmax(std::span<const float> row) {
    return static_cast<std::int32_t>(std::max_element(row.begin(), row.end()) - row.begin());
}

template <class Net>
void bench(const Model<Net, float>& model, const options& o, int threads) {
    using clock = std::chrono::steady_clock;
    auto state = model.decoder(1, o.prompt + o.tokens);
    random_stream rng(3);
    std::vector<std::int32_t> prompt(o.prompt);
    for (auto& id : prompt) id = static_cast<std::int32_t>(rng.below(Model<Net, float>::output_width));
    for (std::size_t round = 0; round <= o.rounds; ++round) {  // round 0 warms up
        state.reset();
        const auto start = clock::now();
        state.prefill(prompt);
        std::int32_t next = argmax(state.last_logits(0));
        const auto prefilled = clock::now();
        for (std::size_t t = 0; t < o.tokens; ++t) next = argmax(state.step(std::span<const std::int32_t>(&next, 1)).row(0));
        const auto end = clock::now();
        if (round == 0) continue;
        std::printf("lnfold,%s,%s,%d,1,%zu,%zu,%.3f,%.3f\n", o.model.c_str(), o.variant.c_str(), threads, o.prompt,
                    o.tokens, std::chrono::duration<double, std::milli>(prefilled - start).count(),
                    std::chrono::duration<double, std::milli>(end - prefilled).count());
        std::fflush(stdout);
    }
}

template <class Net>
void run(const options& o, int threads) {
    Model<Net, float> model(7, init_scheme::normal);
    if (o.variant == "folded") bench(fold(model), o, threads);
    else bench(model, o, threads);
}

}  // namespace

int main(int argc, char** argv) {
    options o;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string a = argv[i], v = argv[i + 1];
        if (a == "--model") o.model = v;
        else if (a == "--variant") o.variant = v;
        else if (a == "--prompt") o.prompt = std::stoul(v);
        else if (a == "--tokens") o.tokens = std::stoul(v);
        else if (a == "--rounds") o.rounds = std::stoul(v);
        else if (a == "--threads") o.threads = std::stoul(v);
        else {
            std::fprintf(stderr, "bench_generate: unknown option %s\n", a.c_str());
            return 2;
        }
    }
    int threads = 1;
#if LNFOLD_HAS_OPENMP
    if (o.threads > 0) omp_set_num_threads(static_cast<int>(o.threads));
    threads = omp_get_max_threads();
#endif
    try {
        if (o.model == "char") run<CharGpt>(o, threads);
        else run<models::Gpt2Small<>>(o, threads);
    } catch (const lnfold::error& e) {
        std::fprintf(stderr, "bench_generate: %s\n", e.what());
        return 1;
    }
    return 0;
}
