#pragma once
// A small strict JSON parser (RFC 8259) for file headers: UTF-8 validated, duplicate object keys rejected,
// nesting depth and input size limited, numbers kept as text (read back exactly as integers when asked).
// Every failure throws lnfold::io_error "lnfold: <where>: <what> at byte <n>".
// The cost is linear in the text (duplicate keys are found by sorting an object's keys once, n log n, never by
// a hash set that colliding keys could make quadratic); parse_members streams a top-level object member by member
// so that a caller can check and stop early, and never holds the whole tree.
#include <algorithm>
#include <type_traits>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "lnfold/core/error.hpp"

namespace lnfold::io {

struct json_limits {
    std::size_t max_bytes = 100'000'000;  // whole text
    std::size_t max_depth = 64;           // nested arrays / objects
    std::size_t max_number_chars = 64;    // digits, sign, fraction, exponent
    std::size_t max_values = 10'000'000;  // values in the whole text (bounds the memory of the parsed tree)
};

class json_value {
public:
    enum class kind { null, boolean, number, string, array, object };

    kind type() const { return kind_; }
    bool is_null() const { return kind_ == kind::null; }
    bool is_bool() const { return kind_ == kind::boolean; }
    bool is_number() const { return kind_ == kind::number; }
    bool is_string() const { return kind_ == kind::string; }
    bool is_array() const { return kind_ == kind::array; }
    bool is_object() const { return kind_ == kind::object; }

    bool boolean() const { return flag_; }
    // The string's decoded (UTF-8) value, or the number's text exactly as written.
    const std::string& text() const { return text_; }
    const std::vector<json_value>& items() const { return items_; }
    // Object members in the order they appear (keys are unique).
    const std::vector<std::pair<std::string, json_value>>& members() const { return members_; }
    const json_value* find(std::string_view key) const {
        for (const auto& m : members_)
            if (m.first == key) return &m.second;
        return nullptr;
    }
    // The number as a non-negative integer that fits std::uint64_t: digits only, no sign, fraction or exponent.
    bool as_u64(std::uint64_t& out) const {
        if (kind_ != kind::number || text_.empty() || text_[0] == '-') return false;
        std::uint64_t v = 0;
        for (char c : text_) {
            if (c < '0' || c > '9') return false;
            const std::uint64_t d = static_cast<std::uint64_t>(c - '0');
            if (v > (UINT64_MAX - d) / 10) return false;
            v = v * 10 + d;
        }
        out = v;
        return true;
    }
    static const char* kind_name(kind k) {
        switch (k) {
            case kind::null: return "null";
            case kind::boolean: return "a boolean";
            case kind::number: return "a number";
            case kind::string: return "a string";
            case kind::array: return "an array";
            case kind::object: return "an object";
        }
        return "?";
    }
    const char* kind_name() const { return kind_name(kind_); }

private:
    friend class json_parser;
    kind kind_ = kind::null;
    bool flag_ = false;
    std::string text_;
    std::vector<json_value> items_;
    std::vector<std::pair<std::string, json_value>> members_;
};

// Parses one JSON value; only whitespace (space, tab, CR, LF) may follow it. `where` starts every error message
// ("'model.safetensors': header").
class json_parser {
public:
    json_parser(std::string_view text, std::string where, json_limits limits = {})
        : s_(text), where_(std::move(where)), limits_(limits) {}

    // Reports failures into *report (the first one; the parse then stops and returns what it has) instead of
    // raising them: for the non-throwing loaders. The messages are the same.
    void report_into(status* report) { report_ = report; }
    bool failed() const { return failed_; }

    json_value parse() {
        check_size();
        if (failed_) return {};
        skip_ws();
        json_value v = value(0);
        if (failed_) return {};
        finish();
        return v;
    }

    // Parses one JSON object without keeping it: on_member(std::string&& key, json_value&& value, std::size_t
    // key_byte) receives each member as soon as it is read, in order, and may throw to stop the parse there. Only
    // the keys are kept, to check after the last member that none repeats. The same limits apply as in parse().
    // With report_into, on_member may stop the parse by returning false (after reporting); it returns void or bool.
    template <class OnMember>
    void parse_members(OnMember&& on_member) {
        check_size();
        if (failed_) return;
        skip_ws();
        if (pos_ >= s_.size() || s_[pos_] != '{') return fail("expected an object, got " + describe_here());
        count_value();
        if (failed_) return;
        if (limits_.max_depth < 1) return fail("nesting deeper than the limit of " + std::to_string(limits_.max_depth));
        std::vector<std::string> keys;
        std::vector<std::size_t> key_bytes;
        members(1, [&](std::string&& key, json_value&& member, std::size_t key_byte) {
            keys.push_back(key);
            key_bytes.push_back(key_byte);
            if constexpr (std::is_same_v<decltype(on_member(std::move(key), std::move(member), key_byte)), bool>) {
                if (!on_member(std::move(key), std::move(member), key_byte)) failed_ = true;
            } else {
                on_member(std::move(key), std::move(member), key_byte);
            }
        });
        if (failed_) return;
        check_unique(keys, key_bytes);
        if (failed_) return;
        finish();
    }

private:
    // Raises io_error, or with report_into records the first failure; the caller returns at once (every caller
    // of a function that can fail checks failed_ after it).
    void fail(const std::string& what) {
        std::string message = "lnfold: " + where_ + ": invalid JSON: " + what + " at byte " + std::to_string(pos_);
        if (report_ == nullptr) raise<io_error>(std::move(message));
        if (!failed_) *report_ = status::of<io_error>(std::move(message));
        failed_ = true;
    }
    void check_size() {
        if (s_.size() > limits_.max_bytes)
            fail("the JSON text has " + std::to_string(s_.size()) + " bytes, more than the limit of " +
                 std::to_string(limits_.max_bytes));
    }
    void finish() {
        skip_ws();
        if (pos_ != s_.size()) fail("unexpected " + describe_here() + " after the JSON value");
    }
    void count_value() {
        if (++values_ > limits_.max_values)
            fail("more values than the limit of " + std::to_string(limits_.max_values));
    }
    std::string describe_here() const {
        if (pos_ >= s_.size()) return "end of text";
        const unsigned char c = static_cast<unsigned char>(s_[pos_]);
        if (c >= 0x20 && c < 0x7f) return std::string("'") + static_cast<char>(c) + "'";
        static const char* hex = "0123456789abcdef";
        return std::string("byte 0x") + hex[c >> 4] + hex[c & 15];
    }
    void skip_ws() {
        while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r')) ++pos_;
    }
    bool literal(std::string_view word) {
        if (s_.substr(pos_, word.size()) == word) {
            pos_ += word.size();
            return true;
        }
        return false;
    }
    json_value value(std::size_t depth) {
        if (pos_ >= s_.size()) return fail("expected a value, got end of text"), json_value{};
        count_value();
        if (failed_) return {};
        json_value v;
        const char c = s_[pos_];
        if (c == '{' || c == '[') {
            if (depth + 1 > limits_.max_depth)
                return fail("nesting deeper than the limit of " + std::to_string(limits_.max_depth)), json_value{};
            if (c == '{') object(v, depth + 1);
            else array(v, depth + 1);
        } else if (c == '"') {
            v.kind_ = json_value::kind::string;
            v.text_ = string();
        } else if (c == '-' || (c >= '0' && c <= '9')) {
            v.kind_ = json_value::kind::number;
            v.text_ = number();
        } else if (literal("true")) {
            v.kind_ = json_value::kind::boolean;
            v.flag_ = true;
        } else if (literal("false")) {
            v.kind_ = json_value::kind::boolean;
        } else if (literal("null")) {
            v.kind_ = json_value::kind::null;
        } else {
            return fail("expected a value, got " + describe_here()), json_value{};
        }
        if (failed_) return {};
        return v;
    }
    void object(json_value& v, std::size_t depth) {
        v.kind_ = json_value::kind::object;
        std::vector<std::size_t> key_bytes;
        members(depth, [&](std::string&& key, json_value&& member, std::size_t key_byte) {
            v.members_.emplace_back(std::move(key), std::move(member));
            key_bytes.push_back(key_byte);
        });
        if (failed_ || v.members_.size() < 2) return;
        std::vector<std::string_view> keys;
        keys.reserve(v.members_.size());
        for (const auto& m : v.members_) keys.push_back(m.first);
        check_unique(keys, key_bytes);
    }
    // The members of the object starting at pos_ ('{'), each handed to add(key, value, key_byte).
    template <class Add>
    void members(std::size_t depth, Add&& add) {
        ++pos_;  // '{'
        skip_ws();
        if (pos_ < s_.size() && s_[pos_] == '}') {
            ++pos_;
            return;
        }
        for (;;) {
            skip_ws();
            if (pos_ >= s_.size() || s_[pos_] != '"') return fail("expected a string key, got " + describe_here());
            const std::size_t key_byte = pos_;
            std::string key = string();
            if (failed_) return;
            skip_ws();
            if (pos_ >= s_.size() || s_[pos_] != ':') return fail("expected ':' after a key, got " + describe_here());
            ++pos_;
            skip_ws();
            json_value member = value(depth);
            if (failed_) return;
            add(std::move(key), std::move(member), key_byte);
            if (failed_) return;
            skip_ws();
            if (pos_ < s_.size() && s_[pos_] == ',') {
                ++pos_;
                continue;
            }
            if (pos_ < s_.size() && s_[pos_] == '}') {
                ++pos_;
                return;
            }
            return fail("expected ',' or '}' in an object, got " + describe_here());
        }
    }
    // Fails at the first repeated key in text order (its second occurrence), found by sorting the keys: n log n
    // whatever the keys are.
    template <class Key>
    void check_unique(const std::vector<Key>& keys, const std::vector<std::size_t>& key_bytes) {
        std::vector<std::size_t> order(keys.size());
        for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
        std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
            const int c = std::string_view(keys[a]).compare(keys[b]);
            return c != 0 ? c < 0 : a < b;
        });
        std::size_t repeat = keys.size();  // the earliest second occurrence
        for (std::size_t i = 1; i < order.size(); ++i)
            if (keys[order[i]] == keys[order[i - 1]]) repeat = std::min(repeat, order[i]);
        if (repeat == keys.size()) return;
        pos_ = key_bytes[repeat];
        fail("duplicate key \"" + printable(keys[repeat]) + "\"");
    }
    void array(json_value& v, std::size_t depth) {
        v.kind_ = json_value::kind::array;
        ++pos_;  // '['
        skip_ws();
        if (pos_ < s_.size() && s_[pos_] == ']') {
            ++pos_;
            return;
        }
        for (;;) {
            skip_ws();
            v.items_.push_back(value(depth));
            if (failed_) return;
            skip_ws();
            if (pos_ < s_.size() && s_[pos_] == ',') {
                ++pos_;
                continue;
            }
            if (pos_ < s_.size() && s_[pos_] == ']') {
                ++pos_;
                return;
            }
            return fail("expected ',' or ']' in an array, got " + describe_here());
        }
    }
    std::string number() {
        const std::size_t start = pos_;
        auto digit = [&] { return pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9'; };
        if (s_[pos_] == '-') ++pos_;
        if (!digit()) return fail("expected a digit in a number, got " + describe_here()), std::string();
        if (s_[pos_] == '0') {
            ++pos_;
            if (digit()) return fail("a number must not have a leading zero"), std::string();
        } else {
            while (digit()) ++pos_;
        }
        if (pos_ < s_.size() && s_[pos_] == '.') {
            ++pos_;
            if (!digit()) return fail("expected a digit after '.', got " + describe_here()), std::string();
            while (digit()) ++pos_;
        }
        if (pos_ < s_.size() && (s_[pos_] == 'e' || s_[pos_] == 'E')) {
            ++pos_;
            if (pos_ < s_.size() && (s_[pos_] == '+' || s_[pos_] == '-')) ++pos_;
            if (!digit()) return fail("expected a digit in an exponent, got " + describe_here()), std::string();
            while (digit()) ++pos_;
        }
        if (pos_ - start > limits_.max_number_chars) {
            pos_ = start;
            return fail("a number longer than the limit of " + std::to_string(limits_.max_number_chars) + " characters"),
                   std::string();
        }
        return std::string(s_.substr(start, pos_ - start));
    }
    unsigned hex4() {
        if (s_.size() - pos_ < 4) {
            pos_ = s_.size();
            return fail("a \\u escape needs 4 hex digits, got end of text"), 0u;
        }
        unsigned v = 0;
        for (int i = 0; i < 4; ++i, ++pos_) {
            const char c = s_[pos_];
            v <<= 4;
            if (c >= '0' && c <= '9') v |= static_cast<unsigned>(c - '0');
            else if (c >= 'a' && c <= 'f') v |= static_cast<unsigned>(c - 'a' + 10);
            else if (c >= 'A' && c <= 'F') v |= static_cast<unsigned>(c - 'A' + 10);
            else return fail("a \\u escape needs 4 hex digits, got " + describe_here()), 0u;
        }
        return v;
    }
    static void put_utf8(std::string& out, unsigned cp) {
        if (cp < 0x80) {
            out += static_cast<char>(cp);
        } else if (cp < 0x800) {
            out += static_cast<char>(0xC0 | (cp >> 6));
            out += static_cast<char>(0x80 | (cp & 0x3F));
        } else if (cp < 0x10000) {
            out += static_cast<char>(0xE0 | (cp >> 12));
            out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
            out += static_cast<char>(0x80 | (cp & 0x3F));
        } else {
            out += static_cast<char>(0xF0 | (cp >> 18));
            out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
            out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
            out += static_cast<char>(0x80 | (cp & 0x3F));
        }
    }
    // One UTF-8 sequence starting at pos_ (a lead byte >= 0x80): validated (no overlongs, surrogates, > U+10FFFF).
    void utf8_sequence(std::string& out) {
        const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(s_[i]); };
        const unsigned char b0 = byte(pos_);
        std::size_t len = 0;
        unsigned cp = 0, min = 0;
        if (b0 >= 0xC2 && b0 <= 0xDF) len = 2, cp = b0 & 0x1F, min = 0x80;
        else if (b0 >= 0xE0 && b0 <= 0xEF) len = 3, cp = b0 & 0x0F, min = 0x800;
        else if (b0 >= 0xF0 && b0 <= 0xF4) len = 4, cp = b0 & 0x07, min = 0x10000;
        else return fail("invalid UTF-8 (" + describe_here() + ")");
        if (s_.size() - pos_ < len) return fail("invalid UTF-8 (a truncated sequence)");
        for (std::size_t i = 1; i < len; ++i) {
            const unsigned char b = byte(pos_ + i);
            if ((b & 0xC0) != 0x80) return fail("invalid UTF-8 (a bad continuation byte)");
            cp = (cp << 6) | (b & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return fail("invalid UTF-8 (overlong, surrogate or out of range)");
        out.append(s_.substr(pos_, len));
        pos_ += len;
    }
    std::string string() {
        ++pos_;  // '"'
        std::string out;
        for (;;) {
            if (pos_ >= s_.size()) return fail("unterminated string"), std::string();
            const unsigned char c = static_cast<unsigned char>(s_[pos_]);
            if (c == '"') {
                ++pos_;
                return out;
            }
            if (c < 0x20) return fail("a control character in a string (" + describe_here() + ")"), std::string();
            if (c >= 0x80) {
                utf8_sequence(out);
                if (failed_) return {};
                continue;
            }
            if (c != '\\') {
                out += static_cast<char>(c);
                ++pos_;
                continue;
            }
            ++pos_;
            if (pos_ >= s_.size()) return fail("unterminated escape"), std::string();
            const char e = s_[pos_++];
            switch (e) {
                case '"': out += '"'; break;
                case '\\': out += '\\'; break;
                case '/': out += '/'; break;
                case 'b': out += '\b'; break;
                case 'f': out += '\f'; break;
                case 'n': out += '\n'; break;
                case 'r': out += '\r'; break;
                case 't': out += '\t'; break;
                case 'u': {
                    unsigned cp = hex4();
                    if (failed_) return {};
                    if (cp >= 0xDC00 && cp <= 0xDFFF) return fail("a lone low surrogate in a \\u escape"),
                           std::string();
                    if (cp >= 0xD800 && cp <= 0xDBFF) {
                        if (!(s_.size() - pos_ >= 2 && s_[pos_] == '\\' && s_[pos_ + 1] == 'u'))
                            return fail("a high surrogate \\u escape without its low surrogate"), std::string();
                        pos_ += 2;
                        const unsigned low = hex4();
                        if (failed_) return {};
                        if (low < 0xDC00 || low > 0xDFFF)
                            return fail("a high surrogate followed by a non-low surrogate"), std::string();
                        cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
                    }
                    put_utf8(out, cp);
                    break;
                }
                default: --pos_; return fail("an invalid escape \\" + describe_here()), std::string();
            }
        }
    }

public:
    // Text safe to put into an error message: printable ASCII kept, everything else as \xNN, cut at 80 bytes.
    static std::string printable(std::string_view text) {
        static const char* hex = "0123456789abcdef";
        std::string out;
        for (std::size_t i = 0; i < text.size(); ++i) {
            if (i == 80) {
                out += "...";
                break;
            }
            const unsigned char c = static_cast<unsigned char>(text[i]);
            if (c >= 0x20 && c < 0x7f && c != '\\') out += static_cast<char>(c);
            else out += std::string("\\x") + hex[c >> 4] + hex[c & 15];
        }
        return out;
    }

private:
    std::string_view s_;
    std::string where_;
    json_limits limits_;
    std::size_t pos_ = 0;
    status* report_ = nullptr;  // report_into: failures go here instead of raising
    bool failed_ = false;
    std::size_t values_ = 0;
};

namespace detail {

// Text from a file (a path, a tensor name) quoted for an error message: 'name', made printable by
// json_parser::printable.
inline std::string quoted(std::string_view text) {
    std::string out(1, '\'');
    out += json_parser::printable(text);
    out += '\'';
    return out;
}

}  // namespace detail

inline json_value parse_json(std::string_view text, std::string where = "JSON", json_limits limits = {}) {
    return json_parser(text, std::move(where), limits).parse();
}

// Appends `text` as a JSON string literal (quotes, escapes for '"', '\\' and control characters).
inline void append_json_string(std::string& out, std::string_view text) {
    static const char* hex = "0123456789abcdef";
    out += '"';
    for (char ch : text) {
        const unsigned char c = static_cast<unsigned char>(ch);
        if (c == '"') out += "\\\"";
        else if (c == '\\') out += "\\\\";
        else if (c < 0x20) out += std::string("\\u00") + hex[c >> 4] + hex[c & 15];
        else out += ch;
    }
    out += '"';
}

}  // namespace lnfold::io
