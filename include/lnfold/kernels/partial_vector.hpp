#pragma once
// One vector register over the last, partial stretch of a range: the m < W values left after the full vectors
// (W = lanes) are copied into a vector whose other lanes hold a chosen fill value, and stored back without touching
// memory past the range. Lets a kernel run the same vector code over a whole range, tail included.
#include <cstddef>
#include <cstring>

#include "lnfold/core/x86_intrinsics.hpp"  // before xsimd includes <immintrin.h>
#include <xsimd/xsimd.hpp>

#include "lnfold/kernels/arch.hpp"

namespace lnfold::kernels::detail {

// B from p[0, m) (m <= W), lanes m.. set to fill; m = W is a plain unaligned load.
template <class B, class T>
LNFOLD_ALWAYS_INLINE B load_filled(const T* p, std::size_t m, T fill) {
    if (m == B::size) return B::load_unaligned(p);
    alignas(B) T buffer[B::size];
    for (std::size_t i = 0; i < B::size; ++i) buffer[i] = i < m ? p[i] : fill;
    return B::load_aligned(buffer);
}

// The first m lanes of v to p[0, m).
template <class B, class T>
LNFOLD_ALWAYS_INLINE void store_first(T* p, const B& v, std::size_t m) {
    if (m == B::size) return v.store_unaligned(p);
    alignas(B) T buffer[B::size];
    v.store_aligned(buffer);
    std::memcpy(p, buffer, m * sizeof(T));
}

}  // namespace lnfold::kernels::detail
