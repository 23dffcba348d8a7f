// models::Vit against PyTorch: a small random ViTForImageClassification written by torch with Hugging Face's
// conventions and names (tests/models/fixtures, scripts/make_parity_fixtures.py) loads strictly (separate query / key /
// value fused into qkv, the (1, N + 1, D) position table), reproduces torch's logits and final hidden states on NCHW
// images converted to NHWC, in float and double, folds exactly, saves back to the same file layout (qkv split again),
// loads without the vit. prefix too, and a broken file is refused with every offending tensor named.
#include "lnfold/models/vit.hpp"  // first: the header compiles on its own

#include <cstring>
#include <string>
#include <vector>

#include "catch.hpp"
#include "parity_fixtures.hpp"

using namespace lnfold;
using namespace lnfold_test;
using Catch::Matchers::Contains;

namespace {

// The io_error message of a strict load of file into the fixture's spec.
std::string load_error(const io::safetensors_file& file) {
    Model<VitFixture> model;
    return io_error_message([&] { models::load_vit(model, file); });
}

}  // namespace

TEMPLATE_TEST_CASE("ViT parity: ViTForImageClassification's file loads strictly and matches torch, before and after fold",
                   "", float, double) {
    const torch_reference torch_out = vit_reference();
    Model<VitFixture, TestType> model;
    const io::load_result r = models::load_vit(model, parity_fixture("vit.safetensors"));
    CHECK(r.loaded.size() == Model<VitFixture, TestType>::tensor_count);
    CHECK(r.ignored.empty());
    CHECK(r.prefixed == 38);  // all but classifier.weight and classifier.bias
    CHECK(model.eps("layernorm") == 1e-12);

    const double before = elementwise_error(run(model, torch_out), torch_out.logits);
    INFO("per-element error of the logits: " << before);
    CHECK(before <= parity_tolerance<TestType>);
    CHECK(elementwise_error(node_output(model, "layernorm"), torch_out.hidden) <= parity_tolerance<TestType>);  // all 17 tokens
    CHECK(norm_input_mean(model) > 0.05);

    STATIC_REQUIRE(foldable_count_v<VitFixture> == 5);
    Model<folded_t<VitFixture>, TestType> folded = fold(model);
    CHECK(folded.eps("layernorm") == 1e-12);
    const double after = elementwise_error(run(folded, torch_out), torch_out.logits);
    INFO("per-element error of the folded logits: " << after);
    CHECK(after <= parity_tolerance<TestType>);
    CHECK(elementwise_error(node_output(folded, "layernorm"), torch_out.hidden) <= parity_tolerance<TestType>);
    CHECK(norm_input_mean(folded) < (sizeof(TestType) == 4 ? 1e-6 : 1e-14));
}

TEST_CASE("ViT: pixels must be NHWC: torch's NCHW bytes as they are give other logits") {
    const torch_reference torch_out = vit_reference();
    Model<VitFixture> model;
    models::load_vit(model, parity_fixture("vit.safetensors"));
    torch_reference nchw = torch_out;
    nchw.pixels = io::safetensors_file::open(parity_fixture("vit_io.safetensors")).read<float>("pixel_values");
    CHECK(elementwise_error(run(model, nchw), torch_out.logits) > 0.05);
}

TEST_CASE("ViT: saving writes the Hugging Face layout back, bit for bit; the file loads without the vit. prefix too") {
    const io::safetensors_file original = io::safetensors_file::open(parity_fixture("vit.safetensors"));
    Model<VitFixture> model;
    models::load_vit(model, original);
    const io::safetensors_file saved(io::save_bytes(model, models::vit_save_options()));
    REQUIRE(saved.tensors().size() == original.tensors().size());  // query, key and value split again
    for (const auto& t : original.tensors()) {
        INFO(t.name);
        const io::tensor_info* s = saved.find(t.name);
        REQUIRE(s != nullptr);
        CHECK(s->shape == t.shape);  // position_embeddings (1, 17, 24), cls_token (1, 1, 24)
        const auto a = original.bytes_of(t), b = saved.bytes_of(*s);
        CHECK(std::equal(a.begin(), a.end(), b.begin(), b.end()));
    }

    const io::safetensors_writer bare = edited(original, [](std::string& name, std::vector<std::size_t>&) {
        if (name.starts_with("vit.")) name.erase(0, 4);
        return true;
    });
    Model<VitFixture> unprefixed;
    CHECK(models::load_vit(unprefixed, io::safetensors_file(bare.bytes())).prefixed == 0);
    CHECK(std::memcmp(model.parameters().data(), unprefixed.parameters().data(), model.parameters().size_bytes()) == 0);
    const io::safetensors_file saved_bare(io::save_bytes(model, models::vit_save_options("")));
    CHECK(saved_bare.find("embeddings.cls_token") != nullptr);
    CHECK(saved_bare.find("classifier.weight") != nullptr);
}

TEST_CASE("ViT: strict load names a missing part of a fused qkv, a mis-shaped position table and a renamed tensor") {
    const io::safetensors_file original = io::safetensors_file::open(parity_fixture("vit.safetensors"));
    const io::safetensors_writer w = edited(original, [](std::string& name, std::vector<std::size_t>& shape) {
        if (name == "vit.embeddings.position_embeddings") shape = {17, 24};  // the leading 1 dropped
        if (name == "vit.encoder.layer.0.attention.output.dense.weight") name = "vit.encoder.layer.0.attention.out.weight";
        if (name == "vit.encoder.layer.1.attention.attention.value.weight") shape = {12, 48};
        return name != "vit.encoder.layer.1.attention.attention.key.bias";
    });
    const std::string message = load_error(io::safetensors_file(w.bytes(), "vit_edited.safetensors"));
    INFO(message);
    CHECK_THAT(message, Contains("into a model with 32 parameter tensors: 5 problems"));
    CHECK_THAT(message, Contains("shape mismatch 'embeddings.position_embeddings.weight' (file name "
                                 "'vit.embeddings.position_embeddings'): expected (1, 17, 24), the file has (17, 24)"));
    CHECK_THAT(message, Contains("missing 'encoder.layer.1.attention.qkv.bias' part 2 of 3 (file name "
                                 "'encoder.layer.1.attention.attention.key.bias'), with or without the prefix 'vit.': "
                                 "expected shape (24)"));
    CHECK_THAT(message, Contains("shape mismatch 'encoder.layer.1.attention.qkv.weight' part 3 of 3 (file name "
                                 "'vit.encoder.layer.1.attention.attention.value.weight'): expected (24, 24), the file has (12, 48)"));
    CHECK_THAT(message, Contains("missing 'encoder.layer.0.attention.proj.weight' (file name "
                                 "'encoder.layer.0.attention.output.dense.weight')"));
    CHECK_THAT(message, Contains("unexpected 'vit.encoder.layer.0.attention.out.weight'"));
}
