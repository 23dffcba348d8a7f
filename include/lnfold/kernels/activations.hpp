#pragma once
// Elementwise activations, forward and backward, over a contiguous range of n values.
//
//   activation_forward<Act>(x, y, n)          y_i  = f(x_i)            (y may be x: in place)
//   activation_backward<Act>(x, dy, dx, n)    dx_i = f'(x_i) dy_i      (dx may be x or dy)
//
// Act is the layer type (lnfold::GELU, GELUTanh, SiLU, ReLU); only its name is used here, so this header does not
// need the layers. The functions, written in forms that neither cancel nor overflow (s = sigmoid):
//   ReLU      y = max(x, 0) (NaN stays NaN)                  f' = 1 for x > 0, else 0 (torch's choice at 0)
//   SiLU      y = x s(x)                                     f' = s (1 + x (1 - s))
//   GELUTanh  y = x/2 (1 + tanh u) = x s(2u),                f' = s (1 + x (1 - s) a'),  s = s(a), a = 2u,
//             u = sqrt(2/pi) (x + 0.044715 x^3)               a' = 2 sqrt(2/pi) (1 + 3 * 0.044715 x^2)
//   GELU      y = x/2 (1 + erf(x/sqrt 2)) = x/2 erfc(-x/sqrt 2)    f' = erfc(-x/sqrt 2)/2 + x exp(-x^2/2)/sqrt(2 pi)
// with s(a) = 1/(1 + e) for a >= 0 and e/(1 + e) for a < 0, e = exp(-|a|) <= 1 (exp never overflows, and
// 1 - s is the other of the two, never a difference; e is formed as exp(-|a|/2)^2, see times_sigmoid); erfc(-z) instead of 1 + erf(z), which cancels for x < 0.
// Inputs beyond a bound C where f is exactly 0 (x < -C) or x (x > C) in T are clamped to ±C inside the formulas,
// so ±inf give the limits (f(-inf) = -0, f(inf) = inf, f'(-inf) = 0, f'(inf) = 1) instead of inf * 0 = NaN.
// NaN in gives NaN out (ReLU backward: 0 dy, as the scalar derivative).
//
// Every vector lane and the last n mod W values (W = lanes, copied into one zero-padded vector) go through the
// same vector code, so a value's result depends neither on n nor on its position: the same for every split of a
// matrix into rows or threads, or for a caller passing one row at a time. scalar_arch (or a T without a
// register) evaluates the same formulas on scalars (std::exp, std::erfc). Accuracy, measured over a dense range
// with infinities, denormals and NaN: docs/kernels.md "Activations and softmax" (tests/kernels/test_activations.cpp).
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <type_traits>

#include "lnfold/core/x86_intrinsics.hpp"  // before xsimd includes <immintrin.h>
#include <xsimd/xsimd.hpp>

#include "lnfold/kernels/arch.hpp"
#include "lnfold/kernels/partial_vector.hpp"
#include "lnfold/kernels/reduce.hpp"  // mul_add

namespace lnfold {
struct ReLU;
struct SiLU;
struct GELUTanh;
struct GELU;
}  // namespace lnfold

namespace lnfold::kernels {

namespace detail {

// The element type of V (a batch or a scalar).
template <class V>
struct value_of {
    using type = V;
};
template <class T, class A>
struct value_of<xsimd::batch<T, A>> {
    using type = T;
};
template <class V>
using value_t = typename value_of<V>::type;

// cond ? a : b lane by lane (V a batch) or for one value (V = T).
template <class C, class V>
LNFOLD_ALWAYS_INLINE V pick(const C& cond, const V& a, const V& b) {
    if constexpr (std::is_floating_point_v<V>) return cond ? a : b;
    else return select(cond, a, b);
}

// x with values below -c replaced by -c (NaN stays NaN: the comparison is false).
template <class V>
LNFOLD_ALWAYS_INLINE V clamp_below(const V& x, double c) {
    const V low = V(value_t<V>(-c));
    return pick(x < low, low, x);
}

// x clamped to [-c, c] (NaN stays NaN).
template <class V>
LNFOLD_ALWAYS_INLINE V clamp_both(const V& x, double c) {
    const V high = V(value_t<V>(c));
    return pick(x > high, high, clamp_below(x, c));
}

// x s(a) and s(a) (1 + x (1 - s(a)) da) for a with the sign of x, x_c = x clamped (used where the result is
// x e / (1 + e) and e -> 0). e = h h with h = exp(-|a|/2): where e is denormal (|a| > 87.3 in float) but x e is
// not, x e is formed as (x h) h from normal numbers (xsimd's exp flushes results below T's smallest normal to 0).
template <class V>
LNFOLD_ALWAYS_INLINE V times_sigmoid(const V& x, const V& x_c, const V& a) {
    using T = value_t<V>;
    const V h = xsimd::exp(V(T(-0.5)) * xsimd::abs(a));
    return pick(x >= V(0), x, (x_c * h) * h) / mul_add(h, h, V(1));
}
template <class V>
LNFOLD_ALWAYS_INLINE V sigmoid_derivative(const V& x_c, const V& a, const V& da) {
    using T = value_t<V>;
    const V h = xsimd::exp(V(T(-0.5)) * xsimd::abs(a));
    const V e = h * h;
    const V r = V(1) / (V(1) + e);  // s(|a|);  s(-|a|) = e r
    const auto positive = x_c >= V(0);
    const V w = mul_add(x_c, pick(positive, e * r, r) * da, V(1));  // 1 + x (1 - s) a'
    return pick(positive, r * w, ((h * r) * w) * h);
}

// The math of each activation: forward(x) and derivative(x), for V = xsimd::batch<T, A> or V = T.
template <class Activation>
struct activation_math;

template <>
struct activation_math<ReLU> {
    template <class V>
    static LNFOLD_ALWAYS_INLINE V forward(const V& x) { return pick(x < V(0), V(0), x); }
    template <class V>
    static LNFOLD_ALWAYS_INLINE V derivative(const V& x) { return pick(x > V(0), V(1), V(0)); }
};

template <>
struct activation_math<SiLU> {
    // |x| > 1000: f = x or -0 and f' = 1 or 0 exactly in float and double.
    template <class V>
    static LNFOLD_ALWAYS_INLINE V forward(const V& x) { return times_sigmoid(x, clamp_below(x, 1000.0), x); }
    template <class V>
    static LNFOLD_ALWAYS_INLINE V derivative(const V& x) {
        const V xc = clamp_both(x, 1000.0);
        return sigmoid_derivative(xc, xc, V(1));
    }
};

template <>
struct activation_math<GELUTanh> {
    static constexpr long double c = 0.797884560802865355879892119868763737L;  // sqrt(2/pi)
    static constexpr long double k = 0.044715L;
    // a = 2u = x (2c + 2ck x^2); |x| > 100: a is beyond ±70000, so f = x or -0, f' = 1 or 0.
    template <class V>
    static LNFOLD_ALWAYS_INLINE V twice_inner(const V& x) {
        using T = value_t<V>;
        return x * mul_add(x * x, V(T(2 * c * k)), V(T(2 * c)));
    }
    template <class V>
    static LNFOLD_ALWAYS_INLINE V forward(const V& x) {
        const V xc = clamp_both(x, 100.0);
        return times_sigmoid(x, xc, twice_inner(xc));
    }
    template <class V>
    static LNFOLD_ALWAYS_INLINE V derivative(const V& x) {
        using T = value_t<V>;
        const V xc = clamp_both(x, 100.0);
        return sigmoid_derivative(xc, twice_inner(xc), mul_add(xc * xc, V(T(6 * c * k)), V(T(2 * c))));
    }
};

// erfc(z): xsimd::erfc for float batches, std::erfc for scalars and, lane by lane, for double batches: xsimd
// 8.1's double erfc is far less accurate than std::erfc, and wrong beyond z = 6, where it lacks its asymptotic
// branch, while its float erfc is within a few ulps of its rounded argument (the errors: docs/kernels.md).
template <class V>
LNFOLD_ALWAYS_INLINE V erfc_of(const V& z) {
    if constexpr (std::is_floating_point_v<V> || std::is_same_v<value_t<V>, float>) {
        return xsimd::erfc(z);
    } else {
        alignas(V) double lanes[V::size];
        z.store_aligned(lanes);
        for (double& v : lanes) v = std::erfc(v);
        return V::load_aligned(lanes);
    }
}

template <>
struct activation_math<GELU> {
    static constexpr long double sqrt_half = 0.707106781186547524400844362104849039L;
    static constexpr long double inv_sqrt_2pi = 0.398942280401432677939946059934381868L;
    // |x| > 40: erfc(-x/sqrt 2) is 0 or 2 exactly (erfc(28) < exp(-800)), so f = -0 or x, f' = 0 or 1.
    template <class V>
    static LNFOLD_ALWAYS_INLINE V forward(const V& x) {
        using T = value_t<V>;
        const V half_erfc = V(T(0.5)) * erfc_of(clamp_both(x, 40.0) * V(T(-sqrt_half)));
        return clamp_below(x, 40.0) * half_erfc;  // x (erfc/2): one rounding for tiny x
    }
    template <class V>
    static LNFOLD_ALWAYS_INLINE V derivative(const V& x) {
        using T = value_t<V>;
        const V xc = clamp_both(x, 40.0);
        // exp(-x^2/2) with x^2 = p + q exactly (q = fma(x, x, -p)): exp(-p/2) (1 - q/2), so that the rounding of
        // x^2 (relative 2^-24 in float, times x^2/2 in the exponential) does not reach the result.
        const V p = xc * xc;
        const V q = mul_add(xc, xc, -p);
        const V g = xsimd::exp(V(T(-0.5)) * p);
        const V phi = mul_add(V(T(-0.5)) * q, g, g) * V(T(inv_sqrt_2pi));
        return mul_add(xc, phi, V(T(0.5)) * erfc_of(xc * V(T(-sqrt_half))));
    }
};

// out[i] = f(in[i]...) over [0, n), one call site of f for the whole range (vector lanes and the padded tail
// alike, see the top of this file).
template <class Arch, class T, class F, class... P>
LNFOLD_ALWAYS_INLINE void map_values(T* out, std::size_t n, F f, const P*... in) {
    if constexpr (has_simd_v<T, Arch>) {
        using B = xsimd::batch<T, Arch>;
        for (std::size_t i = 0; i < n; i += B::size) {
            const std::size_t m = std::min(B::size, n - i);
            store_first(out + i, B(f(load_filled<B>(in + i, m, T(0))...)), m);
        }
    } else {
        for (std::size_t i = 0; i < n; ++i) out[i] = f(in[i]...);
    }
}

}  // namespace detail

// y[i] = f(x[i]) for i in [0, n); y may be x. Any n >= 0, no alignment needed.
template <class Activation, class Arch = default_arch, class T>
void activation_forward(const T* x, T* y, std::size_t n) {
    using M = detail::activation_math<Activation>;
    detail::map_values<arch_for_t<T, Arch>>(
        y, n, [](const auto& v) LNFOLD_ALWAYS_INLINE_LAMBDA { return M::forward(v); }, x);
}

// dx[i] = f'(x[i]) dy[i] for i in [0, n); dx may be x or dy.
template <class Activation, class Arch = default_arch, class T>
void activation_backward(const T* x, const T* dy, T* dx, std::size_t n) {
    using M = detail::activation_math<Activation>;
    detail::map_values<arch_for_t<T, Arch>>(
        dx, n, [](const auto& v, const auto& g) LNFOLD_ALWAYS_INLINE_LAMBDA { return M::derivative(v) * g; }, x, dy);
}

}  // namespace lnfold::kernels
