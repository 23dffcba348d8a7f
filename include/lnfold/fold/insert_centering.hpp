#pragma once
// Explicit centring (docs/method.md §3: "an explicit Centering op"): where several LayerNorms are not foldable because
// their input starts at one non-centrable node (a norm's affine output starting the residual stream, as the
// embedding LayerNorm of BLOOM, CLIP or Swin), one row-mean subtraction right after that node makes them all
// foldable. It is exact whenever that node's output shift reaches only LayerNorms through preserving nodes (the
// same consumer rule as for sources): then every reader is shift-invariant.
//
//   with_centering_t<Net>:   Net with such nodes X wrapped as CentredOutput<X> (same paths, same parameters),
//                            repeated until no further insertion helps. Then folded_t<with_centering_t<Net>>.
//   centering_plan<Net>():   the insertions: node, path, kind name, and how many LayerNorms each one unlocks.
#include <array>
#include <cstddef>
#include <string>
#include <string_view>
#include <type_traits>

#include "lnfold/fold/analysis.hpp"
#include "lnfold/fold/centred.hpp"
#include "lnfold/fold/transforms.hpp"

namespace lnfold {

struct centering_insertion {
    int node = -1;
    short_string path;
    std::string_view kind_name;  // "Linear"
    std::size_t layernorms = 0;  // LayerNorms that name this node as the first reason they are not foldable
};

namespace detail {

template <class Net>
struct centering_candidates {
    std::array<centering_insertion, node_count_of<Net>()> insertions{};
    std::size_t count = 0;
};

// Nodes blamed by at least two LayerNorms (breaker or norm output) whose output shift is harmless.
template <class Net>
constexpr centering_candidates<Net> find_centering_points() {
    constexpr const auto& g = graph_v<Net>;
    const auto& verdicts = fold_analysis_v<Net>.verdicts;
    std::array<std::size_t, node_count_of<Net>()> blamed{};
    for (const auto& v : verdicts)
        if (!v.foldable && (v.reason == fold_reason::norm_output || v.reason == fold_reason::breaker))
            ++blamed[static_cast<std::size_t>(v.culprit)];
    centering_candidates<Net> out{};
    for (std::size_t n = 0; n < g.node_count; ++n) {
        int consumer = 0;
        if (blamed[n] < 2 || g.nodes[n].role == fold_role::centering || !shift_is_harmless(g, static_cast<int>(n), consumer))
            continue;
        out.insertions[out.count++] = {static_cast<int>(n), g.nodes[n].path, g.nodes[n].kind_name, blamed[n]};
    }
    return out;
}

template <class Net>
inline constexpr centering_candidates<Net> centering_points_v = find_centering_points<Net>();

template <class Net>
struct centering_policy {
    static constexpr bool marked(std::size_t node) {
        for (std::size_t i = 0; i < centering_points_v<Net>.count; ++i)
            if (centering_points_v<Net>.insertions[i].node == static_cast<int>(node)) return true;
        return false;
    }
    template <class L, std::size_t Node>
    using leaf = std::conditional_t<marked(Node), CentredOutput<L>, L>;
};

template <class Net, bool Insert = (centering_points_v<Net>.count > 0)>
struct with_centering {
    using type = Net;
};
template <class Net>
struct with_centering<Net, true> {
    using type = typename with_centering<typename transform_node<Net, 0, centering_policy<Net>>::type>::type;
};

}  // namespace detail

template <class Net>
using with_centering_t = typename detail::with_centering<Net>::type;

// The first round of insertions with_centering_t makes (the usual case has one round).
template <class Net>
constexpr const auto& centering_plan() {
    return detail::centering_points_v<Net>;
}

template <class Net>
std::string format_centering_plan() {
    std::string out;
    const auto& plan = centering_plan<Net>();
    for (std::size_t i = 0; i < plan.count; ++i) {
        const auto& c = plan.insertions[i];
        out += "inserted Centering after " + std::string(c.kind_name) + " at " + std::string(c.path.view()) +
               ": its output reaches only LayerNorms through preserving ops, so subtracting its row mean changes "
               "nothing, and it makes " + std::to_string(c.layernorms) + " LayerNorms foldable\n";
    }
    if (plan.count == 0) out += "no Centering inserted: no single node blocks two or more LayerNorms\n";
    return out;
}

}  // namespace lnfold
