#pragma once
// ViT (Hugging Face ViTForImageClassification) as an lnfold network type, with the naming of its checkpoints.
//
//   using Net = models::VitBase;                            // google/vit-base-patch16-224: Vit<12, 768, 12, 224, 16, 1000>
//   Model<Net> model;
//   models::load_vit(model, "model.safetensors");           // io::load with vit_load_options(), then eps 1e-12
//   model.forward(nhwc_pixels, Layout::image(batch, 224, 224));
//
// The network, Pre-LN, every LayerNorm eps 1e-12 (set it: lnfold's default is 1e-5), dropout omitted:
//   x = projection(pixels)                 Conv2d Channels -> D, kernel = stride = Patch: one token per patch,
//                                          row-major over the (Image/Patch)^2 grid
//   x = [cls_token; x] + position_embeddings                              (tokens N + 1, width D)
//   encoder.layer.N:  x = x + attention(layernorm_before(x));  x = x + output(GELU(intermediate(layernorm_after(x))))
//       attention: query / key / value Linears (fused into lnfold's qkv), scores scaled by 1/sqrt(D/H), output.dense
//       intermediate.dense (D -> Mlp), GELU (erf), output.dense (Mlp -> D)
//   logits = classifier(layernorm(x)[token 0])
// Images: lnfold's Conv2d reads NHWC (rows are pixels, width is channels); torch's pixel_values are NCHW:
// pass pixels.permute(0, 2, 3, 1) (x[b][y][x][c] = pixel_values[b][c][y][x]).
//
// lnfold path -> Hugging Face name (all others are equal, e.g. encoder.layer.3.layernorm_before.weight):
//   embeddings.cls_token.weight           (1, 1, D)   -> embeddings.cls_token
//   embeddings.position_embeddings.weight (N + 1, D)  -> embeddings.position_embeddings, stored (1, N + 1, D)
//   encoder.layer.N.attention.qkv.weight  (3D, D)     <- attention.attention.query.weight | key.weight | value.weight
//   encoder.layer.N.attention.qkv.bias    (3D)        <- attention.attention.query.bias | key.bias | value.bias
//   encoder.layer.N.attention.proj.*                  -> encoder.layer.N.attention.output.dense.*
//   embeddings.patch_embeddings.projection.weight: torch's Conv2d layout (D, Channels, Patch, Patch), as lnfold's
// Files: names with or without the "vit." prefix (ViTForImageClassification keeps classifier.* outside it).
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "lnfold/graph/model.hpp"
#include "lnfold/graph/named.hpp"
#include "lnfold/graph/repeat.hpp"
#include "lnfold/graph/residual.hpp"
#include "lnfold/graph/seq.hpp"
#include "lnfold/io/weights.hpp"
#include "lnfold/layers/class_token.hpp"
#include "lnfold/layers/conv2d.hpp"
#include "lnfold/layers/gelu.hpp"
#include "lnfold/layers/layer_norm.hpp"
#include "lnfold/layers/linear.hpp"
#include "lnfold/layers/position_embedding.hpp"
#include "lnfold/layers/self_attention.hpp"
#include "lnfold/layers/take_token.hpp"

namespace lnfold::models {

template <std::size_t Dim, std::size_t Heads, std::size_t Mlp>
using VitLayer = Seq<Residual<Seq<Named<"layernorm_before", LayerNorm<Dim>>, Named<"attention", SelfAttention<Dim, Heads>>>>,
                     Residual<Seq<Named<"layernorm_after", LayerNorm<Dim>>, Named<"intermediate", Named<"dense", Linear<Dim, Mlp>>>,
                                  GELU, Named<"output", Named<"dense", Linear<Mlp, Dim>>>>>>;

template <std::size_t Image, std::size_t Patch>
inline constexpr std::size_t vit_tokens = (Image / Patch) * (Image / Patch) + 1;  // patches + the class token

// Layers blocks of width Dim with Heads heads and an Mlp-wide hidden layer, square Image x Image inputs of Channels
// channels cut into Patch x Patch patches, Classes outputs.
template <std::size_t Layers, std::size_t Dim, std::size_t Heads, std::size_t Image, std::size_t Patch,
          std::size_t Classes, std::size_t Mlp = 4 * Dim, std::size_t Channels = 3>
using Vit = Seq<Named<"embeddings", Seq<Named<"patch_embeddings", Named<"projection", Conv2d<Channels, Dim, Patch, Patch>>>,
                                        Named<"cls_token", ClassToken<Dim>>,
                                        Named<"position_embeddings", PositionEmbedding<vit_tokens<Image, Patch>, Dim>>>>,
                Named<"encoder", Named<"layer", Repeat<Layers, VitLayer<Dim, Heads, Mlp>>>>,
                Named<"layernorm", LayerNorm<Dim>>, TakeToken<0>, Named<"classifier", Linear<Dim, Classes>>>;

// The released 224 x 224, patch 16, ImageNet-1k sizes (Dosovitskiy et al. 2021; DeiT tiny / small, ViT base).
using VitTiny = Vit<12, 192, 3, 224, 16, 1000>;
using VitSmall = Vit<12, 384, 6, 224, 16, 1000>;
using VitBase = Vit<12, 768, 12, 224, 16, 1000>;

inline constexpr double vit_eps = 1e-12;                 // layer_norm_eps of Hugging Face's ViTConfig
inline constexpr std::string_view vit_prefix = "vit.";

namespace detail {

// "encoder.layer.<digits>." at the start of path: its length, or 0.
inline std::size_t vit_layer_prefix(std::string_view path) {
    constexpr std::string_view head = "encoder.layer.";
    if (!path.starts_with(head)) return 0;
    std::size_t i = head.size();
    while (i < path.size() && path[i] >= '0' && path[i] <= '9') ++i;
    return i > head.size() && i < path.size() && path[i] == '.' ? i + 1 : 0;
}

// The Hugging Face name (without prefix) of an lnfold path stored as one tensor.
inline std::string vit_file_name(std::string_view path) {
    if (path == "embeddings.cls_token.weight") return "embeddings.cls_token";
    if (path == "embeddings.position_embeddings.weight") return "embeddings.position_embeddings";
    std::string name(path);
    const std::size_t layer = vit_layer_prefix(path);
    if (layer > 0 && path.substr(layer).starts_with("attention.proj."))
        return name.replace(layer, 15, "attention.output.dense.");
    return name;
}

// The fused qkv of layer N <- query | key | value, each prefix + "attention.attention.<q|k|v>.<weight|bias>".
inline std::vector<std::string> vit_qkv_parts(std::string_view path, std::string_view prefix) {
    const std::size_t layer = vit_layer_prefix(path);
    if (layer == 0) return {};
    const std::string_view rest = path.substr(layer);
    if (rest != "attention.qkv.weight" && rest != "attention.qkv.bias") return {};
    const std::string base = std::string(prefix) + std::string(path.substr(0, layer)) + "attention.attention.";
    const std::string_view tensor = rest.substr(std::string_view("attention.qkv.").size());
    return {base + "query." + std::string(tensor), base + "key." + std::string(tensor), base + "value." + std::string(tensor)};
}

}  // namespace detail

// Naming shared by load and save, `prefix` prepended to every name but the classifier's.
inline io::tensor_naming vit_naming(std::string_view prefix = "") {
    io::tensor_naming naming;
    const auto prefixed = [prefix = std::string(prefix)](std::string_view path) {
        return path.starts_with("classifier.") ? std::string() : prefix;
    };
    naming.rename = [prefixed](std::string_view path) { return prefixed(path) + detail::vit_file_name(path); };
    naming.concatenate = [prefixed](std::string_view path) { return detail::vit_qkv_parts(path, prefixed(path)); };
    naming.unsqueezed["embeddings.position_embeddings.weight"] = 1;
    return naming;
}

// Reads Hugging Face ViTForImageClassification files, with or without "vit.". Strict: anything missing, extra or
// mis-shaped is an error.
inline io::load_options vit_load_options() {
    io::load_options options;
    static_cast<io::tensor_naming&>(options) = vit_naming();
    options.prefix = std::string(vit_prefix);
    return options;
}

// Writes Hugging Face names; prefix "vit." (ViTForImageClassification.save_pretrained) or "".
inline io::save_options vit_save_options(std::string_view prefix = vit_prefix) {
    io::save_options options;
    static_cast<io::tensor_naming&>(options) = vit_naming(prefix);
    return options;
}

// io::load with vit_load_options(), then every norm's eps set to vit_eps.
template <class Net, class T>
io::load_result load_vit(Model<Net, T>& model, const io::safetensors_file& file) {
    io::load_result result = io::load(model, file, vit_load_options());
    model.set_eps(vit_eps);
    return result;
}
template <class Net, class T>
io::load_result load_vit(Model<Net, T>& model, const std::string& path) {
    return load_vit(model, io::safetensors_file::open(path));
}

}  // namespace lnfold::models
