// Fused residual add + norm: a Residual whose sum goes straight into a LayerNorm / RMSNorm leaves the addition to
// the norm (add_layer_norm_rows / add_rms_norm_rows). Which adds are fused is decided from the graph; with fusion
// on and off, every node's output, the network output and every gradient must be bit-identical (the fused kernels
// equal add-then-norm exactly), for Pre-LN and Post-LN Transformers, a ViT, a folded GPT (RMSNorm with bias), in
// float and double, in inference and training mode.
#include <cstdint>
#include <span>
#include <vector>

#include "architectures.hpp"
#include "catch.hpp"

using namespace lnfold;
using namespace lnfold_test::arch;

namespace {

constexpr std::size_t Length = lnfold_test::arch::T;  // sequence length of the example architectures

// The residual adds of a model that leave their sum to the next node.
template <class Net, class T>
std::size_t deferred_adds(const Model<Net, T>& m) {
    std::size_t count = 0;
    for (std::size_t n = 0; n < Model<Net, T>::node_count; ++n)
        if (Model<Net, T>::graph.nodes[n].residual_add && defers_residual_sum(m.state(), n))
            ++count;
    return count;
}

template <class T>
bool bit_equal(const T* a, const T* b, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i)
        if (!(a[i] == b[i])) return false;
    return true;
}

template <class T>
std::vector<T> normal_values(std::size_t n, std::uint64_t seed) {
    random_stream rng(seed);
    std::vector<T> v(n);
    for (auto& x : v) x = static_cast<T>(rng.normal());
    return v;
}

std::vector<std::int32_t> token_ids(std::size_t n) {
    random_stream rng(11);
    std::vector<std::int32_t> ids(n);
    for (auto& id : ids) id = static_cast<std::int32_t>(rng.below(V));
    return ids;
}

// Forward and backward with fusion on (the default) and off: node outputs, output and gradients bit for bit.
template <class Net, class T, class Input>
void check_same(const Model<Net, T>& trained, std::span<const Input> input, const Layout& layout, bool training) {
    Model<Net, T> fused = trained, unfused = trained;
    unfused.set_fused_add_norm(false);
    REQUIRE(fused.fused_add_norm());
    REQUIRE_FALSE(unfused.fused_add_norm());
    fused.set_training(training, 5);
    unfused.set_training(training, 5);
    const auto y = fused.forward(input, layout);
    const auto z = unfused.forward(input, layout);
    REQUIRE(y.size() == z.size());
    CHECK(bit_equal(y.data, z.data, y.size()));
    const auto& a = fused.state();
    const auto& b = unfused.state();
    for (std::size_t n = 0; n < Model<Net, T>::node_count; ++n) {
        INFO("node " << n << " " << (Model<Net, T>::graph.nodes[n].path.view()));
        const std::size_t count = a.results[n].layout.row_count() * a.results[n].width;
        REQUIRE(count == b.results[n].layout.row_count() * b.results[n].width);
        CHECK(bit_equal(a.results[n].data, b.results[n].data, count));
    }
    const auto dy = normal_values<T>(y.size(), 77);
    fused.zero_grad();
    unfused.zero_grad();
    fused.backward(std::span<const T>(dy));
    unfused.backward(std::span<const T>(dy));
    CHECK(bit_equal(fused.gradients().data(), unfused.gradients().data(), fused.gradients().size()));
}

template <class Net, class T>
void check_model(const Model<Net, T>& m, std::size_t expected_deferred) {
    CHECK(deferred_adds(m) == expected_deferred);
    if constexpr (Model<Net, T>::reads_tokens) {
        const auto ids = token_ids(2 * Length);
        for (bool training : {false, true})
            check_same(m, std::span<const std::int32_t>(ids), Layout::sequence(2, Length), training);
    } else {
        const auto x = normal_values<T>(2 * Image * Image * 3, 13);
        for (bool training : {false, true}) check_same(m, std::span<const T>(x), Layout::image(2, Image, Image), training);
    }
}

}  // namespace

TEMPLATE_TEST_CASE("fused residual add + norm is bit-identical to add, then norm", "[graph][fusion]", float, double) {
    using F = TestType;
    SECTION("Pre-LN GPT: every add feeds ln_2, the next ln_1 or ln_f") {
        check_model(Model<Gpt, F>(3, init_scheme::normal), 2 * L);
    }
    SECTION("without ln_f the last add feeds the head and is not fused") {
        check_model(Model<GptNoFinalLn, F>(3, init_scheme::normal), 2 * L - 1);
    }
    SECTION("Post-LN BERT: every add feeds attention_ln or output_ln") {
        check_model(Model<Bert, F>(3, init_scheme::normal), 2 * L);
    }
    SECTION("ViT") { check_model(Model<Vit, F>(3, init_scheme::normal), 2 * L); }
    SECTION("folded GPT: the adds feed RMSNorms with bias") {
        check_model(fold(Model<Gpt, F>(3, init_scheme::normal)), 2 * L);
    }
}
