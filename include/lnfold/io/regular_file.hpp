#pragma once
// An open, read-only regular file: what every reader of lnfold (safetensors files, datasets) starts from.
//
// The path is opened first and the descriptor checked after (fstat), so what is checked is what is read: a
// directory, a device, a pipe or a socket is refused with a message saying what it is, and a regular file is
// read as exactly the st_size bytes fstat reported (a file that shrinks or grows meanwhile is an error, not a
// silently short or endless read). It is opened with O_NONBLOCK so that a FIFO given as input cannot block the
// open itself; regular files ignore the flag. Every failure throws lnfold::io_error naming the user's path and,
// when the OS refused, its reason ("No such file or directory"). POSIX (open, fstat, read).
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <new>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "lnfold/core/error.hpp"
#include "lnfold/io/errno_text.hpp"
#include "lnfold/io/json.hpp"

namespace lnfold::io {

namespace detail {

// What a non-regular st_mode is, in words.
inline const char* file_type_name(mode_t mode) {
    if (S_ISDIR(mode)) return "a directory";
    if (S_ISCHR(mode)) return "a character device";
    if (S_ISBLK(mode)) return "a block device";
    if (S_ISFIFO(mode)) return "a pipe (FIFO)";
    if (S_ISSOCK(mode)) return "a socket";
    return "a special file";
}

}  // namespace detail

// Bytes read from a file. A large one lives in a private anonymous mapping: its pages come zeroed from
// the OS as they are first written (no memset of the whole buffer before the read, as a std::vector does) and, on
// Linux, as transparent huge pages where the kernel has them (MADV_HUGEPAGE): reading a 500 MB checkpoint then costs
// a few hundred page faults instead of 130,000. Small ones, or when the mapping fails, are a std::vector.
class byte_buffer {
public:
    byte_buffer() = default;
    explicit byte_buffer(std::vector<std::uint8_t> bytes) : vector_(std::move(bytes)) {
        data_ = vector_.data();
        size_ = vector_.size();
    }
    // size bytes of unspecified content (zero); std::bad_alloc when they cannot be had.
    static byte_buffer allocate(std::size_t size) {
        byte_buffer b;
        if (size >= mapping_threshold) {
            void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            if (p != MAP_FAILED) {
#ifdef MADV_HUGEPAGE
                ::madvise(p, size, MADV_HUGEPAGE);  // advice only: ignored where unsupported
#endif
                b.data_ = static_cast<std::uint8_t*>(p);
                b.size_ = size;
                b.mapped_ = true;
                return b;
            }
        }
        b.vector_.resize(size);
        b.data_ = b.vector_.data();
        b.size_ = size;
        return b;
    }
    // The `size` bytes of the open file `fd` mapped read-only (MAP_PRIVATE: the file is never written through it);
    // an empty buffer when the mapping fails (the caller reads the file instead).
    static byte_buffer map_file(int fd, std::size_t size) {
        byte_buffer b;
        if (size == 0) return b;
        void* p = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) return b;
        b.data_ = static_cast<std::uint8_t*>(p);
        b.size_ = size;
        b.mapped_ = true;
        b.read_only_ = true;
        return b;
    }
    // Whether the bytes are a read-only mapping of a file (map_file): data() must not be written.
    bool read_only() const { return read_only_; }
    byte_buffer(byte_buffer&& other) noexcept { swap(other); }
    byte_buffer& operator=(byte_buffer&& other) noexcept {
        byte_buffer gone(std::move(other));
        swap(gone);
        return *this;
    }
    byte_buffer(const byte_buffer& other) : byte_buffer(std::vector<std::uint8_t>(other.data_, other.data_ + other.size_)) {}
    byte_buffer& operator=(const byte_buffer& other) {
        if (this != &other) *this = byte_buffer(other);
        return *this;
    }
    ~byte_buffer() {
        if (mapped_) ::munmap(data_, size_);
    }

    std::uint8_t* data() { return data_; }
    const std::uint8_t* data() const { return data_; }
    std::size_t size() const { return size_; }
    std::span<const std::uint8_t> span() const { return {data_, size_}; }

private:
    static constexpr std::size_t mapping_threshold = std::size_t{1} << 20;
    void swap(byte_buffer& other) noexcept {
        std::swap(vector_, other.vector_);
        std::swap(data_, other.data_);
        std::swap(size_, other.size_);
        std::swap(mapped_, other.mapped_);
        std::swap(read_only_, other.read_only_);
    }
    std::vector<std::uint8_t> vector_;
    std::uint8_t* data_ = nullptr;
    std::size_t size_ = 0;
    bool mapped_ = false;
    bool read_only_ = false;
};

class regular_file {
public:
    // Opens `path`; `kind` names what the caller expects in messages ("safetensors file"), `hint` is appended to a
    // failed open ("install the Debian package ..."). With a report (the non-throwing readers), the first failure
    // of the file goes there instead of being raised, failed() says so, and the reads return nothing.
    regular_file(const std::string& path, std::string_view kind, std::string_view hint = {}, status* report = nullptr)
        : path_(path), kind_(kind), report_(report) {
        fd_.fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd_.fd < 0) {
            fail("cannot open " + kind_ + " " + detail::quoted(path_) + ": " + detail::errno_text(errno) +
                 (hint.empty() ? "" : " (" + std::string(hint) + ")"));
            return;
        }
        struct stat st {};
        if (::fstat(fd_.fd, &st) != 0) {
            fail_os("cannot inspect", errno);
            return;
        }
        if (!S_ISREG(st.st_mode)) {
            fail(detail::quoted(path_) + " is " + detail::file_type_name(st.st_mode) + ", not a " + kind_ +
                 (S_ISDIR(st.st_mode) ? "" : " (only regular files are read)"));
            return;
        }
        size_ = static_cast<std::uintmax_t>(st.st_size);
    }
    bool failed() const { return failed_; }
    int fd() const { return fd_.fd; }
    // The size fstat reported when the file was opened.
    std::uintmax_t size() const { return size_; }
    // Hands the descriptor over (to gzdopen, which closes it); the destructor then leaves it open.
    int release() { return std::exchange(fd_.fd, -1); }

    // Reads the first out.size() bytes into out (fewer when the file is shorter: the count is returned) from
    // offset 0 without moving the file position.
    std::size_t peek(std::span<std::uint8_t> out) const {
        std::size_t got = 0;
        while (got < out.size()) {
            const ssize_t r = ::pread(fd_.fd, out.data() + got, out.size() - got, static_cast<off_t>(got));
            if (r < 0 && errno == EINTR) continue;
            if (r < 0) return fail_os("cannot read", errno), got;
            if (r == 0) break;
            got += static_cast<std::size_t>(r);
        }
        return got;
    }

    // The whole file: exactly size() bytes (call it once: it reads from the file position, which peek leaves at 0).
    std::vector<std::uint8_t> read_all() const {
        std::vector<std::uint8_t> bytes;
        if (failed_) return bytes;
        const std::size_t size = checked_size();
        if (failed_) return bytes;
        LNFOLD_TRY {
            bytes.resize(size);
        } LNFOLD_CATCH(const std::bad_alloc&) {
            fail_size();
            return bytes;
        }
        read_exactly(bytes.data(), bytes.size());
        if (failed_) bytes.clear();
        return bytes;
    }
    // The whole file mapped read-only (byte_buffer::map_file): its pages are read from the file as they are touched
    // and shared with the page cache; where the file cannot be mapped, it is read (read_all_buffer).
    byte_buffer map_all() const {
        if (failed_) return {};
        const std::size_t size = checked_size();
        if (failed_) return {};
        byte_buffer mapped = byte_buffer::map_file(fd_.fd, size);
        return mapped.size() > 0 || size == 0 ? std::move(mapped) : read_all_buffer();
    }
    // The same into a byte_buffer: no zeroing pass, huge pages where there are (what safetensors_file::open reads).
    byte_buffer read_all_buffer() const {
        byte_buffer bytes;
        if (failed_) return bytes;
        const std::size_t size = checked_size();
        if (failed_) return bytes;
        LNFOLD_TRY {
            bytes = byte_buffer::allocate(size);
        } LNFOLD_CATCH(const std::bad_alloc&) {
            fail_size();
            return bytes;
        }
        read_exactly(bytes.data(), bytes.size());
        if (failed_) return {};
        return bytes;
    }

private:
    std::size_t checked_size() const {
        if (size_ > std::numeric_limits<std::size_t>::max() || size_ > std::vector<std::uint8_t>().max_size())
            return fail_size(), 0;
        return static_cast<std::size_t>(size_);
    }
    void fail_size() const {
        fail("cannot read " + kind_ + " " + detail::quoted(path_) + ": its " + std::to_string(size_) +
             " bytes do not fit in memory");
    }
    // Reads exactly size bytes into out, then checks that the file has no more.
    void read_exactly(std::uint8_t* out, std::size_t size) const {
        std::size_t got = 0;
        while (got < size) {
            // read() moves at most about 2 GB at once on Linux; ask for at most 1 GB per call.
            const std::size_t want = std::min<std::size_t>(size - got, std::size_t{1} << 30);
            const ssize_t r = ::read(fd_.fd, out + got, want);
            if (r < 0 && errno == EINTR) continue;
            if (r < 0) return fail_os("cannot read", errno);
            if (r == 0)
                return fail("cannot read " + kind_ + " " + detail::quoted(path_) + ": it had " + std::to_string(size_) +
                            " bytes when opened but ended after " + std::to_string(got) + " (it changed while being read)");
            got += static_cast<std::size_t>(r);
        }
        unsigned char extra = 0;
        ssize_t r = 0;
        do {
            r = ::read(fd_.fd, &extra, 1);
        } while (r < 0 && errno == EINTR);
        if (r < 0) return fail_os("cannot read", errno);
        if (r > 0)
            fail("cannot read " + kind_ + " " + detail::quoted(path_) + ": it had " + std::to_string(size_) +
                 " bytes when opened and grew while being read");
    }
    // Raises io_error, or with a report records the first failure (the caller returns at once).
    void fail(const std::string& what) const {
        if (report_ == nullptr) raise<io_error>("lnfold: " + what);
        if (!failed_) *report_ = status::of<io_error>("lnfold: " + what);
        failed_ = true;
    }
    void fail_os(const char* action, int error) const {
        fail(std::string(action) + " " + kind_ + " " + detail::quoted(path_) + ": " + detail::errno_text(error));
    }

    // Closes the descriptor when the file is destroyed, also when the constructor throws after opening it.
    struct descriptor {
        int fd = -1;
        descriptor() = default;
        descriptor(const descriptor&) = delete;
        descriptor& operator=(const descriptor&) = delete;
        ~descriptor() {
            if (fd >= 0) ::close(fd);
        }
    };

    std::string path_, kind_;
    status* report_ = nullptr;
    mutable bool failed_ = false;
    descriptor fd_;
    std::uintmax_t size_ = 0;
};

// The whole regular file at `path` (see regular_file for what is refused and how messages read).
inline std::vector<std::uint8_t> read_regular_file(const std::string& path, std::string_view kind,
                                                   std::string_view hint = {}) {
    return regular_file(path, kind, hint).read_all();
}

}  // namespace lnfold::io
