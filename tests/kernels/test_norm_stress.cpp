// Stress rows (far-from-zero mean, constant rows, huge values, NaN/Inf), eps and shape validation, in-place use,
// and thread-count independence of the forward kernels. The stress cases run over 18 or 19 rows, so that narrow
// rows fill the row pipeline and wide rows several row groups.
#include "kernel_support.hpp"

#include <lnfold/core/error.hpp>
#include <lnfold/core/parallel.hpp>

#include <utility>

#if LNFOLD_HAS_OPENMP
#include <omp.h>
#endif

using namespace lnfold_test::kernels;

TEMPLATE_TEST_CASE("LayerNorm on rows with mean 1000 and std 1 stays accurate", "[kernels]", float, double) {
    using T = TestType;
    // A one-pass E[x^2] - mean^2 errs by ~1 here in float; the two-pass shifted kernels stay near 1 ulp of 1000.
    const real bound = sizeof(T) == 4 ? real(2e-4) : real(1e-11);
    real worst = 0;
    for (std::size_t d : {std::size_t{64}, std::size_t{384}, std::size_t{768}, std::size_t{1000}, std::size_t{4096},
                          std::size_t{4097}}) {
        const std::size_t rows = 18;
        auto x = random_buffer<T>(rows * d, 31 + d, 1000.0, 1.0);
        auto b = random_buffer<T>(rows * d, 32 + d, 0.0, 0.01);
        offset_buffer<T> y(rows * d), s(rows * d), y2(rows * d);
        k::layer_norm_rows(x.data(), rows, d, static_cast<const T*>(nullptr), static_cast<const T*>(nullptr), T(1e-5),
                           y.data());
        worst = std::max(worst, max_abs_error(y.data(), ref::layer_norm(x.data(), rows, d, (const T*)nullptr,
                                                                         (const T*)nullptr, 1e-5L).y, rows * d));
        k::layer_norm_rows<k::scalar_arch>(x.data(), rows, d, static_cast<const T*>(nullptr),
                                           static_cast<const T*>(nullptr), T(1e-5), y.data());
        worst = std::max(worst, max_abs_error(y.data(), ref::layer_norm(x.data(), rows, d, (const T*)nullptr,
                                                                         (const T*)nullptr, 1e-5L).y, rows * d));
        k::add_layer_norm_rows(x.data(), b.data(), rows, d, static_cast<const T*>(nullptr),
                               static_cast<const T*>(nullptr), T(1e-5), s.data(), y2.data());
        const auto sum = ref::rounded_sum(x.data(), b.data(), rows * d);
        worst = std::max(worst, max_abs_error(y2.data(), ref::layer_norm(sum.data(), rows, d, (const T*)nullptr,
                                                                          (const T*)nullptr, 1e-5L).y, rows * d));
    }
    std::printf("mean 1000 std 1, %s (%s): max abs error %.3Le (bound %.1Le)\n", type_name<T>(), lnfold::simd_arch(),
                worst, bound);
    CHECK(worst <= bound);
}

TEMPLATE_TEST_CASE("constant rows give beta, without NaN", "[kernels]", float, double) {
    using T = TestType;
    for (std::size_t d : dims) {
        const std::size_t rows = 18;
        offset_buffer<T> x(rows * d), y(rows * d), s(rows * d), zero(rows * d);
        for (std::size_t i = 0; i < rows * d; ++i) x[i] = T(i < d ? 3.25 : -1e4);
        auto g = random_buffer<T>(d, 5, 1.0, 0.5);
        auto bt = random_buffer<T>(d, 6);
        k::layer_norm_rows(x.data(), rows, d, g.data(), bt.data(), T(1e-5), y.data());
        for (std::size_t i = 0; i < rows * d; ++i) REQUIRE(y[i] == bt[i % d]);
        k::add_layer_norm_rows(x.data(), zero.data(), rows, d, g.data(), bt.data(), T(1e-5), s.data(), y.data());
        for (std::size_t i = 0; i < rows * d; ++i) REQUIRE(y[i] == bt[i % d]);
        // RMSNorm of a zero row: beta.
        k::rms_norm_rows(zero.data(), rows, d, g.data(), bt.data(), T(1e-5), y.data());
        for (std::size_t i = 0; i < rows * d; ++i) REQUIRE(y[i] == bt[i % d]);
    }
}

TEMPLATE_TEST_CASE("values near 1e30 are normalised (squares overflow float)", "[kernels]", float, double) {
    using T = TestType;
    for (std::size_t d : dims) {
        // even rows near 1e30, odd rows ordinary: a block of 16 rows has lanes to redo rescaled and lanes not
        const std::size_t rows = 18;
        auto x = random_buffer<T>(rows * d, 77 + d, 0.0, 1.0);
        for (std::size_t i = 0; i < rows * d; ++i)
            if (i / d % 2 == 0) x[i] = T(x[i] * T(1e30) + (i % 3 == 0 ? T(2e30) : T(0)));
        offset_buffer<T> y(rows * d), zero(rows * d), s(rows * d);
        const auto none = static_cast<const T*>(nullptr);
        k::layer_norm_rows(x.data(), rows, d, none, none, T(1e-5), y.data());
        const real e1 = max_abs_error(y.data(), ref::layer_norm(x.data(), rows, d, none, none, 1e-5L).y, rows * d);
        k::rms_norm_rows(x.data(), rows, d, none, none, T(1e-5), y.data());
        const real e2 = max_abs_error(y.data(), ref::rms_norm(x.data(), rows, d, none, none, 1e-5L).y, rows * d);
        k::add_rms_norm_rows(x.data(), zero.data(), rows, d, none, none, T(1e-5), s.data(), y.data());
        const real e3 = max_abs_error(y.data(), ref::rms_norm(x.data(), rows, d, none, none, 1e-5L).y, rows * d);
        k::layer_norm_rows<k::scalar_arch>(x.data(), rows, d, none, none, T(1e-5), y.data());
        const real e4 = max_abs_error(y.data(), ref::layer_norm(x.data(), rows, d, none, none, 1e-5L).y, rows * d);
        INFO("d=" << d << " errors " << double(e1) << " " << double(e2) << " " << double(e3) << " " << double(e4));
        CHECK(e1 <= tolerance<T>() * 10);
        CHECK(e2 <= tolerance<T>() * 10);
        CHECK(e3 <= tolerance<T>() * 10);
        CHECK(e4 <= tolerance<T>() * 10);
    }
}

TEMPLATE_TEST_CASE("NaN and Inf make only their own row NaN", "[kernels]", float, double) {
    using T = TestType;
    const T specials[] = {std::numeric_limits<T>::quiet_NaN(), std::numeric_limits<T>::infinity(),
                          -std::numeric_limits<T>::infinity()};
    for (std::size_t d : dims)
        for (T bad : specials)
            for (std::size_t where : {std::size_t{0}, d / 2, d - 1}) {
                const std::size_t rows = 19;  // a block of 16 rows (bad row 1) and 3 in the pipeline (bad row 17)
                const auto is_bad = [](std::size_t r) { return r == 1 || r == 17; };
                auto x = random_buffer<T>(rows * d, 3 + d);
                auto b = random_buffer<T>(rows * d, 4 + d);
                auto g = random_buffer<T>(d, 5, 1.0, 0.5);
                auto bt = random_buffer<T>(d, 6);
                x[d + where] = bad;
                x[17 * d + where] = bad;
                offset_buffer<T> y(rows * d), s(rows * d), st(rows), st2(rows);
                auto check_rows = [&](const char* what) {
                    INFO(what << " d=" << d << " bad at " << where << " value " << double(bad));
                    for (std::size_t r = 0; r < rows; ++r) {
                        std::size_t nan = 0, finite = 0;
                        for (std::size_t i = 0; i < d; ++i) {
                            nan += std::isnan(y[r * d + i]);
                            finite += std::isfinite(y[r * d + i]);
                        }
                        INFO("row " << r);
                        REQUIRE(nan == (is_bad(r) ? d : 0));
                        REQUIRE(finite == (is_bad(r) ? 0 : d));
                    }
                };
                k::layer_norm_rows(x.data(), rows, d, g.data(), bt.data(), T(1e-5), y.data(), st.data(), st2.data());
                check_rows("layer_norm");
                k::layer_norm_rows<k::scalar_arch>(x.data(), rows, d, g.data(), bt.data(), T(1e-5), y.data());
                check_rows("layer_norm scalar");
                k::rms_norm_rows(x.data(), rows, d, g.data(), bt.data(), T(1e-5), y.data(), st.data());
                check_rows("rms_norm");
                k::add_layer_norm_rows(x.data(), b.data(), rows, d, g.data(), nullptr, T(1e-5), s.data(), y.data());
                check_rows("add_layer_norm");
                k::add_rms_norm_rows(x.data(), b.data(), rows, d, nullptr, bt.data(), T(1e-5), s.data(), y.data());
                check_rows("add_rms_norm");
            }
}

TEMPLATE_TEST_CASE("eps, width and pointers are validated", "[kernels]", float, double) {
    using T = TestType;
    offset_buffer<T> x(8), y(8), s(8);
    const auto none = static_cast<const T*>(nullptr);
    for (T eps : {T(0), T(-1e-5), std::numeric_limits<T>::quiet_NaN()}) {
        CHECK_THROWS_AS(k::layer_norm_rows(x.data(), 1, 8, none, none, eps, y.data()), lnfold::config_error);
        CHECK_THROWS_AS(k::rms_norm_rows(x.data(), 1, 8, none, none, eps, y.data()), lnfold::config_error);
        CHECK_THROWS_AS(k::add_layer_norm_rows(x.data(), x.data(), 1, 8, none, none, eps, s.data(), y.data()),
                        lnfold::config_error);
        CHECK_THROWS_AS(k::add_rms_norm_rows(x.data(), x.data(), 1, 8, none, none, eps, s.data(), y.data()),
                        lnfold::config_error);
    }
    CHECK_THROWS_WITH(k::layer_norm_rows(x.data(), 1, 8, none, none, T(0), y.data()),
                      Catch::Contains("layer_norm_rows") && Catch::Contains("eps must be > 0, got 0"));
    CHECK_THROWS_WITH(k::rms_norm_rows(x.data(), 1, 8, none, none, T(-2), y.data()),
                      Catch::Contains("rms_norm_rows") && Catch::Contains("got -2"));
    CHECK_THROWS_AS(k::layer_norm_rows(x.data(), 1, 0, none, none, T(1e-5), y.data()), lnfold::shape_error);
    CHECK_THROWS_AS(k::layer_norm_rows(none, 1, 8, none, none, T(1e-5), y.data()), lnfold::config_error);
    CHECK_NOTHROW(k::layer_norm_rows(x.data(), 0, 8, none, none, T(1e-5), y.data()));  // no rows: nothing to do
}

TEMPLATE_TEST_CASE("in-place use: y = x, sum = a", "[kernels]", float, double) {
    using T = TestType;
    for (std::size_t d : dims) {
        const std::size_t rows = 3;
        auto x = random_buffer<T>(rows * d, 11 + d, 0.5, 2.0);
        auto b = random_buffer<T>(rows * d, 12 + d);
        auto g = random_buffer<T>(d, 13, 1.0, 0.5);
        auto bt = random_buffer<T>(d, 14);
        offset_buffer<T> y(rows * d), s(rows * d);
        k::layer_norm_rows(x.data(), rows, d, g.data(), bt.data(), T(1e-5), y.data());
        auto xi = x;
        k::layer_norm_rows(xi.data(), rows, d, g.data(), bt.data(), T(1e-5), xi.data());
        CHECK(bit_equal(xi.data(), y.data(), rows * d));
        k::add_layer_norm_rows(x.data(), b.data(), rows, d, g.data(), bt.data(), T(1e-5), s.data(), y.data());
        auto a = x;
        k::add_layer_norm_rows(a.data(), b.data(), rows, d, g.data(), bt.data(), T(1e-5), a.data(), xi.data());
        CHECK(bit_equal(a.data(), s.data(), rows * d));
        CHECK(bit_equal(xi.data(), y.data(), rows * d));
        k::add_rms_norm_rows(x.data(), b.data(), rows, d, g.data(), nullptr, T(1e-5), s.data(), y.data());
        auto bb = b;
        k::add_rms_norm_rows(x.data(), bb.data(), rows, d, g.data(), nullptr, T(1e-5), bb.data(), bb.data());
        CHECK(bit_equal(bb.data(), y.data(), rows * d));
    }
}

#if LNFOLD_HAS_OPENMP
TEMPLATE_TEST_CASE("forward results do not depend on the thread count (bit-exact)", "[kernels]", float, double) {
    using T = TestType;
    // ~300k elements each: above the threading threshold. d = 64 and 384 are row-pipeline widths: odd row counts,
    // so that the threads' ranges cut the pipeline and the groups at different rows.
    const std::pair<std::size_t, std::size_t> shapes[] = {{300, 1000}, {4701, 64}, {801, 384}};
    for (const auto& [rows, d] : shapes) {
        auto x = random_buffer<T>(rows * d, 21, 0.5, 2.0);
        auto b = random_buffer<T>(rows * d, 22);
        auto g = random_buffer<T>(d, 23, 1.0, 0.5);
        auto bt = random_buffer<T>(d, 24);
        const int saved = omp_get_max_threads();
        auto run = [&](int threads) {
            omp_set_num_threads(threads);
            std::vector<T> out(4 * rows * d + 3 * rows);
            T* o = out.data();
            k::layer_norm_rows(x.data(), rows, d, g.data(), bt.data(), T(1e-5), o, o + 4 * rows * d,
                               o + 4 * rows * d + rows);
            k::rms_norm_rows(x.data(), rows, d, g.data(), bt.data(), T(1e-5), o + rows * d,
                             o + 4 * rows * d + 2 * rows);
            k::add_layer_norm_rows(x.data(), b.data(), rows, d, g.data(), bt.data(), T(1e-5), o + 2 * rows * d,
                                   o + 3 * rows * d);
            return out;
        };
        const auto one = run(1);
        const auto two = run(2);
        const auto three = run(3);
        omp_set_num_threads(saved);
        INFO("rows=" << rows << " d=" << d);
        CHECK(bit_equal(one.data(), two.data(), one.size()));
        CHECK(bit_equal(one.data(), three.data(), one.size()));
    }
}
#endif
