// Data loaders on the real Debian data, and their errors for missing, truncated and wrong files. Tests that read
// the Debian packages dataset-fashion-mnist and fortunes are skipped (not failed) when those are not installed:
// Catch2 v3.3+ SKIP where it exists; Debian 12's Catch2 2.13 has none, so there they WARN and return (they pass,
// and `ctest -V` or the test run with -s shows the warning).
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "require_error.hpp"
#include "catch.hpp"
#include "io_error_message.hpp"
#include "scratch_directory.hpp"

#include <lnfold/data/fashion_mnist.hpp>
#include <lnfold/data/text_corpus.hpp>

using namespace lnfold;
using lnfold_test::io_error_message;
using namespace lnfold::data;

namespace {

void write_bytes(const std::string& path, const std::vector<std::uint8_t>& bytes) {
    std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
}

const std::string dir = fashion_mnist_default_dir;

bool has_fashion_mnist() {
    for (const char* name : {"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
                             "t10k-labels-idx1-ubyte.gz"})
        if (!std::filesystem::is_regular_file(dir + "/" + name)) return false;
    return true;
}
bool has_fortunes() {
    const std::string fortunes = fortunes_default_dir;
    return std::filesystem::is_directory(fortunes) && std::filesystem::is_regular_file(fortunes + "/fortunes");
}

}  // namespace

// Skips the rest of a test case, with its reason: SKIP in Catch2 >= 3.3, WARN + return before.
#ifdef SKIP
#define LNFOLD_SKIP_TEST(reason) SKIP(reason)
#else
#define LNFOLD_SKIP_TEST(reason) \
    do {                         \
        WARN("SKIPPED: " << reason); \
        return;                  \
    } while (false)
#endif
#define LNFOLD_REQUIRE_FASHION_MNIST()                                                                         \
    if (!has_fashion_mnist())                                                                                  \
    LNFOLD_SKIP_TEST("Fashion-MNIST is not installed in " << dir << " (Debian package dataset-fashion-mnist)")
#define LNFOLD_REQUIRE_FORTUNES() \
    if (!has_fortunes())          \
    LNFOLD_SKIP_TEST("the fortunes corpus is not installed in " << fortunes_default_dir << " (Debian package fortunes)")

TEST_CASE("Fashion-MNIST: both splits, shapes, labels and pixel range") {
    LNFOLD_REQUIRE_FASHION_MNIST();
    const image_dataset test = load_fashion_mnist("test");
    CHECK(test.count == 10000);
    CHECK(test.height == 28);
    CHECK(test.width == 28);
    std::vector<int> per_class(10);
    for (auto label : test.labels) {
        REQUIRE(label >= 0);
        REQUIRE(label < 10);
        ++per_class[static_cast<std::size_t>(label)];
    }
    for (int n : per_class) CHECK(n == 1000);  // the test split is balanced
    CHECK(*std::min_element(test.pixels.begin(), test.pixels.end()) == 0.0f);
    CHECK(*std::max_element(test.pixels.begin(), test.pixels.end()) == 1.0f);
    const image_dataset train = load_fashion_mnist("train", 500);
    CHECK(train.count == 500);
    CHECK(train.pixels.size() == 500 * 784);
}

TEST_CASE("loader errors: missing files name the package, truncated files, wrong magic numbers") {
    CHECK(io_error_message([] { load_fashion_mnist("train", 0, "/nonexistent"); }).find("dataset-fashion-mnist") != std::string::npos);
    CHECK_THROWS_AS(load_fashion_mnist("validation"), config_error);

    LNFOLD_REQUIRE_FASHION_MNIST();
    const lnfold_test::scratch_directory files("lnfold-loaders");
    // A gzip stream cut in half.
    const auto gz = read_file_bytes(dir + "/t10k-labels-idx1-ubyte.gz");
    const std::string cut = files / "cut-labels.gz";
    write_bytes(cut, std::vector<std::uint8_t>(gz.begin(), gz.begin() + static_cast<std::ptrdiff_t>(gz.size() / 2)));
    CHECK(io_error_message([&] { load_idx_images(dir + "/t10k-images-idx3-ubyte.gz", cut); }).find("truncated") != std::string::npos);

    // Uncompressed IDX files: one with a missing byte, one with the wrong magic number.
    const auto labels = read_file_bytes(dir + "/t10k-labels-idx1-ubyte.gz");
    const std::string plain = files / "labels-idx1";
    write_bytes(plain, std::vector<std::uint8_t>(labels.begin(), labels.end() - 1));
    CHECK(io_error_message([&] { load_idx_images(dir + "/t10k-images-idx3-ubyte.gz", plain); }).find("expected 10008 bytes, got 10007") != std::string::npos);
    const std::string swapped = io_error_message([&] { load_idx_images(dir + "/t10k-labels-idx1-ubyte.gz", dir + "/t10k-labels-idx1-ubyte.gz"); });
    CHECK(swapped.find("magic number 2049, expected 2051") != std::string::npos);
}

TEST_CASE("the fortunes corpus: real English text, separators removed, lossless encoding") {
    CHECK(io_error_message([] { load_fortunes("/nonexistent"); }).find("fortunes") != std::string::npos);
    LNFOLD_REQUIRE_FORTUNES();
    const text_corpus corpus = load_fortunes();
    CHECK(corpus.text.size() > 1'000'000);
    CHECK(corpus.text.find("\n%\n") == std::string::npos);
    CHECK(corpus.vocab_size() > 60);
    CHECK(corpus.vocab_size() <= 256);
    const std::string sample = corpus.text.substr(1000, 200);
    const auto ids = corpus.encode(sample);
    CHECK(corpus.decode(ids) == sample);
}

TEST_CASE("load_text_file: any text file, its characters as a sorted vocabulary, encode and decode") {
    const lnfold_test::scratch_directory files("lnfold-text");
    const std::string text = "the quick brown fox\njumps over the lazy dog!\n\tTab, UPPER and 123\n";
    const std::string path = files / "corpus.txt";
    std::ofstream(path, std::ios::binary) << text;
    const text_corpus corpus = load_text_file(path);
    CHECK(corpus.text == text);

    // The vocabulary is the set of distinct bytes in increasing order, and ids index it.
    const std::set<unsigned char> distinct(text.begin(), text.end());
    REQUIRE(corpus.vocab_size() == distinct.size());
    std::size_t id = 0;
    for (unsigned char c : distinct) {
        CHECK(static_cast<unsigned char>(corpus.vocabulary[id]) == c);
        CHECK(corpus.ids[c] == static_cast<std::int32_t>(id));
        ++id;
    }
    for (int c = 0; c < 256; ++c)
        if (!distinct.count(static_cast<unsigned char>(c))) CHECK(corpus.ids[static_cast<std::size_t>(c)] == -1);

    const auto ids = corpus.encode(text);
    REQUIRE(ids.size() == text.size());
    for (std::size_t i = 0; i < text.size(); ++i)
        CHECK(ids[i] == std::distance(distinct.begin(), distinct.find(static_cast<unsigned char>(text[i]))));
    CHECK(corpus.decode(ids) == text);
    CHECK(corpus.encode("").empty());

    // A character that does not occur in the file cannot be encoded: '#' (35) and byte 200.
    REQUIRE(distinct.count('#') == 0);
    require_error<index_error>([&] { (void)corpus.encode("fox#"); },
                               {"text_corpus::encode", "character 35 is not in the vocabulary"});
    require_error<index_error>([&] { (void)corpus.encode(std::string(1, static_cast<char>(200))); },
                               {"character 200 is not in the vocabulary"});

    // An empty file gives an empty corpus; a missing one is an io_error naming it.
    const std::string empty = files / "empty.txt";
    std::ofstream(empty, std::ios::binary).flush();
    const text_corpus nothing = load_text_file(empty);
    CHECK(nothing.text.empty());
    CHECK(nothing.vocab_size() == 0);
    require_error<index_error>([&] { (void)nothing.encode("a"); }, {"character 97 is not in the vocabulary"});
    const std::string missing = files / "missing.txt";
    const std::string message = io_error_message([&] { load_text_file(missing); });
    INFO(message);
    CHECK(message.find(missing) != std::string::npos);
    CHECK(message.find("No such file or directory") != std::string::npos);
}
