// Hostile and careless inputs to the readers (issue 24): a directory, a device or a FIFO where a file is expected,
// a missing file (the OS's reason in the message), a header with more tensors or JSON values than the limits, and
// weights holding NaN or infinity. Files on disk live in a fresh directory made by mkdtemp and removed afterwards.
#include "lnfold/io/regular_file.hpp"  // first: the header compiles on its own

#include <sys/stat.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include <lnfold/data/fashion_mnist.hpp>
#include <lnfold/data/file_bytes.hpp>
#include <lnfold/graph/named.hpp>
#include <lnfold/graph/seq.hpp>
#include <lnfold/io/safetensors.hpp>
#include <lnfold/io/weights.hpp>
#include <lnfold/layers/layer_norm.hpp>
#include <lnfold/layers/linear.hpp>

#include "catch.hpp"
#include "crafted_safetensors.hpp"
#include "io_error_message.hpp"
#include "scratch_directory.hpp"

using namespace lnfold;
using lnfold_test::craft;
using lnfold_test::io_error_message;
using lnfold_test::scratch_directory;
using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;

namespace {


// prefix followed by the number i (built with +=: GCC 12 warns wrongly on "literal" + std::to_string(i)).
std::string numbered(const char* prefix, std::size_t i) {
    std::string s = prefix;
    s += std::to_string(i);
    return s;
}

// "name":{F32 of shape [0] at [0, 0]}: an entry that costs no data.
std::string empty_entry(const std::string& name) {
    return "\"" + name + "\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]}";
}

using Small = Seq<Named<"lin", Linear<2, 2>>, Named<"ln", LayerNorm<2>>>;

// Small's parameters as a float file, with `bad` written over element `at` of tensor `name`.
std::vector<std::uint8_t> small_file(const std::string& name, std::size_t at, float bad) {
    Model<Small> model(7);
    io::safetensors_writer w;
    model.visit_parameters([&](auto p) {
        std::vector<float> values(p.values.begin(), p.values.end());
        if (p.path == name) values[at] = bad;
        w.add(std::string(p.path), std::span<const float>(values),
              std::vector<std::size_t>(p.spec.shape.begin(), p.spec.shape.begin() + p.spec.rank));
    });
    return w.bytes();
}

// Element i of the model's parameter `path`.
template <class M>
auto value_of(M& model, std::string_view path, std::size_t i) {
    double v = 0;
    model.visit_parameters([&](auto p) {
        if (p.path == path) v = static_cast<double>(p.values[i]);
    });
    return v;
}

}  // namespace

TEST_CASE("hostile files (#7): a directory is refused by name, by every reader") {
    const scratch_directory dir("lnfold-hostile");
    const std::string expected = "lnfold: '" + dir.path() + "' is a directory, not a safetensors file";
    CHECK(io_error_message([&] { io::safetensors_file::open(dir.path()); }) == expected);
    Model<Small> model(1);
    CHECK(io_error_message([&] { io::load(model, dir.path()); }) == expected);
    CHECK(io_error_message([&] { data::read_file_bytes(dir.path()); }) ==
          "lnfold: '" + dir.path() + "' is a directory, not a file");
}

TEST_CASE("hostile files: a device or a FIFO is refused without reading or blocking") {
    CHECK_THAT(io_error_message([] { io::safetensors_file::open("/dev/zero"); }),
               Contains("'/dev/zero' is a character device, not a safetensors file (only regular files are read)"));
    const scratch_directory dir("lnfold-hostile");
    const std::string fifo = (dir / "pipe");
    REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
    // Without O_NONBLOCK the open itself would wait for a writer forever.
    CHECK_THAT(io_error_message([&] { io::safetensors_file::open(fifo); }),
               Contains("'" + fifo + "' is a pipe (FIFO), not a safetensors file"));
    CHECK_THAT(io_error_message([&] { data::read_file_bytes(fifo); }), Contains("is a pipe (FIFO), not a file"));
}

TEST_CASE("hostile files (#8): a missing file's message gives the OS's reason and the path") {
    const scratch_directory dir("lnfold-hostile");
    const std::string missing = (dir / "missing.safetensors");
    const std::string reason = std::strerror(ENOENT);
    REQUIRE(reason == "No such file or directory");
    CHECK(io_error_message([&] { io::safetensors_file::open(missing); }) ==
          "lnfold: cannot open safetensors file '" + missing + "': " + reason);
    CHECK(io_error_message([&] { data::read_file_bytes(missing, "install the package"); }) ==
          "lnfold: cannot open file '" + missing + "': " + reason + " (install the package)");
    // A path through a regular file: ENOTDIR.
    { std::ofstream((dir / "plain")) << "x"; }
    CHECK_THAT(io_error_message([&] { io::safetensors_file::open((dir / "plain") + "/x"); }),
               Contains((dir / "plain") + "/x': " + std::strerror(ENOTDIR)));
}

TEST_CASE("hostile files: a regular file is read exactly, plain or through read_file_bytes") {
    const scratch_directory dir("lnfold-hostile");
    std::vector<std::uint8_t> bytes(70'000);
    for (std::size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<std::uint8_t>(i * 31 + 7);
    {
        std::ofstream out((dir / "blob"), std::ios::binary);
        out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    }
    CHECK(data::read_file_bytes((dir / "blob")) == bytes);
    CHECK(io::read_regular_file((dir / "blob"), "blob") == bytes);
    { std::ofstream((dir / "empty")); }
    CHECK(data::read_file_bytes((dir / "empty")).empty());
}

TEST_CASE("hostile files (#11): more tensors than safetensors_max_tensors are refused, as soon as parsed") {
    static_assert(io::safetensors_max_tensors == 65536);
    std::string header = "{";
    for (std::size_t i = 0; i < io::safetensors_max_tensors; ++i) {
        if (i) header += ',';
        header += empty_entry(numbered("t", i));
    }
    // At the limit: accepted.
    CHECK(io::parse_safetensors_header(craft(header + "}")).tensors.size() == io::safetensors_max_tensors);
    // One more, followed by text that is not JSON at all: the count, not the syntax, is what the parse reports,
    // because it stops at the first tensor too many instead of reading the whole header first.
    const std::string message = io_error_message([&] {
        io::parse_safetensors_header(craft(header + "," + empty_entry("t65536") + ", this is not JSON"), "many.st");
    });
    CHECK(message == "lnfold: safetensors file 'many.st': the header holds more than 65536 tensors, the limit "
                     "(safetensors_max_tensors): tensor 65537 is 't65536'");
    // __metadata__ is not a tensor: the limit plus metadata is fine.
    CHECK(io::parse_safetensors_header(craft("{\"__metadata__\":{\"format\":\"pt\"}," + header.substr(1) + "}"))
              .tensors.size() == io::safetensors_max_tensors);
}

TEST_CASE("hostile files (#11): the JSON values of a header are bounded (a shape millions long)") {
    std::string shape = "[";
    for (std::size_t i = 0; i < io::safetensors_max_header_values; ++i) shape += i ? ",0" : "0";
    const std::string header = "{\"t\":{\"dtype\":\"F32\",\"shape\":" + shape + "],\"data_offsets\":[0,0]}}";
    CHECK_THAT(io_error_message([&] { io::parse_safetensors_header(craft(header), "long.st"); }),
               StartsWith("lnfold: safetensors file 'long.st': header: invalid JSON: more values than the limit of 1048576"));
}

TEST_CASE("hostile files (#11): duplicate keys among many are found in n log n, the first repeat reported") {
    std::string header = "{";
    for (std::size_t i = 0; i < 20000; ++i) {
        if (i) header += ',';
        header += empty_entry(numbered("t", i));
    }
    const std::string with_two = header + "," + empty_entry("t19999") + "," + empty_entry("t5") + "}";
    CHECK_THAT(io_error_message([&] { io::parse_safetensors_header(craft(with_two)); }),
               Contains("duplicate key \"t19999\" at byte " + std::to_string(header.size() + 1)));
    // The same in a nested object (the metadata).
    std::string metadata = "{\"__metadata__\":{";
    for (std::size_t i = 0; i < 20000; ++i) metadata += numbered(i ? ",\"k" : "\"k", i) + "\":\"v\"";
    CHECK_THAT(io_error_message([&] { io::parse_safetensors_header(craft(metadata + ",\"k7\":\"w\"}}")); }),
               Contains("duplicate key \"k7\""));
}

TEST_CASE("hostile files (#11): find() is a binary search over every tensor name") {
    std::string header = "{";
    for (std::size_t i = 0; i < 3000; ++i) {
        if (i) header += ',';
        header += empty_entry(numbered("n", 2999 - i));
    }
    const io::safetensors_file file(craft(header + "}"), "names.st");
    for (std::size_t i = 0; i < 3000; ++i) {
        const io::tensor_info* t = file.find(numbered("n", i));
        REQUIRE(t != nullptr);
        CHECK(t->name == numbered("n", i));
    }
    CHECK(file.find("n3000") == nullptr);
    CHECK(file.find("") == nullptr);
    CHECK(file.find("n") == nullptr);
}

TEST_CASE("hostile files: NaN and infinity in weights are refused at load, with the tensor, element and value") {
    Model<Small> model(3);
    const std::vector<float> before(model.parameters().begin(), model.parameters().end());
    std::vector<std::uint8_t> bytes = small_file("lin.weight", 3, std::numeric_limits<float>::quiet_NaN());
    {
        const io::safetensors_file file(bytes, "nan.safetensors");
        const std::string message = io_error_message([&] { io::load(model, file); });
        CHECK_THAT(message, StartsWith("lnfold: cannot load safetensors file 'nan.safetensors'"));
        CHECK_THAT(message, Contains("non-finite values in 'lin.weight': 1 of 4 values are not finite (read as float), "
                                     "the first at element 3: nan (load_options::allow_non_finite = true loads them)"));
        // All or nothing: the model is unchanged.
        CHECK(std::equal(before.begin(), before.end(), model.parameters().begin()));
        io::load_options allow;
        allow.allow_non_finite = true;
        io::load(model, file, allow);
        CHECK(std::isnan(value_of(model, "lin.weight", 3)));
    }
    const io::safetensors_file inf(small_file("ln.bias", 1, -std::numeric_limits<float>::infinity()), "inf.safetensors");
    CHECK_THAT(io_error_message([&] { io::load(model, inf); }),
               Contains("non-finite values in 'ln.bias': 1 of 2 values are not finite (read as float), the first at "
                        "element 1: -inf"));
}

TEST_CASE("hostile files: a finite F64 beyond float's range is an infinity in a float model, fine in double") {
    Model<Small, double> reference(5);
    io::safetensors_writer w;
    reference.visit_parameters([&](auto p) {
        std::vector<double> values(p.values.begin(), p.values.end());
        if (p.path == "ln.weight") values[0] = values[1] = 1e300;
        w.add(std::string(p.path), std::span<const double>(values),
              std::vector<std::size_t>(p.spec.shape.begin(), p.spec.shape.begin() + p.spec.rank));
    });
    const io::safetensors_file file(w.bytes(), "wide.safetensors");
    Model<Small, float> single(1);
    CHECK_THAT(io_error_message([&] { io::load(single, file); }),
               Contains("non-finite values in 'ln.weight': 2 of 2 values are not finite (read as float), the first at "
                        "element 0: inf"));
    Model<Small, double> twice(1);
    CHECK(io_error_message([&] { io::load(twice, file); }) == "no io_error");
}

TEST_CASE("hostile files: IDX sizes whose product overflows size_t are refused, not wrapped") {
    const scratch_directory dir("lnfold-hostile");
    // Images: magic 0x00000803, three sizes of 2^32 - 1 (a product of about 2^96), and a few bytes.
    std::vector<char> idx = {0, 0, 8, 3};
    for (int i = 0; i < 12; ++i) idx.push_back(static_cast<char>(0xff));
    idx.resize(idx.size() + 16, 0);
    {
        std::ofstream out((dir / "images"), std::ios::binary);
        out.write(idx.data(), static_cast<std::streamsize>(idx.size()));
    }
    CHECK(io_error_message([&] { data::load_idx_images((dir / "images"), (dir / "labels")); }) ==
          "lnfold: '" + (dir / "images") + "' has IDX sizes whose product overflows size_t (the file has 32 bytes)");
}
