// A user's translation unit under the strictest common warnings: -Wall -Wextra -Wpedantic -Wshadow -Wconversion
// -Werror (tests/packaging/CMakeLists.txt; Eigen and xsimd come in as system headers). It includes every public
// header and instantiates real work in float and double: forward + backward of a GPT-style, a ViT-style, a
// ConvNeXt-style and an MLP network, a loss, clip_grad_norm, AdamW and SGD steps, fold analysis and reports,
// fold(), the CBWC twin and its export, rms_t, explicit centring, a safetensors round trip through bytes, and a
// model on the caller's parameters and activation memory, and text generation (decoder, sampler, generate).
// Compiling is the test; running it (a few milliseconds) checks every output is finite. With --data it also
// reads Fashion-MNIST and the fortunes corpus (the loaders are compiled either way).
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <lnfold/lnfold.hpp>
#include <lnfold/data/fashion_mnist.hpp>
#include <lnfold/data/file_bytes.hpp>
#include <lnfold/data/text_corpus.hpp>
#include <lnfold/generate/generate.hpp>
#include <lnfold/io/arena.hpp>
#include <lnfold/io/atomic_file.hpp>
#include <lnfold/io/half.hpp>
#include <lnfold/io/json.hpp>
#include <lnfold/io/safetensors.hpp>
#include <lnfold/io/weights.hpp>
#include <lnfold/kernels/kernels.hpp>
#include <lnfold/kernels/reference.hpp>
#include <lnfold/models/gpt2.hpp>
#include <lnfold/models/vit.hpp>
#include <lnfold/train/cbwc.hpp>
#include <lnfold/train/loss.hpp>
#include <lnfold/train/optimizer.hpp>
#include <lnfold/train/schedule.hpp>

using namespace lnfold;

namespace {

constexpr std::size_t Vocab = 32, Context = 8, D = 16, Heads = 2;

// GPT-style, Pre-LN, causal.
using GptBlock = Seq<Residual<Seq<Named<"ln_1", LayerNorm<D>>, Named<"attn", SelfAttention<D, Heads, true>>>>,
                     Residual<Seq<Named<"ln_2", LayerNorm<D>>, Named<"c_fc", Linear<D, 4 * D>>, GELUTanh,
                                  Named<"c_proj", Linear<4 * D, D>>>>>;
using Gpt = Seq<Named<"wte", Embedding<Vocab, D>>, Named<"wpe", PositionEmbedding<Context, D>>,
                Named<"h", Repeat<2, GptBlock>>, Named<"ln_f", LayerNorm<D>>,
                Named<"lm_head", Linear<D, Vocab, false>>>;

// ViT-style on 4x4 RGB images, 2x2 patches (4 tokens + class token), with the remaining layer kinds.
constexpr std::size_t Image = 4, Patch = 2, Tokens = (Image / Patch) * (Image / Patch) + 1;
using VitBlock = Seq<Residual<Seq<Named<"norm_1", RMSNorm<D>>, Named<"attn", SelfAttention<D, Heads>>,
                                  Named<"ls_1", LayerScale<D>>>>,
                     Residual<Seq<Named<"norm_2", LayerNorm<D>>, Named<"fc1", Linear<D, 2 * D>>, SiLU, Dropout<100>,
                                  Named<"fc2", Linear<2 * D, D>>, ReLU, Centering, Named<"fc3", Linear<D, D>>, GELU,
                                  Named<"ls_2", LayerScale<D>>>>>;
using Vit = Seq<Named<"patch", Conv2d<3, D, Patch, Patch>>, Named<"cls", ClassToken<D>>,
                Named<"pos", PositionEmbedding<Tokens, D>>, Named<"blocks", Repeat<2, VitBlock>>,
                Named<"norm", RMSNorm<D, true>>, TakeToken<0>, Named<"head", Linear<D, 5>>>;

// ConvNeXt-style: depthwise conv, LayerNorm, mean over pixels; a GroupNorm before the head; the head tied to nothing.
using ConvBlock = Residual<Seq<Named<"dwconv", Conv2d<8, 8, 3, 1, 1, 8>>, Named<"norm", LayerNorm<8>>,
                               Named<"pw1", Linear<8, 16>>, GELU, Named<"pw2", Linear<16, 8>>,
                               Named<"gamma", LayerScale<8>>>>;
using ConvNet = Seq<Named<"stem", Conv2d<3, 8, 2, 2>>, Named<"stem_norm", LayerNorm<8>>,
                    Named<"stages", Repeat<2, ConvBlock>>, MeanPool, Named<"head_norm", LayerNorm<8>>,
                    Named<"head_gn", GroupNorm<8, 2>>, Named<"head", Linear<8, 4>>>;

using Mlp = Seq<Named<"fc1", Linear<12, 16>>, Named<"ln1", LayerNorm<16>>, ReLU, Dropout<50>,
                Named<"fc2", Linear<16, 16>>, Named<"ln2", LayerNorm<16>>, GELU, Named<"head", Linear<16, 3>>>;

// A BLOOM-style stream (LayerNorm right after the embedding) for explicit centring.
using Bloom = Seq<Named<"wte", Embedding<Vocab, D>>, Named<"wte_ln", LayerNorm<D>>, Named<"h", Repeat<1, GptBlock>>,
                  Named<"ln_f", LayerNorm<D>>, Named<"lm_head", Linear<D, Vocab, false>>>;

template <class T>
bool all_finite(std::span<const T> values) {
    for (const T v : values)
        if (!std::isfinite(v)) return false;
    return !values.empty();
}

template <class T>
struct batch {
    std::vector<std::int32_t> ids, targets;
    std::vector<T> values;
    Layout layout;
};

template <class Net, class T>
batch<T> make_batch(Layout layout) {
    random_stream rng(3);
    batch<T> b;
    b.layout = layout;
    const std::size_t rows = layout.row_count();
    if constexpr (Model<Net, T>::reads_tokens) {
        for (std::size_t i = 0; i < rows; ++i) b.ids.push_back(static_cast<std::int32_t>(rng.below(Vocab)));
    } else {
        for (std::size_t i = 0; i < rows * Model<Net, T>::input_width; ++i)
            b.values.push_back(static_cast<T>(rng.uniform(-1, 1)));
    }
    return b;
}

template <class M, class T>
tensor_view<T> run(M& model, const batch<T>& b) {
    if constexpr (M::reads_tokens) return model.forward(std::span<const std::int32_t>(b.ids), b.layout);
    else return model.forward(std::span<const T>(b.values), b.layout);
}

// One training step (loss, backward, clipping, optimizer), then the forward again; false on a non-finite value.
template <class M, class T, class Optimizer>
bool train_step(M& model, const batch<T>& b, std::size_t classes, Optimizer& optimizer, double lr) {
    const tensor_view<T> logits = run(model, b);
    std::vector<std::int32_t> targets(logits.rows());
    for (std::size_t r = 0; r < targets.size(); ++r) targets[r] = static_cast<std::int32_t>(r % classes);
    std::vector<T> grad(logits.size());
    const double loss = softmax_cross_entropy(logits, std::span<const std::int32_t>(targets), std::span<T>(grad));
    model.zero_grad();
    if constexpr (M::reads_tokens) {
        model.backward(std::span<const T>(grad));
    } else {
        std::vector<T> input_grad(b.values.size());
        model.backward(std::span<const T>(grad), std::span<T>(input_grad));
        if (!all_finite(std::span<const T>(input_grad))) return false;
    }
    const double norm = clip_grad_norm(model.gradients(), 1.0);
    const auto mask = weight_decay_mask(model);
    optimizer.step(model.parameters(), model.gradients(), lr, std::span<const std::uint8_t>(mask));
    const tensor_view<T> after = run(model, b);
    return std::isfinite(loss) && std::isfinite(norm) && all_finite(std::span<const T>(model.gradients())) &&
           all_finite(after.span());
}

// Float and double: train steps with AdamW and SGD (with Dropout in training mode), fold, the CBWC twin, rms_t,
// a save/load round trip through bytes and an MSE loss.
template <class Net, class T>
bool exercise(const char* name, std::size_t classes, Layout layout) {
    Model<Net, T> model(1, init_scheme::normal);
    const batch<T> b = make_batch<Net, T>(layout);
    AdamW<T> adamw(model.parameters().size(), {0.9, 0.999, 1e-8, 0.01});
    SGD<T> sgd(model.parameters().size(), {0.9, 0.0, 1e-4, true});
    const lr_schedule schedule{lr_schedule::kind::cosine, 1e-3, 1, 4, 1e-4};
    bool ok = train_step(model, b, classes, adamw, schedule(0));
    model.set_training(true, 7);
    model.set_step(1);
    ok = ok && train_step(model, b, classes, sgd, schedule(1));
    model.set_training(false);

    // Fold: same outputs up to rounding.
    const tensor_view<T> y = run(model, b);
    const std::vector<T> reference(y.span().begin(), y.span().end());
    auto folded = fold(model);
    const tensor_view<T> z = run(folded, b);
    double scale = 0, diff = 0;
    for (std::size_t i = 0; i < reference.size(); ++i) {
        scale = std::fmax(scale, std::fabs(static_cast<double>(reference[i])));
        diff = std::fmax(diff, std::fabs(static_cast<double>(reference[i] - z.span()[i])));
    }
    ok = ok && all_finite(z.span()) && diff <= 1e-3 * scale;

    // The CBWC twin trains and exports; rms_t runs.
    Model<cbwc_t<Net>, T> twin;
    std::copy(model.parameters().begin(), model.parameters().end(), twin.parameters().begin());
    AdamW<T> twin_opt(twin.parameters().size());
    ok = ok && train_step(twin, b, classes, twin_opt, 1e-3);
    auto exported = export_folded<Net>(twin);
    ok = ok && all_finite(run(exported, b).span());
    Model<rms_t<Net>, T> rms(2);
    ok = ok && all_finite(run(rms, b).span());

    // safetensors through bytes, both directions of precision.
    const std::vector<std::uint8_t> bytes = io::save_bytes(model);
    Model<Net, T> loaded(5);
    const io::load_result r = io::load(loaded, io::safetensors_file(bytes, "strict.safetensors"));
    ok = ok && r.loaded.size() == Model<Net, T>::tensor_count && io::save_bytes(loaded) == bytes;
    using Other = std::conditional_t<std::is_same_v<T, float>, double, float>;
    Model<Net, Other> other(6);
    io::load(other, io::safetensors_file(bytes));
    ok = ok && all_finite(std::span<const Other>(other.parameters()));

    // Mean squared error against zeros.
    const tensor_view<T> out = run(model, b);
    std::vector<T> target(out.size()), grad(out.size());
    ok = ok && std::isfinite(mean_squared_error(out, std::span<const T>(target), std::span<T>(grad)));

    if (!ok) std::fprintf(stderr, "strict_warnings: %s (%s) FAILED\n", name, sizeof(T) == 4 ? "float" : "double");
    return ok;
}

template <class Net>
bool exercise_both(const char* name, std::size_t classes, Layout layout) {
    const bool f = exercise<Net, float>(name, classes, layout);
    const bool d = exercise<Net, double>(name, classes, layout);
    return f && d && !format_fold_report<Net>().empty() && fold_report<Net>().size() == layernorm_count_v<Net>;
}

// Embedded use: a model on the caller's read-only parameters, its activations in the caller's memory, try_forward.
bool exercise_caller_memory() {
    Model<Gpt> owner(5);
    const std::vector<float> flash(owner.parameters().begin(), owner.parameters().end());
    Model<Gpt> view{std::span<const float>(flash)};
    const Layout layout = Layout::sequence(2, 5);
    const result<std::size_t> bytes = view.activation_bytes(layout);
    if (!bytes) return false;
    std::vector<std::byte> storage(*bytes + arena_alignment_bytes);
    const std::size_t skip = (arena_alignment_bytes - reinterpret_cast<std::uintptr_t>(storage.data()) %
                                                          arena_alignment_bytes) % arena_alignment_bytes;
    if (!view.use_activation_memory(std::span<std::byte>(storage).subspan(skip, *bytes), layout).ok()) return false;
    const std::vector<std::int32_t> ids{1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
    const result<tensor_view<float>> y = view.try_forward(std::span<const std::int32_t>(ids), layout);
    if (!y.has_value() || !all_finite(y.value().span()) || view.memory_report().parameters != 0) return false;
    // The non-throwing reader and an arena read in place from a file's bytes (save_arena writes such a file).
    const result<io::safetensors_file> file = io::safetensors_file::try_from(io::byte_buffer(io::save_bytes(owner)));
    if (!file) return false;
    Model<Gpt> loaded(uninitialized);
    if (!io::try_load(loaded, *file)) return false;
    [[maybe_unused]] const auto save = [](const Model<Gpt>& m, const std::string& path) { io::save_arena(m, path); };
    [[maybe_unused]] const auto in_place = [](const io::safetensors_file& f) { return io::arena_of<Gpt, float>(f); };
    return io::arena_signature<Gpt>().size() > 0;
}

// Generation: a decoder (prefill, steps of a batch of two), sampling, and generate with a streaming callback.
template <class T>
bool exercise_generation() {
    Model<Gpt, T> model(7);
    auto state = model.decoder(2, 5);
    const std::vector<std::int32_t> a{1, 2, 3}, b{4};
    const std::span<const std::int32_t> prompts[2] = {a, b};
    bool ok = all_finite(state.prefill(prompts).span());
    const std::int32_t next[2] = {5, 6};
    ok = ok && all_finite(state.step(next).span()) && state.length(1) == 2;
    generate_options options;
    options.max_new_tokens = 7;
    options.sampling = {0.8, 3, 0.9, 1.2, 11};
    std::size_t streamed = 0;
    options.on_token = [&](std::int32_t) { ++streamed; };
    const std::vector<std::int32_t> out = generate(model, std::span<const std::int32_t>(a), options);
    return ok && out.size() == 7 && streamed == 7 && check(options.sampling).ok();
}

bool exercise_data() {
    // Only with --data: the installed Debian datasets; a missing one is an lnfold::error, not a failure here.
    bool ok = true;
    try {
        const data::image_dataset images = data::load_fashion_mnist("test", 16);
        ok = ok && images.count == 16 && all_finite(std::span<const float>(images.pixels));
    } catch (const lnfold::error& e) {
        std::fprintf(stderr, "strict_warnings: %s\n", e.what());
    }
    try {
        const data::text_corpus corpus = data::load_fortunes();
        ok = ok && corpus.vocab_size() > 0;
    } catch (const lnfold::error& e) {
        std::fprintf(stderr, "strict_warnings: %s\n", e.what());
    }
    return ok;
}

}  // namespace

int main(int argc, char** argv) {
    bool ok = exercise_both<Gpt>("gpt", Vocab, Layout::sequence(2, 5));
    ok = exercise_both<Vit>("vit", 5, Layout::image(2, Image, Image)) && ok;
    ok = exercise_both<ConvNet>("convnet", 4, Layout::image(2, 4, 6)) && ok;
    ok = exercise_both<Mlp>("mlp", 3, Layout::rows(4)) && ok;
    ok = exercise_caller_memory() && ok;
    ok = exercise_generation<float>() && exercise_generation<double>() && ok;

    // Explicit centring of a BLOOM-style stream, and its fold.
    Model<with_centering_t<Bloom>> bloom(1, init_scheme::normal);
    const std::vector<std::int32_t> ids{1, 2, 3, 4, 5, 6};
    ok = ok && !format_centering_plan<Bloom>().empty() &&
         all_finite(fold(bloom).forward(std::span<const std::int32_t>(ids), Layout::sequence(2, 3)).span());

    // A corpus from text, encoded; half-precision round trips; a JSON header parsed.
    const data::text_corpus corpus = data::make_corpus("strict warnings");
    ok = ok && corpus.encode("warn").size() == 4;
    ok = ok && io::f16_to_float(io::float_to_f16(1.5f)) == 1.5f && io::bf16_to_float(io::float_to_bf16(-2.0f)) == -2.0f;
    const io::json_value json = io::parse_json(R"({"a": [1, 2.5, "x"], "b": null})");
    std::uint64_t one = 0;
    ok = ok && json.is_object() && json.find("a")->items().front().as_u64(one) && one == 1;
    // The scalar long-double reference of the norm kernels (for users' tests).
    const double row[4] = {1, 2, 3, 5}, dy[4] = {1, 0, 0, -1};
    ok = ok && kernels::reference::layer_norm<double>(row, 1, 4, nullptr, nullptr, 1e-5L).y.size() == 4 &&
         kernels::reference::rms_norm_backward<double>(row, dy, 1, 4, nullptr, 1e-5L).dx.size() == 4;
    if (argc > 1 && std::string_view(argv[1]) == "--data") ok = exercise_data() && ok;

    std::printf("strict_warnings: %s; %s\n", ok ? "OK" : "FAILED", build_summary().c_str());
    return ok ? 0 : 1;
}
