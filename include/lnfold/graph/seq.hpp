#pragma once
// Seq<L...>: runs its layers in order. Shape chain checked at compile time (shape_check.hpp).
// Parameter paths: an unnamed leaf gets its position as a segment ("0.weight", like torch.nn.Sequential);
// Named children add their name; other combinators get their position only when needed (positional_of).
#include <array>
#include <cstddef>
#include <tuple>
#include <utility>

#include "lnfold/graph/executor.hpp"
#include "lnfold/graph/shape_check.hpp"

namespace lnfold {
namespace detail {

// The implementation of Seq and of Unrolled (a Repeat whose copies differ); NumberEveryChild gives every child
// its position as path segment, as Repeat does.
template <bool NumberEveryChild, class... L>
struct sequence {
    static_assert(sizeof...(L) > 0, "lnfold: Seq<> needs at least one layer");
    static constexpr bool is_combinator = true;
    static constexpr std::size_t size = sizeof...(L);
    template <std::size_t I>
    using child = std::tuple_element_t<I, std::tuple<L...>>;

    static constexpr std::array<std::size_t, size> child_in_widths{in_width_of<L>()...};
    static constexpr std::array<detail::width_function, size> child_out_widths{&resolve_out_of<L>...};
    static constexpr detail::chain_check chain = detail::check_chain(child_in_widths, child_out_widths);
    static_assert(sizeof(detail::chain_diagnostic<chain>) > 0);

    static constexpr std::size_t in_width = detail::chain_in_width(child_in_widths, child_out_widths);
    static constexpr std::size_t resolve_out(std::size_t width) {
        return detail::chain_out_width(child_in_widths, child_out_widths, width);
    }

    static constexpr bool positional = NumberEveryChild || (positional_of<L>() || ...);
    static constexpr std::size_t node_count = (node_count_of<L>() + ...);
    static constexpr std::size_t param_size = (param_size_of<L>() + ...);
    static constexpr std::size_t tensor_count = (tensor_count_of<L>() + ...);

    template <class G>
    static constexpr int lower(G& g, int input, std::size_t width, const short_string& path, std::size_t param_base) {
        int out = input;
        [&]<std::size_t... I>(std::index_sequence<I...>) {
            ((width = width != 0 ? width : child_in_widths[I],
              out = lower_node<L>(g, out, width, child_path<L>(path, I),
                                  param_base + param_offsets[I]),
              width = child_out_widths[I](width)),
             ...);
        }(std::index_sequence_for<L...>{});
        return out;
    }

    // Backward: the children in reverse order.
    template <class T>
    static void backward(executor<T>& ex, std::size_t node, std::size_t param_base) {
        [&]<std::size_t... I>(std::index_sequence<I...>) {
            constexpr std::size_t last = size - 1;
            (backward_node<child<last - I>>(ex, node + node_offsets[last - I], param_base + param_offsets[last - I]), ...);
        }(std::make_index_sequence<size>{});
    }

    template <class T>
    static activation<T> run(executor<T>& ex, std::size_t node, std::size_t param_base, activation<T> in) {
        [&]<std::size_t... I>(std::index_sequence<I...>) {
            ((in = run_node<L>(ex, node + node_offsets[I], param_base + param_offsets[I], in)), ...);
        }(std::index_sequence_for<L...>{});
        return in;
    }

private:
    // Unnamed leaves get their position; combinators only when they would otherwise give positional paths.
    template <class Child>
    static constexpr short_string child_path(const short_string& path, std::size_t position) {
        if constexpr (NumberEveryChild) return path.joined(position);
        else if constexpr (is_combinator_v<Child>) return positional_of<Child>() ? path.joined(position) : path;
        else return path.joined(position);
    }
    static constexpr auto exclusive_sums(const std::array<std::size_t, size>& values) {
        std::array<std::size_t, size> sums{};
        for (std::size_t i = 1; i < size; ++i) sums[i] = sums[i - 1] + values[i - 1];
        return sums;
    }
    static constexpr std::array<std::size_t, size> node_offsets = exclusive_sums({node_count_of<L>()...});
    static constexpr std::array<std::size_t, size> param_offsets = exclusive_sums({param_size_of<L>()...});
};

}  // namespace detail

template <class... L>
struct Seq : detail::sequence<false, L...> {};

}  // namespace lnfold
