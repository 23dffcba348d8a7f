#pragma once
// The forward norms over rows, whichever input and schedule: one entry, norm_rows, behind layer_norm_rows,
// rms_norm_rows, add_layer_norm_rows and add_rms_norm_rows (and their one-row forms).
//
// Schedules (each built only from norm_steps.hpp, so each gives every row the same bits; test_norm_groups runs
// every one against the default):
//   row_groups     the default, every width (row_groups.hpp)
//   row_pipeline   rows of 4 or 8 vectors, and on AVX-512 12, 16, 24 (float d = 64 .. 384): each row's statistics
//                  two rows ahead of its output, the width a compile-time constant (row_pipeline.hpp)
// automatic picks the pipeline at its widths and the groups elsewhere; the gains that keep the pipeline, and why
// the row blocks it once had were dropped, are in docs/kernels.md ("Schedules").
#include <cstddef>
#include <type_traits>

#include "lnfold/kernels/arch.hpp"
#include "lnfold/kernels/norm_operands.hpp"
#include "lnfold/kernels/row_groups.hpp"
#include "lnfold/kernels/row_pipeline.hpp"
#include "lnfold/kernels/streaming.hpp"

namespace lnfold::kernels::detail {

enum class norm_schedule { automatic, row_groups, row_pipeline };

// Calls f(n) with n = std::integral_constant<std::size_t, dim> when a row is a width the row pipeline is compiled
// for (4 and 8 vectors, and with 32 vector registers, AVX-512, also 12, 16 and 24), else with n = dim. A width
// known at compile time unrolls the row loops completely.
template <class T, class Arch, class F>
void with_width(std::size_t dim, F&& f) {
    constexpr std::size_t W = lanes_v<T, Arch>;
    if constexpr (has_simd_v<T, Arch>) {
        if (dim == 4 * W) return f(std::integral_constant<std::size_t, 4 * W>{});
        if (dim == 8 * W) return f(std::integral_constant<std::size_t, 8 * W>{});
        if constexpr (std::is_base_of_v<xsimd::avx512f, Arch>) {
            if (dim == 12 * W) return f(std::integral_constant<std::size_t, 12 * W>{});
            if (dim == 16 * W) return f(std::integral_constant<std::size_t, 16 * W>{});
            if (dim == 24 * W) return f(std::integral_constant<std::size_t, 24 * W>{});
        }
    }
    f(dim);
}

// Calls f.template operator()<HasGamma, HasBeta>() for the runtime presence of gamma and beta.
template <class F>
void with_affine(const void* gamma, const void* beta, F&& f) {
    if (gamma && beta) f.template operator()<true, true>();
    else if (gamma) f.template operator()<true, false>();
    else if (beta) f.template operator()<false, true>();
    else f.template operator()<false, false>();
}

// LayerNorm (Centre) or RMSNorm of `rows` rows of width dim read from `in` (row_input or added_input), with the
// presence of gamma / beta fixed at compile time (G, B) and no argument checks. args.stream is set here. S forces
// a schedule (tests and benchmarks; row_pipeline then runs at any width, with the width a run-time value where it
// is not one of with_width's).
template <class Arch, bool Centre, bool G, bool B, norm_schedule S = norm_schedule::automatic, class Input,
          class T = typename Input::value_type>
void norm_rows(const Input& in, std::size_t rows, std::size_t dim, norm_args<T> args) {
    args.stream = use_streaming<T>(rows, dim);  // y only: an added input's sum is re-read by the later passes
    with_width<T, Arch>(dim, [&](auto n) {
        constexpr bool fixed = is_fixed_width_v<decltype(n)>;
        if constexpr (S == norm_schedule::row_groups || (S == norm_schedule::automatic && !fixed))
            grouped_norm_rows<Arch, Centre, G, B>(n, rows, in, args);
        else
            pipelined_norm_rows<Arch, Centre, G, B>(n, rows, in, args);
    });
}

}  // namespace lnfold::kernels::detail
