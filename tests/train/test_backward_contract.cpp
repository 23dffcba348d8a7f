// The contract of Model::backward, gradient(path) and output() (docs/training.md, graph/model.hpp), each against a
// reference that does not come from the code under test: the misuse errors (type and message), gradients that
// accumulate (two backward calls = twice one, an algebraic identity checked bit for bit where the layer adds its
// gradient once), gradient(path) against the arena slice, a scalar double formula and central finite differences,
// output() against the scalar formula of the latest forward, and a padding token (ignore_index) whose embedding
// row no optimizer step moves.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "require_error.hpp"
#include "catch.hpp"

#include <lnfold/lnfold.hpp>
#include <lnfold/train/loss.hpp>
#include <lnfold/train/optimizer.hpp>

using namespace lnfold;

namespace {

// Linear, LayerNorm, attention in a residual branch, GELU: every layer here adds its parameter gradient to the
// arena in one pass per element.
using Net = Seq<Named<"fc1", Linear<5, 8>>, Residual<Seq<Named<"ln", LayerNorm<8>>, Named<"attn", SelfAttention<8, 2>>>>,
                GELU, Named<"fc2", Linear<8, 3>>>;
// Token input, a position table and a head tied to the embedding: the tables accumulate one row at a time.
using TokenNet = Seq<Named<"wte", Embedding<5, 8>>, Named<"wpe", PositionEmbedding<6, 8>>, Named<"fc", Linear<8, 8>>,
                     Named<"head", TiedHead<8, 5, "wte">>>;
// y = W x + b, small enough for a scalar reference.
using Tiny = Seq<Named<"fc", Linear<3, 2>>>;

template <class M>
void randomise(M& model, std::uint64_t seed) {
    random_stream rng(seed);
    model.visit_parameters([&](auto p) {
        const bool gain = p.spec.init == init_kind::ones;
        for (auto& v : p.values) v = gain ? rng.uniform(0.5, 1.5) : rng.uniform(-0.8, 0.8);
    });
}

std::vector<double> uniform_values(std::size_t n, std::uint64_t seed, double bound = 1.0) {
    random_stream rng(seed);
    std::vector<double> v(n);
    for (double& x : v) x = rng.uniform(-bound, bound);
    return v;
}

// L = Σ w ⊙ y for the fixed weights w, so dL/dy = w.
double weighted_sum(const tensor_view<double>& y, const std::vector<double>& w) {
    double l = 0;
    for (std::size_t i = 0; i < w.size(); ++i) l += w[i] * y.span()[i];
    return l;
}

const Layout sequence = Layout::sequence(2, 4);  // 8 rows

}  // namespace

TEST_CASE("backward: misuse is an error that says what was expected") {
    Model<Net, double> model(1);
    const std::vector<double> x = uniform_values(8 * 5, 2);

    // Before any forward there is nothing to differentiate.
    require_error<config_error>([&] { model.backward(std::vector<double>(8 * 3)); },
                                {"Model::backward", "call forward first"});
    CHECK(model.output().data == nullptr);
    CHECK(model.output().size() == 0);

    // dL/dy must have the output's size: 2 x 4 rows x 3 features = 24.
    model.forward(std::span<const double>(x), sequence);
    for (std::size_t wrong : {std::size_t{0}, std::size_t{23}, std::size_t{25}, std::size_t{8 * 8}})
        require_error<shape_error>([&] { model.backward(std::vector<double>(wrong)); },
                                   {"Model::backward", "needs 24 values (8 rows x 3)", "got " + std::to_string(wrong)});
    // dL/d(input) must have the input's size: 8 rows x 5 features = 40.
    for (std::size_t wrong : {std::size_t{0}, std::size_t{39}, std::size_t{41}})
        require_error<shape_error>([&] { std::vector<double> dx(wrong); model.backward(std::vector<double>(24), dx); },
                                   {"Model::backward", "dL/d(input) needs 40 values (8 rows x 5)", "got " + std::to_string(wrong)});
    // The rejected calls added nothing.
    for (double g : model.gradients()) REQUIRE(g == 0.0);

    // A forward rejected before it reads its input leaves no output, like any forward that throws
    // (docs/architecture.md): backward does not silently differentiate the forward before it.
    require_error<shape_error>([&] { model.forward(std::span<const double>(x).first(39), sequence); },
                               {"needs 40 values (8 rows x 5)", "got 39"});
    CHECK(model.output().data == nullptr);
    require_error<config_error>([&] { model.backward(std::vector<double>(24)); }, {"call forward first"});

    // Same after a forward that throws while it runs (a token id out of range).
    Model<TokenNet, double> tokens(1);
    const std::vector<std::int32_t> good{0, 1, 2, 3, 4, 0}, bad{0, 1, 2, 5, 4, 0};
    tokens.forward(std::span<const std::int32_t>(good), Layout::sequence(1, 6));
    require_error<index_error>([&] { tokens.forward(std::span<const std::int32_t>(bad), Layout::sequence(1, 6)); },
                               {"Embedding<5, 8> at 'wte'", "token id at row 3 must be in [0, 5), got 5"});
    CHECK(tokens.output().data == nullptr);
    require_error<config_error>([&] { tokens.backward(std::vector<double>(6 * 5)); }, {"call forward first"});

    // A copy has no forward of its own, whether copy-constructed or assigned over a model that had one.
    model.forward(std::span<const double>(x), sequence);
    Model<Net, double> copied(model);
    require_error<config_error>([&] { copied.backward(std::vector<double>(24)); }, {"call forward first"});
    Model<Net, double> assigned(9);
    assigned.forward(std::span<const double>(x), sequence);
    assigned = model;
    CHECK(assigned.output().data == nullptr);
    require_error<config_error>([&] { assigned.backward(std::vector<double>(24)); }, {"call forward first"});

    // After all of that the model still runs forward and backward.
    model.forward(std::span<const double>(x), sequence);
    model.backward(uniform_values(24, 3));
    double norm = 0;
    for (double g : model.gradients()) norm += g * g;
    CHECK(norm > 0);
}

TEST_CASE("gradient(path) and parameter(path): an unknown path names the known ones") {
    Model<Tiny, double> tiny;
    for (const char* path : {"fc.weigth", "fc", "weight", "fc.weight.0", ""}) {
        INFO(path);
        require_error<config_error>([&] { (void)tiny.gradient(path); },
                                    {"no parameter named '" + std::string(path) + "'", "the network has 2",
                                     "fc.weight", "fc.bias"});
        require_error<config_error>([&] { (void)std::as_const(tiny).gradient(path); }, {"no parameter named"});
        require_error<config_error>([&] { (void)tiny.parameter(path); }, {"no parameter named"});
    }
    // A network with more than 8 tensors lists the first 8 and says there are more.
    Model<Net, double> model;
    require_error<config_error>([&] { (void)model.gradient("fc3.weight"); },
                                {"the network has 10", "fc1.weight, fc1.bias, ln.weight", ", ..."});
}

TEST_CASE("two backward calls without zero_grad give twice the gradient") {
    SECTION("bit for bit where each layer adds its gradient once (Linear, LayerNorm, attention)") {
        Model<Net, double> model(3);
        randomise(model, 4);
        const std::vector<double> x = uniform_values(8 * 5, 5, 1.5);
        const auto y = model.forward(std::span<const double>(x), sequence);
        const std::vector<double> w = uniform_values(y.size(), 6);
        model.zero_grad();
        model.backward(w);
        const std::vector<double> once(model.gradients().begin(), model.gradients().end());
        model.backward(w);
        // g + g == 2g exactly in binary floating point, and the second call recomputes g bit for bit from the same
        // forward, so the arena must hold exactly 2g: any other result means a changed cache or a lost sum.
        std::size_t nonzero = 0;
        for (std::size_t i = 0; i < once.size(); ++i) {
            INFO("arena element " << i);
            REQUIRE(model.gradients()[i] == 2 * once[i]);
            nonzero += once[i] != 0;
        }
        CHECK(nonzero > Model<Net, double>::parameter_count / 2);
        // zero_grad then backward gives the first result again.
        model.zero_grad();
        model.backward(w);
        CHECK(std::equal(once.begin(), once.end(), model.gradients().begin()));
    }
    SECTION("tables that accumulate row by row: twice up to the rounding of a re-associated sum") {
        // Embedding, PositionEmbedding and the tied head add one row's contribution at a time into the arena, so
        // the second call computes ((g + a) + b) + ... instead of g + (a + b + ...). Each sum has at most
        // `rows` + Vocab terms, so the difference is bounded by (terms) x eps x 2 x the largest gradient.
        Model<TokenNet, double> model(3);
        randomise(model, 4);
        const Layout layout = Layout::sequence(3, 6);
        random_stream rng(7);
        std::vector<std::int32_t> ids(18);
        for (auto& id : ids) id = static_cast<std::int32_t>(rng.below(5));
        const auto y = model.forward(std::span<const std::int32_t>(ids), layout);
        const std::vector<double> w = uniform_values(y.size(), 8);
        model.zero_grad();
        model.backward(w);
        const std::vector<double> once(model.gradients().begin(), model.gradients().end());
        model.backward(w);
        const double eps = std::ldexp(1.0, -52);
        model.visit_parameters([&](auto p) {
            const std::size_t offset = static_cast<std::size_t>(p.values.data() - model.parameters().data());
            const auto twice = model.gradient(p.path);
            double largest = 0;
            for (std::size_t i = 0; i < twice.size(); ++i) largest = std::max(largest, std::abs(once[offset + i]));
            const bool exact = p.path.starts_with("fc.");  // a Linear: added once
            const double bound = exact ? 0.0 : (18 + 5) * eps * 2 * largest;
            for (std::size_t i = 0; i < twice.size(); ++i) {
                INFO(p.path << "[" << i << "]: " << twice[i] << " vs 2 x " << once[offset + i]);
                REQUIRE(std::abs(twice[i] - 2 * once[offset + i]) <= bound);
            }
        });
    }
}

TEST_CASE("gradient(path) is that tensor's slice of the arena and its derivative") {
    Model<Net, double> model(11);
    randomise(model, 12);
    const std::vector<double> x = uniform_values(8 * 5, 13, 1.5);
    const auto y = model.forward(std::span<const double>(x), sequence);
    const std::vector<double> w = uniform_values(y.size(), 14);
    model.zero_grad();
    model.backward(w);

    const double* params = model.parameters().data();
    const double* grads = model.gradients().data();
    std::size_t covered = 0;
    model.visit_parameters([&](auto p) {
        INFO(p.path);
        const auto g = model.gradient(p.path);
        const auto cg = std::as_const(model).gradient(p.path);
        std::size_t numel = 1;
        for (std::size_t d = 0; d < p.spec.rank; ++d) numel *= p.spec.shape[d];
        CHECK(g.size() == numel);
        CHECK(g.data() == grads + (p.values.data() - params));
        CHECK(cg.data() == g.data());
        CHECK(cg.size() == g.size());
        CHECK(model.parameter(p.path).data() == p.values.data());
        covered += numel;
    });
    CHECK(covered == Model<Net, double>::parameter_count);

    // Central differences of L = Σ w ⊙ y (the same check as test_gradients, read through gradient(path)).
    const double h = 1e-5;
    for (const char* path : {"fc1.weight", "fc1.bias", "ln.weight", "ln.bias", "attn.qkv.weight", "attn.proj.bias",
                             "fc2.weight"}) {
        const auto values = model.parameter(path);
        const std::vector<double> analytic(model.gradient(path).begin(), model.gradient(path).end());
        double largest = 0;
        for (double a : analytic) largest = std::max(largest, std::abs(a));
        for (std::size_t i = 0; i < values.size(); i += std::max<std::size_t>(1, values.size() / 7)) {
            const double saved = values[i];
            values[i] = saved + h;
            const double up = weighted_sum(model.forward(std::span<const double>(x), sequence), w);
            values[i] = saved - h;
            const double down = weighted_sum(model.forward(std::span<const double>(x), sequence), w);
            values[i] = saved;
            const double numeric = (up - down) / (2 * h);
            INFO(path << "[" << i << "]: analytic " << analytic[i] << ", numeric " << numeric);
            CHECK(std::abs(analytic[i] - numeric) <= 1e-6 * std::max({std::abs(numeric), 1e-3 * largest, 1e-4}));
        }
    }
}

TEST_CASE("Linear: gradient(path) and output() against the scalar formulas of the latest forward") {
    Model<Tiny, double> model(21);
    randomise(model, 22);
    const auto W = model.parameter("fc.weight");  // (2, 3) row-major
    const auto b = model.parameter("fc.bias");
    const std::vector<double> x1 = uniform_values(4 * 3, 23), x2 = uniform_values(3 * 3, 24);
    model.forward(std::span<const double>(x1), Layout::rows(4));
    const auto y2 = model.forward(std::span<const double>(x2), Layout::rows(3));

    // output() is the latest forward: 3 rows x 2, y[r][o] = Σ_i W[o][i] x2[r][i] + b[o].
    const auto out = model.output();
    CHECK(out.data == y2.data);
    REQUIRE(out.rows() == 3);
    REQUIRE(out.width == 2);
    for (std::size_t r = 0; r < 3; ++r)
        for (std::size_t o = 0; o < 2; ++o) {
            double ref = b[o], scale = std::abs(b[o]);
            for (std::size_t i = 0; i < 3; ++i) {
                ref += W[o * 3 + i] * x2[r * 3 + i];
                scale += std::abs(W[o * 3 + i] * x2[r * 3 + i]);
            }
            CHECK(std::abs(out.span()[r * 2 + o] - ref) <= 4 * 0x1p-52 * scale);
        }

    // backward differentiates that latest forward: dy of the first forward's size is refused...
    require_error<shape_error>([&] { model.backward(std::vector<double>(8)); }, {"needs 6 values (3 rows x 2), got 8"});
    // ...and dW[o][i] = Σ_r dy[r][o] x2[r][i], db[o] = Σ_r dy[r][o].
    const std::vector<double> dy = uniform_values(6, 25);
    model.zero_grad();
    model.backward(dy);
    const auto dW = model.gradient("fc.weight");
    const auto db = model.gradient("fc.bias");
    for (std::size_t o = 0; o < 2; ++o) {
        double ref_b = 0, scale_b = 0;
        for (std::size_t r = 0; r < 3; ++r) {
            ref_b += dy[r * 2 + o];
            scale_b += std::abs(dy[r * 2 + o]);
        }
        CHECK(std::abs(db[o] - ref_b) <= 4 * 0x1p-52 * scale_b);
        for (std::size_t i = 0; i < 3; ++i) {
            double ref = 0, scale = 0;
            for (std::size_t r = 0; r < 3; ++r) {
                ref += dy[r * 2 + o] * x2[r * 3 + i];
                scale += std::abs(dy[r * 2 + o] * x2[r * 3 + i]);
            }
            CHECK(std::abs(dW[o * 3 + i] - ref) <= 4 * 0x1p-52 * scale);
        }
    }
}

TEST_CASE("a padding token (ignore_index) gets no gradient, and AdamW without decay leaves its embedding row as it was") {
    // lnfold has no Embedding padding_idx; padding in language modelling is a target equal to ignore_index. With
    // no mixing between positions, a token that occurs only at ignored positions has a zero gradient row
    // (softmax_cross_entropy gives zero dL/dlogits there), and AdamW turns a zero gradient with zero moments into
    // a zero update.
    using Lm = Seq<Named<"wte", Embedding<6, 4>>, Named<"fc", Linear<4, 4>>, GELU, Named<"out", Linear<4, 6>>>;
    Model<Lm, float> model(31);
    constexpr std::int32_t pad = 5;
    const std::vector<std::int32_t> ids{1, 2, pad, pad, 3, 0, 4, pad};
    const std::vector<std::int32_t> targets{2, 3, -100, -100, 0, 4, 1, -100};
    const std::vector<float> before(model.parameter("wte.weight").begin(), model.parameter("wte.weight").end());
    AdamW<float> adam(model.parameters().size(), {0.9, 0.999, 1e-8, 0.0});
    std::vector<float> dlogits;
    for (int step = 0; step < 5; ++step) {
        const auto logits = model.forward(std::span<const std::int32_t>(ids), Layout::sequence(2, 4));
        dlogits.resize(logits.size());
        softmax_cross_entropy(logits, targets, std::span<float>(dlogits));
        model.zero_grad();
        model.backward(dlogits);
        const auto g = model.gradient("wte.weight");
        for (std::size_t i = 0; i < 4; ++i) REQUIRE(g[pad * 4 + i] == 0.0f);
        adam.step(model.parameters(), model.gradients(), 1e-2);
    }
    const auto after = model.parameter("wte.weight");
    for (std::size_t i = 0; i < 4; ++i) CHECK(after[pad * 4 + i] == before[pad * 4 + i]);
    for (std::size_t i = 0; i < 4; ++i) CHECK(after[1 * 4 + i] != before[1 * 4 + i]);  // a real token moved
}
