#pragma once
// What every layer spec provides: parameter shapes, widths, roles, and the call a forward pass receives.
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "lnfold/core/layout.hpp"
#include "lnfold/fold/role.hpp"

namespace lnfold {

// How a parameter is initialised (see Model::initialize for the schemes).
enum class init_kind {
    fan_in_weight,  // PyTorch default: U(-1/sqrt(fan_in), 1/sqrt(fan_in)); normal scheme: N(0, std)
    fan_in_bias,    // PyTorch default: U(-1/sqrt(fan_in), 1/sqrt(fan_in)); normal scheme: zeros
    table,          // embedding-like tables: N(0, table_std) in the PyTorch scheme, N(0, std) in the normal one
    ones,
    zeros,
    constant,       // every element = value
};

struct param_spec {
    std::string_view name;             // last path segment: "weight", "bias", "table"
    std::array<std::size_t, 4> shape;  // PyTorch's shape of the tensor
    std::size_t rank;
    init_kind init;
    std::size_t fan_in = 1;
    double value = 0;                  // table_std for init_kind::table, the value for init_kind::constant

    constexpr std::size_t numel() const {
        std::size_t n = 1;
        for (std::size_t i = 0; i < rank; ++i) n *= shape[i];
        return n;
    }
};

// Each parameter tensor starts at a multiple of this many elements inside the arena (64 bytes for float).
inline constexpr std::size_t param_alignment_elements = 16;
constexpr std::size_t padded(std::size_t n) {
    return (n + param_alignment_elements - 1) / param_alignment_elements * param_alignment_elements;
}

// Run-time settings of one node (norm eps, training mode); the Model keeps one per node.
struct node_settings {
    double eps = 1e-5;
    bool training = false;
    std::uint64_t seed = 0;   // dropout masks: a function of (seed, step, node, element)
    std::uint64_t step = 0;
};

// A residual sum a layer computes itself (fused residual add + norm, for layers with fuses_residual_add): its
// input x = a + b has not been written yet; the layer writes it into sum (the memory x points to) while it reads
// a and b, and then reads x as usual.
template <class T>
struct residual_sum {
    const T* a;
    const T* b;
    T* sum;
};

// Which of a layer's tensors the fold edits so that the layer's output features have zero mean for every input
// (the column-centred weight transformation, docs/method.md §2):
//   none:           the fold cannot centre this layer's output;
//   weight_columns: tensor centred_tensor is a weight (Out, ...): each column is centred over Out, and the tensor
//                   after it, when there is one, is the bias (Out), centred too (Linear, Conv2d, SelfAttention's
//                   output projection);
//   table_rows:     tensor centred_tensor is a table (..., d): each row is centred over d (Embedding,
//                   PositionEmbedding, ClassToken).
enum class output_centring { none, weight_columns, table_rows };

// The most tensors one layer may have (the fold copies a node's parameter specs into an array this long).
inline constexpr std::size_t max_layer_tensors = 4;

// How a layer takes part in incremental decoding (generate/decoder.hpp), where a call's rows are the new tokens of
// several sequences, each continuing from its own cached length:
//   none:       it needs the whole sequence at once (pooling, class tokens, convolutions, non-causal attention);
//   row_wise:   each output row depends on the same input row only (Linear, norms, activations, embeddings);
//   positional: it reads the rows' positions or earlier tokens (position tables, causal attention), and provides
//               decode(const layer_call<T>&), which reads layer_call::decode.
enum class decode_support { none, row_wise, positional };

// The new rows of one sequence in a decoding call: rows [first_row, first_row + rows) of the call are its tokens at
// positions [past, past + rows); slot is its place in the key/value caches.
struct decode_segment {
    std::size_t first_row = 0, rows = 0, past = 0, slot = 0;
};

// What a positional layer sees in a decoding call: the segments, and its own key/value cache (causal attention:
// slots x capacity positions x width values each, keys and values; null for other layers).
template <class T>
struct decode_call {
    const decode_segment* segments = nullptr;
    std::size_t segment_count = 0;
    T* keys = nullptr;
    T* values = nullptr;
    std::size_t capacity = 0;       // positions per slot
    std::size_t longest_rows = 0;   // the most rows any segment has in this call
};

// One forward call of a leaf layer: y (out.row_count() x out_width) = layer(x (in.row_count() x in_width)).
template <class T>
struct layer_call {
    const T* params;               // this layer's parameter block, tensors at param_offset<L>(i)
    const T* x;
    Layout in;
    std::size_t in_width;
    T* y;
    Layout out;
    std::size_t out_width;
    const std::int32_t* tokens;    // the network's token ids (Embedding reads them instead of x)
    T* scratch;                    // scratch_size(in, in_width, path) elements, kept for the backward pass
    const node_settings& settings;
    std::string_view path;         // the node's path, for error messages
    const T* tied = nullptr;       // TiedHead: the tied table inside the arena
    const residual_sum<T>* residual = nullptr;  // x is a residual sum still to be computed (see residual_sum)
    const decode_call<T>* decode = nullptr;     // incremental decoding (positional layers only), else null
};

// One backward call of a leaf layer (the vector-Jacobian product of its forward):
//   dx (in rows x in_width)  = dL/dx, overwritten (nullptr when the input needs no gradient: token ids, the network input)
//   dparams (the layer's block in the gradient arena) += dL/dparams
template <class T>
struct layer_grad_call {
    const T* params;
    const T* x;                    // the input of the latest forward
    Layout in;
    std::size_t in_width;
    const T* y;                    // its output
    Layout out;
    std::size_t out_width;
    const std::int32_t* tokens;
    const T* scratch;              // what forward kept (means, 1/std, attention probabilities, im2col)
    const node_settings& settings;
    std::string_view path;
    const T* dy;                   // dL/dy
    T* dx;
    T* dparams;
    T* work;                       // backward_scratch_size(in, in_width, path) elements of temporary space
    const T* tied = nullptr;       // TiedHead: the tied table, and its gradient (+=)
    T* dtied = nullptr;
};

// The traits every layer spec has, with the defaults it inherits (a layer declares only those it changes):
//   kind_name           its name in reports ("LayerNorm"); every layer declares it, with role, in_width,
//                       resolve_out and type_name() ("LayerNorm<768>", for error messages);
//   params              its parameter tensors (none);
//   reads_tokens        it reads the network's token ids instead of x (Embedding);
//   needs_image         its input must have an image layout (Conv2d);
//   fold_candidate      a LayerNorm: the fold analysis judges it, and where foldable the fold turns it into an
//                       RMSNorm (it stays one when wrapped, e.g. in CentredOutput, whose role is centering);
//   has_eps             it has an eps that Model::set_eps / Model::eps reach and that fold and the CBWC export copy
//                       (the norms);
//   centring, centred_tensor   how the fold centres its output (output_centring above); a layer whose role is
//                       source or additive_source must declare them;
//   fuses_residual_add  it can compute the residual sum it reads (a Residual whose sum goes straight into such a
//                       layer leaves the addition to it, see graph/residual.hpp);
//   decoding            how it takes part in incremental decoding (decode_support above);
//   caches_keys_values  a positional layer that keeps keys and values of width in_width per position (causal
//                       attention): the decoder gives it a cache;
//   max_positions       the most positions it can see (a learned position table's rows; 0 = no limit);
//   check(in, path, tokens)  whether it accepts an input (its layout; the token ids when it reads them, else null)
//                       as a status: the forward's planning pass runs it before any buffer or value is touched, so
//                       output_layout, scratch_size and forward may take the input as checked;
//   output_layout, scratch_size, backward_scratch_size   sizes from the input layout (checked_mul / checked_add
//                       with a layer_context, so that one which overflows names the layer).
// Besides these a layer provides forward(const layer_call<T>&) and backward(const layer_grad_call<T>&) (a network
// whose layer has no backward cannot be trained: Model::backward does not compile), and decode() when positional.
struct layer_defaults {
    static constexpr std::array<param_spec, 0> params{};
    static constexpr bool reads_tokens = false;
    static constexpr bool needs_image = false;
    static constexpr bool fold_candidate = false;
    static constexpr bool has_eps = false;
    static constexpr output_centring centring = output_centring::none;
    static constexpr std::size_t centred_tensor = 0;
    static constexpr bool fuses_residual_add = false;
    static constexpr decode_support decoding = decode_support::none;
    static constexpr bool caches_keys_values = false;
    static constexpr std::size_t max_positions = 0;
    static status check(const Layout&, std::string_view, const std::int32_t*) { return {}; }
    static Layout output_layout(const Layout& in, std::string_view) { return in; }
    static std::size_t scratch_size(const Layout&, std::size_t, std::string_view) { return 0; }
    static std::size_t backward_scratch_size(const Layout&, std::size_t, std::string_view) { return 0; }
};

// Offset of parameter I inside a layer's block, and the block's size (both padded).
template <class L>
constexpr std::size_t param_offset(std::size_t index) {
    std::size_t offset = 0;
    for (std::size_t i = 0; i < index; ++i) offset += padded(L::params[i].numel());
    return offset;
}
template <class L>
constexpr std::size_t param_block_size() {
    return param_offset<L>(L::params.size());
}

// Widths: a layer with in_width == 0 accepts any width; resolve_out maps an input width to the output width.
struct width_preserving {
    static constexpr std::size_t in_width = 0;
    static constexpr std::size_t resolve_out(std::size_t in) { return in; }
};

// "LayerNorm<8> at 'h.0.ln_1'" (the root of a network has the empty path: '<root>').
inline std::string layer_name(std::string_view kind_name, std::string_view path) {
    std::string s(kind_name);
    s += " at '";
    s += path.empty() ? std::string_view("<root>") : path;
    s += "'";
    return s;
}
inline std::string layer_error_prefix(std::string_view kind_name, std::string_view path) {
    return "lnfold: " + layer_name(kind_name, path) + ": ";
}

// The context of a size check in layer L (core/checked_size.hpp), built only when the check fails:
//   checked_mul(tokens, "tokens", tokens, "tokens", layer_context<SelfAttention>{path, "attention scores"})
//   -> "lnfold: SelfAttention<8, 2> at 'attn': attention scores: 4294967296 tokens x 4294967296 tokens overflows size_t"
template <class L>
struct layer_context {
    std::string_view path;
    const char* what;
    std::string operator()() const { return layer_error_prefix(L::type_name(), path) + what; }
};

}  // namespace lnfold
