#pragma once
// Type transforms of a network:
//   folded_t<Net>: every foldable LayerNorm -> RMSNorm<D, true>, the sources it needs -> Centred<source>
//                  (the type fold() produces; its weights are centred by fold()).
//   rms_t<Net>:    every LayerNorm -> RMSNorm<D, true>, nothing centred (the plain-RMSNorm baseline).
//   cbwc_t<Net>:   like folded_t, with the sources CBWC<source> (centred on every forward, for training).
// Transforms keep node order, parameter paths and the arena layout, so weights move between them by path.
// A Repeat whose copies transform differently becomes an Unrolled of its copies (same paths).
#include <array>
#include <cstddef>
#include <type_traits>
#include <utility>

#include "lnfold/fold/analysis.hpp"
#include "lnfold/fold/centred.hpp"
#include "lnfold/graph/named.hpp"
#include "lnfold/graph/repeat.hpp"
#include "lnfold/graph/residual.hpp"
#include "lnfold/graph/seq.hpp"
#include "lnfold/graph/unrolled.hpp"
#include "lnfold/layers/layer_norm.hpp"
#include "lnfold/layers/layer_scale.hpp"
#include "lnfold/layers/linear.hpp"
#include "lnfold/layers/tied_head.hpp"
#include "lnfold/layers/rms_norm.hpp"

namespace lnfold {
namespace detail {

// Policy interface: replace_layernorm(node), wrap_source<L, node> (the type a source at `node` becomes).
template <class L, std::size_t Base, class Policy>
struct transform_node {
    using type = typename Policy::template leaf<L, Base>;
};

template <std::size_t Size>
constexpr std::array<std::size_t, Size> exclusive_sums(const std::array<std::size_t, Size>& values) {
    std::array<std::size_t, Size> sums{};
    for (std::size_t i = 1; i < Size; ++i) sums[i] = sums[i - 1] + values[i - 1];
    return sums;
}

template <template <class...> class Sequence, std::size_t Base, class Policy, class... L>
struct transform_sequence {
    static constexpr std::array<std::size_t, sizeof...(L)> offsets = exclusive_sums<sizeof...(L)>({node_count_of<L>()...});
    template <std::size_t... I>
    static auto make(std::index_sequence<I...>) -> Sequence<typename transform_node<L, Base + offsets[I], Policy>::type...>;
    using type = decltype(make(std::index_sequence_for<L...>{}));
};

template <class... L, std::size_t Base, class Policy>
struct transform_node<Seq<L...>, Base, Policy> : transform_sequence<Seq, Base, Policy, L...> {};
template <class... L, std::size_t Base, class Policy>
struct transform_node<Unrolled<L...>, Base, Policy> : transform_sequence<Unrolled, Base, Policy, L...> {};

template <class Branch, std::size_t Base, class Policy>
struct transform_node<Residual<Branch>, Base, Policy> {
    using type = Residual<typename transform_node<Branch, Base, Policy>::type>;
};

template <fixed_string Name, class L, std::size_t Base, class Policy>
struct transform_node<Named<Name, L>, Base, Policy> {
    using type = Named<Name, typename transform_node<L, Base, Policy>::type>;
};

template <std::size_t N, class Block, std::size_t Base, class Policy>
struct transform_node<Repeat<N, Block>, Base, Policy> {
    static constexpr std::size_t block_nodes = node_count_of<Block>();
    template <std::size_t I>
    using copy = typename transform_node<Block, Base + I * block_nodes, Policy>::type;
    template <std::size_t... I>
    static auto make(std::index_sequence<I...>)
        -> std::conditional_t<(std::is_same_v<copy<0>, copy<I>> && ...), Repeat<N, copy<0>>, Unrolled<copy<I>...>>;
    using type = decltype(make(std::make_index_sequence<N>{}));
};

template <class L>
struct is_layer_norm : std::false_type {};
template <std::size_t D>
struct is_layer_norm<LayerNorm<D>> : std::true_type {};

// An explicitly centred LayerNorm (with_centering_t) folds into an explicitly centred RMSNorm.
template <class L>
struct is_centred_layer_norm : std::false_type {};
template <std::size_t D>
struct is_centred_layer_norm<CentredOutput<LayerNorm<D>>> : std::true_type {};

template <class L>
struct is_tied_head : std::false_type {};
template <std::size_t D, std::size_t V, fixed_string Table, tie_fold Tie>
struct is_tied_head<TiedHead<D, V, Table, Tie>> : std::true_type {};

// A TiedHead whose table fold() centres: untied into a Linear, or corrected by rank 1 (tie_fold::keep never
// gets here: its table is locked).
template <class L, bool TableCentred>
struct folded_head {
    using type = L;
};
template <std::size_t D, std::size_t V, fixed_string Table>
struct folded_head<TiedHead<D, V, Table, tie_fold::untie>, true> {
    using type = Linear<D, V, false>;
};
template <std::size_t D, std::size_t V, fixed_string Table>
struct folded_head<TiedHead<D, V, Table, tie_fold::correct>, true> {
    using type = TiedHeadCorrected<D, V, Table>;
};

template <class Net>
struct folded_policy {
    static constexpr const auto& analysis = fold_analysis_v<Net>;
    static constexpr bool foldable_norm(std::size_t node) {
        const int k = analysis.layernorm_index[node];
        return k >= 0 && analysis.verdicts[static_cast<std::size_t>(k)].foldable;
    }
    static constexpr bool table_centred(std::size_t node) {
        const int table = graph_v<Net>.nodes[node].tied_node;
        return table >= 0 && analysis.plan[static_cast<std::size_t>(table)].centre;
    }
    template <class L, std::size_t Node>
    static auto pick() {
        if constexpr (is_layer_norm<L>::value && foldable_norm(Node)) return std::type_identity<RMSNorm<L::in_width, true>>{};
        else if constexpr (is_centred_layer_norm<L>::value && foldable_norm(Node))
            return std::type_identity<CentredOutput<RMSNorm<L::in_width, true>>>{};
        else if constexpr (analysis.plan[Node].centre) return std::type_identity<Centred<L>>{};
        else if constexpr (is_tied_head<L>::value) return std::type_identity<typename folded_head<L, table_centred(Node)>::type>{};
        else return std::type_identity<L>{};
    }
    template <class L, std::size_t Node>
    using leaf = typename decltype(pick<L, Node>())::type;
};

template <class Net>
struct cbwc_policy : folded_policy<Net> {
    using base = folded_policy<Net>;
    // A source followed by a folded LayerScale stays plain; the LayerScale output is centred instead.
    template <class L, std::size_t Node>
    static auto pick() {
        constexpr auto plan = base::analysis.plan[Node];
        if constexpr (is_layer_norm<L>::value && base::foldable_norm(Node)) return std::type_identity<RMSNorm<L::in_width, true>>{};
        else if constexpr (is_centred_layer_norm<L>::value && base::foldable_norm(Node))
            return std::type_identity<CentredOutput<RMSNorm<L::in_width, true>>>{};
        else if constexpr (plan.centre && !plan.scaled_after) return std::type_identity<CBWC<L>>{};
        else if constexpr (plan.scale_into_input) return std::type_identity<CentredOutput<L>>{};
        else return std::type_identity<L>{};
    }
    template <class L, std::size_t Node>
    using leaf = typename decltype(pick<L, Node>())::type;
};

struct rms_policy {
    template <class L, std::size_t Node>
    static auto pick() {
        if constexpr (is_layer_norm<L>::value) return std::type_identity<RMSNorm<L::in_width, true>>{};
        else return std::type_identity<L>{};
    }
    template <class L, std::size_t Node>
    using leaf = typename decltype(pick<L, Node>())::type;
};

}  // namespace detail

template <class Net>
using folded_t = typename detail::transform_node<Net, 0, detail::folded_policy<Net>>::type;
template <class Net>
using rms_t = typename detail::transform_node<Net, 0, detail::rms_policy>::type;
template <class Net>
using cbwc_t = typename detail::transform_node<Net, 0, detail::cbwc_policy<Net>>::type;

}  // namespace lnfold
