// lnfold-fold's GPT-2 configurations: the parity fixture's sizes and the released GPT-2 sizes, each with both tie
// choices (tie_fold::untie and tie_fold::correct). To add a checkpoint of other sizes, add one line to `table`.
#include <array>
#include <string>
#include <utility>
#include <vector>

#include <lnfold/models/gpt2.hpp>

#include "configurations.hpp"
#include "fold_run.hpp"

namespace lnfold::fold_tool {
namespace {

struct gpt2_family {
    static constexpr double eps = models::gpt2_eps;
    template <class Net>
    static io::load_result load(Model<Net>& model, const io::safetensors_file& file) {
        return models::load_gpt2(model, file);
    }
    static io::save_options save_options(bool prefixed) {
        return models::gpt2_save_options(prefixed ? models::gpt2_prefix : "");
    }
    static std::vector<std::pair<std::string, std::string>> metadata(const fold_request& request,
                                                                     const io::save_options& save) {
        const std::string wte = save.file_name("wte.weight");
        std::vector<std::pair<std::string, std::string>> m{
            {"lnfold.centred", wte + " and " + save.file_name("wpe.weight") +
                                   ": each row minus its mean; every attn.c_proj and mlp.c_proj: weight and bias centred "
                                   "over the output features"}};
        if (request.tie == tie_fold::correct)
            m.emplace_back("lnfold.tie", "correct: the head reads the centred " + wte + " and adds a rank-1 correction: "
                                         "logits = h wte^T + (sum of h) lm_head.table_mean, the original row means");
        else
            m.emplace_back("lnfold.tie", "untie: lm_head.weight holds the original (uncentred) table, logits = h lm_head^T");
        return m;
    }
};

template <std::size_t Layers, std::size_t Dim, std::size_t Heads, std::size_t Vocab, std::size_t Context>
int run(io::safetensors_file&& file, const fold_request& request, io::atomic_file& output) {
    constexpr gpt2_sizes sizes{Layers, Dim, Heads, Vocab, Context};
    if (request.tie == tie_fold::correct)
        return fold_and_verify<models::Gpt2<Layers, Dim, Heads, Vocab, Context, tie_fold::correct>, gpt2_family>(
            std::move(file), request, sizes, output);
    return fold_and_verify<models::Gpt2<Layers, Dim, Heads, Vocab, Context, tie_fold::untie>, gpt2_family>(
        std::move(file), request, sizes, output);
}

template <std::size_t Layers, std::size_t Dim, std::size_t Heads, std::size_t Vocab, std::size_t Context>
constexpr configuration<gpt2_sizes> entry(const char* name) {
    return {name, {Layers, Dim, Heads, Vocab, Context}, &run<Layers, Dim, Heads, Vocab, Context>};
}

constexpr std::array table{
    entry<2, 24, 4, 61, 16>("tests/models/fixtures/gpt2*.safetensors (the parity fixture)"),
    entry<12, 768, 12, 50257, 1024>("gpt2 (124M)"),
    entry<24, 1024, 16, 50257, 1024>("gpt2-medium (355M)"),
};

}  // namespace

std::string describe(const gpt2_sizes& s) {
    return "GPT-2 with " + std::to_string(s.layers) + " layers, d_model " + std::to_string(s.dim) + ", " +
           std::to_string(s.heads) + " heads, vocabulary " + std::to_string(s.vocab) + ", context " +
           std::to_string(s.context);
}

std::span<const configuration<gpt2_sizes>> gpt2_configurations() { return table; }

}  // namespace lnfold::fold_tool
