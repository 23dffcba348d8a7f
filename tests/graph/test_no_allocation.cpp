// After the first forward call of a given shape, forward allocates nothing: every operator new and every
// malloc in this process is counted, and a second call of the same shape must leave both counters unchanged.
#include <cstdint>
#include <cstdlib>
#include <new>
#include <vector>

#include "catch.hpp"

#include <lnfold/lnfold.hpp>

namespace {
std::uint64_t new_calls = 0;
}  // namespace

void* operator new(std::size_t size) {
    ++new_calls;
    if (void* p = std::malloc(size ? size : 1)) return p;
    throw std::bad_alloc();
}
void* operator new(std::size_t size, std::align_val_t alignment) {
    ++new_calls;
    const std::size_t a = static_cast<std::size_t>(alignment);
    if (void* p = std::aligned_alloc(a, (size + a - 1) / a * a)) return p;
    throw std::bad_alloc();
}
void* operator new[](std::size_t size) { return ::operator new(size); }
void* operator new[](std::size_t size, std::align_val_t alignment) { return ::operator new(size, alignment); }
// The nothrow forms (Catch2 uses them) must come from the same malloc as the deletes below.
void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
    ++new_calls;
    return std::malloc(size ? size : 1);
}
void* operator new[](std::size_t size, const std::nothrow_t& tag) noexcept { return ::operator new(size, tag); }
void* operator new(std::size_t size, std::align_val_t alignment, const std::nothrow_t&) noexcept {
    ++new_calls;
    const std::size_t a = static_cast<std::size_t>(alignment);
    return std::aligned_alloc(a, (size + a - 1) / a * a);
}
void* operator new[](std::size_t size, std::align_val_t alignment, const std::nothrow_t& tag) noexcept {
    return ::operator new(size, alignment, tag);
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept { std::free(p); }

using namespace lnfold;

namespace {

constexpr std::size_t V = 64, T = 32, D = 64;
using Block = Seq<Residual<Seq<Named<"ln_1", LayerNorm<D>>, Named<"attn", SelfAttention<D, 4, true>>>>,
                  Residual<Seq<Named<"ln_2", LayerNorm<D>>, Linear<D, 4 * D>, GELU, Linear<4 * D, D>, Dropout<100>>>>;
using Gpt = Seq<Named<"wte", Embedding<V, D>>, Named<"wpe", PositionEmbedding<T, D>>, Named<"h", Repeat<2, Block>>,
                Named<"ln_f", LayerNorm<D>>, Named<"head", Linear<D, V, false>>>;
using Vit = Seq<Conv2d<3, D, 4, 4>, ClassToken<D>, PositionEmbedding<17, D>, Repeat<2, Block>, RMSNorm<D, true>,
                TakeToken<0>, LayerScale<D>, Centering, SiLU, ReLU, GELUTanh, Linear<D, 10>>;

}  // namespace

TEST_CASE("a GPT forward allocates nothing after the first call of a shape") {
    Model<Gpt> model(1);
    std::vector<std::int32_t> ids(3 * T);
    for (std::size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<std::int32_t>(i % V);
    const std::span<const std::int32_t> input(ids);
    model.forward(input, Layout::sequence(3, T));
    const std::uint64_t before = new_calls;
    model.forward(input, Layout::sequence(3, T));
    model.forward(input.first(3 * 7), Layout::sequence(3, 7));  // a smaller shape fits the same buffers
    CHECK(new_calls == before);
    model.set_training(true, 5);  // training-mode dropout draws its mask without allocating either
    model.forward(input, Layout::sequence(3, T));
    CHECK(new_calls == before);
    // The counter does see the library's allocations: a larger batch grows the caches once.
    std::vector<std::int32_t> more(6 * T, 1);
    model.forward(std::span<const std::int32_t>(more), Layout::sequence(6, T));
    CHECK(new_calls > before);
}

TEST_CASE("a ViT forward in double allocates nothing after the first call of a shape") {
    Model<Vit, double> model(2);
    std::vector<double> pixels(2 * 16 * 16 * 3, 0.25);
    model.forward(std::span<const double>(pixels), Layout::image(2, 16, 16));
    const std::uint64_t before = new_calls;
    for (int i = 0; i < 3; ++i) model.forward(std::span<const double>(pixels), Layout::image(2, 16, 16));
    CHECK(new_calls == before);
}
