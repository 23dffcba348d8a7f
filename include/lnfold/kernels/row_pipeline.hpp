#pragma once
// The row pipeline: the forward norm kernels for narrow rows (the widths with_width fixes at compile time, 4 and
// 8 vectors, and on AVX-512 also 12, 16, 24: float d = 64 .. 384), with each row's statistics computed two rows
// ahead of its output.
//
// A row alone is a chain: sum → horizontal sum → mean → centred squares → horizontal sum → square root and
// division → output. On a narrow row the chain is longer than the row's arithmetic, and the output operations of
// a row, all waiting on the end of its chain, fill the out-of-order scheduler before the next row's independent
// loads and sums can enter it. So each thread runs its rows as a software pipeline: in the iteration for row r
// it computes
//   first(r + 2)      LayerNorm: the mean (shifted sum);  RMSNorm: 1/rms (sum of squares)
//   second(r + 1)     LayerNorm: 1/std (centred squares, with the mean of one iteration ago);  RMSNorm: nothing
//   out(r)            the output row, from statistics that are long since ready
// and the later stages re-read their rows from L1 (three rows in flight). Holding each row in registers instead
// and running its passes there saves L1 reads, which are not the bottleneck, and leaves the chain exposed: the
// pipeline is the faster of the two (docs/kernels.md).
// Every stage does the arithmetic of the grouped path for a group of one row (group_sum, group_add_sum,
// group_inverse_std, row_map_to with affine_output), so results are bit-identical to it, for every thread count
// and number of rows, and to layer_norm_row / rms_norm_row. y may be x (in place): a row is written only after
// its own statistics, and the rows ahead of it are other rows.
// LayerNorm in float on AVX-512 runs a thread's rows 16 at a time as row blocks (row_blocks.hpp: the 16 rows'
// statistics as one vector, same arithmetic), and only the rest, fewer than 16, through the pipeline.
//
//   pipelined_layer_norm_rows<Arch, G, B>(n, x, rows, gamma, beta, eps, y, mean, rstd, stream)
//   pipelined_rms_norm_rows<Arch, G, B>(n, x, rows, gamma, beta, eps, y, rrms, stream)
//   pipelined_add_layer_norm_rows / pipelined_add_rms_norm_rows: the same on sum = a + b (stored in the first
//   stage, then normalised)
#include <array>
#include <cstddef>

#include "lnfold/core/parallel.hpp"
#include "lnfold/kernels/affine_output.hpp"
#include "lnfold/kernels/arch.hpp"
#include "lnfold/kernels/reduce.hpp"
#include "lnfold/kernels/row_blocks.hpp"
#include "lnfold/kernels/streaming.hpp"

namespace lnfold::kernels::detail {

// Runs rows [begin, end) through the pipeline: a_r = first(r) two iterations before row r's output,
// b_r = second(r, a_r) one iteration before, then out(r, a_r, b_r).
template <class T, class First, class Second, class Out>
LNFOLD_ALWAYS_INLINE void pipeline_rows(std::size_t begin, std::size_t end, First&& first, Second&& second, Out&& out) {
    if (begin >= end) return;
    T a0 = first(begin), a1{}, b0{};
    if (begin + 1 < end) a1 = first(begin + 1);
    b0 = second(begin, a0);
    for (std::size_t r = begin; r < end; ++r) {
        T a2{}, b1{};
        if (r + 2 < end) a2 = first(r + 2);
        if (r + 1 < end) b1 = second(r + 1, a1);
        out(r, a0, b0);
        a0 = a1;
        a1 = a2;
        b0 = b1;
    }
}

// Threads over rows, each thread's range one pipeline; stream: the output is written with streaming stores,
// fenced when the range is done. With BlockRows > 1, a thread first runs its rows in blocks (block(r): rows r ..
// r + BlockRows - 1, row_blocks.hpp) and only its last rows, fewer than BlockRows, through the pipeline.
template <class T, std::size_t BlockRows = 1, class First, class Second, class Out, class Block = std::nullptr_t>
void pipeline_over_threads(std::size_t rows, std::size_t n, bool stream, First&& first, Second&& second, Out&& out,
                           Block&& block = nullptr) {
    parallel_for_rows(rows, n, [&](std::size_t begin, std::size_t end) {
        // local copies of the stages (they capture by value): the output stores cannot alias their captures, so
        // pointers and constants stay in registers
        const auto f = first;
        const auto s = second;
        const auto o = out;
        std::size_t r = begin;
        if constexpr (BlockRows > 1) {
            const auto b = block;
            for (; r + BlockRows <= end; r += BlockRows) b(r);
        }
        pipeline_rows<T>(r, end, f, s, o);
        if (stream) stream_fence();
    });
}

// mean of one row: x_0 + Σ(x - x_0)/n.
template <class Arch, class T, class N>
LNFOLD_ALWAYS_INLINE T row_mean(N n, const T* x) {
    const T shift = x[0];
    const std::array<T, 1> shifted = group_sum<Arch, false>(
        n, row_ptrs<T, 1>{x},
        [=](std::size_t) LNFOLD_ALWAYS_INLINE_LAMBDA {
            return shifted_sum_step(shift);
        },
        row_ptrs<T, 1>{x});
    return shifted_mean(std::array<T, 1>{shift}, shifted, n)[0];
}

// 1/sqrt(Σ(x - c)²/n + eps) of one row (c = mean, or 0 for RMSNorm: then the squares are not centred).
template <class Arch, bool Centre, class T, class N>
LNFOLD_ALWAYS_INLINE T row_inverse_std(N n, const T* x, T c, T eps) {
    const row_ptrs<T, 1> row{x};
    const std::array<T, 1> ss = group_sum<Arch, false>(
        n, row,
        [=](std::size_t) LNFOLD_ALWAYS_INLINE_LAMBDA {
            if constexpr (Centre) return centred_square_step(c);
            else return [](auto acc, auto v) LNFOLD_ALWAYS_INLINE_LAMBDA { return mul_add(v, v, acc); };
        },
        row);
    return group_inverse_std<Arch>(ss, row, n, std::array<T, 1>{c}, eps)[0];
}

// The fused add's first stage for one row: sum = a + b stored, and its mean (LayerNorm, Centre) or its 1/rms.
template <class Arch, bool Centre, class T, class N>
LNFOLD_ALWAYS_INLINE T row_add_first(N n, const T* a, const T* b, T* sum, T eps) {
    const T shift = a[0] + b[0];
    const std::array<T, 1> s = group_add_sum<Arch>(n, row_ptrs<T, 1>{a}, row_ptrs<T, 1>{b}, out_row_ptrs<T, 1>{sum},
                                                   [=](std::size_t) LNFOLD_ALWAYS_INLINE_LAMBDA {
                                                       return [=](auto acc, auto v) LNFOLD_ALWAYS_INLINE_LAMBDA {
                                                           if constexpr (Centre) return acc + (v - decltype(v)(shift));
                                                           else return mul_add(v, v, acc);
                                                       };
                                                   });
    if constexpr (Centre) return shifted_mean(std::array<T, 1>{shift}, s, n)[0];
    else return group_inverse_std<Arch>(s, row_ptrs<T, 1>{sum}, n, std::array<T, 1>{}, eps)[0];
}

// The output of one row, y = (x - mean) · r · gamma + beta (Centre) or x · r · gamma + beta.
template <class Arch, bool Centre, bool G, bool B, class T, class N>
LNFOLD_ALWAYS_INLINE void row_output(N n, const T* x, T* y, T mean, T r, const T* gamma, const T* beta, bool stream) {
    with_affine_args<G, B>(gamma, beta, [&](const auto*... p) LNFOLD_ALWAYS_INLINE_LAMBDA {
        row_map_to<Arch>(stream, n, y, affine_output<Centre, G, B>(mean, r), x, p...);
    });
}

// LayerNorm through the pipeline: the mean of row r from mean_of(r) (a shifted sum, or the fused add's first
// stage), 1/std and the output from the rows of src (x, or the stored sum). With BlockRows > 1, rows of src
// in blocks (layer_norm_block) where they are BlockRows at a time.
template <class Arch, bool G, bool B, std::size_t BlockRows = 1, class T, class N, class MeanOf>
void layer_norm_pipeline(N n, std::size_t rows, MeanOf mean_of, const T* src, const T* gamma, const T* beta, T eps,
                         T* y, T* mean, T* rstd, bool stream) {
    const auto inverse_std = [=](std::size_t r, T m) LNFOLD_ALWAYS_INLINE_LAMBDA {
        return row_inverse_std<Arch, true>(n, src + r * n, m, eps);
    };
    const auto output = [=](std::size_t r, T m, T s) LNFOLD_ALWAYS_INLINE_LAMBDA {
        row_output<Arch, true, G, B>(n, src + r * n, y + r * n, m, s, gamma, beta, stream);
        if (mean) mean[r] = m;
        if (rstd) rstd[r] = s;
    };
    if constexpr (BlockRows > 1) {
        pipeline_over_threads<T, BlockRows>(
            rows, n, stream, mean_of, inverse_std, output, [=](std::size_t r) LNFOLD_ALWAYS_INLINE_LAMBDA {
                layer_norm_block<Arch, G, B>(n, src + r * n, gamma, beta, eps, y + r * n, mean ? mean + r : nullptr,
                                             rstd ? rstd + r : nullptr, stream);
            });
    } else {
        pipeline_over_threads<T>(rows, n, stream, mean_of, inverse_std, output);
    }
}

// RMSNorm through the pipeline: 1/rms of row r from rrms_of(r), the output from the rows of src.
template <class Arch, bool G, bool B, class T, class N, class RrmsOf>
void rms_norm_pipeline(N n, std::size_t rows, RrmsOf rrms_of, const T* src, const T* gamma, const T* beta, T* y,
                       T* rrms, bool stream) {
    pipeline_over_threads<T>(
        rows, n, stream, rrms_of, [](std::size_t, T s) LNFOLD_ALWAYS_INLINE_LAMBDA { return s; },
        [=](std::size_t r, T s, T) LNFOLD_ALWAYS_INLINE_LAMBDA {
            row_output<Arch, false, G, B>(n, src + r * n, y + r * n, T(0), s, gamma, beta, stream);
            if (rrms) rrms[r] = s;
        });
}

template <class Arch, bool G, bool B, class T, class N>
void pipelined_layer_norm_rows(N n, const T* x, std::size_t rows, const T* gamma, const T* beta, T eps, T* y,
                               T* mean, T* rstd, bool stream) {
    layer_norm_pipeline<Arch, G, B, layer_norm_block_rows_v<T, Arch>>(
        n, rows, [=](std::size_t r) LNFOLD_ALWAYS_INLINE_LAMBDA { return row_mean<Arch>(n, x + r * n); }, x, gamma,
        beta, eps, y, mean, rstd, stream);
}

template <class Arch, bool G, bool B, class T, class N>
void pipelined_rms_norm_rows(N n, const T* x, std::size_t rows, const T* gamma, const T* beta, T eps, T* y, T* rrms,
                             bool stream) {
    rms_norm_pipeline<Arch, G, B>(
        n, rows,
        [=](std::size_t r) LNFOLD_ALWAYS_INLINE_LAMBDA {
            return row_inverse_std<Arch, false>(n, x + r * n, T(0), eps);
        },
        x, gamma, beta, y, rrms, stream);
}

template <class Arch, bool G, bool B, class T, class N>
void pipelined_add_layer_norm_rows(N n, const T* a, const T* b, std::size_t rows, const T* gamma, const T* beta,
                                   T eps, T* sum, T* y, T* mean, T* rstd, bool stream) {
    layer_norm_pipeline<Arch, G, B>(
        n, rows,
        [=](std::size_t r) LNFOLD_ALWAYS_INLINE_LAMBDA {
            return row_add_first<Arch, true>(n, a + r * n, b + r * n, sum + r * n, eps);
        },
        static_cast<const T*>(sum), gamma, beta, eps, y, mean, rstd, stream);
}

template <class Arch, bool G, bool B, class T, class N>
void pipelined_add_rms_norm_rows(N n, const T* a, const T* b, std::size_t rows, const T* gamma, const T* beta, T eps,
                                 T* sum, T* y, T* rrms, bool stream) {
    rms_norm_pipeline<Arch, G, B>(
        n, rows,
        [=](std::size_t r) LNFOLD_ALWAYS_INLINE_LAMBDA {
            return row_add_first<Arch, false>(n, a + r * n, b + r * n, sum + r * n, eps);
        },
        static_cast<const T*>(sum), gamma, beta, y, rrms, stream);
}

}  // namespace lnfold::kernels::detail
