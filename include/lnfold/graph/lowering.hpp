#pragma once
// Lowering: a network type -> its flat constexpr node and tensor table (graph_v<Net>). Computed once per type
// by plain constexpr loops over std::array; combinators only contribute their own offsets, so template depth
// grows with nesting depth, never with layer count.
#include <cstddef>

#include "lnfold/graph/executor.hpp"
#include "lnfold/graph/node.hpp"

namespace lnfold {

template <class Net>
using graph_table_of = graph_table<node_count_of<Net>(), tensor_count_of<Net>()>;

namespace detail {

template <class Net>
constexpr graph_table_of<Net> lower_network() {
    graph_table_of<Net> g{};
    lower_node<Net>(g, network_input, in_width_of<Net>(), short_string{}, 0);
    return g;
}

// First tensor path that occurs twice (two Named siblings with the same name), or -1.
template <class G>
constexpr int first_duplicate_path(const G& g) {
    for (std::size_t i = 0; i < g.tensor_count; ++i)
        for (std::size_t j = i + 1; j < g.tensor_count; ++j)
            if (g.tensors[i].path == g.tensors[j].path) return static_cast<int>(j);
    return -1;
}

}  // namespace detail

template <class Net>
inline constexpr graph_table_of<Net> graph_v = detail::lower_network<Net>();

// Compile-time validation of a whole network; Model<Net> instantiates it.
template <class Net>
struct network_checks {
    static_assert(!graph_v<Net>.path_overflow,
                  "lnfold: a parameter path is longer than 95 characters; use shorter Named segments");
    static_assert(detail::first_duplicate_path(graph_v<Net>) < 0,
                  "lnfold: two parameters share one path; give sibling Named layers different names");
    static_assert(!graph_v<Net>.unresolved_tie,
                  "lnfold: a TiedHead names a table that is not lowered before it; name the Embedding layer "
                  "(TiedHead<D, V, \"wte\"> reads the weight of the layer Named \"wte\")");
    static constexpr bool ok = true;
};

}  // namespace lnfold
