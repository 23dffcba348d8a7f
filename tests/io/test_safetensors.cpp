// The safetensors reader: one test per validation rule (files crafted in memory), the writer, and a bitwise
// write-read round trip in float and double.
#include "lnfold/io/safetensors.hpp"

#include <bit>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <string>
#include <vector>

#include "catch.hpp"
#include "crafted_safetensors.hpp"
#include "io_error_message.hpp"
#include "scratch_directory.hpp"

using namespace lnfold;
using namespace lnfold::io;
using lnfold_test::craft;

namespace {

std::vector<std::uint8_t> with_length(std::uint64_t n, std::size_t total) {
    std::vector<std::uint8_t> out(total, ' ');
    for (int i = 0; i < 8 && static_cast<std::size_t>(i) < total; ++i, n >>= 8)
        out[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(n & 0xFF);
    return out;
}

// The io_error message parsing these bytes throws, or "no io_error".
std::string error_of(const std::vector<std::uint8_t>& bytes, const std::string& source = "bad.safetensors") {
    return lnfold_test::io_error_message([&] { parse_safetensors_header(bytes, source); });
}

std::string entry(const std::string& name, const std::string& dtype, const std::string& shape, std::size_t b, std::size_t e) {
    return "\"" + name + "\":{\"dtype\":\"" + dtype + "\",\"shape\":" + shape + ",\"data_offsets\":[" +
           std::to_string(b) + "," + std::to_string(e) + "]}";
}

}  // namespace

using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;

TEST_CASE("safetensors: a valid file parses; names, shapes, offsets, metadata") {
    const auto bytes = craft("{\"__metadata__\":{\"format\":\"pt\"}," + entry("a", "F32", "[2,3]", 0, 24) + "," +
                                 entry("b", "F16", "[4]", 24, 32) + "," + entry("s", "F64", "[]", 32, 40) + "}   ",
                             40);
    const safetensors_header h = parse_safetensors_header(bytes, "ok.safetensors");
    REQUIRE(h.tensors.size() == 3);
    CHECK(h.tensors[0].name == "a");
    CHECK(h.tensors[0].type == dtype::F32);
    CHECK(h.tensors[0].shape == std::vector<std::size_t>{2, 3});
    CHECK(h.tensors[1].begin == 24);
    CHECK(h.tensors[2].shape.empty());
    CHECK(h.tensors[2].numel() == 1);
    CHECK(h.metadata_value("format") == "pt");
    CHECK(h.data_size == 40);
}

TEST_CASE("safetensors rule: the file has at least 8 bytes") {
    CHECK_THAT(error_of({}), StartsWith("lnfold: safetensors file 'bad.safetensors'") && Contains("fewer than the 8-byte"));
    CHECK_THAT(error_of({1, 0, 0}), Contains("has 3 bytes"));
}

TEST_CASE("safetensors rule: header length at most 100,000,000") {
    CHECK_THAT(error_of(with_length(100'000'001, 16)), Contains("header length 100000001 exceeds the limit of 100000000"));
    CHECK_THAT(error_of(with_length(std::numeric_limits<std::uint64_t>::max(), 16)), Contains("exceeds the limit"));
}

TEST_CASE("safetensors rule: 8 + header length <= file size") {
    CHECK_THAT(error_of(with_length(100, 50)), Contains("header length 100 needs at least 108 bytes in the file, but it has 50"));
}

TEST_CASE("safetensors rule: the header is a JSON object starting with '{'") {
    CHECK_THAT(error_of(craft("")), Contains("starting with '{', got an empty header"));
    CHECK_THAT(error_of(craft("[]")), Contains("starting with '{', got '['"));
    CHECK_THAT(error_of(craft(" {}")), Contains("starting with '{'"));
    CHECK_THAT(error_of(craft("{")), Contains("invalid JSON"));
    CHECK_THAT(error_of(craft("{\"a\":}")), Contains("invalid JSON") && Contains("expected a value"));
    CHECK_THAT(error_of(craft("{} x")), Contains("after the JSON value"));
    CHECK_THAT(error_of(craft("{}\0", 0)), Contains("no io_error"));  // a literal of 2 chars: "{}"
    CHECK_THAT(error_of(craft(std::string("{}\0 ", 4))), Contains("after the JSON value"));
    CHECK_THAT(error_of(craft("{\"a\":{\"dtype\":\"F32\",}}")), Contains("expected a string key"));
    // Entries are checked as the header is read: the first problem in text order is the one reported.
    CHECK_THAT(error_of(craft("{\"a\":1,}")), Contains("tensor 'a': the header entry must be an object"));
    CHECK_THAT(error_of(craft("{\"a\":01}")), Contains("leading zero"));
    CHECK_THAT(error_of(craft("{\"a\":\"\\q\"}")), Contains("invalid escape"));
    CHECK_THAT(error_of(craft("{\"a\":\"\\ud800\"}")), Contains("surrogate"));
}

TEST_CASE("safetensors rule: trailing whitespace after the header object is allowed") {
    CHECK(parse_safetensors_header(craft("{}        ")).tensors.empty());
    CHECK(parse_safetensors_header(craft("{} \t\r\n")).tensors.empty());
    CHECK(parse_safetensors_header(craft("{}")).data_size == 0);
}

TEST_CASE("safetensors rule: the header is valid UTF-8") {
    CHECK_THAT(error_of(craft("{\"\xff\":1}")), Contains("invalid UTF-8"));
    CHECK_THAT(error_of(craft("{\"\xc0\xaf\":1}")), Contains("invalid UTF-8"));  // overlong '/'
    CHECK_THAT(error_of(craft("{\"\xed\xa0\x80\":1}")), Contains("invalid UTF-8"));  // encoded surrogate
    CHECK_THAT(error_of(craft("{\"a\xe2\x82\":1}")), Contains("invalid UTF-8"));
    CHECK_THAT(error_of(craft("{\"a\x01\":1}")), Contains("control character"));
    // Valid UTF-8 and escapes name a tensor.
    const auto h = parse_safetensors_header(craft("{" + entry("caf\xc3\xa9\\u00e9\\ud83d\\ude00", "F32", "[0]", 0, 0) + "}"));
    CHECK(h.tensors[0].name == "caf\xc3\xa9\xc3\xa9\xf0\x9f\x98\x80");
}

TEST_CASE("safetensors rule: JSON nesting and size are limited") {
    std::string deep = "{\"__metadata__\":";
    for (int i = 0; i < 20; ++i) deep += "[";
    CHECK_THAT(error_of(craft(deep)), Contains("nesting deeper than the limit"));
    std::string huge_number(100, '1');
    CHECK_THAT(error_of(craft("{\"a\":{\"dtype\":\"F32\",\"shape\":[" + huge_number + "]}}")), Contains("longer than the limit"));
    CHECK_THROWS_AS(parse_json("[[[1]]]", "t", json_limits{100, 2, 64}), io_error);
    CHECK_THROWS_AS(parse_json("[1,2,3]", "t", json_limits{5, 64, 64}), io_error);
    CHECK_THROWS_WITH(parse_json("[1,2,3]", "t", json_limits{100, 64, 64, 3}), Contains("more values than the limit of 3"));
    CHECK(parse_json("[1,2,3]", "t", json_limits{100, 64, 64, 4}).items().size() == 3);
    CHECK(parse_json("[[1]]", "t", json_limits{100, 2, 64}).items().size() == 1);
}

TEST_CASE("safetensors rule: tensor names are unique") {
    CHECK_THAT(error_of(craft("{" + entry("w", "F32", "[1]", 0, 4) + "," + entry("w", "F32", "[1]", 4, 8) + "}", 8)),
               Contains("duplicate key \"w\""));
    CHECK_THAT(error_of(craft("{\"__metadata__\":{},\"__metadata__\":{}}")), Contains("duplicate key"));
}

TEST_CASE("safetensors rule: __metadata__ is an object of strings") {
    CHECK_THAT(error_of(craft("{\"__metadata__\":{\"a\":\"b\",\"n\":1}}")),
               Contains("__metadata__ value of 'n' must be a string, got a number"));
    CHECK_THAT(error_of(craft("{\"__metadata__\":{\"a\":{\"b\":\"c\"}}}")), Contains("must be a string, got an object"));
    CHECK_THAT(error_of(craft("{\"__metadata__\":[\"a\"]}")), Contains("__metadata__ must be an object of strings, got an array"));
    CHECK_THAT(error_of(craft("{\"__metadata__\":null}")), Contains("got null"));
    CHECK(parse_safetensors_header(craft("{\"__metadata__\":{}}")).metadata.empty());
}

TEST_CASE("safetensors rule: a tensor entry is {dtype, shape, data_offsets}") {
    CHECK_THAT(error_of(craft("{\"w\":[1]}")), Contains("tensor 'w': the header entry must be an object"));
    CHECK_THAT(error_of(craft("{\"w\":{\"shape\":[],\"data_offsets\":[0,0]}}")), Contains("tensor 'w': missing key 'dtype'"));
    CHECK_THAT(error_of(craft("{\"w\":{\"dtype\":\"F32\",\"data_offsets\":[0,0]}}")), Contains("missing key 'shape'"));
    CHECK_THAT(error_of(craft("{\"w\":{\"dtype\":\"F32\",\"shape\":[]}}")), Contains("missing key 'data_offsets'"));
    CHECK_THAT(error_of(craft("{\"w\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0],\"x\":1}}")),
               Contains("unknown key 'x'"));
    CHECK_THAT(error_of(craft("{\"w\":{\"dtype\":32,\"shape\":[0],\"data_offsets\":[0,0]}}")), Contains("dtype must be a string"));
    CHECK_THAT(error_of(craft("{\"w\":{\"dtype\":\"F32\",\"shape\":3,\"data_offsets\":[0,0]}}")), Contains("shape must be an array"));
    CHECK_THAT(error_of(craft("{" + entry("w", "F32", "[-1]", 0, 0) + "}")), Contains("shape must hold non-negative integers, got the number -1"));
    CHECK_THAT(error_of(craft("{" + entry("w", "F32", "[1.0]", 0, 4) + "}", 4)), Contains("got the number 1.0"));
    CHECK_THAT(error_of(craft("{" + entry("w", "F32", "[1e0]", 0, 4) + "}", 4)), Contains("non-negative integers"));
    CHECK_THAT(error_of(craft("{" + entry("w", "F32", "[\"1\"]", 0, 4) + "}", 4)), Contains("got a string"));
    CHECK_THAT(error_of(craft("{" + entry("w", "F32", "[18446744073709551616]", 0, 4) + "}", 4)), Contains("non-negative integers"));
    CHECK_THAT(error_of(craft("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,8]}}", 8)),
               Contains("two integers [begin, end], got an array of 3"));
    CHECK_THAT(error_of(craft("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":{}}}", 4)), Contains("got an object"));
}

TEST_CASE("safetensors rule: dtypes are the known ones, with their sizes") {
    CHECK_THAT(error_of(craft("{" + entry("w", "F12", "[1]", 0, 4) + "}", 4)),
               Contains("tensor 'w': unknown dtype 'F12' (known: BOOL, U8,"));
    CHECK_THAT(error_of(craft("{" + entry("w", "f32", "[1]", 0, 4) + "}", 4)), Contains("unknown dtype 'f32'"));
    const std::pair<const char*, std::size_t> sizes[] = {{"BOOL", 1}, {"U8", 1},  {"I8", 1},   {"F8_E4M3", 1}, {"F8_E5M2", 1},
                                                         {"I16", 2},  {"U16", 2}, {"F16", 2},  {"BF16", 2},    {"I32", 4},
                                                         {"U32", 4},  {"F32", 4}, {"F64", 8},  {"I64", 8},     {"U64", 8}};
    for (const auto& [name, size] : sizes) {
        INFO(name);
        std::string good = "{", bad = "{";  // (built with += : GCC 12 warns falsely on "{" + temporary here)
        good += entry("w", name, "[3]", 0, 3 * size) + "}";
        bad += entry("w", name, "[3]", 0, 3 * size + 1) + "}";
        CHECK(error_of(craft(good, 3 * size)) == "no io_error");
        CHECK_THAT(error_of(craft(bad, 3 * size + 1)), Contains("needs"));
        CHECK(dtype_size(*dtype_from_name(name)) == size);
    }
}

TEST_CASE("safetensors rule: data_offsets begin <= end") {
    CHECK_THAT(error_of(craft("{" + entry("w", "F32", "[0]", 8, 4) + "}", 8)),
               Contains("tensor 'w': data_offsets [8, 4]: begin must be <= end"));
}

TEST_CASE("safetensors rule: numel x dtype size == end - begin") {
    CHECK_THAT(error_of(craft("{" + entry("w", "F32", "[2,2]", 0, 12) + "}", 12), "m.safetensors"),
               StartsWith("lnfold: safetensors file 'm.safetensors': tensor 'w': data_offsets [0, 12] hold 12 bytes, "
                          "but F32 (2, 2) needs 16 (4 elements x 4 bytes)"));
    CHECK(error_of(craft("{" + entry("w", "F32", "[2,0,5]", 0, 0) + "}")) == "no io_error");  // zero elements
}

TEST_CASE("safetensors rule: element counts and byte sizes are overflow-checked") {
    CHECK_THAT(error_of(craft("{" + entry("w", "U8", "[4294967296,4294967296]", 0, 0) + "}")), Contains("element count overflows"));
    CHECK_THAT(error_of(craft("{" + entry("w", "F64", "[4611686018427387904]", 0, 0) + "}")), Contains("bytes overflows"));
    // Like the reference (checked multiplication in order), an overflowing prefix is an error even before a 0.
    CHECK_THAT(error_of(craft("{" + entry("w", "F32", "[4294967296,4294967296,0]", 0, 0) + "}")), Contains("element count overflows"));
    CHECK(error_of(craft("{" + entry("w", "F32", "[0,4294967296,4294967296]", 0, 0) + "}")) == "no io_error");
}

TEST_CASE("safetensors rule: tensors tile the data buffer from 0, without gaps or overlaps") {
    CHECK_THAT(error_of(craft("{" + entry("w", "F32", "[1]", 4, 8) + "}", 8)),
               Contains("tensor 'w': data_offsets [4, 8]: the first tensor of the data buffer must begin at 0, got 4 (a gap)"));
    CHECK_THAT(error_of(craft("{" + entry("a", "F32", "[1]", 0, 4) + "," + entry("b", "F32", "[1]", 8, 12) + "}", 12)),
               Contains("tensor 'b': data_offsets [8, 12] must begin at 4, where 'a' ends; got 8 (a gap)"));
    CHECK_THAT(error_of(craft("{" + entry("a", "F32", "[2]", 0, 8) + "," + entry("b", "F32", "[1]", 4, 8) + "}", 8)),
               Contains("tensor 'b': data_offsets [4, 8] must begin at 8, where 'a' ends; got 4 (an overlap)"));
    CHECK_THAT(error_of(craft("{" + entry("a", "F32", "[1]", 0, 4) + "," + entry("b", "F32", "[1]", 0, 4) + "}", 4)),
               Contains("(an overlap)"));
    // Header order does not matter, and empty tensors may sit anywhere in the sequence.
    CHECK(error_of(craft("{" + entry("b", "F32", "[1]", 4, 8) + "," + entry("e", "F32", "[0]", 4, 4) + "," +
                         entry("a", "F32", "[1]", 0, 4) + "}", 8)) == "no io_error");
}

TEST_CASE("safetensors rule: the last tensor ends at the end of the file (no trailing bytes)") {
    CHECK_THAT(error_of(craft("{" + entry("w", "F32", "[1]", 0, 4) + "}", 5)),
               Contains("the tensors cover 4 bytes of the data buffer, but it holds 5") && Contains("trailing bytes"));
    CHECK_THAT(error_of(craft("{}", 1)), Contains("cover 0 bytes"));
    CHECK_THAT(error_of(craft("{" + entry("w", "F32", "[2]", 0, 8) + "}", 4)), Contains("the tensors cover 8 bytes of the data buffer, but it holds 4"));
}

TEST_CASE("safetensors: reading converts F32 / F64 / F16 / BF16, refuses other dtypes") {
    safetensors_writer w;
    const float f[] = {1.5f, -2.0f};
    const double d[] = {0.1, 1e300};
    const std::uint8_t h[] = {0x00, 0x3C, 0x00, 0xC1};  // F16 1, -2.5
    const std::uint8_t b[] = {0x80, 0x3F, 0xC0, 0x7F};  // BF16 1, NaN
    const std::uint8_t i[] = {1, 0, 0, 0};
    w.add("f", std::span<const float>(f), {2});
    w.add("d", std::span<const double>(d), {2, 1});
    w.add_raw("h", dtype::F16, {2}, h);
    w.add_raw("b", dtype::BF16, {2}, b);
    w.add_raw("i", dtype::I32, {1}, i);
    const safetensors_file file(w.bytes(), "conv.safetensors");
    CHECK(file.read<double>("f") == std::vector<double>{1.5, -2.0});
    CHECK(file.read<double>("d") == std::vector<double>{0.1, 1e300});
    CHECK(file.read<float>("d")[1] == std::numeric_limits<float>::infinity());
    CHECK(file.read<float>("h") == std::vector<float>{1.0f, -2.5f});
    CHECK(file.read<float>("b")[0] == 1.0f);
    CHECK(std::isnan(file.read<float>("b")[1]));
    CHECK_THROWS_WITH(file.read<float>("i"), Contains("'conv.safetensors': tensor 'i': dtype I32 cannot be read as floating point"));
    CHECK_THROWS_WITH(file.read<float>("nope"), Contains("no tensor named 'nope'"));
    std::vector<float> small(1);
    CHECK_THROWS_AS(file.read_into<float>(file.at("f"), small), io_error);
}

TEST_CASE("safetensors writer: header layout, alignment, metadata, refused inputs") {
    safetensors_writer w;
    const float f[] = {1, 2, 3};
    const double d[] = {4};
    w.add("f\"q", std::span<const float>(f), {3});
    w.add("d", std::span<const double>(d), {});
    w.add_metadata("k", "v\n");
    const auto bytes = w.bytes();
    std::uint64_t n = 0;
    for (int i = 7; i >= 0; --i) n = (n << 8) | bytes[static_cast<std::size_t>(i)];
    CHECK(n % 8 == 0);
    const safetensors_header h = parse_safetensors_header(bytes);
    CHECK(h.find("d")->begin == 0);  // 8-byte elements first: aligned
    CHECK(h.find("f\"q")->begin == 8);
    CHECK(h.metadata_value("k") == "v\n");
    CHECK_THROWS_WITH(w.add("d", std::span<const double>(d), {}), Contains("duplicate tensor name 'd'"));
    CHECK_THROWS_WITH(w.add("__metadata__", std::span<const double>(d), {}), Contains("reserved"));
    CHECK_THROWS_WITH(w.add("x", std::span<const float>(f), {2, 2}), Contains("F32 (2, 2) needs 4 elements x 4 bytes, got 12 bytes"));
    CHECK_THROWS_WITH(w.add_metadata("k", "w"), Contains("duplicate metadata key 'k'"));
}

TEMPLATE_TEST_CASE("safetensors: a write-read round trip is bitwise identical", "", float, double) {
    using U = std::conditional_t<sizeof(TestType) == 4, std::uint32_t, std::uint64_t>;
    std::vector<TestType> values = {0, -TestType(0), 1, TestType(-1) / 3, std::numeric_limits<TestType>::max(),
                                    std::numeric_limits<TestType>::denorm_min(), std::numeric_limits<TestType>::infinity(),
                                    -std::numeric_limits<TestType>::infinity()};
    values.push_back(std::bit_cast<TestType>(static_cast<U>(std::bit_cast<U>(std::numeric_limits<TestType>::quiet_NaN()) | 5u)));
    for (int i = 0; i < 1011; ++i) values.push_back(std::sin(TestType(i) * TestType(0.37)) * std::exp(TestType(i % 40 - 20)));
    REQUIRE(values.size() == 1020);
    const std::vector<TestType> scalar = {TestType(42.25)};

    safetensors_writer w;
    w.add("h.0.weight", std::span<const TestType>(values), {20, 51});
    w.add("s", std::span<const TestType>(scalar), {});
    w.add("empty", std::span<const TestType>(), {0, 3});
    w.add_metadata("note", "round trip");
    const lnfold_test::scratch_directory dir("lnfold-io-roundtrip");
    const std::string path = dir / "roundtrip.safetensors";
    w.write(path);
    const safetensors_file file = read_safetensors(path);
    CHECK(file.source() == path);
    const tensor_info& t = file.at("h.0.weight");
    CHECK(t.type == (sizeof(TestType) == 4 ? dtype::F32 : dtype::F64));
    CHECK(t.shape == std::vector<std::size_t>{20, 51});
    const std::vector<TestType> back = file.read<TestType>("h.0.weight");
    REQUIRE(back.size() == values.size());
    CHECK(std::memcmp(back.data(), values.data(), values.size() * sizeof(TestType)) == 0);
    CHECK(file.read<TestType>("s") == scalar);
    CHECK(file.read<TestType>("empty").empty());
    CHECK(file.header().metadata_value("note") == "round trip");
    // Writing what was read gives the same bytes.
    safetensors_writer again;
    again.add("h.0.weight", std::span<const TestType>(back), {20, 51});
    again.add("s", std::span<const TestType>(scalar), {});
    again.add("empty", std::span<const TestType>(), {0, 3});
    again.add_metadata("note", "round trip");
    CHECK(again.bytes() == w.bytes());
}

TEST_CASE("safetensors: opening a missing file names it") {
    CHECK_THROWS_WITH(read_safetensors("/nonexistent/x.safetensors"),
                      StartsWith("lnfold: cannot open safetensors file '/nonexistent/x.safetensors'"));
}

TEST_CASE("safetensors: every seed of the fuzz corpus parses or throws io_error, as its name says") {
    namespace fs = std::filesystem;
    const fs::path dir = LNFOLD_FUZZ_CORPUS;
    REQUIRE(fs::is_directory(dir));
    std::size_t seeds = 0;
    for (const auto& e : fs::directory_iterator(dir)) {
        const std::string name = e.path().filename().string();
        INFO(name);
        ++seeds;
        const std::string message = [&] {
            try {
                read_safetensors(e.path().string());
            } catch (const io_error& err) {
                return std::string(err.what());
            }
            return std::string("no io_error");
        }();
        if (name.rfind("bad_", 0) == 0) CHECK_THAT(message, StartsWith("lnfold: safetensors file '" + e.path().string() + "'"));
        else CHECK(message == "no io_error");
    }
    CHECK(seeds >= 10);
}

TEST_CASE("safetensors: many tensors parse in linear time; a duplicate among many is found") {
    std::string header = "{";
    for (std::size_t i = 0; i < 50000; ++i) {
        std::string name(1, 't');
        name += std::to_string(i);
        if (i) header += ',';
        header += entry(name, "F32", "[1]", 4 * i, 4 * i + 4);
    }
    std::string dup = header + "," + entry("t777", "F32", "[0]", 0, 0) + "}";
    header += "}";
    const auto h = parse_safetensors_header(craft(header, 4 * 50000));
    CHECK(h.tensors.size() == 50000);
    CHECK_THAT(error_of(craft(dup, 4 * 50000)), Contains("duplicate key \"t777\""));
}
