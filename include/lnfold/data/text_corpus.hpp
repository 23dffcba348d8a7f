#pragma once
// A character-level text corpus: the English fortunes of Debian's `fortunes` package (about 2.8 MB under
// /usr/share/games/fortunes), or any text file. Tokens are bytes (vocabulary 256) or a compact vocabulary of
// the characters that occur.
#include <algorithm>
#include <array>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include "lnfold/core/error.hpp"
#include "lnfold/data/file_bytes.hpp"

namespace lnfold::data {

inline constexpr const char* fortunes_default_dir = "/usr/share/games/fortunes";

struct text_corpus {
    std::string text;
    std::vector<char> vocabulary;                 // id -> character, sorted
    std::array<std::int32_t, 256> ids{};          // character -> id (-1 when absent)

    std::size_t vocab_size() const { return vocabulary.size(); }
    std::vector<std::int32_t> encode(std::string_view s) const {
        std::vector<std::int32_t> out;
        out.reserve(s.size());
        for (const char ch : s) {
            const auto c = static_cast<unsigned char>(ch);
            if (ids[c] < 0) raise<index_error>("lnfold: text_corpus::encode: character " + std::to_string(int(c)) + " is not in the vocabulary");
            out.push_back(ids[c]);
        }
        return out;
    }
    std::string decode(std::span<const std::int32_t> tokens) const {
        std::string out;
        for (std::int32_t t : tokens) out += vocabulary.at(static_cast<std::size_t>(t));
        return out;
    }
};

inline text_corpus make_corpus(std::string text) {
    text_corpus c;
    c.text = std::move(text);
    std::array<bool, 256> seen{};
    for (const char ch : c.text) seen[static_cast<unsigned char>(ch)] = true;
    c.ids.fill(-1);
    for (int ch = 0; ch < 256; ++ch)
        if (seen[static_cast<std::size_t>(ch)]) {
            c.ids[static_cast<std::size_t>(ch)] = static_cast<std::int32_t>(c.vocabulary.size());
            c.vocabulary.push_back(static_cast<char>(ch));
        }
    return c;
}

// The fortune files of `dir` (skipping the .dat indexes, the .u8 links and sub-directories), in name order,
// with the "%" separator lines removed.
inline text_corpus load_fortunes(const std::string& dir = fortunes_default_dir) {
    namespace fs = std::filesystem;
    std::error_code ec;
    const fs::file_status status = fs::status(dir, ec);
    if (!fs::is_directory(status))
        raise<io_error>("lnfold: load_fortunes: '" + dir + "' is not a directory" + (ec ? ": " + ec.message() : "") +
                       " (install the Debian package fortunes)");
    std::vector<fs::path> files;
    fs::directory_iterator entries(dir, ec);
    for (; !ec && entries != fs::directory_iterator(); entries.increment(ec)) {
        const fs::directory_entry& entry = *entries;
        const fs::path& p = entry.path();
        std::error_code type;  // an entry whose type cannot be read is skipped like any other non-file
        if (!entry.is_regular_file(type) || entry.is_symlink(type) || p.has_extension()) continue;
        files.push_back(p);
    }
    if (ec) raise<io_error>("lnfold: load_fortunes: cannot list '" + dir + "': " + ec.message());
    std::sort(files.begin(), files.end());
    if (files.empty())
        raise<io_error>("lnfold: load_fortunes: no fortune files in '" + dir + "' (install the Debian package fortunes)");
    std::string text;
    for (const auto& p : files) {
        const auto bytes = read_file_bytes(p.string());
        std::string line;
        for (std::uint8_t b : bytes) {
            line += static_cast<char>(b);
            if (b != '\n') continue;
            if (line != "%\n") text += line;
            line.clear();
        }
        if (!line.empty() && line != "%") text += line;
    }
    return make_corpus(std::move(text));
}

inline text_corpus load_text_file(const std::string& path) {
    const auto bytes = read_file_bytes(path);
    return make_corpus(std::string(bytes.begin(), bytes.end()));
}

}  // namespace lnfold::data
