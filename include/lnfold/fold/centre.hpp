#pragma once
// Column-centred weight transformation (CCWT, METHOD.md §2) on one layer's parameter block: after it, the
// layer's output has zero mean over the feature axis for every input. Also folds a per-channel scale into a
// layer's output features (LayerScale must be folded in before centring: centring first does not commute).
#include <algorithm>
#include <cstddef>
#include <span>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "lnfold/graph/kind_name.hpp"
#include "lnfold/layers/layer_base.hpp"

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

// Index of the tensor that maps into the output features: the weight (SelfAttention: its output projection).
inline std::size_t output_weight_index(layer_kind kind) { return kind == layer_kind::self_attention ? 2 : 0; }

}  // namespace detail

// Whether a node kind's output can be centred by editing its parameters.
constexpr bool is_centrable_kind(layer_kind kind) {
    switch (kind) {
        case layer_kind::linear: case layer_kind::conv2d: case layer_kind::self_attention:
        case layer_kind::embedding: case layer_kind::position_embedding: case layer_kind::class_token:
            return true;
        default:
            return false;
    }
}

// Centres the output features of a layer of `kind` whose tensors are `specs`, stored in `block`:
//   Linear (out, in), SelfAttention proj (d, d): each column over the output index, and the bias;
//   Conv2d (Cout, Cin/g, k, k): over Cout for each (Cin, kh, kw) (groups = 1), and the bias;
//   Embedding / PositionEmbedding (rows, d), ClassToken (1, 1, d): each row over d.
template <class T>
void centre_output(layer_kind kind, std::span<const param_spec> specs, T* block) {
    if (!is_centrable_kind(kind))
        raise<config_error>("lnfold: centre_output: a " + std::string(kind_name(kind)) + " cannot be centred");
    const std::size_t w = detail::output_weight_index(kind);
    const param_spec& weight = specs[w];
    T* values = block + detail::tensor_offset(specs, w);
    if (kind == layer_kind::embedding || kind == layer_kind::position_embedding || kind == layer_kind::class_token) {
        const std::size_t d = weight.shape[weight.rank - 1];
        detail::centre_rows(values, weight.numel() / d, d);
        return;
    }
    const std::size_t out = weight.shape[0];
    detail::centre_columns(values, out, weight.numel() / out);
    if (specs.size() > w + 1) detail::centre_rows(block + detail::tensor_offset(specs, w + 1), 1, out);
}

// Multiplies output feature i of the layer by scale[i] (folding a LayerScale that follows it into it).
template <class T>
void scale_output(layer_kind kind, std::span<const param_spec> specs, T* block, const T* scale) {
    if (!is_centrable_kind(kind))
        raise<config_error>("lnfold: scale_output: cannot fold a scale into a " + std::string(kind_name(kind)));
    const std::size_t w = detail::output_weight_index(kind);
    const param_spec& weight = specs[w];
    T* values = block + detail::tensor_offset(specs, w);
    if (kind == layer_kind::embedding || kind == layer_kind::position_embedding || kind == layer_kind::class_token) {
        const std::size_t d = weight.shape[weight.rank - 1];
        for (std::size_t r = 0; r < weight.numel() / d; ++r)
            for (std::size_t i = 0; i < d; ++i) values[r * d + i] *= scale[i];
        return;
    }
    const std::size_t out = weight.shape[0], cols = weight.numel() / out;
    for (std::size_t o = 0; o < out; ++o)
        for (std::size_t j = 0; j < cols; ++j) values[o * cols + j] *= scale[o];
    if (specs.size() > w + 1) {
        T* bias = block + detail::tensor_offset(specs, w + 1);
        for (std::size_t o = 0; o < out; ++o) bias[o] *= scale[o];
    }
}

}  // namespace lnfold
