#pragma once
// A fixed-capacity string for constexpr tables (parameter paths, layer names in reports).
#include <array>
#include <cstddef>
#include <string_view>

namespace lnfold {

struct short_string {
    static constexpr std::size_t capacity = 95;
    std::array<char, capacity + 1> chars{};
    std::size_t size = 0;

    constexpr short_string() = default;
    constexpr short_string(std::string_view text) { append(text); }

    // Appends text; a path that would overflow is cut (paths are far shorter in practice;
    // a static_assert in the lowering rejects it before that can happen).
    constexpr short_string& append(std::string_view text) {
        for (char c : text)
            if (size < capacity) chars[size++] = c;
        chars[size] = '\0';
        return *this;
    }
    constexpr short_string& append_number(std::size_t n) {
        char digits[24]{};
        std::size_t count = 0;
        do {
            digits[count++] = static_cast<char>('0' + n % 10);
            n /= 10;
        } while (n != 0);
        while (count > 0) append(std::string_view(&digits[--count], 1));
        return *this;
    }
    // Joins with a dot: "h" + "0" -> "h.0"; "" + "wte" -> "wte".
    constexpr short_string joined(std::string_view segment) const {
        short_string out = *this;
        if (out.size > 0 && !segment.empty()) out.append(".");
        out.append(segment);
        return out;
    }
    constexpr short_string joined(std::size_t index) const {
        short_string number;
        number.append_number(index);
        return joined(number.view());
    }
    constexpr bool full() const { return size >= capacity; }
    constexpr std::string_view view() const { return {chars.data(), size}; }
    constexpr const char* c_str() const { return chars.data(); }
    friend constexpr bool operator==(const short_string& a, const short_string& b) { return a.view() == b.view(); }
};

}  // namespace lnfold
