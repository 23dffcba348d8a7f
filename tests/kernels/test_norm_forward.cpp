// Forward kernels against the long-double reference: every width of `dims`, float and double, unaligned rows,
// with and without gamma/beta, on the SIMD path and the scalar path.
#include "kernel_support.hpp"

using namespace lnfold_test::kernels;

namespace {

constexpr std::size_t rows = 3;

template <class T>
struct inputs {
    std::size_t dim;
    offset_buffer<T> x, b, gamma, beta;
    inputs(std::size_t d, std::uint64_t seed)
        : dim(d),
          x(random_buffer<T>(rows * d, seed, 0.5, 2.0)),
          b(random_buffer<T>(rows * d, seed + 1, -0.25, 1.0)),
          gamma(random_buffer<T>(d, seed + 2, 1.0, 0.5)),
          beta(random_buffer<T>(d, seed + 3, 0.0, 0.5)) {}
};

// The four affine combinations: gamma and beta each present or not.
template <class T>
std::pair<const T*, const T*> affine(inputs<T>& in, int which) {
    return {(which & 1) ? in.gamma.data() : nullptr, (which & 2) ? in.beta.data() : nullptr};
}

std::string label(const char* kernel, const char* type, const char* arch, int which) {
    static const char* names[] = {"no gamma/beta", "gamma", "beta", "gamma+beta"};
    return std::string(kernel) + " " + type + " " + arch + " " + names[which];
}

template <class Arch, class T>
void check_layer_norm(error_report& report, std::size_t d, int which) {
    inputs<T> in(d, 100 + d);
    auto [g, bt] = affine(in, which);
    const T eps = T(1e-5);
    offset_buffer<T> y(rows * d), mean(rows), rstd(rows);
    k::layer_norm_rows<Arch>(in.x.data(), rows, d, g, bt, eps, y.data(), mean.data(), rstd.data());
    const auto want = ref::layer_norm(in.x.data(), rows, d, g, bt, eps);
    const real e = max_rel_error(y.data(), want.y, rows * d);
    const real em = max_rel_error(mean.data(), want.stat, rows);
    const real es = max_rel_error(rstd.data(), want.rstd, rows);
    report.note(label("layer_norm", type_name<T>(), k::arch_for_t<T, Arch>::name(), which), e);
    report.note(std::string("layer_norm mean/rstd ") + type_name<T>(), std::max(em, es));
    INFO("layer_norm d=" << d << " " << type_name<T>() << " affine " << which << " y err " << double(e));
    CHECK(e <= tolerance<T>());
    CHECK(em <= tolerance<T>());
    CHECK(es <= tolerance<T>());
}

template <class Arch, class T>
void check_rms_norm(error_report& report, std::size_t d, int which) {
    inputs<T> in(d, 200 + d);
    auto [g, bt] = affine(in, which);
    const T eps = T(1e-6);
    offset_buffer<T> y(rows * d), rrms(rows);
    k::rms_norm_rows<Arch>(in.x.data(), rows, d, g, bt, eps, y.data(), rrms.data());
    const auto want = ref::rms_norm(in.x.data(), rows, d, g, bt, eps);
    const real e = max_rel_error(y.data(), want.y, rows * d);
    const real es = max_rel_error(rrms.data(), want.stat, rows);
    report.note(label("rms_norm", type_name<T>(), k::arch_for_t<T, Arch>::name(), which), e);
    INFO("rms_norm d=" << d << " " << type_name<T>() << " affine " << which << " y err " << double(e));
    CHECK(e <= tolerance<T>());
    CHECK(es <= tolerance<T>());
}

template <class Arch, class T>
void check_add_layer_norm(error_report& report, std::size_t d, int which) {
    inputs<T> in(d, 300 + d);
    auto [g, bt] = affine(in, which);
    const T eps = T(1e-5);
    offset_buffer<T> sum(rows * d), y(rows * d), mean(rows), rstd(rows);
    k::add_layer_norm_rows<Arch>(in.x.data(), in.b.data(), rows, d, g, bt, eps, sum.data(), y.data(), mean.data(),
                                 rstd.data());
    const auto s = ref::rounded_sum(in.x.data(), in.b.data(), rows * d);
    CHECK(bit_equal(sum.data(), s.data(), rows * d));
    const auto want = ref::layer_norm(s.data(), rows, d, g, bt, eps);
    const real e = max_rel_error(y.data(), want.y, rows * d);
    report.note(label("add_layer_norm", type_name<T>(), k::arch_for_t<T, Arch>::name(), which), e);
    INFO("add_layer_norm d=" << d << " " << type_name<T>() << " affine " << which << " y err " << double(e));
    CHECK(e <= tolerance<T>());
    CHECK(max_rel_error(mean.data(), want.stat, rows) <= tolerance<T>());
    CHECK(max_rel_error(rstd.data(), want.rstd, rows) <= tolerance<T>());
}

template <class Arch, class T>
void check_add_rms_norm(error_report& report, std::size_t d, int which) {
    inputs<T> in(d, 400 + d);
    auto [g, bt] = affine(in, which);
    const T eps = T(1e-6);
    offset_buffer<T> sum(rows * d), y(rows * d), rrms(rows);
    k::add_rms_norm_rows<Arch>(in.x.data(), in.b.data(), rows, d, g, bt, eps, sum.data(), y.data(), rrms.data());
    const auto s = ref::rounded_sum(in.x.data(), in.b.data(), rows * d);
    CHECK(bit_equal(sum.data(), s.data(), rows * d));
    const auto want = ref::rms_norm(s.data(), rows, d, g, bt, eps);
    const real e = max_rel_error(y.data(), want.y, rows * d);
    report.note(label("add_rms_norm", type_name<T>(), k::arch_for_t<T, Arch>::name(), which), e);
    INFO("add_rms_norm d=" << d << " " << type_name<T>() << " affine " << which << " y err " << double(e));
    CHECK(e <= tolerance<T>());
    CHECK(max_rel_error(rrms.data(), want.stat, rows) <= tolerance<T>());
}

template <class Arch, class T>
void check_all(error_report& report) {
    for (std::size_t d : dims)
        for (int which = 0; which < 4; ++which) {
            check_layer_norm<Arch, T>(report, d, which);
            check_rms_norm<Arch, T>(report, d, which);
            check_add_layer_norm<Arch, T>(report, d, which);
            check_add_rms_norm<Arch, T>(report, d, which);
        }
}

}  // namespace

TEMPLATE_TEST_CASE("forward kernels match the long-double reference", "[kernels]", float, double) {
    const std::string title = std::string("forward vs long-double reference, ") + type_name<TestType>();
    SECTION("SIMD path") {
        error_report report{title + ", SIMD path", {}};
        check_all<k::default_arch, TestType>(report);
    }
    SECTION("scalar path") {
        error_report report{title + ", scalar path", {}};
        check_all<k::scalar_arch, TestType>(report);
    }
}

TEMPLATE_TEST_CASE("SIMD and scalar paths agree", "[kernels]", float, double) {
    using T = TestType;
    // Only the summation order differs: a few units in the last place of the statistics.
    const real bound = sizeof(T) == 4 ? real(5e-6) : real(1e-14);
    real worst = 0;
    for (std::size_t d : dims) {
        auto x = random_buffer<T>(rows * d, 7 + d, 0.5, 2.0);
        auto b = random_buffer<T>(rows * d, 8 + d);
        auto g = random_buffer<T>(d, 9 + d, 1.0, 0.5);
        auto bt = random_buffer<T>(d, 10 + d);
        offset_buffer<T> y1(rows * d), y2(rows * d), s1(rows * d), s2(rows * d);
        k::layer_norm_rows<k::default_arch>(x.data(), rows, d, g.data(), bt.data(), T(1e-5), y1.data());
        k::layer_norm_rows<k::scalar_arch>(x.data(), rows, d, g.data(), bt.data(), T(1e-5), y2.data());
        worst = std::max(worst, max_rel_diff(y1.data(), y2.data(), rows * d));
        k::rms_norm_rows<k::default_arch>(x.data(), rows, d, g.data(), bt.data(), T(1e-5), y1.data());
        k::rms_norm_rows<k::scalar_arch>(x.data(), rows, d, g.data(), bt.data(), T(1e-5), y2.data());
        worst = std::max(worst, max_rel_diff(y1.data(), y2.data(), rows * d));
        k::add_layer_norm_rows<k::default_arch>(x.data(), b.data(), rows, d, g.data(), bt.data(), T(1e-5), s1.data(),
                                                y1.data());
        k::add_layer_norm_rows<k::scalar_arch>(x.data(), b.data(), rows, d, g.data(), bt.data(), T(1e-5), s2.data(),
                                               y2.data());
        CHECK(bit_equal(s1.data(), s2.data(), rows * d));
        worst = std::max(worst, max_rel_diff(y1.data(), y2.data(), rows * d));
        k::add_rms_norm_rows<k::default_arch>(x.data(), b.data(), rows, d, nullptr, nullptr, T(1e-5), s1.data(),
                                              y1.data());
        k::add_rms_norm_rows<k::scalar_arch>(x.data(), b.data(), rows, d, nullptr, nullptr, T(1e-5), s2.data(),
                                             y2.data());
        worst = std::max(worst, max_rel_diff(y1.data(), y2.data(), rows * d));
    }
    std::printf("SIMD (%s) vs scalar, %s: max difference %.3Le (bound %.1Le)\n", lnfold::simd_arch(),
                type_name<T>(), worst, bound);
    CHECK(worst <= bound);
}

TEST_CASE("the active SIMD architecture is reported", "[kernels]") {
    const std::string arch = lnfold::simd_arch();
    std::printf("lnfold::simd_arch() = %s\n", arch.c_str());
    CHECK(!arch.empty());
#if defined(__x86_64__) && !defined(__AVX__)
    CHECK(arch == "sse2");  // no -march: xsimd's baseline on x86-64
#endif
#if defined(__AVX512BW__)
    CHECK(arch == "avx512bw");
#endif
}

TEMPLATE_TEST_CASE("single-row entry points equal the row kernels", "[kernels]", float, double) {
    using T = TestType;
    for (std::size_t d : dims) {
        auto x = random_buffer<T>(d, 90 + d, 0.5, 2.0);
        auto g = random_buffer<T>(d, 91, 1.0, 0.5);
        auto bt = random_buffer<T>(d, 92);
        offset_buffer<T> y1(d), y2(d), st(2);
        T mean = 0, rstd = 0;
        k::layer_norm_row<k::default_arch>(x.data(), d, g.data(), bt.data(), T(1e-5), y1.data(), mean, rstd);
        k::layer_norm_rows(x.data(), 1, d, g.data(), bt.data(), T(1e-5), y2.data(), st.data(), st.data() + 1);
        CHECK(bit_equal(y1.data(), y2.data(), d));
        CHECK(mean == st[0]);
        CHECK(rstd == st[1]);
        const T rrms = k::rms_norm_row<k::default_arch>(x.data(), d, g.data(), nullptr, T(1e-5), y1.data());
        k::rms_norm_rows(x.data(), 1, d, g.data(), nullptr, T(1e-5), y2.data(), st.data());
        CHECK(bit_equal(y1.data(), y2.data(), d));
        CHECK(rrms == st[0]);
    }
}
