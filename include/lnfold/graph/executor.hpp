#pragma once
// Run-time state of a forward pass: one output buffer and one scratch buffer per node, sized on first use
// and reused (no allocation after the first call of a given shape), plus what each node read.
// Every size comes from the run-time layout: a node's output rows x width is checked (checked_size.hpp) and each
// buffer names itself when it cannot be allocated (allocation_error, aligned_buffer.hpp).
#include <cstddef>
#include <algorithm>
#include <string>
#include <cstdint>
#include <span>
#include <limits>
#include <utility>
#include <vector>

#include "lnfold/core/aligned_buffer.hpp"
#include "lnfold/core/checked_size.hpp"
#include "lnfold/core/error.hpp"
#include "lnfold/core/layout.hpp"
#include "lnfold/graph/node.hpp"

namespace lnfold {

// A view of activations flowing between nodes: rows = layout.row_count(), row-major, `width` columns.
template <class T>
struct activation {
    const T* data = nullptr;
    Layout layout{};
    std::size_t width = 0;
};

template <class T>
struct executor {
    std::span<const graph_node> nodes;
    const T* params = nullptr;
    const std::int32_t* tokens = nullptr;
    std::vector<aligned_buffer<T>> outputs, scratch;  // per node
    std::vector<activation<T>> inputs, results;       // per node, from the latest forward
    std::vector<node_settings> settings;              // per node

    // Backward state: dL/d(output) per node, whether anything has flowed into it yet, shared temporaries.
    T* param_grads = nullptr;                         // the gradient arena (+=)
    std::vector<aligned_buffer<T>> grads;             // per node, sized like outputs
    std::vector<unsigned char> has_grad;              // per node
    aligned_buffer<T> dx, work;
    T* input_grad = nullptr;                          // dL/d(network input), when backward was asked for it
    bool input_grad_written = false;                  // whether anything has flowed into it yet

    // Fused residual add + norm: a Residual's add whose sum goes straight into a norm (the next node) leaves the
    // addition to that norm, which computes sum and norm in one pass (residual.hpp). deferred_add is the add
    // node whose sum is still to be computed (-1: none), deferred its operands and output.
    bool fuse_residual_norms = true;
    int deferred_add = -1;
    residual_sum<T> deferred{};

    // The planning pass that precedes every forward (Model::run): each node's checks (layer check(), sizes that
    // must fit size_t) and buffers, without computing anything; the first failure goes to plan_error, so that a
    // forward fails before it touches any value and reports through a status or a raise alike. plan_allocates
    // false only adds up the buffers' sizes (planned_elements: outputs, sums and scratch, in elements).
    // carve (Model::use_activation_memory): the plan takes every buffer from the caller's memory instead, in order.
    bool planning = false;
    bool plan_allocates = true;
    status plan_error;
    std::size_t planned_elements = 0;  // each buffer padded to 64 bytes (layers/layer_base.hpp: padded)
    T* carve = nullptr;
    std::size_t carve_left = 0;

    // Incremental decoding (generate/decoder.hpp): the rows of a call are the new tokens of several sequences
    // (segments); positional layers run decode() on them with their key/value caches instead of forward().
    bool decoding = false;
    const decode_segment* segments = nullptr;
    std::size_t segment_count = 0, longest_segment = 0, cache_capacity = 0;
    std::vector<T*> cache_keys, cache_values;  // per node: a causal attention's caches, else null
    // last_rows_only: the network's last node reads only each segment's last row (copied into last_rows), when it is
    // a row-wise leaf that computes no residual sum (a head): a prefill for generation needs no other logits.
    bool last_rows_only = false;
    aligned_buffer<T> last_rows;

    explicit executor(std::span<const graph_node> table)
        : nodes(table), outputs(table.size()), scratch(table.size()), inputs(table.size()),
          results(table.size()), settings(table.size()), grads(table.size()), has_grad(table.size()) {}
};

namespace detail {
// What a buffer holds, for allocation errors: "the activations of Linear<1, 784> at 'fc' (1000000000000 rows x 784
// floats)", or with an element count only: "... (12 floats)".
template <class T>
std::string buffer_text(std::string_view what, const std::string& owner, std::size_t rows, std::size_t width) {
    return std::string(what) + " of " + owner + " (" + std::to_string(rows) + " rows x " + std::to_string(width) + " " +
           element_plural<T>() + ")";
}
template <class T>
std::string buffer_text(std::string_view what, const std::string& owner, std::size_t count) {
    return std::string(what) + " of " + owner + " (" + std::to_string(count) + " " + element_plural<T>() + ")";
}
}  // namespace detail

// Adds a gradient contribution to dL/d(output of `producer`): the first contribution is copied, later ones
// (a value read by several consumers: the residual stream) are summed. The network input's gradient goes to
// ex.input_grad, or is dropped when nobody asked for it. count is the size of the producer's output in the latest
// forward (checked there).
template <class T>
void accumulate_grad(executor<T>& ex, int producer, const T* data, std::size_t count) {
    if (producer == network_input) {
        if (ex.input_grad == nullptr) return;
        if (!ex.input_grad_written) std::copy(data, data + count, ex.input_grad);
        else for (std::size_t i = 0; i < count; ++i) ex.input_grad[i] += data[i];
        ex.input_grad_written = true;
        return;
    }
    const std::size_t p = static_cast<std::size_t>(producer);
    T* g = ex.grads[p].ensure(count, "Model::backward", [&] {
        std::string node = "node '";
        node += ex.nodes[p].path.view();
        node += "'";
        return detail::buffer_text<T>("the output gradient", node, count);
    });
    if (!ex.has_grad[p]) {
        std::copy(data, data + count, g);
        ex.has_grad[p] = 1;
    } else {
        for (std::size_t i = 0; i < count; ++i) g[i] += data[i];
    }
}

// Instantiated only for a layer without backward(const layer_grad_call<T>&) in a network that Model::backward is
// used on; the compiler names the layer in the instantiation of this struct.
template <class Layer>
struct layer_without_backward {
    static_assert(sizeof(Layer) == 0,
                  "lnfold: Model::backward: a layer of this network (the Layer of this layer_without_backward<Layer>) "
                  "has no backward(const layer_grad_call<T>&); give it one (docs/adding_a_layer.md) or do not "
                  "train this network");
};

// Backward of one leaf layer as node `node`: its output gradient is complete (every consumer comes later in
// execution order and has already run), so it computes dx and its parameter gradients and passes dx on.
template <class L, class T>
void backward_leaf(executor<T>& ex, std::size_t node, std::size_t param_base) {
    if constexpr (!requires { L::template backward<T>; }) {
        static_assert(sizeof(layer_without_backward<L>) > 0);
    } else {
        if (!ex.has_grad[node]) return;  // nothing downstream depends on this node
        const graph_node& n = ex.nodes[node];
        const activation<T>& in = ex.inputs[node];
        const activation<T>& out = ex.results[node];
        const bool needs_dx = (n.input != network_input || ex.input_grad != nullptr) && !L::reads_tokens;
        const std::size_t in_rows = in.layout.row_count(), in_count = in_rows * in.width;  // checked by forward
        T* dx = needs_dx ? ex.dx.ensure(in_count, "Model::backward", [&] {
            return detail::buffer_text<T>("the input gradient", layer_name(L::type_name(), n.path.view()), in_rows,
                                          in.width);
        }) : nullptr;
        const std::size_t work_count = L::backward_scratch_size(in.layout, in.width, n.path.view());
        T* work = work_count ? ex.work.ensure(work_count, "Model::backward", [&] {
            return detail::buffer_text<T>("the backward work space", layer_name(L::type_name(), n.path.view()), work_count);
        }) : nullptr;
        L::backward(layer_grad_call<T>{ex.params + param_base, in.data, in.layout, in.width, out.data, out.layout,
                                       out.width, ex.tokens, ex.scratch[node].data(), ex.settings[node], n.path.view(),
                                       ex.grads[node].data(), dx, ex.param_grads + param_base, work,
                                       ex.params + n.tied_offset, ex.param_grads + n.tied_offset});
        if (needs_dx) accumulate_grad(ex, n.input, dx, in_count);
    }
}

template <class L, class T>
void backward_node(executor<T>& ex, std::size_t node, std::size_t param_base) {
    if constexpr (is_combinator_v<L>) L::backward(ex, node, param_base);
    else backward_leaf<L>(ex, node, param_base);
}

// Whether residual add node `add` leaves its sum to the next node: fusion is on, and the next node in execution
// order (the first to read anything the add produces) is a layer that can compute a residual sum and reads this
// one. Later readers of the sum (the next skip connection, backward) find it computed.
template <class T>
bool defers_residual_sum(const executor<T>& ex, std::size_t add) {
    return ex.fuse_residual_norms && add + 1 < ex.nodes.size() && ex.nodes[add + 1].fuses_residual_add &&
           ex.nodes[add + 1].input == static_cast<int>(add);
}

// Node `node`'s view of the decoding call (executor::decoding).
template <class T>
decode_call<T> decode_call_of(const executor<T>& ex, std::size_t node) {
    return {ex.segments, ex.segment_count, ex.cache_keys.empty() ? nullptr : ex.cache_keys[node],
            ex.cache_values.empty() ? nullptr : ex.cache_values[node], ex.cache_capacity, ex.longest_segment};
}

// Whether node `node`, a layer L, runs decode() in this call instead of forward().
template <class L, class T>
bool runs_decode(const executor<T>& ex) {
    return L::decoding == decode_support::positional && ex.decoding;
}

// The scratch a leaf layer needs for this call (decoding: decode_scratch_size, which depends on the caches).
template <class L, class T>
std::size_t scratch_count_of(const executor<T>& ex, std::size_t node, const activation<T>& in, std::string_view path) {
    if constexpr (L::decoding == decode_support::positional)
        if (ex.decoding) return L::decode_scratch_size(in.layout, in.width, path, decode_call_of(ex, node));
    return L::scratch_size(in.layout, in.width, path);
}

// Whether node `node`, a leaf L, reads only each segment's last row in this call (executor::last_rows_only).
template <class L, class T>
bool gathers_last_rows(const executor<T>& ex, std::size_t node) {
    return ex.decoding && ex.last_rows_only && node + 1 == ex.nodes.size() &&
           L::decoding == decode_support::row_wise && !L::fuses_residual_add;
}

// Copies each segment's last row of `in` into ex.last_rows (planned): segment_count rows, one per sequence.
template <class T>
activation<T> gather_last_rows(executor<T>& ex, const activation<T>& in) {
    T* rows = ex.last_rows.data();
    for (std::size_t s = 0; s < ex.segment_count; ++s) {
        const decode_segment& seg = ex.segments[s];
        const T* last = in.data + (seg.first_row + seg.rows - 1) * in.width;
        std::copy(last, last + in.width, rows + s * in.width);
    }
    return {rows, Layout::sequence(ex.segment_count, 1), in.width};
}

// One buffer of the planning pass: `count` elements, counted in ex.planned_elements (padded to 64 bytes), and
// allocated, carved from the caller's memory (ex.carve), or neither (ex.plan_allocates false: sizes only).
template <class T, class What>
status plan_buffer(executor<T>& ex, aligned_buffer<T>& buffer, std::size_t count, const What& what) {
    status error;
    if (count > std::numeric_limits<std::size_t>::max() - param_alignment_elements) [[unlikely]]
        return status::of<allocation_error>("lnfold: Model::forward: " + detail::lazy_text(what) +
                                            " overflows size_t");
    const std::size_t planned = padded(count);
    if (!add_or_report(ex.planned_elements, ex.planned_elements, "planned values", planned, "values",
                       "lnfold: Model::forward: the activation plan", error))
        return error;
    if (ex.carve != nullptr) {
        if (planned > ex.carve_left)
            return status::of<allocation_error>("lnfold: Model::forward: the caller's memory has " +
                                                std::to_string(ex.carve_left) + " " + detail::element_plural<T>() +
                                                " left for " + detail::lazy_text(what) + ", which needs " +
                                                std::to_string(planned));
        buffer.borrow(ex.carve, planned);
        ex.carve += planned;
        ex.carve_left -= planned;
        return error;
    }
    if (!ex.plan_allocates) return error;
    return buffer.try_ensure(count, "Model::forward", what);
}

// Plans one leaf layer as node `node` (executor::planning): its checks, output layout and buffers, any failure in
// ex.plan_error (later nodes are then skipped). Its input's rows x width fit in size_t (the Model checked the
// network input, this function every node's output):
//   out_rows = batch x tokens of L::output_layout,  out_count = out_rows x out_width.
template <class L, class T>
activation<T> plan_leaf(executor<T>& ex, std::size_t node, activation<T> in) {
    status& error = ex.plan_error;
    if (!error.ok()) return in;
    const std::string_view path = ex.nodes[node].path.view();
    if (gathers_last_rows<L>(ex, node)) {  // segment_count rows of the input's width, fewer than the input's
        error = plan_buffer(ex, ex.last_rows, ex.segment_count * in.width, [&] {
            return detail::buffer_text<T>("the last rows", layer_name(L::type_name(), path), ex.segment_count, in.width);
        });
        if (!error.ok()) return in;
        in = {ex.last_rows.data(), Layout::sequence(ex.segment_count, 1), in.width};
    }
    if (!runs_decode<L>(ex)) {  // decoding: the decoder checked positions against its caches and tables
        error = L::check(in.layout, path, ex.tokens);
        if (!error.ok()) return in;
    }
    const Layout out_layout = L::output_layout(in.layout, path);
    const std::size_t out_width = L::resolve_out(in.width);
    const layer_context<L> output{path, "the output"};
    std::size_t out_rows = 0, out_count = 0;
    if (!mul_or_report(out_rows, out_layout.batch, "samples", out_layout.tokens, "tokens", output, error) ||
        !mul_or_report(out_count, out_rows, "rows", out_width, "features", output, error))
        return in;
    const std::size_t scratch_count = scratch_count_of<L>(ex, node, in, path);
    error = plan_buffer(ex, ex.outputs[node], out_count, [&] {
        return detail::buffer_text<T>("the activations", layer_name(L::type_name(), path), out_rows, out_width);
    });
    if (error.ok() && scratch_count > 0)
        error = plan_buffer(ex, ex.scratch[node], scratch_count, [&] {
            return detail::buffer_text<T>("the scratch space", layer_name(L::type_name(), path), scratch_count);
        });
    return {ex.outputs[node].data(), out_layout, out_width};
}

// Runs one leaf layer as node `node`, its parameters at params + param_base (planned first: the sizes below fit and
// the buffers are there). A layer that reads a deferred residual sum receives it in layer_call::residual and
// computes it.
template <class L, class T>
activation<T> run_leaf(executor<T>& ex, std::size_t node, std::size_t param_base, activation<T> in) {
    if (ex.planning) return plan_leaf<L>(ex, node, in);
    if (gathers_last_rows<L>(ex, node)) in = gather_last_rows(ex, in);
    const std::string_view path = ex.nodes[node].path.view();
    const Layout out_layout = L::output_layout(in.layout, path);
    const std::size_t out_width = L::resolve_out(in.width);
    const std::size_t out_count = out_layout.batch * out_layout.tokens * out_width;  // checked by plan_leaf
    T* y = ex.outputs[node].data();
    T* scratch = scratch_count_of<L>(ex, node, in, path) > 0 ? ex.scratch[node].data() : nullptr;
    if (ex.outputs[node].size() < out_count) [[unlikely]]  // only a forward that skipped the plan gets here
        raise<config_error>("lnfold: " + layer_name(L::type_name(), path) + ": run without a planned forward");
    const residual_sum<T>* residual = nullptr;
    if constexpr (L::fuses_residual_add) {
        if (ex.deferred_add >= 0 && ex.deferred_add == ex.nodes[node].input) {
            residual = &ex.deferred;
            ex.deferred_add = -1;
        }
    }
    layer_call<T> call{ex.params + param_base, in.data, in.layout, in.width, y, out_layout, out_width,
                       ex.tokens, scratch, ex.settings[node], path, ex.params + ex.nodes[node].tied_offset, residual};
    if constexpr (L::decoding == decode_support::positional) {
        if (ex.decoding) {
            const decode_call<T> decode = decode_call_of(ex, node);
            call.decode = &decode;
            L::decode(call);
        } else {
            L::forward(call);
        }
    } else {
        L::forward(call);
    }
    const activation<T> out{y, out_layout, out_width};
    ex.inputs[node] = in;
    ex.results[node] = out;
    return out;
}

// A TiedHead names the layer whose table it reads ("wte"): the nearest table lowered before it whose path is that
// name or ends with "." + name (so a model nested under another Named still resolves).
template <class L, class G>
constexpr void resolve_tie(G& g, graph_node& n, const short_string&) {
    n.tie = L::tie;
    const std::string_view table = L::tied_table;
    for (std::size_t t = g.tensor_count; t-- > 0;) {
        const std::string_view p = g.tensors[t].path.view();
        const std::string_view layer = p.substr(0, p.size() - std::min(p.size(), std::string_view(".weight").size()));
        if (!p.ends_with(".weight")) continue;
        if (layer == table || (layer.size() > table.size() && layer.ends_with(table) &&
                               layer[layer.size() - table.size() - 1] == '.')) {
            n.tied_node = g.tensors[t].node;
            n.tied_offset = g.tensors[t].offset;
            return;
        }
    }
    g.unresolved_tie = true;
}

// Lowers a leaf layer into the node table.
template <class L, class G>
constexpr int lower_leaf(G& g, int input, std::size_t width, const short_string& path, std::size_t param_base) {
    static_assert(L::params.size() <= max_layer_tensors,
                  "lnfold: a layer has more parameter tensors than max_layer_tensors (layers/layer_base.hpp)");
    static_assert((L::role != fold_role::source && L::role != fold_role::additive_source) ||
                      L::centring != output_centring::none,
                  "lnfold: a layer whose fold role is source or additive_source must say how the fold centres its "
                  "output: declare centring and centred_tensor (layers/layer_base.hpp, docs/adding_a_layer.md)");
    const std::size_t index = g.node_count++;
    graph_node& n = g.nodes[index];
    n.kind_name = L::kind_name;
    n.role = L::role;
    n.path = path;
    n.input = input;
    n.in_width = width;
    n.out_width = L::resolve_out(width);
    n.param_offset = param_base;
    n.param_size = param_block_size<L>();
    n.first_tensor = g.tensor_count;
    n.tensor_count = L::params.size();
    if constexpr (requires { L::groups; }) n.groups = L::groups;
    if constexpr (requires { L::has_bias; }) n.has_bias = L::has_bias;
    if constexpr (requires { L::tied_table; }) resolve_tie<L>(g, n, path);
    n.fuses_residual_add = L::fuses_residual_add;
    n.decoding = L::decoding;
    n.reads_tokens = L::reads_tokens;
    n.fold_candidate = L::fold_candidate;
    n.has_eps = L::has_eps;
    n.centring = L::centring;
    n.centred_tensor = L::centred_tensor;
    n.caches_keys_values = L::caches_keys_values;
    n.max_positions = L::max_positions;
    if (path.full()) g.path_overflow = true;
    for (std::size_t i = 0; i < L::params.size(); ++i) {
        param_entry& e = g.tensors[g.tensor_count++];
        e.path = path.joined(L::params[i].name);
        e.offset = param_base + param_offset<L>(i);
        e.spec = L::params[i];
        e.node = static_cast<int>(index);
        if (e.path.full()) g.path_overflow = true;
    }
    return static_cast<int>(index);
}

// Dispatch: combinators lower and run themselves, leaves go through lower_leaf / run_leaf.
template <class L, class G>
constexpr int lower_node(G& g, int input, std::size_t width, const short_string& path, std::size_t param_base) {
    if constexpr (is_combinator_v<L>) return L::lower(g, input, width, path, param_base);
    else return lower_leaf<L>(g, input, width, path, param_base);
}

template <class L, class T>
activation<T> run_node(executor<T>& ex, std::size_t node, std::size_t param_base, activation<T> in) {
    if constexpr (is_combinator_v<L>) return L::run(ex, node, param_base, in);
    else return run_leaf<L>(ex, node, param_base, in);
}

// The planning pass of network Net over input `in` (executor::planning): every check and buffer, nothing
// computed; allocates says whether buffers are sized (false: their sizes are only added up in planned_elements).
// The first failure comes back as a status.
template <class Net, class T>
status plan_network(executor<T>& ex, activation<T> in, bool allocates) {
    ex.deferred_add = -1;
    ex.planning = true;
    ex.plan_allocates = allocates;
    ex.plan_error = {};
    ex.planned_elements = 0;
    run_node<Net>(ex, 0, 0, in);
    ex.planning = false;
    ex.plan_allocates = true;
    return std::exchange(ex.plan_error, status{});
}

// A forward of Net: the planning pass, then (when it succeeds) the computation; the last node's output.
template <class Net, class T>
result<activation<T>> plan_and_run(executor<T>& ex, activation<T> in) {
    if (status s = plan_network<Net>(ex, in, true); !s) return s;
    return run_node<Net>(ex, 0, 0, in);
}

template <class L>
constexpr std::size_t in_width_of() {
    return L::in_width;
}
template <class L>
constexpr std::size_t resolve_out_of(std::size_t width) {
    return L::resolve_out(width);
}

}  // namespace lnfold
