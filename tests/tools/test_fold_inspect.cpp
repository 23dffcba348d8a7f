// lnfold-fold's inspection of a file's shapes (tools/lnfold_fold/inspect.hpp) on hostile shapes (issue 24): a ViT
// position table of (1, 2^64 - 1, 0) used to send the grid search into an endless overflowing loop, products of
// sizes wrapped around, and counting blocks looked every name up with a linear scan. Files are built in memory.
#include "inspect.hpp"

#include <chrono>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "catch.hpp"

using namespace lnfold;
using namespace lnfold::fold_tool;
using Catch::Matchers::Contains;

namespace {

constexpr std::uint64_t u64_max = std::numeric_limits<std::uint64_t>::max();

// A file of U8 tensors (inspection reads only names and shapes): {name, shape}, data zero.
io::safetensors_file file_of(const std::vector<std::pair<std::string, std::vector<std::uint64_t>>>& tensors,
                             const std::string& source = "hostile.safetensors") {
    std::string header = "{";
    std::size_t offset = 0;
    for (const auto& [name, shape] : tensors) {
        std::string dims;
        std::size_t numel = 1;
        for (const std::uint64_t d : shape) {
            if (!dims.empty()) dims += ',';
            dims += std::to_string(d);
            numel = d == 0 || numel == 0 ? 0 : numel * d;  // the tests' non-empty tensors are small
        }
        if (header.size() > 1) header += ',';
        header += '"';
        header += name;
        header += "\":{\"dtype\":\"U8\",\"shape\":[" + dims + "],\"data_offsets\":[" + std::to_string(offset) + "," +
                  std::to_string(offset + numel) + "]}";
        offset += numel;
    }
    header += "}";
    std::vector<std::uint8_t> bytes(8 + header.size() + offset, 0);
    std::uint64_t n = header.size();
    for (int i = 0; i < 8; ++i, n >>= 8) bytes[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(n & 0xFF);
    std::memcpy(bytes.data() + 8, header.data(), header.size());
    return io::safetensors_file(std::move(bytes), source);
}

template <class F>
std::string config_error_message(F&& f) {
    try {
        f();
    } catch (const config_error& e) {
        return e.what();
    } catch (...) {
        return "another exception";
    }
    return "no config_error";
}

}  // namespace

static_assert(fold_tool::detail::integer_sqrt(0) == 0 && fold_tool::detail::integer_sqrt(1) == 1 && fold_tool::detail::integer_sqrt(3) == 1 &&
              fold_tool::detail::integer_sqrt(4) == 2 && fold_tool::detail::integer_sqrt(196) == 14 && fold_tool::detail::integer_sqrt(195) == 13);
static_assert(fold_tool::detail::integer_sqrt(u64_max) == 4294967295u && fold_tool::detail::integer_sqrt(u64_max - 1) == 4294967295u);
static_assert(fold_tool::detail::integer_sqrt(4294967295u * std::uint64_t{4294967295u}) == 4294967295u &&
              fold_tool::detail::integer_sqrt(4294967295u * std::uint64_t{4294967295u} - 1) == 4294967294u);

TEST_CASE("fold inspect (#3): a ViT position table of (1, 2^64 - 1, 0) is a config error, at once") {
    // The 224-byte file of the issue: a patch projection and a zero-element position table 2^64 - 1 rows long.
    const io::safetensors_file file = file_of({{"embeddings.patch_embeddings.projection.weight", {0, 3, 16, 16}},
                                               {"embeddings.position_embeddings", {1, u64_max, 0}}});
    REQUIRE(family_of(file) == family::vit);
    const auto start = std::chrono::steady_clock::now();
    const std::string message = config_error_message([&] { vit_sizes_of(file, 4); });
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    CHECK(message == "'hostile.safetensors': 'embeddings.position_embeddings' (1, 18446744073709551615, 0) does not "
                     "hold a square grid of patches plus [CLS]");
    CHECK(seconds < 1.0);
}

TEST_CASE("fold inspect (#3): a square grid too large for the image size overflows with a message") {
    // (2^32 - 1)^2 patches + [CLS]: a perfect square whose grid x patch overflows size_t.
    const std::uint64_t rows = 4294967295u * std::uint64_t{4294967295u} + 1;
    const io::safetensors_file file = file_of({{"vit.embeddings.patch_embeddings.projection.weight", {0, 3, 8589934592, 16}},
                                               {"vit.embeddings.position_embeddings", {1, rows, 0}}});
    CHECK_THAT(config_error_message([&] { vit_sizes_of(file, 4); }),
               Contains("'vit.embeddings.patch_embeddings.projection.weight' (0, 3, 8589934592, 16): the image size "
                        "(grid of 'vit.embeddings.position_embeddings') x patch = 4294967295 x 8589934592 overflows "
                        "size_t"));
}

TEST_CASE("fold inspect: a ViT grid that is square is read exactly") {
    const io::safetensors_file file = file_of({{"embeddings.patch_embeddings.projection.weight", {8, 3, 4, 4}},
                                               {"embeddings.position_embeddings", {1, 17, 8}},
                                               {"encoder.layer.0.layernorm_before.weight", {8}},
                                               {"encoder.layer.1.layernorm_before.weight", {8}},
                                               {"encoder.layer.0.intermediate.dense.weight", {32, 8}},
                                               {"classifier.weight", {10, 8}}});
    const vit_sizes s = vit_sizes_of(file, 4);
    CHECK(s.image == 16);
    CHECK(s.patch == 4);
    CHECK(s.layers == 2);
    CHECK(s.mlp == 32);
    const io::safetensors_file not_square = file_of({{"embeddings.patch_embeddings.projection.weight", {8, 3, 4, 4}},
                                                     {"embeddings.position_embeddings", {1, 16, 8}}});
    CHECK_THAT(config_error_message([&] { vit_sizes_of(not_square, 4); }), Contains("does not hold a square grid"));
}

TEST_CASE("fold inspect: GPT-2's MLP width 4 x d_model is checked for overflow") {
    const io::safetensors_file file = file_of({{"wte.weight", {0, 4611686018427387904}},
                                               {"wpe.weight", {0, 4611686018427387904}},
                                               {"h.0.ln_1.weight", {0}},
                                               {"h.0.mlp.c_fc.weight", {4611686018427387904, 0}}});
    REQUIRE(family_of(file) == family::gpt2);
    CHECK_THAT(config_error_message([&] { gpt2_sizes_of(file, 4); }),
               Contains("'wte.weight' (0, 4611686018427387904): the MLP width 4 x d_model = 4 x 4611686018427387904 "
                        "overflows size_t"));
}

TEST_CASE("fold inspect: counting 65536 blocks is bounded by the tensors and costs n log n, not n^2") {
    std::vector<std::pair<std::string, std::vector<std::uint64_t>>> tensors = {{"wte.weight", {0, 8}}, {"wpe.weight", {0, 8}}};
    for (std::size_t i = 0; i < io::safetensors_max_tensors - 2; ++i)
        tensors.push_back({"transformer.h." + std::to_string(i) + ".ln_1.weight", {8}});
    const io::safetensors_file file = file_of(tensors);
    const auto start = std::chrono::steady_clock::now();
    const std::size_t blocks = fold_tool::detail::count_blocks(file, models::gpt2_prefix, "h.", ".ln_1.weight");
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    CHECK(blocks == io::safetensors_max_tensors - 2);
    // A linear scan per name took about 2^32 string comparisons here (tens of seconds); the binary search takes
    // milliseconds, also under sanitizers.
    CHECK(seconds < 2.0);
    CHECK(fold_tool::detail::count_blocks(file, models::gpt2_prefix, "h.", ".ln_2.weight") == 0);
}
