// After the first call of a given shape, forward (and a whole training step: forward, loss, backward, AdamW)
// makes no heap call: every malloc, calloc, realloc, free and aligned allocation of the process is counted
// (support/heap_counter.hpp replaces glibc's; operator new, Eigen, OpenMP and the BLAS libraries all allocate
// through it), and a second call of the same shape must leave the counter unchanged. Eigen's own allocator is
// switched off around those calls as a second guard (EIGEN_RUNTIME_NO_MALLOC: an Eigen temporary would assert).
// Built without oneDNN (CMakeLists.txt): oneDNN's sgemm allocates its scratch space on every call; OpenBLAS and
// Eigen (kernels/eigen_gemm.hpp) do not. scripts/test.sh runs it again in the pure-Eigen build.
#define EIGEN_RUNTIME_NO_MALLOC
#include <cstdint>
#include <vector>

#include "catch.hpp"
#include "heap_counter.hpp"

#include <lnfold/lnfold.hpp>
#include <lnfold/train/loss.hpp>
#include <lnfold/train/optimizer.hpp>

namespace {
// Heap calls made by f(), with Eigen's allocator forbidden while it runs.
template <class F>
std::uint64_t heap_calls_of(F&& f) {
    const std::uint64_t before = heap_counter::calls();
    Eigen::internal::set_is_malloc_allowed(false);
    f();
    Eigen::internal::set_is_malloc_allowed(true);
    return heap_counter::calls() - before;
}
}  // namespace

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
    CHECK(heap_calls_of([&] { model.forward(input, Layout::sequence(3, T)); }) == 0);
    // A shorter sequence fits the Model's buffers (none grows); the matrix products of a new shape may still size
    // their packing space once (another backend can take a product with fewer rows), so the second call counts.
    std::vector<std::size_t> sizes;
    for (const auto& buffer : model.state().outputs) sizes.push_back(buffer.size());
    model.forward(input.first(3 * 7), Layout::sequence(3, 7));
    for (std::size_t n = 0; n < sizes.size(); ++n) CHECK(model.state().outputs[n].size() == sizes[n]);
    CHECK(heap_calls_of([&] { model.forward(input.first(3 * 7), Layout::sequence(3, 7)); }) == 0);
    model.set_training(true, 5);  // training-mode dropout draws its mask without allocating either
    CHECK(heap_calls_of([&] { model.forward(input, Layout::sequence(3, T)); }) == 0);
    // The counter does see the library's allocations: a larger batch grows the caches once.
    std::vector<std::int32_t> more(6 * T, 1);
    const std::uint64_t before = heap_counter::calls();
    model.forward(std::span<const std::int32_t>(more), Layout::sequence(6, T));
    CHECK(heap_counter::calls() > before);
}

TEST_CASE("a GPT training step allocates nothing after the first step of a shape") {
    Model<Gpt> model(3);
    model.set_training(true, 1);
    const std::size_t batch = 4;
    std::vector<std::int32_t> ids(batch * T), targets(batch * T);
    for (std::size_t i = 0; i < ids.size(); ++i) {
        ids[i] = static_cast<std::int32_t>((7 * i + 3) % V);
        targets[i] = static_cast<std::int32_t>((5 * i + 1) % V);
    }
    AdamW<float> optimizer(model.parameters().size());
    std::vector<float> dlogits(batch * T * V);
    double loss = 0;
    const auto step = [&] {
        model.zero_grad();
        const tensor_view<float> logits = model.forward(std::span<const std::int32_t>(ids), Layout::sequence(batch, T));
        loss = softmax_cross_entropy(logits, std::span<const std::int32_t>(targets), std::span<float>(dlogits));
        model.backward(std::span<const float>(dlogits));
        optimizer.step(model.parameters(), model.gradients(), 1e-3);
    };
    step();
    const double first = loss;
    CHECK(heap_calls_of([&] {
              for (int i = 0; i < 3; ++i) step();
          }) == 0);
    CHECK(loss < first);  // the steps did train
}

TEST_CASE("a ViT forward in double allocates nothing after the first call of a shape") {
    Model<Vit, double> model(2);
    std::vector<double> pixels(2 * 16 * 16 * 3, 0.25);
    model.forward(std::span<const double>(pixels), Layout::image(2, 16, 16));
    CHECK(heap_calls_of([&] {
              for (int i = 0; i < 3; ++i) model.forward(std::span<const double>(pixels), Layout::image(2, 16, 16));
          }) == 0);
}

TEST_CASE("decoding steps allocate nothing after the first step") {
    Model<Gpt> model(4);
    auto state = model.decoder(3, T);  // the caches: allocated here
    const std::int32_t a[5] = {1, 2, 3, 4, 5}, b[2] = {6, 7}, c[3] = {8, 9, 10};
    const std::span<const std::int32_t> ragged[3] = {a, b, c};
    state.prefill(ragged);
    std::int32_t next[3] = {11, 12, 13};
    state.step(next);
    CHECK(heap_calls_of([&] {
              for (int i = 0; i < 20; ++i) {
                  const tensor_view<float> logits = state.step(next);
                  for (std::size_t s = 0; s < 3; ++s) next[s] = static_cast<std::int32_t>((next[s] * 7 + 1) % V);
                  (void)logits;
              }
          }) == 0);
    CHECK(state.length(0) == 5 + 21);
}
