#pragma once
// The work of lnfold-fold for one network type Net of a family (GPT-2 or ViT):
//   1. load the file strictly into Model<Net> (Hugging Face names, the family's eps or --eps);
//   2. print the fold report; fold(model) -> Model<folded_t<Net>>;
//   3. check that every folded tensor is finite, then write the folded weights under the same names (norms keep
//      weight + bias: they are now RMSNorms) with __metadata__ saying so, with the input's prefix convention, into
//      the output's temporary file (io::atomic_file, created before any work);
//   4. reload the temporary file into a fresh Model<folded_t<Net>> and compare it with the original on a random
//      batch: every output of both models finite and max |folded - original| / max |original| within the
//      tolerance. Only then is the file renamed into place; otherwise the exit status is 1 and OUTPUT is untouched.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <lnfold/lnfold.hpp>
#include <lnfold/io/atomic_file.hpp>
#include <lnfold/io/weights.hpp>

#include "configurations.hpp"

namespace lnfold::fold_tool {

// What a family provides: Family::load(model, file) -> io::load_result (strict, sets eps), Family::eps,
// Family::save_options(prefixed) -> io::save_options (its names, with the prefix or without),
// Family::metadata(request, save_options) -> extra __metadata__ entries. Sizes: the family's sizes struct.
// The first parameter value of `model` that is NaN or infinite, as "'path' element i is v", or "" when all are finite.
template <class Net>
std::string first_non_finite_parameter(const Model<Net>& model) {
    std::string found;
    model.visit_parameters([&](const auto& p) {
        for (std::size_t i = 0; i < p.values.size() && found.empty(); ++i)
            if (!std::isfinite(p.values[i])) {
                found.append("'").append(p.path).append("' element ").append(std::to_string(i));
                found.append(" is ").append(std::to_string(p.values[i]));
            }
    });
    return found;
}

// How two output vectors of the same batch compare; NaN and infinities are never skipped.
struct output_comparison {
    double max_diff = 0, max_abs = 0;
    std::string non_finite;  // which model's output held the first NaN / infinity, and where
    double relative() const { return max_abs > 0 ? max_diff / max_abs : max_diff; }
};
inline output_comparison compare_outputs(const std::vector<float>& expected, const std::vector<float>& actual) {
    output_comparison c;
    for (std::size_t i = 0; i < expected.size(); ++i) {
        const double e = expected[i], a = actual[i];
        if (!std::isfinite(e) || !std::isfinite(a)) {
            if (c.non_finite.empty())
                c.non_finite = std::string(std::isfinite(e) ? "the folded" : "the original") + " model's output " +
                               std::to_string(i) + " is " + std::to_string(std::isfinite(e) ? a : e);
            continue;
        }
        c.max_diff = std::max(c.max_diff, std::abs(a - e));
        c.max_abs = std::max(c.max_abs, std::abs(e));
    }
    return c;
}

template <class Net, class Family, class Sizes>
int fold_and_verify(io::safetensors_file&& file, const fold_request& request, const Sizes& sizes,
                    io::atomic_file& output) {
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

    // Memory: the original model and the folded one exist together only while fold runs. The original's outputs
    // on the verification batch are computed first, then it goes; the folded weights are written into OUTPUT's
    // temporary without a copy (io::save_to), then they go, and the file is read back into a third model.
    std::optional<Model<Net>> model(std::in_place, uninitialized);  // every parameter is loaded (strictly)
    io::load_result loaded;
    {
        const io::safetensors_file source = std::move(file);  // its bytes go when the weights are in the model
        loaded = Family::load(*model, source);
        if (request.eps > 0) model->set_eps(request.eps);
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
    const std::vector<float> expected = forward(*model);
    {
        const Model<Folded> folded = fold(*model);
        model.reset();
        if (const std::string bad = first_non_finite_parameter(folded); !bad.empty()) {
            std::printf("the folded weights are not finite: %s (the checkpoint's values overflow float when centred)"
                        ": FAILED, nothing written\n", bad.c_str());
            return 1;
        }
        io::save_to(folded, output, save);
    }
    output.finish();
    std::printf("folded: %zu LayerNorms are RMSNorms (same weight, bias and eps %s)%s\n", foldable_count_v<Net>, eps,
                kept.empty() ? "" : ", the others stay LayerNorms");

    Model<Folded> reloaded(uninitialized);
    Family::load(reloaded, io::safetensors_file::open(output.temporary_path()));
    if (request.eps > 0) reloaded.set_eps(request.eps);
    const std::vector<float> actual = forward(reloaded);
    const output_comparison c = compare_outputs(expected, actual);
    const double relative = c.relative();
    const bool ok = c.non_finite.empty() && relative <= request.tolerance;
    std::printf("verified the written file against the original on a random batch of %s (%zu outputs):\n",
                layout.describe().c_str(), expected.size());
    if (!c.non_finite.empty())
        std::printf("  %s: FAILED\n", c.non_finite.c_str());
    else
        std::printf("  max |folded - original| = %.3g, max |original| = %.3g, relative %.3g (tolerance %.3g): %s\n",
                    c.max_diff, c.max_abs, relative, request.tolerance, ok ? "ok" : "FAILED");
    if (!ok) {
        std::printf("nothing written: %s is untouched\n", request.output.c_str());
        return 1;
    }
    output.commit();
    std::printf("wrote %s\n", request.output.c_str());
    return 0;
}

}  // namespace lnfold::fold_tool
