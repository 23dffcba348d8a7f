#pragma once
// The small networks the run-time error tests misuse: a GPT (token ids, attention, norms), an MLP (feature rows)
// and a CNN (images), each with named layers so that messages can be checked for the layer's path.
#include <cstddef>

#include <lnfold/lnfold.hpp>

namespace lnfold_test::error_networks {

using namespace lnfold;

constexpr std::size_t V = 10, T = 6, D = 8;
using Gpt = Seq<Named<"wte", Embedding<V, D>>, Named<"wpe", PositionEmbedding<T, D>>,
                Named<"h", Repeat<1, Residual<Seq<Named<"ln_1", LayerNorm<D>>, Named<"attn", SelfAttention<D, 2, true>>>>>>,
                Named<"ln_f", LayerNorm<D>>, Named<"head", Linear<D, V>>>;
using Mlp = Seq<Named<"fc", Linear<5, D>>, Named<"norm", RMSNorm<D>>, ReLU, Named<"head", Linear<D, 3>>>;
using Cnn = Seq<Named<"stem", Conv2d<3, D, 3>>, MeanPool, Named<"head", Linear<D, 2>>>;

}  // namespace lnfold_test::error_networks
