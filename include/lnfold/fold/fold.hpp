#pragma once
// fold(model): the exact weight conversion (CCWT, METHOD.md §2) into a Model of folded_t<Net>.
//   1. copy every parameter (folded_t keeps paths and the arena layout) and every norm's eps;
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

// The parameter specs of one node, as a span over a small array.
template <class G>
struct node_specs {
    std::array<param_spec, 4> specs{};
    std::size_t count = 0;
    node_specs(const G& g, std::size_t node) {
        const graph_node& n = g.nodes[node];
        for (std::size_t t = 0; t < n.tensor_count; ++t) specs[count++] = g.tensors[n.first_tensor + t].spec;
    }
    std::span<const param_spec> span() const { return {specs.data(), count}; }
};

}  // namespace detail

template <class Net, class T>
Model<folded_t<Net>, T> fold(const Model<Net, T>& model) {
    using Folded = folded_t<Net>;
    static_assert(Model<Folded, T>::arena_size == Model<Net, T>::arena_size, "lnfold: folded_t must keep the arena");
    constexpr const auto& g = graph_v<Net>;
    constexpr const auto& plan = fold_analysis_v<Net>.plan;

    Model<Folded, T> folded;
    const auto from = model.parameters();
    std::copy(from.begin(), from.end(), folded.parameters().begin());
    for (std::size_t n = 0; n < g.node_count; ++n)
        if (g.nodes[n].kind == layer_kind::layer_norm || g.nodes[n].kind == layer_kind::rms_norm)
            folded.set_eps(g.nodes[n].path.view(), model.eps(g.nodes[n].path.view()));

    T* arena = folded.parameters().data();
    for (std::size_t n = 0; n < g.node_count; ++n) {
        if (!plan[n].scale_into_input) continue;
        const std::size_t source = static_cast<std::size_t>(g.nodes[n].input);
        T* scale = arena + g.nodes[n].param_offset;
        scale_output<T>(g.nodes[source].kind, detail::node_specs(g, source).span(), arena + g.nodes[source].param_offset,
                        scale);
        std::fill(scale, scale + g.nodes[n].out_width, T(1));
    }
    for (std::size_t n = 0; n < g.node_count; ++n)
        if (plan[n].centre)
            centre_output<T>(g.nodes[n].kind, detail::node_specs(g, n).span(), arena + g.nodes[n].param_offset);
    return folded;
}

}  // namespace lnfold
