// The files lnfold-fold wrote from the parity fixtures (tests/tools/CMakeLists.txt runs it first): reloaded into
// folded_t of the specs, they reproduce torch's original outputs; their names are the Hugging Face names, their
// metadata says what was folded and how the tie was handled; folded tables are centred, the untied head is the
// original table; and a folded file is refused by the unfolded spec (its lm_head copy no longer equals wte).
#include <cmath>
#include <string>
#include <vector>

#include "catch.hpp"
#include "parity_fixtures.hpp"

using namespace lnfold;
using namespace lnfold_test;
using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;

namespace {

std::string folded_file(const char* name) {
    std::string path(LNFOLD_FOLD_TOOL_OUTPUT);  // appended: g++ 12 -O2 warns falsely on "a" + b (-Warray-bounds)
    path += '/';
    path += name;
    return path;
}

std::string metadata(const io::safetensors_file& file, std::string_view key) {
    return std::string(file.header().metadata_value(key).value_or("<absent>"));
}

// Largest |row mean| of a (rows, width) table.
double max_row_mean(const std::vector<float>& table, std::size_t width) {
    double worst = 0;
    for (std::size_t r = 0; r < table.size() / width; ++r) {
        double sum = 0;
        for (std::size_t i = 0; i < width; ++i) sum += table[r * width + i];
        worst = std::max(worst, std::abs(sum / double(width)));
    }
    return worst;
}

// The folded weights are float: in double they reproduce torch to the rounding of the F32 weights (measured worst
// 1.5e-7 per element), in float to the float forward bound.
template <class T>
constexpr double tolerance = sizeof(T) == 4 ? float_forward_bound : 1e-6;

}  // namespace

TEMPLATE_TEST_CASE("lnfold-fold: the folded GPT-2 file reproduces torch's logits (untied head)", "", float, double) {
    const torch_reference torch_out = gpt2_reference();
    Model<folded_t<Gpt2Fixture<>>, TestType> folded;
    const io::load_result r = models::load_gpt2(folded, folded_file("gpt2.safetensors"));
    CHECK(r.loaded.size() == Model<folded_t<Gpt2Fixture<>>, TestType>::tensor_count);  // lm_head.weight included
    const double error = elementwise_error(run(folded, torch_out), torch_out.logits);
    INFO("per-element error against torch: " << error);
    CHECK(error <= tolerance<TestType>);
    CHECK(elementwise_error(node_output(folded, "ln_f"), torch_out.hidden) <= tolerance<TestType>);
}

TEST_CASE("lnfold-fold: the folded GPT-2 file's names, metadata and tables") {
    const io::safetensors_file file = io::safetensors_file::open(folded_file("gpt2.safetensors"));
    const io::safetensors_file original = io::safetensors_file::open(parity_fixture("gpt2.safetensors"));
    CHECK_THAT(metadata(file, "lnfold.folded_by"), StartsWith(std::string("lnfold ") + version_string));
    CHECK(metadata(file, "format") == "pt");
    CHECK(metadata(file, "lnfold.source") == "gpt2.safetensors");
    CHECK(metadata(file, "lnfold.rms_norms") == "h.0.ln_1,h.0.ln_2,h.1.ln_1,h.1.ln_2,ln_f");
    CHECK(metadata(file, "lnfold.eps") == "1e-05");
    CHECK_THAT(metadata(file, "lnfold.tie"), StartsWith("untie: lm_head.weight holds the original"));
    // Every parameter of the original under its name and shape, no mask buffers, plus the untied head.
    CHECK(file.tensors().size() == original.tensors().size() - 2 + 1);
    for (const auto& t : original.tensors())
        if (!models::detail::gpt2_mask_buffer(t.name)) CHECK(file.at(t.name).shape == t.shape);
    CHECK(file.read<float>("lm_head.weight") == original.read<float>("wte.weight"));  // the uncentred table
    CHECK(max_row_mean(original.read<float>("wte.weight"), 24) > 0.1);
    CHECK(max_row_mean(file.read<float>("wte.weight"), 24) < 1e-6);   // centred
    CHECK(max_row_mean(file.read<float>("wpe.weight"), 24) < 1e-6);
    CHECK(file.read<float>("h.1.ln_2.weight") == original.read<float>("h.1.ln_2.weight"));  // norms unchanged

    // The unfolded spec refuses it: its lm_head.weight is no longer a copy of the (now centred) wte.
    Model<Gpt2Fixture<>> unfolded;
    try {
        models::load_gpt2(unfolded, file);
        FAIL("a folded file loaded into the unfolded spec");
    } catch (const io_error& e) {
        CHECK_THAT(e.what(), Contains("copy 'lm_head.weight' of 'wte.weight' differs from 'wte.weight'"));
    }
}

TEMPLATE_TEST_CASE("lnfold-fold: the folded GPT2LMHeadModel file (--tie correct) reproduces torch's logits", "", float,
                   double) {
    using Net = folded_t<Gpt2Fixture<tie_fold::correct>>;
    const io::safetensors_file file = io::safetensors_file::open(folded_file("gpt2_lm_head.safetensors"));
    CHECK(file.find("transformer.wte.weight") != nullptr);  // the input's prefix is kept
    CHECK(file.find("lm_head.table_mean") != nullptr);      // the head's own parameter stays outside it
    CHECK(file.find("lm_head.weight") == nullptr);
    CHECK_THAT(metadata(file, "lnfold.tie"), StartsWith("correct: the head reads the centred transformer.wte.weight"));
    const torch_reference torch_out = gpt2_reference();
    Model<Net, TestType> folded;
    models::load_gpt2(folded, file);
    CHECK(elementwise_error(run(folded, torch_out), torch_out.logits) <= tolerance<TestType>);
}

TEMPLATE_TEST_CASE("lnfold-fold: the folded ViT file reproduces torch's logits and hidden states", "", float, double) {
    const io::safetensors_file file = io::safetensors_file::open(folded_file("vit.safetensors"));
    const io::safetensors_file original = io::safetensors_file::open(parity_fixture("vit.safetensors"));
    CHECK(file.tensors().size() == original.tensors().size());  // query / key / value split again, same names
    for (const auto& t : original.tensors()) CHECK(file.at(t.name).shape == t.shape);
    CHECK(metadata(file, "lnfold.eps") == "1e-12");
    CHECK_THAT(metadata(file, "lnfold.rms_norms"), StartsWith("vit.encoder.layer.0.layernorm_before,"));
    CHECK(max_row_mean(file.read<float>("vit.embeddings.position_embeddings"), 24) < 1e-6);

    const torch_reference torch_out = vit_reference();
    Model<folded_t<VitFixture>, TestType> folded;
    models::load_vit(folded, file);
    const double error = elementwise_error(run(folded, torch_out), torch_out.logits);
    INFO("per-element error against torch: " << error);
    CHECK(error <= tolerance<TestType>);
    CHECK(elementwise_error(node_output(folded, "layernorm"), torch_out.hidden) <= tolerance<TestType>);
}
