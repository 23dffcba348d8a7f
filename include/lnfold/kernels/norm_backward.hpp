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
// Rows go in groups (4 rows; 2 for rows of 4 KiB and more, backward_block). Pass 1 reads x and dy of the group's
// rows, accumulates each row's Σg and Σg·xhat (two vector accumulators each) and adds dy·xhat and dy into the
// block's partial dgamma/dbeta rows, each vector of gamma and of the partials loaded and stored once per group,
// not per row; pass 2 writes the group's dx (the rows together, or row by row for wide rows), re-reading x and dy
// from cache. A row's dx is the same whatever group it is in (every row gets a group of one's arithmetic), so it
// does not depend on the number of rows or the thread count. Parameter gradients never race: rows are cut
// into blocks that depend only on (rows, dim), never on the thread count; each block sums its rows in order into
// its own partial row, then the partials are added to dgamma/dbeta in block order (columns split over threads).
// So dx, dgamma and dbeta are bit-identical for every thread count. The partials live in a thread_local buffer
// of the calling thread that only grows (no allocation per call after warm-up). A dx larger than
// streaming_min_bytes() is written with streaming stores (same values).
#include <algorithm>
#include <array>
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

// Rows of a group in pass 1 and pass 2 (backward_block; for narrow rows, wide rows use groups of 2).
constexpr std::size_t backward_group_rows = 4;

inline grad_blocks make_grad_blocks(std::size_t rows, std::size_t dim) {
    // >= 8 rows per block (partials cost at most 1/8 of the row traffic), >= 8192 elements of work per block,
    // at most 64 blocks (enough to share among threads); a multiple of backward_group_rows rows per block, so
    // that only the last block can have rows outside a group.
    std::size_t count = std::min<std::size_t>({rows / 8, rows * dim / 8192, 64});
    count = std::max<std::size_t>(count, 1);
    std::size_t per = (rows + count - 1) / count;
    per = (per + backward_group_rows - 1) / backward_group_rows * backward_group_rows;
    return {(rows + per - 1) / per, per};
}

template <class T>
T* grad_workspace(std::size_t n) {
    thread_local std::vector<T> buffer;
    if (buffer.size() < n) buffer.resize(n);
    return buffer.data();
}

// The two means of one row that its dx needs: mg = mean_i(g) (LayerNorm only) and mgx = mean_i(g ⊙ xhat).
template <class T>
struct backward_row_means {
    T mg, mgx;
};

// xhat of one vector or scalar, from the row's centre c (mean; 0 for RMSNorm) and rstd.
template <bool Centred, class V>
LNFOLD_ALWAYS_INLINE V xhat_of(V xv, V c, V rstd) {
    if constexpr (Centred) return (xv - c) * rstd;
    else return xv * rstd;
}

// Pass 1 of a group of R consecutive rows (row j at x + j n, dy + j n; its centre c[j] (mean; c unused for
// RMSNorm, Centred = false) and rstd[j]): returns each row's mg and mgx, and adds dy_j ⊙ xhat_j and dy_j into the
// partial dgamma / dbeta rows pg / pb (each nullptr to skip), row after row. Each vector of gamma, pg and pb is
// loaded (and pg, pb stored) once for the R rows. Every row gets exactly the arithmetic of a group of one (its own
// two accumulators per sum, the same order), and pg / pb the same sums, in the same order, as row by row.
template <std::size_t R, class Arch, bool Centred, bool HasGamma, class T>
std::array<backward_row_means<T>, R> backward_group_sums(const T* x, const T* dy, std::size_t n, const T* gamma,
                                                         const T* c, const T* rstd, T* pg, T* pb) {
    // the rows' constants as values: the stores to pg / pb could alias c and rstd, which would make the compiler
    // reload them after every store
    std::array<T, R> centre{}, scale{};
    unroll<R>([&](auto j) LNFOLD_ALWAYS_INLINE_LAMBDA {
        if constexpr (Centred) centre[j] = c[j];
        scale[j] = rstd[j];
    });
    // the R rows at column k as V (a batch; a scalar in the tail), into the rows' accumulators ag / agx (batches;
    // scalar_acc_t in the tail); gamma, pg and pb are loaded (pg, pb stored) once for the R rows
    const auto step = [&]<class V, class Acc>(std::size_t k, const std::array<V, R>& centre_v,
                                              const std::array<V, R>& scale_v, std::array<Acc, R>& ag,
                                              std::array<Acc, R>& agx) LNFOLD_ALWAYS_INLINE_LAMBDA {
        V gm(T(1)), pgv(T(0)), pbv(T(0));
        if constexpr (HasGamma) gm = detail::load_v<V>(gamma + k);
        if (pg) pgv = detail::load_v<V>(pg + k);
        if (pb) pbv = detail::load_v<V>(pb + k);
        unroll<R>([&](auto j) LNFOLD_ALWAYS_INLINE_LAMBDA {
            const V d = detail::load_v<V>(dy + j * n + k);
            const V xh = xhat_of<Centred>(detail::load_v<V>(x + j * n + k), centre_v[j], scale_v[j]);
            V g = d;
            if constexpr (HasGamma) g = d * gm;
            ag[j] += g;
            agx[j] = mul_add(g, xh, agx[j]);
            pgv = mul_add(d, xh, pgv);
            pbv += d;
        });
        if (pg) detail::store_v(pg + k, pgv);
        if (pb) detail::store_v(pb + k, pbv);
    };
    std::size_t i = 0;
    std::array<T, R> sum_g{}, sum_gx{};
    if constexpr (has_simd_v<T, Arch>) {
        using B = xsimd::batch<T, Arch>;
        constexpr std::size_t W = B::size;
        std::array<B, R> g0, g1, gx0, gx1, centre_v, scale_v;
        unroll<R>([&](auto j) LNFOLD_ALWAYS_INLINE_LAMBDA {
            g0[j] = g1[j] = gx0[j] = gx1[j] = B(T(0));
            centre_v[j] = B(centre[j]);
            scale_v[j] = B(scale[j]);
        });
        for (; i + 2 * W <= n; i += 2 * W) {
            step(i, centre_v, scale_v, g0, gx0);
            step(i + W, centre_v, scale_v, g1, gx1);
        }
        for (; i + W <= n; i += W) step(i, centre_v, scale_v, g0, gx0);
        unroll<R>([&](auto j) LNFOLD_ALWAYS_INLINE_LAMBDA {
            sum_g[j] = detail::hsum(g0[j] + g1[j]);
            sum_gx[j] = detail::hsum(gx0[j] + gx1[j]);
        });
    }
    std::array<scalar_acc_t<T>, R> tail_g{}, tail_gx{};
    for (; i < n; ++i) step(i, centre, scale, tail_g, tail_gx);
    std::array<backward_row_means<T>, R> means;
    unroll<R>([&](auto j) LNFOLD_ALWAYS_INLINE_LAMBDA {
        means[j] = {Centred ? (sum_g[j] + static_cast<T>(tail_g[j])) / T(n) : T(0),
                    (sum_gx[j] + static_cast<T>(tail_gx[j])) / T(n)};
    });
    return means;
}

// Pass 2, one element (a vector or a scalar): dx = rstd (g - mg - xhat mgx) = rstd (g - mg + (x - c) minus_k)
// with minus_k = -rstd mgx (rstd folded into mgx: one multiplication per element less, and no rstd² is formed,
// so no overflow for tiny variances). g - mg is one multiply-add with gamma.
template <bool Centred, bool HasGamma>
struct dx_element {
    template <class V>
    LNFOLD_ALWAYS_INLINE V operator()(V xv, V dv, V gv, V centre, V rstd, V minus_k, V mg) const {
        V xc = xv;
        if constexpr (Centred) xc = xv - centre;
        V g_minus_mg;
        if constexpr (HasGamma) g_minus_mg = mul_add(dv, gv, -mg);
        else g_minus_mg = dv - mg;
        return rstd * mul_add(xc, minus_k, g_minus_mg);
    }
};

// Pass 2 of a group of R consecutive rows (laid out as in backward_group_sums): the rows' dx written together,
// each vector of gamma loaded once for the R rows, every element computed as by a group of one. With streaming
// stores (streaming.hpp; R = 1) the row goes through row_map_streaming, same values.
template <std::size_t R, class Arch, bool Centred, bool HasGamma, class T>
void backward_group_dx(const T* x, const T* dy, std::size_t n, const T* gamma, const T* c, const T* rstd,
                       const std::array<backward_row_means<T>, R>& means, T* dx, bool stream = false) {
    std::array<T, R> centre{}, scale{}, minus_k{}, mg{};
    unroll<R>([&](auto j) LNFOLD_ALWAYS_INLINE_LAMBDA {
        if constexpr (Centred) centre[j] = c[j];
        scale[j] = rstd[j];
        minus_k[j] = -(rstd[j] * means[j].mgx);
        mg[j] = means[j].mg;
    });
    const dx_element<Centred, HasGamma> element;
    if constexpr (R == 1) {
        if (stream) {
            const auto one = [=](auto xv, auto dv, auto gv) LNFOLD_ALWAYS_INLINE_LAMBDA {
                using V = decltype(xv);
                return element(xv, dv, gv, V(centre[0]), V(scale[0]), V(minus_k[0]), V(mg[0]));
            };
            const auto no_gamma = [=](auto xv, auto dv) LNFOLD_ALWAYS_INLINE_LAMBDA {
                return one(xv, dv, decltype(xv)(1));
            };
            if constexpr (HasGamma) row_map_streaming<Arch>(n, dx, one, x, dy, gamma);
            else row_map_streaming<Arch>(n, dx, no_gamma, x, dy);
            return;
        }
    }
    std::size_t i = 0;
    if constexpr (has_simd_v<T, Arch>) {
        using B = xsimd::batch<T, Arch>;
        constexpr std::size_t W = B::size;
        std::array<B, R> centre_v, scale_v, minus_k_v, mg_v;
        unroll<R>([&](auto j) LNFOLD_ALWAYS_INLINE_LAMBDA {
            centre_v[j] = B(centre[j]);
            scale_v[j] = B(scale[j]);
            minus_k_v[j] = B(minus_k[j]);
            mg_v[j] = B(mg[j]);
        });
        for (; i + W <= n; i += W) {
            const B gv = HasGamma ? detail::load_v<B>(gamma + i) : B(T(1));
            unroll<R>([&](auto j) LNFOLD_ALWAYS_INLINE_LAMBDA {
                detail::store_v(dx + j * n + i,
                                element(detail::load_v<B>(x + j * n + i), detail::load_v<B>(dy + j * n + i), gv,
                                        centre_v[j], scale_v[j], minus_k_v[j], mg_v[j]));
            });
        }
    }
    for (; i < n; ++i) {
        const T gv = HasGamma ? gamma[i] : T(1);
        unroll<R>([&](auto j) LNFOLD_ALWAYS_INLINE_LAMBDA {
            dx[j * n + i] = element(x[j * n + i], dy[j * n + i], gv, centre[j], scale[j], minus_k[j], mg[j]);
        });
    }
}

// Rows [r0, r1) of one block: pass 1 over groups of rows (the last few rows one by one), then pass 2 of the
// group's rows, which re-reads them from L1 / L2. Rows narrower than backward_wide_row_bytes: groups of
// backward_group_rows, pass 2 of the group together. Wider rows: groups of backward_wide_group_rows, pass 2 row by
// row. (Rows of a multiple of 4 KiB that start at page boundaries put a line of every x, dy and dx row, of gamma
// and of the partial rows in one L1 set: 4 rows together need 10-13 lines of a set, about as many as a 12-way
// 48 KiB L1 holds, so they evict each other; 2 rows with dx row by row stay within it. The measurements:
// docs/kernels.md.) With streaming stores pass 2 runs row by row.
constexpr std::size_t backward_wide_row_bytes = 4096;
constexpr std::size_t backward_wide_group_rows = 2;

template <class Arch, bool Centred, bool HasGamma, class T>
void backward_block(const T* x, const T* dy, std::size_t r0, std::size_t r1, std::size_t dim, const T* gamma,
                    const T* mean, const T* rstd, T* dx, T* pg, T* pb, bool stream) {
    auto group = [&]<std::size_t R>(std::size_t r) LNFOLD_ALWAYS_INLINE_LAMBDA {
        const auto means = backward_group_sums<R, Arch, Centred, HasGamma>(
            x + r * dim, dy + r * dim, dim, gamma, Centred ? mean + r : nullptr, rstd + r, pg, pb);
        if (!dx) return;
        if (!stream && dim * sizeof(T) < backward_wide_row_bytes)
            backward_group_dx<R, Arch, Centred, HasGamma>(x + r * dim, dy + r * dim, dim, gamma,
                                                          Centred ? mean + r : nullptr, rstd + r, means, dx + r * dim);
        else
            for (std::size_t j = 0; j < R; ++j)
                backward_group_dx<1, Arch, Centred, HasGamma>(
                    x + (r + j) * dim, dy + (r + j) * dim, dim, gamma, Centred ? mean + r + j : nullptr, rstd + r + j,
                    std::array<backward_row_means<T>, 1>{means[j]}, dx + (r + j) * dim, stream);
    };
    std::size_t r = r0;
    if (dim * sizeof(T) < backward_wide_row_bytes)
        for (; r + backward_group_rows <= r1; r += backward_group_rows)
            group.template operator()<backward_group_rows>(r);
    else
        for (; r + backward_wide_group_rows <= r1; r += backward_wide_group_rows)
            group.template operator()<backward_wide_group_rows>(r);
    for (; r < r1; ++r) group.template operator()<1>(r);
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
                backward_block<A, Centred, G>(x, dy, blk * blocks.rows_per_block, r_end, dim, gamma, mean, rstd,
                                              dx, pg, pb, stream);
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
            auto add = [](auto acc, auto v) LNFOLD_ALWAYS_INLINE_LAMBDA { return acc + v; };
            if (dgamma) row_map<A>(c1 - c0, dgamma + c0, add, dgamma + c0, p + c0);
            if (dbeta) {
                const T* q = p + (dgamma ? dim : 0);
                row_map<A>(c1 - c0, dbeta + c0, add, dbeta + c0, q + c0);
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
