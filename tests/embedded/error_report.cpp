// The same errors with and without exceptions. Built twice (tests/embedded/CMakeLists.txt): with exceptions, and
// with -fno-exceptions (LNFOLD_EXCEPTIONS 0).
//   error_report statuses   prints, for each bad input below, the kind and message Model::try_forward or
//                           io::try_load returns; with exceptions it also checks that forward / load throws that
//                           class with that message, and that a good input gives the same output both ways. The two
//                           builds' outputs must be equal.
//   error_report handler    (without exceptions) installs an error handler and calls forward with a bad input:
//                           the handler must receive try_forward's message (it prints it and ends the program).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include <lnfold/io/weights.hpp>
#include <lnfold/lnfold.hpp>

using namespace lnfold;

namespace {

constexpr std::size_t V = 16, T = 8, D = 16;
using Block = Seq<Residual<Seq<Named<"ln_1", LayerNorm<D>>, Named<"attn", SelfAttention<D, 2, true>>>>,
                  Residual<Seq<Named<"ln_2", LayerNorm<D>>, Named<"fc", Linear<D, 2 * D>>, GELU,
                               Named<"proj", Linear<2 * D, D>>>>>;
using Gpt = Seq<Named<"wte", Embedding<V, D>>, Named<"wpe", PositionEmbedding<T, D>>, Named<"h", Repeat<1, Block>>,
                Named<"ln_f", LayerNorm<D>>, Named<"head", Linear<D, V, false>>>;
using Vit = Seq<Named<"patch", Conv2d<3, D, 4, 4>>, Named<"cls", ClassToken<D>>, Named<"pos", PositionEmbedding<5, D>>,
                Named<"h", Repeat<1, Block>>, Named<"norm", LayerNorm<D>>, TakeToken<0>, Named<"head", Linear<D, 3>>>;
using Mlp = Seq<Named<"fc1", Linear<6, 8>>, Named<"ln", LayerNorm<8>>, ReLU, Named<"fc2", Linear<8, 2>>>;

struct bad_input {
    const char* name;
    std::function<status()> try_forward;  // Model::try_forward's (or io::try_load's) status
    std::function<void()> forward;        // Model::forward (io::load) on the same input
};

int failures = 0;

void check_statuses(const std::vector<bad_input>& cases) {
    for (const bad_input& c : cases) {
        const status s = c.try_forward();
        std::printf("%s: %s: %s\n", c.name, s.ok() ? "ok" : error_kind_name(s.kind()), s.message().c_str());
#if LNFOLD_EXCEPTIONS
        try {
            c.forward();
            std::printf("  FAILED: forward did not throw\n");
            ++failures;
        } catch (const error& e) {
            const bool same_kind = std::strstr(typeid(e).name(), error_kind_name(s.kind())) != nullptr;
            if (!same_kind || s.message() != e.what()) {
                std::printf("  FAILED: forward threw %s: %s\n", typeid(e).name(), e.what());
                ++failures;
            }
        }
#endif
    }
}

}  // namespace

int main(int argc, char** argv) {
    const std::string mode = argc > 1 ? argv[1] : "";
    Model<Gpt> gpt(1);
    Model<Vit> vit(2);
    Model<Mlp> mlp(3);
    std::vector<std::int32_t> ids(2 * T, 1), bad_ids(2 * T, 1);
    bad_ids[11] = static_cast<std::int32_t>(V + 3);
    std::vector<std::int32_t> long_ids(T + 1, 0);
    std::vector<float> pixels(2 * 8 * 8 * 3, 0.5f), features(4 * 6, 0.25f);
    // Weight files: one of another network (the MLP's weights for the ViT), one cut short, one that does not exist.
    const std::vector<std::uint8_t> mlp_file = io::save_bytes(mlp);
    const io::safetensors_file mlp_weights(mlp_file, "mlp.safetensors");
    const std::vector<std::uint8_t> cut(mlp_file.begin(), mlp_file.begin() + 100);
    using ids_t = std::span<const std::int32_t>;
    using values_t = std::span<const float>;
    const std::vector<bad_input> cases = {
        {"empty layout", [&] { return gpt.try_forward(ids_t(ids), Layout::sequence(0, T)).error(); },
         [&] { gpt.forward(ids_t(ids), Layout::sequence(0, T)); }},
        {"wrong id count", [&] { return gpt.try_forward(ids_t(ids), Layout::sequence(3, T)).error(); },
         [&] { gpt.forward(ids_t(ids), Layout::sequence(3, T)); }},
        {"id out of range", [&] { return gpt.try_forward(ids_t(bad_ids), Layout::sequence(2, T)).error(); },
         [&] { gpt.forward(ids_t(bad_ids), Layout::sequence(2, T)); }},
        {"sequence too long", [&] { return gpt.try_forward(ids_t(long_ids), Layout::sequence(1, T + 1)).error(); },
         [&] { gpt.forward(ids_t(long_ids), Layout::sequence(1, T + 1)); }},
        {"values for token ids", [&] { return gpt.try_forward(values_t(features), Layout::rows(4)).error(); },
         [&] { gpt.forward(values_t(features), Layout::rows(4)); }},
        {"rows for an image", [&] { return vit.try_forward(values_t(pixels), Layout::sequence(2, 64)).error(); },
         [&] { vit.forward(values_t(pixels), Layout::sequence(2, 64)); }},
        {"image below the kernel",
         [&] { return vit.try_forward(values_t(pixels).first(2 * 3 * 3 * 3), Layout::image(2, 3, 3)).error(); },
         [&] { vit.forward(values_t(pixels).first(2 * 3 * 3 * 3), Layout::image(2, 3, 3)); }},
        {"tokens not height x width",
         [&] { return vit.try_forward(values_t(pixels), Layout{2, 60, 8, 8}).error(); },
         [&] { vit.forward(values_t(pixels), Layout{2, 60, 8, 8}); }},
        {"more patches than positions",
         [&] { return vit.try_forward(values_t(pixels).first(12 * 12 * 3), Layout::image(1, 12, 12)).error(); },
         [&] { vit.forward(values_t(pixels).first(12 * 12 * 3), Layout::image(1, 12, 12)); }},
        {"wrong feature count", [&] { return mlp.try_forward(values_t(features), Layout::rows(3)).error(); },
         [&] { mlp.forward(values_t(features), Layout::rows(3)); }},
        {"weights of another network", [&] { return io::try_load(vit, mlp_weights).error(); },
         [&] { io::load(vit, mlp_weights); }},
        {"weights cut short",
         [&] { return io::safetensors_file::try_from(io::byte_buffer(cut), "cut.safetensors").error(); },
         [&] { io::safetensors_file file(cut, "cut.safetensors"); }},
        {"no weight file", [&] { return io::try_load(mlp, std::string("/nonexistent/lnfold/mlp.safetensors")).error(); },
         [&] { io::load(mlp, std::string("/nonexistent/lnfold/mlp.safetensors")); }},
        {"overflowing batch", [&] { return mlp.try_forward(values_t(features), Layout::sequence(SIZE_MAX / 2, 4)).error(); },
         [&] { mlp.forward(values_t(features), Layout::sequence(SIZE_MAX / 2, 4)); }},
    };
    if (mode == "statuses") {
        check_statuses(cases);
        // A good input: try_forward's value is forward's output, and a failed call in between changes nothing.
        const tensor_view<float> a = gpt.try_forward(ids_t(ids), Layout::sequence(2, T)).value();
        const std::vector<float> first(a.data, a.data + a.size());
        (void)gpt.try_forward(ids_t(bad_ids), Layout::sequence(2, T));
        const tensor_view<float> b = gpt.forward(ids_t(ids), Layout::sequence(2, T));
        const bool same = b.size() == first.size() && std::memcmp(b.data, first.data(), first.size() * sizeof(float)) == 0;
        std::printf("good input: %s\n", same ? "try_forward == forward" : "FAILED: outputs differ");
        failures += same ? 0 : 1;
        return failures == 0 ? 0 : 1;
    }
    if (mode == "handler" && !LNFOLD_EXCEPTIONS) {
        set_error_handler([](error_kind kind, const char* message) noexcept {
            std::printf("handler: %s: %s\n", error_kind_name(kind), message);
            std::fflush(stdout);
            std::_Exit(0);
        });
        cases[2].forward();
        std::printf("FAILED: forward returned after an error\n");
        return 1;
    }
    std::fprintf(stderr, "usage: error_report statuses | handler (the latter without exceptions)\n");
    return 2;
}
