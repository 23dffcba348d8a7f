#pragma once
// Column-centred weight transformation (CCWT, docs/method.md §2) on one layer's parameter block: after it, the
// layer's output has zero mean over the feature axis for every input. Also folds a per-channel scale into a
// layer's output features (LayerScale must be folded in before centring: centring first does not commute).
#include <algorithm>
#include <cstddef>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>

#include "lnfold/core/error.hpp"
#include "lnfold/graph/node.hpp"

namespace lnfold {

namespace detail {

// Start of tensor `index` inside a block whose tensors are `specs` (same padding rule as param_offset<L>).
inline std::size_t tensor_offset(std::span<const param_spec> specs, std::size_t index) {
    std::size_t offset = 0;
    for (std::size_t i = 0; i < index; ++i) offset += padded(specs[i].numel());
    return offset;
}

// Sums are accumulated in double for float (exact enough for any realistic width) and in long double for
// double, so that a folded model in double stays exact to ~1e-15.
template <class T>
using centring_acc_t = std::conditional_t<(sizeof(T) < sizeof(double)), double, long double>;

// W (out x cols): subtract from every column its mean over the out rows, so that 1ᵀW = 0.
// Row-major W is read row by row in blocks of columns (contiguous loads, column sums held in a small local
// array), so CBWC can afford it on every training step; no allocation.
template <class T>
void centre_columns(T* w, std::size_t out, std::size_t cols) {
    using A = centring_acc_t<T>;
    constexpr std::size_t block = 64;
    for (std::size_t j0 = 0; j0 < cols; j0 += block) {
        const std::size_t n = std::min(block, cols - j0);
        A sum[block] = {};
        for (std::size_t o = 0; o < out; ++o) {
            const T* row = w + o * cols + j0;
            for (std::size_t j = 0; j < n; ++j) sum[j] += row[j];
        }
        T mean[block];
        for (std::size_t j = 0; j < n; ++j) mean[j] = static_cast<T>(sum[j] / static_cast<A>(out));
        for (std::size_t o = 0; o < out; ++o) {
            T* row = w + o * cols + j0;
            for (std::size_t j = 0; j < n; ++j) row[j] -= mean[j];
        }
    }
}

// Table (rows x d): subtract from every row its own mean.
template <class T>
void centre_rows(T* table, std::size_t rows, std::size_t d) {
    using A = centring_acc_t<T>;
    for (std::size_t r = 0; r < rows; ++r) {
        T* row = table + r * d;
        A sum = 0;
        for (std::size_t i = 0; i < d; ++i) sum += row[i];
        const T mean = static_cast<T>(sum / static_cast<A>(d));
        for (std::size_t i = 0; i < d; ++i) row[i] -= mean;
    }
}

}  // namespace detail

// How the fold centres the output of one layer: its centring trait (layers/layer_base.hpp) and the tensor that
// holds its output features; kind_name names it in errors.
struct centring_rule {
    output_centring how = output_centring::none;
    std::size_t tensor = 0;
    std::string_view kind_name;
};
template <class L>
constexpr centring_rule centring_rule_of() { return {L::centring, L::centred_tensor, L::kind_name}; }
inline centring_rule centring_rule_of(const graph_node& node) { return {node.centring, node.centred_tensor, node.kind_name}; }

// Centres the output features of a layer whose tensors are `specs`, stored in `block`:
//   weight_columns: Linear (out, in), SelfAttention proj (d, d): each column over the output index, and the bias;
//                   Conv2d (Cout, Cin/g, k, k): over Cout for each (Cin, kh, kw), and the bias;
//   table_rows:     Embedding / PositionEmbedding (rows, d), ClassToken (1, 1, d): each row over d.
template <class T>
void centre_output(const centring_rule& rule, std::span<const param_spec> specs, T* block) {
    if (rule.how == output_centring::none)
        raise<config_error>("lnfold: centre_output: a " + std::string(rule.kind_name) + " cannot be centred");
    const param_spec& weight = specs[rule.tensor];
    T* values = block + detail::tensor_offset(specs, rule.tensor);
    if (rule.how == output_centring::table_rows) {
        const std::size_t d = weight.shape[weight.rank - 1];
        detail::centre_rows(values, weight.numel() / d, d);
        return;
    }
    const std::size_t out = weight.shape[0];
    detail::centre_columns(values, out, weight.numel() / out);
    if (specs.size() > rule.tensor + 1) detail::centre_rows(block + detail::tensor_offset(specs, rule.tensor + 1), 1, out);
}

// Multiplies output feature i of the layer by scale[i] (folding a LayerScale that follows it into it).
template <class T>
void scale_output(const centring_rule& rule, std::span<const param_spec> specs, T* block, const T* scale) {
    if (rule.how == output_centring::none)
        raise<config_error>("lnfold: scale_output: cannot fold a scale into a " + std::string(rule.kind_name));
    const param_spec& weight = specs[rule.tensor];
    T* values = block + detail::tensor_offset(specs, rule.tensor);
    if (rule.how == output_centring::table_rows) {
        const std::size_t d = weight.shape[weight.rank - 1];
        for (std::size_t r = 0; r < weight.numel() / d; ++r)
            for (std::size_t i = 0; i < d; ++i) values[r * d + i] *= scale[i];
        return;
    }
    const std::size_t out = weight.shape[0], cols = weight.numel() / out;
    for (std::size_t o = 0; o < out; ++o)
        for (std::size_t j = 0; j < cols; ++j) values[o * cols + j] *= scale[o];
    if (specs.size() > rule.tensor + 1) {
        T* bias = block + detail::tensor_offset(specs, rule.tensor + 1);
        for (std::size_t o = 0; o < out; ++o) bias[o] *= scale[o];
    }
}

}  // namespace lnfold
