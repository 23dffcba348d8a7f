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
// Every stage is made of the steps of norm_steps.hpp, as a group of one row of row_groups.hpp, so results are
// bit-identical to the default schedule, for every thread count and number of rows (test_norm_groups). y may be x
// (in place): a row is written only after its own statistics, and the rows ahead of it are other rows.
//
//   pipelined_norm_rows<Arch, Centre, G, B>(n, rows, input, args)    Centre: LayerNorm, else RMSNorm
#include <array>
#include <cstddef>

#include "lnfold/core/parallel.hpp"
#include "lnfold/kernels/arch.hpp"
#include "lnfold/kernels/norm_operands.hpp"
#include "lnfold/kernels/norm_steps.hpp"
#include "lnfold/kernels/reduce.hpp"
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
// fenced when the range is done.
template <class T, class First, class Second, class Out>
void pipeline_over_threads(std::size_t rows, std::size_t n, bool stream, First&& first, Second&& second, Out&& out) {
    parallel_for_rows(rows, n, [&](std::size_t begin, std::size_t end) {
        // local copies of the stages (they capture by value): the output stores cannot alias their captures, so
        // pointers and constants stay in registers
        const auto f = first;
        const auto s = second;
        const auto o = out;
        pipeline_rows<T>(begin, end, f, s, o);
        if (stream) stream_fence();
    });
}

// A norm through the pipeline: first(r) = the mean (LayerNorm: shifted sum) or 1/rms (RMSNorm: sum of squares),
// the input's first pass over row r; second(r, mean) = 1/std (LayerNorm: centred squares of input.rows()); then
// the output.
template <class Arch, bool Centre, bool G, bool B, class T, class N, class Input>
void pipelined_norm_rows(N n, std::size_t rows, const Input& in, const norm_args<T>& a) {
    const T* src = in.rows();
    const T eps = a.eps;  // the stages capture what they use, nothing more (they stay in registers)
    const auto first = [=](std::size_t r) LNFOLD_ALWAYS_INLINE_LAMBDA {
        if constexpr (Centre) {
            const T shift = in.first_element(r, n);
            const T shifted = in.template first_pass<Arch, 1>(
                n, r, [=](std::size_t) LNFOLD_ALWAYS_INLINE_LAMBDA { return shifted_sum(shift); })[0];
            return mean_from_shifted(shift, shifted, n);
        } else {
            const T ss = in.template first_pass<Arch, 1>(
                n, r, [](std::size_t) LNFOLD_ALWAYS_INLINE_LAMBDA { return squares(); })[0];
            return inverse_std<Arch>(ss, src + r * n, n, T(0), eps);
        }
    };
    const auto second = [=](std::size_t r, T m) LNFOLD_ALWAYS_INLINE_LAMBDA {
        if constexpr (Centre) {
            const row_ptrs<T, 1> row{src + r * n};
            const T ss = group_sum<Arch, false>(
                n, row, [=](std::size_t) LNFOLD_ALWAYS_INLINE_LAMBDA { return centred_squares(m); }, row)[0];
            return inverse_std<Arch>(ss, src + r * n, n, m, eps);
        } else {
            return m;  // RMSNorm: 1/rms, from the first stage
        }
    };
    const auto out = [=](std::size_t r, T first_value, T s) LNFOLD_ALWAYS_INLINE_LAMBDA {
        const T m = Centre ? first_value : T(0);
        with_affine_args<G, B>(a.gamma, a.beta, [&](const auto*... p) LNFOLD_ALWAYS_INLINE_LAMBDA {
            row_map_to<Arch>(a.stream, n, a.y + r * n, affine_output<Centre, G, B>(m, s), src + r * n, p...);
        });
        a.template store_stats<Centre>(r, m, s);
    };
    pipeline_over_threads<T>(rows, n, a.stream, first, second, out);
}

}  // namespace lnfold::kernels::detail
