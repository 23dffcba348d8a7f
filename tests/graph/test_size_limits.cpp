// Issue 24, defects 5 and 10 (c): sizes that come from the batch layout never wrap around, and memory that cannot
// be had is an lnfold::allocation_error naming the request, never std::bad_alloc.
//
// Several tests pass a span whose length is larger than the memory behind it (a 1-element buffer): the Model checks
// every size and allocates its buffers before it reads the input, so the length is all that these calls look at.
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "catch.hpp"
#include "error_networks.hpp"
#include "require_error.hpp"

#include <lnfold/lnfold.hpp>
#include <lnfold/train/optimizer.hpp>

// Under AddressSanitizer an allocation above its limit aborts unless the allocator may fail: let it fail, so that
// operator new throws std::bad_alloc as it does in a normal build.
#if defined(__SANITIZE_ADDRESS__)
extern "C" const char* __asan_default_options() { return "allocator_may_return_null=1"; }
#endif

using namespace lnfold;
using namespace lnfold_test::error_networks;

namespace {

using Wide = Seq<Named<"fc", Linear<1, 784>>>;

constexpr std::size_t half_of_size_t = std::size_t{1} << 63;

// A span of `count` elements starting at `one`, a real element (see the top of this file).
template <class T>
std::span<const T> claimed(const std::vector<T>& one, std::size_t count) {
    return {one.data(), count};
}

}  // namespace

TEST_CASE("a batch x tokens product that overflows size_t is a shape error, for token ids and for features") {
    // batch 2^63 x 2 tokens wrapped to 0 rows: an empty input passed the size check and was read past its end.
    Model<Gpt> gpt;
    require_error<shape_error>(
        [&] { gpt.forward(std::span<const std::int32_t>{}, Layout::sequence(half_of_size_t, 2)); },
        {"Model::forward", "the batch layout", "9223372036854775808 samples x 2 tokens overflows size_t"});
    // The same layout on an MLP returned 0 rows.
    Model<Mlp> mlp;
    require_error<shape_error>(
        [&] { mlp.forward(std::span<const float>{}, Layout::sequence(half_of_size_t, 2)); },
        {"Model::forward", "9223372036854775808 samples x 2 tokens overflows size_t"});
    // rows fit, rows x features do not.
    require_error<shape_error>([&] { mlp.forward(std::span<const float>{}, Layout::rows(half_of_size_t)); },
                               {"Model::forward", "the input", "9223372036854775808 rows x 5 values overflows size_t"});
    // Layout itself refuses to wrap.
    require_error<shape_error>([&] { (void)Layout::sequence(half_of_size_t, 2).row_count(); },
                               {"Layout", "9223372036854775808 samples x 2 tokens overflows size_t"});
    // Both models still work.
    const std::vector<std::int32_t> ids(T, 1);
    CHECK(gpt.forward(std::span<const std::int32_t>(ids), Layout::sequence(1, T)).rows() == T);
    const std::vector<float> x(2 * 5, 0.5f);
    CHECK(mlp.forward(std::span<const float>(x), Layout::rows(2)).rows() == 2);
}

TEST_CASE("an image whose height x width overflows size_t is a shape error") {
    constexpr std::size_t big = std::size_t{1} << 32;
    require_error<shape_error>([&] { (void)Layout::image(1, big, big); },
                               {"Layout::image", "4294967296 pixels high x 4294967296 pixels wide overflows size_t"});
    // A layout written by hand whose tokens equal the wrapped product (2^32 + 1) x 2^32 = 2^32 (mod 2^64).
    Model<Cnn> cnn;
    const Layout wrapped{1, big, big + 1, big};
    require_error<shape_error>([&] { cnn.forward(std::span<const float>{}, wrapped); },
                               {"Model::forward", "the image layout",
                                "4294967297 pixels high x 4294967296 pixels wide overflows size_t"});
}

TEST_CASE("a layer whose output or scratch size overflows names the layer") {
    const std::vector<float> one(1, 0.0f);
    // 2^60 rows of 1 feature fit; the 784-wide output does not.
    Model<Wide> wide;
    require_error<shape_error>([&] { wide.forward(claimed(one, std::size_t{1} << 60), Layout::rows(std::size_t{1} << 60)); },
                               {"Linear<1, 784> at 'fc'", "the output",
                                "1152921504606846976 rows x 784 features overflows size_t"});
    // 2^32 tokens of 8 features fit; their 2^32 x 2^32 attention scores do not (checked before anything is allocated).
    Model<Seq<Named<"attn", SelfAttention<D, 2>>>> attention;
    constexpr std::size_t tokens = std::size_t{1} << 32;
    require_error<shape_error>([&] { attention.forward(claimed(one, tokens * D), Layout::sequence(1, tokens)); },
                               {"SelfAttention<8, 2> at 'attn'", "attention scores",
                                "4294967296 tokens x 4294967296 tokens overflows size_t"});
    // ClassToken adds a token: SIZE_MAX tokens + 1 wraps to 0.
    Model<Seq<Named<"cls", ClassToken<1>>>> cls;
    constexpr std::size_t all = static_cast<std::size_t>(-1);
    require_error<shape_error>([&] { cls.forward(claimed(one, all), Layout::sequence(1, all)); },
                               {"ClassToken<1> at 'cls'", "18446744073709551615 tokens + 1 class token overflows size_t"});
}

TEST_CASE("activations that cannot be allocated are an allocation_error naming the request") {
    const std::vector<float> one(1, 0.0f);
    Model<Wide> wide;
    // 10^12 rows x 784 floats = 3.1 PB: more than any address space.
    constexpr std::size_t rows = 1000000000000;
    require_error<allocation_error>([&] { wide.forward(claimed(one, rows), Layout::rows(rows)); },
                                    {"Model::forward", "cannot allocate 3136000000000000 bytes",
                                     "the activations of Linear<1, 784> at 'fc' (1000000000000 rows x 784 floats)"});
    // 2^53 rows x 784 floats fit in size_t, their bytes do not.
    constexpr std::size_t huge = std::size_t{1} << 53;
    require_error<allocation_error>([&] { wide.forward(claimed(one, huge), Layout::rows(huge)); },
                                    {"Model::forward", "cannot allocate 7061644215716937728 floats",
                                     "'fc' (9007199254740992 rows x 784 floats)", "the byte count overflows size_t"});
    // The failed forward left no output behind, and the model still runs smaller batches.
    require_error<config_error>([&] { wide.backward(std::span<const float>{}); }, {"call forward first"});
    const std::vector<float> x(3, 1.0f);
    CHECK(wide.forward(std::span<const float>(x), Layout::rows(3)).size() == 3 * 784);

    // A batch of 10^12 rows with a 1-element input: the size check fires first (it needs no memory).
    Model<Seq<Named<"fc", Linear<5, D>>, ReLU>> mlp;
    require_error<shape_error>([&] { mlp.forward(std::span<const float>(one), Layout::rows(rows)); },
                               {"needs 5000000000000 values", "1000000000000 rows x 5", "got 1"});
}

TEST_CASE("optimizer state that cannot be allocated is an allocation_error") {
    constexpr std::size_t parameters = std::size_t{1} << 60;
    require_error<allocation_error>([&] { AdamW<float> adam(parameters); },
                                    {"AdamW", "cannot allocate 4611686018427387904 bytes", "the first moments"});
    require_error<allocation_error>([&] { SGD<double> sgd(parameters * 4); },
                                    {"SGD", "cannot allocate 4611686018427387904 doubles", "the momentum buffer",
                                     "the byte count overflows size_t"});
}
