// io::atomic_file, the one way lnfold writes files (issue 24): a path holds its old contents or the complete new
// file, never a part; refused paths are refused before anything is created; a write that fails half-way (a full
// disk, simulated with RLIMIT_FSIZE) leaves the old file byte for byte and no temporary behind.
#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <vector>

#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "catch.hpp"
#include "io_error_message.hpp"
#include "scratch_directory.hpp"

#include <lnfold/io/atomic_file.hpp>
#include <lnfold/io/errno_text.hpp>
#include <lnfold/io/safetensors.hpp>

using namespace lnfold;
using Catch::Matchers::Contains;
using lnfold_test::io_error_message;
using lnfold_test::scratch_directory;
namespace fs = std::filesystem;

namespace {

std::string read_bytes(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
}
void write_bytes(const std::string& path, const std::string& bytes) { std::ofstream(path, std::ios::binary) << bytes; }

fs::perms mode_of(const std::string& path) { return fs::status(path).permissions(); }

// The file-size limit lowered to `bytes` for this scope (a write past it fails with EFBIG, as on a full disk).
struct file_size_limit {
    rlimit saved{};
    void (*saved_handler)(int) = nullptr;
    explicit file_size_limit(rlim_t bytes) {
        REQUIRE(::getrlimit(RLIMIT_FSIZE, &saved) == 0);
        saved_handler = std::signal(SIGXFSZ, SIG_IGN);  // the write fails instead of killing the process
        rlimit lowered = saved;
        lowered.rlim_cur = bytes;
        REQUIRE(::setrlimit(RLIMIT_FSIZE, &lowered) == 0);
    }
    ~file_size_limit() {
        ::setrlimit(RLIMIT_FSIZE, &saved);
        std::signal(SIGXFSZ, saved_handler);
    }
};

}  // namespace

TEST_CASE("a new file appears only at commit, complete, with the umask's mode") {
    const scratch_directory dir("lnfold-atomic");
    const std::string path = dir / "new.bin";
    {
        io::atomic_file out(path, "test file");
        out.write(std::string_view("hello, "));
        out.write(std::string_view("world"));
        CHECK_FALSE(fs::exists(path));
        out.finish();
        CHECK(read_bytes(out.temporary_path()) == "hello, world");  // complete and readable before the rename
        CHECK_THAT(out.temporary_path(), Contains("/.new.bin.lnfold-"));
        out.commit();
    }
    CHECK(read_bytes(path) == "hello, world");
    const mode_t mask = ::umask(0);
    ::umask(mask);
    CHECK(static_cast<mode_t>(mode_of(path)) == (0666 & ~mask));
    CHECK(dir.entries() == std::vector<std::string>{"new.bin"});
}

TEST_CASE("an existing file is replaced whole and keeps its permissions; without commit it is untouched") {
    const scratch_directory dir("lnfold-atomic");
    const std::string path = dir / "model.st";
    write_bytes(path, "old contents");
    fs::permissions(path, fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read);
    {
        io::atomic_file out(path, "test file");
        out.write(std::string_view("new"));
        out.finish();
        CHECK(read_bytes(path) == "old contents");
    }  // no commit: abandoned
    CHECK(read_bytes(path) == "old contents");
    CHECK(dir.entries() == std::vector<std::string>{"model.st"});
    {
        io::atomic_file out(path, "test file");
        out.write(std::string_view("new"));
        out.commit();
    }
    CHECK(read_bytes(path) == "new");
    CHECK(mode_of(path) == (fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read));
}

TEST_CASE("a write that fails half-way (a full disk) leaves the old file and no temporary") {
    const scratch_directory dir("lnfold-atomic");
    const std::string path = dir / "log.csv";
    write_bytes(path, "an older log");
    const std::string message = io_error_message([&] {
        io::atomic_file out(path, "log");
        const file_size_limit limit(4096);
        out.write(std::string(10000, 'x'));
        out.commit();
    });
    CHECK_THAT(message, Contains("lnfold: cannot write log '" + path + "': cannot write the temporary file"));
    CHECK_THAT(message, Contains(io::detail::errno_text(EFBIG)));
    CHECK(read_bytes(path) == "an older log");
    CHECK(dir.entries() == std::vector<std::string>{"log.csv"});
}

TEST_CASE("refused before anything is created: empty, directory, device, FIFO, the input by any name") {
    const scratch_directory dir("lnfold-atomic");
    write_bytes(dir / "input.st", "the input");
    fs::create_directory(dir / "folder");
    REQUIRE(::mkfifo((dir / "fifo").c_str(), 0600) == 0);
    fs::create_hard_link(dir / "input.st", dir / "hard.st");
    fs::create_symlink("input.st", dir / "soft.st");
    const auto refusal = [&](const std::string& path) {
        return io_error_message([&] { io::atomic_file out(path, "OUTPUT", {dir / "input.st"}); });
    };
    CHECK_THAT(refusal(""), Contains("cannot write OUTPUT: the output path is empty"));
    CHECK_THAT(refusal(dir / "folder"), Contains("'" + dir / "folder" + "': it is a directory"));
    CHECK_THAT(refusal("/dev/full"), Contains("'/dev/full': it is not a regular file"));
    CHECK_THAT(refusal(dir / "fifo"), Contains("it is not a regular file"));
    CHECK_THAT(refusal(dir / "input.st"), Contains("it is the input '" + dir / "input.st" + "' (the same file)"));
    CHECK_THAT(refusal(dir / "hard.st"), Contains("it is the input") && Contains("through a link"));
    CHECK_THAT(refusal(dir / "soft.st"), Contains("it is the input") && Contains("through a link"));
    CHECK_THAT(refusal(dir / "missing/out.st"),
               Contains("cannot create a temporary file in the directory '" + dir / "missing" + "': " +
                        io::detail::errno_text(ENOENT)));
    CHECK(read_bytes(dir / "input.st") == "the input");
    CHECK(dir.entries() == std::vector<std::string>{"fifo", "folder", "hard.st", "input.st", "soft.st"});
    CHECK(fs::is_empty(dir / "folder"));
}

TEST_CASE("a symbolic link at the output is followed: the link stays, its target is replaced") {
    const scratch_directory dir("lnfold-atomic");
    write_bytes(dir / "target.st", "old");
    fs::create_symlink("target.st", dir / "link.st");
    fs::create_symlink("nowhere.st", dir / "dangling.st");
    {
        io::atomic_file out(dir / "link.st", "test file");
        out.write(std::string_view("new"));
        out.commit();
    }
    CHECK(fs::is_symlink(dir / "link.st"));
    CHECK(read_bytes(dir / "target.st") == "new");
    {
        io::atomic_file out(dir / "dangling.st", "test file");  // a dangling link creates its target
        out.write(std::string_view("made"));
        out.commit();
    }
    CHECK(fs::is_symlink(dir / "dangling.st"));
    CHECK(read_bytes(dir / "nowhere.st") == "made");
}

TEST_CASE("safetensors_writer::write goes through atomic_file") {
    const scratch_directory dir("lnfold-atomic");
    io::safetensors_writer writer;
    const std::vector<float> values{1, 2, 3};
    writer.add("w", std::span<const float>(values), {3});
    CHECK_THAT(io_error_message([&] { writer.write("/dev/full"); }),
               Contains("cannot write safetensors file '/dev/full': it is not a regular file"));
    write_bytes(dir / "model.st", "old");
    CHECK_THAT(io_error_message([&] { writer.write(dir / "model.st", {dir / "model.st"}); }), Contains("it is the input"));
    writer.write(dir / "model.st");
    CHECK(io::safetensors_file::open(dir / "model.st").read<float>("w") == values);
    CHECK(dir.entries() == std::vector<std::string>{"model.st"});
}
