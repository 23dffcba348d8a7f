// models::Gpt2 against PyTorch: a small random GPT-2 written by torch with Hugging Face's conventions and names
// (tests/models/fixtures, scripts/make_parity_fixtures.py) loads strictly, reproduces torch's logits and final hidden
// states in float and double, folds exactly (both tie choices), saves back to the same file layout, and a file with
// a renamed, missing, mis-shaped or inconsistent tensor is refused with every offending tensor named.
#include <cstdint>
#include "lnfold/models/gpt2.hpp"  // first: the header compiles on its own

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
    Model<Gpt2Fixture<>> model;
    return io_error_message([&] { models::load_gpt2(model, file); });
}

}  // namespace

TEMPLATE_TEST_CASE("GPT-2 parity: the hub's file layout loads strictly and matches torch, before and after fold", "",
                   float, double) {
    const torch_reference torch_out = gpt2_reference();
    Model<Gpt2Fixture<>, TestType> model;
    const io::load_result r = models::load_gpt2(model, parity_fixture("gpt2.safetensors"));
    CHECK(r.loaded.size() == Model<Gpt2Fixture<>, TestType>::tensor_count);
    CHECK(r.kept.empty());
    CHECK(r.ignored == std::vector<std::string>{"h.0.attn.bias", "h.1.attn.bias"});  // F32 (1, 1, 16, 16) mask buffers
    CHECK(r.copies.empty());
    CHECK(r.prefixed == 0);

    const std::vector<double> logits = run(model, torch_out);
    const double before = elementwise_error(logits, torch_out.logits);
    INFO("per-element error of the logits: " << before);
    CHECK(before <= parity_tolerance<TestType>);
    CHECK(elementwise_error(node_output(model, "ln_f"), torch_out.hidden) <= parity_tolerance<TestType>);
    CHECK(norm_input_mean(model) > 0.05);  // the LayerNorms read rows far from zero-mean: folding is not trivial

    STATIC_REQUIRE(foldable_count_v<Gpt2Fixture<>> == 5);
    Model<folded_t<Gpt2Fixture<>>, TestType> folded = fold(model);
    const double after = elementwise_error(run(folded, torch_out), torch_out.logits);
    INFO("per-element error of the folded logits: " << after);
    CHECK(after <= parity_tolerance<TestType>);
    CHECK(elementwise_error(node_output(folded, "ln_f"), torch_out.hidden) <= parity_tolerance<TestType>);
    CHECK(norm_input_mean(folded) < (sizeof(TestType) == 4 ? 1e-6 : 1e-14));  // the RMSNorms read zero-mean rows
}

TEMPLATE_TEST_CASE("GPT-2 parity: the tied head folded with the rank-1 correction matches torch", "", float, double) {
    using Net = Gpt2Fixture<tie_fold::correct>;
    const torch_reference torch_out = gpt2_reference();
    Model<Net, TestType> model;
    models::load_gpt2(model, parity_fixture("gpt2.safetensors"));
    const Model<folded_t<Net>, TestType> folded = fold(model);
    auto copy = folded;
    const double error = elementwise_error(run(copy, torch_out), torch_out.logits);
    INFO("per-element error of the folded logits: " << error);
    CHECK(error <= parity_tolerance<TestType>);
}

TEST_CASE("GPT-2: GPT2LMHeadModel's layout (transformer. prefix, BOOL masks, lm_head.weight) gives the same model") {
    Model<Gpt2Fixture<>> hub, lm_head;
    models::load_gpt2(hub, parity_fixture("gpt2.safetensors"));
    const io::load_result r = models::load_gpt2(lm_head, parity_fixture("gpt2_lm_head.safetensors"));
    CHECK(r.prefixed == 32);  // every tensor but lm_head.weight
    CHECK(r.copies == std::vector<std::string>{"lm_head.weight"});
    CHECK(r.ignored.size() == 4);  // attn.bias (BOOL) and attn.masked_bias per block
    CHECK(std::memcmp(hub.parameters().data(), lm_head.parameters().data(), hub.parameters().size_bytes()) == 0);
}

TEST_CASE("GPT-2: saving writes the Hugging Face layout back, bit for bit, with or without the prefix") {
    Model<Gpt2Fixture<>> model;
    models::load_gpt2(model, parity_fixture("gpt2.safetensors"));
    for (const char* source : {"gpt2.safetensors", "gpt2_lm_head.safetensors"}) {
        const io::safetensors_file original = io::safetensors_file::open(parity_fixture(source));
        const bool prefixed = std::string(source) == "gpt2_lm_head.safetensors";
        const io::safetensors_file saved(io::save_bytes(model, models::gpt2_save_options(prefixed ? "transformer." : "")));
        std::size_t compared = 0;
        for (const auto& t : original.tensors()) {
            if (models::detail::gpt2_mask_buffer(prefixed ? t.name.substr(12) : t.name) || t.name == "lm_head.weight") continue;
            INFO(source << ": " << t.name);
            const io::tensor_info* s = saved.find(t.name);
            REQUIRE(s != nullptr);
            CHECK(s->type == t.type);
            CHECK(s->shape == t.shape);  // Conv1D weights transposed back to (in, out)
            const auto a = original.bytes_of(t), b = saved.bytes_of(*s);
            CHECK(std::equal(a.begin(), a.end(), b.begin(), b.end()));
            ++compared;
        }
        CHECK(compared == saved.tensors().size());
    }
}

TEST_CASE("GPT-2: strict load names every renamed, missing, mis-shaped or inconsistent tensor and loads nothing") {
    const io::safetensors_file original = io::safetensors_file::open(parity_fixture("gpt2_lm_head.safetensors"));
    io::safetensors_writer w = edited(original, [](std::string& name, std::vector<std::size_t>& shape) {
        if (name == "transformer.h.1.ln_2.weight") name = "transformer.h.1.ln2.weight";              // renamed
        if (name == "transformer.h.0.attn.c_attn.weight") shape = {72, 24};                          // (out, in): not Conv1D
        if (name == "transformer.wpe.weight") shape = {24, 16};
        return name != "transformer.h.0.mlp.c_fc.bias" && name != "lm_head.weight";                 // missing
    });
    std::vector<float> head = original.read<float>("lm_head.weight");
    head[5] += 0.25f;  // a tied copy that is not a copy
    w.add("lm_head.weight", std::span<const float>(head), {61, 24});
    const std::string message = load_error(io::safetensors_file(w.bytes(), "edited.safetensors"));
    INFO(message);
    CHECK_THAT(message, Contains("cannot load safetensors file 'edited.safetensors' into a model with 28 parameter tensors: 6 problems"));
    CHECK_THAT(message, Contains("missing 'h.1.ln_2.weight', with or without the prefix 'transformer.': expected shape (24)"));
    CHECK_THAT(message, Contains("unexpected 'transformer.h.1.ln2.weight': F32 (24)"));
    CHECK_THAT(message, Contains("missing 'h.0.mlp.c_fc.bias', with or without the prefix 'transformer.': expected shape (96)"));
    CHECK_THAT(message, Contains("shape mismatch 'h.0.attn.qkv.weight' (file name 'transformer.h.0.attn.c_attn.weight'), "
                                 "transposed: expected (24, 72), the file has (72, 24)"));
    CHECK_THAT(message, Contains("shape mismatch 'wpe.weight' (file name 'transformer.wpe.weight'): expected (16, 24), "
                                 "the file has (24, 16)"));
    CHECK_THAT(message, Contains("copy 'lm_head.weight' of 'wte.weight' differs from 'transformer.wte.weight': 1 of 1464 "
                                 "values differ, the first at element 5"));

    // A file with both 'wte.weight' and 'transformer.wte.weight' is ambiguous.
    io::safetensors_writer both = edited(original, [](std::string&, std::vector<std::size_t>&) { return true; });
    const std::vector<float> wte = original.read<float>("transformer.wte.weight");
    both.add("wte.weight", std::span<const float>(wte), {61, 24});
    CHECK_THAT(load_error(io::safetensors_file(both.bytes())),
               Contains("ambiguous 'wte.weight': the file has both 'transformer.wte.weight' and 'wte.weight'"));
}
