// libFuzzer target for the safetensors reader (scripts/fuzz.sh builds and runs it):
//   clang++ -std=c++20 -fsanitize=fuzzer,address,undefined -Iinclude -I/usr/include/eigen3 fuzz/safetensors_fuzzer.cpp
// Any input must either parse or throw lnfold::io_error; anything else (another exception, a crash, a sanitizer
// report, a broken invariant) is a finding.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string_view>
#include <vector>

#include "lnfold/io/json.hpp"
#include "lnfold/io/safetensors.hpp"
#include "lnfold/io/weights.hpp"
#include "lnfold/graph/named.hpp"
#include "lnfold/graph/seq.hpp"
#include "lnfold/layers/layer_norm.hpp"
#include "lnfold/layers/linear.hpp"
#include "lnfold/layers/position_embedding.hpp"
#include "lnfold/layers/self_attention.hpp"

namespace {

void require(bool ok) {
    if (!ok) std::abort();  // a broken invariant: libFuzzer reports it as a crash with the input
}

void check_file(std::span<const std::uint8_t> bytes) {
    const lnfold::io::safetensors_header h = lnfold::io::parse_safetensors_header(bytes, "fuzz.safetensors");
    // Invariants of an accepted file: the data buffer is inside the file and tiled exactly.
    require(h.data_offset == 8 + h.header_size && h.data_offset + h.data_size == bytes.size());
    std::size_t covered = 0;
    for (const auto& t : h.tensors) {
        require(t.begin <= t.end && t.end <= h.data_size);
        require(t.numel() * lnfold::io::dtype_size(t.type) == t.byte_size());
        covered += t.byte_size();
    }
    require(covered == h.data_size);

    // Read every float tensor, write them back, and parse the result again.
    const lnfold::io::safetensors_file file(std::vector<std::uint8_t>(bytes.begin(), bytes.end()), "fuzz.safetensors");
    lnfold::io::safetensors_writer writer;
    for (const auto& t : file.tensors()) {
        if (!lnfold::io::is_readable_float(t.type)) continue;
        const std::vector<double> values = file.read<double>(t.name);
        writer.add(t.name, std::span<const double>(values), t.shape);
    }
    for (const auto& [key, value] : file.metadata()) writer.add_metadata(key, value);
    const std::vector<std::uint8_t> again = writer.bytes();
    const lnfold::io::safetensors_header h2 = lnfold::io::parse_safetensors_header(again, "rewritten");
    std::size_t readable = 0;
    for (const auto& t : h.tensors) readable += lnfold::io::is_readable_float(t.type) ? 1 : 0;
    require(h2.tensors.size() == readable && h2.metadata.size() == h.metadata.size());

    // Load into a small model: non-strict, missing allowed, a transpose on the 2-D weight.
    using Net = lnfold::Seq<lnfold::Linear<3, 2>, lnfold::LayerNorm<2>>;
    lnfold::Model<Net> model(0);
    lnfold::io::load_options options;
    options.strict = false;
    options.allow_missing = true;
    options.transposed = {"0.weight"};
    try {
        lnfold::io::load(model, file, options);
    } catch (const lnfold::io_error&) {
    }

    // Load strictly with every storage layout (seed model_layouts): a base-model prefix, a parameter concatenated
    // from three tensors, leading size-1 dimensions, a transpose, an ignored buffer and a tied copy.
    using Layouts = lnfold::Seq<lnfold::Named<"pos", lnfold::PositionEmbedding<2, 4>>,
                                lnfold::Named<"attn", lnfold::SelfAttention<4, 2>>>;
    lnfold::Model<Layouts> layouts(0);
    lnfold::io::load_options all;
    all.prefix = "m.";
    all.concatenated["attn.qkv.weight"] = {"attn.q.weight", "attn.k.weight", "attn.v.weight"};
    all.concatenated["attn.qkv.bias"] = {"attn.q.bias", "attn.k.bias", "attn.v.bias"};
    all.unsqueezed["pos.weight"] = 1;
    all.transposed = {"attn.proj.weight"};
    all.ignore = [](std::string_view name) { return name == "mask"; };
    all.copies["copy"] = "pos.weight";
    try {
        lnfold::io::load(layouts, file, all);
    } catch (const lnfold::io_error&) {
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::span<const std::uint8_t> bytes(data, size);
    try {
        check_file(bytes);
    } catch (const lnfold::io_error&) {
    }
    // The JSON parser alone, on the raw bytes, with small limits.
    try {
        lnfold::io::json_limits limits;
        limits.max_depth = 16;
        limits.max_bytes = 1 << 16;
        (void)lnfold::io::parse_json(std::string_view(reinterpret_cast<const char*>(data), size), "fuzz", limits);
    } catch (const lnfold::io_error&) {
    }
    return 0;
}
