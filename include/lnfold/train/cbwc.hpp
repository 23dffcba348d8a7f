#pragma once
// CBWC (column-based weight centring, docs/method.md §4): train cbwc_t<Net> — RMSNorms, and sources whose weights
// are the centred projection of free parameters V, recomputed on every forward — then export it for inference.
//
//   Model<cbwc_t<Net>, T> twin;                     // same parameter paths and arena as Model<Net, T>
//   ... train twin (forward, loss, backward, optimizer step on twin.parameters()) ...
//   Model<folded_t<Net>, T> fast = export_folded<Net>(twin);
//
// Started from the same raw parameters, an LN model and its twin follow the same trajectory under SGD, momentum,
// Adam or AdamW wherever every LayerNorm is foldable (tests/train/test_cbwc_equivalence.cpp).
#include <algorithm>

#include "lnfold/fold/fold.hpp"
#include "lnfold/fold/transforms.hpp"
#include "lnfold/graph/model.hpp"

namespace lnfold {

// The twin's free parameters, with the same paths in the LayerNorm network.
template <class Net, class T>
Model<Net, T> as_layernorm_model(const Model<cbwc_t<Net>, T>& twin) {
    static_assert(Model<Net, T>::arena_size == Model<cbwc_t<Net>, T>::arena_size, "lnfold: cbwc_t must keep the arena");
    Model<Net, T> model;
    std::copy(twin.parameters().begin(), twin.parameters().end(), model.parameters().begin());
    for (std::size_t n = 0; n < graph_v<Net>.node_count; ++n)
        if (graph_v<Net>.nodes[n].has_eps)
            model.set_eps(graph_v<Net>.nodes[n].path.view(), twin.eps(graph_v<Net>.nodes[n].path.view()));
    return model;
}

// The trained twin as a plain folded model: centred weights materialised once, RMSNorms for the folded LNs.
template <class Net, class T>
Model<folded_t<Net>, T> export_folded(const Model<cbwc_t<Net>, T>& twin) {
    return fold(as_layernorm_model<Net>(twin));
}

}  // namespace lnfold
