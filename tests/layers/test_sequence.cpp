// Token and sequence layers forward against references written here from their definitions:
//   Embedding<V, D>          y[r] = table[id[r]]                                 (exact copy)
//   PositionEmbedding<L, D>  y[b, t] = x[b, t] + table[t]                        (one rounding: |err| <= u |y|)
//   ClassToken<D>            y[b, 0] = cls, y[b, 1 + t] = x[b, t]                (exact copies, tokens + 1)
//   MeanPool                 y[b] = (1/tokens) Σ_t x[b, t]                       (scale: mean_t |x|)
//   TakeToken<I>             y[b] = x[b, I]                                      (exact copy)
//   TiedHead<D, V, "wte">    y[r] = E h[r]  with E the Embedding "wte"'s table  (scale: Σ|terms|)
// float and double, widths 1, 3, 17, 100, 64, 768; sequence and image (tokens = pixels) layouts; the output
// layouts; the index errors.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "layer_reference.hpp"

using namespace lnfold;
using namespace lnfold_layers_test;

namespace {

// Out of line, so that GCC does not propagate the constant sizes of the error cases into the (never reached)
// copy loops and warn about bounds on a path the layout check has already thrown out of.
template <class M, class T>
[[gnu::noinline]] tensor_view<T> forward_out_of_line(M& m, const std::vector<T>& x, const Layout& layout) {
    return m.forward(std::span<const T>(x), layout);
}

std::vector<std::int32_t> random_ids(std::size_t n, std::size_t vocab, std::uint64_t seed) {
    rng r(seed);
    std::vector<std::int32_t> ids(n);
    for (auto& id : ids) id = static_cast<std::int32_t>(r.below(vocab));
    return ids;
}

template <std::size_t V, std::size_t D, class T>
void check_embedding(std::size_t batch, std::size_t length, std::uint64_t seed) {
    Model<Embedding<V, D>, T> m(seed);
    randomise(m, seed + 1);
    auto ids = random_ids(batch * length, V, seed + 2);
    ids.front() = 0;                            // the first and last rows of the table are reachable
    ids.back() = static_cast<std::int32_t>(V - 1);
    const Layout layout = Layout::sequence(batch, length);
    const auto y = m.forward(std::span<const std::int32_t>(ids), layout);
    const auto table = m.parameter("weight");
    REQUIRE(table.size() == V * D);
    std::vector<T> expected;
    for (const std::int32_t id : ids)
        for (std::size_t i = 0; i < D; ++i) expected.push_back(table[static_cast<std::size_t>(id) * D + i]);
    INFO("Embedding<" << V << ", " << D << "> [" << type_label<T>() << "] on " << layout.describe());
    CHECK(y.layout == layout);
    CHECK(y.width == D);
    CHECK(equals_exactly(y, expected));
}

template <std::size_t L, std::size_t D, class T>
void check_position_embedding(const Layout& layout, std::uint64_t seed) {
    Model<PositionEmbedding<L, D>, T> m(seed);
    randomise(m, seed + 1);
    const auto x = random_values<T>(layout.row_count() * D, seed + 2);
    const auto y = m.forward(std::span<const T>(x), layout);
    const auto table = param(m, "weight");
    REQUIRE(table.size() == L * D);
    reference ref(layout.row_count(), D);
    for (std::size_t b = 0; b < layout.batch; ++b)
        for (std::size_t t = 0; t < layout.tokens; ++t)
            for (std::size_t i = 0; i < D; ++i) {
                const std::size_t r = b * layout.tokens + t;
                ref.at(r, i) = static_cast<real>(x[r * D + i]) + table[t * D + i];
                ref.scale_at(r, i) = std::fabs(ref.at(r, i));
            }
    CHECK(y.layout == layout);
    check_matches(y, ref, "PositionEmbedding<" + std::to_string(L) + ", " + std::to_string(D) + "> on " + layout.describe());
}

template <std::size_t D, class T>
void check_class_token(const Layout& layout, std::uint64_t seed) {
    Model<ClassToken<D>, T> m(seed);
    randomise(m, seed + 1);
    const auto x = random_values<T>(layout.row_count() * D, seed + 2);
    const auto y = m.forward(std::span<const T>(x), layout);
    const auto cls = m.parameter("weight");
    REQUIRE(cls.size() == D);
    std::vector<T> expected;
    for (std::size_t b = 0; b < layout.batch; ++b) {
        expected.insert(expected.end(), cls.begin(), cls.end());
        for (std::size_t t = 0; t < layout.tokens; ++t)
            for (std::size_t i = 0; i < D; ++i) expected.push_back(x[(b * layout.tokens + t) * D + i]);
    }
    INFO("ClassToken<" << D << "> [" << type_label<T>() << "] on " << layout.describe());
    CHECK(y.layout == Layout::sequence(layout.batch, layout.tokens + 1));  // an image becomes a plain sequence
    CHECK(equals_exactly(y, expected));
}

template <class T>
void check_mean_pool(std::size_t width, const Layout& layout, std::uint64_t seed) {
    Model<MeanPool, T> m(seed);
    const auto x = random_values<T>(layout.row_count() * width, seed + 2, -1, 3);
    const auto y = m.forward(std::span<const T>(x), layout);
    reference ref(layout.batch, width);
    for (std::size_t b = 0; b < layout.batch; ++b)
        for (std::size_t i = 0; i < width; ++i) {
            real sum = 0, mag = 0;
            for (std::size_t t = 0; t < layout.tokens; ++t) {
                sum += x[(b * layout.tokens + t) * width + i];
                mag += std::fabs(static_cast<real>(x[(b * layout.tokens + t) * width + i]));
            }
            ref.at(b, i) = sum / real(layout.tokens);
            ref.scale_at(b, i) = mag / real(layout.tokens);
        }
    CHECK(y.layout == Layout::rows(layout.batch));
    check_matches(y, ref, "MeanPool (width " + std::to_string(width) + ") on " + layout.describe());
}

template <std::size_t I, class T>
void check_take_token(std::size_t width, const Layout& layout, std::uint64_t seed) {
    Model<TakeToken<I>, T> m(seed);
    const auto x = random_values<T>(layout.row_count() * width, seed + 2);
    const auto y = m.forward(std::span<const T>(x), layout);
    std::vector<T> expected;
    for (std::size_t b = 0; b < layout.batch; ++b)
        for (std::size_t i = 0; i < width; ++i) expected.push_back(x[(b * layout.tokens + I) * width + i]);
    INFO("TakeToken<" << I << "> (width " << width << ") [" << type_label<T>() << "] on " << layout.describe());
    CHECK(y.layout == Layout::rows(layout.batch));
    CHECK(equals_exactly(y, expected));
}

template <std::size_t D, std::size_t V, class T>
void check_tied_head(std::size_t batch, std::size_t length, std::uint64_t seed) {
    Model<Seq<Named<"wte", Embedding<V, D>>, TiedHead<D, V, "wte">>, T> m(seed);
    randomise(m, seed + 1);
    const auto ids = random_ids(batch * length, V, seed + 2);
    const Layout layout = Layout::sequence(batch, length);
    const auto y = m.forward(std::span<const std::int32_t>(ids), layout);
    const auto e = param(m, "wte.weight");
    reference ref(ids.size(), V);
    for (std::size_t r = 0; r < ids.size(); ++r)
        for (std::size_t v = 0; v < V; ++v) {
            real sum = 0, mag = 0;
            for (std::size_t i = 0; i < D; ++i) {
                const real term = e[static_cast<std::size_t>(ids[r]) * D + i] * e[v * D + i];
                sum += term;
                mag += std::fabs(term);
            }
            ref.at(r, v) = sum;
            ref.scale_at(r, v) = mag;
        }
    check_matches(y, ref, "Embedding<" + std::to_string(V) + ", " + std::to_string(D) + "> then TiedHead on " + layout.describe());
}

template <class T>
void sequence_suite() {
    check_embedding<1, 1, T>(1, 1, 400);
    check_embedding<3, 17, T>(2, 3, 401);
    check_embedding<17, 3, T>(3, 17, 402);
    check_embedding<100, 64, T>(2, 17, 403);
    check_embedding<100, 768, T>(1, 3, 404);

    check_position_embedding<1, 1, T>(Layout::sequence(3, 1), 410);
    check_position_embedding<17, 3, T>(Layout::sequence(2, 17), 411);   // the whole table
    check_position_embedding<100, 17, T>(Layout::sequence(3, 5), 412);  // a prefix of it
    check_position_embedding<64, 64, T>(Layout::sequence(2, 64), 413);
    check_position_embedding<3, 768, T>(Layout::sequence(2, 3), 414);
    check_position_embedding<17, 100, T>(Layout::image(2, 3, 5), 415);  // ViT: one position per pixel

    check_class_token<1, T>(Layout::sequence(1, 1), 420);
    check_class_token<3, T>(Layout::sequence(3, 17), 421);
    check_class_token<17, T>(Layout::sequence(2, 3), 422);
    check_class_token<100, T>(Layout::image(2, 2, 3), 423);
    check_class_token<64, T>(Layout::sequence(2, 1), 424);
    check_class_token<768, T>(Layout::sequence(2, 3), 425);

    check_mean_pool<T>(1, Layout::sequence(3, 17), 430);
    check_mean_pool<T>(3, Layout::sequence(2, 100), 431);
    check_mean_pool<T>(17, Layout::image(2, 3, 5), 432);
    check_mean_pool<T>(100, Layout::rows(4), 433);  // one token per sample: the identity
    check_mean_pool<T>(64, Layout::sequence(1, 3), 434);
    check_mean_pool<T>(768, Layout::sequence(2, 17), 435);

    check_take_token<0, T>(1, Layout::sequence(3, 1), 440);
    check_take_token<0, T>(768, Layout::sequence(2, 3), 441);
    check_take_token<2, T>(17, Layout::sequence(3, 3), 442);  // the last token
    check_take_token<2, T>(3, Layout::image(2, 2, 2), 443);   // pixel (1, 0)
    check_take_token<16, T>(100, Layout::sequence(2, 17), 444);
    check_take_token<5, T>(64, Layout::sequence(1, 17), 445);

    check_tied_head<1, 3, T>(2, 1, 450);
    check_tied_head<17, 100, T>(2, 3, 451);
    check_tied_head<768, 64, T>(1, 3, 452);
}

}  // namespace

TEST_CASE("Embedding, PositionEmbedding, ClassToken, MeanPool, TakeToken, TiedHead forward", "[layers][sequence]") {
    SECTION("float") { sequence_suite<float>(); }
    SECTION("double") { sequence_suite<double>(); }
}

TEST_CASE("TiedHeadCorrected adds (sum of h) times the table means", "[layers][sequence]") {
    // y[r, v] = h[r] · e'_v + (Σ_i h[r, i]) m_v, with e' the (already centred) table and m its row means
    constexpr std::size_t D = 17, V = 5;
    Model<Seq<Named<"wte", Embedding<V, D>>, TiedHeadCorrected<D, V, "wte">>, double> m(0);
    randomise(m, 1);
    // locate the correction parameter by its leaf name (its path is the unnamed node's)
    std::vector<real> mean;
    m.visit_parameters([&](auto p) {
        if (p.path.ends_with("table_mean")) mean.assign(p.values.begin(), p.values.end());
    });
    REQUIRE(mean.size() == V);
    const std::vector<std::int32_t> ids{0, 4, 2};
    const auto y = m.forward(std::span<const std::int32_t>(ids), Layout::sequence(1, 3));
    const auto e = param(m, "wte.weight");
    reference ref(3, V);
    for (std::size_t r = 0; r < 3; ++r)
        for (std::size_t v = 0; v < V; ++v) {
            real dot = 0, sum = 0, mag = 0;
            for (std::size_t i = 0; i < D; ++i) {
                const real h = e[static_cast<std::size_t>(ids[r]) * D + i];
                dot += h * e[v * D + i];
                sum += h;
                mag += std::fabs(h * e[v * D + i]) + std::fabs(h * mean[v]);
            }
            ref.at(r, v) = dot + sum * mean[v];
            ref.scale_at(r, v) = mag;
        }
    check_matches(y, ref, "TiedHeadCorrected");
}

TEST_CASE("index errors of the sequence layers", "[layers][sequence]") {
    SECTION("Embedding: ids outside [0, V)") {
        Model<Embedding<5, 3>, float> m(0);
        const std::vector<std::int32_t> high{0, 5}, negative{-1, 0};
        CHECK_THROWS_AS(m.forward(std::span<const std::int32_t>(high), Layout::sequence(1, 2)), index_error);
        CHECK_THROWS_AS(m.forward(std::span<const std::int32_t>(negative), Layout::sequence(1, 2)), index_error);
        const std::vector<std::int32_t> ok{4, 0};
        CHECK_NOTHROW(m.forward(std::span<const std::int32_t>(ok), Layout::sequence(1, 2)));
    }
    SECTION("PositionEmbedding: a sequence longer than the table") {
        Model<PositionEmbedding<4, 3>, float> m(0);
        const std::vector<float> x(2 * 5 * 3, 1.0f);
        CHECK_THROWS_AS(m.forward(std::span<const float>(x), Layout::sequence(2, 5)), index_error);
        CHECK_THROWS_AS(m.forward(std::span<const float>(x.data(), 30), Layout::image(2, 1, 5)), index_error);
        CHECK_NOTHROW(m.forward(std::span<const float>(x.data(), 2 * 4 * 3), Layout::sequence(2, 4)));
    }
    SECTION("TakeToken: an index at or past the sequence length") {
        Model<TakeToken<3>, double> m(0);
        const std::vector<double> x(2 * 3 * 4, 1.0);
        CHECK_THROWS_AS(forward_out_of_line(m, x, Layout::sequence(2, 3)), index_error);
        const std::vector<double> y(2 * 4 * 4, 1.0);
        CHECK_NOTHROW(m.forward(std::span<const double>(y), Layout::sequence(2, 4)));
    }
}
