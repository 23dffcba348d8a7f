#pragma once
// Repeat<N, Block>: N copies of Block in sequence, each with its own parameters (path segment = copy index).
// The block's code is instantiated once; copies differ only in their node and parameter offsets.
#include <cstddef>

#include "lnfold/graph/executor.hpp"
#include "lnfold/graph/shape_check.hpp"

namespace lnfold {

template <std::size_t N, class Block>
struct Repeat {
    static_assert(N > 0, "lnfold: Repeat<N, Block> needs N > 0");
    static constexpr bool is_combinator = true;
    static constexpr std::size_t copies = N;
    static constexpr std::size_t in_width = in_width_of<Block>();
    static_assert(sizeof(detail::preserve_diagnostic<in_width, resolve_out_of<Block>(in_width)>) > 0);
    static constexpr std::size_t resolve_out(std::size_t width) { return width != 0 ? width : in_width; }

    static constexpr std::size_t block_nodes = node_count_of<Block>();
    static constexpr std::size_t block_params = param_size_of<Block>();
    static constexpr bool positional = tensor_count_of<Block>() > 0;  // copies are numbered
    static constexpr std::size_t node_count = N * block_nodes;
    static constexpr std::size_t param_size = N * block_params;
    static constexpr std::size_t tensor_count = N * tensor_count_of<Block>();

    template <class G>
    static constexpr int lower(G& g, int input, std::size_t width, const short_string& path, std::size_t param_base) {
        for (std::size_t i = 0; i < N; ++i)
            input = lower_node<Block>(g, input, width, path.joined(i), param_base + i * block_params);
        return input;
    }

    template <class T>
    static void backward(executor<T>& ex, std::size_t node, std::size_t param_base) {
        for (std::size_t i = N; i-- > 0;) backward_node<Block>(ex, node + i * block_nodes, param_base + i * block_params);
    }

    template <class T>
    static activation<T> run(executor<T>& ex, std::size_t node, std::size_t param_base, activation<T> in) {
        for (std::size_t i = 0; i < N; ++i)
            in = run_node<Block>(ex, node + i * block_nodes, param_base + i * block_params, in);
        return in;
    }
};

}  // namespace lnfold
