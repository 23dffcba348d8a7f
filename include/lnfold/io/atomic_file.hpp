#pragma once
// atomic_file: writes a file so that `path` holds either its old contents or the complete new file, never a part,
// and so that a failure at any step leaves `path` (and everything else) untouched.
//
//   io::atomic_file out(path, "safetensors file", {input});  // checks path, creates a temporary beside it
//   out.write(bytes);                                          // as often as needed
//   out.finish();     // optional: flush, fsync, read back and compare; the temporary is then complete and readable
//   out.commit();     // finish() if not done, rename the temporary over path, fsync the directory
//   // destroyed without commit(): the temporary is removed, path was never touched
//
// The guarantees (POSIX):
//   - the temporary is a new file with a random name in path's directory ("<dir>/.<name>.lnfold-XXXXXXXXXXXX"),
//     created with O_CREAT | O_EXCL | O_NOFOLLOW: it never replaces or follows anything that exists;
//   - path is checked before any work: an empty name, a directory, a device, FIFO or socket, and any of `inputs`
//     (by device and inode, so also through a symbolic or hard link) are refused with an io_error;
//   - a symbolic link at path is followed: its target is written (atomically) and the link stays a link;
//   - an existing file keeps its permission bits; when it belongs to another user or group and the temporary cannot
//     be given the same owner, the write is refused with the reason (a new file gets 0666 minus the umask);
//   - every error message carries the OS reason (errno's text) and the user's path, never only the temporary's.
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <cstdio>
#include <filesystem>
#include <initializer_list>
#include <random>
#include <span>
#include <string>
#include <string_view>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lnfold/core/error.hpp"
#include "lnfold/io/errno_text.hpp"

namespace lnfold::io {

namespace detail {

// path with its symbolic links followed to the final name (which need not exist yet); at most 40 links.
inline std::filesystem::path follow_links(const std::filesystem::path& path, std::string_view what) {
    namespace fs = std::filesystem;
    fs::path target = path;
    for (int hops = 0; hops < 40; ++hops) {
        struct stat st {};
        if (::lstat(target.c_str(), &st) != 0 || !S_ISLNK(st.st_mode)) return target;
        std::error_code ec;
        const fs::path link = fs::read_symlink(target, ec);
        if (ec)
            raise<io_error>("lnfold: cannot write " + std::string(what) + " '" + path.string() +
                           "': cannot read the symbolic link '" + target.string() + "': " + ec.message());
        target = link.is_absolute() ? link : target.parent_path() / link;
    }
    raise<io_error>("lnfold: cannot write " + std::string(what) + " '" + path.string() +
                   "': too many levels of symbolic links");
}

// 64-bit FNV-1a-style mixing of 8-byte words over 8 lanes (word k goes to lane k mod 8): position-dependent and
// independent of how the bytes were split into writes (a partial word waits for the next write), so what was
// written can be compared with what is read back. A word at a time and 8 independent lanes: several GB/s (byte by
// byte it was about 1 GB/s, a second for a GPT-2 checkpoint written and read back).
class content_hash {
public:
    void add(const std::uint8_t* bytes, std::size_t n) {
        while (n > 0 && (offset_ & 7) != 0) {  // complete a pending word
            pending_[offset_ & 7] = *bytes++;
            --n;
            if ((++offset_ & 7) == 0) word(pending_);
        }
        while (n >= 8 && (words_ & 7) != 0) {
            word(bytes);
            bytes += 8, n -= 8, offset_ += 8;
        }
        for (; n >= 64; bytes += 64, n -= 64, offset_ += 64, words_ += 8)
            for (std::size_t k = 0; k < 8; ++k) {
                std::uint64_t w;
                std::memcpy(&w, bytes + 8 * k, 8);
                lanes_[k] = (lanes_[k] ^ w) * 0x100000001b3ull;
            }
        for (; n >= 8; bytes += 8, n -= 8, offset_ += 8) word(bytes);
        while (n > 0) {
            pending_[offset_ & 7] = *bytes++;
            --n;
            ++offset_;
        }
    }
    std::uint64_t size() const { return offset_; }
    bool operator==(const content_hash& other) const {
        return offset_ == other.offset_ && std::memcmp(lanes_, other.lanes_, sizeof lanes_) == 0 &&
               std::memcmp(pending_, other.pending_, offset_ & 7) == 0;
    }

private:
    void word(const std::uint8_t* bytes) {
        std::uint64_t w;
        std::memcpy(&w, bytes, 8);
        std::uint64_t& lane = lanes_[words_++ & 7];
        lane = (lane ^ w) * 0x100000001b3ull;
    }
    std::uint64_t lanes_[8] = {0xcbf29ce484222325ull, 0xcbf29ce484222325ull, 0xcbf29ce484222325ull,
                               0xcbf29ce484222325ull, 0xcbf29ce484222325ull, 0xcbf29ce484222325ull,
                               0xcbf29ce484222325ull, 0xcbf29ce484222325ull};
    std::uint8_t pending_[8] = {};
    std::uint64_t offset_ = 0, words_ = 0;
};

}  // namespace detail

class atomic_file {
public:
    // what: the kind of file, for messages ("safetensors file", "log"). inputs: files this output must not be.
    atomic_file(const std::string& path, std::string_view what, std::initializer_list<std::string> inputs = {})
        : path_(path), what_(what) {
        if (path.empty()) raise<io_error>("lnfold: cannot write " + what_ + ": the output path is empty");
        target_ = detail::follow_links(path, what_);
        directory_ = target_.has_parent_path() ? target_.parent_path().string() : std::string(".");
        struct stat existing {};
        const bool exists = ::stat(target_.c_str(), &existing) == 0;
        if (!exists && errno != ENOENT) fail_os("cannot check it", path_);
        if (exists) {
            if (S_ISDIR(existing.st_mode)) fail_plain("it is a directory");
            if (!S_ISREG(existing.st_mode)) fail_plain("it is not a regular file (a device, FIFO or socket)");
            for (const std::string& input : inputs) {
                struct stat in {};
                if (::stat(input.c_str(), &in) == 0 && in.st_dev == existing.st_dev && in.st_ino == existing.st_ino)
                    fail_plain("it is the input '" + input + "' (the same file" +
                               (input == path ? std::string() : ", through a link") + ")");
            }
        }
        create_temporary();
        if (exists) keep_mode_and_owner(existing);
    }
    atomic_file(const atomic_file&) = delete;
    atomic_file& operator=(const atomic_file&) = delete;
    ~atomic_file() {
        if (fd_ >= 0) ::close(fd_);
        if (!committed_ && !temporary_.empty()) ::unlink(temporary_.c_str());
    }

    void write(std::span<const std::uint8_t> bytes) {
        if (finished_) raise<io_error>("lnfold: cannot write " + what_ + " '" + path_ + "': already finished");
        const std::uint8_t* p = bytes.data();
        std::size_t left = bytes.size();
        while (left > 0) {
            const ::ssize_t n = ::write(fd_, p, left);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) fail_os("cannot write the temporary file", temporary_, n < 0 ? errno : EIO);
            written_.add(p, static_cast<std::size_t>(n));
            p += n;
            left -= static_cast<std::size_t>(n);
        }
    }
    void write(std::string_view text) {
        write(std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(text.data()), text.size()));
    }

    // Flushes the temporary to the disk and reads it back: its size and contents must be what was written.
    void finish() {
        if (finished_) return;
        if (::fsync(fd_) != 0) fail_os("cannot flush to disk the temporary file", temporary_);
        verify_contents();
        const int fd = fd_;
        fd_ = -1;
        if (::close(fd) != 0) fail_os("cannot close the temporary file", temporary_);
        finished_ = true;
    }

    // Puts the finished file in place: rename(2) over the output, then fsync of the directory.
    void commit() {
        finish();
        if (::rename(temporary_.c_str(), target_.c_str()) != 0)
            fail_os("cannot rename over it the temporary file", temporary_);
        committed_ = true;
        const int dir = ::open(directory_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dir >= 0) {  // best effort: the file is in place; some file systems cannot sync a directory
            ::fsync(dir);
            ::close(dir);
        }
    }

    const std::string& path() const { return path_; }                 // as the caller named it
    const std::string& temporary_path() const { return temporary_; }  // complete after finish()

private:
    [[noreturn]] void fail_plain(const std::string& reason) const {
        raise<io_error>("lnfold: cannot write " + what_ + " '" + path_ + "': " + reason);
    }
    // After a failed system call on `file`: errno (or `code`) is read before any message is built.
    [[noreturn]] void fail_os(const char* step, const std::string& file, int code = 0) const {
        if (code == 0) code = errno;
        fail_plain(std::string(step) + " '" + file + "': " + detail::errno_text(code));
    }

    // "<dir>/.<name>.lnfold-<12 random hex digits>", created exclusively; a name that exists is drawn again.
    void create_temporary() {
        std::string name = target_.filename().string();
        if (name.size() > 200) name.resize(200);  // NAME_MAX is 255 on Linux file systems
        std::random_device device;
        std::mt19937_64 draw((static_cast<std::uint64_t>(device()) << 32) ^ device() ^ static_cast<std::uint64_t>(::getpid()));
        for (int attempt = 0; attempt < 100; ++attempt) {
            char suffix[16];
            std::snprintf(suffix, sizeof suffix, "%012llx", static_cast<unsigned long long>(draw() & 0xffffffffffffull));
            const std::string candidate = (std::filesystem::path(directory_) / ("." + name + ".lnfold-" + suffix)).string();
            fd_ = ::open(candidate.c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
            if (fd_ >= 0) {
                temporary_ = candidate;
                return;
            }
            if (errno != EEXIST)
                fail_os("cannot create a temporary file in the directory", directory_);
        }
        fail_plain("100 temporary names in '" + directory_ + "' were all taken");
    }

    void keep_mode_and_owner(const struct stat& existing) {
        struct stat mine {};
        if (::fstat(fd_, &mine) != 0) fail_os("cannot check the temporary file", temporary_);
        if ((mine.st_uid != existing.st_uid || mine.st_gid != existing.st_gid) &&
            ::fchown(fd_, existing.st_uid, existing.st_gid) != 0) {
            const int code = errno;
            fail_plain("it belongs to user " + std::to_string(existing.st_uid) + ", group " +
                       std::to_string(existing.st_gid) + ", and the new file cannot keep that owner (" +
                       detail::errno_text(code) + "): remove it first or write elsewhere");
        }
        if (::fchmod(fd_, existing.st_mode & 07777) != 0)
            fail_os("cannot give the existing file's permissions to the temporary file", temporary_);
    }

    void verify_contents() {
        struct stat st {};
        if (::fstat(fd_, &st) != 0) fail_os("cannot check the temporary file", temporary_);
        if (static_cast<std::uint64_t>(st.st_size) != written_.size())
            fail_plain("the temporary file '" + temporary_ + "' holds " + std::to_string(st.st_size) + " bytes, " +
                       std::to_string(written_.size()) + " were written");
        detail::content_hash read_back;
        std::uint8_t buffer[1 << 16];
        while (read_back.size() < written_.size()) {
            const ::ssize_t n = ::pread(fd_, buffer, sizeof buffer, static_cast<::off_t>(read_back.size()));
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) fail_os("cannot read back the temporary file", temporary_, n < 0 ? errno : EIO);
            read_back.add(buffer, static_cast<std::size_t>(n));
        }
        if (!(read_back == written_))
            fail_plain("the temporary file '" + temporary_ + "' reads back different from what was written");
    }

    std::string path_, what_, directory_, temporary_;
    std::filesystem::path target_;
    int fd_ = -1;
    detail::content_hash written_;
    bool finished_ = false, committed_ = false;
};

}  // namespace lnfold::io
