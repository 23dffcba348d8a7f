// Run-time mistakes throw lnfold exceptions of the right type whose message names the layer (or tensor) and
// says expected versus actual.
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "catch.hpp"
#include "error_networks.hpp"
#include "require_error.hpp"

#include <lnfold/lnfold.hpp>

using namespace lnfold;
using namespace lnfold_test::error_networks;

TEST_CASE("a feature batch of the wrong size names both sizes") {
    Model<Mlp> model;
    std::vector<float> x(4 * 5 - 1);
    require_error<shape_error>([&] { model.forward(std::span<const float>(x), Layout::rows(4)); },
                               {"needs 20 values", "4 rows x 5", "got 19"});
    require_error<shape_error>([&] { model.forward(std::span<const float>(x), Layout::rows(0)); }, {"empty"});
    std::vector<std::int32_t> ids(4);
    require_error<shape_error>([&] { model.forward(std::span<const std::int32_t>(ids), Layout::rows(4)); },
                               {"5 features per row", "not token ids"});
}

TEST_CASE("token ids: wrong count, out of range, sequence longer than the position table") {
    Model<Gpt> model;
    std::vector<std::int32_t> ids(2 * 4, 1);
    require_error<shape_error>([&] { model.forward(std::span<const std::int32_t>(ids), Layout::sequence(2, 5)); },
                               {"needs 10 token ids", "got 8"});
    ids[5] = static_cast<std::int32_t>(V);
    require_error<index_error>([&] { model.forward(std::span<const std::int32_t>(ids), Layout::sequence(2, 4)); },
                               {"'wte'", "row 5", "[0, 10)", "got 10"});
    ids[5] = -3;
    require_error<index_error>([&] { model.forward(std::span<const std::int32_t>(ids), Layout::sequence(2, 4)); },
                               {"'wte'", "got -3"});
    std::vector<std::int32_t> long_ids(T + 1, 0);
    require_error<index_error>(
        [&] { model.forward(std::span<const std::int32_t>(long_ids), Layout::sequence(1, T + 1)); },
        {"'wpe'", "at most 6", "got 7"});
    std::vector<float> features(8 * D);
    require_error<shape_error>([&] { model.forward(std::span<const float>(features), Layout::rows(8)); },
                               {"token ids"});
    // The model still works after the errors.
    std::vector<std::int32_t> good(T, 2);
    CHECK(model.forward(std::span<const std::int32_t>(good), Layout::sequence(1, T)).rows() == T);
}

TEST_CASE("eps must be finite and > 0, per norm or for all; unknown paths are named") {
    Model<Gpt> model;
    require_error<config_error>([&] { model.set_eps(0.0); }, {"eps", "> 0", "got 0"});
    require_error<config_error>([&] { model.set_eps("h.0.ln_1", -1e-5); }, {"h.0.ln_1", "got -1e-05"});
    require_error<config_error>([&] { model.set_eps(std::numeric_limits<double>::quiet_NaN()); }, {"eps"});
    require_error<config_error>([&] { model.set_eps("h.0.attn", 1e-5); }, {"'h.0.attn'", "h.0.ln_1, ln_f"});
    model.set_eps("ln_f", 1e-3);
    CHECK(model.eps("ln_f") == 1e-3);
    CHECK(model.eps("h.0.ln_1") == 1e-5);
    model.set_eps(1e-6);
    CHECK(model.eps("ln_f") == 1e-6);
}

// Issue 24, defect 10 (a): eps is added to the variance in the model's element type, so it must be > 0 and finite
// there. 1e-300 is 0 in float (a constant row would give 0 / sqrt(0) = NaN) but a fine double.
TEST_CASE("eps must be finite and > 0 in the model's element type") {
    Model<Gpt> model;
    require_error<config_error>([&] { model.set_eps(1e-300); }, {"eps of all norms", "got 1e-300", "0 in float"});
    require_error<config_error>([&] { model.set_eps("ln_f", 1e-300); }, {"eps of ln_f", "got 1e-300", "0 in float"});
    require_error<config_error>([&] { model.set_eps(1e300); }, {"eps of all norms", "got 1e+300", "inf in float"});
    CHECK(model.eps("ln_f") == 1e-5);  // a refused eps changes nothing
    model.set_eps(1e-40);              // a float subnormal is still > 0
    CHECK(model.eps("ln_f") == 1e-40);

    Model<Seq<Named<"ln", LayerNorm<4>>>, double> reference;
    reference.set_eps(1e-300);
    CHECK(reference.eps("ln") == 1e-300);
    reference.set_eps("ln", 1e300);
    CHECK(reference.eps("ln") == 1e300);
    reference.set_eps("ln", 1e-300);
    // A constant row has variance 0: the output is (x - mean) / sqrt(0 + eps) = 0, finite because eps is not 0.
    const std::vector<double> constant(4, 3.0);
    const auto y = reference.forward(std::span<const double>(constant), Layout::rows(1));
    for (double v : y.span()) CHECK(v == 0.0);
}

// Issue 24, defect 10 (b): set_eps on a network without norms used to do nothing.
TEST_CASE("set_eps on a network without norms is an error") {
    Model<Mlp> with_rms;
    with_rms.set_eps(1e-6);
    CHECK(with_rms.eps("norm") == 1e-6);
    Model<Seq<Named<"fc", Linear<5, 3>>, ReLU>> plain;
    require_error<config_error>([&] { plain.set_eps(1e-6); }, {"Model::set_eps", "no LayerNorm or RMSNorm", "no eps to set"});
    require_error<config_error>([&] { plain.set_eps("fc", 1e-6); }, {"'fc'", "norms: none"});
}

TEST_CASE("unknown parameter paths list what exists") {
    Model<Mlp> model;
    require_error<config_error>([&] { (void)model.parameter("fc.weights"); }, {"'fc.weights'", "fc.weight", "head.bias"});
    CHECK(model.parameter("fc.weight").size() == 5 * D);
}

TEST_CASE("images: convolutions need an image layout at least as large as the kernel") {
    Model<Cnn> model;
    std::vector<float> pixels(2 * 5 * 5 * 3);
    require_error<shape_error>([&] { model.forward(std::span<const float>(pixels), Layout::sequence(2, 25)); },
                               {"'stem'", "expected an image input", "2 x 25 tokens"});
    std::vector<float> tiny(2 * 2 * 2 * 3);
    require_error<shape_error>([&] { model.forward(std::span<const float>(tiny), Layout::image(2, 2, 2)); },
                               {"'stem'", "at least 3 x 3", "got 2 x 2"});
    CHECK(model.forward(std::span<const float>(pixels), Layout::image(2, 5, 5)).rows() == 2);
}

TEST_CASE("TakeToken beyond the sequence and residual branches that change the layout") {
    Model<Seq<Linear<4, 4>, TakeToken<3>>> take;
    std::vector<float> x(2 * 3 * 4);
    require_error<index_error>([&] { take.forward(std::span<const float>(x), Layout::sequence(2, 3)); },
                               {"below the sequence length 3", "got 3"});
    Model<Seq<Linear<4, 4>, Named<"pool", Residual<MeanPool>>>> pooled;
    require_error<shape_error>([&] { pooled.forward(std::span<const float>(x), Layout::sequence(2, 3)); },
                               {"pool", "expected 2 x 3 tokens", "got 2 x 1 tokens"});
}

TEST_CASE("moving a Model takes its arenas without copying; the moved-from Model refuses every call") {
    Model<Gpt> model(3);
    model.set_eps("h.0.ln_1", 1e-3);
    std::vector<std::int32_t> ids(2 * 4, 1);
    const auto before = model.forward(std::span<const std::int32_t>(ids), Layout::sequence(2, 4));
    const std::vector<float> expected(before.span().begin(), before.span().end());
    const float* arena = model.parameters().data();
    const float* output = before.data;

    Model<Gpt> moved(std::move(model));
    CHECK(moved.parameters().data() == arena);  // the same memory: nothing was copied
    CHECK(moved.output().data == output);       // the latest forward moves with it
    CHECK(moved.eps("h.0.ln_1") == 1e-3);
    const auto after = moved.forward(std::span<const std::int32_t>(ids), Layout::sequence(2, 4));
    CHECK(std::vector<float>(after.span().begin(), after.span().end()) == expected);

    const char* moved_from = "was moved from";
    require_error<config_error>([&] { model.forward(std::span<const std::int32_t>(ids), Layout::sequence(2, 4)); },
                                {"Model::forward", moved_from});
    CHECK(model.try_forward(std::span<const std::int32_t>(ids), Layout::sequence(2, 4)).error().kind() ==
          error_kind::config);
    require_error<config_error>([&] { (void)model.parameters(); }, {"Model::parameters", moved_from});
    require_error<config_error>([&] { (void)std::as_const(model).parameters(); }, {"Model::parameters", moved_from});
    require_error<config_error>([&] { (void)model.parameter("wte.weight"); }, {moved_from});
    require_error<config_error>([&] { model.set_eps(1e-4); }, {"Model::set_eps", moved_from});
    require_error<config_error>([&] { (void)model.eps("h.0.ln_1"); }, {"Model::eps", moved_from});
    require_error<config_error>([&] { model.zero_grad(); }, {moved_from});
    require_error<config_error>([&] { (void)model.memory_report(); }, {moved_from});
    require_error<config_error>([&] { (void)model.activation_bytes(Layout::sequence(2, 4)).value(); }, {moved_from});
    require_error<config_error>([&] { (void)model.decoder(1, 4); }, {moved_from});
    Model<Gpt> copy_of_moved_from = model;  // copies the empty state
    require_error<config_error>([&] { (void)copy_of_moved_from.parameters(); }, {moved_from});

    model = std::move(moved);  // assigning brings it back
    CHECK(model.parameters().data() == arena);
    const auto again = model.forward(std::span<const std::int32_t>(ids), Layout::sequence(2, 4));
    CHECK(std::vector<float>(again.span().begin(), again.span().end()) == expected);
    model = Model<Gpt>(3);  // move assignment from a temporary
    CHECK(model.eps("h.0.ln_1") == 1e-5);
}
