// Files written by torch 1.13 without the safetensors package (scripts/make_io_fixtures.py): lnfold's reader must
// give torch's own F16 / BF16 widening bit for bit, lnfold's narrowing must round like torch, and a small torch
// model (Conv1D-layout first weight, Hugging Face-like names) loaded with a name map + transpose must reproduce
// torch's outputs.
#include "lnfold/io/weights.hpp"

#include <bit>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include <lnfold/lnfold.hpp>

#include "catch.hpp"

using namespace lnfold;

namespace {
const std::string fixtures = LNFOLD_IO_FIXTURES;
}

TEST_CASE("torch fixture: header, dtypes, shapes and metadata") {
    const io::safetensors_file file = io::read_safetensors(fixtures + "/torch_dtypes.safetensors");
    CHECK(file.header().metadata_value("format") == "pt");
    CHECK(file.at("f32.matrix").type == io::dtype::F32);
    CHECK(file.at("f32.matrix").shape == std::vector<std::size_t>{3, 4});
    CHECK(file.at("f64.scalar").shape.empty());
    CHECK(file.read<double>("f64.scalar") == std::vector<double>{3.141592653589793});
    CHECK(file.at("f32.empty").shape == std::vector<std::size_t>{0, 5});
    CHECK(file.read<float>("f32.empty").empty());
    CHECK(file.at("f16.values").type == io::dtype::F16);
    CHECK(file.at("bf16.values").type == io::dtype::BF16);
    CHECK(file.at("bf16.shaped").shape == std::vector<std::size_t>{2, 3, 2});
}

TEST_CASE("torch fixture: F16 / BF16 widening equals torch's, bit for bit (NaN as NaN)") {
    const io::safetensors_file file = io::read_safetensors(fixtures + "/torch_dtypes.safetensors");
    for (const char* name : {"f16.values", "bf16.values", "bf16.shaped"}) {
        INFO(name);
        const auto ours = file.read<double>(name);
        const auto torch = file.read<double>(std::string(name) + ".f64");
        REQUIRE(ours.size() == torch.size());
        REQUIRE(ours.size() > 10);
        for (std::size_t i = 0; i < ours.size(); ++i) {
            INFO(i);
            if (std::isnan(torch[i])) REQUIRE(std::isnan(ours[i]));
            else REQUIRE(std::bit_cast<std::uint64_t>(ours[i]) == std::bit_cast<std::uint64_t>(torch[i]));
        }
        const auto as_float = file.read<float>(name);
        for (std::size_t i = 0; i < ours.size(); ++i)
            if (!std::isnan(torch[i])) REQUIRE(static_cast<double>(as_float[i]) == torch[i]);
    }
}

TEST_CASE("torch fixture: F16 / BF16 narrowing rounds exactly like torch") {
    const io::safetensors_file file = io::read_safetensors(fixtures + "/torch_dtypes.safetensors");
    for (const bool bf16 : {false, true}) {
        const std::string name = bf16 ? "bf16.values" : "f16.values";
        INFO(name);
        const auto src = file.read<float>(name + ".src");
        const auto bytes = file.bytes_of(file.at(name));
        REQUIRE(bytes.size() == 2 * src.size());
        std::size_t nan_count = 0, subnormal_count = 0;
        for (std::size_t i = 0; i < src.size(); ++i) {
            INFO(i << ": " << src[i]);
            const auto torch = static_cast<std::uint16_t>(bytes[2 * i] | (bytes[2 * i + 1] << 8));
            const std::uint16_t ours = bf16 ? io::float_to_bf16(src[i]) : io::float_to_f16(src[i]);
            if (std::isnan(src[i])) {
                ++nan_count;
                REQUIRE(std::isnan(bf16 ? io::bf16_to_float(ours) : io::f16_to_float(ours)));
                continue;
            }
            if (!bf16 && (torch & 0x7C00) == 0 && (torch & 0x3FF) != 0) ++subnormal_count;
            REQUIRE(ours == torch);
        }
        CHECK(nan_count == 1);
        if (!bf16) CHECK(subnormal_count >= 3);
    }
}

TEST_CASE("torch fixture: a torch MLP with Conv1D-layout weights loads by name map + transpose and matches torch") {
    using Mlp = Seq<Linear<4, 8>, LayerNorm<8>, GELU, Linear<8, 3>>;
    const io::safetensors_file file = io::read_safetensors(fixtures + "/torch_mlp.safetensors");
    io::load_options o;
    o.names = {{"0.weight", "fc.weight"}, {"0.bias", "fc.bias"}, {"1.weight", "ln.weight"},
               {"1.bias", "ln.bias"},     {"3.weight", "head.weight"}, {"3.bias", "head.bias"}};
    o.transposed = {"0.weight"};  // stored (in, out) like GPT-2's Conv1D

    // Strict: the input and output tensors are unexpected.
    Model<Mlp, double> strict(0);
    try {
        io::load(strict, file, o);
        FAIL("strict load accepted unexpected tensors");
    } catch (const io_error& e) {
        CHECK_THAT(std::string(e.what()), Catch::Matchers::Contains("unexpected 'input'") &&
                                              Catch::Matchers::Contains("unexpected 'output'"));
    }
    o.strict = false;

    const auto x = file.read<double>("input");
    const auto expected = file.read<double>("output");
    REQUIRE(x.size() == 5 * 4);
    REQUIRE(expected.size() == 5 * 3);

    Model<Mlp, double> md(0);
    const io::load_result r = io::load(md, file, o);
    CHECK(r.loaded.size() == 6);
    CHECK(r.ignored == std::vector<std::string>{"input", "output"});
    const auto yd = md.forward(std::span<const double>(x), Layout::rows(5));
    REQUIRE(yd.size() == expected.size());
    for (std::size_t i = 0; i < expected.size(); ++i) CHECK(yd.data[i] == Approx(expected[i]).epsilon(1e-12).margin(1e-13));

    Model<Mlp, float> mf(0);
    io::load(mf, file, o);
    const std::vector<float> xf(x.begin(), x.end());
    const auto yf = mf.forward(std::span<const float>(xf), Layout::rows(5));
    for (std::size_t i = 0; i < expected.size(); ++i) CHECK(yf.data[i] == Approx(expected[i]).epsilon(1e-5).margin(1e-6));
}
