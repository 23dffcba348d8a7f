#pragma once
// lnfold-fold's table of pre-instantiated network configurations. Networks are compile-time types, so the tool can
// fold only the sizes compiled into it: gpt2_configurations.cpp and vit_configurations.cpp each hold one table
// (one translation unit per family, so they build in parallel). To support another checkpoint, add one line with
// its sizes to the right table and rebuild lnfold-fold.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include <lnfold/io/atomic_file.hpp>
#include <lnfold/io/safetensors.hpp>
#include <lnfold/fold/role.hpp>

namespace lnfold::fold_tool {

// Sizes read from a file's tensor shapes (heads from --heads or the standard width table).
struct gpt2_sizes {
    std::size_t layers = 0, dim = 0, heads = 0, vocab = 0, context = 0;
    friend bool operator==(const gpt2_sizes&, const gpt2_sizes&) = default;
};
struct vit_sizes {
    std::size_t layers = 0, dim = 0, heads = 0, mlp = 0, image = 0, patch = 0, channels = 0, classes = 0;
    friend bool operator==(const vit_sizes&, const vit_sizes&) = default;
};

std::string describe(const gpt2_sizes& s);
std::string describe(const vit_sizes& s);

// What to do once the configuration is known.
struct fold_request {
    std::string input, output;        // file paths
    tie_fold tie = tie_fold::untie;   // GPT-2's tied lm_head: untie or correct
    double tolerance = 1e-4;          // max |folded - original| / max |original| on the random batch
    std::size_t batch = 2;            // verification batch: samples
    std::size_t tokens = 0;           // GPT-2: tokens per sample (0: min(context, 32))
    std::uint64_t seed = 1;           // of the random batch
    double eps = 0;                   // every norm's eps (0: the family's, 1e-5 GPT-2, 1e-12 ViT)
};

// One table entry: a name, the sizes, and the folding function instantiated for them. It writes the folded file into
// `output` and commits it only once verified.
template <class Sizes>
struct configuration {
    const char* name;
    Sizes sizes;
    int (*run)(io::safetensors_file&& file, const fold_request& request, io::atomic_file& output);  // the exit status
};

std::span<const configuration<gpt2_sizes>> gpt2_configurations();
std::span<const configuration<vit_sizes>> vit_configurations();

}  // namespace lnfold::fold_tool
