#pragma once
// Compile-time shape-chain checks. A mismatch instantiates one of the never-satisfiable templates below,
// so the compiler prints one static_assert whose instantiation line carries the numbers, e.g.
//   In instantiation of 'struct lnfold::dimension_mismatch_at_layer<1, 768, 512>' ...
//   error: static assertion failed: lnfold: shape chain mismatch in a Seq ...
#include <array>
#include <cstddef>
#include <type_traits>

namespace lnfold {

struct shape_check_passed {
    static constexpr bool ok = true;
};

template <std::size_t Position, std::size_t Expected, std::size_t Actual>
struct dimension_mismatch_at_layer {
    static_assert(Position == std::size_t(-1),
                  "lnfold: shape chain mismatch in a Seq: the layer at Position (0-based, in that Seq) expects an "
                  "input width of Expected but the layer before it outputs Actual. The numbers are in "
                  "dimension_mismatch_at_layer<Position, Expected, Actual> on the line above.");
    static constexpr bool ok = false;
};

template <std::size_t Expected, std::size_t Actual>
struct residual_branch_changes_width {
    static_assert(Expected == std::size_t(-1),
                  "lnfold: a Residual<Branch> (or Repeat<N, Block>) must give back its input width: the branch "
                  "reads Expected features but outputs Actual. The numbers are in "
                  "residual_branch_changes_width<Expected, Actual> on the line above.");
    static constexpr bool ok = false;
};

namespace detail {

using width_function = std::size_t (*)(std::size_t);

struct chain_check {
    bool ok = true;
    std::size_t position = 0, expected = 0, actual = 0;
};

// Walks a chain of layers: in_widths[i] is what layer i needs (0 = any), outputs[i] maps its input width to
// its output width (0 = still unknown). Reports the first layer whose need differs from what it receives.
template <std::size_t N>
constexpr chain_check check_chain(const std::array<std::size_t, N>& in_widths,
                                  const std::array<width_function, N>& outputs) {
    std::size_t width = 0;
    for (std::size_t i = 0; i < N; ++i) {
        if (in_widths[i] != 0 && width != 0 && in_widths[i] != width) return {false, i, in_widths[i], width};
        if (width == 0) width = in_widths[i];
        width = outputs[i](width);
    }
    return {};
}

// The width a chain needs at its input (0 = any or token ids).
template <std::size_t N>
constexpr std::size_t chain_in_width(const std::array<std::size_t, N>& in_widths,
                                     const std::array<width_function, N>& outputs) {
    std::size_t width = 0;
    for (std::size_t i = 0; i < N; ++i) {
        if (width == 0 && in_widths[i] != 0) return in_widths[i];
        width = outputs[i](width);
        if (width != 0) return 0;
    }
    return 0;
}

template <std::size_t N>
constexpr std::size_t chain_out_width(const std::array<std::size_t, N>& in_widths,
                                      const std::array<width_function, N>& outputs, std::size_t width) {
    for (std::size_t i = 0; i < N; ++i) {
        if (width == 0) width = in_widths[i];
        width = outputs[i](width);
    }
    return width;
}

// Picks the diagnostic only when the check failed, so a passing chain instantiates nothing.
template <chain_check Check>
using chain_diagnostic = std::conditional_t<Check.ok, shape_check_passed,
                                            dimension_mismatch_at_layer<Check.position, Check.expected, Check.actual>>;

template <std::size_t In, std::size_t Out>
using preserve_diagnostic =
    std::conditional_t<In == 0 || In == Out, shape_check_passed, residual_branch_changes_width<In, Out>>;

}  // namespace detail
}  // namespace lnfold
