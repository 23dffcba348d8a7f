// The fast paths of loading, saving and initialising (issue: whole-network speed, loading at the speed of the
// file), each against an independent reference:
//   - fill_normal / fill_uniform and Model::initialize give, value for value and bit for bit, what the plain loop
//     over random_stream gives (the stream every seeded model and test depends on is unchanged);
//   - a transposed load (tiles read straight from the file) equals reading the tensor and transposing it by hand,
//     for F32, F64 and F16 files, odd sizes and more than one tile;
//   - the writer's views (add_view, add_transposed_view: save_bytes, save, save_to) give the same bytes as copies;
//   - atomic_file's content hash does not depend on how the bytes are split into writes;
//   - Model(uninitialized) is all zeros; byte_buffer holds what was read.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include <lnfold/lnfold.hpp>
#include <lnfold/io/weights.hpp>

#include "catch.hpp"
#include "scratch_directory.hpp"

using namespace lnfold;

namespace {

template <class T>
bool same_bits(const std::vector<T>& a, const std::vector<T>& b) {
    return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0);
}

// What Model::initialize computed before it filled tensors in pieces (the reference: one random_stream per tensor,
// drawn in order, one value at a time).
template <class Net, class T>
std::vector<T> reference_init(std::uint64_t seed, init_scheme scheme, double std = 0.02) {
    Model<Net, T> shape_only(uninitialized);
    std::vector<T> out(shape_only.parameters().size(), T(0));
    for (std::size_t t = 0; t < Model<Net, T>::tensor_count; ++t) {
        const param_entry& e = Model<Net, T>::graph.tensors[t];
        random_stream rng(seed_for(seed, e.path.view()));
        const double bound = 1.0 / std::sqrt(static_cast<double>(e.spec.fan_in));
        for (std::size_t i = 0; i < e.spec.numel(); ++i) {
            double v = 0;
            switch (e.spec.init) {
                case init_kind::fan_in_weight:
                    v = scheme == init_scheme::pytorch ? rng.uniform(-bound, bound) : std * rng.normal();
                    break;
                case init_kind::fan_in_bias: v = scheme == init_scheme::pytorch ? rng.uniform(-bound, bound) : 0.0; break;
                case init_kind::table: v = (scheme == init_scheme::pytorch ? e.spec.value : std) * rng.normal(); break;
                case init_kind::ones: v = 1; break;
                case init_kind::zeros: v = 0; break;
                case init_kind::constant: v = e.spec.value; break;
            }
            out[e.offset + i] = static_cast<T>(v);
        }
    }
    return out;
}

using Small = Seq<Named<"wte", Embedding<301, 64>>, Named<"wpe", PositionEmbedding<33, 64>>,
                  Named<"ln", LayerNorm<64>>, Named<"fc", Linear<64, 4099>>, GELU, Named<"out", Linear<4099, 7>>>;

template <class T>
std::vector<T> values_of(const Model<Small, T>& m) {
    return std::vector<T>(m.parameters().begin(), m.parameters().end());
}

}  // namespace

TEST_CASE("fill_normal and fill_uniform equal random_stream drawn in order, from any position", "[io][init]") {
    for (const std::uint64_t seed : {0ull, 1ull, 0x9E3779B97F4A7C15ull}) {
        const std::size_t n = 300'000, first = 12'345;
        std::vector<float> fast(n), slow(n);
        std::vector<double> fast_d(n / 10), slow_d(n / 10);
        fill_normal(seed, 0, 0.02, fast.data(), n);
        random_stream a(seed);
        for (float& v : slow) v = static_cast<float>(0.02 * a.normal());
        CHECK(same_bits(fast, slow));
        fill_normal(seed, 0, 1.0, fast_d.data(), fast_d.size());
        random_stream b(seed);
        for (double& v : slow_d) v = 1.0 * b.normal();
        CHECK(same_bits(fast_d, slow_d));
        // a piece in the middle of the stream
        std::vector<float> piece(1000), expected(1000);
        fill_normal(seed, first, 3.5, piece.data(), piece.size());
        random_stream c(seed);
        for (std::size_t i = 0; i < first; ++i) c.normal();
        for (float& v : expected) v = static_cast<float>(3.5 * c.normal());
        CHECK(same_bits(piece, expected));
        fill_uniform(seed, 0, -0.125, 0.125, fast.data(), n);
        random_stream d(seed);
        for (float& v : slow) v = static_cast<float>(d.uniform(-0.125, 0.125));
        CHECK(same_bits(fast, slow));
        fill_uniform(seed, first, -1.0, 2.0, piece.data(), piece.size());
        random_stream e(seed);
        for (std::size_t i = 0; i < first; ++i) e.next();
        for (float& v : expected) v = static_cast<float>(e.uniform(-1.0, 2.0));
        CHECK(same_bits(piece, expected));
        CHECK(random_stream::at(seed, 0) == random_stream(seed).next());
    }
}

TEST_CASE("Model::initialize gives the values of the reference loop, float and double, both schemes", "[io][init]") {
    for (const auto scheme : {init_scheme::pytorch, init_scheme::normal}) {
        const Model<Small> f(7, scheme);
        CHECK(same_bits(values_of(f), reference_init<Small, float>(7, scheme)));
        const Model<Small, double> d(7, scheme);
        CHECK(same_bits(values_of(d), reference_init<Small, double>(7, scheme)));
    }
    Model<Small> m(uninitialized);
    CHECK(std::count_if(m.parameters().begin(), m.parameters().end(), [](float v) { return v != 0.0f; }) == 0);
    m.initialize(11, init_scheme::normal, 0.5);
    CHECK(same_bits(values_of(m), reference_init<Small, float>(11, init_scheme::normal, 0.5)));
}

TEST_CASE("a transposed load equals the tensor read and transposed by hand, any dtype and size", "[io][load]") {
    // fc.weight (4099, 64) stored (64, 4099): 129 tiles of 32 columns, the last one 3 wide; out.weight (7, 4099).
    const Model<Small> source(5);
    io::save_options save;
    save.transpose = [](std::string_view p) { return p == "fc.weight" || p == "out.weight"; };
    io::load_options load;
    load.transpose = save.transpose;
    const io::safetensors_file f32(io::save_bytes(source, save));
    const Model<Small, double> source_d(5);
    const io::safetensors_file f64(io::save_bytes(source_d, save));
    // F16: the same tensors narrowed, written by add_raw
    io::safetensors_writer w16;
    for (const auto& t : f32.tensors()) {
        const std::vector<float> v = f32.read<float>(t.name);
        std::vector<std::uint8_t> bytes(2 * v.size());
        for (std::size_t i = 0; i < v.size(); ++i) {
            const std::uint16_t h = io::float_to_f16(v[i]);
            bytes[2 * i] = static_cast<std::uint8_t>(h & 0xFF);
            bytes[2 * i + 1] = static_cast<std::uint8_t>(h >> 8);
        }
        w16.add_raw(t.name, io::dtype::F16, t.shape, bytes);
    }
    const io::safetensors_file f16(w16.bytes());
    for (const io::safetensors_file* file : {&f32, &f64, &f16}) {
        Model<Small> m(uninitialized);
        io::load(m, *file, load);
        for (const char* name : {"fc.weight", "out.weight"}) {
            const io::tensor_info& t = file->at(name);
            const std::vector<float> stored = file->read<float>(name);  // (cols, rows)
            const std::size_t cols = t.shape[0], rows = t.shape[1];
            std::vector<float> expected(stored.size());
            for (std::size_t r = 0; r < rows; ++r)
                for (std::size_t c = 0; c < cols; ++c) expected[r * cols + c] = stored[c * rows + r];
            const auto got = m.parameter(name);
            CHECK(same_bits(std::vector<float>(got.begin(), got.end()), expected));
        }
        const std::vector<float> table = file->read<float>("wte.weight");
        const auto got = m.parameter("wte.weight");
        CHECK(same_bits(std::vector<float>(got.begin(), got.end()), table));
    }
}

TEST_CASE("the writer's views give the bytes of copies; save_to writes them into an atomic_file", "[io][save]") {
    io::save_options save;
    save.transpose = [](std::string_view p) { return p == "fc.weight"; };
    const Model<Small> f(3);
    const Model<Small, double> d(3);
    CHECK(io::save_bytes(f, save) == io::to_safetensors(f, save).bytes());
    CHECK(io::save_bytes(d, save) == io::to_safetensors(d, save).bytes());
    lnfold_test::scratch_directory dir;
    const std::string path = dir / "m.safetensors";
    {
        io::atomic_file out(path, "safetensors file");
        io::save_to(f, out, save);
        out.commit();
    }
    CHECK(io::read_regular_file(path, "file") == io::to_safetensors(f, save).bytes());
    io::save(d, path, save);
    CHECK(io::read_regular_file(path, "file") == io::to_safetensors(d, save).bytes());
}

TEST_CASE("atomic_file's content hash is independent of how the bytes are split", "[io][save]") {
    std::vector<std::uint8_t> data(70'001);
    for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<std::uint8_t>(i * 131 + (i >> 9));
    io::detail::content_hash whole;
    whole.add(data.data(), data.size());
    for (const std::size_t split : {1u, 3u, 7u, 8u, 9u, 63u, 64u, 65u, 4097u}) {
        io::detail::content_hash pieces;
        for (std::size_t at = 0; at < data.size();) {
            const std::size_t n = std::min(split + at % 5, data.size() - at);
            pieces.add(data.data() + at, n);
            at += n;
        }
        CHECK(pieces == whole);
    }
    data[60'000] ^= 0x10;
    io::detail::content_hash changed;
    changed.add(data.data(), data.size());
    CHECK_FALSE(changed == whole);
}

TEST_CASE("byte_buffer: large buffers are mapped, copies and moves keep the bytes", "[io][load]") {
    io::byte_buffer big = io::byte_buffer::allocate(3 << 20);
    REQUIRE(big.size() == (3u << 20));
    std::size_t nonzero = 0;
    for (std::size_t i = 0; i < big.size(); i += 4093) nonzero += big.data()[i] != 0;
    CHECK(nonzero == 0);
    big.data()[12345] = 42;
    const io::byte_buffer copy = big;
    io::byte_buffer moved = std::move(big);
    CHECK(copy.data()[12345] == 42);
    CHECK(moved.data()[12345] == 42);
    CHECK(moved.size() == copy.size());
    const io::byte_buffer small(std::vector<std::uint8_t>{1, 2, 3});
    CHECK(small.span().size() == 3);
}
