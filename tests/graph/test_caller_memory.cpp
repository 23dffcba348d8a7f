// A Model on memory its caller owns: parameters it only reads (Model(arena): flash, ROM, a mapped file) and
// activations in a buffer the caller sized with activation_bytes (use_activation_memory). Both compute the same bits
// as a Model with memory of its own.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <utility>
#include <vector>

#include "architectures.hpp"
#include "catch.hpp"
#include "require_error.hpp"

#include <lnfold/lnfold.hpp>

using namespace lnfold;

namespace {
using lnfold_test::arch::D;
using lnfold_test::arch::Gpt;  // the fold tests' GPT
using lnfold_test::arch::T;
using lnfold_test::arch::V;

std::vector<std::int32_t> token_ids(std::size_t count) {
    std::vector<std::int32_t> ids(count);
    for (std::size_t i = 0; i < count; ++i) ids[i] = static_cast<std::int32_t>((7 * i + 2) % V);
    return ids;
}
bool same_bits(const tensor_view<float>& a, const tensor_view<float>& b) {
    return a.size() == b.size() && std::memcmp(a.data, b.data, a.size() * sizeof(float)) == 0;
}
// `bytes` bytes at a 64-byte aligned address inside `storage`.
std::span<std::byte> aligned_span(std::vector<std::byte>& storage, std::size_t bytes) {
    storage.assign(bytes + 64, std::byte{0});
    const std::size_t skip = (64 - reinterpret_cast<std::uintptr_t>(storage.data()) % 64) % 64;
    return {storage.data() + skip, bytes};
}
}  // namespace

TEST_CASE("a model on the caller's read-only parameters computes what the owning model does") {
    Model<Gpt> owner(5);
    const std::vector<float> flash(owner.parameters().begin(), owner.parameters().end());
    Model<Gpt> view{std::span<const float>(flash)};
    CHECK(view.borrows_parameters());
    CHECK(view.memory_report().parameters == 0);
    const std::vector<std::int32_t> ids = token_ids(2 * T);
    const std::span<const std::int32_t> input(ids);
    CHECK(same_bits(owner.forward(input, Layout::sequence(2, T)), view.forward(input, Layout::sequence(2, T))));
    CHECK(std::as_const(view).parameter("ln_f.weight").size() == D);  // reading works (the const form)
    // The view never writes the caller's memory.
    require_error<config_error>([&] { (void)view.parameters(); }, {"Model::parameters", "the caller's"});
    require_error<config_error>([&] { view.initialize(1); }, {"Model::initialize", "the caller's"});
    // Gradients are the Model's own: backward works.
    std::vector<float> dy(2 * T * V, 0.01f);
    view.forward(input, Layout::sequence(2, T));
    view.backward(std::span<const float>(dy));
    CHECK(view.memory_report().gradients == Model<Gpt>::arena_size * sizeof(float));
    // A copy owns its parameters.
    Model<Gpt> copy = view;
    CHECK(!copy.borrows_parameters());
    copy.parameters()[0] += 1.0f;
    CHECK(flash[0] == owner.parameters()[0]);
    // The arena must be the network's size.
    require_error<shape_error>([&] { Model<Gpt> bad{std::span<const float>(flash).first(10)}; },
                               {"Model(arena)", std::to_string(Model<Gpt>::arena_size), "got 10"});
}

TEST_CASE("activations in the caller's memory: same results, no buffers of the Model's own") {
    Model<Gpt> reference(6);
    Model<Gpt> model = reference;
    const Layout layout = Layout::sequence(3, T);
    const std::size_t bytes = model.activation_bytes(layout).value();
    std::vector<std::byte> storage;
    const std::span<std::byte> memory = aligned_span(storage, bytes);
    REQUIRE(model.use_activation_memory(memory, layout).ok());
    const std::vector<std::int32_t> ids = token_ids(3 * T);
    const std::span<const std::int32_t> input(ids);
    const tensor_view<float> y = model.forward(input, layout);
    CHECK(same_bits(y, reference.forward(input, layout)));
    const auto* first = reinterpret_cast<const std::byte*>(y.data);
    CHECK((first >= memory.data() && first < memory.data() + memory.size()));
    CHECK(model.memory_report().activations == 0);
    // A smaller layout fits; a larger one fails before computing anything, naming the caller's memory.
    CHECK(same_bits(model.forward(input.first(2 * T), Layout::sequence(2, T)),
                    reference.forward(input.first(2 * T), Layout::sequence(2, T))));
    const std::vector<std::int32_t> more = token_ids(4 * T);
    const result<tensor_view<float>> larger = model.try_forward(std::span<const std::int32_t>(more), Layout::sequence(4, T));
    REQUIRE(!larger.has_value());
    CHECK(larger.error().kind() == error_kind::allocation);
    CHECK(larger.error().message().find("the caller's memory holds") != std::string::npos);
}

TEST_CASE("activation memory that is too small or misaligned is refused") {
    Model<Gpt> model(7);
    const Layout layout = Layout::sequence(2, T);
    const std::size_t bytes = model.activation_bytes(layout).value();
    std::vector<std::byte> storage;
    const status small = model.use_activation_memory(aligned_span(storage, bytes - 64), layout);
    CHECK(small.kind() == error_kind::allocation);
    CHECK(small.message().find("needs " + std::to_string(bytes) + " bytes") != std::string::npos);
    const status misaligned = model.use_activation_memory(aligned_span(storage, bytes + 64).subspan(4), layout);
    CHECK(misaligned.kind() == error_kind::config);
    CHECK(model.use_activation_memory(aligned_span(storage, bytes), Layout::sequence(2, T + 1)).kind() ==
          error_kind::index);  // longer than the position table
}
