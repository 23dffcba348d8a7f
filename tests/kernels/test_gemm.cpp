// kernels/gemm.hpp against a long-double reference: matmul_nt (with and without a bias), matmul_nn, matmul_tn_add and
// the one-call products, float and double, row counts on both sides of blas_min_rows, column counts of one and of
// several column blocks (with a short last one), operands inside wider rows (leading dimensions), and the same
// bits for 1, 2 and 3 threads. Built once per backend: test_gemm (the build's: oneDNN for float and OpenBLAS where
// they were found), test_gemm_openblas (oneDNN off) and test_gemm_eigen (Eigen alone).
#include <cmath>
#include <cstddef>
#include <cstring>
#include <string>
#include <vector>

#include "catch.hpp"

#include <lnfold/core/random.hpp>
#include <lnfold/kernels/gemm.hpp>

#if LNFOLD_HAS_OPENMP
#include <omp.h>
#endif

namespace {

using real = long double;
namespace k = lnfold::kernels;

template <class T>
std::vector<T> random_matrix(std::size_t count, std::uint64_t seed) {
    lnfold::random_stream rng(seed);
    std::vector<T> v(count);
    for (auto& x : v) x = static_cast<T>(rng.uniform() * 2 - 1);
    return v;
}

// |computed - exact| <= bound * Σ_k |a b| per element, bound = 4 (k + 2) ulp-units of T: the standard forward
// error bound of a dot product of length k, whatever the summation order or FMA use.
template <class T>
void check_close(const std::vector<T>& got, const std::vector<real>& exact, const std::vector<real>& magnitude,
                 std::size_t depth, const std::string& what) {
    const real unit = std::numeric_limits<T>::epsilon();
    real worst = 0;
    for (std::size_t i = 0; i < exact.size(); ++i) {
        const real error = std::fabs(static_cast<real>(got[i]) - exact[i]);
        const real allowed = 4 * real(depth + 2) * unit * (magnitude[i] + std::fabs(exact[i])) + std::numeric_limits<T>::denorm_min();
        worst = std::max(worst, error / allowed);
    }
    INFO(what << ": worst error / bound = " << double(worst));
    CHECK(worst <= 1);
}

template <class Body>
void with_threads(int threads, Body&& body) {
#if LNFOLD_HAS_OPENMP
    const int previous = omp_get_max_threads();
    omp_set_num_threads(threads);
    body();
    omp_set_num_threads(previous);
#else
    (void)threads;
    body();
#endif
}

// Shapes: rows below, at and above blas_min_rows; columns of one block, of several with a short last one.
struct shape {
    std::size_t m, n, k;
};
const shape shapes[] = {{1, 7, 5}, {15, 130, 33}, {16, 700, 64}, {17, 1000, 3}, {70, 333, 129}, {130, 2500, 40}};

template <class T>
void check_nt(const shape& s) {
    // A (m x k) inside rows of lda = k + 3; B (n x k) inside rows of ldb = k + 1; C (m x n) inside rows of n + 2.
    const std::size_t lda = s.k + 3, ldb = s.k + 1, ldc = s.n + 2;
    const auto a = random_matrix<T>(s.m * lda, 1 + s.m), b = random_matrix<T>(s.n * ldb, 2 + s.n);
    const auto bias = random_matrix<T>(s.n, 3);
    std::vector<real> exact(s.m * s.n), magnitude(s.m * s.n);
    for (std::size_t i = 0; i < s.m; ++i)
        for (std::size_t j = 0; j < s.n; ++j) {
            real sum = bias[j], mag = std::fabs(real(bias[j]));
            for (std::size_t p = 0; p < s.k; ++p) {
                const real term = real(a[i * lda + p]) * real(b[j * ldb + p]);
                sum += term;
                mag += std::fabs(term);
            }
            exact[i * s.n + j] = sum;
            magnitude[i * s.n + j] = mag;
        }
    const auto run = [&](int threads, const T* with_bias = nullptr) {
        std::vector<T> c(s.m * ldc, T(-7));
        with_threads(threads, [&] { k::matmul_nt(s.m, s.n, s.k, a.data(), lda, b.data(), ldb, c.data(), ldc, with_bias); });
        return c;
    };
    const auto packed = [&](const std::vector<T>& c) {
        std::vector<T> rows(s.m * s.n);
        for (std::size_t i = 0; i < s.m; ++i) {
            std::memcpy(&rows[i * s.n], &c[i * ldc], s.n * sizeof(T));
            CHECK(c[i * ldc + s.n] == T(-7));  // the padding between rows is not written
        }
        return rows;
    };
    const auto one = run(1, bias.data());
    check_close(packed(one), exact, magnitude, s.k + 1, "matmul_nt + bias");
    for (int threads : {2, 3}) CHECK(std::memcmp(run(threads, bias.data()).data(), one.data(), one.size() * sizeof(T)) == 0);

    // Without a bias: the product alone.
    std::vector<real> product(exact.size());
    for (std::size_t i = 0; i < s.m; ++i)
        for (std::size_t j = 0; j < s.n; ++j) product[i * s.n + j] = exact[i * s.n + j] - real(bias[j]);
    const auto plain = run(1);
    check_close(packed(plain), product, magnitude, s.k + 1, "matmul_nt");
    for (int threads : {2, 3}) CHECK(std::memcmp(run(threads).data(), plain.data(), plain.size() * sizeof(T)) == 0);

    // product_nt is one call: where the product is a single column block, the same bits as matmul_nt.
    if (s.n <= k::detail::column_block(s.n)) {
        std::vector<T> c(s.m * ldc, T(-7));
        k::product_nt(s.m, s.n, s.k, a.data(), lda, b.data(), ldb, c.data(), ldc, bias.data());
        CHECK(std::memcmp(c.data(), one.data(), c.size() * sizeof(T)) == 0);
    }
}

template <class T>
void check_nn(const shape& s) {
    // C (m x n) = A (m x k) B (k x n), B inside rows of n + 5.
    const std::size_t ldb = s.n + 5;
    const auto a = random_matrix<T>(s.m * s.k, 4 + s.m), b = random_matrix<T>(s.k * ldb, 5 + s.n);
    std::vector<real> exact(s.m * s.n), magnitude(s.m * s.n);
    for (std::size_t i = 0; i < s.m; ++i)
        for (std::size_t j = 0; j < s.n; ++j)
            for (std::size_t p = 0; p < s.k; ++p) {
                const real term = real(a[i * s.k + p]) * real(b[p * ldb + j]);
                exact[i * s.n + j] += term;
                magnitude[i * s.n + j] += std::fabs(term);
            }
    const auto run = [&](int threads) {
        std::vector<T> c(s.m * s.n);
        with_threads(threads, [&] { k::matmul_nn(s.m, s.n, s.k, a.data(), s.k, b.data(), ldb, c.data(), s.n); });
        return c;
    };
    const auto one = run(1);
    check_close(one, exact, magnitude, s.k, "matmul_nn");
    for (int threads : {2, 3}) CHECK(std::memcmp(run(threads).data(), one.data(), one.size() * sizeof(T)) == 0);
}

template <class T>
void check_tn_add(const shape& s) {
    // C (n x k) += Aᵀ B with A (m x n), B (m x k): the weight-gradient form (m = rows), C starting from C0.
    const auto a = random_matrix<T>(s.m * s.n, 6 + s.m), b = random_matrix<T>(s.m * s.k, 7 + s.k);
    const auto start = random_matrix<T>(s.n * s.k, 8);
    std::vector<real> exact(s.n * s.k), magnitude(s.n * s.k);
    for (std::size_t i = 0; i < s.n; ++i)
        for (std::size_t j = 0; j < s.k; ++j) {
            real sum = start[i * s.k + j], mag = std::fabs(sum);
            for (std::size_t r = 0; r < s.m; ++r) {
                const real term = real(a[r * s.n + i]) * real(b[r * s.k + j]);
                sum += term;
                mag += std::fabs(term);
            }
            exact[i * s.k + j] = sum;
            magnitude[i * s.k + j] = mag;
        }
    const auto run = [&](int threads) {
        std::vector<T> c = start;
        with_threads(threads, [&] { k::matmul_tn_add(s.n, s.k, s.m, a.data(), s.n, b.data(), s.k, c.data(), s.k); });
        return c;
    };
    const auto one = run(1);
    check_close(one, exact, magnitude, s.m + 1, "matmul_tn_add");
    for (int threads : {2, 3}) CHECK(std::memcmp(run(threads).data(), one.data(), one.size() * sizeof(T)) == 0);
}

}  // namespace

TEMPLATE_TEST_CASE("matrix products against a long-double reference, the same bits for 1, 2, 3 threads", "[kernels][gemm]",
                   float, double) {
    INFO("backend " << k::gemm_backend_name());
    for (const shape& s : shapes) {
        INFO("m " << s.m << ", n " << s.n << ", k " << s.k);
        check_nt<TestType>(s);
        check_nn<TestType>(s);
        check_tn_add<TestType>(s);
    }
}

TEST_CASE("empty products leave C alone", "[kernels][gemm]") {
    std::vector<float> c(6, 5.0f);
    const float a = 1, b = 1;
    k::matmul_nt<float>(0, 3, 1, &a, 1, &b, 1, c.data(), 3);
    k::matmul_nn<float>(2, 0, 1, &a, 1, &b, 1, c.data(), 3);
    k::matmul_tn_add<float>(2, 3, 0, &a, 2, &b, 3, c.data(), 3);  // k = 0: nothing to add
    for (float v : c) CHECK(v == 5.0f);
    // k = 0 with rows: C = A Bᵀ over an empty sum is 0.
    k::matmul_nt<float>(2, 3, 0, &a, 1, &b, 1, c.data(), 3);
    for (float v : c) CHECK(v == 0.0f);
}

TEST_CASE("the backend is the one the build asked for", "[kernels][gemm]") {
    const std::string name = k::gemm_backend_name();
    CHECK((name.find("oneDNN") != std::string::npos) == bool(LNFOLD_WITH_ONEDNN));
    CHECK((name.find("OpenBLAS") != std::string::npos) == bool(LNFOLD_WITH_OPENBLAS));
    CHECK((name.find("Eigen") != std::string::npos) == !LNFOLD_WITH_OPENBLAS);  // double products: OpenBLAS or Eigen
}
