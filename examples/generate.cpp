// Writes text with a GPT, token by token (lnfold::generate: one prefill of the prompt, then one cached decoding step
// per token): the character-level GPT that `train --model gpt --save FILE` trained and saved (a byte prompt), or
// GPT-2 small from a Hugging Face safetensors checkpoint (token ids: no tokenizer files are available offline).
// Streams the continuation, then prints the prefill and decode speed. --fold runs the folded model (every
// LayerNorm -> RMSNorm, the same outputs); --both runs the LayerNorm model and then the folded one and compares.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <lnfold/generate/generate.hpp>
#include <lnfold/lnfold.hpp>
#include <lnfold/models/gpt2.hpp>
#include <lnfold/train/cbwc.hpp>

#include "command_line.hpp"
#include "train_models.hpp"

using namespace lnfold;

namespace {

struct options {
    std::string model = "char", norm = "ln", weights, prompt = "The ", ids;
    generate_options generation;
    bool fold = false, both = false, random_weights = false, quiet = false;
    std::size_t threads = 0;
};

[[noreturn]] void usage(int code) {
    std::printf(
        "usage: generate [--model char|gpt2] (--weights FILE | --random-weights) [--norm ln|rms|cbwc]\n"
        "                [--prompt TEXT | --ids 464,2068,...] [--tokens N] [--temperature X] [--top-k K] [--top-p P]\n"
        "                [--repetition-penalty X] [--seed N] [--fold | --both] [--threads N] [--quiet]\n"
        "  char: the char GPT saved by `train --model gpt --save FILE` (trained with --norm ln, rms or cbwc);\n"
        "        the prompt is bytes (default \"The \"), the output is bytes\n"
        "  gpt2: GPT-2 small (124M) from a Hugging Face model.safetensors, or random weights of that size\n"
        "        (--random-weights, for speed); the prompt is token ids (--ids), the output token ids\n"
        "  --tokens: new tokens (default 200); sampling defaults: greedy (--temperature 0)\n"
        "  --fold: run the folded model; --both: the LayerNorm model, then the folded one, and compare their tokens\n"
        "  Prints the continuation as it is generated, then prefill and decode speed (tokens/s) on stderr.\n");
    std::exit(code);
}

options parse(int argc, char** argv) {
    options o;
    o.generation.max_new_tokens = 200;
    o.generation.sampling.temperature = 0;
    command_line args(argc, argv, "generate", usage);
    while (args.next()) {
        const std::string& a = args.option();
        if (a == "--help" || a == "-h") usage(0);
        else if (a == "--model") o.model = args.value();
        else if (a == "--norm") o.norm = args.value();
        else if (a == "--weights") o.weights = args.value();
        else if (a == "--random-weights") o.random_weights = true;
        else if (a == "--prompt") o.prompt = args.value();
        else if (a == "--ids") o.ids = args.value();
        else if (a == "--tokens") o.generation.max_new_tokens = args.count();
        else if (a == "--temperature") o.generation.sampling.temperature = args.number();
        else if (a == "--top-k") o.generation.sampling.top_k = args.count();
        else if (a == "--top-p") o.generation.sampling.top_p = args.number();
        else if (a == "--repetition-penalty") o.generation.sampling.repetition_penalty = args.number();
        else if (a == "--seed") o.generation.sampling.seed = args.count();
        else if (a == "--fold") o.fold = true;
        else if (a == "--both") o.both = true;
        else if (a == "--threads") o.threads = args.count();
        else if (a == "--quiet") o.quiet = true;
        else args.fail("unknown option '" + a + "'");
    }
    if (o.model != "char" && o.model != "gpt2") {
        std::fprintf(stderr, "generate: --model must be char or gpt2, got '%s'\n", o.model.c_str());
        usage(2);
    }
    if (o.norm != "ln" && o.norm != "rms" && o.norm != "cbwc") {
        std::fprintf(stderr, "generate: --norm must be ln, rms or cbwc, got '%s'\n", o.norm.c_str());
        usage(2);
    }
    if (o.weights.empty() == !o.random_weights) {
        std::fprintf(stderr, "generate: give either --weights FILE or --random-weights\n");
        usage(2);
    }
    if ((o.fold || o.both) && o.norm != "ln") {
        std::fprintf(stderr, "generate: --fold and --both need a LayerNorm model (--norm ln)\n");
        usage(2);
    }
    if (const status s = check(o.generation.sampling); !s) {
        std::fprintf(stderr, "generate: %s\n", s.message().c_str());
        std::exit(2);
    }
    return o;
}

// "464,2068,7586" -> ids.
std::vector<std::int32_t> parse_ids(const std::string& text) {
    std::vector<std::int32_t> ids;
    std::size_t start = 0;
    while (start < text.size()) {
        const std::size_t comma = std::min(text.find(',', start), text.size());
        const std::string item = text.substr(start, comma - start);
        char* end = nullptr;
        const long id = std::strtol(item.c_str(), &end, 10);
        if (item.empty() || *end != '\0' || id < 0 || id > 0x7fffffff) {
            std::fprintf(stderr, "generate: --ids expects comma-separated token ids, got '%s'\n", item.c_str());
            std::exit(2);
        }
        ids.push_back(static_cast<std::int32_t>(id));
        start = comma + 1;
    }
    return ids;
}

struct timing {
    double prefill_ms = 0, decode_ms = 0;
    std::size_t prompt = 0, generated = 0;
};

// Generates with `model`, streaming each token (a byte, or an id), and times the prefill (until the first token)
// and the decoding steps (the rest). The same generation runs once untimed first: it warms up the threads, the
// buffers and oneDNN's kernels, which are generated at the first product of each shape (tens of milliseconds).
template <class Net>
std::vector<std::int32_t> run(const Model<Net, float>& model, const std::vector<std::int32_t>& prompt, const options& o,
                              bool bytes, timing& t) {
    using clock = std::chrono::steady_clock;
    generate(model, prompt, o.generation);
    generate_options generation = o.generation;
    const auto start = clock::now();
    auto first = start;
    std::size_t produced = 0;
    generation.on_token = [&](std::int32_t id) {
        if (produced++ == 0) first = clock::now();
        if (o.quiet) return;
        if (bytes) std::putchar(static_cast<unsigned char>(id));
        else std::printf("%s%d", produced == 1 ? "" : ",", id);
        std::fflush(stdout);
    };
    auto state = model.decoder(1, std::min(prompt.size() + o.generation.max_new_tokens, decoder<Net, float>::context));
    std::vector<std::int32_t> tokens = generate(state, prompt, generation);
    const auto end = clock::now();
    if (!o.quiet) {
        std::printf("\n");
        std::fflush(stdout);  // before the report on stderr
    }
    t.prompt = prompt.size();
    t.generated = tokens.size();
    t.prefill_ms = std::chrono::duration<double, std::milli>(first - start).count();
    t.decode_ms = std::chrono::duration<double, std::milli>(end - first).count();
    return tokens;
}

void report(const char* name, const timing& t) {
    const double decode_steps = double(t.generated > 0 ? t.generated - 1 : 0);
    std::fprintf(stderr, "%s: prefill %zu tokens in %.1f ms (%.0f tokens/s), decode %zu tokens in %.1f ms (%.1f tokens/s)\n",
                 name, t.prompt, t.prefill_ms, double(t.prompt) / (t.prefill_ms / 1000.0), t.generated, t.decode_ms,
                 decode_steps / (t.decode_ms / 1000.0));
}

struct generated {
    std::vector<std::int32_t> tokens;
    double decode_ms = 0;
};

// Generates with one model and reports its speed under `name`; prints the prompt first when it is bytes.
template <class Net>
generated run_reported(const char* name, const Model<Net, float>& model, const std::vector<std::int32_t>& prompt,
                       const options& o, bool bytes) {
    if (bytes && !o.quiet) std::printf("%s", o.prompt.c_str());
    timing t;
    generated g{run(model, prompt, o, bytes, t), 0};
    report(name, t);
    g.decode_ms = t.decode_ms;
    return g;
}

// Runs the model as asked: as it is, folded (--fold), or both (--both: then the two token sequences must agree,
// else exit 1). Foldable: Net has LayerNorms to fold (parse() refuses --fold and --both for the others).
template <bool Foldable, class Net>
int generate_with(const Model<Net, float>& model, const std::vector<std::int32_t>& prompt, const options& o, bool bytes) {
    if constexpr (Foldable) {
        if (o.fold) {
            run_reported("generate (folded)", fold(model), prompt, o, bytes);
            return 0;
        }
        if (o.both) {
            if (!o.quiet) std::printf("== LayerNorm model\n");
            const generated original = run_reported("LayerNorm", model, prompt, o, bytes);
            if (!o.quiet) std::printf("== folded model (RMSNorm)\n");
            const generated cheaper = run_reported("folded", fold(model), prompt, o, bytes);
            const std::vector<std::int32_t>& a = original.tokens;
            const std::vector<std::int32_t>& b = cheaper.tokens;
            std::size_t same = 0;
            while (same < a.size() && same < b.size() && a[same] == b[same]) ++same;
            const bool identical = same == a.size() && same == b.size();
            std::printf("same tokens: %s (%zu of %zu agree); decode speed folded / LayerNorm: %.3f\n",
                        identical ? "yes" : "no", same, a.size(), original.decode_ms / cheaper.decode_ms);
            return identical ? 0 : 1;
        }
    }
    run_reported("generate", model, prompt, o, bytes);
    return 0;
}

template <class Net>
int char_gpt(const options& o) {
    Model<Net, float> model(uninitialized);
    io::load(model, o.weights, train_models::char_gpt_load_options());
    std::vector<std::int32_t> prompt;
    for (const char c : o.prompt) prompt.push_back(static_cast<unsigned char>(c));
    if (prompt.empty()) {
        std::fprintf(stderr, "generate: the prompt needs at least one byte\n");
        return 2;
    }
    return generate_with<std::is_same_v<Net, train_models::Gpt>>(model, prompt, o, true);
}

int gpt2(const options& o) {
    using Net = models::Gpt2Small<>;
    Model<Net, float> model = o.random_weights ? Model<Net, float>(o.generation.sampling.seed + 1, init_scheme::normal)
                                               : Model<Net, float>(uninitialized);
    if (!o.random_weights) models::load_gpt2(model, o.weights);
    const std::vector<std::int32_t> prompt = o.ids.empty() ? std::vector<std::int32_t>{464} : parse_ids(o.ids);
    return generate_with<true>(model, prompt, o, false);
}

}  // namespace

int main(int argc, char** argv) {
    const options o = parse(argc, argv);
#if LNFOLD_HAS_OPENMP
    if (o.threads > 0) omp_set_num_threads(static_cast<int>(o.threads));
#endif
    try {
        if (o.model == "gpt2") return gpt2(o);
        if (o.norm == "rms") return char_gpt<rms_t<train_models::Gpt>>(o);
        if (o.norm == "cbwc") return char_gpt<cbwc_t<train_models::Gpt>>(o);
        return char_gpt<train_models::Gpt>(o);
    } catch (const lnfold::error& e) {
        std::fprintf(stderr, "generate: %s\n", e.what());
        return 1;
    } catch (const std::bad_alloc&) {
        std::fprintf(stderr, "generate: out of memory\n");
        return 1;
    }
}
