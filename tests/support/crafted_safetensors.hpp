#pragma once
// Safetensors bytes written by hand, for tests of what the reader refuses: any header text, valid or not.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace lnfold_test {

// 8-byte little-endian length + header text + `data` zero bytes.
inline std::vector<std::uint8_t> craft(const std::string& header, std::size_t data = 0) {
    std::vector<std::uint8_t> out(8 + header.size() + data, 0);
    std::uint64_t n = header.size();
    for (int i = 0; i < 8; ++i, n >>= 8) out[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(n & 0xFF);
    std::memcpy(out.data() + 8, header.data(), header.size());
    return out;
}

}  // namespace lnfold_test
