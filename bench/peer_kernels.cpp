// liblnfold_bench_kernels: lnfold's norm kernels and the copy kernels behind a C interface, for the peer
// comparison (bench/peer_bench.py loads it with ctypes and times torch / onnxruntime on the same buffers).
//
//   lnfold_bench_info()                      build line: lnfold version, SIMD, OpenMP, compiler, flags
//   lnfold_bench_set_threads(n)              OpenMP threads for the kernels (returns the previous count)
//   lnfold_bench_time(kernel, rows, dim, buffers, reps, samples)
//       runs `reps` back-to-back calls of the kernel, `samples` times, and returns the best time per call in
//       seconds: the loop runs here, so no Python call overhead is counted for lnfold.
//
// Buffers (float32, rows x dim unless noted; the caller allocates and pre-touches them): x, b (second input of
// add + norm), y, s (the sum of add + norm), gamma, beta (dim), mean, rstd (rows), dy, dx, dgamma, dbeta (dim).
#include <lnfold/core/build_info.hpp>
#include <lnfold/kernels/kernels.hpp>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstring>
#include <string>

#include <xsimd/xsimd.hpp>

#if LNFOLD_HAS_OPENMP
#include <omp.h>
#endif

#ifndef LNFOLD_BENCH_FLAGS
#define LNFOLD_BENCH_FLAGS "(unknown)"
#endif

namespace {

namespace k = lnfold::kernels;
using T = float;

// The copy kernels, the reference of "% of copy": memcpy, a vectorised loop (one load and one store per
// vector, unaligned like the norm kernels), and the 2-in/2-out stream kernel of add + norm; below, both also with
// streaming stores.
void copy_loop(const T* x, T* y, std::size_t n) {
    using B = xsimd::batch<T>;
    constexpr std::size_t W = B::size;
    std::size_t i = 0;
    for (; i + 4 * W <= n; i += 4 * W) {
        const B a = B::load_unaligned(x + i), b = B::load_unaligned(x + i + W);
        const B c = B::load_unaligned(x + i + 2 * W), d = B::load_unaligned(x + i + 3 * W);
        a.store_unaligned(y + i);
        b.store_unaligned(y + i + W);
        c.store_unaligned(y + i + 2 * W);
        d.store_unaligned(y + i + 3 * W);
    }
    for (; i < n; ++i) y[i] = x[i];
}

void stream2(const T* a, const T* b, T* s, T* y, std::size_t n) {
    using B = xsimd::batch<T>;
    constexpr std::size_t W = B::size;
    std::size_t i = 0;
    for (; i + 2 * W <= n; i += 2 * W) {
        const B a0 = B::load_unaligned(a + i), a1 = B::load_unaligned(a + i + W);
        const B b0 = B::load_unaligned(b + i), b1 = B::load_unaligned(b + i + W);
        a0.store_unaligned(s + i);
        a1.store_unaligned(s + i + W);
        b0.store_unaligned(y + i);
        b1.store_unaligned(y + i + W);
    }
    for (; i < n; ++i) {
        s[i] = a[i];
        y[i] = b[i];
    }
}

// The same copies with streaming (non-temporal) stores, as lnfold's kernels write outputs too large for the cache
// (kernels/streaming.hpp, whose row_map_streaming they use): in DRAM a copy with normal stores also reads every
// output line before writing it, so without these the copy reference would be slower than it has to be.
void copy_streaming(const T* x, T* y, std::size_t n) {
    k::detail::row_map_streaming<xsimd::default_arch>(n, y, [](auto v) { return v; }, x);
    k::detail::stream_fence();
}

void stream2_streaming(const T* a, const T* b, T* s, T* y, std::size_t n) {
    k::detail::row_map_streaming<xsimd::default_arch>(n, s, [](auto v) { return v; }, a);
    k::detail::row_map_streaming<xsimd::default_arch>(n, y, [](auto v) { return v; }, b);
    k::detail::stream_fence();
}

}  // namespace

extern "C" {

struct lnfold_bench_buffers {
    const T* x;
    const T* b;
    T* y;
    T* s;
    const T* gamma;
    const T* beta;
    T* mean;
    T* rstd;
    const T* dy;
    T* dx;
    T* dgamma;
    T* dbeta;
};

// Kernel ids (bench/peer_bench.py mirrors them).
enum lnfold_bench_kernel {
    bench_memcpy = 0,
    bench_copy_loop = 1,
    bench_stream2 = 2,
    bench_layer_norm = 3,
    bench_rms_norm = 4,
    bench_rms_norm_bias = 5,
    bench_add_layer_norm = 6,
    bench_add_rms_norm = 7,
    bench_layer_norm_backward = 8,
    bench_rms_norm_backward = 9,
    bench_copy_streaming = 10,
    bench_stream2_streaming = 11,
};

const char* lnfold_bench_info() {
    static const std::string info = lnfold::build_summary() + ", flags: " + LNFOLD_BENCH_FLAGS;
    return info.c_str();
}

int lnfold_bench_set_threads(int threads) {
#if LNFOLD_HAS_OPENMP
    const int previous = omp_get_max_threads();
    omp_set_num_threads(std::max(1, threads));
    return previous;
#else
    (void)threads;
    return 1;
#endif
}

// Best seconds per call over `samples` runs of `reps` calls; -1 for an unknown kernel.
double lnfold_bench_time(int kernel, long rows_, long dim_, const lnfold_bench_buffers* m, long reps, long samples) {
    const auto rows = static_cast<std::size_t>(rows_), dim = static_cast<std::size_t>(dim_);
    const std::size_t n = rows * dim;
    const T eps = 1e-5f;
    auto call = [&]() -> bool {
        switch (kernel) {
            case bench_memcpy: std::memcpy(m->y, m->x, n * sizeof(T)); return true;
            case bench_copy_loop: copy_loop(m->x, m->y, n); return true;
            case bench_stream2: stream2(m->x, m->b, m->s, m->y, n); return true;
            case bench_copy_streaming: copy_streaming(m->x, m->y, n); return true;
            case bench_stream2_streaming: stream2_streaming(m->x, m->b, m->s, m->y, n); return true;
            case bench_layer_norm:
                k::layer_norm_rows(m->x, rows, dim, m->gamma, m->beta, eps, m->y, m->mean, m->rstd);
                return true;
            case bench_rms_norm: k::rms_norm_rows(m->x, rows, dim, m->gamma, nullptr, eps, m->y, m->rstd); return true;
            case bench_rms_norm_bias:
                k::rms_norm_rows(m->x, rows, dim, m->gamma, m->beta, eps, m->y, m->rstd);
                return true;
            case bench_add_layer_norm:
                k::add_layer_norm_rows(m->x, m->b, rows, dim, m->gamma, m->beta, eps, m->s, m->y, m->mean, m->rstd);
                return true;
            case bench_add_rms_norm:
                k::add_rms_norm_rows(m->x, m->b, rows, dim, m->gamma, nullptr, eps, m->s, m->y, m->rstd);
                return true;
            case bench_layer_norm_backward:
                k::layer_norm_backward_rows(m->x, m->dy, rows, dim, m->gamma, m->mean, m->rstd, m->dx, m->dgamma,
                                            m->dbeta);
                return true;
            case bench_rms_norm_backward:
                k::rms_norm_backward_rows(m->x, m->dy, rows, dim, m->gamma, m->rstd, m->dx, m->dgamma, nullptr);
                return true;
            default: return false;
        }
    };
    if (!call()) return -1;  // also the warm-up call
    double best = 1e30;
    for (long s = 0; s < samples; ++s) {
        const auto start = std::chrono::steady_clock::now();
        for (long r = 0; r < reps; ++r) call();
        const double t = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        best = std::min(best, t / static_cast<double>(reps));
    }
    return best;
}

}  // extern "C"
