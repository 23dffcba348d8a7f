// libFuzzer target for lnfold-fold's own reading of a checkpoint (tools/lnfold_fold/inspect.hpp): family_of, then
// gpt2_sizes_of or vit_sizes_of on every file the safetensors reader accepts. scripts/fuzz.sh inspect builds and runs it:
//   clang++ -std=c++20 -fsanitize=fuzzer,address,undefined -Iinclude -Itools/lnfold_fold -I/usr/include/eigen3 \
//       fuzz/inspect_fuzzer.cpp
// Seeds: python3 fuzz/make_corpus.py --inspect DIR (small GPT-2 and ViT headers, hostile shapes among them).
// Any input must give sizes or throw an lnfold::error; anything else (another exception, a crash, a sanitizer report,
// a hang caught by -timeout, broken invariants of the sizes) is a finding.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <vector>

#include "inspect.hpp"

namespace {

namespace fold_tool = lnfold::fold_tool;

void require(bool ok) {
    if (!ok) std::abort();  // a broken invariant: libFuzzer reports it as a crash with the input
}

void inspect(const lnfold::io::safetensors_file& file, std::optional<std::size_t> heads) {
    const std::size_t tensors = file.tensors().size();
    if (fold_tool::family_of(file) == fold_tool::family::gpt2) {
        const fold_tool::gpt2_sizes s = fold_tool::gpt2_sizes_of(file, heads);
        require(s.layers >= 1 && s.layers <= tensors);
        require(s.heads > 0 && s.dim % s.heads == 0);
        return;
    }
    const fold_tool::vit_sizes s = fold_tool::vit_sizes_of(file, heads);
    require(s.layers >= 1 && s.layers <= tensors);
    require(s.heads > 0 && s.dim % s.heads == 0);
    if (s.patch > 0) {
        // image = grid x patch exactly, and the position table holds grid^2 patches plus [CLS].
        require(s.image % s.patch == 0);
        const std::size_t grid = s.image / s.patch;
        const lnfold::io::tensor_info* positions = file.find("embeddings.position_embeddings");
        if (positions == nullptr) positions = file.find("vit.embeddings.position_embeddings");
        require(positions != nullptr && grid > 0 && grid * grid + 1 == positions->shape[1]);
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::optional<lnfold::io::safetensors_file> file;
    try {
        file.emplace(std::vector<std::uint8_t>(data, data + size), "fuzz.safetensors");
    } catch (const lnfold::io_error&) {
        return 0;  // the reader's own target covers rejected files
    }
    // Heads from the released widths (none given), and a --heads value.
    for (const std::optional<std::size_t> heads : {std::optional<std::size_t>{}, std::optional<std::size_t>{4}}) {
        try {
            inspect(*file, heads);
        } catch (const lnfold::error&) {
        }
    }
    return 0;
}
