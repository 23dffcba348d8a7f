// Backward kernels: central finite differences in double, the long-double reference (float and double, every
// width, unaligned), SIMD vs scalar, accumulation into dgamma/dbeta, and thread-count independence.
#include "kernel_support.hpp"

#include <lnfold/core/parallel.hpp>

#if LNFOLD_HAS_OPENMP
#include <omp.h>
#endif

using namespace lnfold_test::kernels;

namespace {

// L = Σ w ⊙ norm(x; gamma, beta), evaluated with the forward kernel in double.
struct loss {
    bool layer_norm;  // false: RMSNorm
    std::size_t rows, dim;
    const double* w;
    double operator()(const double* x, const double* gamma, const double* beta) const {
        std::vector<double> y(rows * dim);
        if (layer_norm) k::layer_norm_rows(x, rows, dim, gamma, beta, 1e-5, y.data());
        else k::rms_norm_rows(x, rows, dim, gamma, beta, 1e-5, y.data());
        double s = 0;
        for (std::size_t i = 0; i < rows * dim; ++i) s += w[i] * y[i];
        return s;
    }
};

// Central difference of L along one coordinate of v (x, gamma or beta).
double central_difference(const loss& L, double* v, std::size_t i, const double* x, const double* g,
                          const double* b) {
    const double h = 1e-5, old = v[i];
    v[i] = old + h;
    const double up = L(x, g, b);
    v[i] = old - h;
    const double down = L(x, g, b);
    v[i] = old;
    return (up - down) / (2 * h);
}

template <class T>
void backward(bool layer_norm, const T* x, const T* dy, std::size_t rows, std::size_t dim, const T* g, const T* bt,
              T eps, T* dx, T* dg, T* db, bool scalar = false) {
    std::vector<T> y(rows * dim), s1(rows), s2(rows);
    if (layer_norm) {
        k::layer_norm_rows(x, rows, dim, g, bt, eps, y.data(), s1.data(), s2.data());
        if (scalar) k::layer_norm_backward_rows<k::scalar_arch>(x, dy, rows, dim, g, s1.data(), s2.data(), dx, dg, db);
        else k::layer_norm_backward_rows(x, dy, rows, dim, g, s1.data(), s2.data(), dx, dg, db);
    } else {
        k::rms_norm_rows(x, rows, dim, g, bt, eps, y.data(), s1.data());
        if (scalar) k::rms_norm_backward_rows<k::scalar_arch>(x, dy, rows, dim, g, s1.data(), dx, dg, db);
        else k::rms_norm_backward_rows(x, dy, rows, dim, g, s1.data(), dx, dg, db);
    }
}

}  // namespace

TEST_CASE("backward kernels match central finite differences (double)", "[kernels]") {
    real worst = 0;
    for (bool ln : {true, false})
        for (std::size_t d : {std::size_t{1}, std::size_t{2}, std::size_t{7}, std::size_t{17}, std::size_t{100}}) {
            const std::size_t rows = 3;
            auto x = random_buffer<double>(rows * d, 50 + d, 0.3, 1.5);
            auto w = random_buffer<double>(rows * d, 51 + d);
            auto g = random_buffer<double>(d, 52 + d, 1.0, 0.5);
            auto b = random_buffer<double>(d, 53 + d);
            offset_buffer<double> dx(rows * d), dg(d), db(d);
            backward(ln, x.data(), w.data(), rows, d, g.data(), b.data(), 1e-5, dx.data(), dg.data(), db.data());
            loss L{ln, rows, d, w.data()};
            for (std::size_t i = 0; i < rows * d; i += (d > 20 ? 7 : 1)) {
                const double fd = central_difference(L, x.data(), i, x.data(), g.data(), b.data());
                worst = std::max<real>(worst, std::fabs(fd - dx[i]) / std::max(1.0, std::fabs(fd)));
                INFO((ln ? "layer_norm" : "rms_norm") << " d=" << d << " dx[" << i << "] fd " << fd << " got " << dx[i]);
                REQUIRE(std::fabs(fd - dx[i]) <= 1e-6 * std::max(1.0, std::fabs(fd)));
            }
            for (std::size_t i = 0; i < d; i += (d > 20 ? 7 : 1)) {
                const double fg = central_difference(L, g.data(), i, x.data(), g.data(), b.data());
                const double fb = central_difference(L, b.data(), i, x.data(), g.data(), b.data());
                worst = std::max<real>(worst, std::fabs(fg - dg[i]) / std::max(1.0, std::fabs(fg)));
                INFO("d=" << d << " dgamma[" << i << "] fd " << fg << " got " << dg[i] << "; dbeta fd " << fb
                          << " got " << db[i]);
                REQUIRE(std::fabs(fg - dg[i]) <= 1e-6 * std::max(1.0, std::fabs(fg)));
                REQUIRE(std::fabs(fb - db[i]) <= 1e-6 * std::max(1.0, std::fabs(fb)));
            }
        }
    std::printf("backward vs central differences (double, h = 1e-5): max relative error %.3Le\n", worst);
}

TEMPLATE_TEST_CASE("backward kernels match the long-double reference", "[kernels]", float, double) {
    using T = TestType;
    error_report report{std::string("backward vs long-double reference, ") + type_name<T>(), {}};
    for (bool scalar : {false, true})
        for (bool ln : {true, false})
            for (bool with_gamma : {true, false})
                for (std::size_t d : dims)
                    // 3 rows: one by one; 9 rows: groups of four (of two for rows of 4 KiB and more) and a row alone
                    for (std::size_t rows : {std::size_t{3}, std::size_t{9}}) {
                    auto x = random_buffer<T>(rows * d, 60 + d, 0.3, 1.5);
                    auto dy = random_buffer<T>(rows * d, 61 + d);
                    auto g = random_buffer<T>(d, 62 + d, 1.0, 0.5);
                    const T* gamma = with_gamma ? g.data() : nullptr;
                    offset_buffer<T> dx(rows * d), dg(d), db(d);
                    for (std::size_t i = 0; i < d; ++i) dg[i] = db[i] = T(0.5);  // accumulated onto
                    backward(ln, x.data(), dy.data(), rows, d, gamma, static_cast<const T*>(nullptr), T(1e-5),
                             dx.data(), with_gamma ? dg.data() : nullptr, db.data(), scalar);
                    auto want = ln ? ref::layer_norm_backward(x.data(), dy.data(), rows, d, gamma, real(T(1e-5)))
                                   : ref::rms_norm_backward(x.data(), dy.data(), rows, d, gamma, real(T(1e-5)));
                    for (auto& v : want.dgamma) v += real(0.5);
                    for (auto& v : want.dbeta) v += real(0.5);
                    const std::string name = std::string(ln ? "layer_norm_backward" : "rms_norm_backward") +
                                             (scalar ? " scalar" : " simd") + (with_gamma ? " gamma" : " no gamma");
                    const real ex = max_rel_error(dx.data(), want.dx, rows * d);
                    const real eb = max_rel_error(db.data(), want.dbeta, d);
                    const real eg = with_gamma ? max_rel_error(dg.data(), want.dgamma, d) : real(0);
                    report.note(name + " dx", ex);
                    report.note(name + " dgamma/dbeta", std::max(eg, eb));
                    INFO(name << " rows=" << rows << " d=" << d << " dx " << double(ex) << " dgamma " << double(eg)
                              << " dbeta " << double(eb));
                    CHECK(ex <= tolerance<T>() * 2);
                    CHECK(eg <= tolerance<T>());
                    CHECK(eb <= tolerance<T>());
                    if (!with_gamma)
                        for (std::size_t i = 0; i < d; ++i) REQUIRE(dg[i] == T(0.5));  // untouched
                }
}

TEMPLATE_TEST_CASE("a row's dx does not depend on the rows computed with it", "[kernels]", float, double) {
    // Pass 1 runs over groups of rows; every row must get the arithmetic of a row alone, bit for bit, whatever
    // its place in the call (in a group of four, of two for wide rows, or in the remainder), SIMD and scalar path.
    using T = TestType;
    for (bool scalar : {false, true})
        for (bool ln : {true, false})
            // float d = 1030: rows over 4 KiB (groups of 2); double from d = 1000 on
            for (std::size_t d :
                 {std::size_t{7}, std::size_t{64}, std::size_t{100}, std::size_t{1000}, std::size_t{1030}})
                for (std::size_t rows : {std::size_t{2}, std::size_t{5}, std::size_t{8}, std::size_t{11}}) {
                    auto x = random_buffer<T>(rows * d, 90 + d, 0.3, 1.5);
                    auto dy = random_buffer<T>(rows * d, 91 + d);
                    auto g = random_buffer<T>(d, 92 + d, 1.0, 0.5);
                    std::vector<T> all(rows * d), dg(d, T(0)), db(d, T(0));
                    backward(ln, x.data(), dy.data(), rows, d, g.data(), static_cast<const T*>(nullptr), T(1e-5),
                             all.data(), dg.data(), db.data(), scalar);
                    for (std::size_t r = 0; r < rows; ++r) {
                        std::vector<T> one(d), dg1(d, T(0)), db1(d, T(0));
                        backward(ln, x.data() + r * d, dy.data() + r * d, 1, d, g.data(),
                                 static_cast<const T*>(nullptr), T(1e-5), one.data(), dg1.data(), db1.data(), scalar);
                        INFO((ln ? "layer_norm" : "rms_norm") << (scalar ? " scalar" : " simd") << " rows=" << rows
                                                              << " d=" << d << " row " << r);
                        CHECK(bit_equal(all.data() + r * d, one.data(), d));
                    }
                }
}

TEMPLATE_TEST_CASE("backward over many rows: blocks of partial sums, SIMD vs scalar, thread count",
                   "[kernels]", float, double) {
    using T = TestType;
    const std::size_t rows = 300, d = 1000;  // 25 blocks of 12 rows (three groups of four) of partial sums
    auto x = random_buffer<T>(rows * d, 70, 0.3, 1.5);
    auto dy = random_buffer<T>(rows * d, 71);
    auto g = random_buffer<T>(d, 72, 1.0, 0.5);
    for (bool ln : {true, false}) {
        auto run = [&](bool scalar) {
            std::vector<T> out(rows * d + 2 * d, T(0));
            backward(ln, x.data(), dy.data(), rows, d, g.data(), static_cast<const T*>(nullptr), T(1e-5), out.data(),
                     out.data() + rows * d, out.data() + rows * d + d, scalar);
            return out;
        };
        const auto simd = run(false);
        const auto scal = run(true);
        auto want = ln ? ref::layer_norm_backward(x.data(), dy.data(), rows, d, g.data(), real(T(1e-5)))
                       : ref::rms_norm_backward(x.data(), dy.data(), rows, d, g.data(), real(T(1e-5)));
        // dgamma, dbeta are sums over 300 rows of O(1) terms: bound relative to max(1, |value|) * sqrt(rows).
        const real ex = max_rel_error(simd.data(), want.dx, rows * d);
        const real eg = max_rel_error(simd.data() + rows * d, want.dgamma, d);
        const real eb = max_rel_error(simd.data() + rows * d + d, want.dbeta, d);
        const real diff = max_rel_diff(simd.data(), scal.data(), simd.size());
        std::printf("%s backward %s, %zu x %zu (%s): dx %.3Le dgamma %.3Le dbeta %.3Le, SIMD vs scalar %.3Le\n",
                    ln ? "layer_norm" : "rms_norm", type_name<T>(), rows, d, lnfold::simd_arch(), ex, eg, eb, diff);
        CHECK(ex <= tolerance<T>() * 2);
        CHECK(eg <= tolerance<T>() * 4);
        CHECK(eb <= tolerance<T>() * 4);
        CHECK(diff <= tolerance<T>() * 4);
#if LNFOLD_HAS_OPENMP
        const int saved = omp_get_max_threads();
        omp_set_num_threads(1);
        const auto one = run(false);
        omp_set_num_threads(2);
        const auto two = run(false);
        omp_set_num_threads(3);
        const auto three = run(false);
        omp_set_num_threads(saved);
        CHECK(bit_equal(one.data(), two.data(), one.size()));
        CHECK(bit_equal(one.data(), three.data(), one.size()));
        CHECK(bit_equal(one.data(), simd.data(), one.size()));
#endif
    }
}

TEMPLATE_TEST_CASE("backward with dx = nullptr only accumulates dgamma/dbeta", "[kernels]", float, double) {
    using T = TestType;
    const std::size_t rows = 5, d = 33;
    auto x = random_buffer<T>(rows * d, 80);
    auto dy = random_buffer<T>(rows * d, 81);
    std::vector<T> full(rows * d + 2 * d, T(0)), only(2 * d, T(0));
    backward(true, x.data(), dy.data(), rows, d, static_cast<const T*>(nullptr), static_cast<const T*>(nullptr),
             T(1e-5), full.data(), full.data() + rows * d, full.data() + rows * d + d);
    backward(true, x.data(), dy.data(), rows, d, static_cast<const T*>(nullptr), static_cast<const T*>(nullptr),
             T(1e-5), static_cast<T*>(nullptr), only.data(), only.data() + d);
    CHECK(bit_equal(full.data() + rows * d, only.data(), 2 * d));
}
