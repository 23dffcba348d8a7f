// lnfold-fold: folds the LayerNorms of a Hugging Face GPT-2 or ViT safetensors checkpoint into RMSNorms, writes the
// folded weights, and verifies the written file against the original on a random batch. See docs/interop.md.
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <new>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <lnfold/core/error.hpp>
#include <lnfold/io/atomic_file.hpp>
#include <lnfold/io/safetensors.hpp>

#include "configurations.hpp"
#include "inspect.hpp"

namespace {

using namespace lnfold;
using namespace lnfold::fold_tool;

constexpr const char* usage = R"(usage: lnfold-fold [options] INPUT.safetensors OUTPUT.safetensors
       lnfold-fold --list

Folds every foldable LayerNorm of a Hugging Face GPT-2 (GPT2Model / GPT2LMHeadModel) or ViT
(ViTForImageClassification) safetensors checkpoint into an RMSNorm that computes exactly the same function:
reads INPUT (sizes from its tensor shapes), prints the fold report, writes the folded weights to OUTPUT
(the same names; every norm keeps weight and bias and is now an RMSNorm; __metadata__ says so), reloads
OUTPUT and compares it with the original model on a random batch.

options:
  --heads N             attention heads (default: the released models' heads for the width:
                        GPT-2 768:12 1024:16 1280:20 1600:25, ViT 192:3 384:6 768:12 1024:16 1280:16)
  --tie untie|correct   GPT-2's lm_head tied to wte (default untie):
                          untie    OUTPUT gets lm_head.weight, the original table (V x D more floats)
                          correct  one centred table plus lm_head.table_mean (V floats), logits
                                   corrected by (sum of h) x mean: D + V more operations per token
  --eps X               every norm's eps, as layer_norm_epsilon / layer_norm_eps in the checkpoint's
                        config.json (default: GPT-2 1e-5, ViT 1e-12)
  --tolerance X         largest max|folded - original| / max|original| accepted (default 1e-4)
  --batch N             samples in the verification batch (default 2, at most 1024)
  --tokens N            GPT-2: tokens per sample in the verification (default min(context, 32))
  --seed N              seed of the verification batch (default 1)
  --list                print the compiled configurations and exit
  -h, --help            print this text and exit

OUTPUT is written atomically: the folded file goes to a new temporary file beside it and is renamed
over OUTPUT only once verified, so OUTPUT is either untouched or complete (a symbolic link at OUTPUT is
followed; an existing OUTPUT keeps its permissions). OUTPUT must not be INPUT (also through a link), a
directory, a device, a FIFO or a socket: that is checked before any work.

exit status: 0 folded, verified and written,
             1 the verification failed (nothing written: OUTPUT is untouched),
             2 a usage or input error (nothing written)
)";

// A bad command line: printed with a pointer to --help, exit status 2.
struct usage_error {
    std::string message;
};

std::size_t parse_count(std::string_view flag, std::string_view text) {
    std::size_t value = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size() || value == 0)
        throw usage_error{std::string(flag) + " needs a positive integer, got '" + std::string(text) + "'"};
    return value;
}

// The verification batch is a check, not a workload: a bound keeps its buffers (and batch x tokens) small.
constexpr std::size_t max_verification_batch = 1024;

double parse_number(std::string_view flag, const std::string& text) {
    char* end = nullptr;
    const double value = std::strtod(text.c_str(), &end);
    if (text.empty() || end != text.c_str() + text.size() || !(value > 0))
        throw usage_error{std::string(flag) + " needs a positive number, got '" + text + "'"};
    return value;
}

struct command_line {
    fold_request request;
    std::optional<std::size_t> heads;
    bool tie_given = false, help = false, list = false;
};

command_line parse(int argc, char** argv) {
    command_line c;
    std::vector<std::string> files;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        const auto value = [&]() -> std::string {
            if (i + 1 >= argc) throw usage_error{arg + " needs a value"};
            return argv[++i];
        };
        if (arg == "-h" || arg == "--help") c.help = true;
        else if (arg == "--list") c.list = true;
        else if (arg == "--heads") c.heads = parse_count(arg, value());
        else if (arg == "--batch") {
            c.request.batch = parse_count(arg, value());
            if (c.request.batch > max_verification_batch)
                throw usage_error{"--batch " + std::to_string(c.request.batch) + " is more than the verification batch's "
                                  "limit of " + std::to_string(max_verification_batch) + " samples"};
        }
        else if (arg == "--tokens") c.request.tokens = parse_count(arg, value());
        else if (arg == "--seed") c.request.seed = parse_count(arg, value());
        else if (arg == "--tolerance") c.request.tolerance = parse_number(arg, value());
        else if (arg == "--eps") c.request.eps = parse_number(arg, value());
        else if (arg == "--tie") {
            const std::string tie = value();
            if (tie == "untie") c.request.tie = tie_fold::untie;
            else if (tie == "correct") c.request.tie = tie_fold::correct;
            else throw usage_error{"--tie must be 'untie' or 'correct', got '" + tie + "'"};
            c.tie_given = true;
        } else if (arg.starts_with("-") && arg != "-") throw usage_error{"unknown option '" + arg + "'"};
        else files.push_back(arg);
    }
    if (c.help || c.list) return c;
    if (files.size() != 2)
        throw usage_error{"expected INPUT and OUTPUT files, got " + std::to_string(files.size()) + " file argument" +
                          (files.size() == 1 ? "" : "s")};
    c.request.input = files[0];
    c.request.output = files[1];
    return c;
}

template <class Sizes>
void print_table(std::span<const configuration<Sizes>> table) {
    for (const auto& entry : table) std::printf("  %s  [%s]\n", describe(entry.sizes).c_str(), entry.name);
}

void list_configurations() {
    std::printf("GPT-2 configurations (each with --tie untie and --tie correct):\n");
    print_table(gpt2_configurations());
    std::printf("ViT configurations:\n");
    print_table(vit_configurations());
}

std::string entry_line(const gpt2_sizes& s) {
    return "entry<" + std::to_string(s.layers) + ", " + std::to_string(s.dim) + ", " + std::to_string(s.heads) + ", " +
           std::to_string(s.vocab) + ", " + std::to_string(s.context) + ">(\"name\"),";
}
std::string entry_line(const vit_sizes& s) {
    return "entry<" + std::to_string(s.layers) + ", " + std::to_string(s.dim) + ", " + std::to_string(s.heads) + ", " +
           std::to_string(s.mlp) + ", " + std::to_string(s.image) + ", " + std::to_string(s.patch) + ", " +
           std::to_string(s.channels) + ", " + std::to_string(s.classes) + ">(\"name\"),";
}

// The compiled configuration of these sizes, or an explanation of which exist and how to add one.
template <class Sizes>
int dispatch(std::span<const configuration<Sizes>> table, const Sizes& sizes, const char* table_file,
             io::safetensors_file&& file, const fold_request& request, io::atomic_file& output) {
    for (const auto& entry : table)
        if (entry.sizes == sizes) {
            std::printf("lnfold-fold: %s [%s]\n", describe(sizes).c_str(), entry.name);
            return entry.run(std::move(file), request, output);
        }
    std::fprintf(stderr, "lnfold-fold: error: no compiled configuration for %s (read from '%s')\nsupported:\n",
                 describe(sizes).c_str(), request.input.c_str());
    for (const auto& entry : table) std::fprintf(stderr, "  %s  [%s]\n", describe(entry.sizes).c_str(), entry.name);
    std::fprintf(stderr,
                 "networks are compile-time types in lnfold: to add this one, add the line\n  %s\nto the table in %s "
                 "and rebuild lnfold-fold (or pass --heads if the heads are wrong)\n",
                 entry_line(sizes).c_str(), table_file);
    return 2;
}

int run(const command_line& c) {
    // The output location first (before any work): a temporary beside OUTPUT, removed unless the fold verifies.
    io::atomic_file output(c.request.output, "OUTPUT", {c.request.input});
    io::safetensors_file file = io::safetensors_file::open(c.request.input);
    if (family_of(file) == family::gpt2) {
        const gpt2_sizes sizes = gpt2_sizes_of(file, c.heads);
        return dispatch(gpt2_configurations(), sizes, "tools/lnfold_fold/gpt2_configurations.cpp", std::move(file),
                        c.request, output);
    }
    if (c.tie_given) throw usage_error{"--tie applies to GPT-2 checkpoints only; '" + c.request.input + "' is a ViT"};
    const vit_sizes sizes = vit_sizes_of(file, c.heads);
    return dispatch(vit_configurations(), sizes, "tools/lnfold_fold/vit_configurations.cpp", std::move(file), c.request,
                    output);
}

}  // namespace

int main(int argc, char** argv) {
    try {
        const command_line c = parse(argc, argv);
        if (c.help) {
            std::fputs(usage, stdout);
            return 0;
        }
        if (c.list) {
            list_configurations();
            return 0;
        }
        return run(c);
    } catch (const usage_error& e) {
        std::fprintf(stderr, "lnfold-fold: %s (see lnfold-fold --help)\n", e.message.c_str());
    } catch (const lnfold::error& e) {
        std::fprintf(stderr, "lnfold-fold: error: %s\n", e.what());
    } catch (const std::bad_alloc&) {
        std::fprintf(stderr, "lnfold-fold: error: out of memory (the checkpoint or the verification batch is too "
                             "large for this machine; a smaller --batch or --tokens needs less)\n");
    } catch (const std::exception& e) {
        std::fprintf(stderr, "lnfold-fold: unexpected error: %s\n", e.what());
    }
    return 2;
}
