#pragma once
// Unrolled<B0, B1, ...>: what Repeat<N, Block> becomes when a type transform makes its copies differ (folded_t
// folds the LayerNorms of some copies only). Runs B0, B1, ... in order with the paths of a Repeat ("h.0", "h.1").
#include "lnfold/graph/seq.hpp"

namespace lnfold {

template <class... Blocks>
struct Unrolled : detail::sequence<true, Blocks...> {};

}  // namespace lnfold
