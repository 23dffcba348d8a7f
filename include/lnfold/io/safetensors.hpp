#pragma once
// The safetensors format (https://github.com/huggingface/safetensors): an 8-byte little-endian header length N,
// N bytes of JSON header, then the data buffer. The header maps tensor names to
// {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]} (offsets relative to the data buffer) and may hold
// "__metadata__": {string: string}.
//
// The reader validates like the reference implementation (and a little stricter):
//   - the file has at least 8 bytes; N <= 100,000,000; 8 + N <= file size;
//   - the header is valid UTF-8 JSON, one object starting with '{' (trailing whitespace allowed), no duplicate keys;
//   - at most safetensors_max_tensors tensors (checked while parsing: the parse stops at the first one too many)
//     and at most safetensors_max_header_values JSON values in the header, so that the memory and time spent on
//     a header are bounded in proportion to what a real checkpoint needs, whatever the file claims;
//   - "__metadata__", when present, is an object whose values are all strings;
//   - every other member is an object with exactly the keys dtype (a known name), shape (array of non-negative
//     integers) and data_offsets (two non-negative integers, begin <= end);
//   - numel x dtype size (overflow-checked) == end - begin;
//   - sorted by offsets, the tensors tile the data buffer exactly: the first begins at 0, each begins where the
//     previous one ends, and the last ends at the end of the file (no gaps, overlaps or trailing bytes).
// Every failure throws lnfold::io_error naming the file, the tensor when there is one, and the check. The header is
// checked as it is read, entry by entry: the first problem in text order is the one reported.
#include <algorithm>
#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <initializer_list>
#include <new>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_set>
#include <utility>
#include <vector>

#include "lnfold/core/error.hpp"
#include "lnfold/io/atomic_file.hpp"
#include "lnfold/io/half.hpp"
#include "lnfold/io/json.hpp"
#include "lnfold/io/regular_file.hpp"

namespace lnfold::io {

enum class dtype : std::uint8_t { BOOL, U8, I8, F8_E4M3, F8_E5M2, I16, U16, F16, BF16, I32, U32, F32, F64, I64, U64 };

struct dtype_entry {
    dtype type;
    std::string_view name;
    std::size_t size;  // bytes per element
};
inline constexpr std::array<dtype_entry, 15> dtype_table{{
    {dtype::BOOL, "BOOL", 1},    {dtype::U8, "U8", 1},   {dtype::I8, "I8", 1},   {dtype::F8_E4M3, "F8_E4M3", 1},
    {dtype::F8_E5M2, "F8_E5M2", 1}, {dtype::I16, "I16", 2}, {dtype::U16, "U16", 2}, {dtype::F16, "F16", 2},
    {dtype::BF16, "BF16", 2},    {dtype::I32, "I32", 4}, {dtype::U32, "U32", 4}, {dtype::F32, "F32", 4},
    {dtype::F64, "F64", 8},      {dtype::I64, "I64", 8}, {dtype::U64, "U64", 8},
}};
constexpr std::string_view dtype_name(dtype t) { return dtype_table[static_cast<std::size_t>(t)].name; }
constexpr std::size_t dtype_size(dtype t) { return dtype_table[static_cast<std::size_t>(t)].size; }
constexpr std::optional<dtype> dtype_from_name(std::string_view name) {
    for (const auto& e : dtype_table)
        if (e.name == name) return e.type;
    return std::nullopt;
}
// The dtypes lnfold converts to float / double when reading.
constexpr bool is_readable_float(dtype t) {
    return t == dtype::F32 || t == dtype::F64 || t == dtype::F16 || t == dtype::BF16;
}

inline constexpr std::size_t safetensors_max_header_size = 100'000'000;
// Tensors in one file. Real checkpoints hold hundreds: GPT-2 XL 582 (with its attention-mask buffers), ViT-H/14
// about 500, a Llama-3-70B with all its shards 723; Hugging Face shards large models at about 5 GB a file, so
// even mixture-of-experts checkpoints with tens of thousands of tensors in all hold a few thousand per file. 65536
// is 100 times the largest dense model, and it bounds what a hostile header costs before it is refused: a
// million-tensor header of 68 MB used to be parsed whole (1.1 GB, about 10 s); it now stops at tensor 65537.
inline constexpr std::size_t safetensors_max_tensors = std::size_t{1} << 16;
// JSON values in one header (each tensor entry is 6 plus its rank: object, dtype, shape, offsets and their
// numbers): 16 per tensor at the tensor limit, room for shapes of rank 10 on average and the metadata. It bounds
// the shapes kept (8 bytes a dimension) and the tree of one entry, whose shape could otherwise be millions long.
inline constexpr std::size_t safetensors_max_header_values = 16 * safetensors_max_tensors;

// "(3, 4)"; "()" for a scalar.
inline std::string shape_string(std::span<const std::size_t> shape) {
    std::string s = "(";
    for (std::size_t i = 0; i < shape.size(); ++i) {
        if (i) s += ", ";
        s += std::to_string(shape[i]);
    }
    return s + ")";
}

struct tensor_info {
    std::string name;
    dtype type = dtype::F32;
    std::vector<std::size_t> shape;
    std::size_t begin = 0, end = 0;  // byte offsets inside the data buffer

    std::size_t numel() const {
        std::size_t n = 1;
        for (std::size_t d : shape) n *= d;  // validated not to overflow
        return n;
    }
    std::size_t byte_size() const { return end - begin; }
    std::string describe() const { return std::string(dtype_name(type)) + " " + shape_string(shape); }
};

struct safetensors_header {
    std::vector<tensor_info> tensors;                              // in header order
    std::vector<std::pair<std::string, std::string>> metadata;     // "__metadata__", in header order
    std::size_t header_size = 0;                                   // N
    std::size_t data_offset = 0;                                   // 8 + N: where the data buffer starts
    std::size_t data_size = 0;                                     // bytes in the data buffer
    // Positions in `tensors` sorted by name, so that find() is a binary search (callers look names up in loops,
    // e.g. counting blocks "h.0.", "h.1.", ...). Built by parse_safetensors_header.
    std::vector<std::size_t> by_name;

    const tensor_info* find(std::string_view name) const {
        const auto at = std::lower_bound(by_name.begin(), by_name.end(), name,
                                         [&](std::size_t i, std::string_view n) { return tensors[i].name < n; });
        return at != by_name.end() && tensors[*at].name == name ? &tensors[*at] : nullptr;
    }
    std::optional<std::string_view> metadata_value(std::string_view key) const {
        for (const auto& m : metadata)
            if (m.first == key) return std::string_view(m.second);
        return std::nullopt;
    }
};

namespace detail {

inline std::uint64_t load_le64(const std::uint8_t* p) {
    std::uint64_t v = 0;
    for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
    return v;
}
inline void store_le(std::uint8_t* p, std::uint64_t v, std::size_t bytes) {
    for (std::size_t i = 0; i < bytes; ++i, v >>= 8) p[i] = static_cast<std::uint8_t>(v & 0xFF);
}
template <class U>
U load_le(const std::uint8_t* p) {
    U v = 0;
    for (int i = static_cast<int>(sizeof(U)) - 1; i >= 0; --i) v = static_cast<U>((v << 8) | p[i]);
    return v;
}

// The checks of a safetensors header. Each failure raises io_error, or with a report (the non-throwing readers)
// records the first one; the caller returns at once (failed() after every call that can fail).
class header_checker {
public:
    explicit header_checker(std::string_view source, status* report = nullptr)
        : where_("safetensors file " + detail::quoted(source)), report_(report) {}
    void fail(const std::string& what) { report("lnfold: " + where_ + ": " + what); }
    void fail(const std::string& tensor, const std::string& what) {
        report("lnfold: " + where_ + ": tensor " + detail::quoted(tensor) + ": " + what);
    }
    bool failed() const { return failed_; }
    status* report_target() const { return report_; }
    const std::string& where() const { return where_; }

    std::size_t index(const json_value& v, const std::string& tensor, const char* field) {
        std::uint64_t n = 0;
        if (!v.as_u64(n))
            return fail(tensor, std::string(field) + " must hold non-negative integers, got " +
                                    (v.is_number() ? "the number " + json_parser::printable(v.text())
                                                   : std::string(v.kind_name()))),
                   0;
        if constexpr (sizeof(std::size_t) < sizeof(std::uint64_t))
            if (n > SIZE_MAX)
                return fail(tensor, std::string(field) + " value " + v.text() + " does not fit this platform's size_t"),
                       0;
        return static_cast<std::size_t>(n);
    }

    tensor_info tensor(const std::string& name, const json_value& v) {
        if (!v.is_object())
            return fail(name, std::string("the header entry must be an object {dtype, shape, data_offsets}, got ") + v.kind_name()),
                   tensor_info{};
        tensor_info t;
        t.name = name;
        for (const auto& m : v.members())
            if (m.first != "dtype" && m.first != "shape" && m.first != "data_offsets")
                return fail(name, "unknown key " + detail::quoted(m.first) + " (expected only dtype, shape, data_offsets)"),
                       tensor_info{};
        const json_value* dt = v.find("dtype");
        const json_value* shape = v.find("shape");
        const json_value* offsets = v.find("data_offsets");
        if (!dt) return fail(name, "missing key 'dtype'"), tensor_info{};
        if (!shape) return fail(name, "missing key 'shape'"), tensor_info{};
        if (!offsets) return fail(name, "missing key 'data_offsets'"), tensor_info{};
        if (!dt->is_string()) return fail(name, std::string("dtype must be a string, got ") + dt->kind_name()),
               tensor_info{};
        const auto type = dtype_from_name(dt->text());
        if (!type) {
            std::string known;
            for (const auto& e : dtype_table) {
                if (!known.empty()) known += ", ";
                known += e.name;
            }
            return fail(name, "unknown dtype " + detail::quoted(dt->text()) + " (known: " + known + ")"), tensor_info{};
        }
        t.type = *type;
        if (!shape->is_array()) return fail(name, std::string("shape must be an array, got ") + shape->kind_name()),
               tensor_info{};
        for (const auto& d : shape->items()) {
            t.shape.push_back(index(d, name, "shape"));
            if (failed_) return {};
        }
        if (!offsets->is_array() || offsets->items().size() != 2)
            return fail(name, "data_offsets must be an array of two integers [begin, end], got " +
                           (offsets->is_array() ? "an array of " + std::to_string(offsets->items().size())
                                                : std::string(offsets->kind_name()))), tensor_info{};
        t.begin = index(offsets->items()[0], name, "data_offsets");
        if (failed_) return {};
        t.end = index(offsets->items()[1], name, "data_offsets");
        if (failed_) return {};
        if (t.begin > t.end)
            return fail(name, "data_offsets [" + std::to_string(t.begin) + ", " + std::to_string(t.end) +
                           "]: begin must be <= end"), tensor_info{};
        std::size_t numel = 1;
        for (std::size_t d : t.shape)
            if (d != 0 && numel > SIZE_MAX / d) return fail(name, "shape " + shape_string(t.shape) + ": element count overflows"),
                   tensor_info{};
            else numel *= d;
        const std::size_t size = dtype_size(t.type);
        if (numel > SIZE_MAX / size) return fail(name, "shape " + shape_string(t.shape) + " x " + std::to_string(size) + " bytes overflows"),
               tensor_info{};
        if (numel * size != t.end - t.begin)
            return fail(name, "data_offsets [" + std::to_string(t.begin) + ", " + std::to_string(t.end) + "] hold " +
                           std::to_string(t.end - t.begin) + " bytes, but " + t.describe() + " needs " +
                           std::to_string(numel * size) + " (" + std::to_string(numel) + " elements x " +
                           std::to_string(size) + " bytes)"), tensor_info{};
        return t;
    }

private:
    void report(std::string message) {
        if (report_ == nullptr) raise<io_error>(std::move(message));
        if (!failed_) *report_ = status::of<io_error>(std::move(message));
        failed_ = true;
    }
    std::string where_;
    status* report_ = nullptr;
    bool failed_ = false;
};

}  // namespace detail

namespace detail {
// The header of a whole safetensors file held in memory; with a report, the first failure goes there (and an empty
// header comes back) instead of being raised.
inline safetensors_header parse_header(std::span<const std::uint8_t> bytes, std::string_view source, status* report) {
    detail::header_checker check(source, report);
    if (bytes.size() < 8)
        return check.fail("the file has " + std::to_string(bytes.size()) +
                   " bytes, fewer than the 8-byte header length that starts every safetensors file"),
                          safetensors_header{};
    const std::uint64_t n = detail::load_le64(bytes.data());
    if (n > safetensors_max_header_size)
        return check.fail("header length " + std::to_string(n) + " exceeds the limit of " +
                   std::to_string(safetensors_max_header_size) + " bytes"), safetensors_header{};
    if (n > bytes.size() - 8)
        return check.fail("header length " + std::to_string(n) + " needs at least " + std::to_string(n + 8) +
                   " bytes in the file, but it has " + std::to_string(bytes.size())), safetensors_header{};
    safetensors_header h;
    h.header_size = static_cast<std::size_t>(n);
    h.data_offset = 8 + h.header_size;
    h.data_size = bytes.size() - h.data_offset;
    const std::string_view text(reinterpret_cast<const char*>(bytes.data() + 8), h.header_size);
    if (text.empty() || text[0] != '{')
        return check.fail(std::string("the header must be a JSON object starting with '{', got ") +
                   (text.empty() ? "an empty header" : "'" + json_parser::printable(text.substr(0, 1)) + "'")),
                          safetensors_header{};
    json_limits limits;
    limits.max_bytes = safetensors_max_header_size;
    limits.max_depth = 8;
    limits.max_values = safetensors_max_header_values;
    // Member by member: each entry is checked as soon as it is read and only its tensor_info is kept.
    // Returns false after a failure (reported), which stops the parse.
    const auto on_member = [&](std::string&& key, json_value&& value, std::size_t) -> bool {
        if (key == "__metadata__") {
            if (!value.is_object())
                return check.fail(std::string("__metadata__ must be an object of strings, got ") + value.kind_name()),
                       false;
            for (const auto& [mk, mv] : value.members()) {
                if (!mv.is_string())
                    return check.fail("__metadata__ value of " + detail::quoted(mk) + " must be a string, got " +
                                      mv.kind_name()),
                           false;
                h.metadata.emplace_back(mk, mv.text());
            }
            return true;
        }
        if (h.tensors.size() == safetensors_max_tensors)
            return check.fail("the header holds more than " + std::to_string(safetensors_max_tensors) +
                              " tensors, the limit (safetensors_max_tensors): tensor " +
                              std::to_string(safetensors_max_tensors + 1) + " is " + detail::quoted(key)),
                   false;
        tensor_info t = check.tensor(key, value);
        if (check.failed()) return false;
        h.tensors.push_back(std::move(t));
        return true;
    };
    LNFOLD_TRY {
        json_parser parser(text, check.where() + ": header", limits);
        parser.report_into(report);
        parser.parse_members(on_member);
        if (parser.failed()) return {};
    } LNFOLD_CATCH(const std::bad_alloc&) {
        return check.fail("the header (" + std::to_string(h.header_size) + " bytes) does not fit in memory once parsed"),
               safetensors_header{};
    }
    h.by_name.resize(h.tensors.size());
    for (std::size_t i = 0; i < h.by_name.size(); ++i) h.by_name[i] = i;
    std::sort(h.by_name.begin(), h.by_name.end(),
              [&](std::size_t a, std::size_t b) { return h.tensors[a].name < h.tensors[b].name; });

    std::vector<const tensor_info*> order;
    order.reserve(h.tensors.size());
    for (const auto& t : h.tensors) order.push_back(&t);
    std::stable_sort(order.begin(), order.end(), [](const tensor_info* a, const tensor_info* b) {
        return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
    });
    std::size_t expected = 0;
    const tensor_info* previous = nullptr;
    for (const tensor_info* t : order) {
        if (t->begin != expected) {
            const std::string range = "data_offsets [" + std::to_string(t->begin) + ", " + std::to_string(t->end) + "]";
            if (previous == nullptr)
                return check.fail(t->name, range + ": the first tensor of the data buffer must begin at 0, got " +
                                        std::to_string(t->begin) + " (a gap)"), safetensors_header{};
            return check.fail(t->name, range + " must begin at " + std::to_string(expected) + ", where " +
                                    detail::quoted(previous->name) + " ends; got " + std::to_string(t->begin) +
                                    (t->begin > expected ? " (a gap)" : " (an overlap)")), safetensors_header{};
        }
        expected = t->end;
        previous = t;
    }
    if (expected != h.data_size)
        return check.fail("the tensors cover " + std::to_string(expected) + " bytes of the data buffer, but it holds " +
                   std::to_string(h.data_size) + " (file size " + std::to_string(bytes.size()) + " = 8 + header " +
                   std::to_string(h.header_size) + " + data " + std::to_string(h.data_size) + ")" +
                   (expected < h.data_size ? ": trailing bytes" : "")), safetensors_header{};
    return h;
}
}  // namespace detail

// Validates a whole safetensors file held in memory (header and the layout of the data buffer; the data bytes
// themselves are not interpreted). `source` names the file in error messages.
inline safetensors_header parse_safetensors_header(std::span<const std::uint8_t> bytes, std::string_view source = "<memory>") {
    return detail::parse_header(bytes, source, nullptr);
}
// The same, returning a failure (the same io_error message) instead of raising it.
inline result<safetensors_header> try_parse_safetensors_header(std::span<const std::uint8_t> bytes,
                                                               std::string_view source = "<memory>") {
    status error;
    safetensors_header h = detail::parse_header(bytes, source, &error);
    if (!error.ok()) return error;
    return h;
}

// A validated safetensors file held in memory.
class safetensors_file {
public:
    explicit safetensors_file(std::vector<std::uint8_t> bytes, std::string source = "<memory>")
        : safetensors_file(byte_buffer(std::move(bytes)), std::move(source)) {}
    explicit safetensors_file(byte_buffer bytes, std::string source = "<memory>")
        : bytes_(std::move(bytes)), source_(std::move(source)), header_(parse_safetensors_header(bytes_.span(), source_)) {}

    // Reads and validates a file from disk: a regular file (a directory, device or pipe is refused by name), read
    // as exactly the size it has when opened; a failed open or read says the OS's reason (io::regular_file).
    static safetensors_file open(const std::string& path) {
        return safetensors_file(regular_file(path, "safetensors file").read_all_buffer(), path);
    }
    // The same, with the file mapped read-only instead of read (regular_file::map_all): nothing is copied, so a
    // tensor's bytes (bytes_of) can be used in place, e.g. as a Model's parameter arena (io::arena_of).
    static safetensors_file map(const std::string& path) {
        return safetensors_file(regular_file(path, "safetensors file").map_all(), path);
    }
    // The non-throwing forms of open, map and the constructor: any failure (open, read, the header's checks) as a
    // status with the io_error message those raise.
    static result<safetensors_file> try_open(const std::string& path) { return try_read(path, false); }
    static result<safetensors_file> try_map(const std::string& path) { return try_read(path, true); }
    static result<safetensors_file> try_from(byte_buffer bytes, std::string source = "<memory>") {
        status error;
        safetensors_header header = detail::parse_header(bytes.span(), source, &error);
        if (!error.ok()) return error;
        return safetensors_file(std::move(bytes), std::move(source), std::move(header));
    }

    const std::string& source() const { return source_; }
    const safetensors_header& header() const { return header_; }
    const std::vector<tensor_info>& tensors() const { return header_.tensors; }
    const std::vector<std::pair<std::string, std::string>>& metadata() const { return header_.metadata; }
    const tensor_info* find(std::string_view name) const { return header_.find(name); }
    const tensor_info& at(std::string_view name) const {
        if (const tensor_info* t = find(name)) return *t;
        raise<io_error>("lnfold: safetensors file " + detail::quoted(source_) + ": no tensor named " +
                       detail::quoted(name) + " (the file has " + std::to_string(header_.tensors.size()) + " tensors)");
    }
    // The raw little-endian bytes of a tensor.
    std::span<const std::uint8_t> bytes_of(const tensor_info& t) const {
        return bytes_.span().subspan(header_.data_offset + t.begin, t.byte_size());
    }

    // Converts a F32 / F64 / F16 / BF16 tensor into out (numel() values, row-major as stored).
    template <class T>
    void read_into(const tensor_info& t, std::span<T> out) const {
        const std::size_t n = t.numel();
        if (out.size() != n)
            raise<io_error>("lnfold: safetensors file " + detail::quoted(source_) + ": tensor " + detail::quoted(t.name) +
                           ": " + t.describe() + " has " + std::to_string(n) + " elements, the destination holds " +
                           std::to_string(out.size()));
        read_elements(t, 0, out);
    }
    // Converts elements [first, first + out.size()) of a F32 / F64 / F16 / BF16 tensor into out: a tensor can be
    // read in pieces (e.g. checked a block at a time without a buffer of its size).
    template <class T>
    void read_elements(const tensor_info& t, std::size_t first, std::span<T> out) const {
        static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>, "lnfold: read_elements needs float or double");
        if (!is_readable_float(t.type))
            raise<io_error>("lnfold: safetensors file " + detail::quoted(source_) + ": tensor " + detail::quoted(t.name) +
                           ": dtype " + std::string(dtype_name(t.type)) +
                           " cannot be read as floating point (lnfold reads F32, F64, F16 and BF16)");
        const std::size_t numel = t.numel();
        if (first > numel || out.size() > numel - first)
            raise<io_error>("lnfold: safetensors file " + detail::quoted(source_) + ": tensor " + detail::quoted(t.name) +
                           ": elements [" + std::to_string(first) + ", " + std::to_string(first) + " + " +
                           std::to_string(out.size()) + ") are outside its " + std::to_string(numel));
        const std::size_t n = out.size();
        const std::uint8_t* p = bytes_.data() + header_.data_offset + t.begin + first * dtype_size(t.type);
        switch (t.type) {
            case dtype::F32:
                if constexpr (std::endian::native == std::endian::little && std::is_same_v<T, float>) {
                    if (n) std::memcpy(out.data(), p, 4 * n);  // the file's bytes are the floats
                } else {
                    for (std::size_t i = 0; i < n; ++i)
                        out[i] = static_cast<T>(std::bit_cast<float>(detail::load_le<std::uint32_t>(p + 4 * i)));
                }
                break;
            case dtype::F64:
                for (std::size_t i = 0; i < n; ++i)
                    out[i] = static_cast<T>(std::bit_cast<double>(detail::load_le<std::uint64_t>(p + 8 * i)));
                break;
            case dtype::F16:
                for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<T>(f16_to_float(detail::load_le<std::uint16_t>(p + 2 * i)));
                break;
            case dtype::BF16:
                for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<T>(bf16_to_float(detail::load_le<std::uint16_t>(p + 2 * i)));
                break;
            default: break;
        }
    }
    // How many elements of a F32 tensor are NaN or infinite, from their bits (a float is finite exactly when it is
    // finite as a double): a scan at memory speed, without converting. 0 for a tensor of another dtype.
    std::size_t count_non_finite_f32(const tensor_info& t) const {
        if (t.type != dtype::F32) return 0;
        const std::size_t count = t.numel();
        const std::uint8_t* p = bytes_.data() + header_.data_offset + t.begin;
        std::size_t bad = 0;
        for (std::size_t i = 0; i < count; ++i) {
            std::uint32_t w;
            if constexpr (std::endian::native == std::endian::little) std::memcpy(&w, p + 4 * i, 4);
            else w = detail::load_le<std::uint32_t>(p + 4 * i);
            bad += (w & 0x7F800000u) == 0x7F800000u;
        }
        return bad;
    }
    template <class T = float>
    std::vector<T> read(std::string_view name) const {
        const tensor_info& t = at(name);
        std::vector<T> out(t.numel());
        read_into<T>(t, out);
        return out;
    }

private:
    safetensors_file(byte_buffer bytes, std::string source, safetensors_header header)
        : bytes_(std::move(bytes)), source_(std::move(source)), header_(std::move(header)) {}
    static result<safetensors_file> try_read(const std::string& path, bool map) {
        status error;
        const regular_file file(path, "safetensors file", {}, &error);
        byte_buffer bytes = map ? file.map_all() : file.read_all_buffer();
        if (!error.ok()) return error;
        return try_from(std::move(bytes), path);
    }

    byte_buffer bytes_;
    std::string source_;
    safetensors_header header_;
};

inline safetensors_file read_safetensors(const std::string& path) { return safetensors_file::open(path); }

// Collects tensors and metadata, then serialises them as a safetensors file. Tensors are laid out by element size
// (largest first, so every tensor is aligned to its element size in the file), then in the order they were added.
// add / add_raw copy the values; add_view / add_transposed_view only refer to them (they must outlive the writer's
// last bytes() / write / write_to), and the bytes are made a piece at a time while the file is written, so a model
// is written without a copy of its weights.
class safetensors_writer {
public:
    void add(std::string name, std::span<const float> values, std::vector<std::size_t> shape) {
        add_values(std::move(name), dtype::F32, values, std::move(shape));
    }
    void add(std::string name, std::span<const double> values, std::vector<std::size_t> shape) {
        add_values(std::move(name), dtype::F64, values, std::move(shape));
    }
    // Any dtype, from its little-endian bytes (numel x dtype size of them).
    void add_raw(std::string name, dtype type, std::vector<std::size_t> shape, std::span<const std::uint8_t> bytes) {
        check_new(name, type, shape, bytes.size());
        entry e{std::move(name), type, std::move(shape), {}};
        e.bytes.assign(bytes.begin(), bytes.end());
        e.size = e.bytes.size();
        entries_.push_back(std::move(e));
    }
    // F32 / F64 values the writer refers to, as they are.
    template <class V>
    void add_view(std::string name, std::span<const V> values, std::vector<std::size_t> shape) {
        add_reference(std::move(name), values, std::move(shape), 0, 0);
    }
    // A (rows, cols) row-major matrix written transposed: the file tensor has shape (cols, rows).
    template <class V>
    void add_transposed_view(std::string name, std::span<const V> values, std::size_t rows, std::size_t cols) {
        if (rows * cols != values.size())
            raise<io_error>("lnfold: safetensors writer: tensor " + detail::quoted(name) + ": " + std::to_string(rows) +
                           " x " + std::to_string(cols) + " values to transpose, got " + std::to_string(values.size()));
        add_reference(std::move(name), values, {cols, rows}, rows, cols);
    }
    void add_metadata(std::string key, std::string value) {
        for (const auto& m : metadata_)
            if (m.first == key) raise<io_error>("lnfold: safetensors writer: duplicate metadata key " + detail::quoted(key));
        metadata_.emplace_back(std::move(key), std::move(value));
    }
    std::size_t size() const { return entries_.size(); }

    std::vector<std::uint8_t> bytes() const {
        std::vector<std::uint8_t> out;
        emit([&](std::span<const std::uint8_t> piece) { out.insert(out.end(), piece.begin(), piece.end()); },
             [&](std::size_t total) { out.reserve(total); });
        return out;
    }

    // Writes the file atomically (io::atomic_file): a temporary beside `path`, flushed, read back and compared, then
    // renamed over it. On any failure `path` is untouched. `inputs`: files `path` must not be (the model's source).
    void write(const std::string& path, std::initializer_list<std::string> inputs = {}) const {
        const std::string header = header_text();  // a header too large is refused before the file is created
        atomic_file file(path, "safetensors file", inputs);
        write_to(file);
        file.commit();
    }
    // Writes the file's bytes into an open atomic_file (the caller finishes and commits it).
    void write_to(atomic_file& file) const {
        emit([&](std::span<const std::uint8_t> piece) { file.write(piece); }, [](std::size_t) {});
    }

private:
    struct entry {
        std::string name;
        dtype type;
        std::vector<std::size_t> shape;
        std::vector<std::uint8_t> bytes;  // owned values (add, add_raw)
        const void* view = nullptr;       // or referred values (add_view, add_transposed_view)
        std::size_t rows = 0, cols = 0;   // a transposed view: (rows, cols) in memory
        std::size_t size = 0;             // bytes in the file
    };

    std::vector<std::size_t> order() const {
        std::vector<std::size_t> order(entries_.size());
        for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
        std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
            return dtype_size(entries_[a].type) > dtype_size(entries_[b].type);
        });
        return order;
    }
    std::string header_text() const {
        std::string header = "{";
        bool first = true;
        if (!metadata_.empty()) {
            header += "\"__metadata__\":{";
            for (std::size_t i = 0; i < metadata_.size(); ++i) {
                if (i) header += ',';
                append_json_string(header, metadata_[i].first);
                header += ':';
                append_json_string(header, metadata_[i].second);
            }
            header += '}';
            first = false;
        }
        std::size_t offset = 0;
        for (std::size_t i : order()) {
            const entry& e = entries_[i];
            if (!first) header += ',';
            first = false;
            append_json_string(header, e.name);
            header += ":{\"dtype\":\"" + std::string(dtype_name(e.type)) + "\",\"shape\":[";
            for (std::size_t d = 0; d < e.shape.size(); ++d) {
                if (d) header += ',';
                header += std::to_string(e.shape[d]);
            }
            header += "],\"data_offsets\":[" + std::to_string(offset) + "," + std::to_string(offset + e.size) + "]}";
            offset += e.size;
        }
        header += '}';
        while (header.size() % 8 != 0) header += ' ';  // the data buffer starts 8-byte aligned
        if (header.size() > safetensors_max_header_size)
            raise<io_error>("lnfold: safetensors writer: the header would have " + std::to_string(header.size()) +
                           " bytes, more than the limit of " + std::to_string(safetensors_max_header_size));
        return header;
    }
    // Calls sink(bytes) with the file's bytes in order, in pieces; reserve(total) first.
    template <class Sink, class Reserve>
    void emit(Sink&& sink, Reserve&& reserve) const {
        const std::string header = header_text();
        std::size_t total = 8 + header.size();
        for (const entry& e : entries_) total += e.size;
        reserve(total);
        std::uint8_t length[8];
        detail::store_le(length, header.size(), 8);
        sink(std::span<const std::uint8_t>(length, 8));
        sink(std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(header.data()), header.size()));
        std::vector<std::uint8_t> buffer;
        for (std::size_t i : order()) {
            const entry& e = entries_[i];
            if (e.view == nullptr) {
                if (e.size) sink(std::span<const std::uint8_t>(e.bytes));
            } else if (e.type == dtype::F32) {
                emit_view(static_cast<const float*>(e.view), e, buffer, sink);
            } else {
                emit_view(static_cast<const double*>(e.view), e, buffer, sink);
            }
        }
    }
    // The little-endian bytes of a view, about 1 MB at a time; a transposed view 32 file rows at a time (reading
    // the matrix a few cache lines per row).
    template <class V, class Sink>
    static void emit_view(const V* values, const entry& e, std::vector<std::uint8_t>& buffer, Sink& sink) {
        using U = std::conditional_t<sizeof(V) == 4, std::uint32_t, std::uint64_t>;
        const std::size_t n = e.size / sizeof(V);
        const auto put = [&](std::uint8_t* at, V v) {
            if constexpr (std::endian::native == std::endian::little) std::memcpy(at, &v, sizeof(V));
            else detail::store_le(at, std::bit_cast<U>(v), sizeof(V));
        };
        if (e.rows == 0 && e.cols == 0) {
            if constexpr (std::endian::native == std::endian::little) {
                if (n) sink(std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(values), e.size));
                return;
            }
            constexpr std::size_t piece = (std::size_t{1} << 20) / sizeof(V);
            buffer.resize(piece * sizeof(V));
            for (std::size_t begin = 0; begin < n; begin += piece) {
                const std::size_t size = std::min(piece, n - begin);
                for (std::size_t i = 0; i < size; ++i) put(buffer.data() + i * sizeof(V), values[begin + i]);
                sink(std::span<const std::uint8_t>(buffer.data(), size * sizeof(V)));
            }
            return;
        }
        constexpr std::size_t band = 32;  // file rows (= columns of the matrix) per piece
        const std::size_t rows = e.rows, cols = e.cols;
        buffer.resize(band * rows * sizeof(V));
        for (std::size_t c0 = 0; c0 < cols; c0 += band) {
            const std::size_t nc = std::min(band, cols - c0);
            for (std::size_t r = 0; r < rows; ++r)
                for (std::size_t c = 0; c < nc; ++c) put(buffer.data() + (c * rows + r) * sizeof(V), values[r * cols + c0 + c]);
            sink(std::span<const std::uint8_t>(buffer.data(), nc * rows * sizeof(V)));
        }
    }
    void check_new(const std::string& name, dtype type, const std::vector<std::size_t>& shape, std::size_t bytes) {
        if (name == "__metadata__")
            raise<io_error>("lnfold: safetensors writer: '__metadata__' is reserved and cannot name a tensor");
        if (names_.count(name) != 0)
            raise<io_error>("lnfold: safetensors writer: duplicate tensor name " + detail::quoted(name));
        std::size_t numel = 1;
        for (std::size_t d : shape) {
            if (d != 0 && numel > SIZE_MAX / d)
                raise<io_error>("lnfold: safetensors writer: tensor " + detail::quoted(name) + ": shape overflows");
            numel *= d;
        }
        if (numel > SIZE_MAX / dtype_size(type) || numel * dtype_size(type) != bytes)
            raise<io_error>("lnfold: safetensors writer: tensor " + detail::quoted(name) + ": " +
                           std::string(dtype_name(type)) + " " + shape_string(shape) + " needs " +
                           std::to_string(numel) + " elements x " + std::to_string(dtype_size(type)) + " bytes, got " +
                           std::to_string(bytes) + " bytes");
        names_.insert(name);
    }
    template <class V>
    void add_values(std::string name, dtype type, std::span<const V> values, std::vector<std::size_t> shape) {
        check_new(name, type, shape, values.size() * sizeof(V));
        entry e{std::move(name), type, std::move(shape), {}};
        e.bytes.resize(values.size() * sizeof(V));
        using U = std::conditional_t<sizeof(V) == 4, std::uint32_t, std::uint64_t>;
        for (std::size_t i = 0; i < values.size(); ++i)
            detail::store_le(e.bytes.data() + i * sizeof(V), std::bit_cast<U>(values[i]), sizeof(V));
        e.size = e.bytes.size();
        entries_.push_back(std::move(e));
    }
    template <class V>
    void add_reference(std::string name, std::span<const V> values, std::vector<std::size_t> shape, std::size_t rows,
                       std::size_t cols) {
        static_assert(std::is_same_v<V, float> || std::is_same_v<V, double>, "lnfold: add_view takes float or double");
        constexpr dtype type = std::is_same_v<V, float> ? dtype::F32 : dtype::F64;
        check_new(name, type, shape, values.size() * sizeof(V));
        entry e{std::move(name), type, std::move(shape), {}};
        e.view = values.data();
        e.rows = rows;
        e.cols = cols;
        e.size = values.size() * sizeof(V);
        entries_.push_back(std::move(e));
    }

    std::vector<entry> entries_;
    std::unordered_set<std::string> names_;
    std::vector<std::pair<std::string, std::string>> metadata_;
};

}  // namespace lnfold::io
