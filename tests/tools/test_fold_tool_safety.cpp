// lnfold-fold run as a careless or hostile user would (issue 24): nothing it reads or finds at the output path is
// lost or followed, a broken checkpoint never passes its verification, and the output location is checked before
// any work. Every case runs the real binary in a fresh temporary directory, on files this test generates from the
// parity fixtures; files that must survive are compared byte for byte afterwards.
#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "catch.hpp"
#include "scratch_directory.hpp"

#include <lnfold/io/safetensors.hpp>

using namespace lnfold;
using lnfold_test::scratch_directory;
using Catch::Matchers::Contains;
namespace fs = std::filesystem;

namespace {

const fs::path fixtures = LNFOLD_PARITY_FIXTURES;

std::string read_bytes(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
}
void write_bytes(const fs::path& path, const std::string& bytes) {
    std::ofstream(path, std::ios::binary) << bytes;
    REQUIRE(read_bytes(path) == bytes);
}

std::string shell_quoted(const std::string& text) {
    std::string q = "'";
    for (char c : text) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return q + "'";
}

struct tool_run {
    int status = -1;     // the exit status, -1 when killed (e.g. by the 60 s timeout: a hang)
    std::string output;  // stdout and stderr
};

// lnfold-fold ARGS, run in `directory`, with a time limit.
tool_run run_tool(const fs::path& directory, const std::vector<std::string>& args) {
    // appends, not "literal" + std::string: GCC 12 warns falsely (-Wrestrict) about the latter
    std::string command = "cd ";
    command.append(shell_quoted(directory.string())).append(" && timeout 60 ").append(shell_quoted(LNFOLD_FOLD_TOOL));
    for (const std::string& a : args) command.append(" ").append(shell_quoted(a));
    command.append(" 2>&1");
    tool_run r;
    std::FILE* pipe = ::popen(command.c_str(), "r");
    REQUIRE(pipe != nullptr);
    char buffer[4096];
    std::size_t n = 0;
    while ((n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) r.output.append(buffer, n);
    const int status = ::pclose(pipe);
    if (WIFEXITED(status) && WEXITSTATUS(status) != 124) r.status = WEXITSTATUS(status);
    UNSCOPED_INFO("lnfold-fold output:\n" << r.output);
    return r;
}

// The fixture `source` written again with f32 tensor `name` changed by `edit` (values in place).
void write_edited(const fs::path& source, const fs::path& target, const std::string& name,
                  const std::function<void(std::vector<float>&)>& edit) {
    const io::safetensors_file file = io::safetensors_file::open(source.string());
    io::safetensors_writer writer;
    for (const auto& [key, value] : file.metadata()) writer.add_metadata(key, value);
    bool found = false;
    for (const io::tensor_info& t : file.tensors()) {
        const auto bytes = file.bytes_of(t);
        if (t.name != name) {
            writer.add_raw(t.name, t.type, t.shape, bytes);
            continue;
        }
        REQUIRE(t.type == io::dtype::F32);
        std::vector<float> values(bytes.size() / 4);
        std::memcpy(values.data(), bytes.data(), bytes.size());
        edit(values);
        writer.add(t.name, std::span<const float>(values), t.shape);
        found = true;
    }
    REQUIRE(found);
    write_bytes(target, [&] {
        const auto out = writer.bytes();
        return std::string(out.begin(), out.end());
    }());
}

const std::string gpt2_bytes = read_bytes(fixtures / "gpt2.safetensors");

}  // namespace

TEST_CASE("1: the temporary never replaces a file: not the input, not an existing name, not with an empty output") {
    const scratch_directory dir("lnfold-fold-safety");
    // The input itself carries the name the old writer used as its temporary ("OUTPUT.tmp").
    write_bytes(dir / "model.st.tmp", gpt2_bytes);
    const tool_run folded = run_tool(dir.path(), {"--heads", "4", "model.st.tmp", "model.st"});
    CHECK(folded.status == 0);
    CHECK(read_bytes(dir / "model.st.tmp") == gpt2_bytes);
    CHECK(io::safetensors_file::open(dir / "model.st").header().metadata_value("lnfold.eps") == "1e-05");

    // An unrelated file at "out.st.tmp" stays as it was.
    write_bytes(dir / "out.st.tmp", "precious");
    CHECK(run_tool(dir.path(), {"--heads", "4", "model.st.tmp", "out.st"}).status == 0);
    CHECK(read_bytes(dir / "out.st.tmp") == "precious");
    CHECK(dir.entries() == std::vector<std::string>{"model.st", "model.st.tmp", "out.st", "out.st.tmp"});

    // An empty output name is refused; "./.tmp" stays.
    write_bytes(dir / ".tmp", "keep");
    const tool_run empty = run_tool(dir.path(), {"--heads", "4", "model.st.tmp", ""});
    CHECK(empty.status == 2);
    CHECK_THAT(empty.output, Contains("the output path is empty"));
    CHECK(read_bytes(dir / ".tmp") == "keep");
}

TEST_CASE("2: a symbolic link at the old temporary name is not followed") {
    const scratch_directory dir("lnfold-fold-safety");
    write_bytes(dir / "in.st", gpt2_bytes);
    write_bytes(dir / "victim.txt", "do not overwrite");
    fs::create_symlink("victim.txt", dir / "out.st.tmp");
    CHECK(run_tool(dir.path(), {"--heads", "4", "in.st", "out.st"}).status == 0);
    CHECK(read_bytes(dir / "victim.txt") == "do not overwrite");
    CHECK(fs::is_symlink(dir / "out.st.tmp"));
    CHECK(fs::is_regular_file(fs::symlink_status(dir / "out.st")));
}

TEST_CASE("3: a ViT position table of (1, 2^64-1, 0) is refused at once, not searched for a grid") {
    const scratch_directory dir("lnfold-fold-safety");
    io::safetensors_writer writer;  // 224 bytes: a 1 x 1 x 1 x 1 projection and an empty, huge-shaped table
    const float one = 1;
    writer.add("embeddings.patch_embeddings.projection.weight", std::span<const float>(&one, 1), {1, 1, 1, 1});
    writer.add_raw("embeddings.position_embeddings", io::dtype::F32,
                   {1, std::numeric_limits<std::size_t>::max(), 0}, {});
    const auto bytes = writer.bytes();
    write_bytes(dir / "vit.st", std::string(bytes.begin(), bytes.end()));
    const tool_run r = run_tool(dir.path(), {"vit.st", "out.st"});
    CHECK(r.status == 2);  // -1 would be the time limit: the hang
    CHECK_THAT(r.output, Contains("position_embeddings"));
    CHECK_FALSE(fs::exists(dir / "out.st"));
}

TEST_CASE("4: non-finite or overflowing weights never pass the verification") {
    const scratch_directory dir("lnfold-fold-safety");
    const fs::path source = fixtures / "gpt2.safetensors";
    SECTION("one NaN in ln_f.weight") {
        write_edited(source, dir / "bad.st", "ln_f.weight", [](std::vector<float>& v) { v[3] = std::nanf(""); });
        const tool_run r = run_tool(dir.path(), {"--heads", "4", "bad.st", "out.st"});
        CHECK(r.status != 0);
        CHECK_THAT(r.output, Contains("ln_f.weight"));
        CHECK_THAT(r.output, !Contains(": ok"));
    }
    SECTION("one infinity in wte") {
        write_edited(source, dir / "bad.st", "wte.weight",
                     [](std::vector<float>& v) { v[7] = std::numeric_limits<float>::infinity(); });
        const tool_run r = run_tool(dir.path(), {"--heads", "4", "bad.st", "out.st"});
        CHECK(r.status != 0);
        CHECK_THAT(r.output, Contains("wte.weight"));
        CHECK_THAT(r.output, !Contains(": ok"));
    }
    SECTION("every wte value 3e38: finite weights whose model overflows") {
        write_edited(source, dir / "bad.st", "wte.weight", [](std::vector<float>& v) { std::fill(v.begin(), v.end(), 3e38f); });
        const tool_run r = run_tool(dir.path(), {"--heads", "4", "bad.st", "out.st"});
        CHECK(r.status == 1);
        CHECK_THAT(r.output, Contains("FAILED"));
        CHECK_THAT(r.output, !Contains(": ok"));
    }
    CHECK_FALSE(fs::exists(dir / "out.st"));
    CHECK(dir.entries() == std::vector<std::string>{"bad.st"});
}

TEST_CASE("6: the output is replaced only once verified, keeps its mode, and is never a device or a link's victim") {
    const scratch_directory dir("lnfold-fold-safety");
    write_bytes(dir / "in.st", gpt2_bytes);
    SECTION("a failed verification leaves the existing output as it was") {
        write_bytes(dir / "out.st", "the good output of an earlier run");
        const tool_run r = run_tool(dir.path(), {"--heads", "4", "--tolerance", "1e-30", "in.st", "out.st"});
        CHECK(r.status == 1);
        CHECK_THAT(r.output, Contains("FAILED"));
        CHECK_THAT(r.output, Contains("nothing written"));
        CHECK(read_bytes(dir / "out.st") == "the good output of an earlier run");
        CHECK(dir.entries() == std::vector<std::string>{"in.st", "out.st"});
    }
    SECTION("an existing output keeps its permissions") {
        write_bytes(dir / "out.st", "old");
        fs::permissions(dir / "out.st", fs::perms::owner_read | fs::perms::owner_write);
        CHECK(run_tool(dir.path(), {"--heads", "4", "in.st", "out.st"}).status == 0);
        CHECK(fs::status(dir / "out.st").permissions() == (fs::perms::owner_read | fs::perms::owner_write));
        CHECK(read_bytes(dir / "out.st") != "old");
    }
    SECTION("a symbolic link at the output stays a link; its target gets the folded file") {
        write_bytes(dir / "real.st", "old");
        fs::create_symlink("real.st", dir / "link.st");
        CHECK(run_tool(dir.path(), {"--heads", "4", "in.st", "link.st"}).status == 0);
        CHECK(fs::is_symlink(dir / "link.st"));
        CHECK(io::safetensors_file::open(dir / "real.st").header().metadata_value("lnfold.eps") == "1e-05");
    }
    SECTION("a FIFO, a directory, the input and a hard link to it are refused before any work") {
        REQUIRE(::mkfifo((dir / "fifo").c_str(), 0600) == 0);
        fs::create_directory(dir / "folder");
        fs::create_hard_link(dir / "in.st", dir / "hard.st");
        fs::create_symlink("in.st", dir / "soft.st");
        const std::vector<std::pair<std::string, std::string>> cases{
            {"fifo", "not a regular file"}, {"folder", "is a directory"}, {"in.st", "is the input"},
            {"hard.st", "is the input"},    {"soft.st", "is the input"}};
        for (const auto& [output, reason] : cases) {
            INFO("OUTPUT " << output);
            const tool_run r = run_tool(dir.path(), {"--heads", "4", "in.st", output});
            CHECK(r.status == 2);
            CHECK_THAT(r.output, Contains("'" + output + "': ") && Contains(reason));
            CHECK_THAT(r.output, !Contains("fold report"));
        }
        CHECK(fs::is_fifo(dir / "fifo"));
        CHECK(fs::is_directory(dir / "folder"));
        CHECK(fs::is_empty(dir / "folder"));
        CHECK(read_bytes(dir / "in.st") == gpt2_bytes);
        CHECK(dir.entries() == std::vector<std::string>{"fifo", "folder", "hard.st", "in.st", "soft.st"});
    }
}

TEST_CASE("7: a directory as input is refused with the reason") {
    const scratch_directory dir("lnfold-fold-safety");
    fs::create_directory(dir / "folder");
    const tool_run r = run_tool(dir.path(), {"--heads", "4", "folder", "out.st"});
    CHECK(r.status == 2);
    CHECK_THAT(r.output, Contains("'folder'") && Contains("directory"));
    CHECK_FALSE(fs::exists(dir / "out.st"));
}

TEST_CASE("8: errors carry the OS reason and the user's path; the output location is checked first") {
    const scratch_directory dir("lnfold-fold-safety");
    write_bytes(dir / "in.st", gpt2_bytes);
    const tool_run missing = run_tool(dir.path(), {"--heads", "4", "absent.st", "out.st"});
    CHECK(missing.status == 2);
    CHECK_THAT(missing.output, Contains("'absent.st'") && Contains(std::strerror(ENOENT)));

    const tool_run nowhere = run_tool(dir.path(), {"--heads", "4", "in.st", "no/such/dir/out.st"});
    CHECK(nowhere.status == 2);
    CHECK_THAT(nowhere.output, Contains("'no/such/dir/out.st'") && Contains(std::strerror(ENOENT)));
    CHECK_THAT(nowhere.output, !Contains(".tmp") && !Contains("fold report"));

    if (::geteuid() != 0) {  // root writes anywhere
        fs::create_directory(dir / "locked");
        fs::permissions(dir / "locked", fs::perms::owner_read | fs::perms::owner_exec);
        const tool_run locked = run_tool(dir.path(), {"--heads", "4", "in.st", "locked/out.st"});
        CHECK(locked.status == 2);
        CHECK_THAT(locked.output, Contains("'locked/out.st'") && Contains(std::strerror(EACCES)));
    }
}

TEST_CASE("10: an absurd verification batch is a usage error, not an allocation failure") {
    const scratch_directory dir("lnfold-fold-safety");
    write_bytes(dir / "in.st", gpt2_bytes);
    const tool_run r = run_tool(dir.path(), {"--heads", "4", "--batch", "1000000000000", "in.st", "out.st"});
    CHECK(r.status == 2);
    CHECK_THAT(r.output, Contains("--batch 1000000000000 is more than") && !Contains("bad_alloc"));
    CHECK(dir.entries() == std::vector<std::string>{"in.st"});
}
