#pragma once
// What a forward norm reads and writes, as every schedule sees it.
//
// The rows it normalises come from one of two inputs, which differ only in the first pass over a row:
//   row_input{x}               the rows x;  first pass: acc over x
//   added_input{a, b, sum}     sum = a + b (the fused residual add); first pass: stores sum while acc runs over
//                              it, with the accumulators and order of a first pass over the stored sum, so the
//                              result equals the norm of sum bit for bit
// and the later passes re-read input.rows() (x, or the stored sum; the row is in L1 by then).
// norm_args holds the rest: gamma / beta, eps, the output y and the per-row statistics.
#include <array>
#include <cstddef>

#include "lnfold/kernels/arch.hpp"
#include "lnfold/kernels/reduce.hpp"

namespace lnfold::kernels::detail {

template <class T>
struct norm_args {
    const T* gamma;  // (dim) or nullptr (1)
    const T* beta;   // (dim) or nullptr (0)
    T eps;
    T* y;            // (rows, dim); may be the input rows (in place)
    T* mean;         // (rows) or nullptr; LayerNorm's means
    T* rstd;         // (rows) or nullptr; LayerNorm's 1/std, RMSNorm's 1/rms
    bool stream;     // y is written with streaming stores (streaming.hpp)

    // Row r's statistics: mean m (LayerNorm, Centre) and s = 1/std or 1/rms.
    template <bool Centre>
    LNFOLD_ALWAYS_INLINE void store_stats(std::size_t r, T m, T s) const {
        if constexpr (Centre)
            if (mean) mean[r] = m;
        if (rstd) rstd[r] = s;
    }
};

template <class T>
struct row_input {
    using value_type = T;
    static constexpr bool adds = false;
    const T* x;

    const T* rows() const { return x; }
    const T* prefetched() const { return x; }  // the rows a group's second pass prefetches for the next group
    T first_element(std::size_t r, std::size_t n) const { return x[r * n]; }

    // acc_j = Σ_i make(j)(acc, x_j[i]) for the R rows from row r (reduce.hpp group_sum).
    template <class Arch, std::size_t R, class N, class Make>
    LNFOLD_ALWAYS_INLINE std::array<T, R> first_pass(N n, std::size_t r, Make&& make) const {
        const row_ptrs<T, R> x_rows = rows_at<R>(x, r, n);
        return group_sum<Arch, false>(n, x_rows, make, x_rows);
    }
};

template <class T>
struct added_input {
    using value_type = T;
    static constexpr bool adds = true;
    const T* a;
    const T* b;
    T* sum;  // may be a or b (the in-place residual stream)

    const T* rows() const { return sum; }
    const T* prefetched() const { return a; }  // b is the branch output just computed, in cache
    T first_element(std::size_t r, std::size_t n) const { return a[r * n] + b[r * n]; }

    // sum_j = a_j + b_j stored, and acc_j over it (reduce.hpp group_add_sum).
    template <class Arch, std::size_t R, class N, class Make>
    LNFOLD_ALWAYS_INLINE std::array<T, R> first_pass(N n, std::size_t r, Make&& make) const {
        return group_add_sum<Arch>(n, rows_at<R>(a, r, n), rows_at<R>(b, r, n), rows_at<R>(sum, r, n), make);
    }
};

}  // namespace lnfold::kernels::detail
