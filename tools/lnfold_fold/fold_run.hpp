#pragma once
// The work of lnfold-fold for one network type Net of a family (GPT-2 or ViT):
//   1. load the file strictly into Model<Net> (Hugging Face names, the family's eps or --eps);
//   2. print the fold report; fold(model) -> Model<folded_t<Net>>;
//   3. write the folded weights under the same names (norms keep weight + bias: they are now RMSNorms) with
//      __metadata__ saying so, with the input's prefix convention;
//   4. reload the written file into a fresh Model<folded_t<Net>> and compare it with the original on a random batch:
//      max |folded - original| / max |original| must stay within the tolerance (exit status 1 otherwise).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include <lnfold/lnfold.hpp>
#include <lnfold/io/weights.hpp>

#include "configurations.hpp"

namespace lnfold::fold_tool {

// What a family provides: Family::load(model, file) -> io::load_result (strict, sets eps), Family::eps,
// Family::save_options(prefixed) -> io::save_options (its names, with the prefix or without),
// Family::metadata(request, save_options) -> extra __metadata__ entries. Sizes: the family's sizes struct.
template <class Net, class Family, class Sizes>
int fold_and_verify(io::safetensors_file&& file, const fold_request& request, const Sizes& sizes) {
    using Folded = folded_t<Net>;
    // Both models of the verification read the same batch, so only one input is drawn.
    std::vector<std::int32_t> ids;
    std::vector<float> pixels;
    Layout layout;
    random_stream rng(request.seed);
    if constexpr (Model<Net>::reads_tokens) {
        const std::size_t tokens = request.tokens ? request.tokens : std::min<std::size_t>(sizes.context, 32);
        if (tokens > sizes.context)
            throw config_error("--tokens " + std::to_string(tokens) + " is more than the context of " +
                               std::to_string(sizes.context) + " positions");
        layout = Layout::sequence(request.batch, tokens);
        ids.resize(layout.row_count());
        for (auto& id : ids) id = static_cast<std::int32_t>(rng.below(sizes.vocab));
    } else {
        layout = Layout::image(request.batch, sizes.image, sizes.image);
        pixels.resize(layout.row_count() * sizes.channels);  // NHWC
        for (float& p : pixels) p = static_cast<float>(rng.uniform(-1, 1));
    }
    const auto forward = [&](auto& model) {
        tensor_view<float> y;
        if constexpr (Model<Net>::reads_tokens) y = model.forward(std::span<const std::int32_t>(ids), layout);
        else y = model.forward(std::span<const float>(pixels), layout);
        return std::vector<float>(y.data, y.data + y.size());
    };

    Model<Net> model;
    io::load_result loaded;
    {
        const io::safetensors_file source = std::move(file);  // its bytes go when the weights are in the model
        loaded = Family::load(model, source);
        if (request.eps > 0) model.set_eps(request.eps);
        std::printf("read %s: %zu tensors, %zu parameters of %s%s\n", request.input.c_str(), source.tensors().size(),
                    loaded.loaded.size(), describe(sizes).c_str(), loaded.prefixed ? " (prefixed names)" : "");
    }
    if (!loaded.ignored.empty())
        std::printf("skipped %zu buffers that are not parameters (%s, ...)\n", loaded.ignored.size(), loaded.ignored[0].c_str());
    for (const auto& copy : loaded.copies) std::printf("checked the tied copy %s: equal to its table\n", copy.c_str());
    std::printf("\nfold report:\n%s\n", format_fold_report<Net>().c_str());

    // The norms by their names in the output file ("h.0.ln_1"), folded or not.
    io::save_options save = Family::save_options(loaded.prefixed > 0);
    std::string rms, kept;
    for (const auto& v : fold_report<Net>()) {
        std::string name = save.file_name(std::string(v.path.view()) + ".weight");
        name.resize(name.size() - std::string_view(".weight").size());
        std::string& list = v.foldable ? rms : kept;
        list += (list.empty() ? "" : ",") + name;
    }
    char eps[32];
    std::snprintf(eps, sizeof eps, "%g", request.eps > 0 ? request.eps : Family::eps);
    save.metadata = {{"format", "pt"},
                     {"lnfold.folded_by", std::string("lnfold ") + version_string + " (lnfold-fold)"},
                     {"lnfold.source", std::filesystem::path(request.input).filename().string()},
                     {"lnfold.model", describe(sizes)},
                     {"lnfold.rms_norms", rms},
                     {"lnfold.rms_norm", "y = weight * x / sqrt(mean(x^2) + eps) + bias, eps " + std::string(eps) +
                                             ": these norms read exactly zero-mean rows, so they equal the LayerNorms"},
                     {"lnfold.eps", eps}};
    if (!kept.empty()) save.metadata.emplace_back("lnfold.layer_norms", kept);
    for (auto& entry : Family::metadata(request, save)) save.metadata.push_back(std::move(entry));
    {
        const Model<Folded> folded = fold(model);
        io::save(folded, request.output, save);
    }
    std::printf("wrote %s: %zu LayerNorms are RMSNorms (same weight, bias and eps %s)%s\n", request.output.c_str(),
                foldable_count_v<Net>, eps, kept.empty() ? "" : ", the others stay LayerNorms");

    Model<Folded> reloaded;
    Family::load(reloaded, io::safetensors_file::open(request.output));
    if (request.eps > 0) reloaded.set_eps(request.eps);
    const std::vector<float> expected = forward(model), actual = forward(reloaded);
    double max_diff = 0, max_abs = 0;
    for (std::size_t i = 0; i < expected.size(); ++i) {
        max_diff = std::max(max_diff, std::abs(static_cast<double>(actual[i]) - expected[i]));
        max_abs = std::max(max_abs, std::abs(static_cast<double>(expected[i])));
    }
    const double relative = max_abs > 0 ? max_diff / max_abs : max_diff;
    const bool ok = relative <= request.tolerance && std::isfinite(relative);
    std::printf("verified the written file against the original on a random batch of %s (%zu outputs):\n"
                "  max |folded - original| = %.3g, max |original| = %.3g, relative %.3g (tolerance %.3g): %s\n",
                layout.describe().c_str(), expected.size(), max_diff, max_abs, relative, request.tolerance,
                ok ? "ok" : "FAILED");
    return ok ? 0 : 1;
}

}  // namespace lnfold::fold_tool
