#pragma once
// AdamW's update of n parameters (torch.optim.AdamW: decoupled weight decay), in double whatever T is:
//   p = p (1 - lr wd_i);  m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;  p -= lr (m / c1) / (sqrt(v / c2) + eps)
// with c1 = 1 - b1^t, c2 = 1 - b2^t and wd_i = wd where decay_mask is null or decay_mask[i] != 0, else 0.
// The vector body (xsimd's double lanes, T converted on load and store) and the scalar tail do the same operations
// in the same order. A scalar loop with std::sqrt does not vectorise (std::sqrt may set errno), and a scalar
// division and square root per element would make the optimizer step most of a small model's training step.
#include <cmath>
#include <cstddef>
#include <cstdint>

#include "lnfold/core/x86_intrinsics.hpp"  // before xsimd includes <immintrin.h>
#include <xsimd/xsimd.hpp>

#include "lnfold/kernels/arch.hpp"

namespace lnfold::kernels {

struct adamw_coefficients {
    double lr, beta1, beta2, correction1, correction2, eps, weight_decay;
};

template <class Arch = default_arch, class T>
void adamw_update(T* params, const T* grads, T* m, T* v, std::size_t n, const std::uint8_t* decay_mask,
                  const adamw_coefficients& k) {
    const auto decay_of = [&](std::size_t i) { return decay_mask == nullptr || decay_mask[i] ? k.weight_decay : 0.0; };
    std::size_t i = 0;
    using A = arch_for_t<double, Arch>;
    if constexpr (has_simd_v<double, A>) {
        using B = xsimd::batch<double, A>;
        constexpr std::size_t W = B::size;
        const B b1(k.beta1), b2(k.beta2), one_minus_b1(1.0 - k.beta1), one_minus_b2(1.0 - k.beta2);
        const B c1(k.correction1), c2(k.correction2), eps(k.eps), lr(k.lr), one(1.0);
        alignas(64) double decay[W];
        for (; i + W <= n; i += W) {
            for (std::size_t l = 0; l < W; ++l) decay[l] = decay_of(i + l);
            const B g = B::load_unaligned(grads + i);
            B p = B::load_unaligned(params + i) * (one - lr * B::load_aligned(decay));
            const B mi = b1 * B::load_unaligned(m + i) + one_minus_b1 * g;
            const B vi = b2 * B::load_unaligned(v + i) + one_minus_b2 * g * g;
            mi.store_unaligned(m + i);
            vi.store_unaligned(v + i);
            p = p - lr * (mi / c1) / (xsimd::sqrt(vi / c2) + eps);
            p.store_unaligned(params + i);
        }
    }
    for (; i < n; ++i) {
        const double g = double(grads[i]);
        double p = double(params[i]) * (1.0 - k.lr * decay_of(i));
        const double mi = k.beta1 * double(m[i]) + (1.0 - k.beta1) * g;
        const double vi = k.beta2 * double(v[i]) + (1.0 - k.beta2) * g * g;
        m[i] = static_cast<T>(mi);
        v[i] = static_cast<T>(vi);
        p = p - k.lr * (mi / k.correction1) / (std::sqrt(vi / k.correction2) + k.eps);
        params[i] = static_cast<T>(p);
    }
}

}  // namespace lnfold::kernels
