// Data loaders on the real Debian data, and their errors for missing, truncated and wrong files.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

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

}  // namespace

TEST_CASE("Fashion-MNIST: both splits, shapes, labels and pixel range") {
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
    const text_corpus corpus = load_fortunes();
    CHECK(corpus.text.size() > 1'000'000);
    CHECK(corpus.text.find("\n%\n") == std::string::npos);
    CHECK(corpus.vocab_size() > 60);
    CHECK(corpus.vocab_size() <= 256);
    const std::string sample = corpus.text.substr(1000, 200);
    const auto ids = corpus.encode(sample);
    CHECK(corpus.decode(ids) == sample);
    CHECK(io_error_message([] { load_fortunes("/nonexistent"); }).find("fortunes") != std::string::npos);
}
