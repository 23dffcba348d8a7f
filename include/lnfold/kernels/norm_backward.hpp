#pragma once
// Backward of LayerNorm and RMSNorm over rows.
//
//   x, dy, dx: (rows, dim);  gamma: (dim) or nullptr (= 1);  mean, rstd / rrms: (rows), saved by the forward.
//   LayerNorm: xhat = (x - mean) rstd,  g = gamma ⊙ dy
//     dx     = rstd (g - mean_i(g) - xhat mean_i(g ⊙ xhat))            (overwritten; dx = nullptr skips it)
//     dgamma += Σ_rows dy ⊙ xhat,   dbeta += Σ_rows dy                  (accumulated; nullptr skips each)
//   RMSNorm: xhat = x rrms,  g = gamma ⊙ dy
//     dx     = rrms (g - xhat mean_i(g ⊙ xhat))
//     dgamma += Σ_rows dy ⊙ xhat,   dbeta += Σ_rows dy                  (dbeta only for RMSNorm with bias)
//
// Per row: pass 1 reads x and dy, accumulates Σg and Σg·xhat (two vector accumulators each) and adds dy·xhat and dy
// into the block's partial dgamma/dbeta rows; pass 2 writes dx. Parameter gradients never race: rows are cut
// into blocks that depend only on (rows, dim), never on the thread count; each block sums its rows in order into
// its own partial row, then the partials are added to dgamma/dbeta in block order (columns split over threads).
// So dx, dgamma and dbeta are bit-identical for every thread count. The partials live in a thread_local buffer
// of the calling thread that only grows (no allocation per call after warm-up). A dx larger than
// streaming_min_bytes() is written with streaming stores (same values).
#include <algorithm>
#include <cstddef>
#include <vector>

#include "lnfold/core/parallel.hpp"
#include "lnfold/kernels/arch.hpp"
#include "lnfold/kernels/reduce.hpp"
#include "lnfold/kernels/streaming.hpp"

namespace lnfold::kernels {

namespace detail {

// How rows are grouped for the parameter-gradient partials: a function of (rows, dim) only.
struct grad_blocks {
    std::size_t count;
    std::size_t rows_per_block;
};

inline grad_blocks make_grad_blocks(std::size_t rows, std::size_t dim) {
    // >= 8 rows per block (partials cost at most 1/8 of the row traffic), >= 8192 elements of work per block,
    // at most 64 blocks (enough to share among threads).
    std::size_t count = std::min<std::size_t>({rows / 8, rows * dim / 8192, 64});
    count = std::max<std::size_t>(count, 1);
    const std::size_t per = (rows + count - 1) / count;
    return {(rows + per - 1) / per, per};
}

template <class T>
T* grad_workspace(std::size_t n) {
    thread_local std::vector<T> buffer;
    if (buffer.size() < n) buffer.resize(n);
    return buffer.data();
}

// One row of the backward. `Stat` is mean (LayerNorm) or unused (RMSNorm: Centred = false). pg / pb: partial
// dgamma / dbeta rows or nullptr; dx or nullptr; stream: dx written with streaming stores (streaming.hpp).
template <class Arch, bool Centred, bool HasGamma, class T>
void norm_backward_row(const T* x, const T* dy, std::size_t n, const T* gamma, T mean, T rstd, T* dx, T* pg,
                       T* pb, bool stream) {
    const T c = Centred ? mean : T(0);
    // xhat and g for one vector or scalar
    auto xhat_of = [=](auto xv) {
        using V = decltype(xv);
        if constexpr (Centred) return (xv - V(c)) * V(rstd);
        else return xv * V(rstd);
    };
    std::size_t i = 0;
    T sum_g = T(0), sum_gx = T(0);
    if constexpr (has_simd_v<T, Arch>) {
        using B = xsimd::batch<T, Arch>;
        constexpr std::size_t W = B::size;
        B g0(T(0)), g1(T(0)), gx0(T(0)), gx1(T(0));
        auto step = [&](std::size_t k, B& ag, B& agx) {
            const B d = detail::load_v<B>(dy + k);
            const B xh = xhat_of(detail::load_v<B>(x + k));
            B g = d;
            if constexpr (HasGamma) g = d * detail::load_v<B>(gamma + k);
            ag += g;
            agx = mul_add(g, xh, agx);
            if (pg) detail::store_v(pg + k, mul_add(d, xh, detail::load_v<B>(pg + k)));
            if (pb) detail::store_v(pb + k, B(detail::load_v<B>(pb + k) + d));
        };
        for (; i + 2 * W <= n; i += 2 * W) {
            step(i, g0, gx0);
            step(i + W, g1, gx1);
        }
        for (; i + W <= n; i += W) step(i, g0, gx0);
        sum_g = detail::hsum(g0 + g1);
        sum_gx = detail::hsum(gx0 + gx1);
    }
    scalar_acc_t<T> tail_g = 0, tail_gx = 0;
    for (; i < n; ++i) {
        const T d = dy[i];
        const T xh = xhat_of(x[i]);
        const T g = HasGamma ? d * gamma[i] : d;
        tail_g += g;
        tail_gx = mul_add(g, xh, tail_gx);
        if (pg) pg[i] = mul_add(d, xh, pg[i]);
        if (pb) pb[i] += d;
    }
    sum_g += static_cast<T>(tail_g);
    sum_gx += static_cast<T>(tail_gx);
    if (!dx) return;
    const T mg = Centred ? sum_g / T(n) : T(0);
    const T mgx = sum_gx / T(n);
    if constexpr (HasGamma)
        row_map_to<Arch>(
            stream, n, dx,
            [=](auto xv, auto dv, auto gv) {
                using V = decltype(xv);
                return V(rstd) * mul_add(-xhat_of(xv), V(mgx), mul_add(dv, gv, -V(mg)));
            },
            x, dy, gamma);
    else
        row_map_to<Arch>(
            stream, n, dx,
            [=](auto xv, auto dv) {
                using V = decltype(xv);
                return V(rstd) * mul_add(-xhat_of(xv), V(mgx), dv - V(mg));
            },
            x, dy);
}

template <class Arch, bool Centred, class T>
void norm_backward_rows(const char* kernel, const T* x, const T* dy, std::size_t rows, std::size_t dim,
                        const T* gamma, const T* mean, const T* rstd, T* dx, T* dgamma, T* dbeta) {
    check_dim(kernel, rows, dim);
    check_pointer(kernel, "x", x, rows);
    check_pointer(kernel, "dy", dy, rows);
    if constexpr (Centred) check_pointer(kernel, "mean", mean, rows);
    check_pointer(kernel, Centred ? "rstd" : "rrms", rstd, rows);
    if (rows == 0) return;
    using A = arch_for_t<T, Arch>;
    const grad_blocks blocks = make_grad_blocks(rows, dim);
    const std::size_t per_block = (dgamma ? dim : 0) + (dbeta ? dim : 0);
    T* partials = per_block ? grad_workspace<T>(blocks.count * per_block) : nullptr;
    const bool stream = dx && use_streaming<T>(rows, dim);
    auto run = [&]<bool G>() {
        parallel_for_rows(blocks.count, blocks.rows_per_block * dim, [&](std::size_t b0, std::size_t b1) {
            for (std::size_t blk = b0; blk < b1; ++blk) {
                T* pg = dgamma ? partials + blk * per_block : nullptr;
                T* pb = dbeta ? partials + blk * per_block + (dgamma ? dim : 0) : nullptr;
                if (per_block) std::fill_n(partials + blk * per_block, per_block, T(0));
                const std::size_t r_end = std::min(rows, (blk + 1) * blocks.rows_per_block);
                for (std::size_t r = blk * blocks.rows_per_block; r < r_end; ++r)
                    norm_backward_row<A, Centred, G>(x + r * dim, dy + r * dim, dim, gamma,
                                                     Centred ? mean[r] : T(0), rstd[r],
                                                     dx ? dx + r * dim : nullptr, pg, pb, stream);
            }
            if (stream) stream_fence();
        });
    };
    if (gamma) run.template operator()<true>();
    else run.template operator()<false>();
    if (!per_block) return;
    // dgamma / dbeta += Σ_blocks partials, block order fixed, columns over threads.
    parallel_for_rows(dim, blocks.count, [&](std::size_t c0, std::size_t c1) {
        for (std::size_t blk = 0; blk < blocks.count; ++blk) {
            const T* p = partials + blk * per_block;
            if (dgamma)
                for (std::size_t i = c0; i < c1; ++i) dgamma[i] += p[i];
            if (dbeta) {
                const T* q = p + (dgamma ? dim : 0);
                for (std::size_t i = c0; i < c1; ++i) dbeta[i] += q[i];
            }
        }
    });
}

}  // namespace detail

// LayerNorm backward; mean and rstd are what layer_norm_rows saved. dgamma / dbeta are accumulated (+=).
template <class Arch = default_arch, class T>
void layer_norm_backward_rows(const T* x, const T* dy, std::size_t rows, std::size_t dim, nd<const T*> gamma,
                              nd<const T*> mean, nd<const T*> rstd, nd<T*> dx, nd<T*> dgamma, nd<T*> dbeta) {
    detail::norm_backward_rows<Arch, true>("layer_norm_backward_rows", x, dy, rows, dim, gamma, mean, rstd, dx,
                                           dgamma, dbeta);
}

// RMSNorm backward; rrms is what rms_norm_rows saved. dbeta = nullptr for RMSNorm without bias.
template <class Arch = default_arch, class T>
void rms_norm_backward_rows(const T* x, const T* dy, std::size_t rows, std::size_t dim, nd<const T*> gamma,
                            nd<const T*> rrms, nd<T*> dx, nd<T*> dgamma, nd<T*> dbeta) {
    detail::norm_backward_rows<Arch, false>("rms_norm_backward_rows", x, dy, rows, dim, gamma,
                                            static_cast<const T*>(nullptr), rrms, dx, dgamma, dbeta);
}

}  // namespace lnfold::kernels
