#pragma once
// Readable names of node kinds, for reports and error messages.
#include <string_view>

#include "lnfold/layers/layer_base.hpp"

namespace lnfold {

constexpr std::string_view kind_name(layer_kind kind) {
    switch (kind) {
        case layer_kind::linear: return "Linear";
        case layer_kind::conv2d: return "Conv2d";
        case layer_kind::embedding: return "Embedding";
        case layer_kind::position_embedding: return "PositionEmbedding";
        case layer_kind::class_token: return "ClassToken";
        case layer_kind::layer_norm: return "LayerNorm";
        case layer_kind::rms_norm: return "RMSNorm";
        case layer_kind::relu: return "ReLU";
        case layer_kind::gelu: return "GELU";
        case layer_kind::gelu_tanh: return "GELUTanh";
        case layer_kind::silu: return "SiLU";
        case layer_kind::self_attention: return "SelfAttention";
        case layer_kind::mean_pool: return "MeanPool";
        case layer_kind::take_token: return "TakeToken";
        case layer_kind::centering: return "Centering";
        case layer_kind::layer_scale: return "LayerScale";
        case layer_kind::dropout: return "Dropout";
        case layer_kind::residual_add: return "residual add";
        case layer_kind::tied_head: return "TiedHead";
    }
    return "layer";
}

}  // namespace lnfold
