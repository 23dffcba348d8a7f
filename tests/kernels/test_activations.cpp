// Activation kernels (kernels/activations.hpp) and softmax_row (kernels/softmax.hpp) against long-double
// references, float and double, on the SIMD path and the scalar path.
//
// Activations: every forward f and derivative f' (backward with dy = 1) over a dense set of inputs: a grid of step
// 1/64 on [-20, 20], 2^16 uniform values on [-12, 12], every power of two times (1 + j/8) from the smallest
// denormal to the largest finite value, both signs, and ±1e4, ±100, ±88, ±0, ±inf, ±max, NaN. Error in ulps:
//   ulps = |got - want| / ulp_T(max(|want|, terms, tiny)),   ulp_T(v) = the spacing of T at v
// tiny = 2^(digits-1) T::min() (2^-103 in float, 2^-970 in double; its ulp is T::min()): results below it are
// held to an absolute error in units of T's smallest normal (a denormal result flushed to 0 costs < 1 unit).
// terms = 0 for the forwards; for the derivatives, which are sums of two terms that cancel where f' crosses 0
// (SiLU' at x = -1.28, GELU' at -0.75), terms = the sum of their absolute values (s + |s x (1 - s) a'|,
// Phi + |x phi|): the error is measured against the terms there, not against their small difference.
// Bounds (all inputs; and |x| <= 4), asserted for the SIMD and scalar paths alike (kBounds below):
//   ReLU 0 (exact);  SiLU f 5, f' 6;  GELUTanh f, f' 200 float / 900 double (25 for |x| <= 4);
//   GELU f 270 float / 1500 double (25 for |x| <= 4), f' 80 (8 for |x| <= 4).
// The large totals are the far negative tails (f < 1e-6 |x|): there the result is x exp(-a) (GELUTanh,
// a = 2u) or x erfc(z)/2 (GELU, z = -x/sqrt 2) and the rounding of the argument a or z in T (a few ulps) becomes
// a relative error of |a| (resp. 2 z^2) times that: the same in the layers' scalar formulas and in torch.
// Also: n = 0, 1, lanes - 1, lanes + 1, 1000, in place and not, every value's result independent of n and of its
// position; dx = f'(x) dy for random dy exactly (one rounding of the product).
//
// Softmax: softmax_row against a long-double reference, valid < width, valid == 1, rows with -inf, huge values,
// NaN, sums within a bound of 1.
#include "kernel_support.hpp"

#include <lnfold/kernels/activations.hpp>
#include <lnfold/kernels/softmax.hpp>
#include <lnfold/layers/gelu.hpp>
#include <lnfold/layers/gelu_tanh.hpp>
#include <lnfold/layers/relu.hpp>
#include <lnfold/layers/silu.hpp>


using namespace lnfold_test::kernels;

namespace {

constexpr real sqrt_half = 0.707106781186547524400844362104849039L;
constexpr real inv_sqrt_2pi = 0.398942280401432677939946059934381868L;
constexpr real sqrt_2_over_pi = 0.797884560802865355879892119868763737L;
constexpr real inf = std::numeric_limits<real>::infinity();

// Reference value and the scale of the terms it is a sum of (the floor of the derivatives' ulps).
struct value {
    real v, terms;
};

// s(a) and 1 - s(a) without cancellation.
std::pair<real, real> sigmoid_pair(real a) {
    const real e = std::exp(-std::fabs(a)), r = 1 / (1 + e);
    return a >= 0 ? std::pair{r, e * r} : std::pair{e * r, r};
}

struct relu_ref {
    static constexpr const char* name = "ReLU";
    using layer = lnfold::ReLU;
    static value f(real x) { return {std::isnan(x) ? x : x > 0 ? x : real(0), 0}; }
    static value df(real x) { return {x > 0 ? real(1) : real(0), 0}; }  // NaN: 0, as the scalar derivative
};
struct silu_ref {
    static constexpr const char* name = "SiLU";
    using layer = lnfold::SiLU;
    static value f(real x) {
        if (std::isinf(x)) return {x > 0 ? x : real(0), 0};
        return {x * sigmoid_pair(x).first, 0};
    }
    static value df(real x) {  // s + s x (1 - s)
        if (std::isinf(x)) return {x > 0 ? real(1) : real(0), 0};
        const auto [s, t] = sigmoid_pair(x);
        return {s + s * x * t, s + std::fabs(s * x * t)};
    }
};
struct gelu_tanh_ref {
    static constexpr const char* name = "GELUTanh";
    using layer = lnfold::GELUTanh;
    static real a(real x) { return 2 * sqrt_2_over_pi * (x + real(0.044715) * x * x * x); }
    static value f(real x) {  // x/2 (1 + tanh u) = x s(2u)
        if (std::isinf(x)) return {x > 0 ? x : real(0), 0};
        return {x * sigmoid_pair(a(x)).first, 0};
    }
    static value df(real x) {  // s + s x (1 - s) a'
        if (std::isinf(x)) return {x > 0 ? real(1) : real(0), 0};
        const auto [s, t] = sigmoid_pair(a(x));
        const real da = 2 * sqrt_2_over_pi * (1 + 3 * real(0.044715) * x * x);
        return {s + s * x * t * da, s + std::fabs(s * x * t * da)};
    }
};
struct gelu_ref {
    static constexpr const char* name = "GELU";
    using layer = lnfold::GELU;
    static value f(real x) {  // x/2 (1 + erf(x/sqrt 2)) = x/2 erfc(-x/sqrt 2)
        if (std::isinf(x)) return {x > 0 ? x : real(0), 0};
        return {x / 2 * std::erfc(-x * sqrt_half), 0};
    }
    static value df(real x) {  // Phi(x) + x phi(x)
        if (std::isinf(x)) return {x > 0 ? real(1) : real(0), 0};
        const real cdf = std::erfc(-x * sqrt_half) / 2, xpdf = x * std::exp(-x * x / 2) * inv_sqrt_2pi;
        return {cdf + xpdf, cdf + std::fabs(xpdf)};
    }
};

// The spacing of T at |v| (v finite): the smallest denormal below T's smallest normal.
template <class T>
real ulp_of(real v) {
    const real a = std::fabs(v);
    if (a < real(std::numeric_limits<T>::min())) return real(std::numeric_limits<T>::denorm_min());
    return std::ldexp(real(1), std::ilogb(a) - (std::numeric_limits<T>::digits - 1));
}

// ulps of got against want (floor: see the top); NaN must give NaN, infinities must match exactly.
template <class T>
real ulp_error(T got, value want) {
    if (std::isnan(want.v)) return std::isnan(got) ? 0 : inf;
    if (std::isnan(got)) return inf;
    if (std::isinf(want.v) || std::isinf(got)) return real(got) == want.v ? 0 : inf;
    const real tiny = std::ldexp(real(std::numeric_limits<T>::min()), std::numeric_limits<T>::digits - 1);
    return std::fabs(real(got) - want.v) / ulp_of<T>(std::max({std::fabs(want.v), want.terms, tiny}));
}

template <class T>
std::vector<T> dense_inputs() {
    std::vector<T> x;
    for (int i = -20 * 64; i <= 20 * 64; ++i) x.push_back(T(i) / T(64));
    rng g(7);
    for (int i = 0; i < 65536; ++i) x.push_back(T(-12 + 24 * g.uniform()));
    const int lowest = std::numeric_limits<T>::min_exponent - std::numeric_limits<T>::digits;
    for (int e = lowest; e < std::numeric_limits<T>::max_exponent; ++e)
        for (int j = 0; j < 8; ++j) {
            const T v = std::ldexp(T(1) + T(j) / T(8), e);
            if (std::isfinite(v)) {
                x.push_back(v);
                x.push_back(-v);
            }
        }
    for (T v : {T(1e4), T(100), T(88), T(0), std::numeric_limits<T>::infinity(), std::numeric_limits<T>::max()}) {
        x.push_back(v);
        x.push_back(-v);
    }
    x.push_back(std::numeric_limits<T>::quiet_NaN());
    x.push_back(-std::numeric_limits<T>::quiet_NaN());
    return x;
}

struct ulps {
    real forward, derivative, forward_core, derivative_core;  // core: |x| <= 4
};

// Max ulps of forward and derivative over the dense inputs, on Arch.
template <class Ref, class Arch, class T>
ulps measure() {
    const std::vector<T> x = dense_inputs<T>();
    const std::size_t n = x.size();
    std::vector<T> y(n), one(n, T(1)), d(n);
    lnfold::kernels::activation_forward<typename Ref::layer, Arch>(x.data(), y.data(), n);
    lnfold::kernels::activation_backward<typename Ref::layer, Arch>(x.data(), one.data(), d.data(), n);
    real ef = 0, ed = 0, cf = 0, cd = 0;
    T worst_f = 0, worst_d = 0;
    for (std::size_t i = 0; i < n; ++i) {
        const real e1 = ulp_error(y[i], Ref::f(x[i])), e2 = ulp_error(d[i], Ref::df(x[i]));
        if (!(e1 <= ef)) ef = e1, worst_f = x[i];
        if (!(e2 <= ed)) ed = e2, worst_d = x[i];
        if (std::fabs(x[i]) <= 4) cf = std::max(cf, e1), cd = std::max(cd, e2);
    }
    std::printf("%-9s %-6s %-8s forward %7.2Lf ulp (|x|<=4: %5.2Lf; worst at x = %.9g), derivative %7.2Lf ulp "
                "(|x|<=4: %5.2Lf; worst at x = %.9g)\n",
                Ref::name, type_name<T>(), lnfold::kernels::arch_for_t<T, Arch>::name(), ef, cf, double(worst_f), ed,
                cd, double(worst_d));
    return {ef, ed, cf, cd};
}

// Bounds in ulps: {forward, derivative, forward for |x| <= 4, derivative for |x| <= 4}.
template <class Ref, class T>
ulps bounds() {
    const bool f = sizeof(T) == 4;
    if constexpr (std::is_same_v<Ref, relu_ref>) return {0, 0, 0, 0};
    else if constexpr (std::is_same_v<Ref, silu_ref>) return {5, 6, 5, 6};
    else if constexpr (std::is_same_v<Ref, gelu_tanh_ref>) return {f ? 200.0L : 900.0L, f ? 200.0L : 900.0L, 25, 25};
    else return {f ? 270.0L : 1500.0L, 80, 25, 8};
}

template <class Ref, class Arch, class T>
void check_ulps() {
    const ulps got = measure<Ref, Arch, T>(), bound = bounds<Ref, T>();
    const char* arch = k::arch_for_t<T, Arch>::name();
    INFO(Ref::name << " " << type_name<T>() << " " << arch);
    CHECK(got.forward <= bound.forward);
    CHECK(got.derivative <= bound.derivative);
    CHECK(got.forward_core <= bound.forward_core);
    CHECK(got.derivative_core <= bound.derivative_core);
}

template <class Ref, class T>
void check_both_paths() {
    check_ulps<Ref, k::default_arch, T>();
    check_ulps<Ref, k::scalar_arch, T>();
}

// n = 0, 1, lanes - 1, lanes + 1, 1000 at an unaligned start, in place and not: each value's result equals its
// result inside one long call (bit for bit, NaN as NaN), nothing outside [0, n) is written, and backward with a
// random dy gives exactly T(f'(x) * dy) with f'(x) from dy = 1.
template <class Ref, class Arch, class T>
void check_lengths() {
    using Act = typename Ref::layer;
    const std::vector<T> all = dense_inputs<T>();
    const std::size_t total = all.size();
    std::vector<T> y_all(total), d_all(total), one(total, T(1));
    k::activation_forward<Act, Arch>(all.data(), y_all.data(), total);
    k::activation_backward<Act, Arch>(all.data(), one.data(), d_all.data(), total);
    const std::size_t lanes = k::lanes_v<T, k::arch_for_t<T, Arch>>;
    const T sentinel = T(-12345);
    rng g(99);
    for (std::size_t n : {std::size_t{0}, std::size_t{1}, lanes - 1, lanes + 1, std::size_t{1000}}) {
        for (std::size_t start : {std::size_t{0}, std::size_t{3}, total / 2 + 1, total - n}) {
            INFO(Ref::name << " " << type_name<T>() << " n = " << n << " start = " << start);
            const T* x = all.data() + start;
            offset_buffer<T> y(n + 1), inplace(n + 1), dy(n + 1), dx(n + 1), dx_inplace(n + 1);
            for (std::size_t i = 0; i <= n; ++i) {
                y[i] = dx[i] = sentinel;
                inplace[i] = i < n ? x[i] : sentinel;
                dy[i] = i < n ? T(g.normal()) : sentinel;
                dx_inplace[i] = dy[i];
            }
            k::activation_forward<Act, Arch>(x, y.data(), n);
            k::activation_forward<Act, Arch>(inplace.data(), inplace.data(), n);
            k::activation_backward<Act, Arch>(x, dy.data(), dx.data(), n);
            k::activation_backward<Act, Arch>(x, dx_inplace.data(), dx_inplace.data(), n);
            CHECK(bit_equal(y.data(), y_all.data() + start, n));
            CHECK(bit_equal(inplace.data(), y_all.data() + start, n));
            CHECK(bit_equal(dx.data(), dx_inplace.data(), n));
            for (std::size_t i = 0; i < n; ++i) {
                const T want = d_all[start + i] * dy[i];
                if (!(dx[i] == want || (std::isnan(dx[i]) && std::isnan(want)))) FAIL_CHECK("dx[" << i << "] = " << dx[i] << ", want " << want);
            }
            CHECK(y[n] == sentinel);
            CHECK(inplace[n] == sentinel);
            CHECK(dx[n] == sentinel);
            CHECK(dx_inplace[n] == sentinel);
        }
    }
}

template <class Ref, class T>
void check_activation() {
    check_both_paths<Ref, T>();
    check_lengths<Ref, k::default_arch, T>();
    check_lengths<Ref, k::scalar_arch, T>();
}

}  // namespace

TEMPLATE_TEST_CASE("activation kernels: ulps over a dense range with infinities, denormals, NaN; lengths; in place",
                   "[kernels]", float, double) {
    using T = TestType;
    check_activation<relu_ref, T>();
    check_activation<silu_ref, T>();
    check_activation<gelu_tanh_ref, T>();
    check_activation<gelu_ref, T>();
}

namespace {

// softmax_row on a copy of x (width entries, the first valid used) against the long-double softmax; returns the
// max relative error of the valid entries and checks the masked ones are 0 and the sum is within sum_bound of 1.
template <class Arch, class T>
real check_softmax(const std::vector<T>& x, std::size_t valid, real sum_bound) {
    const std::size_t width = x.size();
    offset_buffer<T> row(width + 1);
    for (std::size_t j = 0; j < width; ++j) row[j] = x[j];
    row[width] = T(7);
    k::softmax_row<Arch>(row.data(), valid, width);
    real max = -inf;
    for (std::size_t j = 0; j < valid; ++j) max = std::max(max, real(x[j]));
    real sum = 0, got_sum = 0, err = 0;
    for (std::size_t j = 0; j < valid; ++j) sum += std::exp(real(x[j]) - max);
    for (std::size_t j = 0; j < valid; ++j) {
        const real want = std::exp(real(x[j]) - max) / sum;
        err = std::max(err, std::fabs(real(row[j]) - want) / std::max(want, real(std::numeric_limits<T>::min())));
        got_sum += row[j];
    }
    const char* arch = k::arch_for_t<T, Arch>::name();
    INFO("softmax " << type_name<T>() << " " << arch << " valid " << valid << " width " << width);
    for (std::size_t j = valid; j < width; ++j) CHECK(row[j] == T(0));
    CHECK(row[width] == T(7));
    CHECK(std::fabs(got_sum - 1) <= sum_bound);
    return err;
}

}  // namespace

TEMPLATE_TEST_CASE("softmax_row against long double: masks, -inf, huge values, NaN", "[kernels]", float, double) {
    using T = TestType;
    // Each entry: exp of the rounded difference x_j - max (relative error ~ |x_j - max| ulps, up to ~30 here),
    // times 1/sum; measured 2.2e-6 (float), 3.4e-15 (double).
    const real bound = sizeof(T) == 4 ? real(5e-6) : real(1e-14);
    const real sum_bound = sizeof(T) == 4 ? real(2e-6) : real(4e-15);
    real worst = 0;
    const auto both = [&](const std::vector<T>& x, std::size_t valid) {
        worst = std::max(worst, check_softmax<k::default_arch>(x, valid, sum_bound));
        worst = std::max(worst, check_softmax<k::scalar_arch>(x, valid, sum_bound));
    };
    for (std::size_t width : {std::size_t{1}, std::size_t{3}, std::size_t{8}, std::size_t{17}, std::size_t{64},
                              std::size_t{100}, std::size_t{1000}}) {
        std::vector<T> x(width);
        rng g(width);
        for (T& v : x) v = T(4 * g.normal());
        for (std::size_t valid : {std::size_t{1}, width / 2 + 1, width}) {
            if (valid <= width) both(x, valid);
        }
        std::vector<T> huge = x;  // exp(x) overflows, exp(x - max) does not
        for (T& v : huge) v = v * T(1e3) + T(sizeof(T) == 4 ? 3e37 : 1e307);
        both(huge, width);
        std::vector<T> masked = x;  // -inf entries: probability 0
        for (std::size_t j = 1; j < width; j += 3) masked[j] = -std::numeric_limits<T>::infinity();
        both(masked, width);
    }
    std::printf("softmax_row %s (%s): max relative error %.3Le (bound %.1Le)\n", type_name<T>(), lnfold::simd_arch(),
                worst, bound);
    CHECK(worst <= bound);

    // valid = 0: only zeros; NaN or an all -inf row: the valid part NaN (the semantics SelfAttention relies on).
    for (std::size_t width : {std::size_t{5}, std::size_t{40}}) {
        std::vector<T> row(width, T(1));
        k::softmax_row(row.data(), 0, width);
        for (T v : row) CHECK(v == T(0));
        std::vector<T> nan_row(width, T(1));
        nan_row[width - 2] = std::numeric_limits<T>::quiet_NaN();
        k::softmax_row(nan_row.data(), width - 1, width);
        for (std::size_t j = 0; j + 1 < width; ++j) CHECK(std::isnan(nan_row[j]));
        CHECK(nan_row[width - 1] == T(0));
        std::vector<T> dead(width, -std::numeric_limits<T>::infinity());
        k::softmax_row(dead.data(), width, width);
        for (T v : dead) CHECK(std::isnan(v));
    }
}
