// SelfAttention forward: against hand-computed small cases, against a scalar long-double implementation written
// here from the definition (float and double, odd and typical sizes, causal and not), and against the causal
// mask property (a later token does not change earlier outputs; without the mask it does).
//   qkv = x Wqkvᵀ + bqkv, columns q | k | v, head h at columns h·hd .. h·hd + hd - 1 of each (hd = D / Heads)
//   P = softmax(q_h k_hᵀ / sqrt(hd)) per sample and head (causal: row i sees tokens j <= i only)
//   ctx_h = P v_h;  y = ctx Wprojᵀ + bproj
//
// Tolerance scale (see layer_reference.hpp): a first-order bound on the rounding errors, propagated alongside the
// reference values. With |.|-magnitudes: qkv at |b| + Σ|W x|; a score at Σ_d (mag(q_d) |k_d| + |q_d| mag(k_d)) / sqrt(hd);
// a probability at p (1 + mag(s_ij) + Σ_j' p_ij' mag(s_ij')) (softmax turns absolute score errors into relative
// probability errors); ctx at Σ_j (p mag(v) + mag(p) |v|); y at |bproj| + Σ_c (|Wproj| mag(ctx) + |Wproj ctx|).
#include <cmath>
#include <cstddef>
#include <string>
#include <vector>

#include "layer_reference.hpp"
#include "require_error.hpp"

using namespace lnfold;
using namespace lnfold_layers_test;

namespace {

struct attention_params {
    std::vector<real> w_qkv, b_qkv, w_proj, b_proj;
};

template <class M>
attention_params read_params(M& m) {
    return {param(m, "qkv.weight"), param(m, "qkv.bias"), param(m, "proj.weight"), param(m, "proj.bias")};
}

reference attention_reference(const std::vector<real>& x, std::size_t batch, std::size_t tokens, std::size_t d,
                              std::size_t heads, bool causal, const attention_params& p) {
    const std::size_t rows = batch * tokens, hd = d / heads;
    // qkv projection
    std::vector<real> qkv(rows * 3 * d), qkv_mag(rows * 3 * d);
    for (std::size_t r = 0; r < rows; ++r)
        for (std::size_t j = 0; j < 3 * d; ++j) {
            real sum = p.b_qkv[j], mag = std::fabs(p.b_qkv[j]);
            for (std::size_t i = 0; i < d; ++i) {
                sum += p.w_qkv[j * d + i] * x[r * d + i];
                mag += std::fabs(p.w_qkv[j * d + i] * x[r * d + i]);
            }
            qkv[r * 3 * d + j] = sum;
            qkv_mag[r * 3 * d + j] = mag;
        }
    const auto q = [&](std::size_t r, std::size_t c) { return qkv[r * 3 * d + c]; };
    const auto k = [&](std::size_t r, std::size_t c) { return qkv[r * 3 * d + d + c]; };
    const auto v = [&](std::size_t r, std::size_t c) { return qkv[r * 3 * d + 2 * d + c]; };
    const auto qm = [&](std::size_t r, std::size_t c) { return qkv_mag[r * 3 * d + c]; };
    const auto km = [&](std::size_t r, std::size_t c) { return qkv_mag[r * 3 * d + d + c]; };
    const auto vm = [&](std::size_t r, std::size_t c) { return qkv_mag[r * 3 * d + 2 * d + c]; };

    // attention per (sample, head)
    std::vector<real> ctx(rows * d, 0), ctx_mag(rows * d, 0);
    const real scale = 1 / std::sqrt(real(hd));
    std::vector<real> s(tokens), s_mag(tokens), prob(tokens), prob_mag(tokens);
    for (std::size_t b = 0; b < batch; ++b)
        for (std::size_t h = 0; h < heads; ++h)
            for (std::size_t i = 0; i < tokens; ++i) {
                const std::size_t ri = b * tokens + i, valid = causal ? i + 1 : tokens;
                real max = -INFINITY;
                for (std::size_t j = 0; j < valid; ++j) {
                    const std::size_t rj = b * tokens + j;
                    real dot = 0, mag = 0;
                    for (std::size_t c = h * hd; c < (h + 1) * hd; ++c) {
                        dot += q(ri, c) * k(rj, c);
                        mag += qm(ri, c) * std::fabs(k(rj, c)) + std::fabs(q(ri, c)) * km(rj, c);
                    }
                    s[j] = dot * scale;
                    s_mag[j] = mag * scale + std::fabs(s[j]);
                    max = std::max(max, s[j]);
                }
                real sum = 0;
                for (std::size_t j = 0; j < valid; ++j) sum += std::exp(s[j] - max);
                real mean_s_mag = 0;
                for (std::size_t j = 0; j < valid; ++j) {
                    prob[j] = std::exp(s[j] - max) / sum;
                    mean_s_mag += prob[j] * s_mag[j];
                }
                for (std::size_t j = 0; j < valid; ++j) prob_mag[j] = prob[j] * (1 + s_mag[j] + mean_s_mag);
                for (std::size_t c = h * hd; c < (h + 1) * hd; ++c) {
                    real acc = 0, mag = 0;
                    for (std::size_t j = 0; j < valid; ++j) {
                        const std::size_t rj = b * tokens + j;
                        acc += prob[j] * v(rj, c);
                        mag += prob[j] * vm(rj, c) + prob_mag[j] * std::fabs(v(rj, c));
                    }
                    ctx[ri * d + c] = acc;
                    ctx_mag[ri * d + c] = mag;
                }
            }

    // output projection
    reference ref(rows, d);
    for (std::size_t r = 0; r < rows; ++r)
        for (std::size_t o = 0; o < d; ++o) {
            real sum = p.b_proj[o], mag = std::fabs(p.b_proj[o]);
            for (std::size_t c = 0; c < d; ++c) {
                sum += p.w_proj[o * d + c] * ctx[r * d + c];
                mag += std::fabs(p.w_proj[o * d + c]) * ctx_mag[r * d + c] + std::fabs(p.w_proj[o * d + c] * ctx[r * d + c]);
            }
            ref.at(r, o) = sum;
            ref.scale_at(r, o) = mag;
        }
    return ref;
}

template <std::size_t D, std::size_t H, bool Causal, class T>
void check_attention(std::size_t batch, std::size_t tokens, std::uint64_t seed, double weight_gain = 1) {
    using L = SelfAttention<D, H, Causal>;
    Model<L, T> m(seed);
    randomise(m, seed + 1);
    if (weight_gain != 1)
        for (auto& w : m.parameter("qkv.weight")) w = static_cast<T>(w * weight_gain);
    const Layout layout = Layout::sequence(batch, tokens);
    const auto x = random_values<T>(layout.row_count() * D, seed + 2);
    const auto y = m.forward(std::span<const T>(x), layout);
    const reference ref = attention_reference(widen(x), batch, tokens, D, H, Causal, read_params(m));
    CHECK(y.layout == layout);
    check_matches(y, ref, L::type_name() + " on " + layout.describe() +
                              (weight_gain != 1 ? ", qkv weights x" + std::to_string(weight_gain) : std::string()));
}

template <bool Causal, class T>
void attention_suite() {
    check_attention<1, 1, Causal, T>(2, 1, 500);  // one token: P = [1], y = proj(v)
    check_attention<1, 1, Causal, T>(1, 3, 501);
    check_attention<3, 1, Causal, T>(2, 17, 502);
    check_attention<3, 3, Causal, T>(1, 17, 503);  // head_dim 1
    check_attention<17, 1, Causal, T>(2, 3, 504);
    check_attention<100, 4, Causal, T>(2, 3, 505);
    check_attention<64, 4, Causal, T>(2, 17, 506);
    check_attention<768, 12, Causal, T>(1, 3, 507);  // GPT-2 small's width and heads
    // large scores (|s| ~ 100s): softmax must subtract the row maximum, not overflow
    check_attention<17, 1, Causal, T>(2, 17, 508, 30);
    // contexts of 7, 64 (one block of query rows), 65 and 130 (blocks of 64 with a short last one: the causal
    // products skip the keys after each block) and 1024 (GPT-2's context; head_dim 16 keeps the reference cheap)
    check_attention<32, 2, Causal, T>(3, 7, 509);
    check_attention<32, 2, Causal, T>(2, 64, 510);
    check_attention<32, 2, Causal, T>(1, 65, 511);
    check_attention<48, 3, Causal, T>(2, 130, 512);
    check_attention<32, 2, Causal, T>(1, 1024, 513);
}

// The hand-computed cases share x, Wq = Wk = I, Wv = diag(2, 3), bv = (1, -1), Wproj = [[1, 0], [1, 1]],
// bproj = (0.5, 0), bq = bk = 0:
//   x0 = (1, 0), x1 = (0, 1);  q = k = x;  v0 = (3, -1), v1 = (1, 2).
template <std::size_t H, bool Causal>
tensor_view<double> hand_case(Model<SelfAttention<2, H, Causal>, double>& m) {
    const std::vector<double> w_qkv{1, 0, 0, 1,   // q
                                    1, 0, 0, 1,   // k
                                    2, 0, 0, 3};  // v
    const std::vector<double> b_qkv{0, 0, 0, 0, 1, -1};
    const std::vector<double> w_proj{1, 0, 1, 1}, b_proj{0.5, 0};
    std::copy(w_qkv.begin(), w_qkv.end(), m.parameter("qkv.weight").begin());
    std::copy(b_qkv.begin(), b_qkv.end(), m.parameter("qkv.bias").begin());
    std::copy(w_proj.begin(), w_proj.end(), m.parameter("proj.weight").begin());
    std::copy(b_proj.begin(), b_proj.end(), m.parameter("proj.bias").begin());
    static const std::vector<double> x{1, 0, 0, 1};
    return m.forward(std::span<const double>(x), Layout::sequence(1, 2));
}

void check_pair(const tensor_view<double>& y, std::size_t row, double a, double b) {
    INFO("row " << row << ": got (" << y(row, 0) << ", " << y(row, 1) << "), expected (" << a << ", " << b << ")");
    CHECK(std::fabs(y(row, 0) - a) <= 1e-14);
    CHECK(std::fabs(y(row, 1) - b) <= 1e-14);
}

}  // namespace

TEST_CASE("SelfAttention: hand-computed cases", "[layers][attention]") {
    SECTION("one head, hd = 2") {
        // scores = x xᵀ / sqrt 2 = [[1/√2, 0], [0, 1/√2]], so P = [[a, 1-a], [1-a, a]] with
        // a = 1 / (1 + e^(-1/√2)) = 0.669761549326656925616794945834...
        // ctx0 = a v0 + (1-a) v1 = (1 + 2a, 2 - 3a), ctx1 = (1-a) v0 + a v1 = (3 - 2a, 3a - 1)
        // y = (ctx_0 + 0.5, ctx_0 + ctx_1): y0 = (1.5 + 2a, 3 - a), y1 = (3.5 - 2a, 2 + a)
        const double a = 0.669761549326656925616794945834;
        Model<SelfAttention<2, 1, false>, double> m(0);
        const auto y = hand_case(m);
        REQUIRE(y.rows() == 2);
        check_pair(y, 0, 1.5 + 2 * a, 3 - a);
        check_pair(y, 1, 3.5 - 2 * a, 2 + a);
    }
    SECTION("one head, causal") {
        // row 0 sees only itself: P0 = [1, 0], ctx0 = v0 = (3, -1), y0 = (3.5, 2); row 1 as without the mask
        const double a = 0.669761549326656925616794945834;
        Model<SelfAttention<2, 1, true>, double> m(0);
        const auto y = hand_case(m);
        check_pair(y, 0, 3.5, 2);
        check_pair(y, 1, 3.5 - 2 * a, 2 + a);
    }
    SECTION("two heads, hd = 1: column c of q, k, v belongs to head c") {
        // scale 1. head 0 (column 0): q = k = (1, 0): scores [[1, 0], [0, 0]], P = [[e/(e+1), 1/(e+1)], [1/2, 1/2]]
        // head 1 (column 1): q = k = (0, 1): scores [[0, 0], [0, 1]], P = [[1/2, 1/2], [1/(e+1), e/(e+1)]]
        // with c = e / (e + 1) = 0.731058578630004879251159804982...:
        // ctx0 = (3c + (1-c), (-1 + 2) / 2) = (1 + 2c, 0.5), ctx1 = ((3 + 1) / 2, -(1-c) + 2c) = (2, 3c - 1)
        // y0 = (1.5 + 2c, 1.5 + 2c), y1 = (2.5, 1 + 3c)
        const double c = 0.731058578630004879251159804982;
        Model<SelfAttention<2, 2, false>, double> m(0);
        const auto y = hand_case(m);
        check_pair(y, 0, 1.5 + 2 * c, 1.5 + 2 * c);
        check_pair(y, 1, 2.5, 1 + 3 * c);
    }
    SECTION("two heads, causal") {
        // row 0: both heads see only token 0: ctx0 = v0 = (3, -1), y0 = (3.5, 2); row 1 as without the mask
        const double c = 0.731058578630004879251159804982;
        Model<SelfAttention<2, 2, true>, double> m(0);
        const auto y = hand_case(m);
        check_pair(y, 0, 3.5, 2);
        check_pair(y, 1, 2.5, 1 + 3 * c);
    }
}

TEST_CASE("SelfAttention forward matches the definition", "[layers][attention]") {
    SECTION("float") {
        attention_suite<false, float>();
        attention_suite<true, float>();
    }
    SECTION("double") {
        attention_suite<false, double>();
        attention_suite<true, double>();
    }
}

namespace {

// Changes every token from `from` on (in sample 0 only) and reports which outputs moved.
template <std::size_t D, std::size_t H, bool Causal, class T>
void check_mask_property(std::size_t tokens, std::uint64_t seed) {
    Model<SelfAttention<D, H, Causal>, T> m(seed);
    randomise(m, seed + 1);
    const std::size_t batch = 2;
    const Layout layout = Layout::sequence(batch, tokens);
    const auto x = random_values<T>(batch * tokens * D, seed + 2);
    const auto base = m.forward(std::span<const T>(x), layout);
    const std::vector<T> y0(base.data, base.data + base.size());
    for (const std::size_t from : {std::size_t(1), tokens / 2, tokens - 1}) {
        auto changed = x;
        rng r(seed + from);
        for (std::size_t t = from; t < tokens; ++t)
            for (std::size_t i = 0; i < D; ++i) changed[t * D + i] = static_cast<T>(r.uniform(-2, 2));
        const auto y = m.forward(std::span<const T>(changed), layout);
        bool earlier_same = true, earlier_moved_all = true, later_moved = true, other_sample_same = true;
        for (std::size_t t = 0; t < tokens; ++t) {
            bool row_same = true;
            for (std::size_t i = 0; i < D; ++i) row_same = row_same && y(t, i) == y0[t * D + i];
            if (t < from) {
                earlier_same = earlier_same && row_same;
                earlier_moved_all = earlier_moved_all && !row_same;
            } else {
                later_moved = later_moved && !row_same;
            }
        }
        for (std::size_t i = tokens * D; i < 2 * tokens * D; ++i) other_sample_same = other_sample_same && y.data[i] == y0[i];
        INFO("SelfAttention<" << D << ", " << H << (Causal ? ", causal" : "") << "> [" << type_label<T>() << "], "
                              << tokens << " tokens, tokens " << from << ".. changed");
        CHECK(later_moved);
        CHECK(other_sample_same);  // samples never attend to each other
        if (Causal)
            CHECK(earlier_same);  // bit for bit: masked probabilities are exactly 0
        else
            CHECK(earlier_moved_all);  // without the mask every token sees the change
    }
}

// A prefix of a causal sequence gives the same outputs as the whole sequence's first rows.
template <std::size_t D, std::size_t H, class T>
void check_prefix(std::size_t tokens, std::uint64_t seed) {
    Model<SelfAttention<D, H, true>, T> m(seed);
    randomise(m, seed + 1);
    const auto x = random_values<T>(tokens * D, seed + 2);
    const attention_params p = read_params(m);
    for (const std::size_t prefix : {std::size_t(1), tokens / 2, tokens}) {
        const std::vector<T> head(x.begin(), x.begin() + static_cast<std::ptrdiff_t>(prefix * D));
        const auto y = m.forward(std::span<const T>(head), Layout::sequence(1, prefix));
        // the reference of the whole sequence, cut to the prefix
        const reference full = attention_reference(widen(x), 1, tokens, D, H, true, p);
        reference cut(prefix, D);
        std::copy(full.value.begin(), full.value.begin() + static_cast<std::ptrdiff_t>(prefix * D), cut.value.begin());
        std::copy(full.scale.begin(), full.scale.begin() + static_cast<std::ptrdiff_t>(prefix * D), cut.scale.begin());
        check_matches(y, cut, "causal prefix of " + std::to_string(prefix) + " of " + std::to_string(tokens) + " tokens");
    }
}

}  // namespace

TEST_CASE("SelfAttention: the causal mask hides later tokens", "[layers][attention]") {
    SECTION("float") {
        check_mask_property<17, 1, true, float>(17, 600);
        check_mask_property<64, 4, true, float>(17, 601);
        check_mask_property<64, 4, false, float>(17, 602);
        check_prefix<64, 4, float>(17, 603);
    }
    SECTION("double") {
        check_mask_property<17, 1, true, double>(17, 600);
        check_mask_property<64, 4, true, double>(17, 601);
        check_mask_property<64, 4, false, double>(17, 602);
        check_prefix<64, 4, double>(17, 603);
    }
}

TEST_CASE("kernels::attention_head checks its arguments", "[layers][attention][errors]") {
    std::vector<float> qkv(3 * 3 * 4, 0.5f), p(9), ctx(3 * 4);
    const float* q = qkv.data();
    const auto call = [&](std::size_t tokens, std::size_t head_dim, std::size_t ld, const float* queries) {
        kernels::attention_head(tokens, head_dim, true, queries, ld, q + 4, ld, q + 8, ld, p.data(), ctx.data(),
                                std::size_t(4));
    };
    require_error<config_error>([&] { call(0, 4, 12, q); }, {"kernels::attention_head", "must be > 0"});
    require_error<config_error>([&] { call(3, 4, 12, nullptr); }, {"kernels::attention_head", "null"});
    require_error<config_error>([&] { call(3, 4, 2, q); }, {"kernels::attention_head", "row stride", "head_dim = 4"});
    call(3, 4, 12, q);  // equal keys: uniform attention over the valid ones, ctx = v
    CHECK(p[3] == 0.5f);
    CHECK(ctx[0] == 0.5f);
}
