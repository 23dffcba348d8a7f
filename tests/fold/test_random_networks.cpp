// Property test over randomly generated network types (mixes of sources, breakers, residuals, norms):
//  - wherever the analysis says foldable, fold() is exact;
//  - wherever it says "locked source", centring that source alone changes the network's output;
//  - wherever it blames a breaker, a norm output, the network input or an unfoldable scale, the LayerNorm's
//    input keeps a nonzero mean even after centring every centrable layer of the network.
// So a wrong "foldable" and a wrong "not foldable" are both caught.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <utility>
#include <vector>

#include "catch.hpp"

#include <lnfold/lnfold.hpp>

using namespace lnfold;

namespace {

constexpr std::size_t W = 5;

constexpr std::uint64_t mix(std::uint64_t z) {
    z += 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

template <std::uint64_t Seed, int Depth>
struct random_layer;
template <std::uint64_t Seed, int Depth>
using random_chain = Seq<typename random_layer<mix(Seed + 1), Depth>::type, typename random_layer<mix(Seed + 2), Depth>::type,
                         typename random_layer<mix(Seed + 3), Depth>::type>;

// One alternative per choice, instantiated only when chosen.
template <int Choice, std::uint64_t Seed, int Depth>
struct alternative;
template <std::uint64_t S, int D> struct alternative<0, S, D> { using type = Linear<W, W>; };
template <std::uint64_t S, int D> struct alternative<1, S, D> { using type = Seq<Linear<W, W>, LayerNorm<W>>; };
template <std::uint64_t S, int D> struct alternative<2, S, D> { using type = ReLU; };
template <std::uint64_t S, int D> struct alternative<3, S, D> { using type = GELU; };
template <std::uint64_t S, int D> struct alternative<4, S, D> { using type = LayerNorm<W>; };
template <std::uint64_t S, int D> struct alternative<5, S, D> { using type = Dropout<100>; };
template <std::uint64_t S, int D> struct alternative<6, S, D> { using type = Seq<Linear<W, W>, LayerScale<W>>; };
template <std::uint64_t S, int D> struct alternative<7, S, D> { using type = Centering; };
template <std::uint64_t S, int D> struct alternative<8, S, D> { using type = RMSNorm<W, true>; };
template <std::uint64_t S, int D> struct alternative<9, S, D> { using type = Seq<Linear<W, W, false>, LayerNorm<W>>; };
template <std::uint64_t S, int D> struct alternative<10, S, D> { using type = Residual<random_chain<S, D - 1>>; };
template <std::uint64_t S, int D> struct alternative<11, S, D> { using type = Residual<Seq<LayerNorm<W>, random_chain<S, D - 1>>>; };

// A source feeding both a LayerNorm and the stream that continues past it.
template <std::uint64_t S, int D> struct alternative<12, S, D> { using type = Seq<Linear<W, W>, Residual<Seq<LayerNorm<W>, Linear<W, W>>>>; };

template <std::uint64_t Seed, int Depth>
struct random_layer {
    using type = typename alternative<static_cast<int>(mix(Seed) % (Depth > 0 ? 13 : 10)), Seed, Depth>::type;
};

// Input Linear, two random chains (nesting depth 2), sometimes a final LayerNorm, a head.
template <std::uint64_t Seed>
using random_network = std::conditional_t<mix(Seed) % 2 == 0,
    Seq<Linear<3, W>, random_chain<mix(Seed + 10), 2>, random_chain<mix(Seed + 20), 1>, LayerNorm<W>, Linear<W, 2>>,
    Seq<Linear<3, W>, random_chain<mix(Seed + 10), 2>, random_chain<mix(Seed + 20), 1>, Linear<W, 2>>>;

struct tally {
    int foldable = 0, locked = 0, unreachable_mean = 0;
};

template <class M>
void randomise(M& model, std::uint64_t seed) {
    random_stream rng(seed);
    model.visit_parameters([&](auto p) {
        for (auto& v : p.values) v = rng.uniform(-1, 1);
    });
}

std::vector<double> input_rows(std::size_t rows) {
    random_stream rng(rows);
    std::vector<double> x(rows * 3);
    for (double& v : x) v = rng.uniform(-2, 3);
    return x;
}

double max_relative_difference(std::span<const double> a, std::span<const double> b) {
    double scale = 0, diff = 0;
    for (std::size_t i = 0; i < a.size(); ++i) {
        scale = std::max(scale, std::abs(a[i]));
        diff = std::max(diff, std::abs(a[i] - b[i]));
    }
    return diff / std::max(scale, 1e-300);
}

template <class G>
void centre_node(const G& g, std::size_t node, double* arena) {
    centre_output<double>(centring_rule_of(g.nodes[node]), detail::node_specs(g, node).span(), arena + g.nodes[node].param_offset);
}

template <std::uint64_t Seed>
void check_network(tally& t) {
    using Net = random_network<Seed>;
    constexpr const auto& g = graph_v<Net>;
    Model<Net, double> model;
    randomise(model, Seed);
    const std::vector<double> x = input_rows(7);
    const auto y = model.forward(std::span<const double>(x), Layout::rows(7));
    const std::vector<double> expected(y.span().begin(), y.span().end());

    auto folded = fold(model);
    const auto z = folded.forward(std::span<const double>(x), Layout::rows(7));
    INFO("network seed " << Seed << "\n" << format_fold_report<Net>());
    CHECK(max_relative_difference(expected, z.span()) < 1e-10);

    // Every centrable layer centred: where the analysis blames a breaker, the LN input keeps a mean.
    Model<Net, double> all_centred = model;
    for (std::size_t n = 0; n < g.node_count; ++n)
        if (g.nodes[n].centring != output_centring::none) centre_node(g, n, all_centred.parameters().data());
    all_centred.forward(std::span<const double>(x), Layout::rows(7));

    for (const auto& v : fold_report<Net>()) {
        INFO(describe(v));
        if (v.foldable) {
            ++t.foldable;
        } else if (v.reason == fold_reason::locked_source) {
            Model<Net, double> one_centred = model;
            centre_node(g, static_cast<std::size_t>(v.culprit), one_centred.parameters().data());
            const auto c = one_centred.forward(std::span<const double>(x), Layout::rows(7));
            CHECK(max_relative_difference(expected, c.span()) > 1e-6);
            ++t.locked;
        } else {
            const auto& in = all_centred.state().inputs[static_cast<std::size_t>(v.node)];
            double worst = 0;
            for (std::size_t r = 0; r < in.layout.row_count(); ++r) {
                double sum = 0, squares = 0;
                for (std::size_t i = 0; i < in.width; ++i) {
                    sum += in.data[r * in.width + i];
                    squares += in.data[r * in.width + i] * in.data[r * in.width + i];
                }
                worst = std::max(worst, std::abs(sum / double(in.width)) / std::sqrt(squares / double(in.width)));
            }
            CHECK(worst > 1e-3);
            ++t.unreachable_mean;
        }
    }
}

template <std::uint64_t... Seeds>
void check_networks(tally& t, std::integer_sequence<std::uint64_t, Seeds...>) {
    (check_network<Seeds>(t), ...);
}

}  // namespace

TEST_CASE("random networks: every verdict is backed by a numerical witness") {
    tally t;
    check_networks(t, std::make_integer_sequence<std::uint64_t, 40>{});
    INFO("foldable " << t.foldable << ", locked " << t.locked << ", mean not removable " << t.unreachable_mean);
    // The generator must exercise every outcome.
    CHECK(t.foldable >= 10);
    CHECK(t.locked >= 5);
    CHECK(t.unreachable_mean >= 10);
    WARN("random networks: " << t.foldable << " foldable, " << t.locked << " locked, " << t.unreachable_mean
                             << " with an irremovable mean");
}
