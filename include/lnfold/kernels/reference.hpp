#pragma once
// Scalar long-double reference of every norm kernel, for tests: plain loops, two-pass statistics, one row at a
// time, no SIMD, no threads. Inputs are T (float or double); outputs are long double.
//
//   reference_layer_norm / reference_rms_norm / reference_add_layer_norm / reference_add_rms_norm and the two
//   backward functions mirror the kernels in layer_norm.hpp, rms_norm.hpp, add_norm.hpp, norm_backward.hpp;
//   gamma / beta = nullptr means 1 / 0 exactly as in the kernels. Statistics are recomputed in long double from x
//   (the backward references do not take the forward's saved statistics).
#include <cmath>
#include <cstddef>
#include <vector>

namespace lnfold::kernels::reference {

using real = long double;

struct forward_result {
    std::vector<real> y;     // (rows, dim)
    std::vector<real> stat;  // LayerNorm: mean per row; RMSNorm: 1/rms per row
    std::vector<real> rstd;  // LayerNorm: 1/std per row (empty for RMSNorm)
};

struct backward_result {
    std::vector<real> dx, dgamma, dbeta;  // (rows, dim), (dim), (dim)
};

template <class T>
forward_result layer_norm(const T* x, std::size_t rows, std::size_t dim, const T* gamma, const T* beta, real eps) {
    forward_result out{std::vector<real>(rows * dim), std::vector<real>(rows), std::vector<real>(rows)};
    for (std::size_t r = 0; r < rows; ++r) {
        const T* xr = x + r * dim;
        real sum = 0;
        for (std::size_t i = 0; i < dim; ++i) sum += real(xr[i]);
        const real mean = sum / real(dim);
        real ss = 0;
        for (std::size_t i = 0; i < dim; ++i) ss += (real(xr[i]) - mean) * (real(xr[i]) - mean);
        const real rstd = 1 / std::sqrt(ss / real(dim) + eps);
        for (std::size_t i = 0; i < dim; ++i)
            out.y[r * dim + i] = (real(xr[i]) - mean) * rstd * (gamma ? real(gamma[i]) : 1) + (beta ? real(beta[i]) : 0);
        out.stat[r] = mean;
        out.rstd[r] = rstd;
    }
    return out;
}

template <class T>
forward_result rms_norm(const T* x, std::size_t rows, std::size_t dim, const T* gamma, const T* beta, real eps) {
    forward_result out{std::vector<real>(rows * dim), std::vector<real>(rows), {}};
    for (std::size_t r = 0; r < rows; ++r) {
        const T* xr = x + r * dim;
        real ss = 0;
        for (std::size_t i = 0; i < dim; ++i) ss += real(xr[i]) * real(xr[i]);
        const real rrms = 1 / std::sqrt(ss / real(dim) + eps);
        for (std::size_t i = 0; i < dim; ++i)
            out.y[r * dim + i] = real(xr[i]) * rrms * (gamma ? real(gamma[i]) : 1) + (beta ? real(beta[i]) : 0);
        out.stat[r] = rrms;
    }
    return out;
}

// The sum a + b rounded to T (what the fused kernels store and then normalise).
template <class T>
std::vector<T> rounded_sum(const T* a, const T* b, std::size_t n) {
    std::vector<T> s(n);
    for (std::size_t i = 0; i < n; ++i) s[i] = a[i] + b[i];
    return s;
}

template <class T>
backward_result layer_norm_backward(const T* x, const T* dy, std::size_t rows, std::size_t dim, const T* gamma,
                                    real eps) {
    backward_result out{std::vector<real>(rows * dim), std::vector<real>(dim), std::vector<real>(dim)};
    const forward_result f = layer_norm(x, rows, dim, static_cast<const T*>(nullptr), static_cast<const T*>(nullptr), eps);
    for (std::size_t r = 0; r < rows; ++r) {
        real sg = 0, sgx = 0;
        for (std::size_t i = 0; i < dim; ++i) {
            const real xh = f.y[r * dim + i];
            const real g = real(dy[r * dim + i]) * (gamma ? real(gamma[i]) : 1);
            sg += g;
            sgx += g * xh;
            out.dgamma[i] += real(dy[r * dim + i]) * xh;
            out.dbeta[i] += real(dy[r * dim + i]);
        }
        for (std::size_t i = 0; i < dim; ++i) {
            const real xh = f.y[r * dim + i];
            const real g = real(dy[r * dim + i]) * (gamma ? real(gamma[i]) : 1);
            out.dx[r * dim + i] = f.rstd[r] * (g - sg / real(dim) - xh * sgx / real(dim));
        }
    }
    return out;
}

template <class T>
backward_result rms_norm_backward(const T* x, const T* dy, std::size_t rows, std::size_t dim, const T* gamma,
                                  real eps) {
    backward_result out{std::vector<real>(rows * dim), std::vector<real>(dim), std::vector<real>(dim)};
    const forward_result f = rms_norm(x, rows, dim, static_cast<const T*>(nullptr), static_cast<const T*>(nullptr), eps);
    for (std::size_t r = 0; r < rows; ++r) {
        real sgx = 0;
        for (std::size_t i = 0; i < dim; ++i) {
            const real xh = f.y[r * dim + i];
            const real g = real(dy[r * dim + i]) * (gamma ? real(gamma[i]) : 1);
            sgx += g * xh;
            out.dgamma[i] += real(dy[r * dim + i]) * xh;
            out.dbeta[i] += real(dy[r * dim + i]);
        }
        for (std::size_t i = 0; i < dim; ++i) {
            const real xh = f.y[r * dim + i];
            const real g = real(dy[r * dim + i]) * (gamma ? real(gamma[i]) : 1);
            out.dx[r * dim + i] = f.stat[r] * (g - xh * sgx / real(dim));
        }
    }
    return out;
}

}  // namespace lnfold::kernels::reference
