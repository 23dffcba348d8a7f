// A parameter arena saved as one safetensors tensor and run on in place from the mapped file (io/arena.hpp): the
// same outputs as the model that saved it, nothing copied, and every mismatch refused by name.
#include <cstdint>
#include <cstring>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include "architectures.hpp"
#include "catch.hpp"
#include "require_error.hpp"
#include "scratch_directory.hpp"

#include <lnfold/io/arena.hpp>
#include <lnfold/io/weights.hpp>
#include <lnfold/lnfold.hpp>

using namespace lnfold;

namespace {
// The fold tests' GPT, and a network of another layout (no final norm).
using lnfold_test::arch::Gpt;
using lnfold_test::arch::T;
using lnfold_test::arch::V;
using Other = lnfold_test::arch::GptNoFinalLn;

std::vector<std::int32_t> token_ids(std::size_t count) {
    std::vector<std::int32_t> ids(count);
    for (std::size_t i = 0; i < count; ++i) ids[i] = static_cast<std::int32_t>((5 * i + 1) % V);
    return ids;
}
}  // namespace

TEST_CASE("a model runs in place on an arena mapped from its file") {
    lnfold_test::scratch_directory dir("lnfold-arena");
    const std::string path = dir.path() + "/gpt.arena.safetensors";
    Model<Gpt> saved(11, init_scheme::normal);
    io::save_arena(saved, path);

    const io::safetensors_file file = io::safetensors_file::map(path);
    const std::span<const float> arena = io::arena_of<Gpt, float>(file);
    CHECK(std::memcmp(arena.data(), saved.parameters().data(), arena.size_bytes()) == 0);
    // In place: the span points into the file's bytes, not into a copy.
    const std::span<const std::uint8_t> bytes = file.bytes_of(file.at(io::arena_tensor_name));
    CHECK(static_cast<const void*>(arena.data()) == static_cast<const void*>(bytes.data()));
    Model<Gpt> in_place(arena);
    CHECK(in_place.borrows_parameters());
    const std::vector<std::int32_t> ids = token_ids(2 * T);
    const tensor_view<float> a = saved.forward(std::span<const std::int32_t>(ids), Layout::sequence(2, T));
    const tensor_view<float> b = in_place.forward(std::span<const std::int32_t>(ids), Layout::sequence(2, T));
    REQUIRE(a.size() == b.size());
    CHECK(std::memcmp(a.data, b.data, a.size() * sizeof(float)) == 0);
}

TEST_CASE("an arena of another network, element type or with non-finite values is refused") {
    lnfold_test::scratch_directory dir("lnfold-arena");
    const std::string path = dir.path() + "/gpt.arena.safetensors";
    Model<Gpt> saved(12);
    io::save_arena(saved, path);
    const io::safetensors_file file = io::safetensors_file::map(path);
    require_error<io_error>([&] { (void)io::arena_of<Other, float>(file); }, {"gpt.arena.safetensors", "another network"});
    require_error<io_error>([&] { (void)io::arena_of<Gpt, double>(file); }, {"holds F32", "needs F64"});

    // A file io::save wrote (tensors by name) holds no arena.
    const std::string named = dir.path() + "/gpt.safetensors";
    io::save(saved, named);
    require_error<io_error>([&] { (void)io::arena_of<Gpt, float>(io::safetensors_file::map(named)); },
                            {"no tensor named", "lnfold.arena"});

    // A NaN inside the arena.
    Model<Gpt> broken = saved;
    broken.parameters()[100] = std::numeric_limits<float>::quiet_NaN();
    const std::string nan_path = dir.path() + "/nan.arena.safetensors";
    io::save_arena(broken, nan_path);
    require_error<io_error>([&] { (void)io::arena_of<Gpt, float>(io::safetensors_file::map(nan_path)); },
                            {"non-finite value at element 100"});
}
