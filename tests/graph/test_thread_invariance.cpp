// Whole-model thread invariance: forward and backward of the GPT (plain and with a tied head), ViT, ConvNeXt and MLP
// test networks at 1, 2 and 3 threads give bit-identical outputs, node activations, node output gradients (each
// layer's input gradient flows into its producer's), parameter gradients and, for image inputs, the gradient of
// the network input (docs/architecture.md "Threads", docs/kernels.md "Threading").
//
// LNFOLD_PARALLEL_MIN_ELEMENTS is 1 here, so that every parallel_for_rows of these small networks really splits
// its rows, and LNFOLD_GEMM_MIN_COLUMN_BLOCK is 16, so that their matrix products split into several column
// blocks (kernels/gemm.hpp) shared among the threads; the thread count is forced through OpenMP (dynamic adjustment off) and checked inside each run, so the
// threaded path runs even on a one-core machine. Row counts are uneven: 5 sequences of 7 tokens (35 rows, cut
// 17 | 18 and 11 | 12 | 12 by parallel_for_rows), batches of more than 16 rows (OpenBLAS's side of the products,
// when it is the backend) and tiny batches whose ranges are single rows.
#define LNFOLD_PARALLEL_MIN_ELEMENTS 1  // before any lnfold header: config.hpp keeps a value defined earlier
#define LNFOLD_GEMM_MIN_COLUMN_BLOCK 16

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <span>
#include <sstream>
#include <string>
#include <vector>

#include "architectures.hpp"
#include "catch.hpp"


static_assert(LNFOLD_PARALLEL_MIN_ELEMENTS == 1, "test_thread_invariance needs every parallel_for_rows to split");

using namespace lnfold;
namespace arch = lnfold_test::arch;

namespace {

constexpr int thread_counts[] = {1, 2, 3};

#if LNFOLD_HAS_OPENMP
// Sets OpenMP to exactly `threads` threads (no dynamic adjustment) for its lifetime, then restores both settings.
class thread_setting {
public:
    explicit thread_setting(int threads) : saved_threads_(omp_get_max_threads()), saved_dynamic_(omp_get_dynamic()) {
        omp_set_dynamic(0);
        omp_set_num_threads(threads);
    }
    ~thread_setting() {
        omp_set_num_threads(saved_threads_);
        omp_set_dynamic(saved_dynamic_);
    }
    thread_setting(const thread_setting&) = delete;
    thread_setting& operator=(const thread_setting&) = delete;

private:
    int saved_threads_, saved_dynamic_;
};

// The threaded path really runs with `threads` threads: OpenMP reports them, a parallel region has them, and
// lnfold's parallel_for_rows hands 7 rows to `threads` different threads in `threads` ranges covering every row.
void require_threads(int threads) {
    REQUIRE(omp_get_max_threads() == threads);
    REQUIRE(lnfold::max_threads() == threads);
    int team = 0;
#pragma omp parallel
    {
#pragma omp single
        team = omp_get_num_threads();
    }
    REQUIRE(team == threads);

    constexpr std::size_t rows = 7;
    int ranges = 0;
    std::vector<int> owner(rows, -1);
    std::vector<int> used(static_cast<std::size_t>(threads), 0);
    parallel_for_rows(rows, 1, [&](std::size_t begin, std::size_t end) {
        const int t = omp_get_thread_num();
#pragma omp critical
        {
            ++ranges;
            if (t >= 0 && t < threads) used[static_cast<std::size_t>(t)] = 1;
            for (std::size_t r = begin; r < end; ++r) owner[r] = t;
        }
    });
    CHECK(ranges == threads);
    CHECK(std::count(used.begin(), used.end(), 1) == threads);
    CHECK(std::count(owner.begin(), owner.end(), -1) == 0);
}
#endif

// Everything one forward + backward produces.
template <class T>
struct snapshot {
    std::vector<T> output;
    std::vector<std::vector<T>> activations, node_grads;  // per node (node_grads empty where nothing flowed)
    std::vector<std::vector<T>> param_grads;              // per parameter tensor
    std::vector<T> input_grad;                            // dL/d(input); empty for token ids
};

template <class T>
std::vector<T> copy_of(const T* data, std::size_t count) {
    return data ? std::vector<T>(data, data + count) : std::vector<T>{};
}

// dL/d(output): fixed, smooth, sign-changing values.
template <class T>
std::vector<T> output_gradient(std::size_t count) {
    std::vector<T> dy(count);
    for (std::size_t i = 0; i < count; ++i) dy[i] = static_cast<T>(std::sin(0.37 * double(i) + 0.1));
    return dy;
}

template <class Net, class T, class Input>
snapshot<T> run_once(Model<Net, T>& model, const std::vector<Input>& input, const Layout& layout) {
    using M = Model<Net, T>;
    snapshot<T> s;
    model.zero_grad();
    const tensor_view<T> y = model.forward(std::span<const Input>(input), layout);
    s.output = copy_of(y.data, y.size());
    const executor<T>& ex = model.state();
    for (std::size_t n = 0; n < M::node_count; ++n) {
        const activation<T>& a = ex.results[n];
        s.activations.push_back(copy_of(a.data, a.layout.row_count() * a.width));
    }
    const std::vector<T> dy = output_gradient<T>(y.size());
    if constexpr (!M::reads_tokens) {
        s.input_grad.assign(input.size(), T(0));
        model.backward(std::span<const T>(dy), std::span<T>(s.input_grad));
    } else {
        model.backward(std::span<const T>(dy));
    }
    for (std::size_t n = 0; n < M::node_count; ++n) {
        const activation<T>& a = ex.results[n];
        s.node_grads.push_back(ex.has_grad[n] ? copy_of(ex.grads[n].data(), a.layout.row_count() * a.width)
                                              : std::vector<T>{});
    }
    for (std::size_t t = 0; t < M::tensor_count; ++t) {
        const auto g = model.gradient(M::graph.tensors[t].path.view());
        s.param_grads.emplace_back(g.begin(), g.end());
    }
    return s;
}

// Bitwise comparison of two results; `mismatches` names each part that differs, with its largest difference.
template <class T>
void compare(const std::vector<T>& a, const std::vector<T>& b, const std::string& what, std::vector<std::string>& mismatches) {
    if (a.size() != b.size()) {
        mismatches.push_back(what + ": " + std::to_string(a.size()) + " vs " + std::to_string(b.size()) + " values");
        return;
    }
    if (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0) return;
    std::size_t differing = 0;
    double worst = 0, scale = 0;
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (std::memcmp(&a[i], &b[i], sizeof(T)) != 0) ++differing;
        worst = std::max(worst, std::abs(double(a[i]) - double(b[i])));
        scale = std::max(scale, std::abs(double(a[i])));
    }
    std::ostringstream text;
    text << what << ": " << differing << " of " << a.size() << " values differ, max |diff| " << worst
         << " (max |value| " << scale << ")";
    mismatches.push_back(text.str());
}

template <class Net, class T>
std::vector<std::string> differences(const snapshot<T>& reference, const snapshot<T>& other) {
    using M = Model<Net, T>;
    std::vector<std::string> out;
    compare(reference.output, other.output, "output", out);
    compare(reference.input_grad, other.input_grad, "input gradient", out);
    for (std::size_t n = 0; n < M::node_count; ++n) {
        const std::string node = "node " + std::to_string(n) + " '" + std::string(M::graph.nodes[n].path.view()) +
                                 "' (" + std::string(M::graph.nodes[n].kind_name) + ")";
        compare(reference.activations[n], other.activations[n], node + " output", out);
        compare(reference.node_grads[n], other.node_grads[n], node + " output gradient", out);
    }
    for (std::size_t t = 0; t < M::tensor_count; ++t)
        compare(reference.param_grads[t], other.param_grads[t],
                "gradient of '" + std::string(M::graph.tensors[t].path.view()) + "'", out);
    return out;
}

// Same parameters, same input, same dL/d(output) at 1, 2 and 3 threads: every result bit-identical to 1 thread's.
template <class Net, class T, class Input>
void require_thread_invariance(const std::vector<Input>& input, const Layout& layout, bool training = false) {
#if LNFOLD_HAS_OPENMP
    Model<Net, T> model(/*seed=*/1234, init_scheme::pytorch);
    if (training) model.set_training(true, /*seed=*/99);
    snapshot<T> reference;
    for (const int threads : thread_counts) {
        thread_setting setting(threads);
        require_threads(threads);
        snapshot<T> s = run_once(model, input, layout);
        if (threads == 1) {
            reference = std::move(s);
            CHECK(!reference.output.empty());
            continue;
        }
        const std::vector<std::string> found = differences<Net>(reference, s);
        std::string text;
        for (const std::string& line : found) text += "\n  " + line;
        INFO(threads << " threads vs 1, layout " << layout.describe() << (training ? ", training" : "") << ":" << text);
        CHECK(found.empty());
    }
#else
    (void)input;
    (void)layout;
    (void)training;
    WARN("lnfold was built without OpenMP (LNFOLD_HAS_OPENMP 0): thread invariance cannot be tested");
#endif
}

std::vector<std::int32_t> token_ids(std::size_t count, std::size_t vocab) {
    std::vector<std::int32_t> ids(count);
    for (std::size_t i = 0; i < count; ++i) ids[i] = static_cast<std::int32_t>((i * 7 + 3) % vocab);
    return ids;
}
template <class T>
std::vector<T> pixels(std::size_t count) {
    std::vector<T> x(count);
    for (std::size_t i = 0; i < count; ++i) x[i] = static_cast<T>(std::cos(0.61 * double(i)) * 1.5 + 0.2);
    return x;
}

}  // namespace

TEST_CASE("the build has OpenMP (else the thread invariance tests cannot run)", "[graph][threads]") {
#if LNFOLD_HAS_OPENMP
    SUCCEED("OpenMP on: " << omp_get_num_procs() << " processors, max threads " << omp_get_max_threads());
#else
    WARN("SKIPPED: lnfold was built without OpenMP (LNFOLD_HAS_OPENMP 0)");
#endif
}

TEMPLATE_TEST_CASE("GPT forward and backward are bit-identical at 1, 2 and 3 threads", "[graph][threads]", float, double) {
    const Layout layout = Layout::sequence(5, 7);  // 35 rows; 10 (sample, head) pairs
    require_thread_invariance<arch::Gpt, TestType>(token_ids(layout.row_count(), arch::V), layout);
    // Training mode (Dropout masks drawn per element).
    require_thread_invariance<arch::Gpt, TestType>(token_ids(layout.row_count(), arch::V), layout, true);
    const Layout several_blocks = Layout::sequence(23, 7);  // 161 rows
    require_thread_invariance<arch::Gpt, TestType>(token_ids(several_blocks.row_count(), arch::V), several_blocks);
    const Layout tiny = Layout::sequence(1, 2);  // one-row ranges
    require_thread_invariance<arch::Gpt, TestType>(token_ids(tiny.row_count(), arch::V), tiny);
}

TEMPLATE_TEST_CASE("GPT with a tied head is bit-identical at 1, 2 and 3 threads", "[graph][threads]", float, double) {
    for (const Layout& layout : {Layout::sequence(5, 7), Layout::sequence(29, 9)})  // 35 rows; 261 rows
        require_thread_invariance<arch::GptTied<tie_fold::untie>, TestType>(token_ids(layout.row_count(), arch::V),
                                                                            layout);
}

TEMPLATE_TEST_CASE("ViT forward and backward are bit-identical at 1, 2 and 3 threads", "[graph][threads]", float, double) {
    constexpr std::size_t channels = 3;
    const Layout layout = Layout::image(5, arch::Image, arch::Image);  // 20 patches, 25 tokens, 5 class rows
    require_thread_invariance<arch::Vit, TestType>(pixels<TestType>(layout.row_count() * channels), layout);
    const Layout large = Layout::image(41, arch::Image, arch::Image);  // 164 patches, 205 tokens, 41 class rows
    require_thread_invariance<arch::Vit, TestType>(pixels<TestType>(large.row_count() * channels), large);
    const Layout tiny = Layout::image(2, arch::Image, arch::Image);  // 2 class rows: one-row ranges in the head
    require_thread_invariance<arch::Vit, TestType>(pixels<TestType>(tiny.row_count() * channels), tiny);
}

TEMPLATE_TEST_CASE("ConvNeXt forward and backward are bit-identical at 1, 2 and 3 threads", "[graph][threads]", float,
                   double) {
    constexpr std::size_t channels = 3;
    const Layout layout = Layout::image(5, 6, 10);  // stem: 5 x 3 x 5 = 75 pixels; 5 pooled rows
    require_thread_invariance<arch::ConvNext, TestType>(pixels<TestType>(layout.row_count() * channels), layout);
    const Layout large = Layout::image(7, 12, 14);  // stem: 7 x 6 x 7 = 294 pixels
    require_thread_invariance<arch::ConvNext, TestType>(pixels<TestType>(large.row_count() * channels), large);
    const Layout tiny = Layout::image(1, 2, 4);  // stem: 2 pixels, one per thread
    require_thread_invariance<arch::ConvNext, TestType>(pixels<TestType>(tiny.row_count() * channels), tiny);
}

// The case that once differed (11 of 10,230 outputs, ~1 ulp, when Eigen's product split its rows by the thread
// count): an MLP at batch 1023.
namespace {
using Mlp = Seq<Named<"fc1", Linear<100, 64>>, Named<"ln", LayerNorm<64>>, ReLU, Named<"head", Linear<64, 10>>>;
}  // namespace

TEMPLATE_TEST_CASE("an MLP at batch 1023 is bit-identical at 1, 2 and 3 threads", "[graph][threads]", float, double) {
    const Layout layout = Layout::rows(1023);
    require_thread_invariance<Mlp, TestType>(pixels<TestType>(layout.row_count() * 100), layout);
}

// GroupNorm: (sample, group) pairs on the threads, its parameter gradients summed in one fixed order.
namespace {
using GroupNet = Seq<Named<"fc", Linear<12, 16>>, Named<"gn", GroupNorm<16, 4>>, GELU, Named<"head", Linear<16, 5>>>;
}  // namespace

TEMPLATE_TEST_CASE("GroupNorm forward and backward are bit-identical at 1, 2 and 3 threads", "[graph][threads]", float,
                   double) {
    const Layout layout = Layout::sequence(37, 9);  // 148 (sample, group) pairs
    require_thread_invariance<GroupNet, TestType>(pixels<TestType>(layout.row_count() * 12), layout);
    const Layout image = Layout::image(2, 3, 5);    // 8 pairs
    require_thread_invariance<GroupNet, TestType>(pixels<TestType>(image.row_count() * 12), image);
}
