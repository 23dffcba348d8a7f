#pragma once
// Streaming (non-temporal) stores for outputs too large to stay in cache.
//
// A normal store first reads the line it writes (read-for-ownership) and leaves it in cache: for an output of
// hundreds of MiB that is one extra read of memory per element (x read + y read + y written, 12 bytes per float
// instead of 8) and the output evicts everything else. A streaming store writes the line to memory through the
// write-combining buffers without reading it. The norm kernels' output pass uses them when the output is at least
// streaming_min_bytes(), where the output would not stay in this core's share of the cache anyway; the values
// written are the same either way, so results do not depend on this choice. Outputs that fit in cache gain nothing
// from streaming, larger ones save the read of every line. The default is capped at 32 MiB because the L3 the OS
// reports is shared (a virtual machine may report the host's whole L3), far more than one core can use
// (the measurements: docs/kernels.md).
//
//   streaming_min_bytes()                    the threshold: LNFOLD_STREAMING_MIN_BYTES if defined, else the L3
//                                            size the OS reports (sysconf), at most 32 MiB
//   set_streaming_min_bytes(bytes)           changes it for the process (0: always stream; SIZE_MAX: never)
//   row_map_to<Arch>(stream, n, out, f, p...) row_map (reduce.hpp), with streaming stores when `stream`
//   stream_fence()                           orders a thread's streaming stores before what follows (sfence);
//                                            called once per thread at the end of a kernel that streamed
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#if defined(__unix__) || defined(__APPLE__)
#include <unistd.h>
#endif

#include "lnfold/core/x86_intrinsics.hpp"  // before xsimd includes <immintrin.h>
#include <xsimd/xsimd.hpp>

#include "lnfold/kernels/arch.hpp"
#include "lnfold/kernels/reduce.hpp"

namespace lnfold::kernels {

namespace detail {

inline std::size_t default_streaming_min_bytes() {
#if defined(LNFOLD_STREAMING_MIN_BYTES)
    return static_cast<std::size_t>(LNFOLD_STREAMING_MIN_BYTES);
#else
    long l3 = -1;
#if defined(_SC_LEVEL3_CACHE_SIZE)
    l3 = sysconf(_SC_LEVEL3_CACHE_SIZE);
#endif
    constexpr std::size_t cap = std::size_t{32} << 20;  // an L3 is shared: a core's part of it is far smaller
    return l3 > 0 && static_cast<std::size_t>(l3) < cap ? static_cast<std::size_t>(l3) : cap;
#endif
}

inline std::atomic<std::size_t>& streaming_threshold() {
    static std::atomic<std::size_t> bytes{default_streaming_min_bytes()};
    return bytes;
}

}  // namespace detail

// Outputs of at least this many bytes are written with streaming stores (see above).
inline std::size_t streaming_min_bytes() { return detail::streaming_threshold().load(std::memory_order_relaxed); }

// Sets that threshold for the whole process (the results do not change, only how they reach memory).
inline void set_streaming_min_bytes(std::size_t bytes) {
    detail::streaming_threshold().store(bytes, std::memory_order_relaxed);
}

namespace detail {

// Streams one vector to p, which is aligned to the vector's size. x86 (SSE2, AVX, AVX-512 registers) only;
// other architectures store it normally (aligned).
template <class T, class Arch>
inline void stream_v(T* p, const xsimd::batch<T, Arch>& v) {
    constexpr std::size_t bytes = sizeof(xsimd::batch<T, Arch>);  // the register: 64 zmm, 32 ymm, 16 xmm
    constexpr bool is_float = std::is_same_v<T, float>, is_double = std::is_same_v<T, double>;
#if defined(__AVX512F__)
    if constexpr (is_float && bytes == 64) return _mm512_stream_ps(p, v);
    if constexpr (is_double && bytes == 64) return _mm512_stream_pd(p, v);
#endif
#if defined(__AVX__)
    if constexpr (is_float && bytes == 32) return _mm256_stream_ps(p, v);
    if constexpr (is_double && bytes == 32) return _mm256_stream_pd(p, v);
#endif
#if defined(__SSE2__)
    if constexpr (is_float && bytes == 16) return _mm_stream_ps(p, v);
    if constexpr (is_double && bytes == 16) return _mm_stream_pd(p, v);
#endif
    v.store_aligned(p);
}

inline void stream_fence() {
#if defined(__SSE2__)
    _mm_sfence();
#endif
}

// out[i] = f(p[i]...) over [0, n) as row_map, written with streaming stores: a scalar head up to the first
// vector-aligned element of out, aligned streaming stores, a scalar tail. Each element is computed by the same
// f as in row_map (a vector lane and the scalar form agree exactly), so the output equals row_map's.
template <class Arch, class T, class N, class F, class... P>
LNFOLD_ALWAYS_INLINE void row_map_streaming(N n, T* out, F&& fn, const P*... p) {
    if constexpr (has_simd_v<T, Arch>) {
        using B = xsimd::batch<T, Arch>;
        constexpr std::size_t W = B::size;
        const auto f = fn;
        const std::size_t misaligned = reinterpret_cast<std::uintptr_t>(out) % sizeof(B);
        std::size_t head = misaligned % sizeof(T) == 0 ? (sizeof(B) - misaligned) % sizeof(B) / sizeof(T) : n;
        if (head > n) head = n;
        std::size_t i = 0;
        for (; i < head; ++i) out[i] = f(p[i]...);
        for (; i + W <= n; i += W) stream_v(out + i, B(f(detail::load_v<B>(p + i)...)));
        for (; i < n; ++i) out[i] = f(p[i]...);
    } else {
        row_map<Arch>(n, out, fn, p...);
    }
}

// Whether a kernel writing `rows` rows of `dim` elements of T streams them.
template <class T>
bool use_streaming(std::size_t rows, std::size_t dim) {
    return rows * dim * sizeof(T) >= streaming_min_bytes();
}

// row_map or row_map_streaming, chosen at run time (one row's output pass).
template <class Arch, class T, class N, class F, class... P>
LNFOLD_ALWAYS_INLINE void row_map_to(bool stream, N n, T* out, F&& f, const P*... p) {
    if (stream) row_map_streaming<Arch>(n, out, f, p...);
    else row_map<Arch>(n, out, f, p...);
}

}  // namespace detail
}  // namespace lnfold::kernels
