#pragma once
// Row groups: the default schedule of the forward norms (every width; the other schedules are for the narrow
// widths where they measure faster, see norm_forward.hpp).
//
// Threads split the rows; each thread cuts its range into groups of R rows (group_rows: 4 with 32 vector
// registers, 2 otherwise, while the group fits in L1) and runs a group pass by pass:
//   LayerNorm   (1) shifted sums → means   (2) centred squares → 1/std, prefetching the next group   (3) outputs
//   RMSNorm     (1) sums of squares → 1/rms                                                          (2) outputs
// The R rows' loops of a pass run interleaved (reduce.hpp), so that their reductions, divisions and square roots
// overlap; the output pass writes the group's rows together, each vector of gamma and beta loaded once for all of
// them (group_map; with streaming stores the rows are written one after the other). For every row the group forms
// do exactly the arithmetic of a group of one, so a row's result never depends on its group: not on the thread
// count, not on the number of rows.
//
//   grouped_norm_rows<Arch, Centre, G, B>(n, rows, input, args)    Centre: LayerNorm, else RMSNorm
#include <array>
#include <cstddef>
#include <type_traits>

#include "lnfold/core/parallel.hpp"
#include "lnfold/kernels/arch.hpp"
#include "lnfold/kernels/norm_operands.hpp"
#include "lnfold/kernels/norm_steps.hpp"
#include "lnfold/kernels/reduce.hpp"
#include "lnfold/kernels/streaming.hpp"

namespace lnfold::kernels::detail {

// Rows per group: 4 where there are 32 vector registers (AVX-512: 4 rows x 4 accumulators), 2 otherwise, while
// a group's rows fit in group_bytes of L1; wider rows go one at a time. The budgets: 16 KiB for RMSNorm and
// add + norm; for LayerNorm, whose three passes over the group gain more from keeping it in L1, rows of up to
// 8 KiB (AVX-512: groups of 32 KiB; 2 rows: 16 KiB) (the measurements: docs/kernels.md).
template <class Arch>
inline constexpr std::size_t max_group_rows = std::is_base_of_v<xsimd::avx512f, Arch> ? 4 : 2;

template <class Arch, bool Centre, class Input>
inline constexpr std::size_t group_bytes = Centre && !Input::adds ? max_group_rows<Arch> * 8192 : 16384;

// Calls group.template operator()<R>(r, next) for the groups covering [0, rows): R rows starting at row r, and
// `next` = the first row of the following group in the same thread's range (r itself for the last one, so that
// prefetching it is harmless). Each thread's rows are cut into groups of R and single rows for the rest; a thread
// that wrote with streaming stores fences them when its range is done.
template <class T, class Arch, std::size_t GroupBytes, class Group>
void for_each_group(std::size_t rows, std::size_t dim, bool stream, Group&& group) {
    auto run = [&]<std::size_t R>() {
        parallel_for_rows(rows, dim, [&](std::size_t begin, std::size_t end) {
            std::size_t r = begin;
            for (; r + R <= end; r += R) group.template operator()<R>(r, r + 2 * R <= end ? r + R : r);
            for (; r < end; ++r) group.template operator()<1>(r, r + 1 < end ? r + 1 : r);
            if (stream) stream_fence();
        });
    };
    if (max_group_rows<Arch> * dim * sizeof(T) <= GroupBytes) run.template operator()<max_group_rows<Arch>>();
    else run.template operator()<1>();
}

// The output pass of R rows with statistics (mean_j, r_j) (mean unused when !Centre): written together (group_map:
// gamma and beta loaded once for the R rows), or with streaming stores one row after the other (each row has its
// own aligned head), as is a group of one row.
template <class Arch, bool Centre, bool G, bool B, class T, std::size_t R, class N>
LNFOLD_ALWAYS_INLINE void affine_output_rows(N n, const row_ptrs<T, R>& x, const out_row_ptrs<T, R>& y,
                                             const std::array<T, R>& mean, const std::array<T, R>& r,
                                             const T* gamma, const T* beta, bool stream) {
    with_affine_args<G, B>(gamma, beta, [&](const auto*... p) LNFOLD_ALWAYS_INLINE_LAMBDA {
        if (R == 1 || stream) {
            for (std::size_t j = 0; j < R; ++j)
                row_map_to<Arch>(stream, n, y[j], affine_output<Centre, G, B>(mean[j], r[j]), x[j], p...);
        } else {
            group_map<Arch>(n, y, x, [&](std::size_t j) { return affine_output<Centre, G, B>(mean[j], r[j]); }, p...);
        }
    });
}

// One group: the R rows from row r (next: the first row of the next group, prefetched by LayerNorm's pass 2).
template <class Arch, bool Centre, bool G, bool B, std::size_t R, class T, class N, class Input>
LNFOLD_ALWAYS_INLINE void norm_group(N n, const Input& in, std::size_t r, std::size_t next, const norm_args<T>& a) {
    const row_ptrs<T, R> x = rows_at<R>(in.rows(), r, n);
    std::array<T, R> mean{}, ss;
    if constexpr (Centre) {
        std::array<T, R> shift;
        for (std::size_t j = 0; j < R; ++j) shift[j] = in.first_element(r + j, n);
        const std::array<T, R> shifted =
            in.template first_pass<Arch, R>(n, r, [&](std::size_t j) { return shifted_sum(shift[j]); });
        for (std::size_t j = 0; j < R; ++j) mean[j] = mean_from_shifted(shift[j], shifted[j], n);
        ss = group_sum<Arch, (R > 1)>(n, x, [&](std::size_t j) { return centred_squares(mean[j]); },
                                      rows_at<R>(in.prefetched(), next, n));
    } else {
        ss = in.template first_pass<Arch, R>(n, r, [](std::size_t) { return squares(); });
    }
    std::array<T, R> rstd;
    for (std::size_t j = 0; j < R; ++j) rstd[j] = inverse_std<Arch>(ss[j], x[j], n, mean[j], a.eps);
    affine_output_rows<Arch, Centre, G, B>(n, x, rows_at<R>(a.y, r, n), mean, rstd, a.gamma, a.beta, a.stream);
    for (std::size_t j = 0; j < R; ++j) a.template store_stats<Centre>(r + j, mean[j], rstd[j]);
}

template <class Arch, bool Centre, bool G, bool B, class T, class N, class Input>
void grouped_norm_rows(N n, std::size_t rows, const Input& in, const norm_args<T>& a) {
    for_each_group<T, Arch, group_bytes<Arch, Centre, Input>>(
        rows, n, a.stream, [&]<std::size_t R>(std::size_t r, std::size_t next) {
            norm_group<Arch, Centre, G, B, R>(n, in, r, next, a);
        });
}

}  // namespace lnfold::kernels::detail
