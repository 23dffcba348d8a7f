#pragma once
// The output expression of the forward norms, y = c · r · gamma + beta, shared by the grouped passes
// (layer_norm.hpp, rms_norm.hpp) and the row pipeline (row_pipeline.hpp):
//   LayerNorm (Centre = true):  c = x - mean, r = rstd;     RMSNorm (Centre = false): c = x, r = rrms.
//   gamma, beta present:  mul_add(c · r, gamma, beta);      gamma only: c · r · gamma;
//   beta only:            mul_add(c, r, beta);              neither:    c · r.
#include "lnfold/kernels/arch.hpp"
#include "lnfold/kernels/reduce.hpp"

namespace lnfold::kernels::detail {

// The output expression y = c · r · gamma + beta of LayerNorm (c = x - mean, r = rstd) and of RMSNorm
// (Centre = false: c = x, r = rrms), for one row, called as f(v, g, b), f(v, g), f(v, b) or f(v) as gamma / beta
// are present (compile time). A generic lambda: batches in the vector body, scalars in the tail.
template <bool Centre, bool HasGamma, bool HasBeta, class T>
LNFOLD_ALWAYS_INLINE auto affine_output(T mean, T r) {
    const auto centred = [=](auto v) LNFOLD_ALWAYS_INLINE_LAMBDA {
        using V = decltype(v);
        if constexpr (Centre) return v - V(mean);
        else return v;
    };
    if constexpr (HasGamma && HasBeta)
        return [=](auto v, auto g, auto b) LNFOLD_ALWAYS_INLINE_LAMBDA {
            using V = decltype(v);
            return mul_add(centred(v) * V(r), g, b);
        };
    else if constexpr (HasGamma)
        return [=](auto v, auto g) LNFOLD_ALWAYS_INLINE_LAMBDA { using V = decltype(v); return centred(v) * V(r) * g; };
    else if constexpr (HasBeta)
        return [=](auto v, auto b) LNFOLD_ALWAYS_INLINE_LAMBDA {
            using V = decltype(v);
            return mul_add(centred(v), V(r), b);
        };
    else
        return [=](auto v) LNFOLD_ALWAYS_INLINE_LAMBDA { using V = decltype(v); return centred(v) * V(r); };
}

// Calls f(p...) with p the present ones of the rows gamma, beta (the arguments affine_output's expression takes
// after x).
template <bool HasGamma, bool HasBeta, class T, class F>
LNFOLD_ALWAYS_INLINE void with_affine_args(const T* gamma, const T* beta, F&& f) {
    if constexpr (HasGamma && HasBeta) f(gamma, beta);
    else if constexpr (HasGamma) f(gamma);
    else if constexpr (HasBeta) f(beta);
    else f();
}

}  // namespace lnfold::kernels::detail
