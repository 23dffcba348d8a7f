#pragma once
// The fold analysis (docs/method.md §3) over the lowered node table, in plain constexpr loops.
//
// For each LayerNorm, backward from its input: pass through preserving nodes (residual adds, Dropout at
// inference, token pooling, additive tables) and collect the leaf producers. Every leaf must be a centrable
// source (Linear, Conv2d with groups = 1, Embedding, SelfAttention's output projection, a LayerScale folded into
// the source right before it) or a Centering node. Then, forward from every such source: centring shifts its
// output by c(h)·1, which is harmless only if every consumer reaches LayerNorms (shift-invariant) or Centering
// nodes through preserving nodes. A shift reaching anything else (a head, an activation, an RMSNorm, the
// network output) locks the source, and the LayerNorms that need it are not foldable.
// Foldable LNs stay foldable after folding (their inputs become exactly zero-mean), and LNs that are not folded
// stay shift-invariant, so one pass decides every verdict; there is nothing to iterate.
#include <array>
#include <cstddef>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>

#include "lnfold/graph/lowering.hpp"
#include "lnfold/graph/node.hpp"

namespace lnfold {

// GCC (12) takes the scoped enumerator fold_reason::network_input for a shadow of lnfold::network_input
// (graph/node.hpp) under -Wshadow; a scoped enumerator hides nothing outside its enum, so that warning is false.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wshadow"
#endif
enum class fold_reason {
    none,            // foldable
    network_input,   // the input reaches the network input, which no parameter can centre
    breaker,         // passes through a nonlinear or per-channel op (culprit)
    norm_output,     // reads another norm's affine output (culprit)
    unfolded_scale,  // a LayerScale (culprit) that does not directly follow a source read only by it
    locked_source,   // a source (culprit) whose output also reaches a non-LN consumer (consumer, or the output)
    tied_table,      // a table (culprit) that a TiedHead with tie_fold::keep (consumer) reads as its weights
};
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

struct layernorm_verdict {
    short_string path;                // the LayerNorm's path
    int node = 0;                     // its node index
    bool foldable = false;
    fold_reason reason = fold_reason::none;
    int culprit = -1;                 // the node that causes the verdict
    short_string culprit_path;
    std::string_view culprit_kind;    // its kind name ("GELU")
    int consumer = -1;                // locked_source: the consumer the shift reaches; -1 = the network output
    short_string consumer_path;
    std::string_view consumer_kind;
};

// What fold() does to each node: centre its output (sources), fold it into its source first (LayerScale).
struct node_fold_plan {
    bool centre = false;            // centre this source's output features (CCWT)
    bool scale_into_input = false;  // a LayerScale: multiply it into its source, then set it to 1
    bool scaled_after = false;      // a source whose LayerScale is folded into it (centre after scaling)
};

namespace detail {

template <class G>
constexpr std::size_t count_layernorms(const G& g) {
    std::size_t n = 0;
    for (std::size_t i = 0; i < g.node_count; ++i) n += g.nodes[i].fold_candidate;
    return n;
}

// What the analysis looks up per node, built once per graph in O(nodes) so that judging every LayerNorm stays
// linear in the network size (a 48-block GPT-2 has 388 nodes; a scan per visited node would be quadratic per
// source and exceed the compiler's constexpr budget):
//   consumers of node n: entries[offsets[n] .. offsets[n + 1]), in ascending node order, each listed once;
//   uses[n]: operands reading n ((input == n) + (input2 == n) over all nodes; a residual add x + x counts 2);
//   keep_head[n]: the first TiedHead with tie_fold::keep that reads n's table, or -1.
template <std::size_t N>
struct consumer_table {
    std::array<std::size_t, N + 1> offsets{};
    std::array<int, 2 * N + 1> entries{};
    std::array<std::size_t, N + 1> uses{};
    std::array<int, N + 1> keep_head{};
    constexpr std::size_t count(int n) const {
        return offsets[static_cast<std::size_t>(n) + 1] - offsets[static_cast<std::size_t>(n)];
    }
};

template <class G>
inline constexpr std::size_t node_capacity_v = std::tuple_size_v<decltype(std::declval<const G&>().nodes)>;

template <class G>
constexpr consumer_table<node_capacity_v<G>> make_consumer_table(const G& g) {
    consumer_table<node_capacity_v<G>> t{};
    for (std::size_t n = 0; n < g.node_count; ++n) t.keep_head[n] = -1;
    std::array<std::size_t, node_capacity_v<G> + 1> listed{};
    for (std::size_t c = 0; c < g.node_count; ++c) {
        const graph_node& node = g.nodes[c];
        if (node.input != network_input) {
            ++t.uses[static_cast<std::size_t>(node.input)];
            ++listed[static_cast<std::size_t>(node.input)];
        }
        if (node.input2 != network_input) {
            ++t.uses[static_cast<std::size_t>(node.input2)];
            if (node.input2 != node.input) ++listed[static_cast<std::size_t>(node.input2)];
        }
        if (node.tied_node >= 0 && node.tie == tie_fold::keep && t.keep_head[static_cast<std::size_t>(node.tied_node)] < 0)
            t.keep_head[static_cast<std::size_t>(node.tied_node)] = static_cast<int>(c);
    }
    for (std::size_t n = 0; n < g.node_count; ++n) t.offsets[n + 1] = t.offsets[n] + listed[n];
    std::array<std::size_t, node_capacity_v<G> + 1> filled{};
    for (std::size_t c = 0; c < g.node_count; ++c) {  // ascending c: each list comes out sorted
        const int a = g.nodes[c].input, b = g.nodes[c].input2;
        if (a != network_input) {
            const std::size_t n = static_cast<std::size_t>(a);
            t.entries[t.offsets[n] + filled[n]++] = static_cast<int>(c);
        }
        if (b != network_input && b != a) {
            const std::size_t n = static_cast<std::size_t>(b);
            t.entries[t.offsets[n] + filled[n]++] = static_cast<int>(c);
        }
    }
    return t;
}

// Follows a per-row shift of `start`'s output forward. Returns true when it only reaches LayerNorms or
// Centering nodes through preserving nodes; otherwise reports the first other consumer (-1: the network output).
// Depth-first, consumers in ascending order: the consumer reported is the first one found that way.
template <class G, std::size_t N>
constexpr bool shift_is_harmless(const G& g, const consumer_table<N>& consumers, int start, int& blocking_consumer) {
    std::array<int, N + 1> stack{};
    std::array<bool, N + 1> seen{};
    std::size_t top = 0;
    stack[top++] = start;
    seen[static_cast<std::size_t>(start)] = true;
    while (top > 0) {
        const int n = stack[--top];
        if (static_cast<std::size_t>(n) + 1 == g.node_count) {
            blocking_consumer = -1;  // the shift reaches the network output
            return false;
        }
        const std::size_t begin = consumers.offsets[static_cast<std::size_t>(n)];
        for (std::size_t e = begin; e < begin + consumers.count(n); ++e) {
            const std::size_t c = static_cast<std::size_t>(consumers.entries[e]);
            const graph_node& consumer = g.nodes[c];
            if (consumer.fold_candidate || consumer.role == fold_role::centering) continue;
            if (consumer.role == fold_role::preserve || consumer.role == fold_role::additive_source) {
                if (!seen[c]) {
                    seen[c] = true;
                    stack[top++] = static_cast<int>(c);
                }
                continue;
            }
            blocking_consumer = static_cast<int>(c);
            return false;
        }
    }
    return true;
}

template <class G>
constexpr bool shift_is_harmless(const G& g, int start, int& blocking_consumer) {
    return shift_is_harmless(g, make_consumer_table(g), start, blocking_consumer);
}

// shift_is_harmless per node, computed on first use (several LayerNorms share most of their sources).
template <std::size_t N>
struct shift_memo {
    std::array<signed char, N + 1> state{};  // 0: not computed, 1: harmless, -1: reaches `consumer`
    std::array<int, N + 1> consumer{};

    template <class G>
    constexpr bool harmless(const G& g, const consumer_table<N>& consumers, int node, int& blocking_consumer) {
        const std::size_t i = static_cast<std::size_t>(node);
        if (state[i] == 0) {
            int c = -1;
            state[i] = shift_is_harmless(g, consumers, node, c) ? 1 : -1;
            consumer[i] = c;
        }
        blocking_consumer = consumer[i];
        return state[i] > 0;
    }
};

template <class G>
constexpr void set_culprit(const G& g, layernorm_verdict& v, fold_reason reason, int culprit) {
    v.foldable = false;
    v.reason = reason;
    v.culprit = culprit;
    if (culprit >= 0) {
        v.culprit_path = g.nodes[static_cast<std::size_t>(culprit)].path;
        v.culprit_kind = g.nodes[static_cast<std::size_t>(culprit)].kind_name;
    }
}

// The verdict for the LayerNorm at `ln`; marks in `plan` what folding it needs (only when foldable).
template <class G, std::size_t N, std::size_t C>
constexpr layernorm_verdict judge_layernorm(const G& g, std::size_t ln, std::array<node_fold_plan, N>& plan,
                                            const consumer_table<C>& consumers, shift_memo<C>& shifts) {
    layernorm_verdict v{};
    v.path = g.nodes[ln].path;
    v.node = static_cast<int>(ln);
    v.foldable = true;

    std::array<int, 2 * N + 2> stack{};
    std::array<bool, N + 1> seen{};
    std::array<int, N + 1> shift_points{};  // nodes whose output gets centred (a source, or its LayerScale)
    std::size_t top = 0, points = 0;
    stack[top++] = g.nodes[ln].input;
    while (top > 0) {
        const int n = stack[--top];
        if (n == network_input) {
            set_culprit(g, v, fold_reason::network_input, -1);
            return v;
        }
        const std::size_t i = static_cast<std::size_t>(n);
        if (seen[i]) continue;
        seen[i] = true;
        const graph_node& node = g.nodes[i];
        switch (node.role) {
            case fold_role::source:
                shift_points[points++] = n;
                break;
            case fold_role::additive_source:
                shift_points[points++] = n;
                stack[top++] = node.input;
                break;
            case fold_role::preserve:
                stack[top++] = node.input;
                if (node.residual_add) stack[top++] = node.input2;
                break;
            case fold_role::centering:
                break;
            case fold_role::scale: {
                const int source = node.input;
                if (source == network_input || g.nodes[static_cast<std::size_t>(source)].role != fold_role::source ||
                    consumers.uses[static_cast<std::size_t>(source)] != 1) {
                    set_culprit(g, v, fold_reason::unfolded_scale, n);
                    return v;
                }
                shift_points[points++] = n;
                break;
            }
            case fold_role::layer_norm:
            case fold_role::rms_norm:
                set_culprit(g, v, fold_reason::norm_output, n);
                return v;
            case fold_role::breaker:
                set_culprit(g, v, fold_reason::breaker, n);
                return v;
        }
    }
    for (std::size_t p = 0; p < points; ++p) {
        const int h = consumers.keep_head[static_cast<std::size_t>(shift_points[p])];
        if (h < 0) continue;
        set_culprit(g, v, fold_reason::tied_table, shift_points[p]);
        v.consumer = h;
        v.consumer_path = g.nodes[static_cast<std::size_t>(h)].path;
        v.consumer_kind = g.nodes[static_cast<std::size_t>(h)].kind_name;
        return v;
    }
    for (std::size_t p = 0; p < points; ++p) {
        int consumer = -1;
        if (!shifts.harmless(g, consumers, shift_points[p], consumer)) {
            const int point = shift_points[p];
            const graph_node& node = g.nodes[static_cast<std::size_t>(point)];
            set_culprit(g, v, fold_reason::locked_source, node.role == fold_role::scale ? node.input : point);
            v.consumer = consumer;
            if (consumer >= 0) {
                v.consumer_path = g.nodes[static_cast<std::size_t>(consumer)].path;
                v.consumer_kind = g.nodes[static_cast<std::size_t>(consumer)].kind_name;
            }
            return v;
        }
    }
    for (std::size_t p = 0; p < points; ++p) {
        const std::size_t point = static_cast<std::size_t>(shift_points[p]);
        if (g.nodes[point].role == fold_role::scale) {
            plan[point].scale_into_input = true;
            plan[static_cast<std::size_t>(g.nodes[point].input)].centre = true;
            plan[static_cast<std::size_t>(g.nodes[point].input)].scaled_after = true;
        } else {
            plan[point].centre = true;
        }
    }
    return v;
}

template <class Net>
struct fold_analysis_result {
    static constexpr auto& graph = graph_v<Net>;
    static constexpr std::size_t layernorms = count_layernorms(graph);
    std::array<layernorm_verdict, layernorms> verdicts{};
    std::array<node_fold_plan, node_count_of<Net>()> plan{};
    std::array<int, node_count_of<Net>()> layernorm_index{};  // node -> LN index in execution order, or -1
};

template <class Net>
constexpr fold_analysis_result<Net> analyse() {
    fold_analysis_result<Net> r{};
    const auto& g = graph_v<Net>;
    const auto consumers = make_consumer_table(g);
    shift_memo<node_capacity_v<std::remove_cvref_t<decltype(g)>>> shifts{};
    std::size_t k = 0;
    for (std::size_t i = 0; i < g.node_count; ++i) {
        r.layernorm_index[i] = -1;
        if (!g.nodes[i].fold_candidate) continue;
        r.layernorm_index[i] = static_cast<int>(k);
        r.verdicts[k++] = judge_layernorm(g, i, r.plan, consumers, shifts);
    }
    return r;
}

}  // namespace detail

// The analysis of a network type, computed once at compile time.
template <class Net>
inline constexpr detail::fold_analysis_result<Net> fold_analysis_v = detail::analyse<Net>();

template <class Net>
inline constexpr std::size_t layernorm_count_v = detail::count_layernorms(graph_v<Net>);

template <class Net>
inline constexpr std::size_t foldable_count_v = [] {
    std::size_t n = 0;
    for (const auto& v : fold_analysis_v<Net>.verdicts) n += v.foldable;
    return n;
}();

// Named in the compiler's message when is_foldable<Net, I> asks for a LayerNorm that does not exist.
template <std::size_t Index, std::size_t LayerNormCount>
struct layernorm_index_out_of_range {
    static_assert(Index == std::size_t(-1),
                  "lnfold: is_foldable<Net, I>: I must be below the number of LayerNorms in Net "
                  "(layernorm_count_v<Net>). The numbers are in layernorm_index_out_of_range<I, count> above.");
    static constexpr bool value = false;
};

namespace detail {
template <class Net, std::size_t I>
struct foldable_lookup {
    static constexpr bool value = fold_analysis_v<Net>.verdicts[I].foldable;
};
}  // namespace detail

// Whether the I-th LayerNorm of Net (0-based, execution order, Repeat expanded) is foldable.
template <class Net, std::size_t I>
struct is_foldable : std::conditional_t<(I < layernorm_count_v<Net>), detail::foldable_lookup<Net, I>,
                                        layernorm_index_out_of_range<I, layernorm_count_v<Net>>> {};
template <class Net, std::size_t I>
inline constexpr bool is_foldable_v = is_foldable<Net, I>::value;

// Per LayerNorm: path, verdict, and, when not foldable, the first reason and the node that causes it.
template <class Net>
constexpr const auto& fold_report() {
    return fold_analysis_v<Net>.verdicts;
}

}  // namespace lnfold
