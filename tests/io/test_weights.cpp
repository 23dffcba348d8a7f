// Model load / save by parameter path: bitwise round trips (float, double), strict errors naming every offending
// tensor, non-strict and allow_missing, name mapping (map and callback) with Conv1D-style transposes, F16 input.
#include "lnfold/io/weights.hpp"

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include <lnfold/lnfold.hpp>

#include "catch.hpp"
#include "io_error_message.hpp"
#include "scratch_directory.hpp"

using namespace lnfold;
using lnfold_test::io_error_message;
using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;

namespace {

constexpr std::size_t V = 11, D = 8;
using Block = Seq<Residual<Seq<Named<"ln_1", LayerNorm<D>>, Named<"attn", SelfAttention<D, 2, true>>>>,
                  Residual<Seq<Named<"ln_2", LayerNorm<D>>, Named<"c_fc", Linear<D, 2 * D>>, GELU,
                               Named<"c_proj", Linear<2 * D, D>>>>>;
using Gpt = Seq<Named<"wte", Embedding<V, D>>, Named<"wpe", PositionEmbedding<6, D>>, Named<"h", Repeat<2, Block>>,
                Named<"ln_f", LayerNorm<D>>, Named<"lm_head", Linear<D, V, false>>>;

template <class M>
std::vector<std::string> paths_of(M& model) {
    std::vector<std::string> out;
    model.visit_parameters([&](auto p) { out.emplace_back(p.path); });
    return out;
}

template <class T>
bool same_bits(std::span<const T> a, std::span<const T> b) {
    return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0;
}

// A writer holding every parameter of `model` except `skip`, with `replace` swapped in.
template <class M>
io::safetensors_writer writer_of(const M& model, const std::string& skip = "") {
    io::safetensors_writer w;
    model.visit_parameters([&](auto p) {
        if (std::string(p.path) == skip) return;
        std::vector<std::size_t> shape(p.spec.shape.begin(), p.spec.shape.begin() + static_cast<std::ptrdiff_t>(p.spec.rank));
        w.add(std::string(p.path), p.values, shape);
    });
    return w;
}

}  // namespace

TEST_CASE("weights: parameter paths follow PyTorch / Hugging Face names") {
    Model<Gpt> model(1);
    const auto paths = paths_of(model);
    CHECK(paths.front() == "wte.weight");
    CHECK(std::find(paths.begin(), paths.end(), "h.1.ln_2.bias") != paths.end());
    CHECK(std::find(paths.begin(), paths.end(), "h.0.c_fc.weight") != paths.end());
    CHECK(paths.back() == "lm_head.weight");
}

TEMPLATE_TEST_CASE("weights: save then load is bitwise identical", "", float, double) {
    Model<Gpt, TestType> a(1, init_scheme::normal), b(2);
    a.parameter("h.1.ln_1.weight")[3] = TestType(-0.0);
    const lnfold_test::scratch_directory dir("lnfold-io-weights");
    const std::string path = dir / "roundtrip.safetensors";
    io::save_options so;
    so.metadata = {{"model", "gpt-test"}};
    io::save(a, path, so);
    const io::safetensors_file file = io::read_safetensors(path);
    CHECK(file.header().metadata_value("model") == "gpt-test");
    CHECK(file.header().metadata_value("format") == "pt");
    CHECK(file.at("h.0.c_fc.weight").type == (sizeof(TestType) == 4 ? io::dtype::F32 : io::dtype::F64));
    CHECK(file.at("h.0.c_fc.weight").shape == std::vector<std::size_t>{2 * D, D});
    CHECK(file.tensors().size() == Model<Gpt, TestType>::tensor_count);

    const io::load_result r = io::load(b, path);
    CHECK(r.loaded.size() == Model<Gpt, TestType>::tensor_count);
    CHECK(r.kept.empty());
    CHECK(r.ignored.empty());
    CHECK(same_bits<TestType>(a.parameters(), b.parameters()));  // padding included: it stays zero

    // Same forward.
    const std::vector<std::int32_t> ids = {1, 2, 3, 4, 5, 6, 0, 10};
    const auto ya = a.forward(std::span<const std::int32_t>(ids), Layout::sequence(2, 4));
    std::vector<TestType> first(ya.data, ya.data + ya.size());
    const auto yb = b.forward(std::span<const std::int32_t>(ids), Layout::sequence(2, 4));
    CHECK(same_bits<TestType>(first, std::span<const TestType>(yb.data, yb.size())));

    // Saving the loaded model gives the same bytes.
    CHECK(io::save_bytes(a) == io::save_bytes(b));
}

TEST_CASE("weights: a float model reads an F64 file and a double model an F32 file") {
    Model<Gpt, double> d(3);
    Model<Gpt, float> f(4);
    io::load(f, io::safetensors_file(io::save_bytes(d), "d.safetensors"));
    for (std::size_t i = 0; i < d.parameters().size(); ++i) REQUIRE(f.parameters()[i] == static_cast<float>(d.parameters()[i]));
    Model<Gpt, double> back(5);
    io::load(back, io::safetensors_file(io::save_bytes(f)));
    for (std::size_t i = 0; i < d.parameters().size(); ++i)
        REQUIRE(back.parameters()[i] == static_cast<double>(f.parameters()[i]));
}

TEST_CASE("weights: strict load lists every missing, unexpected and mis-shaped tensor, and changes nothing") {
    Model<Gpt> a(1), b(2);
    io::safetensors_writer w = writer_of(a, "h.1.ln_1.weight");
    const float extra[6] = {};
    w.add("transformer.extra.weight", std::span<const float>(extra), {2, 3});
    // The file's lm_head.weight has the wrong shape: replace by writing a new file.
    io::safetensors_writer bad;
    const io::safetensors_file base(w.bytes());
    for (const auto& t : base.tensors()) {
        auto v = base.read<float>(t.name);
        if (t.name == "lm_head.weight") bad.add(t.name, std::span<const float>(v), {D, V});  // transposed by mistake
        else if (t.name == "h.0.ln_2.bias") bad.add(t.name, std::span<const float>(v).first(D - 1), {D - 1});
        else bad.add(t.name, std::span<const float>(v), t.shape);
    }
    const std::vector<float> before(b.parameters().begin(), b.parameters().end());
    const std::string message = io_error_message([&] { io::load(b, io::safetensors_file(bad.bytes(), "gpt.safetensors")); });
    INFO(message);
    CHECK_THAT(message, StartsWith("lnfold: cannot load safetensors file 'gpt.safetensors' into a model with"));
    CHECK_THAT(message, Contains("4 problems"));
    CHECK_THAT(message, Contains("missing 'h.1.ln_1.weight': expected shape (8)"));
    CHECK_THAT(message, Contains("shape mismatch 'lm_head.weight': expected (11, 8), the file has (8, 11)"));
    CHECK_THAT(message, Contains("shape mismatch 'h.0.ln_2.bias': expected (8), the file has (7)"));
    CHECK_THAT(message, Contains("unexpected 'transformer.extra.weight': F32 (2, 3) is in the file"));
    CHECK(std::equal(before.begin(), before.end(), b.parameters().begin()));  // all or nothing
}

TEST_CASE("weights: non-strict ignores unexpected tensors; allow_missing keeps parameters") {
    Model<Gpt> a(1, init_scheme::normal), b(2);
    io::safetensors_writer w = writer_of(a, "ln_f.bias");
    const float extra[1] = {};
    w.add("attn.bias", std::span<const float>(extra), {1});
    const io::safetensors_file file(w.bytes(), "partial.safetensors");

    CHECK_THAT(io_error_message([&] { io::load(b, file); }), Contains("2 problems"));
    io::load_options o;
    o.strict = false;
    CHECK_THAT(io_error_message([&] { io::load(b, file, o); }), Contains("1 problem") && Contains("missing 'ln_f.bias'"));
    o.allow_missing = true;
    const std::vector<float> kept(b.parameter("ln_f.bias").begin(), b.parameter("ln_f.bias").end());
    const io::load_result r = io::load(b, file, o);
    CHECK(r.ignored == std::vector<std::string>{"attn.bias"});
    CHECK(r.kept == std::vector<std::string>{"ln_f.bias"});
    CHECK(r.loaded.size() == Model<Gpt>::tensor_count - 1);
    CHECK(std::equal(kept.begin(), kept.end(), b.parameter("ln_f.bias").begin()));
    CHECK(same_bits<float>(a.parameter("h.1.c_proj.weight"), b.parameter("h.1.c_proj.weight")));
}

TEST_CASE("weights: name mapping and Conv1D-style transposes, on save and on load") {
    Model<Gpt> a(1, init_scheme::normal), b(2);
    io::save_options so;
    so.rename = [](std::string_view p) { return p.starts_with("lm_head") ? std::string(p) : "transformer." + std::string(p); };
    so.transpose = [](std::string_view p) { return p.ends_with("c_fc.weight") || p.ends_with("c_proj.weight"); };
    so.names["h.0.attn.qkv.weight"] = "transformer.h.0.attn.c_attn.weight";
    so.transposed.insert("h.0.attn.qkv.weight");
    const io::safetensors_file file(io::save_bytes(a, so), "hf.safetensors");
    CHECK(file.find("transformer.wte.weight") != nullptr);
    CHECK(file.find("lm_head.weight") != nullptr);
    CHECK(file.at("transformer.h.1.c_fc.weight").shape == std::vector<std::size_t>{D, 2 * D});  // (in, out)
    CHECK(file.at("transformer.h.0.attn.c_attn.weight").shape == std::vector<std::size_t>{D, 3 * D});
    // The stored matrix is the transpose.
    const auto stored = file.read<float>("transformer.h.1.c_fc.weight");
    const auto w = a.parameter("h.1.c_fc.weight");
    for (std::size_t r = 0; r < 2 * D; ++r)
        for (std::size_t c = 0; c < D; ++c) REQUIRE(stored[c * 2 * D + r] == w[r * D + c]);

    // Loading without the mapping names the tensors and hints at the prefix.
    const std::string message = io_error_message([&] { io::load(b, file); });
    CHECK_THAT(message, Contains("missing 'wte.weight': expected shape (11, 8); the file has 'transformer.wte.weight'"));
    CHECK_THAT(message, Contains("unexpected 'transformer.wte.weight'"));

    // With a mapping but a forgotten transpose: shape mismatches name the file tensor.
    io::load_options o;
    o.rename = so.rename;
    o.names = so.names;
    o.transposed = so.transposed;
    CHECK_THAT(io_error_message([&] { io::load(b, file, o); }),
               Contains("shape mismatch 'h.0.c_fc.weight' (file name 'transformer.h.0.c_fc.weight'): expected (16, 8), the file has (8, 16)"));
    o.transpose = so.transpose;
    io::load(b, file, o);
    CHECK(same_bits<float>(a.parameters(), b.parameters()));
}

TEST_CASE("weights: a transpose of a non-2-D tensor, an empty mapped name, and two paths reading one tensor") {
    Model<Gpt> a(1), b(2);
    const io::safetensors_file file(io::save_bytes(a));
    io::load_options o;
    o.transposed = {"ln_f.weight"};
    CHECK_THAT(io_error_message([&] { io::load(b, file, o); }),
               Contains("cannot transpose 'ln_f.weight': it has shape (8), only 2-D tensors can be transposed"));
    io::save_options so;
    so.transposed = {"ln_f.bias"};
    CHECK_THAT(io_error_message([&] { io::save_bytes(a, so); }), Contains("cannot save 'ln_f.bias' transposed"));

    // Tied head: lm_head.weight read from wte.weight; an empty name keeps the value.
    io::save_options skip;
    skip.names["lm_head.weight"] = "";
    const io::safetensors_file untied(io::save_bytes(a, skip));
    CHECK(untied.find("lm_head.weight") == nullptr);
    io::load_options tie;
    tie.names["lm_head.weight"] = "wte.weight";
    Model<Gpt> c(3);
    io::load(c, untied, tie);
    CHECK(same_bits<float>(c.parameter("lm_head.weight"), a.parameter("wte.weight")));
    io::load_options keep;
    keep.names["lm_head.weight"] = "";
    Model<Gpt> d(3);
    const auto before = std::vector<float>(d.parameter("lm_head.weight").begin(), d.parameter("lm_head.weight").end());
    CHECK(io::load(d, untied, keep).kept == std::vector<std::string>{"lm_head.weight"});
    CHECK(std::equal(before.begin(), before.end(), d.parameter("lm_head.weight").begin()));
}

TEST_CASE("weights: F16 / BF16 files load (converted), other dtypes are refused by name") {
    using Net = Seq<Linear<3, 2>>;
    Model<Net> m(1);
    io::safetensors_writer w;
    const std::uint8_t weight[12] = {0x00, 0x3C, 0x00, 0x40, 0x00, 0x42, 0x00, 0xBC, 0x00, 0x00, 0x01, 0x00};  // F16
    const std::uint8_t bias[4] = {0x80, 0x3F, 0x00, 0xC0};                                                     // BF16 1, -2
    w.add_raw("0.weight", io::dtype::F16, {2, 3}, weight);
    w.add_raw("0.bias", io::dtype::BF16, {2}, bias);
    io::load(m, io::safetensors_file(w.bytes()));
    CHECK(std::vector<float>(m.parameter("0.weight").begin(), m.parameter("0.weight").end()) ==
          std::vector<float>{1, 2, 3, -1, 0, std::ldexp(1.0f, -24)});
    CHECK(std::vector<float>(m.parameter("0.bias").begin(), m.parameter("0.bias").end()) == std::vector<float>{1, -2});

    io::safetensors_writer ints;
    const std::uint8_t raw[8] = {};
    ints.add_raw("0.weight", io::dtype::I8, {2, 3}, std::span<const std::uint8_t>(raw).first(6));
    ints.add_raw("0.bias", io::dtype::U16, {2}, std::span<const std::uint8_t>(raw).first(4));
    const std::string message = io_error_message([&] { io::load(m, io::safetensors_file(ints.bytes(), "int.safetensors")); });
    CHECK_THAT(message, Contains("2 problems"));
    CHECK_THAT(message, Contains("unreadable dtype '0.weight': the file has I8 (2, 3)"));
    CHECK_THAT(message, Contains("unreadable dtype '0.bias': the file has U16 (2)"));
}

TEST_CASE("weights: loading a missing or corrupt file throws io_error naming it") {
    Model<Gpt> m(1);
    CHECK_THAT(io_error_message([&] { io::load(m, "/nonexistent/model.safetensors"); }), Contains("'/nonexistent/model.safetensors'"));
    const lnfold_test::scratch_directory dir("lnfold-io-weights");
    const std::string path = dir / "truncated.safetensors";
    auto bytes = io::save_bytes(m);
    bytes.pop_back();
    {
        std::FILE* f = std::fopen(path.c_str(), "wb");
        REQUIRE(f);
        std::fwrite(bytes.data(), 1, bytes.size(), f);
        std::fclose(f);
    }
    const std::string message = io_error_message([&] { io::load(m, path); });
    CHECK_THAT(message, StartsWith("lnfold: safetensors file '" + path + "'") && Contains("but it holds"));
}

namespace {
// Parameters: pos.weight (3, 4), attn.qkv.weight (12, 4), attn.qkv.bias (12), attn.proj.weight (4, 4),
// attn.proj.bias (4), ln.weight (4), ln.bias (4).
using Small = Seq<Named<"pos", PositionEmbedding<3, 4>>, Named<"attn", SelfAttention<4, 2>>, Named<"ln", LayerNorm<4>>>;

// ViT-style storage: q / k / v separate, the position table with a leading 1.
io::tensor_naming split_naming() {
    io::tensor_naming n;
    n.concatenated["attn.qkv.weight"] = {"attn.q.weight", "attn.k.weight", "attn.v.weight"};
    n.concatenate = [](std::string_view p) {
        return p == "attn.qkv.bias" ? std::vector<std::string>{"attn.q.bias", "attn.k.bias", "attn.v.bias"}
                                    : std::vector<std::string>{};
    };
    n.unsqueeze = [](std::string_view p) { return p == "pos.weight" ? std::size_t(1) : std::size_t(0); };
    return n;
}
}  // namespace

TEST_CASE("weights: a parameter concatenated from several file tensors along dim 0, and leading size-1 dimensions") {
    Model<Small> a(1, init_scheme::pytorch), b(2);
    io::save_options so;
    static_cast<io::tensor_naming&>(so) = split_naming();
    const io::safetensors_file file(io::save_bytes(a, so), "split.safetensors");
    CHECK(file.find("attn.qkv.weight") == nullptr);
    CHECK(file.at("attn.k.weight").shape == std::vector<std::size_t>{4, 4});
    CHECK(file.at("attn.v.bias").shape == std::vector<std::size_t>{4});
    CHECK(file.at("pos.weight").shape == std::vector<std::size_t>{1, 3, 4});
    // Part k holds rows 4k .. 4k + 3 of the fused (12, 4) weight.
    const auto k = file.read<float>("attn.k.weight");
    const auto qkv = a.parameter("attn.qkv.weight");
    CHECK(std::equal(k.begin(), k.end(), qkv.begin() + 16));

    io::load_options o;
    static_cast<io::tensor_naming&>(o) = split_naming();
    const io::load_result r = io::load(b, file, o);
    CHECK(r.loaded.size() == Model<Small>::tensor_count);
    CHECK(same_bits<float>(a.parameters(), b.parameters()));

    // Without the unsqueeze the table's shape is wrong; without the concatenation the parts are unexpected.
    o.unsqueeze = nullptr;
    CHECK_THAT(io_error_message([&] { io::load(b, file, o); }),
               Contains("shape mismatch 'pos.weight': expected (3, 4), the file has (1, 3, 4)"));
    io::load_options plain;
    plain.unsqueezed["pos.weight"] = 1;
    const std::string message = io_error_message([&] { io::load(b, file, plain); });
    CHECK_THAT(message, Contains("missing 'attn.qkv.weight': expected shape (12, 4)"));
    CHECK_THAT(message, Contains("unexpected 'attn.q.weight': F32 (4, 4)"));
}

TEST_CASE("weights: concatenations and layouts that cannot be are errors; a partly missing concatenation too") {
    Model<Small> a(1), b(2);
    const std::vector<float> before(b.parameters().begin(), b.parameters().end());
    io::load_options o;
    o.concatenated["ln.weight"] = {"x", "y", "z"};       // 4 rows do not split in 3
    o.concatenated["attn.proj.bias"] = {"p", ""};         // an empty part name
    o.concatenated["attn.proj.weight"] = {"p0", "p1"};
    o.transposed.insert("attn.proj.weight");              // two layouts at once
    o.unsqueezed["ln.bias"] = 1;
    o.transposed.insert("ln.bias");
    const std::string message = io_error_message([&] { io::load(b, io::safetensors_file(io::save_bytes(a)), o); });
    INFO(message);
    CHECK_THAT(message, Contains("cannot split 'ln.weight' of shape (4) into 3 file tensors along dim 0"));
    CHECK_THAT(message, Contains("cannot read 'attn.proj.bias' from an empty file tensor name"));
    CHECK_THAT(message, Contains("cannot store 'attn.proj.weight' transposed and concatenated: a parameter has at most one"));
    CHECK_THAT(message, Contains("cannot store 'ln.bias' transposed and unsqueezed"));
    CHECK(std::equal(before.begin(), before.end(), b.parameters().begin()));
    io::save_options so;
    so.concatenated["ln.weight"] = {"x", "y", "z"};
    CHECK_THAT(io_error_message([&] { io::save_bytes(a, so); }), Contains("lnfold: cannot split 'ln.weight'"));

    // One part of three absent: named, even with allow_missing (only a wholly absent parameter is kept).
    io::save_options split;
    static_cast<io::tensor_naming&>(split) = split_naming();
    const io::safetensors_file full(io::save_bytes(a, split));
    io::safetensors_writer w;
    for (const auto& t : full.tensors())
        if (t.name != "attn.k.bias" && !t.name.starts_with("attn.q.") && !t.name.starts_with("attn.v.b"))
            w.add_raw(t.name, t.type, t.shape, full.bytes_of(t));
    io::load_options lo;
    static_cast<io::tensor_naming&>(lo) = split_naming();
    lo.allow_missing = true;
    const std::string partial = io_error_message([&] { io::load(b, io::safetensors_file(w.bytes()), lo); });
    CHECK_THAT(partial, Contains("1 problem"));
    CHECK_THAT(partial, Contains("missing 'attn.qkv.weight' part 1 of 3 (file name 'attn.q.weight'): expected shape (4, 4)"));
}

TEST_CASE("weights: a base-model prefix, ignored buffers and tied copies") {
    Model<Small> a(1, init_scheme::pytorch), b(2);
    io::save_options so;
    so.rename = [](std::string_view p) { return "model." + std::string(p); };
    io::safetensors_writer w = io::to_safetensors(a, so);
    const float mask[4] = {1, 0, 1, 1};
    w.add("model.attn.mask", std::span<const float>(mask), {2, 2});
    const auto table = a.parameter("pos.weight");
    w.add("head.weight", table, {3, 4});                  // a tied copy of pos.weight, outside the prefix
    const io::safetensors_file file(w.bytes(), "prefixed.safetensors");

    io::load_options o;
    o.prefix = "model.";
    o.ignore = [](std::string_view name) { return name == "attn.mask"; };
    o.copies["head.weight"] = "pos.weight";
    const io::load_result r = io::load(b, file, o);
    CHECK(same_bits<float>(a.parameters(), b.parameters()));
    CHECK(r.prefixed == Model<Small>::tensor_count + 1);
    CHECK(r.ignored == std::vector<std::string>{"model.attn.mask"});
    CHECK(r.copies == std::vector<std::string>{"head.weight"});

    // The same options read the file without the prefix, and without the copy.
    io::safetensors_writer bare;
    for (const auto& t : file.tensors())
        if (t.name != "head.weight") bare.add_raw(t.name.substr(t.name.starts_with("model.") ? 6 : 0), t.type, t.shape, file.bytes_of(t));
    const io::load_result r2 = io::load(b, io::safetensors_file(bare.bytes()), o);
    CHECK(r2.prefixed == 0);
    CHECK(r2.copies.empty());

    // Without ignore the buffer is unexpected; a copy that differs, has another shape, or names no parameter is refused.
    io::load_options no_ignore = o;
    no_ignore.ignore = nullptr;
    CHECK_THAT(io_error_message([&] { io::load(b, file, no_ignore); }), Contains("unexpected 'model.attn.mask'"));
    io::safetensors_writer bad = io::to_safetensors(a, so);
    std::vector<float> changed(table.begin(), table.end());
    changed[7] = -changed[7] + 1;
    bad.add("head.weight", std::span<const float>(changed), {3, 4});
    bad.add("tail.weight", std::span<const float>(changed), {4, 3});
    bad.add("neck.weight", std::span<const float>(changed), {4, 3});
    bad.add("proj_copy", a.parameter("attn.proj.weight"), {4, 4});
    o.copies["tail.weight"] = "pos.weight";
    o.copies["neck.weight"] = "no.such.weight";
    o.copies["proj_copy"] = "attn.proj.weight";
    o.names["attn.proj.weight"] = "";  // kept: not read from the file, so its copy cannot be checked
    o.ignore = [](std::string_view name) { return name == "attn.mask" || name == "attn.proj.weight"; };
    const std::string message = io_error_message([&] { io::load(b, io::safetensors_file(bad.bytes(), "bad.safetensors"), o); });
    INFO(message);
    CHECK_THAT(message, Contains("4 problems"));
    CHECK_THAT(message, Contains("copy 'head.weight' of 'pos.weight' differs from 'model.pos.weight': 1 of 12 values "
                                 "differ, the first at element 7"));
    CHECK_THAT(message, Contains("copy 'tail.weight' of 'pos.weight': expected the shape of 'model.pos.weight' (3, 4), "
                                 "the file has (4, 3)"));
    CHECK_THAT(message, Contains("copy 'neck.weight' of 'no.such.weight': the model has no parameter 'no.such.weight'"));
    CHECK_THAT(message, Contains("copy 'proj_copy' of 'attn.proj.weight': cannot check it, 'attn.proj.weight' is not "
                                 "read from one file tensor"));

    // Both forms of one name: ambiguous.
    io::safetensors_writer twice = io::to_safetensors(a, so);
    twice.add("ln.bias", a.parameter("ln.bias"), {4});
    o.copies.clear();
    o.names.clear();
    CHECK_THAT(io_error_message([&] { io::load(b, io::safetensors_file(twice.bytes()), o); }),
               Contains("ambiguous 'ln.bias': the file has both 'model.ln.bias' and 'ln.bias' (load_options::prefix is 'model.')"));
}
