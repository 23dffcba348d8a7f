#pragma once
// Reads a whole file into memory, decompressing gzip (.gz) transparently when lnfold is built with zlib.
// The file must be a regular file (io::regular_file: a directory or device is refused by name, and every failed
// open or read carries the OS's reason and the path).
#include <cstdint>
#include <new>
#include <string>
#include <vector>

#include "lnfold/core/error.hpp"
#include "lnfold/io/json.hpp"
#include "lnfold/io/regular_file.hpp"

#if LNFOLD_HAS_ZLIB
#include <zlib.h>
#endif

namespace lnfold::data {

// `hint` is appended to "cannot open" errors (for example which Debian package provides the file).
inline std::vector<std::uint8_t> read_file_bytes(const std::string& path, const std::string& hint = "") {
    io::regular_file file(path, "file", hint);
    std::uint8_t magic[2] = {0, 0};
    const bool gzip = file.peek(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
    if (!gzip) return file.read_all();
#if LNFOLD_HAS_ZLIB
    // zlib reads the descriptor already checked to be a regular file (gzclose closes it).
    gzFile gz = gzdopen(file.fd(), "rb");
    if (!gz) raise<io_error>("lnfold: cannot open " + io::detail::quoted(path) + " as gzip: out of memory");
    file.release();
    std::vector<std::uint8_t> bytes;
    unsigned char buffer[1 << 16];
    int n = 0;
    LNFOLD_TRY {
        while ((n = gzread(gz, buffer, sizeof buffer)) > 0) bytes.insert(bytes.end(), buffer, buffer + n);
    } LNFOLD_CATCH(const std::bad_alloc&) {
        const std::size_t held = bytes.size();
        gzclose(gz);
        raise<io_error>("lnfold: " + io::detail::quoted(path) + " decompresses to more than " + std::to_string(held) +
                       " bytes, which do not fit in memory");
    }
    int code = Z_OK;
    const std::string message = gzerror(gz, &code);
    const bool failed = n < 0 || (code != Z_OK && code != Z_STREAM_END);
    gzclose(gz);
    if (failed)
        raise<io_error>("lnfold: " + io::detail::quoted(path) + " is not a valid gzip file (truncated or corrupt): " +
                       message);
    return bytes;
#else
    raise<io_error>("lnfold: " + io::detail::quoted(path) + " is gzip-compressed, but lnfold was built without zlib: "
                   "install zlib1g-dev and rebuild, or gunzip the file first");
#endif
}

}  // namespace lnfold::data
