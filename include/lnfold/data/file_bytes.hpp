#pragma once
// Reads a whole file into memory, decompressing gzip (.gz) transparently when lnfold is built with zlib.
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "lnfold/core/error.hpp"

#if LNFOLD_HAS_ZLIB
#include <zlib.h>
#endif

namespace lnfold::data {

// `hint` is appended to "cannot open" errors (for example which Debian package provides the file).
inline std::vector<std::uint8_t> read_file_bytes(const std::string& path, const std::string& hint = "") {
    std::FILE* f = std::fopen(path.c_str(), "rb");
    if (!f) throw io_error("lnfold: cannot open '" + path + "'" + (hint.empty() ? "" : " (" + hint + ")"));
    unsigned char magic[2] = {0, 0};
    const std::size_t got = std::fread(magic, 1, 2, f);
    std::fclose(f);
    const bool gzip = got == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
    std::vector<std::uint8_t> bytes;
    if (gzip) {
#if LNFOLD_HAS_ZLIB
        gzFile gz = gzopen(path.c_str(), "rb");
        if (!gz) throw io_error("lnfold: cannot open '" + path + "' as gzip");
        unsigned char buffer[1 << 16];
        int n = 0;
        while ((n = gzread(gz, buffer, sizeof buffer)) > 0) bytes.insert(bytes.end(), buffer, buffer + n);
        int code = Z_OK;
        const char* message = gzerror(gz, &code);
        const bool failed = n < 0 || (code != Z_OK && code != Z_STREAM_END);
        gzclose(gz);
        if (failed)
            throw io_error("lnfold: '" + path + "' is not a valid gzip file (truncated or corrupt): " + message);
#else
        throw io_error("lnfold: '" + path + "' is gzip-compressed, but lnfold was built without zlib: install "
                       "zlib1g-dev and rebuild, or gunzip the file first");
#endif
    } else {
        f = std::fopen(path.c_str(), "rb");
        if (!f) throw io_error("lnfold: cannot open '" + path + "'");
        unsigned char buffer[1 << 16];
        std::size_t n = 0;
        while ((n = std::fread(buffer, 1, sizeof buffer, f)) > 0) bytes.insert(bytes.end(), buffer, buffer + n);
        std::fclose(f);
    }
    return bytes;
}

}  // namespace lnfold::data
