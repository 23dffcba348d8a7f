// The non-throwing readers (safetensors_file::try_from / try_open, io::try_load) report exactly what the throwing
// ones raise: for every file of the fuzzing corpus, for thousands of corruptions of a valid file (flipped bytes,
// truncations, edited headers) and for load problems, either both succeed or the status carries the exception's
// message. The report mode is a separate path through the JSON parser, the header checks and the file reads (each
// failure returns instead of raising), so this is what keeps the two in step.
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "catch.hpp"
#include "scratch_directory.hpp"

#include <lnfold/io/weights.hpp>
#include <lnfold/lnfold.hpp>

using namespace lnfold;

namespace {

std::vector<std::uint8_t> read_bytes(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// The exception's message of the throwing reader ("" when it accepts the bytes).
std::string thrown_message(const std::vector<std::uint8_t>& bytes) {
    try {
        io::safetensors_file file(bytes, "case.safetensors");
        return "";
    } catch (const io_error& e) {
        return e.what();
    }
}
std::string reported_message(const std::vector<std::uint8_t>& bytes) {
    const result<io::safetensors_file> file = io::safetensors_file::try_from(io::byte_buffer(bytes), "case.safetensors");
    if (file) return "";
    CHECK(file.error().kind() == error_kind::io);
    return file.error().message();
}

using Mlp = Seq<Named<"fc1", Linear<6, 8>>, Named<"ln", LayerNorm<8>>, ReLU, Named<"fc2", Linear<8, 2>>>;
using Wider = Seq<Named<"fc1", Linear<6, 9>>, Named<"ln", LayerNorm<9>>, ReLU, Named<"fc2", Linear<9, 2>>>;

}  // namespace

TEST_CASE("every file of the fuzzing corpus: the status says what the exception says") {
    std::size_t files = 0, refused = 0;
    for (const auto& entry : std::filesystem::directory_iterator(LNFOLD_FUZZ_CORPUS)) {
        const std::vector<std::uint8_t> bytes = read_bytes(entry.path().string());
        const std::string thrown = thrown_message(bytes);
        INFO(entry.path().filename().string() << ": " << thrown);
        CHECK(reported_message(bytes) == thrown);
        ++files;
        refused += !thrown.empty();
    }
    CHECK(files >= 10);
    CHECK(refused >= 5);
}

TEST_CASE("corrupted headers and truncations: the status says what the exception says") {
    Model<Mlp> model(1);
    io::save_options options;
    options.metadata = {{"format", "pt"}, {"note", "caf\xc3\xa9 \\u00e9"}};
    const std::vector<std::uint8_t> valid = io::save_bytes(model, options);
    REQUIRE(thrown_message(valid).empty());
    const std::size_t header_end = 8 + static_cast<std::size_t>(valid[0]) + (static_cast<std::size_t>(valid[1]) << 8);
    std::uint64_t state = 12345;
    const auto next = [&] {
        state = state * 6364136223846793005ULL + 1442695040888963407ULL;
        return state >> 33;
    };
    const char replacements[] = {'"', '{', '}', '[', ']', ',', ':', '\\', '-', '0', '9', 'e', '.', ' ', 'u', '\x80',
                                 '\x01', '\xff', 't', 'n'};
    std::size_t refused = 0;
    for (int trial = 0; trial < 4000; ++trial) {
        std::vector<std::uint8_t> bytes = valid;
        const std::size_t edits = 1 + next() % 3;
        for (std::size_t e = 0; e < edits; ++e) {
            const std::size_t at = next() % (trial % 4 == 0 ? bytes.size() : header_end);  // mostly in the header
            bytes[at] = static_cast<std::uint8_t>(replacements[next() % sizeof replacements]);
        }
        if (trial % 7 == 0) bytes.resize(next() % bytes.size());
        const std::string thrown = thrown_message(bytes);
        INFO("trial " << trial << ": " << thrown);
        CHECK(reported_message(bytes) == thrown);
        refused += !thrown.empty();
    }
    CHECK(refused > 2000);  // the corruptions do reach the checks
}

TEST_CASE("io::try_load reports file and load problems with load's message and leaves the model unchanged") {
    lnfold_test::scratch_directory dir("lnfold-try-load");
    Model<Mlp> saved(3);
    io::save(saved, dir / "mlp.safetensors");

    Model<Wider> wider(4);
    const std::vector<float> before(wider.parameters().begin(), wider.parameters().end());
    std::string thrown;
    try {
        io::load(wider, dir / "mlp.safetensors");
    } catch (const io_error& e) {
        thrown = e.what();
    }
    REQUIRE(!thrown.empty());
    const result<io::load_result> reported = io::try_load(wider, dir / "mlp.safetensors");
    REQUIRE(!reported.has_value());
    CHECK(reported.error().kind() == error_kind::io);
    CHECK(reported.error().message() == thrown);
    CHECK(std::vector<float>(wider.parameters().begin(), wider.parameters().end()) == before);

    const result<io::load_result> missing = io::try_load(wider, dir / "absent.safetensors");
    REQUIRE(!missing.has_value());
    CHECK(missing.error().message().find("No such file or directory") != std::string::npos);
    const result<io::load_result> directory = io::try_load(wider, dir.path());
    REQUIRE(!directory.has_value());
    CHECK(directory.error().message().find("is a directory") != std::string::npos);

    Model<Mlp> copy(5);
    const result<io::load_result> ok = io::try_load(copy, dir / "mlp.safetensors");
    REQUIRE(ok.has_value());
    CHECK(ok->loaded.size() == 6);
    CHECK(std::vector<float>(copy.parameters().begin(), copy.parameters().end()) ==
          std::vector<float>(saved.parameters().begin(), saved.parameters().end()));
}
