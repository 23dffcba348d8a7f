// lnfold-fold's ViT configurations: the parity fixture's sizes and the released 224 x 224, patch 16, ImageNet-1k
// sizes (DeiT tiny / small, ViT base). To add a checkpoint of other sizes, add one line to `table`.
#include <array>
#include <string>
#include <utility>
#include <vector>

#include <lnfold/models/vit.hpp>

#include "configurations.hpp"
#include "fold_run.hpp"

namespace lnfold::fold_tool {
namespace {

struct vit_family {
    static constexpr double eps = models::vit_eps;
    template <class Net>
    static io::load_result load(Model<Net>& model, const io::safetensors_file& file) {
        return models::load_vit(model, file);
    }
    static io::save_options save_options(bool prefixed) {
        return models::vit_save_options(prefixed ? models::vit_prefix : "");
    }
    static std::vector<std::pair<std::string, std::string>> metadata(const fold_request&, const io::save_options&) {
        return {{"lnfold.centred", "the patch projection and every attention.output.dense and output.dense: weight and "
                                   "bias centred over the output features; cls_token and position_embeddings: each "
                                   "vector minus its mean"}};
    }
};

template <std::size_t Layers, std::size_t Dim, std::size_t Heads, std::size_t Mlp, std::size_t Image, std::size_t Patch,
          std::size_t Channels, std::size_t Classes>
int run(io::safetensors_file&& file, const fold_request& request, io::atomic_file& output) {
    constexpr vit_sizes sizes{Layers, Dim, Heads, Mlp, Image, Patch, Channels, Classes};
    return fold_and_verify<models::Vit<Layers, Dim, Heads, Image, Patch, Classes, Mlp, Channels>, vit_family>(
        std::move(file), request, sizes, output);
}

template <std::size_t Layers, std::size_t Dim, std::size_t Heads, std::size_t Mlp, std::size_t Image, std::size_t Patch,
          std::size_t Channels, std::size_t Classes>
constexpr configuration<vit_sizes> entry(const char* name) {
    return {name, {Layers, Dim, Heads, Mlp, Image, Patch, Channels, Classes},
            &run<Layers, Dim, Heads, Mlp, Image, Patch, Channels, Classes>};
}

constexpr std::array table{
    entry<2, 24, 4, 40, 16, 4, 3, 10>("tests/models/fixtures/vit.safetensors (the parity fixture)"),
    entry<12, 192, 3, 768, 224, 16, 3, 1000>("facebook/deit-tiny-patch16-224"),
    entry<12, 384, 6, 1536, 224, 16, 3, 1000>("facebook/deit-small-patch16-224"),
    entry<12, 768, 12, 3072, 224, 16, 3, 1000>("google/vit-base-patch16-224"),
};

}  // namespace

std::string describe(const vit_sizes& s) {
    return "ViT with " + std::to_string(s.layers) + " layers, hidden size " + std::to_string(s.dim) + ", " +
           std::to_string(s.heads) + " heads, MLP " + std::to_string(s.mlp) + ", " + std::to_string(s.image) + " x " +
           std::to_string(s.image) + " images of " + std::to_string(s.channels) + " channels in " +
           std::to_string(s.patch) + " x " + std::to_string(s.patch) + " patches, " + std::to_string(s.classes) +
           " classes";
}

std::span<const configuration<vit_sizes>> vit_configurations() { return table; }

}  // namespace lnfold::fold_tool
