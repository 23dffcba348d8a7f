#pragma once
// The lowered graph: a flat constexpr table of nodes (one per leaf layer and per residual add, in execution
// order) and of parameter tensors. The fold analysis, reports, weight files and the Model all read it.
#include <array>
#include <cstddef>
#include <string_view>
#include <type_traits>

#include "lnfold/core/short_string.hpp"
#include "lnfold/layers/layer_base.hpp"

namespace lnfold {

inline constexpr int network_input = -1;

struct graph_node {
    std::string_view kind_name;     // "LayerNorm", "residual add" (reports)
    fold_role role{};
    short_string path;              // "h.0.ln_1"; a residual add gets its block's path
    int input = network_input;      // producer of the (first) operand
    int input2 = network_input;     // residual add: the skip operand (network_input too when it is the network's input)
    bool residual_add = false;      // the add node of a Residual (its operands: input and input2)
    std::size_t in_width = 0, out_width = 0;
    std::size_t param_offset = 0;   // start of the node's parameter block in the arena
    std::size_t param_size = 0;
    std::size_t first_tensor = 0, tensor_count = 0;  // its entries in the tensor table
    std::size_t groups = 1;         // Conv2d groups
    bool has_bias = false;          // Linear / Conv2d / RMSNorm bias
    int tied_node = -1;             // TiedHead: the node whose table it reads
    std::size_t tied_offset = 0;    // TiedHead: arena offset of that table
    tie_fold tie = tie_fold::keep;  // TiedHead: how fold() treats the tie
    bool fuses_residual_add = false;  // the layer can compute a residual sum it reads (norms: add + norm in one pass)
    decode_support decoding = decode_support::none;  // how it takes part in incremental decoding
    // The layer's traits (layer_base.hpp, layer_defaults) that run-time code reads per node:
    bool reads_tokens = false;
    bool fold_candidate = false;
    bool has_eps = false;
    output_centring centring = output_centring::none;
    std::size_t centred_tensor = 0;
    bool caches_keys_values = false;
    std::size_t max_positions = 0;
};

struct param_entry {
    short_string path;              // "h.0.ln_1.weight"
    std::size_t offset = 0;         // in the arena, in elements
    param_spec spec{};
    int node = 0;
};

template <std::size_t Nodes, std::size_t Tensors>
struct graph_table {
    std::array<graph_node, Nodes> nodes{};
    std::array<param_entry, Tensors> tensors{};
    std::size_t node_count = 0, tensor_count = 0;
    bool path_overflow = false;
    bool unresolved_tie = false;    // a TiedHead names no table lowered before it
};

// Combinators (Seq, Residual, Repeat, Named) declare `static constexpr bool is_combinator = true` and provide
// node_count, param_size, tensor_count, in_width, resolve_out, lower and run themselves.
template <class L, class = void>
struct is_combinator : std::false_type {};
template <class L>
struct is_combinator<L, std::void_t<decltype(L::is_combinator)>> : std::bool_constant<L::is_combinator> {};
template <class L>
inline constexpr bool is_combinator_v = is_combinator<L>::value;

// Whether a subtree, lowered under an empty prefix, gives some parameter a path that starts with a position
// ("0.weight"). A Seq prefixes such a child with the child's own position so that siblings never collide:
// Seq<Linear, Residual<Seq<LayerNorm, Linear>>> gives "0.weight", "1.0.weight", "1.1.weight" (as nested
// torch.nn.Sequential does), while a subtree whose parameters all sit under Named segments stays transparent:
// Residual<Seq<Named<"ln_1", ...>, ...>> gives "ln_1.weight".
template <class L>
constexpr bool positional_of() {
    if constexpr (is_combinator_v<L>) return L::positional;
    else return L::params.size() > 0;
}

template <class L>
constexpr std::size_t node_count_of() {
    if constexpr (is_combinator_v<L>) return L::node_count;
    else return 1;
}
template <class L>
constexpr std::size_t param_size_of() {
    if constexpr (is_combinator_v<L>) return L::param_size;
    else return param_block_size<L>();
}
template <class L>
constexpr std::size_t tensor_count_of() {
    if constexpr (is_combinator_v<L>) return L::tensor_count;
    else return L::params.size();
}

}  // namespace lnfold
