// Backward against PyTorch: for the GPT-2, ViT and MLP parity fixtures, torch's float64 autograd wrote the mean
// cross-entropy, dloss/dtheta of every parameter and (ViT, MLP) dloss/d(input) (scripts/make_parity_fixtures.py).
// lnfold's forward + softmax_cross_entropy + backward reproduces them:
//   double: every element within 1e-10 x (|torch| + rms(torch tensor))   (float64 rounding only: both sides are
//           exact sums of the same terms in different orders; the measured worst is ~1e-14);
//   float:  every element within float_gradient_bound (tests/support/parity_fixtures.hpp) on the same scale.
// The gradient files have the weights files' names and layouts, so the model loaders (which map names, transpose
// GPT-2's Conv1D weights and fuse ViT's query / key / value) put torch's gradients into a Model's parameter arena
// in lnfold's order, where they compare with Model::gradients() element by element.
// Folded and CBWC models compute the same function as the LayerNorm model, which gives two more references:
//   - a folded model's loss and dloss/d(input) equal torch's (the input is upstream of every fold);
//   - a parameter the fold leaves unchanged has torch's gradient; a centred one has it after centring, since
//     L(theta) = L_folded(C theta) and torch's gradient is already centred (LN ignores row means): C g_folded = g.
//   - the CBWC twin (free parameters V, centred on every forward) has exactly torch's gradients, and one SGD step
//     moves it to theta - lr g_torch.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "catch.hpp"
#include "parity_fixtures.hpp"

#include <lnfold/train/cbwc.hpp>
#include <lnfold/train/loss.hpp>
#include <lnfold/train/optimizer.hpp>

using namespace lnfold;
using namespace lnfold_test;

namespace {

template <class T>
void check_forward(const std::vector<double>& logits, const std::vector<double>& expected) {
    const double error = elementwise_error(std::span<const double>(logits), std::span<const double>(expected));
    INFO("logits error " << error);
    CHECK(error <= parity_tolerance<T>);
}

// torch's gradients in lnfold's arena order, one span per parameter path.
template <class Net>
struct torch_gradients {
    Model<Net, double> arena{0};
    std::span<const double> of(std::string_view path) const { return arena.parameter(path); }
};

template <class Net, class T, class Check>
void for_each_gradient(const Model<Net, T>& model, const torch_gradients<Net>& torch_grad, Check check) {
    model.visit_parameters([&](const auto& p) {
        const std::span<const T> g = model.gradient(p.path);
        check(p.path, g, torch_grad.of(p.path));
    });
}

// loss and dloss/dlogits of the latest forward, then backward.
template <class Net, class T>
double loss_and_backward(Model<Net, T>& model, std::span<const std::int32_t> targets) {
    const tensor_view<T> logits = model.output();
    std::vector<T> dlogits(logits.size());
    const double loss = softmax_cross_entropy(logits, targets, std::span<T>(dlogits));
    model.zero_grad();
    model.backward(std::span<const T>(dlogits));
    return loss;
}
template <class Net, class T>
double loss_and_backward(Model<Net, T>& model, std::span<const std::int32_t> targets, std::vector<T>& input_gradient) {
    const tensor_view<T> logits = model.output();
    std::vector<T> dlogits(logits.size());
    const double loss = softmax_cross_entropy(logits, targets, std::span<T>(dlogits));
    model.zero_grad();
    model.backward(std::span<const T>(dlogits), std::span<T>(input_gradient));
    return loss;
}

template <class Net, class T>
void check_gradients(const Model<Net, T>& model, const torch_gradients<Net>& torch_grad) {
    std::size_t checked = 0;
    for_each_gradient(model, torch_grad, [&](std::string_view path, std::span<const T> g, std::span<const double> expected) {
        const double error = elementwise_error(g, expected);
        INFO("dloss/d" << path << ": error " << error << " (bound " << gradient_bound<T> << ")");
        CHECK(error <= gradient_bound<T>);
        ++checked;
    });
    CHECK(checked == Model<Net, T>::tensor_count);
}

// The MLP fixture: torch.nn.Sequential(Linear, LayerNorm, GELU, Linear, LayerNorm, GELU, Linear); its state_dict
// names are Seq's paths.
using MlpFixture = Seq<Linear<7, 12>, LayerNorm<12>, GELU, Linear<12, 12>, LayerNorm<12>, GELU, Linear<12, 5>>;

struct mlp_reference {
    std::vector<double> input, logits, input_grad;
    std::vector<std::int32_t> targets;
    double loss;
};
mlp_reference mlp_io() {
    const io::safetensors_file file = io::safetensors_file::open(parity_fixture("mlp_io.safetensors"));
    return {file.read<double>("input"), file.read<double>("logits"), file.read<double>("input_grad"),
            read_int64(file, "targets"), file.read<double>("loss").at(0)};
}

template <class Net>
torch_gradients<Net> mlp_gradients() {
    torch_gradients<Net> g;
    io::load(g.arena, io::safetensors_file::open(parity_fixture("mlp_grad.safetensors")));
    return g;
}

template <class T>
std::vector<T> converted(const std::vector<double>& v) { return std::vector<T>(v.begin(), v.end()); }

// g centred along the axis along which `values` (a folded parameter, rows x columns in its PyTorch shape cut after
// dimension 0) are centred: over dimension 0 (a Linear or Conv2d weight's outputs, a bias) or over the last
// dimension (an embedding or position table's rows). Returns an empty vector when values are centred along neither.
template <class T>
std::vector<double> centred_like(std::span<const T> values, std::span<const T> g, const param_spec& spec) {
    const std::size_t n = values.size(), last = spec.shape[spec.rank - 1], first = spec.shape[0];
    double scale = 0;
    for (const T v : values) scale = std::max(scale, std::abs(double(v)));
    const double zero = (sizeof(T) == 4 ? 1e-5 : 1e-12) * scale;
    auto centred_over = [&](std::size_t count, std::size_t stride, std::size_t lines, std::size_t line_stride,
                            std::span<const T> x, std::vector<double>* out) {
        for (std::size_t l = 0; l < lines; ++l) {
            double mean = 0;
            for (std::size_t k = 0; k < count; ++k) mean += double(x[l * line_stride + k * stride]);
            mean /= double(count);
            if (out == nullptr) {
                if (std::abs(mean) > zero) return false;
            } else {
                for (std::size_t k = 0; k < count; ++k) (*out)[l * line_stride + k * stride] = double(x[l * line_stride + k * stride]) - mean;
            }
        }
        return true;
    };
    std::vector<double> out(n);
    if (first > 1 && centred_over(first, n / first, n / first, 1, values, nullptr)) {
        centred_over(first, n / first, n / first, 1, g, &out);  // over dimension 0
        return out;
    }
    if (last > 1 && centred_over(last, 1, n / last, last, values, nullptr)) {
        centred_over(last, 1, n / last, last, g, &out);  // over the last dimension
        return out;
    }
    return {};
}

// The folded model's gradients against torch's (which are the LN model's): a parameter the fold kept has torch's
// gradient; a centred one C theta has C g_folded = g_torch; a tensor the fold added as a copy of an original one
// (GPT-2's untied head: the uncentred table) adds its gradient to that original's.
template <class Net, class T>
void check_folded_gradients(const Model<Net, T>& original, Model<folded_t<Net>, T>& folded,
                            const torch_gradients<Net>& torch_grad) {
    auto has_path = [](std::string_view path) {
        for (std::size_t t = 0; t < Model<Net, T>::tensor_count; ++t)
            if (graph_v<Net>.tensors[t].path.view() == path) return true;
        return false;
    };
    std::vector<std::pair<std::string, std::vector<double>>> copies;  // original path, gradient of its copy
    folded.visit_parameters([&](const auto& p) {
        if (has_path(p.path)) return;
        const std::size_t copies_before = copies.size();
        original.visit_parameters([&](const auto& o) {
            if (o.values.size() == p.values.size() && std::equal(o.values.begin(), o.values.end(), p.values.begin())) {
                const auto g = folded.gradient(p.path);
                copies.emplace_back(std::string(o.path), std::vector<double>(g.begin(), g.end()));
            }
        });
        INFO(p.path << " is neither an original parameter nor a copy of one");
        CHECK(copies.size() == copies_before + 1);
    });
    std::size_t kept = 0, centred = 0;
    folded.visit_parameters([&](const auto& p) {
        if (!has_path(p.path)) return;
        const std::span<const T> g = folded.gradient(p.path), before = original.parameter(p.path);
        std::vector<double> expected_from_folded;
        if (std::equal(before.begin(), before.end(), p.values.begin(), p.values.end())) {
            expected_from_folded.assign(g.begin(), g.end());
            ++kept;
        } else {
            expected_from_folded = centred_like(std::span<const T>(p.values), g, p.spec);
            INFO(p.path << " changed by the fold but is not centred along dimension 0 or the last one");
            REQUIRE(expected_from_folded.size() == g.size());
            ++centred;
        }
        for (const auto& [path, copy_gradient] : copies)
            if (path == p.path)
                for (std::size_t i = 0; i < copy_gradient.size(); ++i) expected_from_folded[i] += copy_gradient[i];
        const double error = elementwise_error(std::span<const double>(expected_from_folded), torch_grad.of(p.path));
        INFO("folded dloss/d" << p.path << ": error " << error);
        CHECK(error <= gradient_bound<T>);
    });
    CHECK(kept > 0);
    CHECK(centred > 0);
    CHECK(kept + centred == Model<Net, T>::tensor_count);
}

// The CBWC twin from the LN model's raw parameters: the same loss and exactly torch's gradients; one SGD step
// then leaves it where the LN model goes with torch's gradients, computing the same loss there.
template <class Net, class T, class Forward>
void check_cbwc_step(const Model<Net, T>& model, const torch_gradients<Net>& torch_grad, double torch_loss,
                     std::span<const std::int32_t> targets, Forward forward) {
    Model<cbwc_t<Net>, T> twin(0);
    std::copy(model.parameters().begin(), model.parameters().end(), twin.parameters().begin());
    for (std::size_t n = 0; n < graph_v<Net>.node_count; ++n)
        if (graph_v<Net>.nodes[n].has_eps)
            twin.set_eps(graph_v<Net>.nodes[n].path.view(), model.eps(graph_v<Net>.nodes[n].path.view()));
    forward(twin);
    CHECK(std::abs(loss_and_backward(twin, targets) - torch_loss) <= gradient_bound<T> * torch_loss);
    std::size_t checked = 0;
    twin.visit_parameters([&](const auto& p) {
        const double error = elementwise_error(std::span<const T>(twin.gradient(p.path)), torch_grad.of(p.path));
        INFO("CBWC dloss/d" << p.path << ": error " << error);
        CHECK(error <= gradient_bound<T>);
        ++checked;
    });
    CHECK(checked == Model<Net, T>::tensor_count);

    constexpr double lr = 0.1;
    SGD<T> sgd(twin.parameters().size());
    sgd.step(twin.parameters(), twin.gradients(), lr);
    Model<Net, T> stepped = model;
    const std::span<const double> g = torch_grad.arena.parameters();
    for (std::size_t i = 0; i < g.size(); ++i) stepped.parameters()[i] = static_cast<T>(double(model.parameters()[i]) - lr * g[i]);
    forward(stepped);
    std::vector<T> unused(stepped.output().size());
    const double stepped_loss = softmax_cross_entropy(stepped.output(), targets, std::span<T>(unused));
    forward(twin);
    const double twin_loss = softmax_cross_entropy(twin.output(), targets, std::span<T>(unused));
    INFO("loss after one SGD step: LN model with torch's gradients " << stepped_loss << ", CBWC twin " << twin_loss);
    CHECK(std::abs(twin_loss - stepped_loss) <= gradient_bound<T> * stepped_loss);
    CHECK(std::abs(stepped_loss - torch_loss) > 1e3 * gradient_bound<T> * torch_loss);  // the step moved something
}

}  // namespace

TEMPLATE_TEST_CASE("MLP: loss, dloss/dtheta and dloss/dx match torch's float64 autograd", "", float, double) {
    const mlp_reference ref = mlp_io();
    Model<MlpFixture, TestType> model(0);
    io::load(model, io::safetensors_file::open(parity_fixture("mlp.safetensors")));
    const std::vector<TestType> x = converted<TestType>(ref.input);
    const Layout layout = Layout::rows(ref.targets.size());
    const auto logits = model.forward(std::span<const TestType>(x), layout);
    check_forward<TestType>(std::vector<double>(logits.data, logits.data + logits.size()), ref.logits);

    std::vector<TestType> dx(x.size());
    const double loss = loss_and_backward(model, ref.targets, dx);
    CHECK(std::abs(loss - ref.loss) <= gradient_bound<TestType> * ref.loss);
    const double dx_error = elementwise_error(std::span<const TestType>(dx), std::span<const double>(ref.input_grad));
    INFO("dloss/dx error " << dx_error);
    CHECK(dx_error <= gradient_bound<TestType>);
    check_gradients(model, mlp_gradients<MlpFixture>());

    // Folded: the same function, so the same loss and input gradient.
    Model<folded_t<MlpFixture>, TestType> folded = fold(model);
    STATIC_REQUIRE(foldable_count_v<MlpFixture> == 2);
    folded.forward(std::span<const TestType>(x), layout);
    std::vector<TestType> folded_dx(x.size());
    CHECK(std::abs(loss_and_backward(folded, ref.targets, folded_dx) - ref.loss) <= gradient_bound<TestType> * ref.loss);
    CHECK(elementwise_error(std::span<const TestType>(folded_dx), std::span<const double>(ref.input_grad)) <=
          gradient_bound<TestType>);
}

TEMPLATE_TEST_CASE("GPT-2: loss and dloss/dtheta match torch; folded and CBWC models agree with them", "", float, double) {
    using Net = Gpt2Fixture<>;
    const torch_reference ref = gpt2_reference();
    Model<Net, TestType> model;
    models::load_gpt2(model, parity_fixture("gpt2.safetensors"));
    torch_gradients<Net> torch_grad;
    models::load_gpt2(torch_grad.arena, parity_fixture("gpt2_grad.safetensors"));

    const std::vector<double> logits = run(model, ref);
    check_forward<TestType>(logits, ref.logits);
    CHECK(std::abs(loss_and_backward(model, ref.targets) - ref.loss) <= gradient_bound<TestType> * ref.loss);
    check_gradients(model, torch_grad);  // wte: the embedding's and the tied head's contributions

    Model<folded_t<Net>, TestType> folded = fold(model);
    run(folded, ref);
    CHECK(std::abs(loss_and_backward(folded, ref.targets) - ref.loss) <= gradient_bound<TestType> * ref.loss);
    check_folded_gradients(model, folded, torch_grad);

    check_cbwc_step(model, torch_grad, ref.loss, ref.targets, [&](auto& m) { run(m, ref); });
}

TEMPLATE_TEST_CASE("ViT: loss, dloss/dtheta and dloss/dpixels match torch; folded and CBWC models agree", "", float, double) {
    using Net = VitFixture;
    const torch_reference ref = vit_reference();
    Model<Net, TestType> model;
    models::load_vit(model, parity_fixture("vit.safetensors"));
    torch_gradients<Net> torch_grad;
    models::load_vit(torch_grad.arena, parity_fixture("vit_grad.safetensors"));

    // The pixels outlive every forward: backward reads the patch projection's input.
    const std::vector<TestType> pixels(ref.pixels.begin(), ref.pixels.end());
    auto forward = [&](auto& m) { m.forward(std::span<const TestType>(pixels), ref.layout); };
    forward(model);
    check_forward<TestType>(std::vector<double>(model.output().data, model.output().data + model.output().size()), ref.logits);
    std::vector<TestType> dpixels(ref.pixels.size());
    CHECK(std::abs(loss_and_backward(model, ref.targets, dpixels) - ref.loss) <= gradient_bound<TestType> * ref.loss);
    const double dx_error = elementwise_error(std::span<const TestType>(dpixels), std::span<const double>(ref.pixels_grad));
    INFO("dloss/dpixels error " << dx_error);
    CHECK(dx_error <= gradient_bound<TestType>);
    check_gradients(model, torch_grad);  // qkv: torch's query, key and value gradients, fused by the loader

    Model<folded_t<Net>, TestType> folded = fold(model);
    forward(folded);
    std::vector<TestType> folded_dpixels(ref.pixels.size());
    CHECK(std::abs(loss_and_backward(folded, ref.targets, folded_dpixels) - ref.loss) <= gradient_bound<TestType> * ref.loss);
    CHECK(elementwise_error(std::span<const TestType>(folded_dpixels), std::span<const double>(ref.pixels_grad)) <=
          gradient_bound<TestType>);
    check_folded_gradients(model, folded, torch_grad);

    check_cbwc_step(model, torch_grad, ref.loss, ref.targets, forward);
}
