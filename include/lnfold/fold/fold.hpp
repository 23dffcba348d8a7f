#pragma once
// fold(model): the exact weight conversion (CCWT, docs/method.md §2) into a Model of folded_t<Net>.
//   1. copy every parameter by path, and every norm's eps (transforms keep node order and paths);
//      an untied head gets a copy of the uncentred table, a corrected tied head the table's row means;
//   2. for each LayerScale that a foldable LayerNorm needs: multiply it into the source before it, set it to 1;
//   3. centre every source a foldable LayerNorm needs (Linear/Conv2d columns over the output index and the bias,
//      Embedding/PositionEmbedding rows, the class token, SelfAttention's output projection).
// The foldable LayerNorms, now RMSNorms with the same gamma, beta and eps, read exactly zero-mean rows (up to
// rounding), so the folded model computes what the original computes. The original is not changed.
#include <algorithm>
#include <array>
#include <cstddef>
#include <span>

#include "lnfold/fold/centre.hpp"
#include "lnfold/fold/transforms.hpp"
#include "lnfold/graph/model.hpp"

namespace lnfold {

namespace detail {

// The parameter specs of one node, as a span over a small array (lowering checks that no layer has more than
// max_layer_tensors tensors).
template <class G>
struct node_specs {
    std::array<param_spec, max_layer_tensors> specs{};
    std::size_t count = 0;
    node_specs(const G& g, std::size_t node) {
        const graph_node& n = g.nodes[node];
        for (std::size_t t = 0; t < n.tensor_count; ++t) specs[count++] = g.tensors[n.first_tensor + t].spec;
    }
    std::span<const param_spec> span() const { return {specs.data(), count}; }
};

template <class G>
constexpr int find_tensor(const G& g, std::string_view path) {
    for (std::size_t t = 0; t < g.tensor_count; ++t)
        if (g.tensors[t].path.view() == path) return static_cast<int>(t);
    return -1;
}

}  // namespace detail

template <class Net, class T>
Model<folded_t<Net>, T> fold(const Model<Net, T>& model) {
    using Folded = folded_t<Net>;
    constexpr const auto& source = graph_v<Net>;
    constexpr const auto& g = graph_v<Folded>;
    constexpr const auto& plan = fold_analysis_v<Net>.plan;
    static_assert(g.node_count == source.node_count, "lnfold: folded_t must keep the node table");

    Model<Folded, T> folded(uninitialized);  // every tensor is written below: nothing to draw first
    T* arena = folded.parameters().data();
    const T* original = model.parameters().data();
    for (std::size_t t = 0; t < g.tensor_count; ++t) {
        const int from = detail::find_tensor(source, g.tensors[t].path.view());
        if (from >= 0)
            std::copy_n(original + source.tensors[static_cast<std::size_t>(from)].offset, g.tensors[t].spec.numel(),
                        arena + g.tensors[t].offset);
    }
    for (std::size_t n = 0; n < g.node_count; ++n) {
        const graph_node& before = source.nodes[n];
        const graph_node& after = g.nodes[n];
        if (before.has_eps) folded.set_eps(after.path.view(), model.eps(before.path.view()));
        if (before.tied_node < 0) continue;  // not a head tied to a table
        const T* table = original + before.tied_offset;  // (Vocab, Dim), before centring
        const std::size_t vocab = before.out_width, dim = before.in_width;
        if (after.tied_node < 0) {  // untied: a Linear with the head's own copy
            std::copy_n(table, vocab * dim, arena + after.param_offset);
        } else if (after.tensor_count == 1) {  // corrected: m_v = mean of row v
            for (std::size_t v = 0; v < vocab; ++v) {
                long double sum = 0;
                for (std::size_t i = 0; i < dim; ++i) sum += table[v * dim + i];
                arena[after.param_offset + v] = static_cast<T>(sum / static_cast<long double>(dim));
            }
        }
    }
    for (std::size_t n = 0; n < g.node_count; ++n) {
        if (!plan[n].scale_into_input) continue;
        const std::size_t input = static_cast<std::size_t>(g.nodes[n].input);
        T* scale = arena + g.nodes[n].param_offset;
        scale_output<T>(centring_rule_of(g.nodes[input]), detail::node_specs(g, input).span(), arena + g.nodes[input].param_offset, scale);
        std::fill(scale, scale + g.nodes[n].out_width, T(1));
    }
    for (std::size_t n = 0; n < g.node_count; ++n)
        if (plan[n].centre)
            centre_output<T>(centring_rule_of(g.nodes[n]), detail::node_specs(g, n).span(), arena + g.nodes[n].param_offset);
    return folded;
}

}  // namespace lnfold
