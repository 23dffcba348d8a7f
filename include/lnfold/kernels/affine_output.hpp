#pragma once
// The output expression of the forward norms, y = c · r · gamma + beta, shared by the grouped passes
// (layer_norm.hpp, rms_norm.hpp), the row pipeline (row_pipeline.hpp) and the row blocks (row_blocks.hpp):
//   LayerNorm (Centre = true):  c = x - mean, r = rstd;     RMSNorm (Centre = false): c = x, r = rrms.
//   gamma, beta present:  mul_add(c · r, gamma, beta);      gamma only: c · r · gamma;
//   beta only:            mul_add(c, r, beta);              neither:    c · r.
#include <array>
#include <cstddef>

#include "lnfold/kernels/arch.hpp"
#include "lnfold/kernels/reduce.hpp"
#include "lnfold/kernels/streaming.hpp"

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

// The output pass of a group of R rows with statistics (mean_j, r_j) (mean unused when !Centre). Rows of a group
// stay in L1 (group_rows), and their outputs are written together (group_map: gamma and beta loaded once for the
// R rows). With streaming stores (stream) the rows are written one after the other instead (row_map_streaming:
// each row has its own aligned head), as is a group of one row.
template <class Arch, bool Centre, bool HasGamma, bool HasBeta, class T, std::size_t R, class N>
LNFOLD_ALWAYS_INLINE void affine_output_rows(N n, const row_ptrs<T, R>& x, const out_row_ptrs<T, R>& y,
                                             const std::array<T, R>& mean, const std::array<T, R>& r,
                                             const T* gamma, const T* beta, bool stream) {
    with_affine_args<HasGamma, HasBeta>(gamma, beta, [&](const auto*... p) LNFOLD_ALWAYS_INLINE_LAMBDA {
        if (R == 1 || stream) {
            for (std::size_t j = 0; j < R; ++j)
                row_map_to<Arch>(stream, n, y[j], affine_output<Centre, HasGamma, HasBeta>(mean[j], r[j]), x[j], p...);
        } else {
            group_map<Arch>(
                n, y, x, [&](std::size_t j) { return affine_output<Centre, HasGamma, HasBeta>(mean[j], r[j]); }, p...);
        }
    });
}

}  // namespace lnfold::kernels::detail
